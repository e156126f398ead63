"""Per-namespace locks held inside the instance, for the whole of an operation.

Why a LOCK inside IRIS and not a file: every iris-ops process that can reach the instance,
from any host, sees the same lock table, and [DOC] IRIS releases a process's locks when the
process ends.  The holder is a long-lived ``iris session`` (a docker exec with stdin attached,
or a local child process) that runs the lock script below and then waits on its stdin.  Closing
stdin ends it, and so does the death of iris-ops, even by ``kill -9``: the pipe or the exec
connection closes, the session reads the end of its input and exits, and the lock is gone.
A crash therefore never leaves a namespace locked, and ``doctor`` has nothing to repair.

Which operations conflict: every operation that changes or reads a namespace as a whole
(backup, restore, delete-ns) takes ``^IRISOPS.Lock(<NS>)`` **exclusively**.  Two backups
could in principle share, but a freezing backup freezes the whole instance and a second freeze
fails, so they do not.  The lock lives in ``%SYS`` (the namespace being restored may not
exist yet).

Who holds it: right after taking the lock, the holder also takes
``^IRISOPS.Holder(<NS>,<operation>,<host>,<pid>,<since>)``.  A process that times out finds it
with ``$Order(^$LOCK(...))`` and names the holder in its error; that entry, too, dies with the
holder.

The wait: ``--lock-wait SECONDS`` (setting ``lock_wait``), default 0: scripts and CI should
fail at once and say who holds the namespace rather than hang behind a multi-minute backup;
pass a wait to queue up instead.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import structlog

from iris_ops import objectscript as os_
from iris_ops.errors import ConflictError, InstanceError

if TYPE_CHECKING:
    from iris_ops.operations.context import Operation
    from iris_ops.transports.base import OpenSession

log = structlog.get_logger(__name__)

LOCK_GLOBAL = "IRISOPS.Lock"
HOLDER_GLOBAL = "IRISOPS.Holder"
LOCK_NAMESPACE = "%SYS"
#: Seconds ``close`` waits for the holder session to exit after its stdin closed.
CLOSE_WAIT = 10.0
_SUBSCRIPT = re.compile(r'"((?:[^"]|"")*)"|(-?[0-9.]+)')


@dataclass(frozen=True)
class Holder:
    """Who holds a namespace, as its holder recorded it."""

    namespace: str
    operation: str
    host: str
    pid: int
    since: str

    def describe(self) -> str:
        return f"{self.operation} (pid {self.pid} on {self.host}, since {self.since})"


def parse_holder(name: str) -> Holder | None:
    """``^IRISOPS.Holder("NS","op","host",123,"since")`` as ``^$LOCK`` shows it."""
    prefix = f"^{HOLDER_GLOBAL}("
    if not name.startswith(prefix) or not name.endswith(")"):
        return None
    parts = [q.replace('""', '"') if q or not n else n for q, n in _SUBSCRIPT.findall(name[len(prefix):-1])]
    if len(parts) != 5 or not parts[3].isdigit():
        return None
    return Holder(parts[0], parts[1], parts[2], int(parts[3]), parts[4])


class LockScript:
    """The holder's script: take the lock within ``wait`` seconds, record the holder, print a
    marker, and then wait at the prompt (no ``Halt``).  On a timeout it prints the holder it
    found and halts.  ``render``, ``namespace`` and ``purpose`` let a dry run show it."""

    def __init__(self, namespace: str, operation: str, wait: float) -> None:
        self.namespace = LOCK_NAMESPACE
        self.purpose = f"lock namespace {namespace}"
        self.token = secrets.token_hex(12)
        self.lock = os_.global_ref(LOCK_GLOBAL, namespace)
        since = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.holder = os_.global_ref(HOLDER_GLOBAL, namespace, operation, socket.gethostname(), os.getpid(), since)
        self.prefix = f"^{HOLDER_GLOBAL}({os_.lit(namespace)},"
        self.wait = wait

    def marker(self, word: str) -> bytes:
        return f"<<<{self.token}:{word}>>>".encode()

    def lines(self) -> list[str]:
        tok, h, p = os_.var("ltok"), os_.var("lh"), os_.var("lp")
        prefix_of_h = os_.func("$Extract", h, 1, os_.func("$Length", p))
        find = os_.for_ever(os_.set_(h, os_.lock_order(h)), os_.quit_if(os_.op(h, "=", "")),
                            os_.quit_if(os_.op(prefix_of_h, "=", p)))
        return [
            os_.sequence(os_.set_(tok, os_.split_token(self.token)), os_.set_(h, ""), os_.set_(p, self.prefix)),
            os_.sequence(
                os_.lock(self.lock, timeout=self.wait),
                os_.if_(os_.TEST, os_.lock(self.holder), os_.write_marker(tok, "HELD"),
                        else_=[find, os_.write_marker(tok, "BUSY", h), os_.write_marker(tok, "END"), os_.HALT]),
            ),
        ]

    def render(self) -> str:
        return "\n".join(self.lines()) + "\n"


@contextlib.contextmanager
def holding(op: "Operation", namespace: str, *, wait: float) -> Iterator[None]:
    """Hold ``namespace``'s lock for the block; a dry run prints the script and takes nothing.

    Raises :class:`ConflictError` (exit 3) naming the holder when ``wait`` seconds pass first."""
    script = LockScript(namespace, op.name, wait)
    if op.dry_run:
        op.runner.show(script)
        yield
        return
    session = _take(op, script, namespace)
    log.debug("lock.held", ns=namespace)
    try:
        yield
    finally:
        _release(session)
        log.debug("lock.released", ns=namespace)


def _take(op: "Operation", script: LockScript, namespace: str) -> "OpenSession":
    session = op.runner.open_session(LOCK_NAMESPACE)
    try:
        session.send(script.render().encode())
        deadline = time.monotonic() + script.wait + op.settings.timeout
        output = session.read_until((script.marker("HELD"), script.marker("END")), deadline)
        text = output.decode("utf-8", "replace")
        if script.marker("HELD").decode() in text:
            return session
        op.runner.check_login(text)
        busy = script.marker("BUSY").decode()
        if busy in text:
            found = text.split(busy, 1)[1].split(script.marker("END").decode(), 1)[0].strip()
            raise _conflict(namespace, parse_holder(found), script.wait)
        from iris_ops.runner import tail

        raise InstanceError(f"could not lock namespace {namespace}: the session ended without an answer",
                            details={"output_tail": tail(text)})
    except BaseException:
        _release(session)
        raise


def _conflict(namespace: str, holder: Holder | None, wait: float) -> ConflictError:
    who = holder.describe() if holder else "another process (it has not recorded itself yet)"
    waited = f"; waited {wait:g} s" if wait else "; not waiting (--lock-wait 0)"
    return ConflictError(
        f"namespace {namespace} is locked by {who}{waited}",
        fix="Wait for that operation to finish, or pass --lock-wait SECONDS to queue behind it. "
        "A lock dies with its process, so a crashed run never leaves one behind.",
        details={"holder": holder.__dict__ if holder else None},
    )


def _release(session: "OpenSession") -> None:
    # Halt ends the session at once; closing stdin would end it too (with <ENDOFFILE>).
    with contextlib.suppress(Exception):
        session.send(b"Halt\n")
    with contextlib.suppress(Exception):
        session.close(time.monotonic() + CLOSE_WAIT)
