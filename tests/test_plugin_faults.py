"""Issue 10 point 7: plugins cannot take the tool down.  Broken plugins are installed for real
(a dist-info with an entry point on PYTHONPATH, as pip writes it) and the CLI runs as a
subprocess: it lists its tasks, runs them, and names the plugin and the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cli_helpers import plugin
from iris_ops import hookimpl
from iris_ops.errors import VetoedError

ROOT = Path(__file__).resolve().parents[1]

BROKEN = {
    "import_fails": "import no_such_module_anywhere\n",
    "bad_signature": textwrap.dedent("""
        from iris_ops import hookimpl
        @hookimpl
        def pre_backup(operation, namespace, no_such_argument):
            pass
    """),
    "unknown_hook": textwrap.dedent("""
        from iris_ops import hookimpl
        @hookimpl
        def pre_bakup(namespace):
            pass
    """),
    "tasks_fail": textwrap.dedent("""
        from iris_ops import hookimpl
        @hookimpl
        def register_tasks(registrar):
            raise RuntimeError("cannot build my tasks")
    """),
    "bad_defaults": textwrap.dedent("""
        from iris_ops import hookimpl
        @hookimpl
        def config_defaults():
            return ["not", "a", "dict"]
    """),
    "steals_backup": textwrap.dedent("""
        from iris_ops import hookimpl
        from iris_ops.task import task
        @task
        def backup(c):
            "Not the real backup."
        @hookimpl
        def register_tasks(registrar):
            registrar.add_task(backup)
    """),
}


def install(tmp_path: Path, names) -> dict:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    for name in names:
        (site / f"brk_{name}.py").write_text(BROKEN[name])
        dist = site / f"iris_ops_brk_{name}-0.1.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: iris-ops-brk-{name}\nVersion: 0.1\n")
        (dist / "entry_points.txt").write_text(f"[iris_ops]\n{name} = brk_{name}\n")
    return {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}


def run(*args, env, cwd) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "iris_ops", *map(str, args)], env=full, capture_output=True,
                          text=True, cwd=cwd, stdin=subprocess.DEVNULL, timeout=60)


def test_every_kind_of_broken_plugin_is_named_and_the_tool_still_lists_its_tasks(tmp_path):
    env = install(tmp_path, BROKEN)
    listed = run("--list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    for task_name in ("backup", "restore", "delete-ns", "validate", "plugins", "config"):
        assert task_name in listed.stdout
    for name in set(BROKEN) - {"bad_defaults"}:  # --list reads no settings
        assert f"IRIS_OPS_DISABLE_PLUGINS={name}" in listed.stderr, (name, listed.stderr)
    assert "fails to import: ModuleNotFoundError" in listed.stderr
    assert "no_such_argument" in listed.stderr
    assert "'pre_bakup', which is not an iris-ops hook" in listed.stderr
    assert "cannot build my tasks" in listed.stderr
    shown = run("plugins", "--json", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert {"import_fails", "bad_signature", "unknown_hook"} <= {b["name"] for b in doc["broken"]}
    assert "iris_ops.operations.backup" in {p["name"] for p in doc["plugins"]}
    shown = run("config", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "config_defaults returned list, not a dict" in shown.stderr
    assert "IRIS_OPS_DISABLE_PLUGINS=bad_defaults" in shown.stderr
    # Disabling it as the message says silences it.
    quiet = run("--list", env={**env, "IRIS_OPS_DISABLE_PLUGINS": ",".join(BROKEN)}, cwd=tmp_path)
    assert quiet.returncode == 0 and "warning" not in quiet.stderr, quiet.stderr


def test_an_unknown_name_in_disable_plugins_is_a_warning(tmp_path):
    done = run("--list", env={"IRIS_OPS_DISABLE_PLUGINS": "fixture_audti"}, cwd=tmp_path)
    assert done.returncode == 0
    assert "disable_plugins names 'fixture_audti', which is no installed plugin" in done.stderr


def test_backup_works_with_a_broken_plugin_installed(sim_container, tmp_path):
    env = {**install(tmp_path, ["import_fails", "bad_signature"]), **sim_container.env}
    done = run("backup", "--ns", "USER", "--out", tmp_path / "fx", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "fx" / "manifest.json").exists()
    assert "plugin import_fails was not loaded" in done.stderr and "IRIS_OPS_DISABLE_PLUGINS=import_fails" in done.stderr


class Raises:
    @hookimpl
    def pre_backup(self, operation, namespace, out):
        raise KeyError("oops")


class Vetoes:
    @hookimpl
    def pre_backup(self, operation, namespace, out):
        raise VetoedError(f"namespace {namespace} is frozen for the release")


def test_a_plugin_exception_in_a_hook_names_the_plugin_and_a_veto_says_who_and_why(inproc, sim_container):
    with plugin(Raises()) as pm:
        name = next(n for n, p in pm.list_name_plugin() if isinstance(p, Raises))
        code, _, err = inproc("backup", "--ns", "USER", "--out", "fx")
    assert code == 1
    assert f"plugin {name} failed in hook pre_backup: KeyError" in err
    assert f"IRIS_OPS_DISABLE_PLUGINS={name}" in err
    with plugin(Vetoes()) as pm:
        name = next(n for n, p in pm.list_name_plugin() if isinstance(p, Vetoes))
        code, _, err = inproc("backup", "--ns", "USER", "--out", "fx")
    assert code == 3
    assert f"plugin {name} vetoed backup: namespace USER is frozen for the release" in err
    assert not Path("fx").exists()


class BadError(VetoedError):
    def __init__(self, why):  # never calls IrisOpsError.__init__: no message, fix or details
        Exception.__init__(self, why)


class RaisesBadError:
    @hookimpl
    def pre_backup(self, operation, namespace, out):
        err = BadError("no backups on Sunday")
        err.details = ["not", "a", "dict"]
        raise err


def test_an_error_a_plugin_built_wrongly_does_not_crash_the_error_handler(inproc, sim_container):
    with plugin(RaisesBadError()):
        code, out, err = inproc("backup", "--ns", "USER", "--out", "fx", "--json")
    assert code == 3, err
    assert "no backups on Sunday" in err and "Traceback" not in err
    assert json.loads(out)["exit_code"] == 3
