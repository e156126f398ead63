"""Issue 20 point 3: `doctor --fix` thaws only a freeze an iris-ops backup made whose session is
gone.  A freeze made by anyone else's ExternalFreeze, or one whose backup still runs, stays
frozen and is reported (exit 4) with what to do.  Each case freezes for real: an ExternalFreeze
of another session, or a backup (a subprocess) stopped or killed with real signals while its
in-instance session holds the freeze."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from reliability import beds
from reliability.conftest import comparable, leftovers_in

RECORD = "/usr/irissys/mgr/iris-ops-freeze.json"
#: The frozen step: its session holds at this call (a stop point) until the test has stopped it.
COPY_CALL = "%Library.File.CopyFile"
THAW = '##Class(Backup.General).ExternalThaw()'


def _popen(sc, cwd, *args, fault=None, **extra):
    from clihelp import command

    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sc.env, IRIS_OPS_LOG_FORMAT="json", **extra)
    return subprocess.Popen(command(*args, fault=fault), env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _doctor(rel_cli, *flags):
    code, out, err = rel_cli("doctor", "--json", *flags)
    return code, json.loads(out), err


def _rows(doc, kind):
    return [f for f in doc.get("findings", []) if f["kind"] == kind]


def _record(sc) -> dict | None:
    code, out, _ = sc.exec(["cat", RECORD])
    return json.loads(out) if code == 0 and out.strip() else None


def _frozen_backup(sc, tmp_path):
    """A backup whose in-instance session holds the freeze, stopped (SIGSTOP) right there: the
    backup process and the freeze's record (its ``job`` is the session's pid in the container)."""
    return _frozen_backup_with(sc, tmp_path)


def _frozen_backup_with(sc, tmp_path, *, still_frozen: bool = True, **env):
    """The session is held at the frozen copy (a stop point, so it holds no lock of the instance's
    own) and stopped there with SIGSTOP; then the hold is released, so the session goes on with
    the copy once it is continued.  Stopping it on sight of the record instead raced the lines
    between the record and the copy.  ``still_frozen=False`` for a freeze_limit so short that
    WDSuspendLimit may have ended the freeze before the test looks (a loaded machine takes
    seconds for the control calls above)."""
    sc.instance.arm_stop(COPY_CALL)
    proc = _popen(sc, tmp_path, "backup", "--ns", "USER", "--out", tmp_path / "fx", **env)
    job = None
    try:
        job = sc.instance.wait_stop(60)
        code, _, err = sc.exec(["kill", "-STOP", str(job)], user="root")
        assert code == 0, err
        sc.instance.release_stop()
        record = _record(sc)
        assert record is not None, "the freeze record was not written before the frozen copy"
        assert not still_frozen or sc.instance.is_frozen()
        assert record["pid"] == proc.pid and record["operation"] == "backup" and record["job"] == job
    except BaseException:
        if job is not None:
            sc.exec(["kill", "-9", str(job)], user="root")
        sc.instance.clear_stops()
        proc.kill()
        proc.communicate()
        raise
    return proc, record


def _job_gone(sc, job: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while sc.exec(["kill", "-0", str(job)])[0] == 0:
        assert time.monotonic() < deadline, f"job {job} never ended"
        time.sleep(0.2)


def _expired_then_foreign_freeze(sc, rel_cli, record) -> None:
    """Waits for WDSuspendLimit to end the backup's freeze (its record stays), then freezes the
    instance as someone else would."""
    deadline = time.monotonic() + 60
    while sc.instance.is_frozen():  # WDSuspendLimit resumes the write daemon by itself
        assert time.monotonic() < deadline, "the freeze never ended"
        time.sleep(0.2)
    assert _record(sc) == record
    code, _, err = rel_cli("run", "--ns", "%SYS", 'Set sc=##class(Backup.General).ExternalFreeze(,"snapshot",,,,,0,,,600)')
    assert code == 0, err


def _thaw(sc):
    sc.exec(["iris", "session", "IRIS", "-U", "%SYS", THAW])


@pytest.mark.parametrize("how", ["iris-ops-run", "own-session"])
def test_a_freeze_someone_else_made_stays_frozen(shared_sim, rel_cli, how):
    """ExternalFreeze through `iris-ops run`, or in the instance's own `iris session` (an ops
    team's snapshot script): doctor --fix --yes exits 4, says what it is and how to thaw it once
    its owner is done, and leaves it frozen."""
    sc = shared_sim
    if how == "iris-ops-run":
        code, _, err = rel_cli("run", "--ns", "%SYS", 'Set sc=##class(Backup.General).ExternalFreeze(,"snapshot",,,,,0,,,600)')
        assert code == 0, err
    else:
        code, out, err = sc.exec(["iris", "session", "IRIS", "-U", "%SYS", "##Class(Backup.General).ExternalFreeze()"])
        assert code == 5, (out, err)  # the documented exit status of a successful freeze
    try:
        assert sc.instance.is_frozen()
        code, out, err = rel_cli("doctor", "--fix", "--yes")
        assert code == 4, err
        assert "frozen-foreign" in out and "frozen by something other than iris-ops" in out
        assert f'Once its owner is done, thaw it with: iris session IRIS -U %SYS "{THAW}"' in out
        assert "repaired" not in out
        assert "iris-ops may not repair" in err
        assert sc.instance.is_frozen(), "doctor thawed a freeze iris-ops did not make"
        code, doc, _ = _doctor(rel_cli)
        assert code == 4 and [r["fixable"] for r in _rows(doc, "frozen-foreign")] == [False]
    finally:
        _thaw(sc)
    assert not sc.instance.is_frozen()
    code, doc, err = _doctor(rel_cli)
    assert code == 0 and doc["findings"] == [], err


def test_a_backup_killed_with_its_session_leaves_a_freeze_that_doctor_thaws(shared_sim, rel_cli, tmp_path):
    """`kill -9` of iris-ops during the frozen copy, and of its in-instance session (a client and
    a session both gone: power loss, a container-level kill): the record names a job that no
    longer exists, so doctor --fix thaws, and removes the record and the staging copy."""
    sc = shared_sim
    before = sc.instance.listing()
    proc, record = _frozen_backup(sc, tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert sc.exec(["kill", "-9", str(record["job"])])[0] == 0
    _job_gone(sc, record["job"])
    assert sc.instance.is_frozen()
    code, doc, _ = _doctor(rel_cli)
    assert code == 4
    [row] = _rows(doc, "frozen")
    assert f"pid {proc.pid}" in row["problem"] and f"job {record['job']}" in row["problem"] and "is gone" in row["problem"]
    code, doc, err = _doctor(rel_cli, "--fix", "--yes")
    assert code == 0, err
    assert "frozen" in {r["kind"] for r in doc["repaired"]}
    assert not sc.instance.is_frozen()
    assert _record(sc) is None
    after = sc.instance.listing()
    assert leftovers_in(after) == [] and comparable(after) == comparable(before)


def test_a_freeze_whose_session_still_runs_is_not_thawed(shared_sim, rel_cli, tmp_path):
    """`kill -9` of iris-ops during the frozen copy while its in-instance session still exists
    (stopped here, so that it cannot finish first): doctor --fix --yes leaves the freeze, says
    the session still runs.  Once the session goes on, it thaws and removes the record itself."""
    sc = shared_sim
    before = sc.instance.listing()
    proc, record = _frozen_backup(sc, tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:
        code, doc, _ = _doctor(rel_cli, "--fix", "--yes")
        assert code == 4
        [row] = _rows(doc, "frozen-running")
        assert f"job {record['job']}" in row["problem"] and "still runs" in row["problem"] and not row["fixable"]
        assert "frozen" not in {r["kind"] for r in doc["repaired"]}
        assert sc.instance.is_frozen(), "doctor thawed the freeze of a session that still runs"
        assert _record(sc) == record
    finally:
        sc.exec(["kill", "-CONT", str(record["job"])])
    _job_gone(sc, record["job"])
    assert not sc.instance.is_frozen() and _record(sc) is None  # the session thawed, and removed its record
    code, doc, err = _doctor(rel_cli, "--fix", "--yes")
    assert code == 0, err
    after = sc.instance.listing()
    assert leftovers_in(after) == [] and comparable(after) == comparable(before)


def test_a_freeze_whose_backup_still_runs_is_not_thawed_and_the_backup_thaws_it(shared_sim, rel_cli, tmp_path):
    """The freezing session killed while iris-ops itself lives on (stopped here): its freeze lock
    says a backup runs, so doctor leaves the freeze.  Resumed, the backup finds its session gone
    and thaws through the record (its own thaw path), which it removes.  It is kept stopped past
    the lock's READ_TIMEOUT, so its lock has lapsed by then (however long doctor took): it still
    removes its own staging copy and thaws the freeze its record proves its own, and touches
    nothing else."""
    from iris_ops.locks import READ_TIMEOUT

    sc = shared_sim
    before = sc.instance.listing()
    proc, record = _frozen_backup(sc, tmp_path)
    os.kill(proc.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        assert sc.exec(["kill", "-9", str(record["job"])])[0] == 0
        _job_gone(sc, record["job"])
        code, doc, _ = _doctor(rel_cli, "--fix", "--yes")
        assert code == 4
        [row] = _rows(doc, "frozen-running")
        assert "holds its freeze lock" in row["problem"] and f"pid {proc.pid}" in row["problem"]
        assert sc.instance.is_frozen()
        time.sleep(max(0.0, stopped + READ_TIMEOUT + 2 - time.monotonic()))
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 5, err  # the instance's session died: the backup failed
    assert '"lock.lapsed"' in err, err
    assert '"backup.thaw"' in err and '"thawed": true' in err
    assert not sc.instance.is_frozen() and _record(sc) is None
    after = sc.instance.listing()
    assert leftovers_in(after) == [] and comparable(after) == comparable(before)
    code, doc, err = _doctor(rel_cli)
    assert code == 0 and doc["findings"] == [], err


def test_a_backup_whose_lock_lapsed_never_thaws_a_freeze_made_after_its_own_ended(shared_sim, rel_cli, tmp_path):
    """Stopped past its lock's READ_TIMEOUT and its freeze_limit, the backup's freeze has ended
    (WDSuspendLimit) and someone else froze since.  Its record still names it, but the freeze is
    no longer provably its own: resumed, it removes its record and staging copy and leaves the
    other freeze as it is (exit 5, the lapse named)."""
    from iris_ops.locks import READ_TIMEOUT

    sc = shared_sim
    before = sc.instance.listing()
    proc, record = _frozen_backup_with(sc, tmp_path, still_frozen=False, IRIS_OPS_FREEZE_LIMIT="2")
    os.kill(proc.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        assert sc.exec(["kill", "-9", str(record["job"])])[0] == 0
        _job_gone(sc, record["job"])
        _expired_then_foreign_freeze(sc, rel_cli, record)
        time.sleep(max(0.0, stopped + READ_TIMEOUT + 2 - time.monotonic()))
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    try:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 5, err
        assert '"lock.lapsed"' in err and '"backup.thaw"' not in err, err
        assert sc.instance.is_frozen(), "a backup whose lock lapsed thawed a freeze that was not its own"
        assert _record(sc) is None
    finally:
        _thaw(sc)
    after = sc.instance.listing()
    assert leftovers_in(after) == [] and comparable(after) == comparable(before)


def test_a_freeze_made_after_the_backups_own_ended_is_no_proof_that_its_copy_held(shared_sim, rel_cli, tmp_path):
    """The backup's session is stopped mid-copy past its freeze_limit: WDSuspendLimit resumes the
    write daemon, and someone else freezes before the session goes on.  IsWDSuspended is 1 again
    when the session checks it, but the copy was not made under one freeze: the backup fails
    (exit 5, the freeze expired), writes no fixture, and leaves the other freeze frozen, neither
    its session nor this process thawing it."""
    from iris_ops.script_builders import FREEZE_EXPIRED

    sc = shared_sim
    before = sc.instance.listing()
    proc, record = _frozen_backup_with(sc, tmp_path, still_frozen=False, IRIS_OPS_FREEZE_LIMIT="2")
    try:
        _expired_then_foreign_freeze(sc, rel_cli, record)
        assert sc.exec(["kill", "-CONT", str(record["job"])], user="root")[0] == 0
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 5, err
        assert FREEZE_EXPIRED in err and '"backup.thaw"' not in err, err
        assert sc.instance.is_frozen(), "the backup thawed a freeze that was not its own"
        assert _record(sc) is None
        assert not (tmp_path / "fx").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        _thaw(sc)
    after = sc.instance.listing()
    assert leftovers_in(after) == [] and comparable(after) == comparable(before)


def test_doctor_fix_while_a_backup_copies_repairs_nothing_it_is_making(shared_sim, rel_cli, tmp_path):
    """A backup held in its frozen copy (its session and its lock alive) while `doctor --fix
    --yes` runs: its staging directory is reported with the running backup named, and left; the
    freeze is left too.  Released, the backup completes (exit 0) with a fixture that validates.
    Before, doctor removed the staging directory under the backup's copy, and the backup failed."""
    from clihelp import command

    sc = shared_sim
    before = sc.instance.listing()
    sc.instance.arm_stop(COPY_CALL)
    proc = _popen(sc, tmp_path, "backup", "--ns", "USER", "--out", tmp_path / "fx")
    try:
        sc.instance.wait_stop(60)
        code, doc, err = _doctor(rel_cli, "--fix", "--yes")
        assert code == 4, err
        [row] = _rows(doc, "staging")
        assert not row["fixable"] and f"backup (pid {proc.pid} on " in row["problem"], row
        assert doc.get("repaired", []) == []
        assert [p for p in sc.instance.listing()["files"] if "/iris-ops-backup-" in p], "doctor removed the staging copy"
        assert sc.instance.is_frozen()
    finally:
        sc.instance.release_stop()
        sc.instance.clear_stops()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    done = subprocess.run(command("validate", "--src", tmp_path / "fx"), capture_output=True, text=True,
                          env={**os.environ, **sc.env})
    assert done.returncode == 0, done.stdout + done.stderr
    code, doc, err = _doctor(rel_cli)
    assert code == 0 and doc["findings"] == [], err
    after = sc.instance.listing()
    assert leftovers_in(after) == [] and comparable(after) == comparable(before)


def _until(leader: int, text: bytes, seen: bytearray, timeout: float = 60, start: int = 0) -> bool:
    """Read the terminal into ``seen`` until ``text`` is in it past ``start`` (True) or it
    closes (False)."""
    import select

    deadline = time.monotonic() + timeout
    while text not in seen[start:]:
        assert time.monotonic() < deadline, f"never saw {text!r} in: {bytes(seen).decode(errors='replace')}"
        if select.select([leader], [], [], 0.5)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the other side closed the terminal
                return False
            if not chunk:
                return False
            seen += chunk
    return True


def test_doctor_fix_never_thaws_a_freeze_that_ended_while_it_asked(shared_sim, rel_cli, tmp_path):
    """doctor --fix on a terminal finds a killed backup's freeze (its record young, its session
    gone) and asks before thawing it.  While the question waits, WDSuspendLimit ends that freeze
    and someone else freezes.  Answered yes, doctor leaves the other freeze as it is."""
    import pty

    from clihelp import command

    sc = shared_sim
    before = sc.instance.listing()
    proc, record = _frozen_backup_with(sc, tmp_path, IRIS_OPS_FREEZE_LIMIT="12")
    proc.kill()
    proc.communicate()
    assert sc.exec(["kill", "-9", str(record["job"])])[0] == 0
    _job_gone(sc, record["job"])
    # its lock's session too: while it holds, doctor repairs nothing and would ask nothing
    beds.wait_for_late_sessions(sc, where="the killed backup's lock")
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    doctor = subprocess.Popen(command("doctor", "--fix"), env={**env, **sc.env}, cwd=tmp_path,
                              stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    seen = bytearray()
    try:
        assert _until(leader, b"[y/N]", seen)
        assert b"frozen " in seen and b"thaw" in seen, bytes(seen).decode(errors="replace")
        _expired_then_foreign_freeze(sc, rel_cli, record)
        while True:  # yes to the thaw, and to whatever else it asks (the killed backup's staging copy)
            os.write(leader, b"y\n")
            asked = len(seen)
            if not _until(leader, b"[y/N]", seen, start=asked):
                break
        assert doctor.wait(timeout=60) == 4, bytes(seen).decode(errors="replace")
        assert sc.instance.is_frozen(), "doctor thawed a freeze made after the one it had found ended"
    finally:
        if doctor.poll() is None:
            doctor.kill()
            doctor.wait()
        os.close(leader)
        _thaw(sc)
    code, doc, err = _doctor(rel_cli, "--fix", "--yes")
    assert code == 0, err
    after = sc.instance.listing()
    assert leftovers_in(after) == [] and comparable(after) == comparable(before)


def test_a_record_older_than_its_limit_never_makes_a_later_freeze_look_like_iris_ops(shared_sim, rel_cli, tmp_path):
    """A backup and its session killed after WDSuspendLimit ended their freeze leave a record
    behind.  A freeze someone makes later is not the one it describes: doctor leaves it frozen.
    Once that freeze is gone, the stale record is a finding of its own, which --fix removes."""
    sc = shared_sim
    before = sc.instance.listing()
    proc, record = _frozen_backup_with(sc, tmp_path, still_frozen=False, IRIS_OPS_FREEZE_LIMIT="2")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert sc.exec(["kill", "-9", str(record["job"])])[0] == 0
    _job_gone(sc, record["job"])
    _expired_then_foreign_freeze(sc, rel_cli, record)
    try:
        code, doc, _ = _doctor(rel_cli, "--fix", "--yes")
        assert code == 4
        [row] = _rows(doc, "frozen-foreign")
        assert "older than its freeze_limit of 2 s" in row["problem"]
        assert sc.instance.is_frozen(), "doctor thawed a freeze because of a stale record"
    finally:
        _thaw(sc)
    code, doc, _ = _doctor(rel_cli)
    assert code == 4 and [f["kind"] for f in doc["findings"]] == ["freeze-record"]
    code, doc, err = _doctor(rel_cli, "--fix", "--yes")
    assert code == 0, err
    assert _record(sc) is None
    after = sc.instance.listing()
    assert leftovers_in(after) == [] and comparable(after) == comparable(before)
