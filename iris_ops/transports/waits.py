"""Waiting for a session's output without losing a signal.

Python runs a signal's handler only between bytecodes.  A Ctrl-C or SIGTERM that arrives after
the last such check and before a blocking ``select`` or ``recv`` begins does not interrupt it:
its handler (:mod:`iris_ops.signals`, which starts the cleanup) would wait until the session
writes or the call's deadline passes, which for a quiet script is its whole run.  Every wait for
output is therefore cut into slices of at most :data:`SLICE` seconds; between two slices the
interpreter runs any handler that is due.

(The cure Python documents, :func:`signal.set_wakeup_fd`, takes a process-wide setting: iris-ops
also runs inside other programs, pytest and a user's ``tasks.py``, which may own it.)
"""

from __future__ import annotations

import select
import time

__all__ = ["SLICE", "readable"]

#: The longest a signal may wait for its handler while iris-ops waits for output (seconds).
SLICE = 0.25


def readable(source, seconds: float) -> bool:
    """Whether ``source`` (a descriptor, or an object with ``fileno``) has something to read
    within ``seconds``: ``select`` in slices of :data:`SLICE`."""
    end = time.monotonic() + max(0.0, seconds)
    while True:
        left = end - time.monotonic()
        ready, _, _ = select.select([source], [], [], max(0.0, min(SLICE, left)))
        if ready:
            return True
        if left <= SLICE:
            return False
