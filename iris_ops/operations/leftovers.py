"""What ``iris-ops doctor`` reports: one :class:`Finding` per thing an interrupted run left behind.

Doctor's own checks, the fixture cache's and any plugin's (the ``doctor_findings`` hook) all
return these; ``doctor --fix`` calls each finding's ``action`` after confirmation.  A finding
whose ``action`` is None is reported but never repaired: iris-ops did not make it, or may not
touch it yet, and its ``repair`` says what the user can do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Finding:
    """``kind``: a short word (``frozen``, ``staging``, ...); ``where``: the path, name or instance;
    ``problem`` and ``repair``: one line each, for people; ``action``: what ``--fix`` runs, or
    None when iris-ops must not repair it."""

    kind: str
    where: str
    problem: str
    repair: str
    action: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def fixable(self) -> bool:
        return self.action is not None

    def row(self) -> dict:
        return {"kind": self.kind, "where": self.where, "problem": self.problem, "repair": self.repair,
                "fixable": self.fixable}
