"""`iris-ops conformance` (issue 21, point 9) on the simulated IRIS: the default instance
conforms, probes without a variant can fail too, nothing is left behind even when a real signal
interrupts it, and it freezes nothing.  (Each variant's difference: tests/test_variants.py.)"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cli_helpers import instance_state
from clihelp import cli, fails, ok
from iris_ops import script_builders
from iris_ops.errors import UnreachableError
from iris_ops.operations.conformance_facts import DIFFERS, FACTS, NOT_PROBED, OK
from iris_ops_sim.testbed import VARIANT_NAMES


def _facts(proc) -> dict[str, dict]:
    return {row["fact"]: row for row in json.loads(proc.stdout)["facts"]}


def test_the_default_instance_conforms(sim_container):
    sc = sim_container
    before = instance_state(sc)
    table = ok(cli(sc, "conformance"))
    for fact in FACTS:
        assert fact.title in table.stdout
    assert "DIFFERS" not in table.stdout and sc.instance.version in table.stdout
    facts = _facts(ok(cli(sc, "conformance", "--json")))
    assert list(facts) == [f.key for f in FACTS]
    # OS authentication lets iris-ops in: there is no login prompt to probe
    assert {key: row["status"] for key, row in facts.items() if row["status"] != OK} == {"login-prompts": NOT_PROBED}
    assert all(row["expects"] and row["operations"] for row in facts.values())
    assert instance_state(sc) == before


def test_probes_without_a_variant_fail_too(sim_container):
    """A $ZVERSION iris-ops cannot read, an ExternalFreeze without WDSuspendLimit, a frozen instance."""
    sc = sim_container
    sc.instance.set_version("IRIS 2031.5 (Build 1)", freeze_args=["LogFile", "Text", "SwitchJournalFile", "TimeOut",
                                                                   "Hibernate", "Verbose", "ExternalFreezeTimeOut"])
    ok(cli(sc, "run", "--ns", "%SYS", "Write ##class(Backup.General).ExternalFreeze()"))
    try:
        done = fails(cli(sc, "conformance", "--json"), 4)
    finally:
        ok(cli(sc, "run", "--ns", "%SYS", "Write ##class(Backup.General).ExternalThaw()"))
    facts = _facts(done)
    assert set(json.loads(done.stdout)["differences"]) == {"zversion", "freeze-signature", "wd-suspended"}
    # a frozen instance gets nothing that writes
    assert {key for key, row in facts.items() if row["status"] == NOT_PROBED} == {
        f.key for f in FACTS if f.phase != "facts"}
    assert "WDSuspendLimit" in facts["freeze-signature"]["observed"]
    assert "frozen" in facts["wd-suspended"]["observed"]
    assert "IRIS 2031.5 (Build 1)" in facts["zversion"]["observed"]
    assert "$ZVERSION format" in done.stderr and "IsWDSuspended" in done.stderr


def _container(engine, image: str, **options):
    """A container of the simulated IRIS with ``options`` for ``containers.run``."""
    from iris_ops_sim.control import SimControl, docker_exec
    from iris_ops_sim.simcontainer import LABEL, SimContainer, wait_ready

    name = f"iris-conf-{os.getpid()}-{len(options)}-{os.urandom(3).hex()}"
    sc = SimContainer(name=name, base_url=engine.base_url, instance=SimControl(docker_exec(engine.base_url, name)),
                      client=engine.client)
    engine.client.containers.run(image, name=name, detach=True, network_mode="none", labels={LABEL: "1"},
                                 hostname=name[:63], **options)
    try:
        wait_ready(sc, timeout=60)
    except BaseException:
        sc.remove()
        raise
    return sc


def _sessions(sc) -> list[str]:
    _code, out, _err = sc.exec(["ps", "-o", "args"])
    return [line for line in out.decode().splitlines() if "iris session" in line]


def _sessions_left(sc, within: float = 10.0) -> list[str]:
    """The sessions still running ``within`` seconds from now (none: at once).  A session iris-ops
    ended with $SYSTEM.Process.Terminate ends on its own a moment later, on a loaded machine
    after iris-ops itself has exited; one that never ends is still there."""
    deadline = time.monotonic() + within
    while (left := _sessions(sc)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.mark.slow
@pytest.mark.parametrize("signum, when, environment, fault", [
    (signal.SIGINT, ("script.start", "probe the instance (conformance, part 1)"), {},
     "slow@##class(SYS.Database).CreateDatabase("),
    (signal.SIGTERM, ("script.done", "probe the instance (conformance, part 2)"), {"IRISSIM_VARIANTS": "eof-keeps-session"},
     None),
], ids=["SIGINT-while-the-first-script-runs-on-in-the-instance", "SIGTERM-in-the-session-probes"])
def test_a_signal_mid_probe_leaves_nothing_behind(docker_engine, sim_image, signum, when, environment, fault):
    """SIGINT arrives while the first probing script waits in the instance before it creates the
    scratch database (the test kit's ``slow`` fault): that script runs on after iris-ops gave up
    on it, and the cleanup must wait for it (the run's own lock) before it removes anything.
    SIGTERM arrives once the second script has ended, while the session probes run (there the
    end-of-input probe waits five seconds for a session that never ends)."""
    from clihelp import command

    sc = _container(docker_engine, sim_image, environment=environment)
    try:
        before = instance_state(sc)
        env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
        env.update(sc.env, IRIS_OPS_LOG_FORMAT="json")
        proc = subprocess.Popen(command("-v", "conformance", fault=fault), env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        for line in proc.stderr:
            seen.append(line)
            event = json.loads(line) if line.startswith("{") else {}
            if (event.get("event"), event.get("purpose")) == when:
                if fault:
                    while not _sessions(sc):  # the script has reached the instance
                        assert proc.poll() is None
                proc.send_signal(signum)
                break
        _out, err = proc.communicate(timeout=120)
        log = "".join(seen) + err
        assert proc.returncode == 128 + signum, log
        assert "cleanup ran" in log and "conformance.cleanup_failed" not in log
        assert instance_state(sc) == before
        assert _sessions_left(sc) == []
    finally:
        sc.remove()


@pytest.mark.slow
@pytest.mark.parametrize("late", [False, True], ids=["session-then-cleanup", "cleanup-then-late-session"])
def test_no_probe_session_outlives_the_cleanup(docker_engine, sim_image, late):
    """Where a session outlives its input (variant eof-keeps-session), a probe session iris-ops
    gave up on is still ended: one that holds its probe lock when the cleanup runs is ended by it,
    and one that reaches the instance after the cleanup halts by itself."""
    import threading

    sc = _container(docker_engine, sim_image, environment={"IRISSIM_VARIANTS": "eof-keeps-session"})
    try:
        scratch = script_builders.ConformanceScratch.new(sc.instance.manager_directory())
        sc.instance.create_database(scratch.database, namespace=scratch.namespace)
        probe = script_builders.conformance_session_lines(scratch, "eof", "0123456789ab").encode()
        cleanup = (script_builders.conformance_cleanup(scratch, wait=5).render() + "Halt\n").encode()
        session = ["iris", "session", "IRIS", "-U", "%SYS"]
        ended = []
        if late:
            assert sc.exec(session, stdin=cleanup)[0] == 0
        thread = threading.Thread(target=lambda: ended.append(sc.exec(session, stdin=probe)), daemon=True)
        thread.start()
        if not late:
            deadline = time.monotonic() + 30
            busy = f'Lock +{scratch.probe_lock("eof")}:0 Write "free=",$Test,!\nHalt\n'.encode()
            while b"free=0" not in sc.exec(session, stdin=busy)[1]:  # the probe session holds its lock
                assert time.monotonic() < deadline and thread.is_alive(), ended
                time.sleep(0.1)
            assert sc.exec(session, stdin=cleanup)[0] == 0
        thread.join(30)
        assert not thread.is_alive(), "the probe session is still in the instance"
        assert _sessions(sc) == []
        assert (b":HELD>>>" in ended[0][1]) is not late
    finally:
        sc.remove()


@pytest.mark.slow
def test_a_late_probe_session_whose_lock_wait_runs_out_still_halts(docker_engine, sim_image):
    """A probe session that reaches the instance after the cleanup, while something else still
    holds its probe lock (on a loaded machine: the holder the cleanup is ending), waits its five
    seconds for the lock in vain; it halts all the same, since the scratch namespace is gone (it
    used to halt only with the lock taken, and waited at its prompt for good)."""
    import threading

    sc = _container(docker_engine, sim_image, environment={"IRISSIM_VARIANTS": "eof-keeps-session"})
    try:
        scratch = script_builders.ConformanceScratch.new(sc.instance.manager_directory())
        sc.instance.create_database(scratch.database, namespace=scratch.namespace)
        cleanup = (script_builders.conformance_cleanup(scratch, wait=5).render() + "Halt\n").encode()
        session = ["iris", "session", "IRIS", "-U", "%SYS"]
        assert sc.exec(session, stdin=cleanup)[0] == 0
        hold = f'Lock +{scratch.probe_lock("eof")} Write "held",!\n'.encode()  # then waits: no end of input

        def holder() -> None:
            with contextlib.suppress(UnreachableError):  # its container is removed under it at the end
                sc.exec(session, stdin=hold)

        threading.Thread(target=holder, daemon=True).start()
        busy = f'Lock +{scratch.probe_lock("eof")}:0 Write "free=",$Test,!\nHalt\n'.encode()
        deadline = time.monotonic() + 30
        while b"free=0" not in sc.exec(session, stdin=busy)[1]:
            assert time.monotonic() < deadline, "the holder never took the lock"
            time.sleep(0.1)
        probe = script_builders.conformance_session_lines(scratch, "eof", "0123456789ab").encode()
        ended = []
        thread = threading.Thread(target=lambda: ended.append(sc.exec(session, stdin=probe)), daemon=True)
        thread.start()
        thread.join(30)
        assert not thread.is_alive(), "the probe session is still in the instance"
        assert b":HELD>>>" not in ended[0][1]
    finally:
        sc.remove()


def test_it_freezes_nothing():
    """No script it runs calls ExternalFreeze or ExternalThaw (the signature is read, not called)."""
    scratch = script_builders.ConformanceScratch.new("/usr/irissys/mgr/")
    rendered = [s.render() for s in (
        script_builders.conformance_facts(), script_builders.conformance_setup(scratch, wait=5),
        script_builders.conformance_transaction(),
        script_builders.conformance_checks(scratch, wait=5, login=("Pw-123456", "probe")),
        script_builders.conformance_end_session(scratch, "eof"), script_builders.conformance_cleanup(scratch, wait=5))]
    rendered.append(script_builders.conformance_session_lines(scratch, "lock", "0123456789ab"))
    for text in rendered:
        assert "ExternalFreeze(" not in text and "ExternalThaw" not in text
    assert '"Backup.General||ExternalFreeze"' in rendered[0]


def test_the_scripts_parse():
    from types import SimpleNamespace

    from iris_ops_sim.syntax import syntax_errors

    scratch = script_builders.ConformanceScratch.new("/usr/irissys/mgr/")
    for script in (script_builders.conformance_facts(), script_builders.conformance_setup(scratch, wait=5),
                   script_builders.conformance_transaction(),
                   script_builders.conformance_checks(scratch, wait=5, login=("Pw-123456", "probe")),
                   script_builders.conformance_end_session(scratch, "lock"),
                   script_builders.conformance_cleanup(scratch, wait=5)):
        assert syntax_errors(script) == [], script.purpose
    lines = script_builders.conformance_session_lines(scratch, "eof", "0123456789ab").splitlines()
    assert syntax_errors(SimpleNamespace(lines=lambda: lines)) == []


def test_an_unreachable_instance_is_exit_6(docker_engine):
    done = subprocess.run([sys.executable, "-m", "iris_ops", "conformance"], capture_output=True, text=True,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")},
                               "DOCKER_HOST": docker_engine.base_url, "IRIS_OPS_CONTAINER": "no-such-iris-ops-container"},
                          stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 6, done.stderr
    assert "no-such-iris-ops-container" in done.stderr


def test_every_variant_answers_one_fact():
    """Each simulator variant is the other answer to one fact, and each open fact has a variant."""
    assert sorted(f.variant for f in FACTS if f.variant) == sorted(VARIANT_NAMES)
    from iris_ops_sim.irissim.variants import VARIANTS

    assert tuple(VARIANTS) == VARIANT_NAMES
    listed = subprocess.run([sys.executable, "-m", "iris_ops", "sim", "variants", "--json"], capture_output=True,
                            text=True, check=True).stdout
    assert [row["name"] for row in json.loads(listed)["variants"]] == list(VARIANT_NAMES)
    assert DIFFERS != OK
