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

[DOC] ref/2024.1/%SYSTEM/Process.cls, Terminate(pid, ExitStatus): ends the process ``pid``,
which returns ExitStatus to the operating system; 1 on success, -3 when ``pid`` is not an IRIS
process.  The job file carries that: :func:`terminate` writes the status into it and sends the
process SIGTERM; the process's handler (``iris.py``) reads it back (:func:`exit_status`) and ends
as a ``Halt`` with it would.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import struct
from pathlib import Path

__all__ = ["location", "register", "unregister", "exists", "live", "terminate", "exit_status"]

# struct flock (see locktable.py): short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid.
_FLOCK = struct.Struct("@hhqqi4x")
#: Job files this OS process holds: path -> descriptor.
_mine: dict[Path, int] = {}


def location(instance) -> Path | None:
    """Where ``instance`` keeps its job table (None for a test double without a filesystem)."""
    try:
        return Path(instance.fs.host_path(instance.sim_directory + "/jobs"))
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
    os.ftruncate(fd, 0)  # no exit status left by a killed process that had this number
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


def _holder(path: Path) -> int | None:
    """The pid holding ``path``'s lock; None when none does, or the file is gone.  Never this
    OS process: it does not see its own record locks."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, PermissionError):
        return None
    try:
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 1, 0))
        kind, _whence, _start, _len, pid = _FLOCK.unpack(answer)
        return None if kind == fcntl.F_UNLCK else pid
    finally:
        os.close(fd)


def exists(where: Path | None, job: int) -> bool:
    """``$DATA(^$JOB(job))``."""
    if where is None:
        return False
    path = where / str(int(job))
    return path in _mine or _holder(path) is not None


def live(where: Path | None) -> list[int]:
    """The jobs of other OS processes that still run: each one's process holds the lock on the
    file named by its number."""
    try:
        names = os.listdir(where) if where is not None else []
    except OSError:
        return []
    return sorted(int(name) for name in names if name.isdigit() and _holder(where / name) == int(name))


def terminate(where: Path | None, job: int, status: int) -> int:
    """``$SYSTEM.Process.Terminate(job, status)`` of another process: 1; -3 when ``job`` is no
    process of this instance (a session run inside this OS process has no pid of its own to
    signal); -1 when it cannot be signalled."""
    if where is None:
        return -3
    path = where / str(int(job))
    if _holder(path) != int(job):
        return -3
    try:
        path.write_text(str(int(status)))
        os.kill(int(job), signal.SIGTERM)
    except ProcessLookupError:
        return -3
    except OSError:
        return -1
    return 1


def exit_status(where: Path | None, job: int) -> int:
    """The status another process asked job ``job`` to end with (:func:`terminate`); 1,
    Terminate's default, when none was written."""
    if where is None:
        return 1
    with contextlib.suppress(OSError, ValueError):
        text = (where / str(int(job))).read_text(encoding="ascii", errors="replace").strip()
        if text:
            return int(text)
    return 1
