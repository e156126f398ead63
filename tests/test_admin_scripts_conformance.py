"""The conformance probes' scripts on a simulated instance (tests/inproc_sim.py), where what they
meet is not the default: another process of the run (or a probe session) still holding its lock,
the simulator's variants, a scratch object missing, a run interrupted part-way.  (The default
instance, end to end: tests/test_admin_scripts_describe.py.)

A process that holds a lock is a real one: this test process forks, and the child runs an
``iris session`` of the same instance (its own job, its own locks), fed through a pipe, until it
is ended (``$SYSTEM.Process.Terminate``, which signals it) or its input closes."""

from __future__ import annotations

import os
import signal

import pytest

from inproc_sim import fails, sim  # noqa: F401 - sim is a fixture
from iris_ops import script_builders as scripts
from iris_ops.objectscript import lock
# imported here, not in the forked child: a fork copies no other thread, so the child imports nothing
from iris_ops_sim.irissim.instance import jobtable
from iris_ops_sim.irissim.objectscript.runtime import Halt
from iris_ops_sim.irissim.objectscript.terminal import iris_main

MGR = "/usr/irissys/mgr/"
SCRATCH = scripts.ConformanceScratch("c0123456789", MGR)


class _Session:
    """Another ``iris session`` process of ``sim``'s instance, running ``lines`` and then
    waiting for more input; ``started`` is what it printed up to ``until``."""

    def __init__(self, sim, lines: str, until: str) -> None:
        feed, self._input = os.pipe()
        self._output, sink = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: a session process of the instance, as iris.py runs one
            code = 70
            try:
                os.close(self._input)
                os.close(self._output)
                code = _run_session(sim, feed, sink)
            finally:
                os._exit(code)
        os.close(feed)
        os.close(sink)
        self._input: int | None
        self._output: int | None
        os.write(self._input, lines.encode())
        seen = b""
        while until.encode() not in seen:
            chunk = os.read(self._output, 65536)
            if not chunk:
                break
            seen += chunk
        self.started = seen.decode()
        self.status: int | None = None

    def ended(self) -> int:
        """Its exit status, once it has ended (waits for it)."""
        if self.status is None:
            _, status = os.waitpid(self.pid, 0)
            self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def close(self) -> None:
        """Its input ends (the session ends: <ENDOFFILE>); reads what it still prints, and waits
        for it."""
        if self._input is not None:
            os.close(self._input)
            self._input = None
        if self._output is not None:
            while os.read(self._output, 65536):
                pass
            os.close(self._output)
            self._output = None
        self.ended()


def _run_session(sim, feed: int, sink: int) -> int:
    where = jobtable.location(sim.instance)

    def terminated(signum, frame):  # noqa: ARG001 - what iris.py does on Terminate's SIGTERM
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Halt(jobtable.exit_status(where, os.getpid()))

    signal.signal(signal.SIGTERM, terminated)
    try:
        return iris_main(sim.instance, ["session", "IRIS", "-U", "%SYS"], os.fdopen(feed, "rb", buffering=0),
                         lambda data: os.write(sink, data), job=os.getpid())
    except Halt as h:
        return h.exit_code


@pytest.fixture
def sessions():
    started: list[_Session] = []

    def start(sim, lines: str, until: str) -> _Session:
        session = _Session(sim, lines, until)
        started.append(session)
        return session

    yield start
    for session in started:
        if session.status is None:
            os.kill(session.pid, signal.SIGKILL)
        session.close()


def _set_up(sim, scratch=SCRATCH) -> dict:
    sim.put(scratch.marker, b"what the transport writes first\n")
    return sim.run(scripts.conformance_setup(scratch, wait=5))


def _probe_session(sim, sessions, key: str) -> _Session:
    """A probe session as `iris-ops conformance` starts one: it takes its probe lock and waits."""
    session = sessions(sim, scripts.conformance_session_lines(SCRATCH, key, "tok0123456789"), "<<<tok0123456789:END>>>")
    assert f"<<<tok0123456789:HELD>>>{session.pid}|1" in session.started
    return session


def _hold_the_run(sim, sessions) -> _Session:
    """Another process of this conformance run, still in the instance with the run's lock."""
    return sessions(sim, f'{lock(SCRATCH.serial_lock(), timeout=0)} Write "held=",$Test,!\n', "held=1")


def test_a_probe_session_holding_its_lock_is_ended_and_its_lock_is_free(sim, sessions):
    _set_up(sim)
    session = _probe_session(sim, sessions, "lock")
    ended = sim.run(scripts.conformance_end_session(SCRATCH, "lock"))
    assert {key: ended[key] for key in ("owner", "free_before", "terminated", "released")} == {
        "owner": session.pid, "free_before": 0, "terminated": 1, "released": 1}
    assert session.ended() == 1  # Terminate's exit status


def test_the_cleanup_ends_a_probe_session_still_holding_its_lock(sim, sessions):
    before = sim.config()
    _set_up(sim)
    session = _probe_session(sim, sessions, "eof")
    cleaned = sim.run(scripts.conformance_cleanup(SCRATCH, wait=5))
    assert cleaned["ok"] == 1 and cleaned["serialized"] == 1
    assert session.ended() == 1
    assert sim.config() == before and not sim.host(SCRATCH.db_dir).exists()


def test_a_probing_script_waits_for_the_run_s_lock_and_then_refuses(sim, sessions):
    _hold_the_run(sim, sessions)
    sim.put(SCRATCH.marker, b"what the transport writes first\n")
    for script in (scripts.conformance_setup(SCRATCH, wait=0), scripts.conformance_checks(SCRATCH, wait=0)):
        caught = fails(sim, script)
        assert caught.details["step"] == "serial"
        assert "another step of this conformance run still holds the instance" in str(caught)
    assert SCRATCH.database not in sim.config()["Databases"]


def test_the_cleanup_runs_even_when_the_run_s_lock_stays_held(sim, sessions):
    before = sim.config()
    _set_up(sim)
    holder = _hold_the_run(sim, sessions)
    cleaned = sim.run(scripts.conformance_cleanup(SCRATCH, wait=0))
    assert cleaned["ok"] == 1 and cleaned["serialized"] == 0
    assert sim.config() == before and not sim.host(SCRATCH.db_dir).exists()
    holder.close()
    assert holder.ended() == 1  # its input ended


def test_the_cleanup_after_a_run_interrupted_before_its_database_removes_what_there_is(sim):
    before = sim.config()
    sim.put(SCRATCH.marker, b"what the transport writes first\n")
    cleaned = sim.run(scripts.conformance_cleanup(SCRATCH, wait=5))
    assert cleaned["ok"] == 1 and cleaned["steps"] == 12
    assert sim.config() == before and not sim.host(SCRATCH.db_dir).exists()


def test_the_cleanup_removes_a_role_that_came_with_the_resource(sim, monkeypatch):
    monkeypatch.setenv("IRISSIM_VARIANTS", "resource-creates-role")
    roles = sim.roles()
    _set_up(sim)
    checks = sim.run(scripts.conformance_checks(SCRATCH, wait=5))
    assert checks["role_with_resource"] == 1 and SCRATCH.resource.upper() in sim.roles()
    assert sim.run(scripts.conformance_cleanup(SCRATCH, wait=5))["ok"] == 1
    assert sim.roles() == roles and SCRATCH.resource not in sim.resources()


def test_the_scratch_resource_says_who_made_it(sim):
    _set_up(sim)
    sim.run(scripts.conformance_checks(SCRATCH, wait=5))
    assert sim.resources()[SCRATCH.resource]["Description"] == "created by iris-ops conformance"


def test_sql_that_fails_on_the_read_only_copy_is_reported(sim, monkeypatch):
    monkeypatch.setenv("IRISSIM_VARIANTS", "readonly-sql-fails")
    _set_up(sim)
    checks = sim.run(scripts.conformance_checks(SCRATCH, wait=5))
    assert checks["ro_mounted"] == 1 and checks["ro_readonly"] == 1
    assert checks["ro_sql_ok"] == 0 and "PROTECT" in checks["ro_sql_error"] and "tables" not in checks


def test_a_copy_that_cannot_be_opened_is_named(sim):
    _set_up(sim)
    os.remove(sim.host(SCRATCH.copy_dir + "IRIS.DAT"))
    caught = fails(sim, scripts.conformance_checks(SCRATCH, wait=5))
    assert caught.details["step"] == "readonly"
    assert "cannot open the copy of the scratch database" in str(caught)


@pytest.mark.parametrize("blocked", ["b.dat", "c.dat"])
def test_a_scratch_file_that_cannot_be_made_is_named(sim, blocked):
    sim.put(SCRATCH.db_dir + blocked + "/inside", b"")  # a directory where the probe makes its file
    sim.put(SCRATCH.marker, b"what the transport writes first\n")
    caught = fails(sim, scripts.conformance_setup(SCRATCH, wait=5))
    assert caught.details["step"] == "files" and "cannot create a scratch file" in str(caught)


def test_a_scratch_database_that_cannot_be_copied_is_named(sim):
    sim.put(SCRATCH.copy_dir + "IRIS.DAT/inside", b"")  # a directory where the copy goes
    sim.put(SCRATCH.marker, b"what the transport writes first\n")
    caught = fails(sim, scripts.conformance_setup(SCRATCH, wait=5))
    assert caught.details["step"] == "copy" and "cannot copy the scratch database" in str(caught)


def test_mount_of_the_mounted_scratch_database_reports_the_error_iris_gives(sim):
    setup = _set_up(sim)
    assert setup["mount_mounted_error"] == 1
    assert setup["mount_mounted_text"].endswith(f"Database {SCRATCH.db_dir} is already mounted")


def test_a_read_only_mount_that_fails_is_reported_with_iris_s_reason(sim):
    from iris_ops.operations.conformance_facts import DIFFERS, Observations, evaluate
    from iris_ops_sim.irissim.instance import datfile

    _set_up(sim)
    copy = sim.host(SCRATCH.copy_dir + "IRIS.DAT")
    copy.unlink()
    datfile.create(copy, SCRATCH.copy_dir, "%DB_NOSUCH", 1)  # its label names a resource this instance lacks
    seen = Observations(checks=sim.run(scripts.conformance_checks(SCRATCH, wait=5)))
    assert seen.checks["ro_mounted"] == 0
    found = {a.fact.key: (a.status, a.observed) for a in evaluate(seen)}
    assert found["readonly-mount"] == (DIFFERS, f"not mounted: ERROR #5001: Cannot mount {SCRATCH.copy_dir}: "
                                                "resource %DB_NOSUCH does not exist")
