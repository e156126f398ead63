"""An XFS filesystem that shares blocks (``mkfs.xfs -m reflink=1``) in a loop file, for the test
bed and the benchmark: the storage on which iris-ops' copies become reflinks.

    volume = XfsVolume().create()        # root and Debian's xfsprogs needed (see blocker())
    data = volume.new_directory("t1")    # a fresh directory the instance owner (uid 51773) owns
    ...                                  # bind it into a container: run_container(..., data_dir=data)
    volume.remove()                      # unmount, detach the loop device, delete everything

The loop file is sparse, so the filesystem costs only what is written to it.  Whatever happens,
nothing stays: :meth:`XfsVolume.remove` unmounts (lazily when something still holds it, which
also frees the loop device once that goes) and deletes the loop file, and an ``atexit`` guard
(and a SIGTERM handler, before whatever handled that signal) removes every volume this process
made and did not remove.  :func:`leftovers` says what is still there (a mount in
``/proc/mounts``, a loop device ``losetup`` lists).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from iris_ops_sim.rootfs import IRISOWNER_ID

__all__ = ["DEFAULT_SIZE_MB", "blocker", "XfsVolume", "leftovers"]

#: mkfs.xfs refuses filesystems below 300 MB; a sparse file costs nothing until written.
DEFAULT_SIZE_MB = 1024
_live: list["XfsVolume"] = []
_guard = {"set": False}


def blocker() -> str | None:
    """Why an XFS volume cannot be made here, or None."""
    if os.geteuid() != 0:
        return "mounting a loop file needs root"
    for tool in ("mkfs.xfs", "mount", "umount", "losetup"):
        if shutil.which(tool) is None:
            return f"no {tool} on this host" + (" (Debian's xfsprogs)" if tool == "mkfs.xfs" else "")
    if not os.path.exists("/dev/loop-control"):
        return "this host has no loop devices (/dev/loop-control)"
    return None


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=120)


class XfsVolume:
    """One XFS filesystem in a sparse loop file under a temporary directory, mounted there."""

    def __init__(self, size_mb: int = DEFAULT_SIZE_MB, parent: str | os.PathLike | None = None) -> None:
        self.size_mb = size_mb
        self.parent = parent
        self.home: Path | None = None

    @property
    def image(self) -> Path:
        return self.home / "xfs.img"

    @property
    def path(self) -> Path:
        """The mount point."""
        return self.home / "mnt"

    def create(self) -> "XfsVolume":
        self.home = Path(tempfile.mkdtemp(prefix="iris-ops-xfs-", dir=self.parent))
        _live.append(self)
        _remove_all_on_sigterm()
        try:
            # the instance owner must reach the directories made below (a host install runs as it)
            self.home.chmod(0o755)
            with open(self.image, "wb") as f:
                f.truncate(self.size_mb << 20)
            made = _run("mkfs.xfs", "-q", "-m", "reflink=1", str(self.image))
            if made.returncode != 0:
                raise RuntimeError(f"mkfs.xfs failed: {made.stderr.strip()}")
            self.path.mkdir()
            mounted = _run("mount", "-o", "loop", str(self.image), str(self.path))
            if mounted.returncode != 0:
                raise RuntimeError(f"mount -o loop failed: {mounted.stderr.strip()}")
        except BaseException:
            self.remove()
            raise
        return self

    def new_directory(self, name: str) -> Path:
        """A new directory ``name`` on the volume, owned by the instance owner (uid 51773)."""
        where = self.path / name
        where.mkdir(mode=0o755)
        os.chown(where, IRISOWNER_ID, IRISOWNER_ID)
        return where

    def mounted(self) -> bool:
        return self.home is not None and any(
            line.split()[1] == str(self.path) for line in Path("/proc/mounts").read_text().splitlines())

    def loop_devices(self) -> list[str]:
        if self.home is None:
            return []
        found = _run("losetup", "-j", str(self.image)).stdout
        return [line.split(":", 1)[0] for line in found.splitlines() if line.strip()]

    def remove(self) -> list[str]:
        """Unmount, detach, delete; what is left (empty when nothing)."""
        if self.home is None:
            return []
        if self.mounted() and _run("umount", str(self.path)).returncode != 0:
            _run("umount", "-l", str(self.path))  # still held (a container not gone yet): detach now
        for device in self.loop_devices():
            _run("losetup", "-d", device)
        left = _settled_leftovers(self)
        if not self.mounted():
            shutil.rmtree(self.home, ignore_errors=True)
        if self in _live:
            _live.remove(self)
        return left


def leftovers(volume: XfsVolume) -> list[str]:
    """What of ``volume`` is still on this host: its mount, its loop devices."""
    left = [f"mount {volume.path}"] if volume.mounted() else []
    return left + [f"loop device {device}" for device in volume.loop_devices()]


#: How long a detached loop device may take to go.  ``losetup -d`` of a device whose last user
#: has not closed it yet (the filesystem just unmounted) only marks it to clear, and the kernel
#: detaches it when that user is gone, a moment later (seen in a CI-like run: still listed at once).
SETTLE_S = 10.0


def _settled_leftovers(volume: XfsVolume) -> list[str]:
    deadline = time.monotonic() + SETTLE_S
    while True:
        left = leftovers(volume)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


@atexit.register
def _remove_all() -> None:
    for volume in list(_live):
        volume.remove()


def _remove_all_on_sigterm() -> None:
    """A run stopped with SIGTERM (a CI timeout, `kill`) runs no atexit handler: remove every
    volume first, then let the signal do what it did before (the handler that was there, such as
    the test bed's for its private engine, or death).  Set once, from the main thread (the only
    one that may set a handler); not where SIGTERM is ignored."""
    import signal
    import threading

    if _guard["set"] or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_IGN:
        return

    def remove_then_go_on(signum, frame):
        try:
            _remove_all()
        finally:
            signal.signal(signal.SIGTERM, previous if callable(previous) else signal.SIG_DFL)
            if callable(previous):
                previous(signum, frame)
            else:
                os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, remove_then_go_on)
    _guard["set"] = True
