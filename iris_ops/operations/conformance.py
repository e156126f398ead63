"""Built-in plugin: `conformance`, the check a user runs against their own IRIS before trusting
iris-ops with it.

It probes every IRIS behaviour iris-ops relies on that can be probed safely (the facts of
:mod:`iris_ops.operations.conformance_facts`), on scratch objects it creates and removes
(:mod:`iris_ops.script_builders.conformance`): two probing scripts, a session whose input
closes, a session whose lock must die with it, and, when the instance asks for logins, a login
of a scratch user who must change its password (its password is right: no wrong password is
ever sent).  It freezes nothing.

The scratch objects go whatever happens: after the probes, after a failure, and after SIGINT,
SIGTERM or SIGHUP (the cleanup script waits for a probing script still running in the instance,
then removes everything named after this run's token; see :mod:`iris_ops.signals`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import textwrap
import time
from typing import TYPE_CHECKING

from iris_ops import hookimpl
from iris_ops.task import task

if TYPE_CHECKING:
    from iris_ops.operations.conformance_facts import Assessment, Observations
    from iris_ops.objectscript import Script
    from iris_ops.operation import Operation

__all__ = ["SERIAL_WAIT", "transaction", "end_of_input", "lock_release", "login", "probe", "conformance",
           "register_tasks"]

#: Seconds a probing or cleanup script waits for the one before it (the run's own lock).
SERIAL_WAIT = 20.0
_USERNAME = re.compile(r"^\s*Username:", re.MULTILINE)
_PASSWORD = re.compile(r"^\s*Password:", re.MULTILINE)
_REFUSED = re.compile(r"^\s*Access Denied", re.MULTILINE)
_NEW_PASSWORD = re.compile(r"new\s+password", re.IGNORECASE)


def _run(op: "Operation", script: "Script") -> tuple[dict, str]:
    """A read-only script's result and the session's whole output: what came before the result
    says whether the instance asked for a login."""
    from iris_ops.runner import normalise

    result = op.runner.execute(script.render(), script.namespace)
    return op.runner.parse(script, result), normalise(result.text)


def _held(op: "Operation", session, token: str) -> tuple[str, str]:
    """The probe session's ``$JOB`` and ``$Test`` once it has taken its lock."""
    from iris_ops.errors import InstanceError
    from iris_ops.runner import tail

    held, end = f"<<<{token}:HELD>>>", f"<<<{token}:END>>>"
    text = session.read_until((end.encode(),), time.monotonic() + op.settings.timeout).decode("utf-8", "replace")
    if held not in text or end not in text:
        op.runner.check_login(text)
        raise InstanceError("a conformance probe session ended without an answer", details={"output_tail": tail(text)})
    pid, _, test = text.split(held, 1)[1].split(end, 1)[0].strip().partition("|")
    return pid.strip(), test.strip()


def _probe_session(op: "Operation", scratch, key: str):
    import secrets  # here: it brings hashlib, hmac and random, which `iris-ops --list` must not load

    from iris_ops import script_builders

    token = secrets.token_hex(12)
    session = op.runner.open_session("%SYS")
    try:
        session.send(script_builders.conformance_session_lines(scratch, key, token).encode())
        pid, test = _held(op, session, token)
    except BaseException:
        with contextlib.suppress(Exception):
            session.close(time.monotonic() + 1)
        raise
    return session, pid, test


def transaction(op: "Operation") -> dict:
    """What the backup's open-transaction query sees of a transaction; its failure is the finding."""
    from iris_ops import script_builders
    from iris_ops.errors import AuthenticationError, IrisOpsError

    try:
        return op.runner.run(script_builders.conformance_transaction())
    except AuthenticationError:
        raise
    except IrisOpsError as exc:
        return {"tx_error": str((exc.details or {}).get("iris_error") or exc.message)}


def end_of_input(op: "Operation", scratch) -> dict:
    """Does a session end once its input closes?  One that does not is ended with Terminate."""
    from iris_ops import script_builders
    from iris_ops.operations.conformance_facts import END_WAIT

    session, pid, _ = _probe_session(op, scratch, "eof")
    code = session.close(time.monotonic() + END_WAIT)
    if code is not None:
        return {"ended": True, "exit_code": code, "pid": pid}
    ended = op.runner.run(script_builders.conformance_end_session(scratch, "eof"))
    return {"ended": False, "pid": pid, "terminated": ended.get("terminated")}


def lock_release(op: "Operation", scratch) -> dict:
    """Is a lock free once the process holding it has ended (Terminate from another process)?"""
    from iris_ops import script_builders

    session, pid, test = _probe_session(op, scratch, "lock")
    try:
        if test != "1":
            return {"problem": "the probe session could not take its lock"}
        ended = op.runner.run(script_builders.conformance_end_session(scratch, "lock"))
        return {"pid": pid, **{key: ended.get(key) for key in ("owner", "free_before", "terminated", "released")}}
    finally:
        with contextlib.suppress(Exception):
            session.close(time.monotonic() + 2)


def login(op: "Operation", scratch, password: str | None, first_output: str, eof: dict) -> dict:
    """The prompts iris-ops answers, and what a login that needs a password change meets: the
    scratch user's right password, then nothing (its input ends)."""
    from iris_ops.runner import tail

    if password is None:
        return {"skipped": "this instance lets `iris session` in with OS authentication: there is no login prompt"}
    if not eof.get("ended"):
        return {"skipped": "sessions outlive their input here: a session left at a login prompt could not be ended"}
    target = dataclasses.replace(op.target, username=scratch.user, password=password)
    result = op.pm.hook.run_objectscript(target=target, script="", namespace="%SYS", timeout=op.settings.timeout)
    text = result.text.replace("\r\n", "\n")
    after = text.split("Password:", 1)[-1]
    return {"asked": True, "prompts": bool(_USERNAME.search(first_output) and _PASSWORD.search(first_output)),
            "refused": bool(_REFUSED.search(after)), "asked_new": bool(_NEW_PASSWORD.search(after)),
            "shown": tail(after, 3).strip()}


def probe(op: "Operation") -> "Observations":
    """Every probe, then the cleanup (also after a failure or a signal)."""
    from iris_ops import redact, script_builders, signals
    from iris_ops.operations.conformance_facts import Observations

    seen = Observations()
    seen.facts, first_output = _run(op, script_builders.conformance_facts())
    if str(seen.facts.get("wd_suspended")) != "0":
        # A frozen instance (or one that cannot say) gets nothing that writes: its writes could
        # wait for a thaw that is not ours to give.
        why = "the write daemon is suspended (or could not say): nothing that writes was probed"
        seen.missing = dict.fromkeys(("setup", "transaction", "checks", "eof", "lock", "login"), why)
        return seen
    scratch = script_builders.ConformanceScratch.new(seen.facts["manager_directory"])
    op.log.debug("conformance.scratch", token=scratch.token, directories=scratch.directories)
    try:
        note = b"scratch directory of `iris-ops conformance`; removed when it ends\n"
        op.runner.write_file(io.BytesIO(note), len(note), scratch.marker, timeout=op.settings.timeout)
        seen.setup = op.runner.run(script_builders.conformance_setup(scratch, wait=SERIAL_WAIT))
        password = None
        if _USERNAME.search(first_output.split("<<<", 1)[0]):
            import secrets

            password = "Cf-" + secrets.token_hex(12)
            redact.remember(password)
        seen.transaction = transaction(op)
        seen.checks = op.runner.run(script_builders.conformance_checks(
            scratch, wait=SERIAL_WAIT, login=(password, "iris-ops conformance probe") if password else None))
        seen.eof = end_of_input(op, scratch)
        seen.lock = lock_release(op, scratch)
        seen.login = login(op, scratch, password, first_output, seen.eof)
    except BaseException as exc:
        _cleanup(op, scratch, failing=exc)
        raise
    with signals.shielded():
        _cleanup(op, scratch)
    return seen


def _cleanup(op: "Operation", scratch, failing: BaseException | None = None) -> None:
    """Remove the scratch objects; a failure here is the task's error unless one is on its way."""
    from iris_ops import script_builders
    from iris_ops.errors import InstanceError, IrisOpsError

    try:
        try:
            op.runner.run(script_builders.conformance_cleanup(scratch, wait=SERIAL_WAIT))
        except IrisOpsError:
            # What the instance could not remove (a file the transport made as another user)
            # goes through the transport, then the rest once more.
            for directory in scratch.directories:
                with contextlib.suppress(IrisOpsError):
                    op.runner.remove_path(directory)
            op.runner.run(script_builders.conformance_cleanup(scratch, wait=SERIAL_WAIT))
        op.log.debug("conformance.cleaned", token=scratch.token)
    except IrisOpsError as exc:
        op.log.error("conformance.cleanup_failed", error=exc.message, token=scratch.token,
                     left=[*scratch.directories, scratch.namespace, scratch.copy_namespace, scratch.resource, scratch.user])
        if failing is None:
            raise InstanceError(f"the conformance probes could not remove their scratch objects: {exc.message}",
                                fix=f"Remove what is named after {scratch.token} by hand (namespaces and databases "
                                f"{scratch.database}*, directories {' '.join(scratch.directories)}, resource "
                                f"{scratch.resource}, user {scratch.user}).",
                                details=exc.details) from exc


#: The table's wrapped columns (the fact's title is never wrapped: it is what a report names).
_COLUMNS = (("STATUS", 10), ("IRIS-OPS EXPECTS", 34), ("THIS INSTANCE", 34), ("DEPENDS ON IT", 28))


def _table(op: "Operation", findings: "list[Assessment]", zversion: str) -> None:
    columns = (("FACT", max(len(f.fact.title) for f in findings)), *_COLUMNS)
    op.emit(f"conformance of {op.target.describe()}: {zversion or 'version unknown'}")
    op.emit("  ".join(f"{title:<{width}}" for title, width in columns).rstrip())
    for finding in findings:
        cells = (finding.fact.title, finding.status.upper() if finding.status == "differs" else finding.status,
                 finding.fact.expects, finding.observed, "; ".join(finding.fact.operations))
        wrapped = [textwrap.wrap(cell, width) or [""] for cell, (_, width) in zip(cells, columns)]
        for line in range(max(len(w) for w in wrapped)):
            op.emit("  ".join(f"{(w[line] if line < len(w) else ''):<{width}}"
                              for w, (_, width) in zip(wrapped, columns)).rstrip())


@task(target=True, help={"json": "print the findings as one JSON document (attach it to bug reports)"})
def conformance(c, json_=False, **target):
    """Check that this IRIS behaves as iris-ops expects; exit 4 naming each difference.

    Probes, on scratch objects it creates and removes (a directory under the manager directory,
    a small database and its copy, two namespaces, a resource, a lock, and a user when the
    instance asks for logins), every IRIS behaviour iris-ops relies on: the ExternalFreeze
    signature (read, never called: it freezes nothing), IsWDSuspended, InTransaction, CopyFile
    and Rename onto existing files, a read-only mount and SQL on it, MountDatabase of a mounted
    database, a dismount that persists, the %DB_ role, the end of a session's input, a lock
    released with its process, the login prompts and the $ZVERSION format. Prints a table of
    each fact, what iris-ops expects, what this instance does and which operations depend on it.

    Examples:
        iris-ops conformance
        iris-ops conformance --json > conformance.json
    """
    from iris_ops.operations.conformance_facts import DIFFERS, evaluate
    from iris_ops.errors import ValidationError
    from iris_ops.operations.context import operation_from_flags

    op = operation_from_flags("conformance", target)
    with op.bound():
        seen = probe(op)
    findings = evaluate(seen)
    zversion = str(seen.facts.get("zversion", ""))
    doc = {"instance": op.target.describe(), "zversion": zversion, "facts": [f.row() for f in findings]}
    if not json_:
        _table(op, findings, zversion)
    differing = [f for f in findings if f.status == DIFFERS]
    if differing:
        # The table said everything already; a --json document carries it all.
        raise ValidationError(
            f"{len(differing)} IRIS behaviour(s) differ from what iris-ops expects: "
            + "; ".join(f"{f.fact.title}: {f.observed} (at risk: {', '.join(f.fact.operations)})" for f in differing),
            fix="Do not rely on the operations at risk on this instance; report it with the output of "
            "`iris-ops conformance --json` attached.",
            details={"differences": [f.fact.key for f in differing], **(doc if json_ else {})})
    return doc if json_ else None


@hookimpl
def register_tasks(registrar):
    registrar.add_task(conformance)
