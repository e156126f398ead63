"""Issue 25 (core): named targets and groups, their resolution, the exit code and table of a run
on many targets, and the live lines, in process and without an instance.

What the user sees is asserted: the exit code and message of ``iris-ops`` run in this process
against a project file written here; the settings a named target resolves to; the rows and the
table; the bytes the live lines write to a terminal."""

from __future__ import annotations

import io
import json
import os
import sys
import textwrap

import pytest

from iris_ops.fleet import command, results
from iris_ops.fleet.results import Row


@pytest.fixture
def project(tmp_path, monkeypatch, capsys):
    """Write iris-ops.toml in an empty directory and run ``iris-ops`` there in process:
    ``run(toml, *argv) -> (code, stdout, stderr)``."""
    from iris_ops import cli

    for key in list(os.environ):
        if key.startswith("IRIS_OPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("IRIS_OPS_LOG_FORMAT", "json")
    monkeypatch.chdir(tmp_path)

    def run(toml: str, *argv: str):
        (tmp_path / "iris-ops.toml").write_text(textwrap.dedent(toml))
        capsys.readouterr()
        try:
            cli.main(["iris-ops", *argv])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
        out, err = capsys.readouterr()
        return code, out, err

    run.path = tmp_path / "iris-ops.toml"
    return run


FLEET = """
    container = "top"
    [targets.ci-1]
    container = "iris-ci-1"
    timeout = 30
    [targets.ci-2]
    container = "iris-ci-2"
    [targets.lab]
    transport = "local"
    [groups]
    ci = ["ci-1", "ci-2"]
"""


def test_targets_lists_targets_and_groups(project):
    code, out, err = project(FLEET, "targets")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["ci-1", "docker", "container", "iris-ci-1,", "instance", "IRIS", "(groups:", "ci)"]
    assert "lab   local    local, instance IRIS" in out
    assert "group ci: ci-1, ci-2" in out
    code, out, _ = project(FLEET, "targets", "--json")
    doc = json.loads(out)
    assert [t["name"] for t in doc["targets"]] == ["ci-1", "ci-2", "lab"]
    assert doc["targets"][0]["groups"] == ["ci"] and doc["groups"] == {"ci": ["ci-1", "ci-2"]}


@pytest.mark.parametrize("toml,key,words", [
    ("[targets.a]\ncontainr = 'x'\n", "targets.a.containr", "Did you mean container?"),
    ("[targets.a]\npassword = 'x'\n", "targets.a.password", "IRIS_OPS_PASSWORD"),
    ("[targets.a]\nlog_level = 'debug'\n", "targets.a.log_level", "is not a key a target takes"),
    ("[targets.a]\ncontainer = 'x'\n[groups]\nci = ['a', 'b']\n", "groups.ci", "names 'b', which is no target"),
    ("[targets.a]\ncontainer = 'x'\n[groups]\na = ['a']\n", "groups.a", "names a group and a target"),
    ("[targets.a]\ncontainer = 'x'\n[groups]\nci = []\n", "groups.ci", "is empty"),
    ("[targets.'../up']\ncontainer = 'x'\n", "targets.../up", "is not a valid target name"),
    ("[targets.a]\nhost = 'h'\ntransport = 'docker'\n", "targets.a.transport", "a target with a host is reached over ssh"),
    ("[targets.a]\ntransport = 'ssh'\n", "targets.a.transport", "the target has no host to reach"),
    ("[targets.a]\ntimeout = 'soon'\n", "[targets.a]: setting 'timeout'", "must be a non-negative number"),
    ("targets = 3\n", "targets", "must be a table"),
])
def test_a_bad_project_file_exits_2_naming_the_file_and_the_key(project, toml, key, words):
    code, _, err = project(toml, "targets")
    assert code == 2, err
    message = next(json.loads(line) for line in err.splitlines() if line.startswith("{"))
    text = message["event"] + " " + (message.get("fix") or "")
    assert str(project.path) in text and key in text and words in text, text


def test_a_bad_project_file_stops_a_run_on_targets_before_anything_starts(project):
    code, out, err = project("[targets.a]\ncontainr = 'x'\n", "backup", "--ns", "USER", "--all-targets", "--json")
    assert code == 2
    doc = json.loads(out)
    assert doc["ok"] is False and doc["exit_code"] == 2 and "targets.a.containr" in doc["error"]


@pytest.mark.parametrize("argv,words", [
    (["--targets", "ci,nope"], "no target or group named 'nope'"),
    (["--targets", " , "], "--targets needs target or group names"),
    (["--target", "ci-9"], "no target named 'ci-9'"),
    (["--targets", "ci", "--all-targets"], "--targets and --all-targets cannot be combined"),
    (["--targets", "ci", "--target", "ci-1"], "--target names one target, --targets and --all-targets many"),
    (["--targets", "ci", "--parallel", "0"], "--parallel must be at least 1"),
    (["--parallel", "2"], "--parallel goes with --targets or --all-targets"),
    (["--targets", "ci", "--file", "-"], "standard input cannot be read by many targets' runs at once"),
])
def test_bad_target_flags_exit_2_with_the_reason(project, argv, words):
    code, _, err = project(FLEET, "run", "Write 1", *argv)
    assert code == 2, err
    assert words in err, err


def test_no_targets_defined_says_how_to_define_them(project):
    code, _, err = project("container = 'x'\n", "run", "Write 1", "--all-targets")
    assert code == 2 and "no targets are defined" in err and "[targets.NAME]" in err


def test_an_ssh_target_without_fabric_exits_2_with_the_install_line(project, monkeypatch):
    monkeypatch.setitem(sys.modules, "fabric", None)  # as when the fleet extra is not installed
    toml = "[targets.far]\nhost = 'iris@far.example'\n[targets.near]\ncontainer = 'x'\n"
    for argv in (["--targets", "far,near"], ["--target", "far"]):
        code, _, err = project(toml, "run", "Write 1", *argv)
        assert code == 2, err
        assert "target far is reached over SSH" in err and "pip install 'iris-ops[fleet]'" in err


def test_resolution_keeps_the_order_named_and_names_each_target_once(project):
    from iris_ops import config
    from iris_ops.fleet import targets

    project.path.write_text(textwrap.dedent(FLEET))
    fleet = targets.load(config.load(start=project.path.parent))
    assert fleet.resolve("lab,ci,ci-1") == ["lab", "ci-1", "ci-2"]
    assert fleet.names() == ["ci-1", "ci-2", "lab"]


def test_a_target_table_beats_the_environment_and_loses_to_flags(project, monkeypatch):
    from iris_ops import config
    from iris_ops.fleet import targets

    project.path.write_text(textwrap.dedent(FLEET + "\n[targets.far]\nhost = 'iris@far'\naccept_new_host_key = true\n"
                                            "known_hosts = 'keys/known'\n"))
    monkeypatch.setenv("IRIS_OPS_CONTAINER", "from-env")
    monkeypatch.setenv("IRIS_OPS_TIMEOUT", "99")
    base = config.load(start=project.path.parent)
    fleet = targets.load(base)
    ci1 = fleet.settings_for("ci-1", base)
    assert (ci1.container, ci1.timeout) == ("iris-ci-1", 30.0)
    assert fleet.settings_for("lab", base).container == "from-env"  # the table does not set it
    assert ci1.with_overrides({"container": "flag"}).container == "flag"
    from iris_ops.operation import target_from_settings

    far = target_from_settings(fleet.settings_for("far", base))
    assert (far.transport, far.name, far.ssh_host, far.accept_new_host_key) == ("ssh", "far", "iris@far", True)
    assert far.known_hosts == str(project.path.parent / "keys" / "known")
    assert far.ssh_config == os.path.expanduser("~/.ssh/config")
    assert target_from_settings(ci1).name == "ci-1" and target_from_settings(base).name == ""


def test_config_shows_a_named_targets_settings_and_where_each_came_from(project, monkeypatch):
    monkeypatch.setenv("IRIS_OPS_TIMEOUT", "99")
    code, out, err = project(FLEET, "config", "--target", "ci-1", "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)["settings"]}
    assert (rows["container"]["value"], rows["timeout"]["value"]) == ("iris-ci-1", 30.0)
    assert rows["container"]["source"] == rows["timeout"]["source"] == f"{project.path} [targets.ci-1]"
    assert rows["instance"]["source"] == "default"


def test_each_target_runs_the_task_with_the_flags_it_was_given():
    def body(c, src, ns="", force=False, cache=True, timeout=None, json_=False, **target):
        """A task's signature."""

    words = command.child_words(body, ("fx",), {"ns": "T1", "force": True, "cache": False, "container": "c",
                                                "json_": True, "target": None}, skip=("json_",))
    assert words == ["--src=fx", "--ns=T1", "--force", "--no-cache", "--container=c"]


def test_severity_order_of_a_run_on_many_targets():
    assert results.worst([0, 2, 3, 4, 6, 5]) == 5
    assert results.worst([0, 6, 4, 3, 2]) == 6
    assert results.worst([2, 3, 4]) == 4
    assert results.worst([2, 3]) == 3
    assert results.worst([0, 2]) == 2
    assert results.worst([5, 1, 6]) == 1
    assert results.worst([5, 137]) == 137  # killed: ended without saying why, right after 1
    assert results.worst([137, 1]) == 1
    assert results.worst([0, 0]) == 0 and results.worst([]) == 0


def test_the_table_has_a_row_per_target():
    rows = [Row("ci-1", "ok", 0, 3.04, figure="1.0 MiB in 1 file"), Row("staging-east", "failed", 6, 1.2,
            error="container 'x' is not running"), Row("lab", "not started", None, None)]
    assert results.table(rows).splitlines() == [
        "TARGET        RESULT       EXIT  SECONDS  FIGURE / ERROR",
        "ci-1          ok              0      3.0  1.0 MiB in 1 file",
        "staging-east  failed          6      1.2  container 'x' is not running",
        "lab           not started",
    ]
    assert results.summary(rows) == "1 of 3 targets failed: staging-east (exit 6); 1 not started"
    assert rows[0].to_dict() == {"target": "ci-1", "result": "ok", "exit_code": 0, "seconds": 3.04,
                                 "figure": "1.0 MiB in 1 file", "error": ""}


def test_live_lines_are_redrawn_in_place_and_cleared_as_one(monkeypatch):
    from iris_ops import progress

    screen = io.StringIO()
    monkeypatch.setattr(progress, "_rows", 0)
    progress.allow(True, screen)
    try:
        progress.draw_lines(["a  1.0 s  backup.streamed", "b  1.0 s  starting", "2 running"])
        progress.draw_lines(["a  2.0 s  done", "1 running"])
        progress.clear_line()
    finally:
        progress.allow(False, None)
    assert screen.getvalue() == (
        "\ra  1.0 s  backup.streamed\x1b[K\nb  1.0 s  starting\x1b[K\n2 running\x1b[K"
        "\x1b[2A\ra  2.0 s  done\x1b[K\n1 running\x1b[K\x1b[J"
        "\x1b[1A\r\x1b[J"
    )


def test_each_task_says_its_key_figure():
    from iris_ops.operations import backup, delete, restore, run, validate

    assert backup._figure({"manifest": {"databases": [{"bytes": 3 << 20}, {"bytes": 1 << 20}],
                                        "consistency": {"window_seconds": 0.25}}}) == "4.0 MiB in 2 files, window 0.250 s"
    assert restore._figure({"databases": [{"cached": True}, {"cached": False}],
                            "tables": [{"row_count": 1200}, {"row_count": 34}]}) == "2 databases (1 from the cache), 1,234 rows"
    assert run._figure({"output": "42\n"}) == "42"
    assert run._figure({"output": "a\nb\n"}) == "a ..."
    assert run._figure({"output": ""}) == "(no output)"
    assert delete._figure({"existed": True, "steps": [{}, {}, {}]}) == "3 steps"
    assert delete._figure({"existed": False, "steps": []}) == "did not exist: nothing to delete"
    assert validate._figure({"ok": True, "findings": [{}, {}]}) == "2 checks passed"
