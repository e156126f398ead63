"""The command line as a Makefile user meets it, against the simulated instance: a project
directory with ``iris-ops.toml`` and the two-line ``tasks.py``, short forms, confirmations,
``--json`` documents and terminal output."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from clihelp import run_inprocess

TASKS_PY = "from iris_ops.cli import build_collection\nns = build_collection()\n"


def _env(sc, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sc.env)
    env["IRIS_OPS_LOG_FORMAT"] = "json"
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def iris_ops(sc, *args, cwd, input=None, **extra) -> subprocess.CompletedProcess:
    if input is None:  # in this process (clihelp.run_inprocess); input to pipe in needs a process
        return run_inprocess(_env(sc, **extra), *args, cwd=cwd)
    return subprocess.run([sys.executable, "-m", "iris_ops", *map(str, args)], env=_env(sc, **extra), cwd=cwd,
                          capture_output=True, text=True, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL, timeout=120)


def inv(sc, *args, cwd, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", *args], env=_env(sc, **extra), cwd=cwd,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


@pytest.fixture
def project(sim_container, tmp_path) -> Path:
    """A project directory as a Makefile user would set it up."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "iris-ops.toml").write_text(f'container = "{sim_container.name}"\n')
    (root / "tasks.py").write_text(TASKS_PY)
    return root


def namespace_exists(sc, ns: str, cwd: Path) -> bool:
    asked = ok(iris_ops(sc, "run", "--ns", "%SYS", f'Write ##class(Config.Namespaces).Exists("{ns}")', cwd=cwd))
    return asked.stdout.strip() == "1"


def accounts(sc, ns: str) -> int:
    return int(sc.instance.sql(ns, "SELECT COUNT(*) FROM Demo.Account").rows[0][0])


@pytest.fixture
def seeded(sim_container):
    sim_container.instance.sql("USER", "CREATE TABLE Demo.Account (Name VARCHAR(50), Balance NUMERIC(10,2))")
    for name in ("Alice", "Bob"):
        sim_container.instance.sql("USER", f"INSERT INTO Demo.Account (Name, Balance) VALUES ('{name}', 1)")
    return sim_container


@pytest.mark.slow
def test_the_makefile_story_with_inv(sim_container, project):
    sc = sim_container
    env = {"IRIS_OPS_CONTAINER": None}  # the container comes from iris-ops.toml
    ok(inv(sc, "backup", "--ns", "USER", cwd=project, **env))
    assert (project / "fixtures" / "USER" / "manifest.json").is_file()
    nested = project / "src" / "deep"
    nested.mkdir(parents=True)  # fixtures_dir is relative to the project file, not the cwd
    assert "checks passed" in ok(inv(sc, "validate", "USER", cwd=nested, **env)).stdout
    ok(inv(sc, "restore", "USER", "--ns", "T1", cwd=project, **env))
    assert namespace_exists(sc, "T1", project)
    ok(inv(sc, "delete-ns", "--ns", "T1", "--yes", cwd=project, **env))
    assert not namespace_exists(sc, "T1", project)
    again = inv(sc, "backup", "--ns", "USER", cwd=project, **env)
    assert again.returncode == 3 and "--force" in again.stderr
    ok(inv(sc, "backup", "--ns", "USER", "--force", "--yes", cwd=project, **env))
    helped = ok(inv(sc, "run", "--help", cwd=project, **env))
    assert "--code" in helped.stdout
    helped = ok(inv(sc, "sim.sql", "--help", cwd=project, **env))
    assert helped.stdout.startswith("Usage: inv sim.sql SQL")


@pytest.mark.slow
def test_run_takes_code_a_file_or_stdin(sim_container, tmp_path):
    sc = sim_container
    assert ok(iris_ops(sc, "run", "--file", "-", cwd=tmp_path, input="Write 1\n")).stdout == "1\n"
    script = tmp_path / "script.mac"
    script.write_text('Write "a"\nWrite "b",!\nWrite 1,!,!,2,!\n')
    assert ok(iris_ops(sc, "run", "--file", script, cwd=tmp_path)).stdout == "ab\n1\n\n2\n"
    assert ok(iris_ops(sc, "run", "--ns", "%SYS", "Write 3", cwd=tmp_path)).stdout == "3\n"
    both = iris_ops(sc, "run", "--file", script, "Write 1", cwd=tmp_path)
    assert both.returncode == 2 and "not both" in both.stderr
    neither = iris_ops(sc, "run", cwd=tmp_path)
    assert neither.returncode == 2 and "run needs CODE or --file F" in neither.stderr
    doc = json.loads(ok(iris_ops(sc, "run", "--json", "Write 4,!", cwd=tmp_path)).stdout)
    assert doc == {"ok": True, "namespace": "USER", "output": "4\n"}
    failed = iris_ops(sc, "run", "--json", 'Write "x",!\nWrite y', cwd=tmp_path)
    assert failed.returncode == 5
    doc = json.loads(failed.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 5 and "<UNDEFINED>" in doc["error"] and doc["output"] == "x\n"


@pytest.mark.slow
def test_restore_force_confirms_before_destroying(seeded, tmp_path):
    sc = seeded
    ok(iris_ops(sc, "backup", "--ns", "USER", cwd=tmp_path))
    ok(iris_ops(sc, "restore", "USER", "--ns", "T2", cwd=tmp_path))
    sc.instance.sql("T2", "INSERT INTO Demo.Account (Name, Balance) VALUES ('Eve', 1)")
    refused = iris_ops(sc, "restore", "USER", "--ns", "T2", "--force", cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    event = json.loads(refused.stderr.strip().splitlines()[-1])
    assert "without confirmation" in event["event"] and "--yes" in event["fix"]
    assert accounts(sc, "T2") == 3  # nothing was deleted
    conflict = iris_ops(sc, "restore", "USER", "--ns", "T2", "--json", cwd=tmp_path)
    assert conflict.returncode == 3
    assert json.loads(conflict.stdout)["exit_code"] == 3
    replaced = json.loads(ok(iris_ops(sc, "restore", "USER", "--ns", "T2", "--force", "--yes", "--json",
                                      cwd=tmp_path)).stdout)
    assert replaced["ok"] is True and replaced["namespace"] == "T2" and replaced["databases"][0]["name"] == "T2"
    assert replaced["tables"] == [{"name": "Demo.Account", "row_count": 2}] and accounts(sc, "T2") == 2
    deleted = json.loads(ok(iris_ops(sc, "delete-ns", "--ns", "T2", "-y", "--json", cwd=tmp_path)).stdout)
    assert deleted["ok"] is True and deleted["steps"][0] == {"step": "namespace", "target": "T2", "result": "deleted"}


def test_fixture_names_resolve_in_fixtures_dir(sim_container, tmp_path):
    sc = sim_container
    store = tmp_path / "store"
    doc = json.loads(ok(iris_ops(sc, "backup", "-n", "USER", "--json", cwd=tmp_path,
                                 IRIS_OPS_FIXTURES_DIR=str(store))).stdout)
    assert doc["ok"] is True and doc["fixture"] == str(store / "USER") and doc["manifest"]["databases"]
    found = json.loads(ok(iris_ops(sc, "validate", "user", "--json", cwd=tmp_path,
                                   IRIS_OPS_FIXTURES_DIR=str(store))).stdout)
    assert found["ok"] is True and found["fixture"].endswith("USER")
    missing = iris_ops(sc, "validate", "NOPE", cwd=tmp_path, IRIS_OPS_FIXTURES_DIR=str(store))
    assert missing.returncode == 2 and "no fixture named 'NOPE'" in missing.stderr and "USER" in missing.stderr


def _on_a_terminal(sc, *args, cwd, **extra) -> str:
    """Run iris-ops with stdout and stderr on a pseudo-terminal; returns what it showed."""
    leader, follower = pty.openpty()
    env = _env(sc, **extra)
    env.pop("IRIS_OPS_LOG_FORMAT")
    env["COLUMNS"] = "200"
    proc = subprocess.Popen([sys.executable, "-m", "iris_ops", *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=follower, stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the last holder of the terminal closed it
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0, shown.decode(errors="replace")
    return shown.decode(errors="replace").replace("\r\n", "\n")


def test_on_a_terminal_each_step_shows_once_with_the_frozen_copy(sim_container, tmp_path):
    sc = sim_container
    shown = _on_a_terminal(sc, "backup", "--ns", "USER", cwd=tmp_path)
    assert "in the instance (frozen" in shown and "MiB" in shown  # elapsed time and bytes of the frozen copy
    assert shown.count("globals+routines") == 1 and "backup.streamed" not in shown
    ok(iris_ops(sc, "restore", "USER", "--ns", "T3", cwd=tmp_path))
    shown = _on_a_terminal(sc, "delete-ns", "--ns", "T3", "--yes", cwd=tmp_path)
    assert shown.count("database-config") == 1 and "delete.step" not in shown
    json_logs = _on_a_terminal(sc, "--log-format", "json", "backup", "--ns", "USER", "--force", "--yes",
                               cwd=tmp_path)
    assert "in the instance (frozen" not in json_logs and "[###" not in json_logs  # no bars between JSON lines
    assert '"backup.streamed"' in json_logs


def test_sim_sql_reports_rows_affected(seeded, tmp_path):
    sc = seeded
    changed = ok(iris_ops(sc, "sim", "sql", "--container", sc.name, "--ns", "USER",
                          "INSERT INTO Demo.Account (Name, Balance) VALUES ('Zed', 2)", cwd=tmp_path))
    assert changed.stdout.strip() == "1 row affected"
    selected = ok(iris_ops(sc, "sim", "sql", "--container", sc.name, "--ns", "USER",
                           "SELECT COUNT(*) FROM Demo.Account", cwd=tmp_path))
    assert selected.stdout.strip().endswith("(1 row)")
