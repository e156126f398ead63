"""The simulated ``iris`` command as a program: ``iris session``, ``iris terminal``, ``iris qlist``
and ``iris list``.

Each ``iris session`` is its own OS process, as on IRIS: everything instance-wide (the freeze,
mounts, configuration) is shared through the instance's files under its install directory,
guarded by ``flock``.  Standard library only, so that it runs in a minimal container; the same
program runs on a host as a native install (its launcher sets ``IRISSIM_REGISTRY``).

``IRISSIM_DELAY=SECONDS`` (a test switch, in the container's environment) makes every ``iris
session`` wait that long before it reads its input: a slow, overloaded instance that overruns
every deadline.  The session then runs what it was sent, as a late IRIS process would.

A session is a job of the instance's job table (``instance/jobtable.py``), so that another one
can end it with ``$SYSTEM.Process.Terminate(pid)``: SIGTERM ends it as a ``Halt`` with the status
asked for, also while it waits for input: the wait watches a wakeup pipe beside the input, so a
signal that comes just before the read cannot leave the session at its prompt.
With the variant ``eof-keeps-session`` (``variants.py``) the session never sees the end of its
input: it reads from a pipe this process keeps open, fed from the real input.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time

from . import variants
from .instance import SimInstance, jobtable
from .instance.fs import NativeFS, current_user
from .objectscript.runtime import Halt
from .objectscript.terminal import Instances, LineInput, iris_main

__all__ = ["main", "slow_down"]


def _write(data: bytes) -> None:
    """Unbuffered, so that the banner and prompts leave at once, as IRIS writes them."""
    view = memoryview(data)
    while view:
        written = os.write(1, view)
        view = view[written:]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    problem = variants.check_environment()
    if problem:
        sys.stderr.write(f"iris: {problem}\n")
        return 1
    session = argv[:1] in (["session"], ["terminal"])
    if argv[:1] == ["session"]:
        slow_down(os.environ.get("IRISSIM_DELAY", ""))
    if session and variants.on(variants.EOF_KEEPS_SESSION):
        keep_input_open()
    fs = NativeFS()
    stdin = LineInput(sys.stdin.buffer, wake=_wakeup_pipe() if session else None)

    def find(name: str):
        try:
            found = SimInstance.open(fs, name)
        except LookupError:
            return None
        if session:
            signal.signal(signal.SIGTERM, functools.partial(_terminated, jobtable.location(found)))
        return found

    def every() -> list:
        return SimInstance.every(fs)

    try:
        return iris_main(Instances(find, every), argv, stdin, _write, user=current_user(), job=os.getpid())
    except BrokenPipeError:
        return 1
    except Halt as h:  # terminated by another process while it waited for input
        return h.exit_code


def _wakeup_pipe() -> int:
    """A pipe every signal writes to (:func:`signal.set_wakeup_fd`); its reading end, for the
    session's input to wait on beside the input itself (``LineInput``)."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    return read_end


def _terminated(where, signum, frame) -> None:  # noqa: ARG001
    """SIGTERM from ``$SYSTEM.Process.Terminate``: end as ``Halt`` would, so that the session
    releases what it holds on its way out."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise Halt(jobtable.exit_status(where, os.getpid()))


def keep_input_open() -> None:
    """The variant ``eof-keeps-session``: fd 0 becomes a pipe fed from the real input whose
    writing end stays open after that input ends, so the session waits at its prompt as if more
    might come."""
    real = os.dup(0)
    read_end, write_end = os.pipe()

    def relay() -> None:
        while True:
            try:
                chunk = os.read(real, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                return  # write_end stays open: no end of input, ever
            view = memoryview(chunk)
            while view:
                view = view[os.write(write_end, view):]

    os.dup2(read_end, 0)
    os.close(read_end)
    threading.Thread(target=relay, name="input-relay", daemon=True).start()


def slow_down(delay: str) -> None:
    """The ``IRISSIM_DELAY`` switch: wait ``delay`` seconds (empty or 0: not at all)."""
    seconds = float(delay) if delay else 0.0
    if seconds > 0:
        time.sleep(seconds)


if __name__ == "__main__":
    sys.exit(main())
