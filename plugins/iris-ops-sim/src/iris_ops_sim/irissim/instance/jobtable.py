"""The simulated job table: which InterSystems IRIS processes exist, as ``^$JOB`` shows them.

[DOC] ObjectScript Reference, ^$JOB: "Every active InterSystems IRIS process has a unique job
number"; on UNIX it is the pid of the process.  ``$DATA(^$JOB(job_number))`` is 1 when the job
exists and 0 when it does not.

How the simulator gets that: every ``iris session`` process registers itself for as long as it
runs: one file per job under ``<mgr>/.sim/jobs/`` and a POSIX ``fcntl`` record lock on its first
byte, held by the process itself.  The kernel drops that lock when the process ends in any way
(``Halt``, end of input, ``kill -9``), so a job exists exactly while its process does, and a
stopped process (``SIGSTOP``) still exists.  A file whose lock nobody holds is what a killed
process left: it does not count, and the next process with that number takes it over.  Sessions
run inside one OS process (the in-process unit tests) are known from :data:`_mine`, since a
process never sees its own record locks.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from pathlib import Path

__all__ = ["location", "register", "unregister", "exists"]

# struct flock (see locktable.py): short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid.
_FLOCK = struct.Struct("@hhqqi4x")
#: Job files this OS process holds: path -> descriptor.
_mine: dict[Path, int] = {}


def location(instance) -> Path | None:
    """Where ``instance`` keeps its job table (None for a test double without a filesystem)."""
    try:
        return Path(instance.fs.host_path(instance.install_dir.rstrip("/") + "/mgr/.sim/jobs"))
    except AttributeError:
        return None


def register(where: Path | None, job: int) -> None:
    """Job ``job`` exists from now until :func:`unregister` (or the end of this OS process)."""
    if where is None:
        return
    where.mkdir(parents=True, exist_ok=True)
    path = where / str(int(job))
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o664)
    except PermissionError:  # left by a killed process of another user (root): replace it
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o664)
    try:
        fcntl.fcntl(fd, fcntl.F_SETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 1, 0))
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return  # a live process holds that number already: the job exists either way
        raise
    _mine[path] = fd


def unregister(where: Path | None, job: int) -> None:
    if where is None:
        return
    path = where / str(int(job))
    fd = _mine.pop(path, None)
    if fd is None:
        return
    try:
        os.unlink(path)  # still holding the lock: no other process can be using this file
    except FileNotFoundError:
        pass
    os.close(fd)


def exists(where: Path | None, job: int) -> bool:
    """``$DATA(^$JOB(job))``."""
    if where is None:
        return False
    path = where / str(int(job))
    if path in _mine:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, PermissionError):
        return False
    try:
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 1, 0))
        return _FLOCK.unpack(answer)[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)
