"""The background writer tests use to keep a database busy (``iris-sim writer`` runs it in its
own process)."""

from __future__ import annotations

import threading

from .writedaemon import FrozenWaitCancelled

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from .sql import SqlInstance

__all__ = ["MODES", "Writer"]

MODES = ("update", "insert")


class Writer:
    """Keeps writing ``table``; obeys the freeze like any process (it blocks only after
    ExternalFreezeTimeOut).  ``update``: ``UPDATE t SET c = c + 1``; ``insert``: one row per step
    whose ``c`` is 1 more than the largest so far."""

    def __init__(self, inst: SqlInstance, namespace: str, table: str, column: str, interval: float,
                 mode: str = "update") -> None:
        if mode not in MODES:
            raise ValueError(f"writer mode must be one of {', '.join(MODES)}")
        self.inst = inst
        if mode == "update":
            self.statement = f"UPDATE {table} SET {column} = {column} + 1"
        else:
            self.statement = f"INSERT INTO {table} ({column}) SELECT COALESCE(MAX({column}), 0) + 1 FROM {table}"
        self.namespace = namespace
        self.interval = interval
        self.updates = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sim-writer-{table}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._step()
            self._stop.wait(self.interval)

    def _step(self) -> None:
        """One write (``iris-sim writer`` drives this from its own process)."""
        from . import sql

        try:
            sql.execute(self.inst, self.namespace, self.statement, (), cancelled=self._stop.is_set)
            self.updates += 1
        except FrozenWaitCancelled:
            self._stop.set()
        except Exception as e:  # recorded for the test to see; the writer keeps going
            self.errors.append(str(e))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.updates
