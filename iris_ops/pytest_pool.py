"""The pytest plugin's warm pool (``--iris-pool N``): namespaces restored before a test asks.

For each fixture a test asked for (or that ``--iris-pool-fixtures`` names), the pool keeps
``size`` namespaces restored or being restored.  A test takes a ready one at once (a hit) and
waits only when none is ready (a miss: the first request of a fixture nobody warmed, or tests
faster than the restores).  Taking one starts the restore of its replacement; a namespace given
back is deleted in the background.  A namespace is handed out once, ever.

Why processes and not a thread: each background restore and delete is an ``iris-ops restore``
(``delete-ns``) process, the same operation the CLI runs.  A restore in a thread of the pytest
process would run iris-ops' signal-dependent cleanup where no signal arrives (handlers are the
main thread's), call the user's in-process iris-ops plugins and the shared Docker client from a
second thread, write its logs into whichever test's captured output was open, and could be
neither stopped at the end of the run nor rolled back when pytest dies.  A process is stopped
with SIGTERM, which iris-ops turns into its rollback (:mod:`iris_ops.signals`); on Linux it also
gets SIGTERM when pytest dies (``PR_SET_PDEATHSIG``), even by ``kill -9``, so a restore in
flight never outlives its run half done.  Measured on the simulated IRIS (docs/pytest.md): a
restore costs about 0.8 s in the process, 2.2 s as a process, all of it off the tests' path.

The children run in a session of their own, so a Ctrl-C at the terminal reaches pytest only;
:meth:`NamespacePool.close` then stops the restores in flight and deletes what is left.

Imports only the standard library, like the plugin's import.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["PARALLEL", "PoolFailure", "Restored", "Acquired", "FixturePool", "NamespacePool"]

#: Background ``iris-ops`` processes one pool runs at once (restores and deletes together).
PARALLEL = 2

# The child: asks the kernel for SIGTERM when its parent goes (Linux), leaves at once when the
# parent went before it asked, then is the iris-ops console script.
_LAUNCH = (
    "import os, signal, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    import ctypes\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(128 + signal.SIGTERM)\n"
    "sys.argv = ['iris-ops', *sys.argv[2:]]\n"
    "from iris_ops.console import script\n"
    "script()\n"
)
TAIL_LINES = 12


class PoolFailure(Exception):
    """A background restore failed: iris-ops' message and fix, as its ``--json`` said them."""

    def __init__(self, namespace: str, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.namespace = namespace
        self.fix = fix


@dataclass
class Restored:
    """A namespace the pool restored."""

    name: str
    databases: list[str]
    seconds: float
    cached: int
    streamed: int


@dataclass
class Acquired:
    namespace: Restored
    #: a ready namespace was there when asked
    hit: bool
    #: seconds from the request to the handover
    waited: float


@dataclass
class FixturePool:
    """One fixture's namespaces and its figures."""

    key: str
    source: str
    ready: deque = field(default_factory=deque)
    restoring: int = 0
    #: a restore of it succeeded, and none failed since: keep ``size`` on the way
    proven: bool = False
    #: warmed at the start, or asked for once: worth restoring ahead
    wanted: bool = False
    waiting: int = 0
    failure: PoolFailure | None = None
    hits: int = 0
    misses: int = 0
    waits: list[float] = field(default_factory=list)
    restores: list[Restored] = field(default_factory=list)
    unused: int = 0


@dataclass
class _Job:
    kind: str  # "restore" or "delete"
    name: str
    fixture: FixturePool | None = None
    proc: subprocess.Popen | None = None
    started: float = 0.0


class NamespacePool:
    """Restores ahead of demand and deletes in the background, through ``iris-ops`` processes.

    ``names()`` gives each new namespace its name; ``env`` and ``cwd`` are the children's (the
    settings the plugin uses, as ``IRIS_OPS_*`` variables); ``program`` is how to run iris-ops
    (default: this Python, through the launcher above).  Thread-safe; the plugin calls it from
    pytest's main thread."""

    def __init__(self, size: int, names: Callable[[], str], env: dict[str, str], cwd: str,
                 parallel: int = PARALLEL, program: list[str] | None = None) -> None:
        if size < 1:
            raise ValueError("a pool holds at least one namespace")
        self.size = size
        self.parallel = max(1, parallel)
        self._names = names
        self._env = dict(env, IRIS_OPS_LOG_FORMAT="json")
        self._cwd = cwd
        self._program = program or [sys.executable, "-c", _LAUNCH, str(os.getpid())]
        self._cond = threading.Condition()
        self._fixtures: dict[str, FixturePool] = {}
        self._running: list[_Job] = []
        self._threads: list[threading.Thread] = []
        self._doomed: deque[str] = deque()
        self._closing = False
        self._abandoned = False
        #: (namespace, problem): background deletes that failed, and restores that failed at the end
        self.errors: list[list[str]] = []

    # -- what the plugin calls --------------------------------------------------------------

    def warm(self, key: str, source: str) -> None:
        """Start restoring ``source`` now, before any test asks for it."""
        with self._cond:
            self._fixture(key, source).wanted = True
            self._schedule()

    def acquire(self, key: str, source: str) -> Acquired:
        """A namespace restored from ``source`` that nobody had before; waits only when none is
        ready.  Raises :class:`PoolFailure` when the restore meant for this request failed."""
        began = time.monotonic()
        with self._cond:
            fixture = self._fixture(key, source)
            fixture.wanted = True
            hit = bool(fixture.ready)
            fixture.waiting += 1
            try:
                self._schedule()
                while not fixture.ready:
                    if self._closing:
                        raise PoolFailure("", "the pool is closing: the test session is ending")
                    if fixture.failure is not None and not fixture.restoring:
                        failure, fixture.failure = fixture.failure, None
                        raise failure
                    self._cond.wait()
                restored = fixture.ready.popleft()
            finally:
                fixture.waiting -= 1
            waited = time.monotonic() - began
            fixture.waits.append(waited)
            if hit:
                fixture.hits += 1
            else:
                fixture.misses += 1
            self._schedule()  # its replacement
        return Acquired(restored, hit, waited)

    def release(self, name: str) -> None:
        """A namespace the pool handed out is done with: delete it in the background."""
        with self._cond:
            if self._closing:
                raise RuntimeError("release after close")
            self._doomed.append(name)
            self._schedule()

    def ready(self, fixture: str) -> int:
        """How many namespaces of ``fixture`` (as a test names it, or its directory) are ready."""
        with self._cond:
            return sum(len(f.ready) for f in self._fixtures.values() if fixture in (f.key, f.source))

    def fixtures(self) -> list[FixturePool]:
        with self._cond:
            return list(self._fixtures.values())

    def close(self) -> None:
        """The end of the session: stop the restores in flight (SIGTERM: iris-ops rolls each
        back), delete every namespace never handed out and every one given back and not yet
        deleted, and wait for all of it.  Interrupted (a second Ctrl-C), it stops every child
        and leaves what remains to the next run's sweep."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            for fixture in self._fixtures.values():
                fixture.unused += len(fixture.ready)
                self._doomed.extend(restored.name for restored in fixture.ready)
                fixture.ready.clear()
            for job in self._running:
                if job.kind == "restore" and job.proc is not None:
                    job.proc.terminate()
            self._schedule()
            try:
                while self._running or self._doomed:
                    self._cond.wait()
            except BaseException:
                self._abandoned = True
                self._doomed.clear()
                for job in self._running:
                    if job.proc is not None:
                        job.proc.terminate()
                raise
        for thread in self._threads:
            thread.join()

    # -- scheduling (called with the lock held) ------------------------------------------------

    def _fixture(self, key: str, source: str) -> FixturePool:
        fixture = self._fixtures.get(source)
        if fixture is None:
            fixture = self._fixtures[source] = FixturePool(key, source)
        return fixture

    def _wanted(self, fixture: FixturePool) -> int:
        """How many restores of ``fixture`` to start now."""
        if self._closing or not fixture.wanted or fixture.failure is not None:
            return 0
        if not fixture.proven:  # the first restore alone: it fills the fixture cache, or fails once
            return 1 if not fixture.restoring and not fixture.ready else 0
        return self.size - len(fixture.ready) - fixture.restoring

    def _schedule(self) -> None:
        """Start children while there is room: a restore a test waits for first, then one
        delete at a time while deletes wait (the instance does not fill up with used
        namespaces), then the refills."""
        while len(self._running) < self.parallel:
            fixtures = sorted(self._fixtures.values(), key=lambda f: -f.waiting)
            needed = [f for f in fixtures if self._wanted(f) > 0]
            deleting = sum(1 for job in self._running if job.kind == "delete")
            if needed and needed[0].waiting:
                self._start_restore(needed[0])
            elif self._doomed and (not deleting or not needed or self._closing):
                self._start(_Job("delete", self._doomed.popleft()))
            elif needed:
                self._start_restore(needed[0])
            else:
                return

    def _start_restore(self, fixture: FixturePool) -> None:
        fixture.restoring += 1
        self._start(_Job("restore", self._names(), fixture))

    def _start(self, job: _Job) -> None:
        self._running.append(job)
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        thread = threading.Thread(target=self._run, args=(job,), name=f"iris-ops-pool-{job.kind}", daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- the children (one thread each, waiting for its process) ------------------------------

    def _argv(self, job: _Job) -> list[str]:
        if job.kind == "restore":
            task = ["restore", job.fixture.source, "--ns", job.name, "--json"]
        else:
            task = ["delete-ns", "--ns", job.name, "--yes", "--json"]
        return [*self._program, *task]

    def _run(self, job: _Job) -> None:
        # The thread that starts a child outlives it: PR_SET_PDEATHSIG fires when the starting
        # *thread* ends, not only the process.
        job.started = time.monotonic()
        out, err, code = b"", b"", None
        try:
            proc = subprocess.Popen(self._argv(job), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=self._env, cwd=self._cwd, start_new_session=True)
        except OSError as exc:
            err = str(exc).encode()
        else:
            with self._cond:
                job.proc = proc
                if (self._closing and job.kind == "restore") or self._abandoned:
                    proc.terminate()
            out, err = proc.communicate()
            code = proc.returncode
        with self._cond:
            self._running.remove(job)
            try:
                self._finished(job, code, out, err, time.monotonic() - job.started)
            finally:
                self._schedule()
                self._cond.notify_all()

    def _finished(self, job: _Job, code: int | None, out: bytes, err: bytes, seconds: float) -> None:
        doc = _document(out)
        # its result says whether it did it: a SIGTERM just after the result kills a process
        # whose work is done
        failure = None if doc.get("ok") is True else _failure(job.name, code, doc, err)
        if job.kind == "delete":
            if failure is not None:
                self.errors.append([job.name, _described(failure)])
            return
        fixture = job.fixture
        fixture.restoring -= 1
        if failure is not None:
            if self._closing:
                # stopped by close()'s SIGTERM: rolled back (143), or gone before it began (-15)
                if code not in (-signal.SIGTERM, 128 + signal.SIGTERM):
                    self.errors.append([job.name, _described(failure)])
                return
            fixture.proven = False
            fixture.failure = failure
            return
        databases = doc.get("databases") or []
        cached = sum(1 for db in databases if db.get("cached"))
        restored = Restored(job.name, [str(db.get("name")) for db in databases], seconds, cached,
                            len(databases) - cached)
        fixture.restores.append(restored)
        if self._closing:  # finished before the SIGTERM arrived: nobody will take it
            fixture.unused += 1
            self._doomed.append(job.name)
            return
        fixture.proven = True
        fixture.ready.append(restored)


def _document(out: bytes) -> dict:
    try:
        doc = json.loads(out.decode("utf-8", errors="replace"))
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _failure(namespace: str, code: int | None, doc: dict, err: bytes) -> PoolFailure:
    if doc.get("error"):
        return PoolFailure(namespace, str(doc["error"]), doc.get("fix") or None)
    tail = "\n".join(err.decode("utf-8", errors="replace").rstrip().splitlines()[-TAIL_LINES:])
    what = "could not start" if code is None else f"exited {code}"
    return PoolFailure(namespace, f"the iris-ops process {what} with no result: {tail or 'no output'}")


def _described(failure: PoolFailure) -> str:
    return str(failure) + (f" (fix: {failure.fix})" if failure.fix else "")
