"""What a run on many targets ends with: a row per target, one table, and one exit code.

The run's exit code is the worst of the targets', by :data:`SEVERITY` (most severe first): an
internal error is the most urgent to report; an instance that refused or failed an operation may
need attention on it; an unreachable one is next; then validation, conflicts and usage.  0 only
when every target succeeded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

__all__ = ["SEVERITY", "severity", "worst", "Row", "table", "summary"]

#: Exit codes by severity, most severe first.  A code not named here (a child killed by a signal,
#: 128 + N) ranks right after 1: the target ended without saying why.
SEVERITY = (1, 5, 6, 4, 3, 2, 0)


def severity(code: int) -> int:
    """A sort key: lower is more severe."""
    if code in SEVERITY:
        index = SEVERITY.index(code)
        return index if index == 0 else index + 1
    return 1


def worst(codes: Iterable[int]) -> int:
    """The most severe of ``codes`` (0 when there are none)."""
    return min(codes, key=severity, default=0)


@dataclass
class Row:
    """One target's outcome: ``result`` is ok, failed, interrupted or not started; ``figure`` the
    task's key figure (a successful run's), ``error`` the target's own message (a failed one's)."""

    target: str
    result: str
    exit_code: int | None
    seconds: float | None
    figure: str = ""
    error: str = ""

    def to_dict(self) -> dict:
        doc = asdict(self)
        doc["seconds"] = None if self.seconds is None else round(self.seconds, 3)
        return doc


def table(rows: list[Row]) -> str:
    """The rows as aligned columns: target, result, exit code, seconds, and the key figure (or
    the target's error)."""
    head = ("TARGET", "RESULT", "EXIT", "SECONDS", "FIGURE / ERROR")
    cells = [head] + [(row.target, row.result, "" if row.exit_code is None else str(row.exit_code),
                       "" if row.seconds is None else f"{row.seconds:.1f}", row.figure or row.error)
                      for row in rows]
    widths = [max(len(cell[i]) for cell in cells) for i in range(4)]
    lines = []
    for cell in cells:
        lead = "  ".join(text.rjust(width) if i in (2, 3) else text.ljust(width)
                         for i, (text, width) in enumerate(zip(cell[:4], widths)))
        lines.append(f"{lead}  {cell[4]}".rstrip())
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    """One line: how many targets failed, and which, with their exit codes."""
    failed = [row for row in rows if row.exit_code not in (0,) and row.result != "not started"]
    skipped = [row for row in rows if row.result == "not started"]
    if not failed and not skipped:
        return f"all {len(rows)} targets succeeded"
    said = ", ".join(f"{row.target} (exit {row.exit_code})" for row in failed)
    text = f"{len(failed)} of {len(rows)} targets failed" + (f": {said}" if said else "")
    if skipped:
        text += f"; {len(skipped)} not started"
    return text
