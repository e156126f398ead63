"""The backup's frozen copy where the storage shares blocks (:mod:`iris_ops.storage`): the
staging copies are reflinks the transport makes while the instance is frozen.

One session freezes and waits at its prompt while the transport reflinks the files; then the
same session copies what could not be reflinked, proves the freeze held (IsWDSuspended) and
thaws (:func:`iris_ops.script_builders.copy_and_thaw`).  One session, so no second login meets
the freeze, and every copy is made between the freeze and the check, as in the one-script copy.
A failure in between leaves the thaw to the backup's own handler, as for a lost session.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from iris_ops import script_builders, signals

if TYPE_CHECKING:
    from iris_ops.operation import Operation
    from iris_ops.script_builders.freeze import FreezeOwner

__all__ = ["freeze_reflink_thaw"]


def freeze_reflink_thaw(op: "Operation", stage: str, copies: list[tuple[str, str]], owner: "FreezeOwner", *,
                        timeout: float) -> dict:
    """Freeze, reflink ``copies`` (each (source, target)), copy the rest, check, thaw; the two
    scripts' results with ``methods`` (one per copy, :data:`iris_ops.storage.REFLINK` or
    :data:`iris_ops.storage.COPY`)."""
    from iris_ops import locks, storage

    deadline = time.monotonic() + timeout
    frozen = script_builders.freeze_and_copy(stage, copies, freeze_timeout=op.settings.freeze_timeout,
                                             freeze_limit=op.settings.freeze_limit, owner=owner, reflink=True)
    session = op.runner.open_session("%SYS", timeout=op.settings.timeout)
    try:
        kept = op.runner.run_in(session, frozen, deadline=deadline)
        methods = storage.reflink(op, copies, "staging")
        finish = script_builders.copy_and_thaw(copies, [m == storage.REFLINK for m in methods], owner=owner)
        done = op.runner.run_in(session, finish, deadline=deadline, final=True)
    finally:
        with signals.shielded():
            locks.end_session(session)  # a no-op once the last script halted it
    return {**kept, **done, "methods": methods}
