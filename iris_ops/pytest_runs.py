"""The pytest plugin's runs, as the instance sees them: each pytest process's record, and the
sweep of the namespaces of runs that died.

Names are ``PYT_<run id>_<worker>_<n>``: the run id is shared by pytest-xdist workers.  Each run
keeps a record of itself in the instance (``<mgr>/iris-ops-pytest/<run>-<worker>.json``: host,
pid) while it runs; at session start, namespaces of runs with no record, or whose record names a
dead process, are deleted and reported.  A run whose record is on another host counts as alive
for a day.  Namespaces kept by ``--iris-keep`` are listed in their run's record and never swept.
The warm pool's namespaces (:mod:`iris_ops.pytest_pool`) carry the same names, so a run that died
with a pool is swept like any other.
"""

from __future__ import annotations

import json
import os
import socket
import time

__all__ = ["PREFIX", "STALE_FOREIGN_RUN", "RECORD_REFRESH", "RunRecords"]

PREFIX = "PYT_"
STALE_FOREIGN_RUN = 24 * 3600
#: With a pool, the run's record is rewritten at most this often (without one, after each
#: restore): often enough that a run on another host never looks stale, and no exec per test.
RECORD_REFRESH = 3600


class RunRecords:
    """What :class:`iris_ops.pytest_plugin.IrisSession` does about runs: its ``run_id``,
    ``worker``, ``report``, ``operation()`` and ``delete()`` are used here."""

    _record_directory: str | None = None
    _record_written = 0.0

    def _record_path(self, run: str, worker: str) -> str:
        """Where the record of run ``run``, worker ``worker`` lives in the instance."""
        from iris_ops import script_builders

        if self._record_directory is None:
            facts = self.operation("pytest").runner.run(script_builders.manager_directory(), changes=False)
            self._record_directory = facts["manager_directory"].rstrip("/") + "/iris-ops-pytest/"
        return f"{self._record_directory}{run}-{worker}.json"

    def _write_record(self, kept: list[str] | None = None) -> None:
        import io

        data = json.dumps({"run": self.run_id, "worker": self.worker, "host": socket.gethostname(),
                           "pid": os.getpid(), "updated": time.time(), "kept": kept or []}).encode()
        self.operation("pytest").runner.write_file(io.BytesIO(data), len(data),
                                                    self._record_path(self.run_id, self.worker),
                                                    timeout=self._settings.timeout)
        self._record_written = time.time()

    def _remove_record(self) -> None:
        """At the end of the run: gone, or, when --iris-keep kept namespaces, saying so (the
        sweep never touches a namespace kept on purpose)."""
        if self._settings is None:
            return
        if self.report.kept:
            self._write_record(kept=[name for name, _fixture in self.report.kept])
        else:
            self.operation("pytest").runner.remove_path(self._record_path(self.run_id, self.worker))

    def _alive(self, run: str, worker: str, cache: dict) -> bool:
        """Whether the run that made a namespace may still be running: its record names a live
        process on this host, or was updated recently on another.  No record: dead."""
        key = (run, worker)
        if key not in cache:
            try:
                cache[key] = _alive(self.operation("pytest").runner.read_json(self._record_path(run, worker),
                                                                              timeout=self._settings.timeout))
            except ValueError:  # a record half written: its run is alive this time
                cache[key] = True
            except Exception:  # no record at all: the run is gone
                cache[key] = False
        return cache[key]

    def sweep(self) -> None:
        """Delete namespaces of earlier runs that died (their prefix, no live record), and
        their records."""
        from iris_ops import script_builders

        runner = self.operation("pytest").runner
        names = runner.run(script_builders.namespace_names(), changes=False).get("namespaces", [])
        verdicts: dict = {}
        for name in names:
            parts = name[len(PREFIX):].split("_") if name.startswith(PREFIX) else []
            if len(parts) != 3 or parts[0] == self.run_id or self._alive(parts[0], parts[1], verdicts):
                continue
            try:
                if self.delete(name):
                    self.report.swept.append(name)
            except Exception as exc:  # reported, never fatal to this run
                self.report.sweep_errors.append([name, str(exc)])
        for (run, worker), alive in verdicts.items():
            if not alive:
                runner.remove_path(self._record_path(run, worker))


def _alive(record: dict) -> bool:
    if record.get("kept"):
        return True  # kept with --iris-keep: the user deletes them (iris-ops delete-ns)
    if record.get("host") != socket.gethostname():
        return time.time() - float(record.get("updated") or 0) < STALE_FOREIGN_RUN
    try:
        os.kill(int(record.get("pid") or 0), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True

