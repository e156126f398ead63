"""Issue 20, point 7: every dead end names the way out.  A container that is not IRIS, a live
namespace that changed since its restore, a usage message, a namespace that does not exist:
each says what is wrong in the user's words, with the exit code of the table."""

from __future__ import annotations

import json
import secrets
from types import SimpleNamespace

import pytest

from cli_helpers import busybox_image, make_inproc, plugin
from clihelp import cli, fails, ok


def last_event(proc) -> dict:
    return json.loads(proc.stderr.strip().splitlines()[-1])


# --- a container without `iris` -----------------------------------------------------------------

@pytest.fixture
def not_iris(docker_engine):
    """A running container of an image without `iris` (static busybox only)."""
    name = f"iris-ops-not-iris-{secrets.token_hex(3)}"
    docker_engine.client.containers.run(busybox_image(docker_engine.client), ["/bin/busybox", "sleep", "600"],
                                        name=name, detach=True, network_mode="none")
    try:
        yield SimpleNamespace(name=name, env={"DOCKER_HOST": docker_engine.base_url, "IRIS_OPS_CONTAINER": name,
                                              "IRIS_OPS_TRANSPORT": "docker"})
    finally:
        docker_engine.client.containers.get(name).remove(force=True, v=True)


@pytest.mark.parametrize("args", [
    ("run", "Write 1"),                                  # one exec of `iris session`
    ("backup", "--ns", "USER", "--out", "{tmp}/fx"),     # the lock's long-lived session first
    ("validate", "{fixture}", "--online", "--ns", "USER", "--json"),
], ids=["run", "backup", "validate-online"])
def test_a_container_without_iris_says_so(not_iris, tmp_path, args):
    (tmp_path / "fixture").mkdir()
    (tmp_path / "fixture" / "manifest.json").write_text(json.dumps({
        "fixture_id": "f", "version": "1", "schema_version": "1.0", "description": "", "created_at": "",
        "iris_version": "", "namespace": "USER", "dat_file": "IRIS.DAT", "checksum": "sha256:" + "0" * 64,
        "tables": []}))
    args = [a.format(tmp=tmp_path, fixture=tmp_path / "fixture") for a in args]
    proc = fails(cli(not_iris, *args), 6)
    event = last_event(proc)
    assert event["event"] == f"container '{not_iris.name}' has no `iris` command: is it an IRIS container?"
    assert "Point --container" in event["fix"] and "docker ps" in event["fix"]
    assert "executable file not found" in event["output_tail"]  # the runtime's own words, for the curious
    assert not (tmp_path / "fx").exists()


# --- validate --online: the live namespace changed ----------------------------------------------

def test_validate_online_blames_the_namespace_not_the_fixture(sim_container, tmp_path):
    sc = sim_container
    sc.instance.sql("USER", "CREATE TABLE Demo.Account (Name VARCHAR(50))")
    sc.instance.sql("USER", "INSERT INTO Demo.Account (Name) VALUES ('Alice')")
    fixture = tmp_path / "fx"
    ok(cli(sc, "backup", "--ns", "USER", "--out", fixture))
    ok(cli(sc, "restore", "--src", fixture, "--ns", "T1"))
    ok(cli(sc, "validate", "--src", fixture, "--online", "--ns", "T1"))
    sc.instance.sql("T1", "INSERT INTO Demo.Account (Name) VALUES ('Bob')")

    changed = fails(cli(sc, "validate", "--src", fixture, "--online", "--ns", "T1"), 4)
    event = last_event(changed)
    assert event["event"].startswith(f"the live namespace T1 differs from fixture {fixture} in 1 check(s):")
    assert "Demo.Account: row-count failed" in event["event"] and "expected 1, actual 2" in event["event"]
    assert "recreate" not in event["fix"] and "no fault of the fixture" in event["fix"]
    assert f"iris-ops restore {fixture} --ns T1 --force --yes" in event["fix"]

    dat = next(fixture.glob("databases/*/IRIS.DAT"))
    with open(dat, "ab") as handle:  # now the fixture is damaged too: both are said, each with its fix
        handle.write(b"\0")
    both = fails(cli(sc, "validate", "--src", fixture, "--online", "--ns", "T1"), 4)
    event = last_event(both)
    assert event["event"].startswith(f"fixture {fixture} failed ")
    assert f"\nthe live namespace T1 differs from fixture {fixture} in 1 check(s):" in event["event"]
    assert "recreate it with `iris-ops backup`" in event["fix"] and "--ns T1 --force --yes" in event["fix"]


# --- usage messages name tasks as users type them ----------------------------------------------

NOWHERE = {"DOCKER_HOST": "unix:///nonexistent/iris-ops-test.sock", "IRIS_OPS_CONTAINER": "iris-nowhere"}


@pytest.fixture
def inproc_nowhere(monkeypatch, tmp_path, capsys):
    return make_inproc(NOWHERE, monkeypatch, tmp_path, capsys)


def test_a_missing_flag_names_the_task_as_typed(inproc_nowhere):
    code, _, err = inproc_nowhere("delete-ns")
    assert code == 2
    event = last_event(SimpleNamespace(stderr=err))
    assert event["event"] == "delete-ns needs --ns NS"
    assert event["usage"] == "iris-ops delete-ns --ns NS [options]"
    assert "delete_ns" not in err


def test_a_missing_flag_names_a_plugin_subcommand_as_typed(inproc_nowhere):
    from invoke import Collection

    from iris_ops import hookimpl
    from iris_ops.task import task

    @task(required=("ns",), help={"ns": "a namespace"})
    def make_copy(c, ns=""):
        """Make a copy."""

    class Grouped:
        @hookimpl
        def register_tasks(self, registrar):
            registrar.add_collection(Collection("tools", make_copy))

    with plugin(Grouped()):
        code, _, err = inproc_nowhere("tools", "make-copy")
    assert code == 2
    event = last_event(SimpleNamespace(stderr=err))
    assert event["event"] == "tools make-copy needs --ns NS"
    assert event["usage"] == "iris-ops tools make-copy --ns NS"


def test_under_inv_the_usage_is_invs(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "tasks.py").write_text("from iris_ops.cli import build_collection\nns = build_collection()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(NOWHERE, IRIS_OPS_LOG_FORMAT="json")
    proc = subprocess.run([sys.executable, "-m", "invoke", "delete-ns"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 2, proc.stderr
    event = last_event(proc)
    assert event["event"] == "delete-ns needs --ns NS" and event["usage"] == "inv delete-ns --ns NS [options]"


# --- run in a namespace that does not exist ----------------------------------------------------

def test_run_in_a_missing_namespace_is_exit_2_like_backup(sim_container, tmp_path):
    sc = sim_container
    expected = f"namespace NOPE does not exist in container '{sc.name}' (instance IRIS)"
    for proc in (cli(sc, "run", "--ns", "NOPE", "Write 1"), cli(sc, "backup", "--ns", "NOPE", "--out", tmp_path / "x")):
        event = last_event(fails(proc, 2))
        assert event["event"] == expected and "ListAll" in event["fix"]
    doc = json.loads(fails(cli(sc, "run", "--ns", "NOPE", "--json", "Write 1"), 2).stdout)
    assert doc["ok"] is False and doc["exit_code"] == 2 and doc["error"] == expected
    # a run that fails in a namespace that exists keeps its own verdict
    assert "<UNDEFINED>" in fails(cli(sc, "run", "--ns", "USER", "Write y"), 5).stderr
