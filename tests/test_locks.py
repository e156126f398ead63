"""Per-namespace locks held inside the instance (issue 10, point 5).

The simulator's LOCK and ^$LOCK (timeouts, $TEST, shared and exclusive, release when the
session ends however it ends); the races of the issue through the CLI, as separate processes
started together; and a holder killed with SIGKILL, after which the lock is free at once.
No assertion is about time: each asserts who won, the exit codes and the instance's state.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from iris_ops import objectscript as os_
from cli_helpers import kill_holder as kill
from cli_helpers import start_lock_holder as start_holder
from iris_ops.locks import FREEZE, LockScript, parse_holder

IRIS_OPS = [sys.executable, "-m", "iris_ops"]


@pytest.fixture(scope="module")
def host():
    """One simulated native install for the whole module (the tests leave it as they found it)."""
    from iris_ops_sim.simcontainer import HostSim

    home = tempfile.mkdtemp(prefix="iris-ops-locks-")
    try:
        yield HostSim(Path(home)).install()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _session(host, text: str, ns: str = "%SYS") -> str:
    done = subprocess.run([str(host.iris_command), "session", "IRIS", "-U", ns], input=text.encode(),
                          capture_output=True, timeout=60, check=False)
    return done.stdout.decode()


class Holder:
    """An ``iris session`` that ran ``line`` and waits on its stdin."""

    def __init__(self, host, line: str) -> None:
        self.proc = subprocess.Popen([str(host.iris_command), "session", "IRIS", "-U", "%SYS"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.proc.stdin.write((line + ' Write "<<<"_"HELD>>>",!\n').encode())
        self.proc.stdin.flush()
        seen = b""
        while b"<<<HELD>>>" not in seen:
            chunk = self.proc.stdout.read1(4096)
            assert chunk, seen.decode()
            seen += chunk

    def end(self, how: str) -> int:
        if how == "halt":
            self.proc.stdin.write(b"Halt\n")
            self.proc.stdin.close()
        elif how == "eof":
            self.proc.stdin.close()
        else:
            self.proc.send_signal(signal.SIGKILL)
        code = self.proc.wait(timeout=30)
        self.proc.stdout.close()
        if how == "kill":
            self.proc.stdin.close()
        return code


def _test_after(host, line: str) -> str:
    """``$TEST`` after ``line`` in a fresh session."""
    out = _session(host, f'{line} Write "T=",$Test,!\nHalt\n')
    return out.split("T=", 1)[1].split("\n", 1)[0]


# -- the simulator ----------------------------------------------------------------------------


def test_a_timed_lock_sets_test_and_a_lock_dies_with_its_process(host):
    ways = ("halt", "eof", "kill")
    holders = {how: Holder(host, f'Lock +^Sim.L("{how}"):1') for how in ways}
    try:
        probe = " ".join(f'Lock +^Sim.L("{how}"):0 Write "{how}=",$Test,!' for how in ways)
        busy = _session(host, f'{probe} Lock +^Sim.L("halt")#"S":0 Write "shared=",$Test,! '
                              f'Lock +^Sim.L("other"):0 Write "other=",$Test,!\nHalt\n')
    finally:
        for how, holder in holders.items():
            holder.end(how)
    assert all(f"{how}=0" in busy for how in ways), busy
    assert "shared=0" in busy and "other=1" in busy  # a shared request waits for an exclusive holder
    free = _session(host, probe + "\nHalt\n")
    assert all(f"{how}=1" in free for how in ways), free
    assert not list((Path(host.home) / "irissys/mgr/.sim/locks").glob("*.lock"))  # nothing left behind


def test_shared_locks_share_and_exclude_an_exclusive_one(host):
    holder = Holder(host, 'Lock +^Sim.S#"S"')
    try:
        assert _test_after(host, 'Lock +^Sim.S#"S":0') == "1"
        assert _test_after(host, "Lock +^Sim.S:0") == "0"
        # an untimed LOCK leaves $TEST as the timed one that failed set it
        assert _test_after(host, "Lock +^Sim.S:0 Lock +^Sim.U") == "0"
        out = _session(host, 'Write ^$LOCK("^Sim.S","MODE"),"/",^$LOCK("^Sim.S","OWNER"),!\nHalt\n')
        assert f"S/{holder.proc.pid}" in out
    finally:
        holder.end("halt")


def test_increments_unlock_one_by_one_and_a_plain_lock_releases_the_rest(host):
    out = _session(host, "\n".join([
        "Lock +^Sim.I,+^Sim.I Lock -^Sim.I",
        'Write "one=",^$LOCK("^Sim.I","MODE"),!',
        "Lock -^Sim.I",
        'Write "none=",^$LOCK("^Sim.I","MODE"),!',
        "Lock +^Sim.I Lock ^Sim.J",
        'Write "swapped=",^$LOCK("^Sim.I","MODE"),^$LOCK("^Sim.J","MODE"),!',
        "Lock",
        'Write "all=",$Order(^$LOCK("")),"|",!',
        "Halt",
    ]) + "\n")
    assert "one=X" in out and "none=\n" in out and "swapped=X" in out and "all=|" in out


def test_lock_forms_outside_the_subset_are_refused(host):
    out = _session(host, 'Lock +x\nLock +^Sim.E#"E"\nLock +(^a,^b)\nHalt\n')
    assert out.count("<UNIMPLEMENTED>") == 3, out


def test_order_lists_held_names_of_this_database_only(host):
    holder = Holder(host, 'Lock +^Sim.O("x",1)')
    try:
        out = _session(host, 'Write "next=",$Order(^$LOCK("^Sim.O")),!\nHalt\n')
        assert 'next=^Sim.O("x",1)' in out
        user = _session(host, 'Write "next=",$Order(^$LOCK("")),"|",!\nHalt\n', ns="USER")
        assert "next=|" in user  # USER's globals live in another database
    finally:
        holder.end("halt")


# -- the builder ---------------------------------------------------------------------------------


def test_lock_builders_quote_and_validate():
    ref = os_.global_ref("IRISOPS.Lock", 'A"B', 3)
    assert ref == '^IRISOPS.Lock("A""B",3)'
    assert os_.lock(ref, timeout=2.5, shared=True) == 'Lock +^IRISOPS.Lock("A""B",3)#"S":2.5'
    assert os_.lock(ref, release=True) == 'Lock -^IRISOPS.Lock("A""B",3)'
    for bad in ("1x", "a b", "x)", "^x", ""):
        with pytest.raises(ValueError):
            os_.global_ref(bad)
    with pytest.raises(ValueError):
        os_.global_ref("X", "new\nline")
    with pytest.raises(TypeError):
        os_.lock('^X("a")')
    from iris_ops_sim.syntax import syntax_errors

    assert syntax_errors(LockScript(('N"S', FREEZE), "restore", 2.5)) == []  # InterSystems' grammar reads it
    holder = parse_holder(str(LockScript(("NS",), "restore", 0).holder("NS")))
    assert (holder.key, holder.operation, holder.pid) == ("NS", "restore", os.getpid())
    assert parse_holder('^IRISOPS.Holder("NS","op","h")') is None


def test_a_holder_that_records_itself_late_is_still_named(host):
    """The holder takes the lock, then records itself on its next line: a process that meets the
    lock in between looks again (for up to three seconds) rather than say "not recorded yet"."""
    import threading
    import time

    holder = Holder(host, 'Lock +^IRISOPS.Lock("LATE")')
    try:
        script = LockScript(("LATE",), "probe", 0)
        seen: list[str] = []
        probe = threading.Thread(target=lambda: seen.append(_session(host, script.render() + "Halt\n")))
        probe.start()
        time.sleep(1.0)  # the probe's session starts in well under a second and finds no record
        holder.proc.stdin.write(b'Lock +^IRISOPS.Holder("LATE","backup","there",42,"t1")\n')
        holder.proc.stdin.flush()
        probe.join(timeout=60)
    finally:
        holder.end("halt")
    busy = seen[0].split(script.marker("BUSY").decode(), 1)[1]
    assert parse_holder(busy.split("|", 1)[1].split("\n", 1)[0]).describe() == "backup (pid 42 on there, since t1)"


# -- iris-ops through the CLI -------------------------------------------------------------------


def _env(host) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(host.env, IRIS_OPS_LOG_FORMAT="json")
    return env


def _together(host, cwd, *commands: list[str]) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen([*IRIS_OPS, *argv], cwd=cwd, env=_env(host), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL) for argv in commands]
    done = []
    for proc, argv in zip(procs, commands):
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(argv, proc.returncode, out.decode(), err.decode()))
    return done


def _lost_the_race(result, operation: str) -> bool:
    return result.returncode == 3 and f"is locked by {operation} (pid" in result.stderr


@pytest.fixture(scope="module")
def fixture_dir(host, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("locks")
    (done,) = _together(host, cwd, ["backup", "--ns", "USER", "--out", str(cwd / "user")])
    assert done.returncode == 0, done.stderr
    return cwd / "user"


@pytest.fixture(scope="module")
def races(host, fixture_dir, tmp_path_factory):
    """The three races of the issue, all six processes started together (different namespaces
    do not meet, so one batch costs what the slowest pair costs)."""
    cwd = tmp_path_factory.mktemp("races")
    commands = {
        # a queues (on USER, then on the instance's freeze); b gives up at once
        "backup_a": ["backup", "--ns", "USER", "--out", str(cwd / "a"), "--lock-wait", "120"],
        "backup_b": ["backup", "--ns", "USER", "--out", str(cwd / "b")],
        "backup_app": ["backup", "--ns", "APP", "--out", str(cwd / "app"), "--lock-wait", "120"],
        "restore": ["restore", str(fixture_dir), "--ns", "RACE1"],
        "delete": ["delete-ns", "--ns", "RACE1", "--yes"],
        "restore_x": ["restore", str(fixture_dir), "--ns", "RACE2"],
        "restore_y": ["restore", str(fixture_dir), "--ns", "RACE2", "--lock-wait", "120"],
    }
    results = dict(zip(commands, _together(host, cwd, *commands.values())))
    return cwd, results


def _databases(host, prefix: str) -> list[str]:
    return [name for name in host.instance.read_config()["Databases"] if name.startswith(prefix)]


@pytest.mark.slow
def test_two_backups_of_one_namespace(host, races):
    cwd, results = races
    queued, hasty = results["backup_a"], results["backup_b"]
    assert queued.returncode == 0, queued.stderr
    assert hasty.returncode == 0 or _lost_the_race(hasty, "backup"), hasty.stderr
    for key, out in (("backup_a", cwd / "a"), ("backup_b", cwd / "b")):
        assert (out / "manifest.json").exists() == (results[key].returncode == 0)
    assert not host.instance.is_frozen()


@pytest.mark.slow
def test_freezing_backups_of_two_namespaces_never_overlap(host, races):
    """Without the instance-wide lock the second ExternalFreeze would fail (exit 5, "already
    frozen"); with it, the APP backup queues behind whichever USER backup froze."""
    cwd, results = races
    app = results["backup_app"]
    assert app.returncode == 0, app.stderr
    assert (cwd / "app" / "manifest.json").exists()
    assert all("already frozen" not in r.stderr for r in results.values())


@pytest.mark.slow
def test_restore_racing_delete_of_the_same_namespace(host, races):
    _cwd, results = races
    restore, delete = results["restore"], results["delete"]
    assert restore.returncode == 0 or _lost_the_race(restore, "delete-ns"), restore.stderr
    assert delete.returncode == 0 or _lost_the_race(delete, "restore"), delete.stderr
    namespaces = host.instance.read_config()["Namespaces"]
    if "RACE1" in namespaces:  # the restore came last (or alone): all of it is there
        assert restore.returncode == 0 and _databases(host, "RACE1") == [namespaces["RACE1"]["Globals"]]
    else:  # the delete came last: nothing of the restore is left
        assert delete.returncode == 0 and _databases(host, "RACE1") == []


@pytest.mark.slow
def test_two_restores_into_the_same_new_namespace(host, races):
    _cwd, results = races
    pair = [results["restore_x"], results["restore_y"]]
    winners = [r for r in pair if r.returncode == 0]
    assert len(winners) == 1, [r.stderr for r in pair]
    (loser,) = [r for r in pair if r is not winners[0]]
    # without a wait it meets the lock; with one it waits, then finds the namespace made
    assert loser.returncode == 3, loser.stderr
    assert _databases(host, "RACE2") == [host.instance.read_config()["Namespaces"]["RACE2"]["Globals"]]


@pytest.mark.slow
def test_a_killed_holder_frees_the_lock_at_once(host, tmp_path):
    holder = start_holder(_env(host), tmp_path)
    try:
        dry, blocked = _together(host, tmp_path, ["delete-ns", "--ns", "USER", "--yes", "--dry-run"],
                                 ["backup", "--ns", "USER", "--out", str(tmp_path / "x")])
    finally:
        kill(holder)
    assert dry.returncode == 0 and 'Lock +^IRISOPS.Lock("USER"):0' in dry.stdout  # a dry run takes no lock
    assert _lost_the_race(blocked, "restore") and f"pid {holder.pid} on" in blocked.stderr, blocked.stderr
    after = _together(host, tmp_path, ["backup", "--ns", "USER", "--out", str(tmp_path / "y")])[0]
    assert after.returncode == 0, after.stderr


@pytest.mark.docker
@pytest.mark.slow
def test_through_docker_a_killed_client_frees_the_lock(sim_container, tmp_path):
    """The engine closes the exec's stdin when the client dies: the session ends, the lock with it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sim_container.env, IRIS_OPS_LOG_FORMAT="json")

    def probe(wait: float) -> str:
        script = LockScript(("USER",), "probe", wait)
        _code, out, _err = sim_container.exec(["iris", "session", "IRIS", "-U", "%SYS"],
                                              stdin=(script.render() + "Halt\n").encode())
        text = out.decode()
        return "held" if script.marker("HELD").decode() in text else text

    holder = start_holder(env, tmp_path)
    try:
        busy = probe(0)
    finally:
        kill(holder)
    assert f'^IRISOPS.Holder("USER","restore",' in busy and f",{holder.pid}," in busy
    # the engine needs a moment to see the connection gone; the wait only absorbs that
    assert probe(5) == "held"


def test_a_freezing_backup_names_the_holder_of_the_freeze(host, monkeypatch, tmp_path, capsys):
    from cli_helpers import make_inproc

    run = make_inproc(host.env, monkeypatch, tmp_path, capsys)
    holder = Holder(host, 'Lock +^IRISOPS.Lock("*freeze") Lock +^IRISOPS.Holder("*freeze","backup","elsewhere",7,"t0")')
    try:
        code, _out, err = run("backup", "--ns", "APP", "--out", tmp_path / "app")
        dry_code, dry_out, _err = run("backup", "--ns", "APP", "--out", tmp_path / "dry", "--dismount", "--dry-run")
    finally:
        holder.end("halt")
    assert code == 3 and "the instance's freeze is locked by backup (pid 7 on elsewhere, since t0)" in err, err
    assert "--lock-wait SECONDS" in err and not (tmp_path / "app").exists()
    assert dry_code == 0 and "*freeze" not in dry_out  # a --dismount backup does not freeze


def _aim(host, monkeypatch, tmp_path) -> None:
    """Operations built in this process reach ``host``, with only its IRIS_OPS_* settings."""
    for key in [k for k in os.environ if k.startswith("IRIS_OPS_")]:
        monkeypatch.delenv(key)
    for key, value in host.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)


def test_the_lock_is_taken_at_the_first_contact_and_a_refusal_sticks(host, monkeypatch, tmp_path):
    from iris_ops import locks, script_builders
    from iris_ops.errors import ConflictError
    from iris_ops.operations.context import operation_from_flags

    _aim(host, monkeypatch, tmp_path)
    holder = Holder(host, 'Lock +^IRISOPS.Lock("USER")')
    try:
        op = operation_from_flags("delete-ns", {})
        with locks.holding(op, "USER", wait=0):
            first = pytest.raises(ConflictError, op.runner.run, script_builders.wd_suspended(), changes=False)
            # a cleanup path's contact meets the same refusal: it never touches what USER's holder holds
            again = pytest.raises(ConflictError, op.runner.remove_path, "/nowhere")
        assert first.value is again.value and "namespace USER is locked by another process" in str(first.value)
    finally:
        holder.end("halt")
    op = operation_from_flags("delete-ns", {})
    with locks.holding(op, "USER", wait=0):
        assert op.runner.run(script_builders.wd_suspended(), changes=False)["ok"]


def _whoami(purpose: str, *, fail: bool = False):
    """A read-only %SYS script: its session's $JOB, and the $JOB holding USER's lock."""
    from iris_ops.locks import LOCK_GLOBAL

    script = os_.Script("%SYS", purpose=purpose)
    script.step("who", os_.result("job", os_.SPECIAL["$JOB"]),
                os_.result("owner", os_.lock_owner(os_.global_ref(LOCK_GLOBAL, "USER"))))
    if fail:
        script.step("fails", os_.throw("the first read fails"))
    return script


def test_the_first_read_runs_in_the_locks_own_session_and_later_ones_in_their_own(host, monkeypatch, tmp_path):
    """One session fewer per operation: its first contact, a read-only script in %SYS, runs in
    the session that takes the lock (the lock's owner is that script's own $JOB); later
    contacts run in sessions of their own (another $JOB), with the lock still held."""
    from iris_ops import locks
    from iris_ops.operations.context import operation_from_flags

    _aim(host, monkeypatch, tmp_path)
    op = operation_from_flags("delete-ns", {})
    with locks.holding(op, "USER", wait=0):
        first = op.runner.run(_whoami("first"), changes=False)
        second = op.runner.run(_whoami("second"), changes=False)
    assert first["owner"] == first["job"], first
    assert second["owner"] == first["job"] and second["job"] != first["job"], second
    assert _lock_free(host, "USER")


def test_a_first_read_that_fails_leaves_the_lock_held_and_the_operation_going_on(host, monkeypatch, tmp_path):
    """The first read fails in the lock's session (its own error, exit 5): the holder goes on
    holding the lock, so what the operation does next is still under it."""
    from iris_ops import locks
    from iris_ops.errors import ScriptError
    from iris_ops.operations.context import operation_from_flags

    _aim(host, monkeypatch, tmp_path)
    op = operation_from_flags("delete-ns", {})
    with locks.holding(op, "USER", wait=0):
        failed = pytest.raises(ScriptError, op.runner.run, _whoami("first", fail=True), changes=False)
        assert failed.value.exit_code == 5 and failed.value.details.get("step") == "fails"
        assert not _lock_free(host, "USER")
        later = op.runner.run(_whoami("later"), changes=False)
    assert later["owner"] != later["job"] and later["owner"] != ""
    assert _lock_free(host, "USER")


def test_a_holder_that_ends_during_the_first_read_stops_the_operation(host, monkeypatch, tmp_path):
    """The session holding the lock ends while it runs the first read (it terminates itself
    here): the lock went with it, so that contact fails (exit 5, said so) and every later one
    is refused: nothing runs without the lock."""
    from iris_ops import locks, script_builders
    from iris_ops.errors import InstanceError
    from iris_ops.operations.context import operation_from_flags

    _aim(host, monkeypatch, tmp_path)
    ends = os_.Script("%SYS", purpose="a read whose session ends")
    ends.step("ends", os_.do(os_.call("%SYSTEM.Process", "Terminate", os_.SPECIAL["$JOB"], 1)))
    op = operation_from_flags("delete-ns", {})
    with locks.holding(op, "USER", wait=0):
        first = pytest.raises(InstanceError, op.runner.run, ends, changes=False)
        assert "the session holding the lock ended before it answered" in str(first.value)
        assert _lock_free(host, "USER")
        again = pytest.raises(InstanceError, op.runner.run, script_builders.wd_suspended(), changes=False)
        assert again.value is first.value


def test_only_a_read_that_cannot_disturb_the_holder_joins_its_session():
    from iris_ops.locks import mergeable

    def script(*statements, ns="%SYS"):
        s = os_.Script(ns, purpose="p")
        s.step("s", *statements)
        return s

    x = os_.var("x")
    assert mergeable(script(os_.result("n", os_.call("Config.Namespaces", "Exists", os_.lit("USER")))))
    # a method named like a command is no command
    assert mergeable(script(os_.set_(x, os_.method(os_.var("stream"), "Read", 100))))
    assert not mergeable(script(os_.result("n", 1), ns="USER"))  # the holder's namespace only
    assert not mergeable(script(os_.HALT))
    assert not mergeable(script(os_.lock(os_.global_ref("X", "a"), timeout=0)))
    assert not mergeable(script(os_.read(x, timeout=1)))
    assert not mergeable(script(os_.hang(1)))
    assert not mergeable(script(os_.user_code("Write 1")))


# --- the holder ends itself when its input ends (issue 21, point 5) -------------------------------

class _PromptMustNotWait:
    """A terminal that, at the prompt, would wait on after its input ended (whether ``iris
    session`` ends there is not documented): reaching the prompt at the end of input fails."""

    @staticmethod
    def session(inst, text: str, input_=None):
        from iris_ops_sim.irissim.objectscript.terminal import Session

        class Session_(Session):
            def readline(self):
                line = super().readline()
                if line is None:
                    raise AssertionError("the holder went back to the prompt after its input ended")
                return line

        out: list[bytes] = []
        session = Session_(inst, "%SYS", io.BytesIO(text.encode()), out.append, "irisowner", job=4343)
        if input_ is not None:
            session.proc.input = input_(session.proc.input)
        return session, out


class _NothingAtTheEnd:
    """A principal device whose timed read at the end of input returns at once with nothing and
    no error ($TEST 0): the third way an end of input could show."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.empty_reads = 0

    def readline(self, timeout=None):
        from iris_ops_sim.irissim.objectscript.runtime import TIMED_OUT

        line = self.inner.readline(timeout)
        if line is None and timeout is not None:
            self.empty_reads += 1
            if self.empty_reads > 100:
                raise AssertionError("the holder keeps reading an input that has ended")
            return TIMED_OUT
        return line


@pytest.mark.parametrize("prefix, device", [
    ("", None),  # <ENDOFFILE>, IRIS's default for a sequential device
    ("Do ##class(%SYSTEM.Process).SetZEOF(1)\n", None),  # $ZEOF -1 and an empty line
    ("", _NothingAtTheEnd),  # an early return with nothing read
], ids=["endoffile", "zeof", "early-empty-read"])
def test_the_holder_halts_itself_when_its_input_ends(tmp_path, prefix, device):
    from iris_ops_sim.irissim.objectscript.locking import release_everything

    sys_path_helpers()
    from _instance_helpers import new_instance

    inst = new_instance(tmp_path)
    script = LockScript(("USER",), "restore", 0)
    session, out = _PromptMustNotWait.session(inst, prefix + script.render(), device)
    try:
        assert session.loop() == 0  # Halt from its own read loop, never the prompt's end of input
    finally:
        release_everything(session.interp)
    assert script.marker("HELD") in b"".join(out)


def test_a_line_releases_the_holder(tmp_path):
    sys_path_helpers()
    from _instance_helpers import new_instance

    inst = new_instance(tmp_path)
    script = LockScript(("USER",), "restore", 0)
    session, out = _PromptMustNotWait.session(inst, script.render() + "Halt\nWrite \"not run\",!\n")
    assert session.loop() == 0 and b"not run" not in b"".join(out)


def sys_path_helpers() -> None:
    """The simulator's own test helpers (plugins/iris-ops-sim/tests) on the import path."""
    helpers = str(Path(__file__).resolve().parents[1] / "plugins" / "iris-ops-sim" / "tests")
    if helpers not in sys.path:
        sys.path.insert(0, helpers)


_CONTACTS = """
import contextlib, sys
from iris_ops import locks, script_builders
from iris_ops.errors import IrisOpsError
from iris_ops.operations.context import operation_from_flags
op = operation_from_flags("restore", {})
with op.bound(), locks.holding(op, sys.argv[1], wait=0):
    for line in sys.stdin:  # each line: one more contact with the instance, through the lock's gate
        try:
            with op.runner.owned() if line.strip() == "owned" else contextlib.nullcontext():
                op.runner.run(script_builders.wd_suspended(), changes=False)
            print("CONTACT ok", flush=True)
        except IrisOpsError as exc:
            print(f"CONTACT exit {exc.exit_code}: {exc.message}", flush=True)
import threading
print("CONTACT keepalives left:", sum(t.name == "iris-ops-lock-keepalive" for t in threading.enumerate()), flush=True)
"""


def _lock_free(host, namespace: str) -> bool:
    text = _session(host, f'Lock +^IRISOPS.Lock("{namespace}"):0 Write "free=",$Test,!\nHalt\n')
    return "free=1" in text


@pytest.mark.slow
def test_a_living_holder_keeps_its_lock_and_a_stopped_one_loses_it_and_says_so(host, tmp_path):
    """The holder's session ends after a read of READ_TIMEOUT seconds without a keepalive, so
    that a lock never outlives its iris-ops even where a session never sees the end of its input.
    A living iris-ops keeps it past that time (its keepalives); one stopped longer (SIGSTOP, as
    Ctrl-Z does) loses it, and says so at its next contact instead of going on without it; only
    a contact that touches what the operation alone owns (Runner.owned) still goes through."""
    import time

    from iris_ops.locks import READ_TIMEOUT

    proc = subprocess.Popen([sys.executable, "-c", _CONTACTS, "LAPSE"], cwd=tmp_path, env=_env(host),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def contact(line: str = "\n") -> str:
        if line:
            proc.stdin.write(line)
            proc.stdin.flush()
        else:
            proc.stdin.close()
        for line in proc.stdout:  # structlog, not configured here, logs to stdout too
            if line.startswith("CONTACT"):
                return line.strip()
        return "(it ended)"

    try:
        assert contact() == "CONTACT ok"  # the first contact takes the lock
        time.sleep(READ_TIMEOUT + 3)
        assert not _lock_free(host, "LAPSE"), "a living iris-ops lost its lock"
        assert contact() == "CONTACT ok"
        proc.send_signal(signal.SIGSTOP)
        try:
            deadline = time.monotonic() + READ_TIMEOUT + 30
            while not _lock_free(host, "LAPSE"):
                assert time.monotonic() < deadline, "the lock of a stopped iris-ops never lapsed"
                time.sleep(1)
        finally:
            proc.send_signal(signal.SIGCONT)
        assert contact("owned\n") == "CONTACT ok"  # what only this operation owns: its cleanups
        said = contact()
        assert said.startswith("CONTACT exit 5: stopped: the lock on namespace LAPSE may have lapsed"), said
        assert contact("owned\n") == "CONTACT ok"
        assert contact().startswith("CONTACT exit 5: stopped:")  # and at every later contact
        # its input ends, and so does the operation: the lock's keepalive thread with it
        assert contact("") == "CONTACT keepalives left: 0"
    finally:
        if not proc.stdin.closed:
            proc.stdin.close()
        proc.wait(timeout=30)
    assert _lock_free(host, "LAPSE")


_SIGNALLED_AT_START = """
import os, signal, sys, threading
from iris_ops import locks, script_builders, signals
from iris_ops.operations.context import operation_from_flags

class SignalledAsItStarts(locks.Keepalive):
    def __init__(self, session):
        super().__init__(session)  # its thread runs: a Ctrl-C now, before the holder is recorded
        os.kill(os.getpid(), signal.SIGINT)

locks.Keepalive = SignalledAsItStarts
op = operation_from_flags("restore", {})
try:
    with signals.handled(), op.bound(), locks.holding(op, sys.argv[1], wait=0):
        op.runner.run(script_builders.wd_suspended(), changes=False)
        print("NOT INTERRUPTED", flush=True)
except KeyboardInterrupt as exc:
    print("INTERRUPTED", type(exc).__name__, flush=True)
print("keepalives left:", sum(t.name == "iris-ops-lock-keepalive" for t in threading.enumerate()), flush=True)
sys.stdin.read()  # alive, as `inv` or a test session would be after an interrupted task
"""


def test_a_signal_as_the_keepalive_starts_still_ends_the_holder(host, tmp_path):
    """Starting the keepalive thread waits for it, and a Ctrl-C can land in that wait.  The
    holder is recorded for the block's end first, so the interrupted operation ends its session and
    its keepalives: in a process that lives on, the lock does not stay held by a thread nobody ends."""
    proc = subprocess.Popen([sys.executable, "-c", _SIGNALLED_AT_START, "KEEPSIG"], cwd=tmp_path, env=_env(host),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        said = []
        for line in proc.stdout:  # structlog, not configured here, logs to stdout too
            if line.startswith(("INTERRUPTED", "NOT INTERRUPTED", "keepalives left")):
                said.append(line.strip())
            if len(said) == 2:
                break
        assert said == ["INTERRUPTED Interrupted", "keepalives left: 0"], said
        assert _lock_free(host, "KEEPSIG"), "the interrupted operation's lock is still held"
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    err = proc.stderr.read()
    assert "SIGINT received while the lock's keepalive starts; it finishes first" in err, err
