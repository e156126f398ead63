"""What the pytest plugin tells the user at the end of a run: which instance the namespaces came
from (said plainly when it was a simulated one), the namespaces swept and kept, and with
``--iris-report`` the restore times per fixture.

Each pytest process that restored something fills one :class:`RunReport`.  Under pytest-xdist
the workers' terminal summaries are never shown, so each worker hands its report to the
controller (``config.workeroutput``, as plain data) and the controller merges them and prints
them as a serial run would.  Imports only the standard library, like the plugin's import.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["WORKER_KEY", "RestoreRecord", "RunReport"]

#: The key of a worker's report in ``config.workeroutput``.
WORKER_KEY = "iris_ops_pytest"


@dataclass
class RestoreRecord:
    fixture: str
    namespace: str
    seconds: float
    cached: int
    streamed: int


@dataclass
class RunReport:
    #: where each process restored into ("container iris", "the local instance", ...)
    where: list[str] = field(default_factory=list)
    #: of those, the simulated instances (``--iris-sim``), as their plugin names them
    simulated: list[str] = field(default_factory=list)
    restores: list[RestoreRecord] = field(default_factory=list)
    #: (namespace, fixture) kept by ``--iris-keep``
    kept: list[list[str]] = field(default_factory=list)
    #: namespaces of failed tests that ``--iris-keep`` could not keep: their instance goes
    lost: list[str] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)
    #: (namespace, problem)
    sweep_errors: list[list[str]] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        """Plain lists and dicts, which execnet carries from a worker to the controller."""
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "RunReport":
        values = dict(data)
        values["restores"] = [RestoreRecord(**r) for r in data.get("restores", [])]
        return cls(**values)

    def merge(self, other: "RunReport") -> None:
        for name in ("where", "simulated", "restores", "kept", "lost"):
            getattr(self, name).extend(getattr(other, name))
        # xdist workers of one run sweep the same dead runs at the same moment: a namespace is
        # swept once, and another worker's failure on a namespace that went is no failure.
        self.swept.extend(name for name in other.swept if name not in self.swept)
        self.sweep_errors = [[ns, problem] for ns, problem in self.sweep_errors + other.sweep_errors
                             if ns not in self.swept]

    def lines(self, report: bool) -> list[str]:
        out = []
        if self.simulated:
            out.append(f"iris-ops: these tests ran against a simulated IRIS (--iris-sim), not a real one: "
                       f"{'; '.join(_unique(self.simulated))}")
        if self.swept or self.sweep_errors:
            out.append(f"iris-ops: swept {len(self.swept)} namespace(s) left by runs that died: {', '.join(self.swept)}")
            out.extend(f"iris-ops: could not sweep {ns}: {problem}" for ns, problem in self.sweep_errors)
        for name, fixture in self.kept:
            out.append(f"iris-ops: kept {name} (failed test; fixture {fixture}): iris-ops run --ns {name} "
                       f"'Write $Namespace'; delete it with iris-ops delete-ns --ns {name} --yes")
        if self.lost:
            out.append(f"iris-ops: --iris-keep kept nothing: the simulated IRIS is removed at the end of the run, "
                       f"with {', '.join(self.lost)}; aim the tests at a container (--iris-container NAME) to keep them")
        if report and self.restores:
            out.append(f"iris-ops: restores on {' and '.join(_unique(self.where))}")
            by_fixture: dict[str, list[RestoreRecord]] = {}
            for record in self.restores:
                by_fixture.setdefault(record.fixture, []).append(record)
            for fixture, records in by_fixture.items():
                times = sorted(r.seconds for r in records)
                out.append(f"  {fixture}: {len(records)} restores, median {times[len(times) // 2]:.2f} s, "
                           f"max {times[-1]:.2f} s; databases from the cache: {sum(r.cached for r in records)}, "
                           f"streamed: {sum(r.streamed for r in records)}")
        return out


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
