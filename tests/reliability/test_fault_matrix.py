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

from dataclasses import dataclass
from pathlib import Path

import pytest

from iris_ops.testing.faults import Fault
from reliability.conftest import comparable, host_leftovers, leftovers_in

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    operation: str
    fault: str
    where: str
    code: int
    says: str

    @property
    def id(self) -> str:
        return f"{self.operation}:{self.fault}@{self.where.strip('#(.')}"


def _cases() -> list[Case]:
    cases = []
    script_faults = [("status", 5, "returned an error status"), ("throw", 5, "DIVIDE"),
                     ("cut", 6, "exec stream was cut"), ("deadline", 6, "did not answer"),
                     ("unreachable", 6, "engine stopped answering"), ("sigterm", 143, "stopped by SIGTERM")]
    points = {
        "backup": ["##class(Backup.General).ExternalFreeze(", "##class(%Library.File).CopyFile(",
                   "##class(SYS.Database).MountDatabase("],
        "backup-dismount": ["##class(SYS.Database).DismountDatabase(", "##class(%Library.File).CopyFile("],
        "restore": ["##class(SYS.Database).MountDatabase(", "##class(Config.Databases).Create(",
                    "##class(Config.Namespaces).Create("],
        "delete-ns": ["##class(Config.Namespaces).Delete(", "##class(SYS.Database).DeleteDatabase("],
        "validate-online": ["##class(Config.Namespaces).Get("],
        "run": ["Write 42"],
    }
    for operation, wheres in points.items():
        for where in wheres:
            for fault, code, says in script_faults:
                if operation == "run" and fault in ("status", "throw"):
                    continue  # a user line's own error is `run`'s ordinary job (tests/test_run_lines.py)
                if fault == "status" and "CopyFile" in where:
                    fault, says = "false", "disk full in the instance"  # %File returns %Boolean, not %Status
                if operation == "backup" and "MountDatabase" in where and fault in ("status", "throw"):
                    # Counting the copies failed: the backup still succeeds, its manifest says the
                    # counts are not fixed (README), and the counting namespace is gone.
                    code, says = 0, "backup.counts_not_fixed"
                cases.append(Case(operation, fault, where, code, says))
    cases += [
        Case("backup", "transfer", "read", 6, "archive transfer failed"),
        Case("backup", "host-disk-full", "read", 1, "No space left on device"),
        Case("backup-dismount", "transfer", "read", 6, "archive transfer failed"),
        Case("restore", "transfer", "write", 6, "archive transfer failed"),
    ]
    return cases


CASES = _cases()
RESULTS: dict[str, dict] = {}


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
    if len(RESULTS) == len(CASES):
        write_report()


def _args(case: Case, fixture: Path, out: Path) -> list[str]:
    return {
        "backup": ["backup", "--ns", "USER", "--out", out],
        "backup-dismount": ["backup", "--ns", "USER", "--out", out, "--dismount"],
        "restore": ["restore", "--src", fixture, "--ns", "MTX", "--no-cache"],  # a cache hit moves no bytes to fail
        "delete-ns": ["delete-ns", "--ns", "MTX", "--yes"],
        "validate-online": ["validate", "--src", fixture, "--online", "--ns", "USER"],
        "run": ["run", "--ns", "USER", "Write 42"],
    }[case.operation]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, shared_sim, matrix_bed, rel_cli, tmp_path):
    sc = shared_sim
    base = before = sc.instance.listing()
    if case.operation == "delete-ns":
        code, _, err = rel_cli("restore", "--src", matrix_bed, "--ns", "MTX")
        assert code == 0, err
        before = sc.instance.listing()
    fault = Fault(case.fault, case.where)
    code, out, err = rel_cli(*_args(case, matrix_bed, tmp_path / "fx"), plugins=[fault])
    assert fault.fired, f"{case.id}: the fault point was never reached"
    outcome = f"exit {code}"
    assert code == case.code, f"{case.id}: {outcome}\n{err}"
    assert case.says in err, err
    after = sc.instance.listing()
    assert not after["frozen"]
    assert host_leftovers(tmp_path) == [] and (tmp_path / "fx").exists() == (case.code == 0)
    if case.operation == "delete-ns":
        # A delete-ns that stopped keeps its plan so that running it again finishes the job.
        code, _, err2 = rel_cli("delete-ns", "--ns", "MTX", "--yes")
        assert code == 0, err2
        after = sc.instance.listing()
        assert leftovers_in(after) == []
        assert comparable(after) == comparable(base), f"{case.id}: the rerun did not finish the delete"
        outcome += "; a rerun finished it, instance as before the restore"
    else:
        assert leftovers_in(after) == []
        assert comparable(after) == comparable(before), f"{case.id}: the instance changed"
        outcome += "; instance exactly as before"
    message = next((line for line in err.splitlines() if case.says in line), "")
    RESULTS[case.id] = {"case": case, "outcome": outcome, "message": _event(message)}


def _event(line: str) -> str:
    import json

    try:
        return json.loads(line)["event"]
    except (ValueError, KeyError):
        return line.strip()


def write_report() -> None:
    lines = [
        "# Reliability: the fault matrix",
        "",
        "<!-- Written by tests/reliability/test_fault_matrix.py when every case ran; do not edit. -->",
        "",
        f"{len(CASES)} cases: every fault injected at named points of every operation, against the",
        "simulated IRIS in a container of a real Docker engine. Each case asserts the exit code and",
        "message, that the instance is thawed, that nothing is left in the instance or on the host, and",
        "that the instance's full listing is exactly as before (delete-ns: that running it again",
        "finishes the job). `iris-ops doctor` runs once after the whole matrix and reports a clean instance.",
        "",
        "| operation | fault | injected at | exit | outcome | message |",
        "|---|---|---|---|---|---|",
    ]
    for case in CASES:
        r = RESULTS[case.id]
        where = case.where.strip("#(.") if case.where not in ("read", "write") else f"file {case.where}"
        msg = r["message"].replace("|", "\\|")[:160]
        lines.append(f"| {case.operation} | {case.fault} | `{where}` | {case.code} | {r['outcome']} | {msg} |")
    (ROOT / "docs" / "RELIABILITY.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_the_fault_switch_reaches_a_subprocess(shared_sim, matrix_bed):
    """IRIS_OPS_FAULT, the documented switch: the same fault in a separate `iris-ops` process."""
    from clihelp import cli

    before = shared_sim.instance.listing()
    done = cli(shared_sim, "restore", "--src", matrix_bed, "--ns", "MTXSUB",
               IRIS_OPS_FAULT="status@##class(Config.Namespaces).Create(")
    assert done.returncode == 5, done.stderr
    assert "injected: class(Config.Namespaces).Create returned an error status" in done.stderr
    assert comparable(shared_sim.instance.listing()) == comparable(before)
