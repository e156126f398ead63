"""What the pytest plugin tells the user at the end of a run: which instance the namespaces came
from (said plainly when it was a simulated one), the namespaces swept and kept, and with
``--iris-report`` the restore times per fixture, and with ``--iris-pool`` the pool's hits, misses
and waits per fixture.

Each pytest process that restored something fills one :class:`RunReport`.  Under pytest-xdist
the workers' terminal summaries are never shown, so each worker hands its report to the
controller (``config.workeroutput``, as plain data) and the controller merges them and prints
them as a serial run would.  Imports only the standard library, like the plugin's import.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["WORKER_KEY", "RestoreRecord", "PoolRecord", "RunReport"]

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
class PoolRecord:
    """One fixture's warm pool in one pytest process (``--iris-pool``)."""

    fixture: str
    size: int
    #: requests served by a namespace that was ready
    hits: int
    #: requests that waited for a restore
    misses: int
    #: seconds all requests waited for their namespace
    waited: float
    #: namespaces restored in the background, and of those the ones never handed out
    restored: int
    unused: int


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
    pools: list[PoolRecord] = field(default_factory=list)
    #: (namespace, problem): what the pool's background work could not delete (or restore at the end)
    pool_errors: list[list[str]] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        """Plain lists and dicts, which execnet carries from a worker to the controller."""
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "RunReport":
        values = dict(data)
        values["restores"] = [RestoreRecord(**r) for r in data.get("restores", [])]
        values["pools"] = [PoolRecord(**r) for r in data.get("pools", [])]
        return cls(**values)

    def merge(self, other: "RunReport") -> None:
        for name in ("where", "simulated", "restores", "kept", "lost", "pools", "pool_errors"):
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
        out.extend(f"iris-ops: the pool could not finish with {ns}: {problem}; the next run sweeps it"
                   for ns, problem in self.pool_errors)
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
        if report:
            out.extend(self._pool_lines())
        return out

    def _pool_lines(self) -> list[str]:
        """Per fixture, summed over the processes (each xdist worker has a pool of its own)."""
        by_fixture: dict[str, list[PoolRecord]] = {}
        for record in self.pools:
            by_fixture.setdefault(record.fixture, []).append(record)
        out = []
        for fixture, records in by_fixture.items():
            hits, misses = sum(r.hits for r in records), sum(r.misses for r in records)
            sizes = "/".join(_unique([str(r.size) for r in records]))
            per = f" in each of {len(records)} processes" if len(records) > 1 else ""
            out.append(f"  {fixture}: pool of {sizes}{per}: {hits} hits, {misses} misses, "
                       f"{sum(r.waited for r in records):.2f} s waiting for a namespace in all; "
                       f"{sum(r.restored for r in records)} restored in the background, "
                       f"{sum(r.unused for r in records)} of them never used")
        return out


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
