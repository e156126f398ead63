"""SIGTERM and SIGHUP get Ctrl-C's cleanup, and no second signal can abandon it.

CI runners stop a job with SIGTERM; closing a terminal sends SIGHUP.  Python turns only SIGINT
into an exception, so without this a TERM killed iris-ops mid-backup and left the instance
frozen.  Inside :func:`handled` (the CLI's error boundary installs it around every task body) the
first of SIGINT, SIGTERM or SIGHUP raises :class:`Interrupted`, a :class:`KeyboardInterrupt`, so
every ``except BaseException`` / ``finally`` cleanup path written for Ctrl-C runs unchanged:
thaw, remove the staging directory, roll a restore back, remove a partial fixture.  Every later
signal, until the task has ended, is deferred and reported on stderr, never raised: cleanup runs
to its end.  Code that cleans up after some *other* failure wraps it in :func:`shielded`, so a
first signal arriving there waits until the cleanup is done too.

An operation's point of no return (a restore's journal gone, a fixture renamed into place) is
:func:`point_of_no_return`: a signal arriving while it runs waits for it, and once it has
completed the operation *is* done: that signal and every later one are noted on stderr and
ignored, and the task ends as it would have, with its normal output and exit status.  Without
this, a signal during the last few steps (releasing the lock, printing the result) reported an
interruption and "cleanup ran" for an operation that had completed and was kept.

SIGXFSZ (a write past ``ulimit -f``) is ignored for the same span, so that the write fails with
EFBIG like a full disk, and the cleanup runs, instead of the process dying on the spot.

The exit status is 128 + the first signal's number (130 for Ctrl-C, 143 for SIGTERM, 129 for
SIGHUP).  ``kill -9`` cannot be handled: ``iris-ops doctor`` finds what it leaves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Iterator

__all__ = ["HANDLED", "Interrupted", "signal_name", "exit_code_of", "committed", "stopped_by", "handled", "shielded", "step_of_a_task",
           "finishing", "point_of_no_return"]

#: The signals that stop a task with cleanup.  SIGHUP does not exist on Windows.
HANDLED: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Interrupted(KeyboardInterrupt):
    """A task stopped by a signal; cleanup runs as for Ctrl-C, then exit 128 + ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code_of(exc: BaseException) -> int:
    """128 + the signal for :class:`Interrupted`; 130 for a plain KeyboardInterrupt."""
    return exc.exit_code if isinstance(exc, Interrupted) else 128 + signal.SIGINT


class _State:
    def __init__(self) -> None:
        self.first: int | None = None  # the signal that stopped the task
        self.pending: int | None = None  # a first signal that arrived inside a shielded block
        self.shield_depth = 0
        self.deferred: list[int] = []
        #: What completed at the point of no return (signals are then ignored), or None.
        self.committed: str | None = None
        #: What is completing inside :func:`point_of_no_return`, or None.
        self.completing: str | None = None
        #: How many :func:`step_of_a_task` blocks are open, and the signals that arrived after
        #: the point of no return of the operation one of them runs (they stop the task later).
        self.steps = 0
        self.kept: list[int] = []


_state = _State()


def _say(text: str) -> None:
    try:
        os.write(2, f"iris-ops: {text}\n".encode())
    except OSError:
        pass


def _after_commit(signum: int, said: str) -> None:
    """A signal that came after (or during) a point of no return: kept for the task's end, or,
    inside :func:`step_of_a_task`, for the end of that step."""
    _state.deferred.append(signum)
    if _state.steps:
        _state.kept.append(signum)
        _say(f"{said}: it stops the task once that step ends")
    else:
        _say(f"{said}: it is kept")


def _handler(signum: int, frame) -> None:  # noqa: ARG001 - signal handler signature
    if _state.committed is not None:
        _after_commit(signum, f"{signal_name(signum)} received after {_state.committed} completed")
        return
    if _state.first is not None or _state.pending is not None:
        _state.deferred.append(signum)
        _say(f"{signal_name(signum)} received during cleanup; it finishes first (kill -9 abandons it)")
        return
    if _state.shield_depth:
        _state.pending = signum
        if _state.completing is not None:
            _say(f"{signal_name(signum)} received while {_state.completing}; it finishes first")
        else:
            _say(f"{signal_name(signum)} received during cleanup; stopping once it has finished")
        return
    _state.first = signum
    raise Interrupted(signum)


def committed() -> str | None:
    """What completed at the running task's point of no return, if it has passed it."""
    return _state.committed


def stopped_by() -> int | None:
    """The signal that stopped the running task, if one did."""
    return _state.first


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Install the handlers for the duration of a task body (main thread only; nested use is a
    no-op).  The previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread() or getattr(_state, "installed", False):
        yield
        return
    previous = {}
    for signum in HANDLED:
        try:
            previous[signum] = signal.signal(signum, _handler)
        except (OSError, ValueError):  # e.g. an embedding that owns the signal
            pass
    if hasattr(signal, "SIGXFSZ"):
        with contextlib.suppress(OSError, ValueError):
            previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _state.__init__()
    _state.installed = True  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _state.committed = None
        _state.installed = False  # type: ignore[attr-defined]


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Run a cleanup that no signal may cut short (a thaw, a rollback, removing a staging
    directory).  A signal arriving inside is raised once the block has ended, unless another
    exception is already on its way out (the task fails anyway, with that error)."""
    _state.shield_depth += 1
    try:
        yield
    finally:
        _state.shield_depth -= 1
        if _state.shield_depth == 0 and _state.pending is not None and _state.first is None:
            signum, _state.pending = _state.pending, None
            _state.first = signum
            import sys

            if sys.exc_info()[1] is None:
                raise Interrupted(signum)


@contextlib.contextmanager
def finishing(what: str) -> Iterator[None]:
    """A short step that must not stop halfway, as :func:`shielded`, with its own words on stderr:
    ``what`` says what is under way (e.g. "the lock's keepalive starts").  For steps where something
    acquired is being recorded for its cleanup, so that a signal cannot fall between the two."""
    outer, _state.completing = _state.completing, what
    try:
        with shielded():
            yield
    finally:
        _state.completing = outer


@contextlib.contextmanager
def point_of_no_return(what: str) -> Iterator[None]:
    """The block that makes an operation's outcome final (``what`` names the outcome, e.g. "the
    restore").  A signal arriving inside waits for it, as in :func:`shielded`.  If the block
    completes, the operation is done: the waiting signal, and any later one until the task ends,
    is noted on stderr and ignored (the task reports its result and exits as without it).  If it
    raises, the operation is not done, and the signal is raised as after any shielded block."""
    with finishing(f"{what} completes"):
        yield
        if _state.first is None:  # no handler stopped the task before the block began
            if _state.pending is not None:
                signum, _state.pending = _state.pending, None
                _after_commit(signum, f"{what} completed before {signal_name(signum)} could stop it")
            _state.committed = what


@contextlib.contextmanager
def step_of_a_task(what: str) -> Iterator[None]:
    """An operation run as one step of a larger task (a restore inside ``apply``): its point of
    no return completes that step, not the task.  Once the block ends, the task can be stopped
    again, and a signal that arrived after the step's point of no return stops it then (the
    task's own cleanup undoes the step).  ``what`` names the step."""
    outer, kept = _state.committed, len(_state.kept)
    _state.steps += 1
    try:
        yield
    finally:
        _state.steps -= 1
        _state.committed = outer
        late = _state.kept[kept:]
        del _state.kept[kept:]
        import sys

        if late and outer is None and _state.first is None and sys.exc_info()[1] is None:
            _state.first = late[0]
            _say(f"{what} ended: {signal_name(late[0])} stops the task now")
            raise Interrupted(late[0])
