"""The instance's processes as other processes see them: what ``$SYSTEM.Process.Terminate(pid)``
needs to end a session that is not its own.

[DOC] ref/2024.1/%SYSTEM/Process.cls, Terminate(pid, ExitStatus): ends the process ``pid``,
which returns ExitStatus to the operating system; returns 1 on success and -3 when ``pid`` is
not an IRIS process.

How the simulator gets that: each ``iris session`` process registers itself as
``<mgr>/.sim/jobs/<pid>`` and holds an ``fcntl`` write lock on it for its whole life (the kernel
drops it however the process ends, as the lock table's locks).  Another process finds a live
session by that lock, writes the exit status into the file and sends it SIGTERM; the session's
handler (``iris.py``) ends it as a ``Halt`` with that status would, releasing its locks.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
from typing import Any

# struct flock on Linux x86-64 and arm64 (as in locktable.py).
_FLOCK = struct.Struct("@hhqqi4x")
_registered: dict[str, Any] = {}


def _path(inst: Any, pid: int) -> str:
    return str(inst.fs.host_path(inst.manager_directory() + f".sim/jobs/{int(pid)}"))


def register(inst: Any, pid: int) -> None:
    """This process is session ``pid`` of ``inst`` until it ends (the lock goes with it)."""
    path = _path(inst, pid)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o660)
    fcntl.fcntl(fd, fcntl.F_SETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
    os.ftruncate(fd, 0)
    _registered.update(fd=fd, path=path)


def unregister() -> None:
    """The session ends normally: its file goes (a killed one leaves a file nobody locks)."""
    fd, path = _registered.pop("fd", None), _registered.pop("path", None)
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.unlink(path)
    with contextlib.suppress(OSError):
        os.close(fd)


def exit_status() -> int:
    """The status another process asked this one to end with (1, Terminate's default)."""
    path = _registered.get("path")
    try:
        with open(path or "", "rb") as f:
            text = f.read().decode("ascii", "replace").strip()
        return int(text) if text else 1
    except (OSError, ValueError):
        return 1


def _holder(path: str) -> int | None:
    """The pid holding ``path``'s lock, None when nobody does (or the file is gone)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
        kind, _whence, _start, _len, pid = _FLOCK.unpack(answer)
        return None if kind == fcntl.F_UNLCK else pid
    finally:
        os.close(fd)


def live(jobs_dir: str) -> list[int]:
    """The pids of the sessions registered in ``jobs_dir`` that still run."""
    try:
        names = os.listdir(jobs_dir)
    except OSError:
        return []
    return sorted(pid for name in names if name.isdigit()
                  for pid in [_holder(os.path.join(jobs_dir, name))] if pid == int(name))


def terminate(inst: Any, pid: int, status: int) -> int:
    """Terminate(pid, status) of another process: 1, or -3 when ``pid`` is no live session of
    ``inst``, or -1 when it cannot be signalled."""
    path = _path(inst, pid)
    if _holder(path) != int(pid):
        with contextlib.suppress(OSError):
            if os.path.exists(path) and _holder(path) is None:
                os.unlink(path)  # left by a session that was killed
        return -3
    try:
        with open(path, "w") as f:
            f.write(str(int(status)))
        os.kill(int(pid), signal.SIGTERM)
    except ProcessLookupError:
        return -3
    except OSError:
        return -1
    return 1
