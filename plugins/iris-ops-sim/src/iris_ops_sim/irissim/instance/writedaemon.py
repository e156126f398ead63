"""The write daemon and the external freeze (IRIS.md §4, ref/2024.1/Backup/General.cls).

What IRIS does on a non-clustered instance, and so what this module does:

* ``ExternalFreeze`` suspends the write daemon only.  Processes keep running; their updates go
  to the global buffers in memory and stay visible to every reader (SQL included), but the
  IRIS.DAT files on disk do not change.  A byte copy taken while frozen therefore holds the
  pre-freeze state.  [DOC]
* ``ExternalThaw`` resumes the write daemon, which writes the buffered updates to the files. [DOC]
* ``WDSuspendLimit`` (seconds, 0 = never): once passed, the write daemon resumes "as when
  ExternalThaw is called"; a copy still running is no longer consistent. [DOC]
* ``ExternalFreezeTimeOut`` (seconds, 0 = the system default of 600, at most 1200: a larger
  value is used as 1200): after it, processes that update a database block until the thaw. [DOC]

The buffer pool is shared between processes (each ``iris session`` is its own OS process), so
it lives in files: one pending image per database directory under ``mgr/.sim/buffers/``, written
by atomic rename.  ``mgr/.sim/buffers.lock`` orders everything that writes: an update holds it
exclusively from "is the write daemon suspended?" to the end of its write, so that a freeze
returns only once no write to an IRIS.DAT is in flight, and a flush never races an update.
Readers hold it shared.  The limit is checked lazily on every access and by
:meth:`WriteDaemonMixin.write_daemon_tick`, which the container's ``iris-sim daemon`` calls
every 0.2 s.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time

from . import datfile

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Callable, Iterator

__all__ = ["DEFAULT_FREEZE_TIMEOUT", "MAX_FREEZE_TIMEOUT", "FrozenWaitCancelled", "WriteDaemonMixin"]

#: ExternalFreezeTimeOut when 0 is passed: "the system will wait for 600 seconds". [DOC]
DEFAULT_FREEZE_TIMEOUT = 600.0
#: ExternalFreezeTimeOut's maximum: a larger value is used as 1200 (IRIS.md section 4). [DOC, one source]
MAX_FREEZE_TIMEOUT = 1200.0
_POLL = 0.005


class FrozenWaitCancelled(Exception):
    """A writer gave up waiting for the freeze to end (its owner stopped it)."""


def _buffer_name(directory: str) -> str:
    import hashlib  # lazily: only sessions that touch a database during a freeze need it

    return hashlib.sha1(directory.encode()).hexdigest() + ".pending"


class WriteDaemonMixin:
    """Freeze, thaw, the shared buffer pool and the write daemon of :class:`SimInstance`."""

    _held = threading.local()  # buffers.lock is flock-based: make it re-entrant per thread

    # --- the buffer lock -----------------------------------------------------------------------

    @property
    def _buffers_dir(self) -> str:
        return self._sim + "/buffers"

    @contextlib.contextmanager
    def _buffer_lock(self, exclusive: bool) -> Iterator[None]:
        key = self._sim
        held = getattr(self._held, "locks", None)
        if held is None:
            held = self._held.locks = {}
        mode = held.get(key)
        if mode is not None:
            if exclusive and mode != "ex":
                raise RuntimeError("buffers.lock held shared cannot be upgraded")
            yield
            return
        host = self._host(self._sim + "/buffers.lock")
        with open(host, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            held[key] = "ex" if exclusive else "sh"
            try:
                yield
            finally:
                del held[key]
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _holds_buffer_lock(self, exclusive: bool = False) -> bool:
        mode = getattr(self._held, "locks", {}).get(self._sim)
        return mode == "ex" if exclusive else mode is not None

    # --- state ---------------------------------------------------------------------------------

    @staticmethod
    def _freeze_expired(fz: dict | None, now: float | None = None) -> bool:
        return bool(fz and fz.get("limit") and (now or time.time()) - fz["since"] >= fz["limit"])

    @classmethod
    def _frozen(cls, st: dict) -> bool:
        """Is the write daemon suspended?  (Pure: the resume itself happens in the tick.)"""
        fz = st.get("freeze")
        return bool(fz) and not cls._freeze_expired(fz)

    def _pending_dirs(self) -> dict[str, str]:
        """Buffered databases: directory -> host path of the pending image."""
        host = self._host(self._buffers_dir)
        found = {}
        try:
            entries = os.listdir(host)
        except FileNotFoundError:
            return found
        for name in entries:
            if not name.endswith(".pending"):
                continue
            path = os.path.join(host, name)
            try:
                with open(path, "rb") as f:
                    directory = f.readline().decode().rstrip("\n")
            except FileNotFoundError:
                continue
            found[directory] = path
        return found

    def has_pending_updates(self, directory: str) -> bool:
        return self.normalize_directory(directory) in self._pending_dirs()

    # --- the write daemon ----------------------------------------------------------------------

    def write_daemon_tick(self) -> bool:
        """Resume the write daemon if WDSuspendLimit has passed, and write buffered updates when
        it is not suspended.  Returns True when it flushed anything."""
        if self._holds_buffer_lock() and not self._holds_buffer_lock(exclusive=True):
            return False  # a reader of this thread: the next access will do it
        with self.locked() as st:
            fz = st.get("freeze")
            expired = self._freeze_expired(fz)
        if not expired and (fz or not self._pending_dirs()):
            return False
        with self._buffer_lock(exclusive=True):
            with self.locked() as st:
                fz = st.get("freeze")
                if self._freeze_expired(fz):
                    st["freeze"] = None
                    st["last_resume"] = {"at": time.time(), "by": "WDSuspendLimit", "since": fz["since"]}
                    fz = None
            if fz:
                return False
            return self._flush()

    def _flush(self) -> bool:
        """Write every pending image into its IRIS.DAT (caller holds the buffer lock)."""
        flushed = False
        for directory, path in self._pending_dirs().items():
            with open(path, "rb") as f:
                f.readline()
                image = f.read()
            try:
                with datfile.update(self._host(directory + "IRIS.DAT")) as box:
                    box["image"] = image
            except datfile.DatError:
                pass  # the file went away or is damaged: the buffered update is lost with it
            os.unlink(path)
            flushed = True
        return flushed

    # --- freeze and thaw ---------------------------------------------------------------------

    def is_frozen(self) -> bool:
        """Backup.General.IsWDSuspended()."""
        self.write_daemon_tick()
        with self.locked() as st:
            return self._frozen(st)

    def freeze(self, limit: float = 0, timeout: float = 0, open_transactions: bool | None = None) -> bool:
        """ExternalFreeze: suspend the write daemon once no write is in flight.  ``limit`` is
        WDSuspendLimit, ``timeout`` ExternalFreezeTimeOut (0: 600 s).  False if already frozen."""
        self.write_daemon_tick()
        with self._buffer_lock(exclusive=True), self.locked() as st:
            if self._frozen(st):
                return False
            st["freeze"] = {
                "since": time.time(),
                "limit": max(float(limit or 0), 0.0),
                "timeout": (min(float(timeout), MAX_FREEZE_TIMEOUT) if timeout and float(timeout) > 0
                            else DEFAULT_FREEZE_TIMEOUT),
                "open_transactions": self._open_transaction_count(st),
            }
            return True

    def thaw(self) -> bool:
        """ExternalThaw: resume the write daemon and write the buffers.  False if the write daemon
        was not suspended (never frozen, or WDSuspendLimit already resumed it)."""
        self.write_daemon_tick()
        with self._buffer_lock(exclusive=True):
            with self.locked() as st:
                was = self._frozen(st)
                if st.get("freeze"):
                    st["last_resume"] = {"at": time.time(), "by": "ExternalThaw", "since": st["freeze"]["since"]}
                st["freeze"] = None
            self._flush()
        return was

    def freeze_info(self) -> dict | None:
        """The current freeze record, or None (what the tests read of ExternalFreeze's arguments)."""
        self.write_daemon_tick()
        with self.locked() as st:
            fz = st.get("freeze")
            return dict(fz) if fz and self._frozen(st) else None

    # --- reads and writes ----------------------------------------------------------------------

    def read_image(self, directory: str) -> bytes:
        """What a process reads from a database: buffered updates first, else the file."""
        self.write_daemon_tick()
        directory = self.normalize_directory(directory)
        with self._buffer_lock(exclusive=False):
            path = self._host(self._buffers_dir + "/" + _buffer_name(directory))
            try:
                with open(path, "rb") as f:
                    f.readline()
                    return f.read()
            except FileNotFoundError:
                pass
            return datfile.read(self._host(directory + "IRIS.DAT"))[1]

    @contextlib.contextmanager
    def writing(self, directories: list[str], cancelled: Callable[[], bool] | None = None) -> Iterator[dict]:
        """Update databases: yields ``{directory: {"image": bytes}}``; set ``image`` and it is
        written on exit, into the IRIS.DAT files, or into the buffers while the write daemon is
        suspended.  Blocks once ExternalFreezeTimeOut has passed, until the thaw.  Raises
        :class:`datfile.DatError` for a damaged or missing file."""
        directories = sorted({self.normalize_directory(d) for d in directories})
        while True:
            self.write_daemon_tick()
            with self._buffer_lock(exclusive=True):
                with self.locked() as st:
                    fz = st.get("freeze") if self._frozen(st) else None
                blocked = bool(fz) and time.time() - fz["since"] >= fz.get("timeout", DEFAULT_FREEZE_TIMEOUT)
                if not blocked:
                    if fz:
                        yield from self._write_buffered(directories)
                    else:
                        yield from self._write_files(directories)
                    return
            if cancelled and cancelled():
                raise FrozenWaitCancelled()
            time.sleep(_POLL)

    def _write_files(self, directories: list[str]) -> Iterator[dict]:
        with contextlib.ExitStack() as stack:
            boxes = {d: stack.enter_context(datfile.update(self._host(d + "IRIS.DAT"))) for d in directories}
            yield boxes

    def _write_buffered(self, directories: list[str]) -> Iterator[dict]:
        pending = self._pending_dirs()
        boxes = {}
        for d in directories:
            if d in pending:
                with open(pending[d], "rb") as f:
                    f.readline()
                    image = f.read()
            else:
                image = datfile.read(self._host(d + "IRIS.DAT"))[1]
            boxes[d] = {"image": image, "before": image}
        yield boxes
        host_dir = self._host(self._buffers_dir)
        host_dir.mkdir(exist_ok=True)
        for d, box in boxes.items():
            if box["image"] == box["before"]:
                continue
            datfile.check_capacity(box["image"])
            path = host_dir / _buffer_name(d)
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as f:
                f.write(d.encode() + b"\n")
                f.write(box["image"])
            os.replace(tmp, path)
