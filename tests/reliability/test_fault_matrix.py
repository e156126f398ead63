"""Issue 10 points 3 and 4, issue 22 point 2: the fault matrix.  Every fault x every operation,
against one simulated instance on the real engine (module-scoped: each case proves it leaves the
instance as it found it, so the next case starts clean).

Every fault is made where it happens (tests/reliability/matrix.py says how, case by case): a
session really hung, the engine's connection really cut, the engine gone, iris-ops signalled or
killed, the container killed or stopped, a full filesystem in the instance or on this host.  A
fault at a step happens while the instance runs that step (:mod:`reliability.stepfaults`).  The
only simulated one says so: an error status the simulated instance returns instead of running a
call.  Each case asserts: the exit code and
the message; nothing left in the instance (no staging directory, plan, journal or counting
namespace) nor on this host; the instance's full listing (files with mode, owner, size and
sha256, configuration, mounts, resources, freeze) exactly as before, after `doctor --fix` where
iris-ops could not clean up (and doctor found exactly that).  `doctor` runs at the end of the
module and reports a clean instance.

Each case records the message it saw under the run's base temporary directory;
``python tests/reliability/report.py`` runs the whole matrix and writes docs/RELIABILITY.md
from those records.  The suite never writes it (tests/test_docs.py compares it).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from reliability import beds
from reliability.conftest import comparable, host_leftovers, leftovers_in, popen_cli
from reliability.engineproxy import EngineProxy
from reliability.matrix import CASES, HANG_FREEZE_LIMIT_S, HANG_TIMEOUT_S, RECORDS, TRANSFER_BYTES, Case, mask
from reliability.stepfaults import StepFault

#: Container name -> its listing at the end of the last case that passed there.
KNOWN: dict[str, dict] = {}


def records_dir(base: Path) -> Path:
    """The run's directory for records: under xdist every worker's base is <run>/popen-gwN."""
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / RECORDS


@pytest.fixture(scope="module")
def matrix_bed(shared_sim, tmp_path_factory):
    from clihelp import cli, ok

    sc = shared_sim
    sc.instance.sql("USER", "CREATE TABLE m (c INT)")
    sc.instance.sql("USER", "INSERT INTO m (c) VALUES (7)")
    fixture = tmp_path_factory.mktemp("matrix") / "USER"
    ok(cli(sc, "backup", "--ns", "USER", "--out", fixture))
    yield fixture
    # Once per module: doctor itself agrees the instance is clean after every case.
    done = cli(sc, "doctor")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def disk_bed(docker_engine, sim_image, tmp_path_factory):
    """(instance on a small tmpfs, a fixture of its BIG database); the disk is filled afterwards."""
    from clihelp import cli

    with beds.big_disk_bed(docker_engine, sim_image, tmp_path_factory.mktemp("disk")) as (sc, fixture):
        yield sc, fixture
        done = cli(sc, "doctor")
        assert done.returncode == 0, done.stdout + done.stderr


def _args(case: Case, fixture: Path, out: Path) -> list[str]:
    ns = {"instance-disk-full": "BIG"}.get(case.fault, "USER")
    target = {"instance-disk-full": "BIGCOPY"}.get(case.fault, "MTX")
    args = {
        "backup": ["backup", "--ns", ns, "--out", out],
        "backup-dismount": ["backup", "--ns", ns, "--out", out, "--dismount"],
        # --no-cache: a cache hit moves no bytes, so a transfer fault would have nothing to cut
        "restore": ["restore", "--src", fixture, "--ns", target, "--no-cache"],
        "delete-ns": ["delete-ns", "--ns", target, "--yes"],
        "validate-online": ["validate", "--src", fixture, "--online", "--ns", ns],
        # a class method call, so that the instance can hold the session at it
        "run": ["run", "--ns", ns, "Write ##class(%SYSTEM.Version).GetNumber()"],
    }[case.operation]
    if case.fault == "deadline" or (case.operation == "restore" and case.fault in ("cut", "sigterm") and case.at_step):
        # a restore's rollback waits up to --timeout for its own session, which is held
        args += ["--timeout", HANG_TIMEOUT_S]
    return args


def _limited_subprocess(sc, cwd: Path, args: list, limit: int) -> tuple[int, str, str]:
    """iris-ops in a subprocess whose files may not grow past ``limit`` bytes (``ulimit -f``):
    its writes fail with EFBIG as on a full disk.  SIGXFSZ keeps its default: iris-ops ignores it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sc.env, IRIS_OPS_LOG_FORMAT="json")
    done = subprocess.run([sys.executable, "-m", "iris_ops", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    return done.returncode, done.stdout, done.stderr


def _through_proxy(sc, monkeypatch, request) -> EngineProxy:
    """iris-ops talks to the engine through a proxy this case owns."""
    proxy = EngineProxy(sc.base_url).start()
    request.addfinalizer(proxy.remove)
    monkeypatch.setenv("IRIS_OPS_DOCKER_HOST", proxy.url)
    return proxy


def _run_case(case: Case, sc, run, args: list, tmp_path: Path, monkeypatch, request) -> tuple[int, str, str]:
    """Run the operation with the case's fault made for real; (exit code, stdout, stderr)."""
    if case.fault == "host-disk-full":
        code, out, err = _limited_subprocess(sc, tmp_path, args, 256 * 1024)
        assert "File too large" in err, err  # the limit, not something else, stopped it
        return code, out, err
    if case.fault in ("instance-disk-full", "directory-not-writable"):
        return run(*args)
    proxy = _through_proxy(sc, monkeypatch, request) if case.bed == "proxy" else None
    if case.where in ("read", "write"):  # a transfer cut short after its first bytes
        monkeypatch.setenv("IRIS_OPS_HOST_READ", "0")  # through the engine, as from a remote one
        action = proxy.close if case.fault == "engine-gone" else (lambda: None)
        proxy.after(b"/archive?path=", TRANSFER_BYTES, action, outbound=case.where == "write")
        done = run(*args)
        assert proxy.fired, f"{case.id}: the transfer never reached {TRANSFER_BYTES} bytes"
        proxy.start()
        return done
    if case.fault == "status":
        sc.instance.arm_stop(case.where, fail=True)
        try:
            return run(*args)
        finally:
            sc.instance.clear_stops()
    if case.fault == "deadline":
        # the sessions that copy get longer than --timeout: a frozen copy freeze_limit more,
        # restore's last session (it copies the cache's files) the transfer timeout
        monkeypatch.setenv("IRIS_OPS_FREEZE_LIMIT", str(HANG_FREEZE_LIMIT_S))
        monkeypatch.setenv("IRIS_OPS_TRANSFER_TIMEOUT", str(HANG_TIMEOUT_S))
    with StepFault(sc, case.where, case.fault, proxy=proxy, call_text=case.call_text) as fault:
        if case.bed != "process":
            return run(*args)
        fault.process = popen_cli(sc, tmp_path, *args)
        out, err = fault.process.communicate(timeout=180)
        return fault.process.returncode, out, err


def _bed(case: Case, request, shared_sim, matrix_bed, rel_cli, monkeypatch, tmp_path, capsys):
    """(instance, fixture, in-process CLI) of the case's bed."""
    from cli_helpers import make_inproc

    if case.bed == "disk":
        sc, fixture = request.getfixturevalue("disk_bed")
        inproc = make_inproc(sc.env, monkeypatch, tmp_path, capsys)
        return sc, fixture, inproc
    return shared_sim, matrix_bed, rel_cli


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, request, shared_sim, matrix_bed, rel_cli, tmp_path, tmp_path_factory, monkeypatch, capsys):
    sc, fixture, run = _bed(case, request, shared_sim, matrix_bed, rel_cli, monkeypatch, tmp_path, capsys)
    # Each case proves it leaves the instance exactly as it found it, so the listing the last
    # passing case ended with is this case's "before" (one listing per case instead of two).
    base = before = KNOWN.pop(sc.name, None) or sc.instance.listing()
    if case.operation == "delete-ns":
        code, _, err = run("restore", "--src", fixture, "--ns", "MTX", "--no-verify")
        assert code == 0, err
        before = sc.instance.listing()
    mtx = sc.instance.manager_directory() + "mtx/"
    if case.fault == "directory-not-writable":
        _root_owns(sc, mtx)
    args = _args(case, fixture, tmp_path / "fx")
    code, out, err = _run_case(case, sc, run, args, tmp_path, monkeypatch, request)
    monkeypatch.delenv("IRIS_OPS_DOCKER_HOST", raising=False)
    assert code == case.code, f"{case.id}: exit {code}\n{err}"
    assert case.said(err), err
    if case.at_step:
        beds.wait_for_late_sessions(sc)  # the held (or late) script has run to its end
    message = _message(case, err)
    if case.leftovers:  # before the listing: a half-written file may not even be readable yet
        message = _doctor_repairs(case, run, message)
    after = sc.instance.listing()
    assert not after["frozen"]
    assert host_leftovers(tmp_path) == [] and (tmp_path / "fx").exists() == (case.code == 0)
    if case.operation == "delete-ns" and not case.leftovers:
        if case.fault == "directory-not-writable":
            _irisowner_owns(sc, mtx)
        # A delete-ns that stopped keeps its plan so that running it again finishes the job.
        code, _, err2 = run("delete-ns", "--ns", "MTX", "--yes")
        assert code == 0, err2
        after = sc.instance.listing()
        assert leftovers_in(after) == []
        assert comparable(after) == comparable(base), f"{case.id}: the rerun did not finish the delete"
    elif case.operation == "delete-ns":  # doctor --fix finished the delete
        assert leftovers_in(after) == []
        assert comparable(after) == comparable(base), f"{case.id}: doctor --fix did not finish the delete"
    else:
        assert leftovers_in(after) == []
        assert comparable(after) == comparable(before), f"{case.id}: the instance changed"
    KNOWN[sc.name] = after
    folder = records_dir(tmp_path_factory.getbasetemp())
    folder.mkdir(exist_ok=True)
    with open(folder / f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.jsonl", "a", encoding="utf-8") as record:
        record.write(json.dumps({"id": case.id, "message": message}) + "\n")


def _root_owns(sc, directory: str) -> None:
    code, _, err = sc.exec(["sh", "-c", f"chown root:root {directory} && chmod 755 {directory}"], user="root")
    assert code == 0, err


def _irisowner_owns(sc, directory: str) -> None:
    code, _, err = sc.exec(["sh", "-c", f"chown irisowner:irisowner {directory} && chmod 775 {directory}"], user="root")
    assert code == 0, err


def _message(case: Case, err: str) -> str:
    """The message the user saw: the final error (or the warning the case is about), masked."""
    if case.fault == "kill-9":
        return "(no message: the process was killed)"
    lines = [line for line in err.splitlines() if case.said(line)]
    line = next((x for x in lines if '"exit_code"' in x), lines[0] if lines else "")
    try:
        event = json.loads(line)
    except ValueError:
        return mask(line.strip())
    text = event.get("event", "")
    if "error" in event and event.get("level") == "warning":
        text += f": {event['error']}"
    return mask(text)


def _doctor_repairs(case: Case, run, message: str) -> str:
    """What iris-ops could not clean: doctor finds exactly that, and --fix repairs it."""
    code, out, err = run("doctor", "--json")
    findings = json.loads(out).get("findings", [])
    found = sorted({f["kind"] for f in findings})
    assert code == 4 and found == sorted(case.leftovers), f"{case.id}: doctor found {found}\n{err}"
    code, out, err = run("doctor", "--fix", "--yes")
    assert code == 0, err
    problems = "; ".join(sorted({f["problem"] for f in findings}))
    return f"{message} Then doctor: {mask(problems)}"


def test_the_fault_launcher_reaches_a_subprocess(shared_sim, matrix_bed):
    """The test kit's launcher (`python -m iris_ops_sim.faults`): a fault in a separate `iris-ops`
    process, which says on stderr that a fault is active."""
    from clihelp import cli

    before = shared_sim.instance.listing()
    done = cli(shared_sim, "restore", "--src", matrix_bed, "--ns", "MTXSUB",
               fault="status@##class(Config.Namespaces).Create(")
    assert done.returncode == 5, done.stderr
    assert "FAULT INJECTION ACTIVE (status@##class(Config.Namespaces).Create()" in done.stderr
    assert "injected: class(Config.Namespaces).Create returned an error status" in done.stderr
    assert comparable(shared_sim.instance.listing()) == comparable(before)
