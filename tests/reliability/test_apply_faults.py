"""Issue 26 point 7: a failure injected at each step of ``apply`` leaves the instance exactly as
before: files (with their bytes), configuration, mounts, resources, roles and users.

Each fault happens where it really does: the instance refuses a call (``iris-sim stop arm CALL
--fail``: that class method returns an error status), another session changes an object while the
apply's own session is held at a call (so the read-back finds a field IRIS did not keep), or a
real SIGTERM reaches iris-ops while its session is held.  The state names a namespace restored
from a fixture too, so that a failure after the restore undoes the restore.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

STATE = """\
[state.resources."%DB_AP"]
description = "the app's data"
public_permission = "R"

[state.roles.AP_READER]
description = "reads the app"
resources = { "%DB_AP" = "R" }

[state.databases.AP_DATA]
directory = "ap-data"
size = 2

[state.databases.AP_CODE]
directory = "ap-code"
resource = "%DB_AP"

[state.namespaces.APNS]
globals = "AP_DATA"
routines = "AP_CODE"

[state.namespaces.APFX]
fixture = "USERFX"

[[state.global_mappings]]
namespace = "APNS"
name = "Orders"
database = "AP_CODE"

[[state.global_mappings]]
namespace = "APFX"
name = "Extra"
database = "USER"

[state.users.ap_user]
roles = ["AP_READER"]
full_name = "A. P. User"
password_env = "AP_USER_PW"
"""
#: The user's password, in the environment of every apply (never in the state file).
PASSWORD = {"AP_USER_PW": "Ap-User-Pw-1"}

#: Refused calls tried here, in a container: after the fixture's restore (its undo removes the
#: restored namespace and databases), and the security plugin's user (a staged password).  Every
#: other changing call is refused in turn in-process, where it costs milliseconds: the core
#: kinds' in tests/test_apply_states.py, the security plugin's roles and users in its
#: test_security_state_apply.py.
CALLS = ["Config.MapGlobals.Create", "Security.Users.Create"]


@pytest.fixture(scope="module")
def project(shared_sim, tmp_path_factory):
    """A project directory: STATE, and the fixture USERFX (a backup of USER) in its fixtures."""
    from clihelp import cli, ok

    root = tmp_path_factory.mktemp("apply-project")
    (root / "state.toml").write_text(STATE)
    ok(cli(shared_sim, "backup", "--ns", "USER", "--out", root / "fixtures" / "USERFX"))
    return root


def _held(sc) -> dict:
    """What the instance holds: every file with its bytes' hash (but the fixture cache, which a
    restore fills on purpose, and log sizes), the configuration, the mounts, the resources, and
    the security database (users, services, roles)."""
    from reliability.conftest import comparable

    return {"listing": comparable(sc.instance.listing()), "security": sc.instance.security()}


def _apply(sc, project, *args) -> subprocess.Popen:
    from clihelp import command

    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sc.env, IRIS_OPS_LOG_FORMAT="json", IRIS_OPS_FIXTURES_DIR=str(project / "fixtures"), **PASSWORD)
    return subprocess.Popen(command("apply", "--state", project / "state.toml", *args), env=env, cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def _error(err: str) -> str:
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return next((line["event"] for line in lines if line.get("level") == "error"), err)


@pytest.mark.parametrize("call", CALLS)
def test_a_call_the_instance_refuses_leaves_it_as_before(shared_sim, project, call):
    sc = shared_sim
    before = _held(sc)
    sc.instance.arm_stop(call, fail=True)
    try:
        proc = _apply(sc, project)
        out, err = proc.communicate(timeout=180)
    finally:
        sc.instance.clear_stops()
    assert proc.returncode == 5, err
    message = _error(err)
    assert f"{call} failed" in message and "every change of this apply was rolled back" in message, message
    assert out == ""
    assert _held(sc) == before


def test_a_field_changed_by_another_session_fails_the_read_back_and_rolls_back(shared_sim, project):
    """Another session changes the new namespace while apply's session is held at its last call:
    the read-back finds the field, exit 5 naming it, and the rollback removes everything."""
    sc = shared_sim
    before = _held(sc)
    sc.instance.arm_stop("Config.MapGlobals.Create")
    try:
        proc = _apply(sc, project)
        sc.instance.wait_stop(120)
        code, out, err = sc.exec(["iris", "session", "IRIS", "-U", "%SYS"], stdin=(
            b'Set p("Globals")="USER" Write "modified=",##class(Config.Namespaces).Modify("APNS",.p),!\nHalt\n'))
        assert code == 0 and b"modified=1" in out, (out, err)
        sc.instance.release_stop()
        out, err = proc.communicate(timeout=180)
    finally:
        sc.instance.clear_stops()
    assert proc.returncode == 5, err
    message = _error(err)
    assert "namespaces APNS: globals is USER after apply set AP_DATA" in message, message
    assert _held(sc) == before


def test_sigterm_while_the_session_runs_rolls_back(shared_sim, project):
    sc = shared_sim
    before = _held(sc)
    sc.instance.arm_stop("Config.MapGlobals.Create")
    try:
        proc = _apply(sc, project)
        sc.instance.wait_stop(120)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the signal is in; the session finishes the call it was held at
        sc.instance.release_stop()
        out, err = proc.communicate(timeout=180)
    finally:
        sc.instance.clear_stops()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert '"apply.rollback"' in err
    assert _held(sc) == before


def test_the_state_applies_and_a_second_apply_changes_nothing(shared_sim, project):
    """The same state with no fault: applied, then nothing to do, no drift; and removed again by
    --prune once the state names nothing of it (the instance as it was)."""
    from clihelp import cli, fails, ok

    sc = shared_sim
    before = _held(sc)
    dry = ok(cli(sc, "apply", "--state", project / "state.toml", "--dry-run",
                 IRIS_OPS_FIXTURES_DIR=str(project / "fixtures"), **PASSWORD))
    # the role is the security plugin's: the iris-ops process loaded it from its entry point
    assert 'Config.Namespaces).Create("APNS"' in dry.stdout and 'Security.Roles).Create("AP_READER"' in dry.stdout
    assert _held(sc) == before, "a dry run changed the instance"
    first = ok(cli(sc, "apply", "--state", project / "state.toml", IRIS_OPS_FIXTURES_DIR=str(project / "fixtures"), **PASSWORD))
    assert first.stdout.splitlines()[-1] == "apply: 9 created, 0 changed, 0 ok"
    applied = _held(sc)
    again = ok(cli(sc, "apply", "--state", project / "state.toml", "--json",
                   IRIS_OPS_FIXTURES_DIR=str(project / "fixtures"), **PASSWORD))
    doc = json.loads(again.stdout)
    assert doc["summary"] == {"created": 0, "changed": 0, "ok": 9, "removed": 0}
    assert {"kind": "users", "name": "ap_user", "result": "ok"} in doc["applied"]
    assert _held(sc) == applied
    assert sc.instance.check_password("ap_user", PASSWORD["AP_USER_PW"])
    assert PASSWORD["AP_USER_PW"] not in first.stdout + first.stderr + again.stdout + again.stderr
    ok(cli(sc, "apply", "--state", project / "state.toml", "--check", IRIS_OPS_FIXTURES_DIR=str(project / "fixtures"), **PASSWORD))
    # the manual change a user makes with iris-ops itself
    changed = ok(cli(sc, "run", "--ns", "%SYS",
                     'Set p("FullName")="Mallory" Write "modified=",##class(Security.Users).Modify("ap_user",.p),!'))
    assert "modified=1" in changed.stdout, changed.stdout
    drift = fails(cli(sc, "apply", "--state", project / "state.toml", "--check",
                      IRIS_OPS_FIXTURES_DIR=str(project / "fixtures"), **PASSWORD), 4)
    assert drift.stdout.splitlines() == ["change  user ap_user", "          full_name: Mallory -> A. P. User"]
    (project / "empty.toml").write_text("[state.namespaces.USER]\nglobals = \"USER\"\n")
    pruned = ok(cli(sc, "apply", "--state", project / "empty.toml", "--prune", IRIS_OPS_FIXTURES_DIR=str(project / "fixtures"), **PASSWORD))
    assert pruned.stdout.splitlines()[-1] == "apply: 0 created, 0 changed, 1 ok, 9 removed"
    assert _held(sc) == before


def test_a_namespace_another_operation_holds_stops_apply_before_it_changes_anything(shared_sim, project):
    """apply takes the locks backup, restore and delete-ns take: a restore holding APNS (an
    iris-ops process holding its lock) makes apply exit 3 naming it, with nothing changed."""
    from cli_helpers import kill_holder, start_lock_holder
    from clihelp import cli, fails

    sc = shared_sim
    before = _held(sc)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    holder = start_lock_holder({**env, **sc.env}, project, "APNS")
    try:
        refused = fails(cli(sc, "apply", "--state", project / "state.toml",
                            IRIS_OPS_FIXTURES_DIR=str(project / "fixtures"), **PASSWORD), 3)
    finally:
        kill_holder(holder)
    assert "namespace APNS" in refused.stderr and f"pid {holder.pid}" in refused.stderr, refused.stderr
    assert _held(sc) == before


def _kill_9_held_at(sc, project, call) -> None:
    """Start apply, hold its session at ``call``, ``kill -9`` iris-ops: the session stays held."""
    sc.instance.arm_stop(call)
    try:
        proc = _apply(sc, project)
        sc.instance.wait_stop(120)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    except BaseException:
        sc.instance.clear_stops()
        raise
    assert proc.returncode == -signal.SIGKILL


def test_kill_9_during_the_fixtures_restore_then_doctor_fix_leaves_the_instance_as_before(shared_sim, project):
    """``kill -9`` of iris-ops while the instance copies the fixture's files into the namespace
    apply restores; the session, released, runs to its end.  What the apply and its restore made
    stays, a new apply is refused until ``doctor`` has rolled it back (both journals found), and
    ``doctor --fix`` leaves the instance exactly as before."""
    from clihelp import cli, fails, ok
    from reliability import beds

    sc = shared_sim
    before = _held(sc)
    _kill_9_held_at(sc, project, "%Library.File.CopyFile")
    sc.instance.clear_stops()
    beds.wait_for_late_sessions(sc)  # the released session, and the dead client's lock holders, have ended
    assert _held(sc) != before, "the apply changed nothing before it was killed"
    again = fails(cli(sc, "apply", "--state", project / "state.toml", IRIS_OPS_FIXTURES_DIR=str(project / "fixtures"),
                      **PASSWORD), 3)
    assert "an earlier apply did not finish" in again.stderr and "doctor --fix" in again.stderr, again.stderr
    # what changes nothing says so too: plan and --check show what the rollback would undo
    plan = lambda *flags: cli(sc, "plan", "--state", project / "state.toml", *flags,  # noqa: E731
                              IRIS_OPS_FIXTURES_DIR=str(project / "fixtures"), **PASSWORD)
    journal = json.loads(ok(plan("--json")).stdout)["unfinished_apply"]
    assert journal and journal.endswith("/iris-ops-apply.json"), journal
    line = f"an earlier apply did not finish ({journal}): `iris-ops doctor --fix` rolls it back; apply is refused until then"
    assert ok(plan()).stdout.splitlines()[-1] == line
    check = cli(sc, "apply", "--check", "--state", project / "state.toml",
                IRIS_OPS_FIXTURES_DIR=str(project / "fixtures"), **PASSWORD)
    assert line in check.stdout.splitlines() and "apply.unfinished" in check.stderr, check.stdout + check.stderr
    dry = ok(cli(sc, "apply", "--dry-run", "--state", project / "state.toml",
                 IRIS_OPS_FIXTURES_DIR=str(project / "fixtures"), **PASSWORD))
    assert "apply.unfinished" in dry.stderr and journal in dry.stderr, dry.stderr
    found = fails(cli(sc, "doctor", "--json"), 4)
    assert sorted({f["kind"] for f in json.loads(found.stdout)["findings"]}) >= ["apply", "restore"], found.stdout
    ok(cli(sc, "doctor", "--fix", "--yes"))
    assert _held(sc) == before
    ok(cli(sc, "doctor"))
    assert json.loads(ok(plan("--json")).stdout)["unfinished_apply"] is None


def test_doctor_fix_waits_for_the_session_a_killed_apply_left_running(shared_sim, project):
    """``kill -9`` while apply's last session is held at a mapping's creation, and ``doctor
    --fix`` started while it is still held: doctor waits for that session (the apply's guard)
    before it undoes anything, so what the session makes once released is undone too."""
    from clihelp import cli, command, ok
    from reliability import beds

    sc = shared_sim
    before = _held(sc)
    _kill_9_held_at(sc, project, "Config.MapGlobals.Create")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
        env.update(sc.env)
        doctor = subprocess.Popen(command("doctor", "--fix", "--yes"), env=env, cwd=project, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        time.sleep(1.5)  # doctor has found the journal and waits for the held session
        assert doctor.poll() is None, doctor.communicate()
        sc.instance.release_stop()
        out, err = doctor.communicate(timeout=180)
    finally:
        sc.instance.clear_stops()
    assert doctor.returncode == 0, out + err
    beds.wait_for_late_sessions(sc)
    assert _held(sc) == before
    ok(cli(sc, "doctor"))
