"""Open transactions as the instance sees them: ``%SYS.ProcessQuery.InTransaction``.

[DOC] ref/2024.1/%SYS/ProcessQuery.cls: InTransaction is an %Integer, 0 when the process is not
in a transaction, and above 0 "the offset in the journal file where the transaction has
started".  So the simulator keeps a journal position that every transaction start moves on
(a begin record), and a process's row carries the offset where its transaction began: a
plausible byte offset, never 1.

Each transaction is recorded under the process's ``$JOB`` (its OS pid) with the pid's start
time, so a process that died without ending its transaction (``kill -9``) no longer shows: IRIS
cleans up after a dead process, and a recycled pid is not mistaken for it.  A job that is no
OS process here (an in-process session of the unit tests) shows until its transaction ends.  ``iris-sim
transaction open`` seeds a process that exists only in the state (no pid): it shows until it
is closed.
"""

from __future__ import annotations

import time

__all__ = ["JOURNAL_START", "BEGIN_RECORD", "JournalMixin"]

#: Where the first transaction of a new instance begins: past a journal file's header [SIM].
JOURNAL_START = 131072
#: What a begin-transaction record takes in the journal [SIM].
BEGIN_RECORD = 48


def _start_time(pid: int) -> str | None:
    """The process's start time (``/proc/<pid>/stat`` field 22), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


class JournalMixin:
    """Transactions of :class:`SimInstance` (state key ``transactions``, journal ``journal_offset``)."""

    def _next_offset(self, st: dict) -> int:
        offset = int(st.get("journal_offset") or JOURNAL_START)
        st["journal_offset"] = offset + BEGIN_RECORD
        return offset

    def begin_transaction(self, job: int, namespace: str) -> int:
        """The outermost TSTART of process ``job``: returns the journal offset it began at."""
        with self.locked() as st:
            offset = self._next_offset(st)
            st.setdefault("transactions", {})[str(job)] = {
                "namespace": str(namespace).upper(), "offset": offset, "since": time.time(),
                "pid_start": _start_time(int(job)),
            }
            return offset

    def end_transaction(self, job: int) -> None:
        """The transaction of ``job`` ended (committed or rolled back)."""
        with self.locked() as st:
            st.setdefault("transactions", {}).pop(str(job), None)

    def open_transaction(self, namespace: str) -> str:
        """Seed a process that holds an open transaction, with no OS process behind it (``iris-sim
        transaction open``).  Returns its id."""
        with self.locked() as st:
            transactions = st.setdefault("transactions", {})
            job = str(max([int(k) for k in transactions if transactions[k].get("seeded")] or [90000]) + 1)
            transactions[job] = {"namespace": str(namespace).upper(), "offset": self._next_offset(st),
                                 "since": time.time(), "seeded": True}
            return job

    def close_transaction(self, job: str) -> bool:
        with self.locked() as st:
            return st.setdefault("transactions", {}).pop(str(job), None) is not None

    @staticmethod
    def _live_transactions(st: dict) -> dict[str, dict]:
        """The transactions whose process still runs (seeded ones always)."""
        live = {}
        for job, t in st.get("transactions", {}).items():
            if t.get("seeded") or t.get("pid_start") is None or _start_time(int(job)) == t["pid_start"]:
                live[job] = t
        return live

    def processes(self) -> list[dict]:
        """The rows of %SYS.ProcessQuery the simulator knows: the processes in a transaction."""
        return [{"JobNumber": int(job), "NameSpace": t["namespace"], "InTransaction": int(t["offset"])}
                for job, t in sorted(self._live_transactions(self._state()).items(), key=lambda kv: int(kv[0]))]

    def _open_transaction_count(self, st: dict) -> int:
        return len(self._live_transactions(st))
