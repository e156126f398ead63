"""Where `backup` may write (``--out``), all checked before any instance work: ``--force``
replaces only a fixture, asks first, and never the working directory, the project root, the
home or the fixtures directory; an impossible ``--out`` is exit 2 with the way out.

Most cases run against an engine that does not exist: a check made before any instance work
answers 2 or 3; one made after it would meet the missing engine first (exit 6), as the
control case shows.  Every refusal leaves the disk exactly as it was."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from clihelp import run_inprocess
from dat_factory import dat_bytes
from iris_ops import fixture as fx

TASKS_PY = "from iris_ops.cli import build_collection\nns = build_collection()\n"
NOWHERE = {"DOCKER_HOST": "unix:///nonexistent/iris-ops-test.sock", "IRIS_OPS_CONTAINER": "iris-nowhere"}


def _env(home: Path, extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update({"IRIS_OPS_LOG_FORMAT": "json", "HOME": str(home), **extra})
    return env


def backup(cwd: Path, *args, home: Path, env: dict = NOWHERE, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    if stdin == subprocess.DEVNULL:  # in this process (clihelp.run_inprocess); other input needs a process
        return run_inprocess(_env(home, env), "backup", "--ns", "USER", *args, cwd=cwd)
    return subprocess.run([sys.executable, "-m", "iris_ops", "backup", "--ns", "USER", *map(str, args)],
                          env=_env(home, env), cwd=cwd, capture_output=True, text=True, stdin=stdin, timeout=120)


def error(proc: subprocess.CompletedProcess) -> dict:
    """The error event the user sees (the last JSON log line)."""
    return json.loads(proc.stderr.strip().splitlines()[-1])


def make_fixture(out: Path, namespace: str = "USER") -> Path:
    content = dat_bytes(directory=f"/usr/irissys/mgr/{namespace.lower()}/", resource=f"%DB_{namespace}")
    relative = f"databases/{namespace}/IRIS.DAT"
    with fx.FixtureWriter(out) as w:
        w.path_for(relative).write_bytes(content)
        w.write_manifest(fx.Manifest(
            fixture_id=f"{namespace.lower()}-old", description="the old one", created_at="2025-01-31T12:00:00Z",
            tool="iris-ops 0.1.0", source=fx.Source(iris_version="2024.1"),
            namespace=fx.NamespaceInfo(namespace, {"Globals": namespace, "Routines": namespace}),
            databases=[fx.Database(name=namespace, role="globals+routines", file=relative, bytes=len(content),
                                   sha256=hashlib.sha256(content).hexdigest(),
                                   directory=f"/usr/irissys/mgr/{namespace.lower()}/", resource=f"%DB_{namespace}",
                                   block_size=8192, size_mb=1)],
            tables=[], consistency=fx.Consistency("external-freeze", 0.1)))
    return out


def tree(root: Path) -> dict:
    """Every entry under ``root`` with its content: what a refused command must leave alone."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None) for p in root.rglob("*")}


@pytest.fixture
def world(tmp_path) -> Path:
    """A user's project with sources, a git directory, two fixtures; and a home directory."""
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('mine')\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "iris-ops.toml").write_text('container = "iris-nowhere"\n')
    (root / "tasks.py").write_text(TASKS_PY)
    make_fixture(root / "fixtures" / "USER")
    make_fixture(root / "fixtures" / "APP", "APP")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".profile").write_text("mine")
    return root


@pytest.mark.parametrize("cwd, out, said", [
    (".", ".", "it is the working directory"),
    ("src", "..", "it is the project root (where iris-ops.toml is)"),
    (".", "..", "it is above the working directory, {world}"),
    (".", "/", "it is above the working directory, {world}"),
    (".", "fixtures", "it is the fixtures directory (setting fixtures_dir)"),
    ("src", "../fixtures/", "it is the fixtures directory (setting fixtures_dir)"),
    (".", "~", "it is the home directory"),
    (".", "{home}", "it is the home directory"),
])
def test_force_refuses_places_that_hold_more_than_a_fixture(world, cwd, out, said):
    """--force over any of these is a conflict (exit 3): what stands there is not a fixture.
    Without --force they are refused as places no fixture belongs (exit 2)."""
    home = world.parent / "home"
    out = out.format(home=home)
    before = tree(world.parent)
    proc = backup(world / cwd, "--out", out, "--force", "--yes", home=home)
    assert proc.returncode == 3, proc.stderr
    assert "so it is not a fixture" in error(proc)["event"]
    assert tree(world.parent) == before
    proc = backup(world / cwd, "--out", out, home=home)
    assert proc.returncode == 2, proc.stderr
    shown = error(proc)
    shown_out = home if out == "~" else Path(out)  # expanded, as it is written to
    assert shown["event"] == f"refusing to write a fixture at {shown_out}: " + said.format(world=world)
    assert "Give --out a directory of its own" in shown["fix"]
    assert tree(world.parent) == before


def test_a_fixture_at_a_protected_place_is_refused_even_with_force(world):
    """A fixture sitting in the working directory itself: --force still never writes there (exit 2)."""
    make_fixture(world / "fixtures" / "HERE")
    before = tree(world.parent)
    proc = backup(world / "fixtures" / "HERE", "--out", ".", "--force", "--yes", home=world.parent / "home")
    assert proc.returncode == 2, proc.stderr
    assert error(proc)["event"].endswith("it is the working directory")
    assert tree(world.parent) == before


def test_project_root_is_also_where_tasks_py_is(world):
    (world / "iris-ops.toml").unlink()
    proc = backup(world / "src", "--out", "..", home=world.parent / "home")
    assert proc.returncode == 2 and error(proc)["event"].endswith("it is the project root (where tasks.py is)")


def test_force_refuses_a_directory_that_is_not_a_fixture(world):
    before = tree(world.parent)
    proc = backup(world, "--out", "src", "--force", "--yes", home=world.parent / "home")
    assert proc.returncode == 3, proc.stderr
    shown = error(proc)
    assert shown["event"] == "refusing to replace src: it holds no manifest.json, so it is not a fixture; " \
                             "in it: 1 entry: app.py"
    assert "--force replaces only a fixture directory" in shown["fix"]
    assert tree(world.parent) == before


def test_force_refuses_a_fixture_holding_one_file_of_the_users(world):
    (world / "fixtures" / "USER" / "notes.txt").write_text("my notes")
    before = tree(world.parent)
    proc = backup(world, "--out", "fixtures/USER", "--force", "--yes", home=world.parent / "home")
    assert proc.returncode == 3, proc.stderr
    assert error(proc)["event"] == "refusing to replace fixtures/USER: besides the fixture it holds 1 entry: notes.txt"
    assert tree(world.parent) == before
    assert (world / "fixtures" / "USER" / "notes.txt").read_text() == "my notes"


def test_force_without_a_terminal_needs_yes(world):
    before = tree(world.parent)
    proc = backup(world, "--out", "fixtures/USER", "--force", home=world.parent / "home")
    assert proc.returncode == 2, proc.stderr
    shown = error(proc)
    assert shown["event"] == "refusing to replace fixture fixtures/USER without confirmation"
    assert "Pass --yes" in shown["fix"]
    assert tree(world.parent) == before
    conflict = backup(world, "--out", "fixtures/USER", home=world.parent / "home")
    assert conflict.returncode == 3 and error(conflict)["event"] == "fixtures/USER already exists"
    assert "--force" in error(conflict)["fix"]


def on_a_terminal(cwd: Path, *args, answer: str, home: Path, env: dict = NOWHERE) -> subprocess.CompletedProcess:
    """``backup ARGS`` with stdin on a pseudo-terminal, answering the question with ``answer``."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "iris_ops", "backup", "--ns", "USER", *map(str, args)],
                                env=_env(home, env), cwd=cwd, stdin=follower, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        os.write(leader, answer.encode() + b"\n")  # the terminal holds it until the question reads it
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_force_asks_on_a_terminal_and_no_changes_nothing(world):
    before = tree(world.parent)
    proc = on_a_terminal(world, "--out", "fixtures/USER", "--force", answer="n", home=world.parent / "home")
    assert proc.returncode == 2, proc.stderr
    assert ("--force: replace fixture fixtures/USER (namespace USER, written 2025-01-31T12:00:00Z) with a new "
            "backup of USER? [y/N]") in proc.stdout
    assert error(proc)["event"] == "not confirmed; nothing was changed"
    assert tree(world.parent) == before


def test_a_fixture_passes_every_check_before_the_instance_is_reached(world):
    """The control: a replaceable fixture, confirmed, goes on to the instance (missing: exit 6),
    and still nothing on disk changed."""
    before = tree(world.parent)
    proc = backup(world, "--out", "fixtures/USER", "--force", "--yes", home=world.parent / "home")
    assert proc.returncode == 6, proc.stderr
    proc = backup(world, "--out", "fixtures/NEW", home=world.parent / "home")
    assert proc.returncode == 6, proc.stderr
    assert tree(world.parent) == before


@pytest.mark.parametrize("out, said", [
    ("iris-ops.toml/fx", "{world}/iris-ops.toml is a file, not a directory"),
    ("iris-ops.toml/deeper/fx", "{world}/iris-ops.toml is a file, not a directory"),
    ("/proc/iris-ops-test/fx", "cannot create a directory in /proc (No such file or directory)"),
    ("/sys/iris-ops-test-fx", "cannot create a directory in /sys (Operation not permitted)"),
])
def test_an_impossible_out_is_exit_2_before_any_instance_work(world, out, said):
    before = tree(world.parent)
    proc = backup(world, "--out", out, home=world.parent / "home")
    assert proc.returncode == 2, proc.stderr
    shown = error(proc)
    absolute = out if out.startswith("/") else f"{world}/{out}"
    assert shown["event"] == f"cannot write a fixture at {absolute}: " + said.format(world=world)
    assert shown["fix"].startswith("Choose an --out")
    assert tree(world.parent) == before


# --- against the simulated instance -------------------------------------------------------------

def test_force_replaces_a_fixture_and_nothing_beside_it(sim_container, world):
    home = world.parent / "home"
    env = {**sim_container.env, "IRIS_OPS_CONTAINER": sim_container.name}
    apps = tree(world / "fixtures" / "APP")
    proc = backup(world, "--force", "--yes", home=home, env=env)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((world / "fixtures" / "USER" / "manifest.json").read_text())
    assert manifest["fixture_id"] != "user-old" and fx.check(world / "fixtures" / "USER").ok
    assert sorted(p.name for p in (world / "fixtures").iterdir()) == ["APP", "USER"]  # nothing aside, nothing left
    assert tree(world / "fixtures" / "APP") == apps
    assert (world / "src" / "app.py").is_file() and (world / ".git" / "HEAD").is_file()
    answered = on_a_terminal(world, "--force", answer="y", home=home, env=env)
    assert answered.returncode == 0, answered.stderr
    assert json.loads((world / "fixtures" / "USER" / "manifest.json").read_text())["created_at"] >= \
        manifest["created_at"]
    assert not sim_container.instance.is_frozen()
