"""Whether an earlier apply left its journal (:mod:`iris_ops.operations.apply_journal`): ``apply``
refuses to start over one, and what changes nothing (``plan``, ``apply --check``, ``apply
--dry-run``) warns about it, since what it shows includes what that apply made and ``doctor
--fix`` would undo.  Apart from the journal, which reads objects through ``plan``: so that
``plan`` can ask without an import circle."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iris_ops import names
from iris_ops.operations.restore_journal import ROLLING_BACK, UNDER_WAY

if TYPE_CHECKING:
    from iris_ops.operation import Operation

__all__ = ["JOURNAL_NAMES", "UNFINISHED_FIX", "unfinished", "refuse_unfinished", "warn_unfinished", "unfinished_line"]

#: The journal's names in the manager directory: under way, and rolling back.
JOURNAL_NAMES = {"iris-ops-apply.json": UNDER_WAY, "iris-ops-apply.rollback.json": ROLLING_BACK}

#: What to do about an earlier apply's journal.
UNFINISHED_FIX = "Run `iris-ops doctor --fix`: it rolls that apply back; then apply again."


def unfinished(op: "Operation", manager_directory: str) -> str | None:
    """The path of an earlier apply's journal in ``manager_directory``, or None."""
    directory = names.directory(manager_directory)
    entries = set(op.runner.list_directory(directory, timeout=op.settings.timeout))
    left = sorted(entry for entry in JOURNAL_NAMES if entry in entries)
    return f"{directory}{left[0]}" if left else None


def refuse_unfinished(op: "Operation", manager_directory: str) -> None:
    """Exit 3 when an earlier apply's journal is there: its changes must be rolled back first
    (a new journal would take its place, and its undo would be lost)."""
    from iris_ops.errors import ConflictError

    journal = unfinished(op, manager_directory)
    if journal:
        raise ConflictError(f"an earlier apply did not finish: its journal {journal} lists changes to undo",
                            fix=UNFINISHED_FIX)


def warn_unfinished(op: "Operation", manager_directory: str) -> str | None:
    """For what changes nothing (plan, ``apply --check``, ``apply --dry-run``): log a warning when
    an earlier apply's journal is there, since ``apply`` is refused until it is rolled back and
    what the instance shows now is what that rollback would undo.  The journal's path, or None."""
    journal = unfinished(op, manager_directory)
    if journal:
        op.log.warning("apply.unfinished", journal=journal,
                       note="an earlier apply did not finish: apply is refused until it is rolled back, and the "
                            "rollback undoes the changes it made", fix=UNFINISHED_FIX)
    return journal


def unfinished_line(journal: str) -> str:
    return f"an earlier apply did not finish ({journal}): `iris-ops doctor --fix` rolls it back; apply is refused until then"
