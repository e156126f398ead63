"""What ``iris-ops doctor`` reports: one :class:`Leftover` per thing an interrupted run left behind.

Doctor's own checks (:mod:`iris_ops.operations.doctor` and its helpers) and any plugin's (the
``doctor_findings`` hook) all return these, so the class lives below the hook specifications.
``doctor --fix`` calls each leftover's ``action`` after confirmation.  One whose ``action`` is
None is reported but never repaired: iris-ops did not make it, or may not touch it yet, and its
``repair`` says what the user can do.  (The fixture's checks report :class:`iris_ops.fixture.Finding`.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Leftover"]


@dataclass
class Leftover:
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
