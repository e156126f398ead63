"""The fault matrix's cases, how each fault is made, and docs/RELIABILITY.md rendered from them
and from the last full run's messages (tests/reliability/results.json).  No Docker here:
tests/test_docs.py checks the document against this module and the results without an engine,
and ``python tests/reliability/report.py`` writes both (docs/RELIABILITY.md says how).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "docs" / "RELIABILITY.md"
RESULTS = Path(__file__).resolve().parent / "results.json"
REGENERATE = "python tests/reliability/report.py"
#: The directory, under a run's base temporary directory, where each case records its message.
RECORDS = "fault-matrix"

#: Where a fault meets a step: a stop point in the simulated instance (``iris-sim stop``), the
#: class method whose call the session holds at.  The first of each list is the operation's
#: primary point, where the most is at stake (mid-copy while frozen or dismounted, the last
#: restore step, the database deletion).
POINTS = {
    "backup": ["%Library.File.CopyFile", "Backup.General.ExternalFreeze", "SYS.Database.MountDatabase"],
    "backup-dismount": ["%Library.File.CopyFile", "SYS.Database.DismountDatabase"],
    "restore": ["Config.Namespaces.Create", "SYS.Database.MountDatabase", "Config.Databases.Create"],
    "delete-ns": ["SYS.Database.DeleteDatabase"],
    "validate-online": ["Config.Namespaces.Get"],
    "run": ["%SYSTEM.Version.GetNumber"],
}
#: Points in the same session as their operation's primary point (freeze and copy are one
#: session, dismount and copy too, restore's three points are steps of one): a fault that hits
#: the whole session (a hang, the connection cut, the engine gone, iris-ops signalled or
#: killed) is the same case there.  Backup's MountDatabase is in the counting session, after the stream.
SAME_SESSION = {("backup", "Backup.General.ExternalFreeze"), ("backup-dismount", "SYS.Database.DismountDatabase"),
                ("restore", "SYS.Database.MountDatabase"), ("restore", "Config.Databases.Create")}
#: Operations that change the instance, and so have something to clean up when iris-ops or the
#: engine goes: for the read-only ones (validate --online, run) a cut, the engine gone or
#: ``kill -9`` only repeat what the transport's mapping already shows, and one hang (run's) shows
#: what a hung read-only session does.
CLEANS_UP = ("backup", "backup-dismount", "restore", "delete-ns")
#: Calls that return no %Status: CopyFile returns 0 when it fails, which the instance's disk full
#: makes happen for real (the instance-disk-full cases); `run`'s user line failing is `run`'s
#: ordinary job (tests/test_run_lines.py).
NOT_STATUS = {"%Library.File.CopyFile", "%SYSTEM.Version.GetNumber"}
#: Seconds of ``--timeout`` in a hung session's case (and of freeze_limit, which a frozen copy's
#: session gets on top): every session before the hang must still fit in it on a loaded machine.
HANG_TIMEOUT_S = 4
HANG_FREEZE_LIMIT_S = 1
#: A transfer is cut, or the engine goes, after this much of the archive went through.
#: More than one read of the proxy (64 KiB): the response's headers have gone through by then.
TRANSFER_BYTES = 256 * 1024


@dataclass(frozen=True)
class Fault:
    title: str
    real: bool
    how: str


FAULTS = {
    "deadline": Fault("a session that hangs", True,
                      "the session is held at the step (stop point), then really stopped: `kill -STOP` of its "
                      f"process in the container; iris-ops runs with `--timeout {HANG_TIMEOUT_S}` (and "
                      f"`freeze_limit={HANG_FREEZE_LIMIT_S}`, which a frozen copy's session gets on top, and "
                      f"`transfer_timeout={HANG_TIMEOUT_S}`, restore's last session's), so its "
                      "deadline passes while the script is still running. Once iris-ops has ended, `kill -CONT`: "
                      "the script carries on after the cleanup, as a hung IRIS process would"),
    "cut": Fault("the connection to the engine cut", True,
                 "iris-ops talks to the engine through a unix-socket proxy (`tests/reliability/engineproxy.py`); "
                 "with the session held at the step, the proxy closes the connection that carried the script. The "
                 "engine and the session go on; other connections still work"),
    "engine-gone": Fault("the engine gone", True,
                         "the same proxy stops listening and closes every connection with the session held at the "
                         "step, as a stopped `dockerd` does; it comes back once iris-ops has ended (stopping the "
                         "engine the other tests share is not an option)"),
    "sigterm": Fault("SIGTERM to iris-ops", True,
                     "a real SIGTERM to the iris-ops process (the test's own, where it runs in process) with the "
                     "session held at the step; the cleanup runs while that script is still running, and the "
                     "script carries on once iris-ops has ended"),
    "kill-9": Fault("`kill -9` of iris-ops", True,
                    "SIGKILL of the iris-ops process (a subprocess) with the session held at the step; the session "
                    "carries on alone. Then `iris-ops doctor` must find exactly what was left, and "
                    "`doctor --fix` repair it"),
    "container-kill": Fault("the container killed", True,
                            "`docker kill` of the instance's container with the session held at the step; it is "
                            "started again once iris-ops has ended, then doctor and `doctor --fix`"),
    "container-stop": Fault("the container stopped", True,
                            "`docker stop` (SIGTERM, then SIGKILL after 5 s) of the container with the session held "
                            "at the step; it is started again once iris-ops has ended"),
    "status": Fault("an error status from the instance", False,
                    "simulated: the simulated instance returns an error status from the step's call instead of "
                    "running it (`iris-sim stop arm CALL --fail`); the script iris-ops sent is unchanged. The "
                    "message is the simulator's, where IRIS would give its own"),
    "instance-disk-full": Fault("the instance's disk full", True,
                                "a separate instance whose whole install lives on a small tmpfs volume that another "
                                "writer has filled (40 MB, 4 MB left): the in-instance copy and the engine's upload "
                                "hit ENOSPC for real. The simulator's own bookkeeping (what IRIS keeps in shared "
                                "memory) is kept off that disk"),
    "host-disk-full": Fault("this host's disk full", True,
                            "`iris-ops` in a subprocess under `ulimit -f` (RLIMIT_FSIZE 256 KiB): its writes on "
                            "this host fail with EFBIG from the kernel, as on a full disk"),
    "directory-not-writable": Fault("a database directory the instance cannot write", True,
                                    "the database's directory made root's (mode 755) in the container before the "
                                    "command: the instance's own DeleteDatabase fails (permission denied); the "
                                    "directory is given back before the rerun"),
}


@dataclass(frozen=True)
class Case:
    operation: str
    fault: str
    #: a stop point (``Class.Method``), ``read``/``write`` (a transfer), or what the bed is
    where: str
    code: int
    #: what the message says (alternatives separated by ``|``)
    says: str
    #: what doctor finds afterwards (what iris-ops could not clean while its process, the container
    #: or the engine was gone); doctor --fix must repair it to the listing as before
    leftovers: tuple = ()

    @property
    def id(self) -> str:
        return f"{self.operation}:{self.fault}@{self.where}"

    def said(self, text: str) -> bool:
        return any(alternative in text for alternative in self.says.split("|"))

    @property
    def at_step(self) -> bool:
        return self.where.count(".") >= 1 and self.where not in ("read", "write")

    @property
    def bed(self) -> str:
        """shared: the module's instance, iris-ops in process; proxy: the same through the socket
        proxy; process: iris-ops as a subprocess; host: a subprocess under ``ulimit -f``; disk:
        an instance on a full tmpfs."""
        if self.fault in ("cut", "engine-gone"):
            return "proxy"
        return {"kill-9": "process", "host-disk-full": "host", "instance-disk-full": "disk"}.get(self.fault, "shared")

    @property
    def call_text(self) -> str:
        """How the script spells the step's call (what the proxy recognises a session by)."""
        cls, _, method = self.where.rpartition(".")
        return f"##class({cls}).{method}("


def _left(operation: str, where: str, kind: str) -> tuple:
    """What is left for doctor when ``kind`` happens while the instance runs ``where`` (its
    finding kinds).  iris-ops cleans up itself unless its process, the container or the engine
    is gone; a restore's rollback never runs under the restore's own session, so while that
    session is held (hung, its connection cut, iris-ops stopped by a signal) the journal stays
    for doctor.  Once released, the held script carries on unless the container went: a backup's
    counting session removes its staging copy whatever happened."""
    gone = kind in ("engine-gone", "kill-9", "container-kill", "container-stop")
    if operation in ("validate-online", "run") or kind == "status":
        return ()
    if operation == "restore":
        return ("restore",) if gone or kind in ("deadline", "cut", "sigterm") else ()
    if not gone:
        return ()
    if operation == "delete-ns":
        return ("delete-ns",)
    counting = where == "SYS.Database.MountDatabase"
    left = {"host-temp"} if kind == "kill-9" else set()  # the partial fixture: no process left to remove it
    if kind.startswith("container-"):
        left |= {"staging", "counting"} if counting else {"staging"}
        if operation == "backup" and where == "%Library.File.CopyFile":
            # killed while frozen: the freeze ended with the instance, its record stays for doctor
            left.add("freeze-record")
    elif not counting:
        left.add("staging")
    return tuple(sorted(left))


def _point_cases(operation: str, where: str, primary: bool) -> list[Case]:
    """Every fault at one point.  A whole-session fault only where the point's session is not the
    primary point's; the container killed at the primary point, stopped at the others."""
    whole = (operation, where) not in SAME_SESSION
    kinds = []
    if operation == "backup" and where == "SYS.Database.MountDatabase":
        # Counting the copies failed: the backup still succeeds, its manifest says the counts
        # are not fixed (README), and the counting namespace is gone.
        kinds.append(("status", 0, "backup.counts_not_fixed"))
    elif where not in NOT_STATUS:
        kinds.append(("status", 5, "the simulated instance was told to fail this call"))
    if whole and operation != "validate-online":  # validate --online reads as run does: run's hang shows it
        kinds.append(("deadline", 6, "did not finish within"))
    if whole and operation in CLEANS_UP:
        kinds.append(("cut", 6, "the connection to the Docker engine ended while the command was still running"))
    if whole and operation in CLEANS_UP:
        kinds += [("engine-gone", 6, "cannot reach the Docker engine at"), ("kill-9", -9, "")]
    if whole:
        kinds.append(("sigterm", 143, "stopped by SIGTERM"))
    kinds.append(("container-kill" if primary else "container-stop", 6, "is not running"))
    return [Case(operation, kind, where, code, says, _left(operation, where, kind)) for kind, code, says in kinds]


def _cases() -> list[Case]:
    cases = []
    for operation, wheres in POINTS.items():
        for rank, where in enumerate(wheres):
            cases += _point_cases(operation, where, primary=rank == 0)
    cases += [
        # A transfer cut short: the engine's connection cut, or the engine gone, after its first bytes.
        # where the cut falls in the engine's chunked stream decides which of the two it is
        Case("backup", "cut", "read", 6, "the transfer broke off|the transfer ended early"),
        Case("backup-dismount", "cut", "read", 6, "the transfer broke off|the transfer ended early"),
        Case("restore", "cut", "write", 6, "cannot reach the Docker engine"),
        Case("backup", "engine-gone", "read", 6, "cannot reach the Docker engine at", ("staging",)),
        Case("backup-dismount", "engine-gone", "read", 6, "cannot reach the Docker engine at", ("staging",)),
        Case("restore", "engine-gone", "write", 6, "cannot reach the Docker engine at", ("restore",)),
        Case("backup", "host-disk-full", "ulimit -f", 2, "this host's disk is full"),
        Case("backup-dismount", "host-disk-full", "ulimit -f", 2, "this host's disk is full"),
        Case("backup", "instance-disk-full", "tmpfs", 5, "failed at step 'copy0'"),
        Case("backup-dismount", "instance-disk-full", "tmpfs", 5, "failed at step 'copy0'"),
        Case("restore", "instance-disk-full", "tmpfs", 5, "the container's disk is full"),
        Case("delete-ns", "directory-not-writable", "chown root", 5, "permission denied"),
    ]
    return cases


CASES = _cases()


def outcome(case: Case) -> str:
    """What the case proves besides its exit code and message (what the test asserts)."""
    parts = [f"exit {case.code}" if case.code >= 0 else "killed"]
    if case.fault.startswith("container-"):
        parts.append("container started again")
    if case.fault == "engine-gone":
        parts.append("engine back")
    if case.at_step and case.fault not in ("status",) and not case.fault.startswith("container-"):
        parts.append("the held script went on to its end")
    if case.leftovers:
        parts.append(f"doctor found {', '.join(sorted(case.leftovers))} and --fix repaired it")
    if case.operation == "delete-ns":
        parts.append("a rerun finished the delete, instance as before the restore")
    else:
        parts.append("instance exactly as before")
    return "; ".join(parts)


def mask(text: str) -> str:
    """A message with what differs from run to run (container names, temporary paths, random
    names, the kind of socket error a cut connection gave) masked."""
    text = re.sub(r"iris-rel-(?:[a-z]+-)?[0-9a-f]{8}", "<container>", text)
    text = re.sub(r"/tmp/[^\s':]+", "<tmp>", text)
    text = re.sub(r"within \d+\.\d s", "within <elapsed> s", text)  # the deadline, as measured
    # how a gone engine's socket fails depends on the moment (reset, closed, no such file)
    text = re.sub(r"(cannot reach the Docker engine at \S+?): [^;]*", r"\1: <socket error>", text)
    text = re.sub(r"(the transfer (?:broke off|ended early)) \((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)", r"\1 (<socket error>)", text)
    text = re.sub(r"IRISOPS-COUNT-[0-9A-F]{8}", "IRISOPS-COUNT-<random>", text)
    return re.sub(r"iris-ops-backup-[0-9a-f]{12}", "iris-ops-backup-<random>", text)


def load_results(path: Path = RESULTS) -> dict[str, str]:
    """Case id -> the message the last full run saw."""
    return json.loads(path.read_text(encoding="utf-8"))["messages"]


def results_text(messages: dict[str, str]) -> str:
    ordered = {case.id: messages[case.id] for case in CASES}
    return json.dumps({"cases": len(ordered), "messages": ordered}, indent=1, ensure_ascii=False) + "\n"


def _where(case: Case) -> str:
    if case.where in ("read", "write"):
        return f"file {case.where}, after {TRANSFER_BYTES // 1024} KiB"
    return case.where


def render(messages: dict[str, str]) -> str:
    missing = [case.id for case in CASES if case.id not in messages]
    if missing:
        raise ValueError(f"no result for {len(missing)} case(s), e.g. {missing[0]}: run the whole matrix ({REGENERATE})")
    real = sum(FAULTS[case.fault].real for case in CASES)
    lines = [
        "# Reliability: the fault matrix",
        "",
        f"<!-- Generated by `{REGENERATE}` from tests/reliability/matrix.py and the last full run's",
        "     messages (tests/reliability/results.json). tests/test_docs.py fails when this file differs. -->",
        "",
        f"{len(CASES)} cases ({real} with a real fault, {len(CASES) - real} simulated): faults made where they",
        "happen, in every operation, against the simulated IRIS in containers of a real Docker engine.",
        "Each case asserts the exit code and the message below; that nothing is left in the instance or",
        "on the host and that the instance's full listing (files with mode, owner, size and sha256;",
        "configuration, mounts, resources, freeze) is exactly as before (delete-ns: that running it again",
        "finishes the job). Where iris-ops could not clean up (its process killed, the container or the",
        "engine gone), the case asserts that `iris-ops doctor` finds exactly what was left and that",
        "`doctor --fix` brings the listing back to before. `iris-ops doctor` runs after each module's",
        "cases and reports a clean instance.",
        "",
        "A fault at a step happens while the instance runs that step: the simulated instance holds the",
        "session at the step's call (a stop point, `iris-sim stop arm CLASS.METHOD`, the testing kit's",
        "own; no real IRIS has it), the test makes the fault happen, and the session carries on once",
        "iris-ops has ended. So every cleanup meets a script that is still running, as after a real hang",
        "or a lost connection. Nothing in iris-ops is replaced or told about the fault; the messages are",
        "the ones a user sees, masked only where they differ from run to run (`<container>`, `<tmp>`).",
        "",
        "Regenerate (a full matrix run, about as long as the matrix takes in the suite):",
        "",
        "```sh",
        f"{REGENERATE}            # runs the matrix, records each case's message, writes this file",
        f"{REGENERATE} --render   # this file again from the recorded messages (only the text changed)",
        "```",
        "",
        "## How each fault is made",
        "",
    ]
    for kind, fault in FAULTS.items():
        lines.append(f"- **{kind}** ({fault.title}; {'real' if fault.real else 'simulated'}): {fault.how}.")
    lines += [
        "",
        "Where it happens: each fault at every operation's primary point (the first in",
        "`tests/reliability/matrix.py`'s POINTS); at the other points the error status and the container",
        "stopped, and the whole-session faults (hang, cut, engine gone, SIGTERM, `kill -9`) only where the",
        "point's session is not the primary point's. A transfer is cut, or the engine goes, after",
        f"{TRANSFER_BYTES // 1024} KiB of the archive; backup's read then goes through the engine",
        "(`IRIS_OPS_HOST_READ=0`, as with a remote engine), not from the host side.",
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
        "| operation | fault | at | real | exit | outcome | message |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        message = messages[case.id].replace("|", "\\|")
        real = "real" if FAULTS[case.fault].real else "simulated"
        code = case.code if case.code >= 0 else "SIGKILL"
        lines.append(f"| {case.operation} | {case.fault} | `{_where(case)}` | {real} | {code} | {outcome(case)} | {message} |")
    return "\n".join(lines) + "\n"
