"""How a simulated ``iris`` or ``iris-sim`` process ends: with its exit status, minus the teardown.

Python's own exit frees every module and object one by one.  For a process as short as an
``iris session`` that was a tenth of its CPU time (about 6 ms on a two-core VM, where freeing
memory is slow: docs/PERFORMANCE.md), spent on memory the kernel is about to take back anyway.
What a program may rely on at exit still happens, in Python's order: the ``atexit`` handlers,
then stdout and stderr are flushed.  The simulator writes its files through ``with`` blocks
and raw descriptors, so no buffered file is left for the teardown to flush.

iris_ops.console does the same for ``iris-ops``; the simulator cannot import iris-ops (a
container has only the standard library), hence this copy.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

__all__ = ["leave"]


def leave(status: int | None) -> None:
    """End the process with ``status`` (a main function's return value) as ``sys.exit`` would.
    Python's own exit is taken when another thread still runs (it waits for a non-daemon one)
    or where ``atexit`` cannot run its handlers here."""
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if threading.active_count() > 1 or run_handlers is None or not isinstance(status, (int, type(None))):
        sys.exit(status)
    run_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed by its reader, or by the program
            pass
    os._exit((status or 0) & 0xFF)
