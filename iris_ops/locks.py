"""Per-namespace locks held inside the instance, for the whole of an operation.

Why a LOCK inside IRIS and not a file: every iris-ops process that can reach the instance,
from any host, sees the same lock table, and [DOC] IRIS releases a process's locks when the
process ends.  The holder is a long-lived ``iris session`` (a docker exec with stdin attached,
or a local child process) that runs the lock script below and then waits on its stdin.  Closing
stdin ends it, and so does the death of iris-ops, even by ``kill -9``: the pipe or the exec
connection closes, the session reads the end of its input and exits, and the lock is gone.
A crash therefore never leaves a namespace locked, and ``doctor`` has nothing to repair.

Whether ``iris session`` itself ends when its input ends is not documented (IRIS.md §4b; the
simulator's variant ``eof-keeps-session`` answers no), so the holder does not wait at the
prompt: it waits in its own read loop (:meth:`LockScript.wait_line`), and iris-ops sends it a
keepalive line (:data:`KEEPALIVE`) every :data:`KEEPALIVE_EVERY` seconds from a thread
(:class:`Keepalive`).  The loop reads again after a keepalive and halts on anything else: the
release line, the end of input whichever way IRIS reports it (``<ENDOFFILE>``, or ``$ZEOF`` -1
when the process has SetZEOF on), or a read of :data:`READ_TIMEOUT` seconds that brought
nothing.  So the lock of an iris-ops that died is free at once where a session sees the end of
its input, and within :data:`READ_TIMEOUT` seconds where it never does.

The price: an iris-ops stopped for longer than that (``kill -STOP``, Ctrl-Z) may have lost its
lock.  It notices before it touches the instance again (:meth:`Keepalive.lapsed`): every later
contact fails with exit 5, for another operation may hold the namespace now, except those that
touch only what this operation alone owns, found by its own random token
(:meth:`iris_ops.runner.Runner.owned`): a backup still removes its staging directory and thaws
the freeze its record proves its own.  ``doctor`` finds anything else it left.

Which operations conflict: every operation that changes or reads a namespace as a whole
(backup, restore, delete-ns) takes ``^IRISOPS.Lock(<NS>)`` **exclusively**.  Two backups
could in principle share, but a freezing backup freezes the whole instance and a second freeze
fails, so they do not.  For the same reason a freezing backup also takes
``^IRISOPS.Lock("*freeze")``: two of them, even of different namespaces, never overlap (a
``--dismount`` backup does not freeze and does not take it).  The locks live in ``%SYS`` (the
namespace being restored may not exist yet).

The holder's session also runs the operation's first read, when that is a read-only script in
``%SYS`` that cannot disturb it (:func:`mergeable`): the backup's or delete-ns's describe, the
restore's check.  It runs right after the locks are held, before the holder's wait, so an
operation costs one session (an exec, an ``iris`` process) fewer.  Its failure is the script's
own (the holder goes on holding); a deadline it overruns ends the holder too.

Who holds it: right after taking its locks, the holder also takes
``^IRISOPS.Holder(<key>,<operation>,<host>,<pid>,<since>)`` for each.  A process that times out finds it
with ``$Order(^$LOCK(...))`` and names the holder in its error; that entry, too, dies with the
holder.  Taking the lock and recording the holder are two commands, so a process may meet the
lock in between: it looks again for up to three seconds (:data:`RECORD_POLLS`) before it
reports "another process (it has not recorded itself yet)".

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
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from iris_ops import objectscript as os_
from iris_ops import signals
from iris_ops.errors import ConflictError, DeadlineExceeded, InstanceError, IrisOpsError

if TYPE_CHECKING:
    from iris_ops.objectscript import Script
    from iris_ops.operation import Operation
    from iris_ops.transports.base import ExecResult, OpenSession

__all__ = [
    "LOCK_GLOBAL", "HOLDER_GLOBAL", "LOCK_NAMESPACE", "CLOSE_WAIT", "RECORD_POLLS", "RECORD_POLL_SECONDS",
    "Holder", "parse_holder", "FREEZE", "STATE", "LockScript", "holding", "READ_TIMEOUT", "KEEPALIVE", "KEEPALIVE_EVERY",
    "Keepalive", "end_session", "clock", "mergeable", "running",
]


def _log():
    # structlog is imported here, not at the top: backup, restore and delete import this module,
    # so every `iris-ops --list` did (a tenth of its start-up), for two debug lines.
    import structlog

    return structlog.get_logger(__name__)


LOCK_GLOBAL = "IRISOPS.Lock"
HOLDER_GLOBAL = "IRISOPS.Holder"
LOCK_NAMESPACE = "%SYS"
#: Seconds ``close`` waits for the holder session to exit after its stdin closed.
CLOSE_WAIT = 10.0
#: Seconds each read of the holder's wait loop lasts: one that brings nothing ends the holder
#: (no keepalive came, or its input ended).
READ_TIMEOUT = 10
#: Seconds between two keepalive lines; well under READ_TIMEOUT, so that a busy machine never
#: makes a living iris-ops miss one.
KEEPALIVE_EVERY = 2
#: The keepalive line (any other line ends the holder).
KEEPALIVE = "."
#: A process that finds a lock busy but no holder recorded looks again this many times, this
#: many seconds apart (the holder records itself right after it takes the lock).
RECORD_POLLS = 60
RECORD_POLL_SECONDS = 0.05
_SUBSCRIPT = re.compile(r'"((?:[^"]|"")*)"|(-?[0-9.]+)')


@dataclass(frozen=True)
class Holder:
    """Who holds a lock (a namespace, or :data:`FREEZE`), as its holder recorded it."""

    key: str
    operation: str
    host: str
    pid: int
    since: str

    def describe(self) -> str:
        return f"{self.operation} (pid {self.pid} on {self.host}, since {self.since})"

    @staticmethod
    def summary(holders: "list[Holder]") -> str:
        """Each operation once, with what it holds: ``backup (pid 7 on h, since t) holding
        namespace USER and the instance's freeze; ...``."""
        held: dict[str, list[str]] = {}
        for holder in holders:
            held.setdefault(holder.describe(), []).append(_what(holder.key))
        return "; ".join(f"{who} holding {' and '.join(sorted(keys, key=str.lower))}" for who, keys in held.items())


def parse_holder(name: str) -> Holder | None:
    """``^IRISOPS.Holder("NS","op","host",123,"since")`` as ``^$LOCK`` shows it."""
    prefix = f"^{HOLDER_GLOBAL}("
    if not name.startswith(prefix) or not name.endswith(")"):
        return None
    parts = [q.replace('""', '"') if q or not n else n for q, n in _SUBSCRIPT.findall(name[len(prefix):-1])]
    if len(parts) != 5 or not parts[3].isdigit():
        return None
    return Holder(parts[0], parts[1], parts[2], int(parts[3]), parts[4])


#: The key of the instance-wide lock a freezing backup also takes: the freeze is the whole
#: instance's, and a second ExternalFreeze fails.  ``*`` is in no namespace name.
FREEZE = "*freeze"
#: ``apply`` takes it besides each namespace it changes: two applies never overlap, whatever
#: objects their states name (resources and roles belong to no namespace).
STATE = "*state"


class LockScript:
    """The holder's script: take each lock within ``wait`` seconds, record the holder, print a
    marker, and then wait in its read loop until its input says to end or ends.  On a timeout
    it prints the key and the holder it found, and halts (which releases what it took).
    ``render``, ``namespace`` and ``purpose`` let a dry run show it."""

    def __init__(self, keys: tuple[str, ...], operation: str, wait: float) -> None:
        self.keys = keys
        self.namespace = LOCK_NAMESPACE
        self.purpose = "lock " + " and ".join(_what(key) for key in keys)
        self.token = secrets.token_hex(12)
        since = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.record = (operation, socket.gethostname(), os.getpid(), since)
        self.wait = wait

    def holder(self, key: str) -> os_.Code:
        return os_.global_ref(HOLDER_GLOBAL, key, *self.record)

    def marker(self, word: str) -> bytes:
        return f"<<<{self.token}:{word}>>>".encode()

    def lines(self) -> list[str]:
        tok, h, p, i = os_.var("ltok"), os_.var("lh"), os_.var("lp"), os_.var("li")
        scan = _scan_locks(h, p, os_.quit_if)
        # The holder takes the lock, then records itself on its next line: a process that finds
        # the lock busy in between looks again for a while before it says "not recorded yet".
        find = os_.for_(i, 1, RECORD_POLLS, os_.set_(h, ""), scan, os_.quit_if(os_.op(h, "'=", "")),
                        os_.hang(RECORD_POLL_SECONDS))
        lines = [os_.set_(tok, os_.split_token(self.token))]
        for key in self.keys:
            busy = [os_.set_(p, f"^{HOLDER_GLOBAL}({os_.lit(key)},"), find,
                    os_.write_marker(tok, "BUSY", key, "|", h), os_.write_marker(tok, "END"), os_.HALT]
            lines.append(os_.sequence(os_.lock(os_.global_ref(LOCK_GLOBAL, key), timeout=self.wait),
                                      os_.if_(os_.not_(os_.TEST), *busy)))
        lines.append(os_.sequence(*(os_.lock(self.holder(key)) for key in self.keys),
                                  os_.write_marker(tok, "HELD")))
        lines.append(self.wait_line())
        return lines

    @staticmethod
    def wait_line() -> os_.Code:
        """The holder's own wait: it reads again after each keepalive line and ends itself
        (Halt) on anything else: another line, the end of its input (an ``<ENDOFFILE>`` error,
        or ``$ZEOF``), or a read that timed out with nothing, whatever ``iris session`` would do
        at the end of input at the prompt."""
        line, got, eof = os_.var("lx"), os_.var("lt"), os_.var("le")
        read = os_.try_(os_.set_(line, os_.lit("")), os_.read(line, timeout=READ_TIMEOUT), os_.set_(got, os_.TEST),
                        os_.set_(eof, os_.SPECIAL["$ZEOF"]), catch=[os_.HALT])
        keepalive = os_.op(os_.op(got, "&", os_.op(eof, ">", -1)), "&", os_.op(line, "=", os_.lit(KEEPALIVE)))
        return os_.for_ever(read, os_.if_(os_.not_(keepalive), os_.HALT))

    def render(self, first: "Script | None" = None) -> str:
        """The holder's input; with ``first`` (a read-only script, see :func:`mergeable`), that
        script's lines run once the locks are held, before the holder's wait."""
        lines = self.lines()
        if first is not None:
            lines[-1:-1] = first.lines(final=False)
        return "\n".join(lines) + "\n"


#: Commands a script run in the holder's session may not hold: a Halt would end the holder, a
#: Read would take its keepalives, a Lock could change what it holds, a ZNspace would leave it in
#: another namespace, an Xecute runs code nothing here has read, and a Job or Hang has no place in
#: a read that comes first.
_NOT_IN_HOLDER = re.compile(r"(?<![.\w$%#])(?:Halt|Read|Lock|Job|Hang|ZNspace|Xecute)(?=[\s:]|$)", re.IGNORECASE | re.MULTILINE)


def mergeable(script: "Script") -> bool:
    """Whether ``script`` (a read-only script, the operation's first contact) may run in the lock
    holder's own session instead of a session of its own: it runs in the holder's namespace and
    holds none of :data:`_NOT_IN_HOLDER`.  One session fewer for every operation that locks."""
    return script.namespace == LOCK_NAMESPACE and not _NOT_IN_HOLDER.search("\n".join(script.lines(final=False)))


def _what(key: str) -> str:
    return {FREEZE: "the instance's freeze", STATE: "the instance's desired state"}.get(key, f"namespace {key}")


def _scan_locks(h: os_.Code, p: os_.Code, at_match) -> os_.Code:
    """``For { Set h=$Order(^$LOCK(h)) Quit:h=""  ... }`` over the lock table from ``h``, with
    ``at_match(condition)`` in each round: the condition that lock ``h`` starts with ``p``."""
    prefix_of_h = os_.func("$Extract", h, 1, os_.func("$Length", p))
    return os_.for_ever(os_.set_(h, os_.lock_order(h)), os_.quit_if(os_.op(h, "=", "")),
                        at_match(os_.op(prefix_of_h, "=", p)))


def running(op: "Operation") -> list[Holder]:
    """The iris-ops operations that hold a lock of this instance now (any host, any namespace):
    the holders recorded in its lock table, which die with their processes.  One session."""
    from iris_ops.objectscript import Script

    h, p, found = os_.var("hh"), os_.var("hp"), os_.var("hn")
    script = Script(LOCK_NAMESPACE, purpose="list the iris-ops operations running")
    script.step(
        "holders",
        os_.set_(p, os_.lit(f"^{HOLDER_GLOBAL}(")),
        os_.set_(found, os_.new_array()),
        os_.set_(h, os_.lit("")),
        _scan_locks(h, p, lambda matches: os_.if_(matches, os_.push(found, h))),
        os_.result("holders", found),
    )
    listed = op.runner.run(script, changes=False).get("holders") or []
    return [holder for holder in (parse_holder(str(name)) for name in listed) if holder is not None]


def clock() -> float:
    """Seconds on a clock that also runs while this machine sleeps (CLOCK_BOOTTIME where there is
    one): an instance elsewhere does not sleep with it, and its holder's read times out."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic()


class Keepalive:
    """Sends a holder session :data:`KEEPALIVE` every :data:`KEEPALIVE_EVERY` seconds from a
    daemon thread, until :meth:`end`.  The thread only writes; nothing else writes to the session
    until it has ended."""

    #: Seconds between two keepalives past which the holder may have given up (its read times
    #: out READ_TIMEOUT seconds after it received the one before).
    LIMIT = READ_TIMEOUT - KEEPALIVE_EVERY

    def __init__(self, session: "OpenSession") -> None:
        self.session = session
        self.sent = clock()  # the holder's first read starts about now
        self.gap: float | None = None  # set for good once a keepalive came too late, or not at all
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iris-ops-lock-keepalive", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        line = (KEEPALIVE + "\n").encode()
        while not self._stop.wait(KEEPALIVE_EVERY):
            previous = self.sent
            try:
                # A send to a session that has ended may not fail (the transports note it and go
                # on): what tells is the time, measured once the line is on its way.
                self.session.send(line)
            except Exception:
                self.gap = clock() - previous
                return
            now = clock()
            if now - previous > self.LIMIT:
                self.gap = now - previous
                return
            self.sent = now

    def lapsed(self) -> float | None:
        """The seconds without a keepalive when the holder may have given up waiting for the next
        one (this process was stopped, or could not send), else None."""
        if self.gap is not None:
            return self.gap
        silent = clock() - self.sent
        return silent if silent > self.LIMIT else None

    def end(self) -> "OpenSession":
        """Stop sending; returns the session (nothing sends to it any more)."""
        self._stop.set()
        self._thread.join(KEEPALIVE_EVERY + 5)
        return self.session


@contextlib.contextmanager
def holding(op: "Operation", namespace: str, *, wait: float, freeze: bool = False,
            also: tuple[str, ...] = ()) -> Iterator[None]:
    """Hold ``namespace``'s lock (and, with ``freeze``, the instance-wide one a freezing backup
    needs) from the operation's first contact with the instance to the end of the block.

    Taken at the first contact (a gate on ``op.runner``), not at once: an operation's local
    checks and ``pre_*`` hooks (a plugin's veto) need no instance and hold nothing.  A dry run
    prints the script and takes nothing.  Raises :class:`ConflictError` (exit 3) naming the
    holder when ``wait`` seconds pass first; every later contact raises it again, so no cleanup
    path can touch what another operation holds."""
    keys = ((namespace, FREEZE) if freeze else (namespace,)) + tuple(k for k in also if k != namespace)
    script = LockScript(keys, op.name, wait)
    if op.dry_run:
        op.runner.show(script)
        yield
        return
    taken: list[Keepalive] = []
    refused: list[IrisOpsError] = []
    lapse: list[InstanceError] = []

    def take(owned: bool = False, first: "Script | None" = None, timeout: float | None = None) -> "ExecResult | None":
        """The gate: holds the lock from the first contact on.  A read-only ``first`` script that
        may (:func:`mergeable`) runs in the holder's session as it takes the lock: its result,
        else None (the caller runs its contact itself)."""
        if refused:
            raise refused[0]
        if taken:
            if not lapse:
                silent = taken[0].lapsed()
                if silent is None:
                    return None
                # Kept in `taken`: the block's end still stops the keepalives and ends the holder.
                lapse.append(InstanceError(
                    f"stopped: the lock on {' and '.join(_what(key) for key in script.keys)} may have lapsed (no "
                    f"keepalive reached its holder for {silent:.0f} s; it gives up after {READ_TIMEOUT} s), so another "
                    "operation may hold it now; nothing was touched since but what this operation alone owns",
                    fix="Was iris-ops stopped (Ctrl-Z, kill -STOP)? Run the operation again; `iris-ops doctor` lists "
                    "anything this one left."))
                _log().warning("lock.lapsed", ns=namespace, silent_seconds=round(silent, 1),
                               note="from now on only what this operation alone owns is touched")
            if owned:  # its own token names what it touches: nobody else's, lock or no lock
                return None
            raise lapse[0]
        merged = first if first is not None and mergeable(first) else None
        try:
            # ends its session itself on any failure
            session, result = _take(op, script, merged, timeout or op.settings.timeout)
            # Starting the thread waits for it, and a signal may arrive there: recorded before any
            # signal can stop this, the holder is ended by the block's end, not left to its keepalives.
            with signals.finishing("the lock's keepalive starts"):
                taken.append(Keepalive(session))
        except IrisOpsError as exc:
            refused.append(exc)
            raise
        except BaseException:
            refused.append(InstanceError(f"interrupted before it could {script.purpose}"))
            raise
        _log().debug("lock.held", ns=namespace, freeze=freeze, with_script=merged.purpose if merged else None)
        return result

    op.runner.set_gate(take)
    try:
        yield
    finally:
        op.runner.set_gate(None)
        if taken:
            end_session(taken[0].end())
            _log().debug("lock.released", ns=namespace)


def _take(op: "Operation", script: LockScript, first: "Script | None" = None,
          timeout: float = 0.0) -> "tuple[OpenSession, ExecResult | None]":
    """Open the holder's session and take the locks; with ``first``, also run that script there
    once they are held (within ``timeout`` seconds) and return its output."""
    session = op.runner.open_session(LOCK_NAMESPACE)
    try:
        session.send(script.render(first).encode())
        started = time.monotonic()
        deadline = started + len(script.keys) * script.wait + op.settings.timeout
        output = _read(session, (script.marker("HELD"), script.marker("END")), deadline, script.purpose, started)
        text = output.decode("utf-8", "replace")
        if script.marker("HELD").decode() in text:
            if first is None:
                return session, None
            from iris_ops.transports.base import ExecResult

            started = time.monotonic()
            output = _read(session, (first.markers[1].encode(),), started + timeout, first.purpose, started)
            if first.markers[1].encode() not in output:  # the holder ended: its lock with it
                from iris_ops.runner import tail

                raise InstanceError(f"could not {first.purpose}: the session holding the lock ended before it "
                                    "answered", details={"output_tail": tail(output.decode("utf-8", "replace"))})
            # the session goes on (its exit status comes when it ends): the result's ``ok`` decides
            return session, ExecResult(exit_code=0, stdout=output)
        op.runner.check_login(text)
        busy = script.marker("BUSY").decode()
        if busy in text:
            found = text.split(busy, 1)[1].split(script.marker("END").decode(), 1)[0].strip()
            key, _, name = found.partition("|")
            raise _conflict(key, parse_holder(name), script.wait)
        from iris_ops.runner import tail

        raise InstanceError(f"could not {script.purpose}: the session ended without an answer",
                            details={"output_tail": tail(text)})
    except BaseException:
        end_session(session)
        raise


def _read(session: "OpenSession", markers: tuple[bytes, ...], deadline: float, purpose: str, started: float) -> bytes:
    try:
        return session.read_until(markers, deadline)
    except DeadlineExceeded as exc:  # worded as every other session that overran (the runner's)
        raise DeadlineExceeded(
            f"the session to {purpose} did not finish within {time.monotonic() - started:.1f} s "
            f"({exc.message})", details=exc.details) from exc


def _conflict(key: str, holder: Holder | None, wait: float) -> ConflictError:
    who = holder.describe() if holder else "another process (it has not recorded itself yet)"
    waited = f"; waited {wait:g} s" if wait else "; not waiting (--lock-wait 0)"
    return ConflictError(
        f"{_what(key)} is locked by {who}{waited}",
        fix="Wait for that operation to finish, or pass --lock-wait SECONDS to queue behind it. "
        "A lock dies with its process, so a crashed run never leaves one behind.",
        details={"holder": holder.__dict__ if holder else None},
    )


def end_session(session: "OpenSession") -> None:
    """End an open session, whatever it is doing, and wait for it up to :data:`CLOSE_WAIT`."""
    # A line ends the holder's read loop (and Halt ends a session still at the prompt); closing
    # stdin would end it too.
    with contextlib.suppress(Exception):
        session.send(b"Halt\n")
    with contextlib.suppress(Exception):
        session.close(time.monotonic() + CLOSE_WAIT)
