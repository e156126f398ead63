"""The simulated lock table: what ``LOCK`` and ``^$LOCK`` see, shared by every session process.

[DOC] ObjectScript Reference, LOCK: a lock is exclusive unless its type has ``S`` (shared);
shared locks are compatible with each other, an exclusive one with nothing held by another
process.  A process's own locks never block it.  "Terminating the process also ends (deletes)
pending lock requests", and the system releases every lock a process holds when it ends.

How the simulator gets that: one file per lock name under ``<mgr>/.sim/locks/`` and a POSIX
``fcntl`` record lock on its first byte, held by the session process itself (``F_RDLCK`` for a
shared lock, ``F_WRLCK`` for an exclusive one).  The kernel drops such a lock when the process
ends in any way (``Halt``, end of input, ``kill -9``), which is exactly IRIS's rule.  A process
that holds both a shared and an exclusive lock on one name holds the file's lock as ``F_WRLCK``
(POSIX locks of one process convert, they never conflict).

Names are kept per globals database ([DOC] a lock on a global name is a lock on that global,
so two namespaces whose globals live in one database share it; [UNV] global mappings and
subscript-level mappings are ignored: the namespace's default globals database decides).

The file of a lock that nobody holds any more is removed by its last holder (under the
lock itself); a process that locked a file another one just removed sees the inode change and
locks the new file instead.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import struct
import time
from collections import namedtuple
from pathlib import Path

__all__ = ["POLL", "Held", "Owner", "LockTable"]

# struct flock on Linux x86-64 and arm64: short l_type, short l_whence, off_t l_start,
# off_t l_len, pid_t l_pid (then padding to 32 bytes).
_FLOCK = struct.Struct("@hhqqi4x")
#: How often a timed LOCK tries again while another process holds the name.
POLL = 0.01


# Plain classes, not dataclasses: dataclasses costs each session process that locks the
# import of inspect.
class Held:
    """This process's hold on one lock name: the open file and its incremental counts."""

    def __init__(self, fd: int, exclusive: int = 0, shared: int = 0) -> None:
        self.fd = fd
        self.exclusive = exclusive
        self.shared = shared

    def wanted(self) -> int:
        if self.exclusive:
            return fcntl.F_WRLCK
        return fcntl.F_RDLCK if self.shared else fcntl.F_UNLCK


class Owner(namedtuple("Owner", "name pid mode")):
    """One entry of the table as another process sees it (``mode``: "X" or "S")."""

    __slots__ = ()


class LockTable:
    """The locks one process holds, and the instance's table it shares with the others."""

    def __init__(self, directory: Path, database: str) -> None:
        self.directory = directory
        self.database = database
        self.held: dict[str, Held] = {}

    # -- files ------------------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        digest = hashlib.sha256(f"{self.database}\0{name}".encode()).hexdigest()[:40]
        return self.directory / f"{digest}.lock"

    def _open(self, name: str) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(name)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o660)
        if os.fstat(fd).st_size == 0:
            os.write(fd, json.dumps({"database": self.database, "name": name}).encode() + b"\n")
        return fd

    @staticmethod
    def _fcntl(fd: int, kind: int, wait: bool) -> bool:
        try:
            fcntl.fcntl(fd, fcntl.F_SETLKW if wait else fcntl.F_SETLK, _FLOCK.pack(kind, os.SEEK_SET, 0, 1, 0))
            return True
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                return False
            raise

    def _still_linked(self, name: str, fd: int) -> bool:
        try:
            return os.stat(self._path(name)).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    # -- LOCK -------------------------------------------------------------------------------------
    def acquire(self, name: str, shared: bool, timeout: float | None) -> bool:
        """Add one increment of ``name`` (exclusive, or shared); False when ``timeout`` seconds
        passed first (``None`` waits for ever; 0 is one attempt)."""
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        held = self.held.get(name)
        while True:
            if held is None:
                held = Held(self._open(name))
            before = (held.exclusive, held.shared)
            if shared:
                held.shared += 1
            else:
                held.exclusive += 1
            kind = held.wanted()
            if self._fcntl(held.fd, kind, wait=deadline is None):
                if self._still_linked(name, held.fd):
                    self.held[name] = held
                    return True
                # locked a file its last holder had just removed: start again on the new one
                os.close(held.fd)
                self.held.pop(name, None)
                held = None
                continue
            held.exclusive, held.shared = before
            if name not in self.held:
                os.close(held.fd)
                held = None
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL)

    def release(self, name: str, shared: bool) -> None:
        """Remove one increment; [UNV] unlocking a name this process does not hold does nothing."""
        held = self.held.get(name)
        if held is None:
            return
        if shared and held.shared:
            held.shared -= 1
        elif not shared and held.exclusive:
            held.exclusive -= 1
        else:
            return
        self._settle(name, held)

    def release_all(self) -> None:
        for name, held in list(self.held.items()):
            held.exclusive = held.shared = 0
            self._settle(name, held)

    def _settle(self, name: str, held: Held) -> None:
        kind = held.wanted()
        if kind != fcntl.F_UNLCK:
            self._fcntl(held.fd, kind, wait=False)  # a downgrade from exclusive to shared
            return
        # The last holder removes the file; only an exclusive hold proves nobody else has it.
        if self._fcntl(held.fd, fcntl.F_WRLCK, wait=False) and self._still_linked(name, held.fd):
            os.unlink(self._path(name))
        os.close(held.fd)  # closing the file drops the record lock
        del self.held[name]

    # -- ^$LOCK -----------------------------------------------------------------------------------
    def owners(self) -> list[Owner]:
        """Every lock held in this database, by any process, sorted by name."""
        found: dict[str, Owner] = {}
        me = os.getpid()
        for name, held in self.held.items():
            found[name] = Owner(name, me, "X" if held.exclusive else "S")
        # Never open a file this process holds: closing any descriptor of a file drops the
        # process's POSIX locks on it.
        own = {self._path(name) for name in self.held}
        if self.directory.is_dir():
            for path in self.directory.glob("*.lock"):
                if path in own:
                    continue
                owner = self._probe(path)
                if owner is not None and owner.name not in found:
                    found[owner.name] = owner
        return [found[name] for name in sorted(found)]

    def _probe(self, path: Path) -> Owner | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                entry = json.loads(os.pread(fd, 65536, 0) or b"{}")
            except ValueError:
                return None
            if entry.get("database") != self.database:
                return None
            answer = fcntl.fcntl(fd, fcntl.F_GETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 1, 0))
            kind, _whence, _start, _len, pid = _FLOCK.unpack(answer)
            if kind == fcntl.F_UNLCK:
                return None
            return Owner(str(entry["name"]), pid, "X" if kind == fcntl.F_WRLCK else "S")
        finally:
            os.close(fd)
