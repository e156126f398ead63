"""Issue 10 point 1: SIGTERM and SIGHUP get Ctrl-C's cleanup at every phase, exit 128 + signal,
and a second signal during cleanup does not abandon a frozen instance.

In process: the fault plugins deliver a real signal to this process at the phase (synchronously,
or from a timer while the transport blocks), exactly as ``kill`` would find it.  One test runs
the real thing as a subprocess and ``kill -TERM``s it mid-copy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iris_ops import hookimpl
from reliability import beds
from reliability.conftest import SIGNALS, At, Hang, comparable, host_leftovers, leftovers_in, signal_self, staging_leftovers


@pytest.fixture(scope="module")
def fixture_dir(shared_sim, tmp_path_factory):
    from clihelp import cli, ok

    out = tmp_path_factory.mktemp("fx") / "USER"
    shared_sim.instance.sql("USER", "CREATE TABLE t (c INT)")
    shared_sim.instance.sql("USER", "INSERT INTO t (c) VALUES (1)")
    ok(cli(shared_sim, "backup", "--ns", "USER", "--out", out))
    return out


def _assert_clean(sc, before, tmp_path, code, err, signum):
    assert code == 128 + signum, err
    name = signal.Signals(signum).name
    assert f"iris-ops: stopped by {name}; cleanup ran." in err
    after = sc.instance.listing()
    assert not after["frozen"], "the instance was left frozen"
    assert leftovers_in(after) == []
    assert host_leftovers(tmp_path) == []
    assert comparable(after) == comparable(before)


BACKUP_PHASES = {
    "before-freeze": dict(hook="pre_backup"),
    "in-instance-copy": None,  # a timer while the frozen copy runs
    "streaming": dict(hook="read_file"),
    "manifest": None,  # while writing manifest.json
}


# SIGHUP takes the very path SIGTERM does (only the number differs): it runs at one phase each,
# to keep the suite inside its time budget.
@pytest.mark.parametrize("phase,sig", [(p, "TERM") for p in BACKUP_PHASES] + [("in-instance-copy", "HUP")])
def test_backup_signal_at_each_phase(shared_sim, rel_cli, tmp_path, monkeypatch, phase, sig):
    signum = SIGNALS[sig]
    sc = shared_sim
    before = sc.instance.listing()
    out = tmp_path / "fx"
    plugins = []
    if phase == "in-instance-copy":
        hang = Hang("ExternalFreeze", "CopyFile", 1.5, then=lambda: signal_self(signum, after=0.7))
        plugins.append(hang)
    elif phase == "manifest":
        from iris_ops.fixture import writer

        real = writer.FixtureWriter.write_manifest

        def write_manifest(self, manifest):
            real(self, manifest)
            signal_self(signum)

        monkeypatch.setattr(writer.FixtureWriter, "write_manifest", write_manifest)
    else:
        plugins.append(At(signum, **BACKUP_PHASES[phase]))
    code, _, err = rel_cli("backup", "--ns", "USER", "--out", out, plugins=plugins)
    if phase == "in-instance-copy":
        assert hang.fired
        time.sleep(1.0)  # the orphaned in-instance session ends (it finds its stage gone, and the thaw done)
    assert not out.exists()
    _assert_clean(sc, before, tmp_path, code, err, signum)


RESTORE_PHASES = {  # (databases, namespace and row counts are one session)
    "directories": dict(hook="write_file", among="iris-ops-restore.json"),
    "upload": dict(hook="write_file", among="IRIS.DAT"),
    "databases": dict(hook="run_objectscript", among="Config.Namespaces"),
}


@pytest.mark.parametrize("phase,sig", [(p, "TERM") for p in RESTORE_PHASES] + [("upload", "HUP")])
def test_restore_signal_at_each_phase_rolls_back(shared_sim, rel_cli, fixture_dir, tmp_path, phase, sig):
    signum = SIGNALS[sig]
    sc = shared_sim
    before = sc.instance.listing()
    at = At(signum, **RESTORE_PHASES[phase])
    # (an earlier case may have left the file in the fixture cache: the upload must happen)
    no_cache = ["--no-cache"] if phase == "upload" else []
    code, _, err = rel_cli("restore", "--src", fixture_dir, "--ns", "SIGREST", *no_cache, plugins=[at])
    assert at.seen >= at.nth, f"phase {phase} never reached"
    _assert_clean(sc, before, tmp_path, code, err, signum)


@pytest.mark.parametrize("moment", ["journal-removal", "result"])
def test_restore_signal_past_its_point_of_no_return_completes_and_says_so(shared_sim, rel_cli, fixture_dir,
                                                                          tmp_path, monkeypatch, moment):
    """Issue 20 point 5: a signal as the journal is removed (the point of no return), or while
    the result is printed, no longer reports a rollback that did not happen (exit 143, "cleanup
    ran", and the namespace there with its rows): the restore completes and says so."""
    sc = shared_sim
    before = sc.instance.listing()
    plugins = []
    with monkeypatch.context() as patch:
        if moment == "journal-removal":
            plugins.append(At(signal.SIGTERM, hook="remove_path", among="iris-ops-restore-SIGDONE.json"))
        else:
            from iris_ops.operation import Operation

            real = Operation.emit

            def emit(self, text=""):
                if text.startswith("restored "):
                    signal_self(signal.SIGTERM)
                real(self, text)

            patch.setattr(Operation, "emit", emit)
        code, out, err = rel_cli("restore", "--src", fixture_dir, "--ns", "SIGDONE", plugins=plugins)
    assert code == 0, err
    assert "restored" in out and "namespace SIGDONE" in out and "table SQLUser.t" in out, out
    assert "cleanup ran" not in err and "stopped by" not in err  # (its note went to fd 2: test_signals_unit)
    assert [tuple(r) for r in sc.instance.sql("SIGDONE", "SELECT COUNT(*) FROM t").rows] == [(1,)]
    assert not sc.exists(f"{sc.instance.manager_directory()}iris-ops-restore-SIGDONE.json")
    code, _, err = rel_cli("delete-ns", "--ns", "SIGDONE", "--yes")
    assert code == 0, err
    assert comparable(sc.instance.listing()) == comparable(before)


class SlowStart:
    """The first script holding ``among`` waits ``seconds`` before its first step (an `iris
    session` slow to start, as under load), and ``then`` runs as it is sent."""

    def __init__(self, among: str, seconds: float, then) -> None:
        self.among, self.seconds, self.then, self.fired, self.pm = among, seconds, then, 0, None

    @hookimpl(tryfirst=True)
    def run_objectscript(self, target, script, namespace, timeout):
        import re

        if self.fired or self.among not in script:
            return None
        self.fired += 1
        start = re.search(r"Try \{ If n=\d+ \{ ", script).end()
        script = script[:start] + f"Hang {self.seconds} " + script[start:]
        self.then()
        return self.pm.subset_hook_caller("run_objectscript", remove_plugins=[self])(
            target=target, script=script, namespace=namespace, timeout=timeout)


def test_a_session_the_client_gave_up_on_changes_nothing_after_the_rollback(shared_sim, rel_cli, fixture_dir,
                                                                             tmp_path):
    """Issue 20 point 5: SIGTERM while iris-ops waits for the session that creates the databases
    and the namespace.  That session still runs in the instance after the client is gone; here it
    starts late, after the rollback.  It must change nothing then (it finds its journal gone):
    before, it created what the rollback had just removed, and the run said "cleanup ran"."""
    sc = shared_sim
    before = sc.instance.listing()
    late = SlowStart("Config.Namespaces).Create", 2.5, then=lambda: signal_self(signal.SIGTERM, after=0.5))
    code, _, err = rel_cli("restore", "--src", fixture_dir, "--ns", "SIGLATE", "--no-cache", plugins=[late])
    assert late.fired
    beds.wait_for_late_sessions(sc)
    _assert_clean(sc, before, tmp_path, code, err, signal.SIGTERM)


def test_a_rollback_that_cannot_run_is_not_reported_as_cleanup(shared_sim, rel_cli, fixture_dir, tmp_path,
                                                                 monkeypatch):
    """SIGTERM mid-restore while another session holds the namespace's session lock (as one the
    client gave up on would): the rollback waits, gives up, and the exit says so and how to
    finish it, not "cleanup ran"; doctor --fix finishes it once that session has ended."""
    import threading

    sc = shared_sim
    before = sc.instance.listing()
    monkeypatch.setenv("IRIS_OPS_TIMEOUT", "3")
    holder = threading.Thread(target=sc.exec, args=(["iris", "session", "IRIS", "-U", "%SYS"],),
                              kwargs={"stdin": b'Lock +^IRISOPS.Session("SIGHELD")\nHang 8\nHalt\n'})

    class Holds:
        pm = None

        @hookimpl(tryfirst=True)
        def pre_restore(self, operation, fixture, namespace):
            holder.start()
            time.sleep(1.5)  # it has taken the lock

    at = At(signal.SIGTERM, hook="write_file", among="iris-ops-restore.json")  # the first directory
    code, _, err = rel_cli("restore", "--src", fixture_dir, "--ns", "SIGHELD", plugins=[Holds(), at])
    assert code == 143 and "cleanup ran" not in err, err
    assert "stopped by SIGTERM; rollback incomplete: nothing was undone" in err and "doctor --fix" in err, err
    holder.join()
    monkeypatch.delenv("IRIS_OPS_TIMEOUT")
    code, out, err = rel_cli("doctor", "--fix", "--yes")
    assert code == 0 and "repaired  restore" in out, out + err
    _assert_clean(sc, before, tmp_path, 143, "iris-ops: stopped by SIGTERM; cleanup ran.", signal.SIGTERM)


def test_backup_signal_past_its_point_of_no_return_completes_and_says_so(shared_sim, rel_cli, tmp_path,
                                                                        monkeypatch):
    """A signal as the fixture is renamed into place: the backup completes (exit 0, its result),
    instead of exit 143 with the fixture there."""
    from iris_ops.fixture import writer

    real = writer.FixtureWriter.commit

    def commit(self):
        done = real(self)
        signal_self(signal.SIGTERM)
        return done

    out = tmp_path / "fx"
    with monkeypatch.context() as patch:
        patch.setattr(writer.FixtureWriter, "commit", commit)
        code, stdout, err = rel_cli("backup", "--ns", "USER", "--out", out)
    assert code == 0 and f"fixture {out}" in stdout, err
    assert "cleanup ran" not in err
    code, _, err = rel_cli("validate", "--src", out)
    assert code == 0, err
    assert not shared_sim.instance.is_frozen() and host_leftovers(tmp_path) == []


@pytest.mark.parametrize("sig", ["TERM"])
def test_delete_ns_signal_between_steps_then_a_rerun_finishes(shared_sim, rel_cli, fixture_dir, tmp_path, sig):
    signum = SIGNALS[sig]
    sc = shared_sim
    before = sc.instance.listing()
    code, _, err = rel_cli("restore", "--src", fixture_dir, "--ns", "SIGDEL")
    assert code == 0, err
    at = At(signum, hook="run_objectscript", among="DismountDatabase")
    code, _, err = rel_cli("delete-ns", "--ns", "SIGDEL", "--yes", plugins=[at])
    assert at.seen
    assert code == 128 + signum and f"stopped by {signal.Signals(signum).name}" in err
    assert "cleanup ran" not in err and "delete-ns --ns SIGDEL --yes` again to finish" in err, err
    code, _, err = rel_cli("delete-ns", "--ns", "SIGDEL", "--yes")
    assert code == 0, err
    _assert_clean(sc, before, tmp_path, 128 + signum, f"iris-ops: stopped by {signal.Signals(signum).name}; cleanup ran.", signum)


def test_a_second_signal_during_the_thaw_is_deferred(shared_sim, rel_cli, tmp_path):
    """TERM mid-copy, then TERM and HUP again while the client thaws: the thaw still happens."""
    sc = shared_sim
    before = sc.instance.listing()

    class Again:
        pm = None

        @hookimpl(tryfirst=True)
        def exec_argument_call(self, target, entry, namespace, timeout):
            if "ExternalThaw" in entry:
                signal_self(signal.SIGTERM)
                signal_self(signal.SIGHUP)

    hang = Hang("ExternalFreeze", "CopyFile", 1.5, then=lambda: signal_self(signal.SIGTERM, after=0.7))
    code, _, err = rel_cli("backup", "--ns", "USER", "--out", tmp_path / "fx", plugins=[hang, Again()])
    time.sleep(1.0)
    from iris_ops import signals

    assert signals._state.deferred == [signal.SIGTERM, signal.SIGHUP]
    assert '"thawed": true' in err
    _assert_clean(sc, before, tmp_path, code, err, signal.SIGTERM)


def test_kill_term_mid_copy_exits_143_thawed_and_clean(shared_sim, tmp_path):
    """The done-when case as a user meets it: `kill -TERM` on the iris-ops process while the
    instance is frozen copying a large database."""
    sc = shared_sim
    sc.instance.create_database("BIGSIG", size_mb=64, namespace="BIGSIG")
    before = sc.instance.listing()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sc.env, IRIS_OPS_LOG_FORMAT="json", IRIS_OPS_LOG_LEVEL="debug",
               )
    from clihelp import command

    # The copy step waits 3 s first: the test sees the freeze whatever the machine's load.
    proc = subprocess.Popen(command("backup", "--ns", "BIGSIG", "--out", tmp_path / "fx",
                                    fault="slow@##class(%Library.File).CopyFile("),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 30
    while not sc.instance.is_frozen():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while staging_leftovers(sc) and time.monotonic() < deadline:  # the orphaned copy fails on its own
        time.sleep(0.3)
    _assert_clean(sc, before, tmp_path, proc.returncode, err, signal.SIGTERM)
