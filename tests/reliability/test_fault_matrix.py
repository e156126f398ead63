"""Issue 10 points 3 and 4: the fault matrix.  Every fault x every operation, against one
simulated instance on the real engine (module-scoped: each case proves it leaves the instance as
it found it, so the next case starts clean).

Faults are injected in process through the transport hooks, where that is faithful: an error
status or an ObjectScript error at the start of the step that calls a named class method (the
method fails before changing anything, as an error status means), the reply of a script that
*did* run being lost (an exec stream cut after the script's output started), the engine
becoming unreachable, a slow instance overrunning the deadline, a file transfer failing after N
bytes, this host's disk filling up, and SIGTERM.  Each case asserts: the exit code and a clear
message; the instance thawed; no staging directory, plan, journal or counting namespace left in
the instance and no temporary directory on the host; the instance's full listing (files with
mode, owner, size and sha256, configuration, mounts, resources, freeze) exactly as before.  The
listing holds everything `doctor` examines in the instance, so "doctor reports a clean instance"
is checked once per module by running `doctor` itself at the end.

docs/RELIABILITY.md is written by this module's run itself when every case ran (not from a
partial run, e.g. with -k): each case, its fault, its outcome.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from iris_ops_sim.faults import Fault
from reliability import beds
from reliability.conftest import comparable, host_leftovers, leftovers_in
from reliability.engineproxy import EngineProxy

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    operation: str
    fault: str
    where: str
    code: int
    says: str
    #: where it runs: "shared" (the module's instance, in process), "proxy" (the same, through a
    #: socket proxy the fault closes), "host" (a subprocess under ``ulimit -f``), "disk" (an
    #: instance on a full tmpfs), "slow" (an instance whose sessions start late)
    bed: str = "shared"
    #: what doctor finds afterwards (what iris-ops could not clean while the container or engine
    #: was gone); doctor --fix must repair it to the listing as before
    leftovers: tuple = ()

    @property
    def id(self) -> str:
        return f"{self.operation}:{self.fault}@{self.where.strip('#(.')}"


def _cases() -> list[Case]:
    """Every fault at each operation's primary point (where the most is at stake: mid-copy while
    frozen or dismounted, the last restore step, the database deletion); at the other points the
    faults whose cleanup paths differ (an error status, the reply lost, SIGTERM), unless the
    point is in the primary point's session (a lost reply or SIGTERM is then the same case)."""
    cases = []
    script_faults = [("status", 5, "returned an error status"), ("throw", 5, "DIVIDE"),
                     ("cut", 6, "exec stream was cut"), ("deadline", 6, "did not answer"),
                     ("unreachable", 6, "engine stopped answering"), ("sigterm", 143, "stopped by SIGTERM")]
    secondary = ("status", "cut", "sigterm")
    # Faults that hit a whole session, not a step: at a point in the same session as the
    # primary one, the same case again.  Freeze and copy are one session, dismount and copy
    # too, and restore's three points are steps of one session.
    whole_session = ("cut", "deadline", "unreachable", "sigterm")
    same_session = {"backup": {"##class(Backup.General).ExternalFreeze("},
                    "backup-dismount": {"##class(SYS.Database).DismountDatabase("},
                    "restore": {"##class(SYS.Database).MountDatabase(", "##class(Config.Databases).Create("}}
    points = {  # the primary point first
        "backup": ["##class(%Library.File).CopyFile(", "##class(Backup.General).ExternalFreeze(",
                   "##class(SYS.Database).MountDatabase("],
        "backup-dismount": ["##class(%Library.File).CopyFile(", "##class(SYS.Database).DismountDatabase("],
        "restore": ["##class(Config.Namespaces).Create(", "##class(SYS.Database).MountDatabase(",
                    "##class(Config.Databases).Create("],
        # One point: a delete-ns case costs a restore, the delete and its rerun; stopping between
        # every pair of steps is tests/reliability/test_signals.py's job.
        "delete-ns": ["##class(SYS.Database).DeleteDatabase("],
        "validate-online": ["##class(Config.Namespaces).Get("],
        "run": ["Write 42"],
    }
    for operation, wheres in points.items():
        for rank, where in enumerate(wheres):
            for fault, code, says in script_faults:
                if rank and (fault not in secondary or (fault in whole_session
                                                        and where in same_session.get(operation, ()))):
                    continue
                if operation == "run" and fault in ("status", "throw"):
                    continue  # a user line's own error is `run`'s ordinary job (tests/test_run_lines.py)
                if fault == "status" and "CopyFile" in where:
                    fault, says = "false", "disk full in the instance"  # %File returns %Boolean, not %Status
                if operation == "backup" and "MountDatabase" in where and fault in ("status", "throw"):
                    # Counting the copies failed: the backup still succeeds, its manifest says the
                    # counts are not fixed (README), and the counting namespace is gone.
                    code, says = 0, "backup.counts_not_fixed"
                cases.append(Case(operation, fault, where, code, says))
    gone = "engine-gone"
    cases += [
        Case("backup", "transfer", "read", 6, "archive transfer failed"),
        Case("backup-dismount", "transfer", "read", 6, "archive transfer failed"),
        Case("restore", "transfer", "write", 6, "archive transfer failed"),
        # This host's disk full, for real: the iris-ops process under `ulimit -f` (EFBIG).
        Case("backup", "host-disk-full", "ulimit -f", 2, "this host's disk is full", bed="host"),
        Case("backup-dismount", "host-disk-full", "ulimit -f", 2, "this host's disk is full", bed="host"),
        # The container stopped or killed (docker stop/kill) at a named step or mid-transfer.
        Case("backup", "container-kill", "##class(Backup.General).ExternalFreeze(", 6, "is not running"),
        Case("backup", "container-stop", "##class(Config.Namespaces).Create(", 6, "is not running",
             leftovers=("staging",)),
        Case("backup-dismount", "container-kill", "##class(SYS.Database).DismountDatabase(", 6, "is not running"),
        Case("restore", "container-stop", "##class(Config.Namespaces).Create(", 6, "is not running",
             leftovers=("restore",)),
        Case("delete-ns", "container-kill", "##class(SYS.Database).DeleteDatabase(", 6, "is not running"),
        Case("validate-online", "container-stop", "##class(Config.Namespaces).Get(", 6, "is not running"),
        Case("run", "container-kill", "Write 42", 6, "is not running"),
        # The engine gone mid-transfer: iris-ops talks to a proxy in front of the engine; it closes.
        Case("backup", gone, "read", 6, "Nothing answered at", bed="proxy", leftovers=("staging",)),
        Case("backup-dismount", gone, "read", 6, "Nothing answered at", bed="proxy", leftovers=("staging",)),
        Case("restore", gone, "write", 6, "Nothing answered at", bed="proxy", leftovers=("restore",)),
        # The instance's disk full, for real: its filesystem is a tmpfs another writer has filled.
        Case("backup", "instance-disk-full", "tmpfs", 5, "failed at step 'copy0'", bed="disk"),
        Case("backup-dismount", "instance-disk-full", "tmpfs", 5, "failed at step 'copy0'", bed="disk"),
        Case("restore", "instance-disk-full", "tmpfs", 5, "the container's disk is full", bed="disk"),
    ]
    # A slow instance: every session starts after the operation's --timeout.
    for operation in ("backup", "backup-dismount", "restore", "delete-ns", "validate-online", "run"):
        cases.append(Case(operation, "slow-instance", f"IRISSIM_DELAY={beds.DELAY_S}", 6, "did not finish within", bed="slow"))
    return cases


CASES = _cases()
RESULTS: dict[str, dict] = {}
#: Where each pytest-xdist worker also records its results, so that the last one to finish can
#: write the report of the whole run (set by ``matrix_bed``).
_SHARED: dict[str, Path] = {}
#: Container name -> its listing at the end of the last case that passed there.
KNOWN: dict[str, dict] = {}


@pytest.fixture(scope="module")
def matrix_bed(shared_sim, tmp_path_factory):
    from clihelp import cli, ok

    sc = shared_sim
    base = tmp_path_factory.getbasetemp()
    # under xdist every worker's base is <run>/popen-gwN: the run's directory is shared
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "fault-matrix"
    shared.mkdir(exist_ok=True)
    _SHARED["file"] = shared / f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.jsonl"
    sc.instance.sql("USER", "CREATE TABLE m (c INT)")
    sc.instance.sql("USER", "INSERT INTO m (c) VALUES (7)")
    fixture = tmp_path_factory.mktemp("matrix") / "USER"
    ok(cli(sc, "backup", "--ns", "USER", "--out", fixture))
    yield fixture
    # Once per module: doctor itself agrees the instance is clean after every case.
    done = cli(sc, "doctor")
    assert done.returncode == 0, done.stdout + done.stderr
    everyone = _all_results(_SHARED["file"].parent)
    if set(everyone) >= {case.id for case in CASES}:
        write_report(everyone)


def _all_results(directory: Path) -> dict[str, dict]:
    """The results every worker of this run recorded (this one's included)."""
    found: dict[str, dict] = {}
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                found[entry["id"]] = entry
    return found


@pytest.fixture(scope="module")
def disk_bed(docker_engine, sim_image, tmp_path_factory):
    """(instance on a small tmpfs, a fixture of its BIG database); the disk is filled afterwards."""
    from clihelp import cli

    with beds.big_disk_bed(docker_engine, sim_image, tmp_path_factory.mktemp("disk")) as (sc, fixture):
        yield sc, fixture
        done = cli(sc, "doctor")
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def slow_bed(docker_engine, sim_image):
    sc = beds.run_bed(docker_engine, sim_image, "slow")
    try:
        sc.instance.create_database("MTX", namespace="MTX")  # for delete-ns: seeded without a session
        yield sc
    finally:
        beds.remove_bed(sc)


def _args(case: Case, fixture: Path, out: Path) -> list[str]:
    ns = {"disk": "BIG"}.get(case.bed, "USER")
    target = {"disk": "BIGCOPY"}.get(case.bed, "MTX")
    args = {
        "backup": ["backup", "--ns", ns, "--out", out],
        "backup-dismount": ["backup", "--ns", ns, "--out", out, "--dismount"],
        # --no-cache: a cache hit moves no bytes, so a transfer fault would have nothing to fail
        "restore": ["restore", "--src", fixture, "--ns", target, "--no-cache"],
        "delete-ns": ["delete-ns", "--ns", target, "--yes"],
        "validate-online": ["validate", "--src", fixture, "--online", "--ns", ns],
        "run": ["run", "--ns", ns, "Write 42"],
    }[case.operation]
    return args + (["--timeout", beds.SLOW_TIMEOUT_S] if case.bed == "slow" else [])


def _limited_subprocess(sc, cwd: Path, args: list, limit: int) -> tuple[int, str, str]:
    """iris-ops in a subprocess whose files may not grow past ``limit`` bytes (``ulimit -f``):
    its writes fail with EFBIG as on a full disk.  SIGXFSZ keeps its default: iris-ops ignores it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sc.env, IRIS_OPS_LOG_FORMAT="json")
    done = subprocess.run([sys.executable, "-m", "iris_ops", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    return done.returncode, done.stdout, done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, request, shared_sim, matrix_bed, rel_cli, tmp_path, monkeypatch, capsys):
    from cli_helpers import make_inproc

    sc, fixture, run = shared_sim, matrix_bed, rel_cli
    if case.bed == "disk":
        sc, fixture = request.getfixturevalue("disk_bed")
        run = _bed_cli(sc, monkeypatch, tmp_path, capsys, make_inproc)
    elif case.bed == "slow":
        sc = request.getfixturevalue("slow_bed")
        run = _bed_cli(sc, monkeypatch, tmp_path, capsys, make_inproc)
    # Each case proves it leaves the instance exactly as it found it, so the listing the last
    # passing case ended with is this case's "before" (one listing per case instead of two).
    base = before = KNOWN.pop(sc.name, None) or sc.instance.listing()
    if case.operation == "delete-ns" and case.bed != "slow":
        code, _, err = run("restore", "--src", fixture, "--ns", "MTX", "--no-verify")
        assert code == 0, err
        before = sc.instance.listing()
    args = _args(case, fixture, tmp_path / "fx")
    proxy = fault = None
    if case.fault.startswith("container-"):
        request.addfinalizer(lambda: _running(sc))  # whatever happens, the next case finds it up
    if case.bed == "host":
        code, out, err = _limited_subprocess(sc, tmp_path, args, 256 * 1024)
        assert "File too large" in err, err  # the limit, not something else, stopped it
    elif case.bed in ("disk", "slow"):
        code, out, err = run(*args)
    else:
        if case.bed == "proxy":
            proxy = EngineProxy(sc.base_url).start()
            request.addfinalizer(proxy.remove)
            monkeypatch.setenv("IRIS_OPS_DOCKER_HOST", proxy.url)
        fault = Fault(case.fault, case.where, on_gone=proxy.close if proxy else None)
        code, out, err = run(*args, plugins=[fault])
        assert fault.fired, f"{case.id}: the fault point was never reached"
    outcome = f"exit {code}"
    assert code == case.code, f"{case.id}: {outcome}\n{err}"
    assert case.says in err, err
    # Bring back what the fault took away, as the user would.
    if proxy is not None:
        assert proxy.connections, "iris-ops never talked to the proxy"
        proxy.start()
        monkeypatch.delenv("IRIS_OPS_DOCKER_HOST")
    if case.fault.startswith("container-"):
        _running(sc)
        outcome += "; container started again"
    if case.bed == "slow":
        beds.wait_for_late_sessions(sc)
        outcome += "; late sessions ended"
    if case.leftovers:  # before the listing: a half-written file may not even be readable yet
        outcome += _doctor_repairs(case, run)
    after = sc.instance.listing()
    assert not after["frozen"]
    assert host_leftovers(tmp_path) == [] and (tmp_path / "fx").exists() == (case.code == 0)
    if case.operation == "delete-ns" and case.bed != "slow":
        # A delete-ns that stopped keeps its plan so that running it again finishes the job.
        code, _, err2 = run("delete-ns", "--ns", "MTX", "--yes")
        assert code == 0, err2
        after = sc.instance.listing()
        assert leftovers_in(after) == []
        assert comparable(after) == comparable(base), f"{case.id}: the rerun did not finish the delete"
        outcome += "; a rerun finished it, instance as before the restore"
    else:
        assert leftovers_in(after) == []
        assert comparable(after) == comparable(before), f"{case.id}: the instance changed"
        outcome += "; instance exactly as before"
    KNOWN[sc.name] = after
    message = next((line for line in err.splitlines() if case.says in line and '"exit_code"' in line),
                   next((line for line in err.splitlines() if case.says in line), ""))
    RESULTS[case.id] = {"id": case.id, "outcome": outcome, "message": _event(message)}
    with open(_SHARED["file"], "a", encoding="utf-8") as record:
        record.write(json.dumps(RESULTS[case.id]) + "\n")


def _running(sc) -> None:
    if sc.client.containers.get(sc.name).status != "running":
        sc.start()


def _bed_cli(sc, monkeypatch, tmp_path, capsys, make_inproc):
    inproc = make_inproc(sc.env, monkeypatch, tmp_path, capsys)
    return lambda *args, plugins=(): inproc(*args)


def _doctor_repairs(case: Case, run) -> str:
    """What iris-ops could not clean while the container or engine was gone: doctor finds exactly
    that, and --fix repairs it."""
    import json

    code, out, err = run("doctor", "--json")
    found = sorted({f["kind"] for f in json.loads(out).get("findings", [])})
    assert code == 4 and found == sorted(case.leftovers), f"{case.id}: doctor found {found}\n{err}"
    code, out, err = run("doctor", "--fix", "--yes")
    assert code == 0, err
    return f"; doctor found {', '.join(found)} and --fix repaired it"


def _event(line: str) -> str:
    """The message, with what differs from run to run (container names, temporary paths) masked."""
    import json
    import re

    try:
        text = json.loads(line)["event"]
    except (ValueError, KeyError):
        text = line.strip()
    text = re.sub(r"iris-rel-(?:[a-z]+-)?[0-9a-f]{8}", "<container>", text)
    text = re.sub(r"/tmp/[^\s':]+", "<tmp>", text)
    return re.sub(r"iris-ops-backup-[0-9a-f]{12}", "iris-ops-backup-<random>", text)


def write_report(results: dict[str, dict]) -> None:
    lines = [
        "# Reliability: the fault matrix",
        "",
        "<!-- Written by tests/reliability/test_fault_matrix.py when every case ran; do not edit. -->",
        "",
        f"{len(CASES)} cases: every fault injected into every operation, against the simulated IRIS in",
        "containers of a real Docker engine. Each case asserts the exit code and message, that the",
        "instance is thawed, that nothing is left in the instance or on the host, and that the instance's",
        "full listing (files with mode, owner, size and sha256; configuration, mounts, resources, freeze)",
        "is exactly as before (delete-ns: that running it again finishes the job). Where the container or",
        "the engine was gone, iris-ops cannot clean up inside it: the case then asserts that `iris-ops",
        "doctor` finds exactly what was left and that `doctor --fix` brings the listing back to before.",
        "`iris-ops doctor` runs after each module's cases and reports a clean instance.",
        "",
        "## How each fault is made",
        "",
        "- **status, throw, false, cut, deadline, unreachable, sigterm, transfer**: in process, by the",
        "  fault plugin (`plugins/iris-ops-sim/src/iris_ops_sim/faults.py`, also `python -m iris_ops_sim.faults KIND@WHERE ...`) at the step that",
        "  calls the named class method. Each kind fires at every operation's primary point (mid-copy",
        "  while frozen or dismounted, the last restore step, the database deletion); at the other points",
        "  the three whose cleanup paths differ (an error status, the reply lost, SIGTERM) fire, except",
        "  that a reply lost or SIGTERM at a point in the primary point's session is the same case again",
        "  (freeze and copy are one session, dismount and copy too, and restore's three points are steps",
        "  of one session).",
        "- **container-stop / container-kill**: `docker stop` / `docker kill` of the instance's real",
        "  container, from the fault plugin just before the named step's script is sent (deterministic).",
        "  The case then starts the container again, as the user would. Killing it mid-transfer is not",
        "  in the matrix: measured once (1 GiB upload, `docker kill` after 1 s), the engine finished",
        "  the upload into the stopped container's filesystem and the next step's exec failed, which is",
        "  the kill-before-a-step case again; a command killed with its container is exit 6",
        "  (tests/test_docker_exec.py). The engine-gone cases cover a transfer cut short.",
        "- **engine-gone**: iris-ops talks to a unix-socket proxy in front of the shared engine",
        "  (`tests/reliability/engineproxy.py`); the fault closes it (every connection cut, nothing",
        "  listening) after the first 64 KiB of the archive transfer, then the case brings it back. A",
        "  private engine would prove the same at the cost of starting a dockerd per case; stopping the",
        "  shared one would break the other tests.",
        "- **instance-disk-full**: a separate instance whose whole install lives on a 40 MB tmpfs volume",
        "  that another writer has filled to 4 MB free; backup's staging copy (8 MB) and restore's upload",
        "  hit ENOSPC for real. The simulator's own bookkeeping (what IRIS keeps in shared memory) is kept",
        "  off that disk.",
        "- **host-disk-full**: `iris-ops` in a subprocess under `ulimit -f` (RLIMIT_FSIZE 256 KiB): its",
        "  writes on this host fail with EFBIG, as on a full disk. iris-ops ignores SIGXFSZ while a task",
        "  runs, so the write fails and the cleanup runs instead of the process dying.",
        "- **slow-instance**: a separate instance started with `IRISSIM_DELAY=2`: every `iris session`",
        "  starts 2 s late, past the operation's `--timeout 1`. The case waits until the late sessions",
        "  have run (Docker cannot kill an exec'd process) before comparing the listing.",
        "",
        "## Exit code of a full disk on this host: 2",
        "",
        "This host's disk full (ENOSPC, EDQUOT, or EFBIG under a file-size limit) exits **2** with",
        "`HostDiskFullError`: the message names the path (`--out` when the OS does not say which file)",
        "and the fix is to free space or write elsewhere. It is not 1 (an unexpected internal error: a",
        "full disk is expected and is not a bug), not 5 (the instance did nothing wrong) and not 6",
        "(nothing was unreachable). Like an unwritable `--out`, the remedy is the user's, which is what",
        "2 means. The instance's disk full is exit **5** (the instance failed the operation: its",
        "CopyFile returned 0, or the engine could not write into the container).",
        "",
        "## The cases",
        "",
        "| operation | fault | injected at | exit | outcome | message |",
        "|---|---|---|---|---|---|",
    ]
    for case in CASES:
        r = results[case.id]
        where = case.where.strip("#(.") if case.where not in ("read", "write") else f"file {case.where}"
        where = f"{where} ({case.bed} bed)" if case.bed != "shared" else where
        msg = r["message"].replace("|", "\\|")[:160]
        lines.append(f"| {case.operation} | {case.fault} | `{where}` | {case.code} | {r['outcome']} | {msg} |")
    report = ROOT / "docs" / "RELIABILITY.md"
    partial = report.with_name(f".RELIABILITY.md.{os.getpid()}.tmp")
    partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(partial, report)  # two workers finishing together write the same text


def test_the_fault_launcher_reaches_a_subprocess(shared_sim, matrix_bed):
    """The test kit's launcher (`python -m iris_ops_sim.faults`): the same fault in a separate
    `iris-ops` process, which says on stderr that a fault is active."""
    from clihelp import cli

    before = shared_sim.instance.listing()
    done = cli(shared_sim, "restore", "--src", matrix_bed, "--ns", "MTXSUB",
               fault="status@##class(Config.Namespaces).Create(")
    assert done.returncode == 5, done.stderr
    assert "FAULT INJECTION ACTIVE (status@##class(Config.Namespaces).Create()" in done.stderr
    assert "injected: class(Config.Namespaces).Create returned an error status" in done.stderr
    assert comparable(shared_sim.instance.listing()) == comparable(before)
