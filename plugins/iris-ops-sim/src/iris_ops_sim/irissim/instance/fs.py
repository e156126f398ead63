"""A simulated container's filesystem: container paths, owners and permission checks.

The container's files are real files under ``rootfs``.  Their mode bits are the host files' real
mode bits; their owners live in ``fsmeta.json`` because the host may have no ``irisowner`` user
(and tests usually run as one host user).  Every check a process inside the container would meet
(search permission on each ancestor, read/write on the target) is made here, so the simulated
instance is never more permissive than Linux would be.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import posixpath
import stat
from pathlib import Path

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Iterator

__all__ = ["USERS", "ContainerPathError", "normalize", "ContainerFS", "NativeFS", "current_user"]

USERS: dict[str, tuple[int, int]] = {"root": (0, 0), "irisowner": (51773, 51773)}

_PASSWD = "root:x:0:0:root:/root:/bin/bash\nirisowner:x:51773:51773:irisowner:/home/irisowner:/bin/bash\n"
_GROUP = "root:x:0:\nirisowner:x:51773:\n"
_MAX_SYMLINKS = 40


class ContainerPathError(PermissionError):
    """A container path that is not absolute or would leave the container root."""


def normalize(path: str) -> str:
    """The canonical absolute container path (no ``.``/``..``, no trailing slash but ``/``)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ContainerPathError(f"not an absolute container path: {path!r}")
    if "\x00" in path:
        raise ContainerPathError("NUL in path")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise ContainerPathError(f"path escapes the container root: {path!r}")
            parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


class ContainerFS:
    """One container's filesystem (see docs/ARCHITECTURE.md, "ContainerFS")."""

    def __init__(self, rootfs: Path, meta_path: Path) -> None:
        self.rootfs = Path(rootfs)
        self.meta_path = Path(meta_path)
        self.rootfs.mkdir(parents=True, exist_ok=True)
        self._root_real = os.path.realpath(self.rootfs)
        etc = self.rootfs / "etc"
        if not (etc / "passwd").exists():
            etc.mkdir(exist_ok=True)
            (etc / "passwd").write_text(_PASSWD)
            (etc / "group").write_text(_GROUP)

    # --- paths ---------------------------------------------------------------------------

    def host_path(self, path: str) -> Path:
        """The host path of container ``path``; symlinks resolve inside the container root."""
        parts = normalize(path).strip("/").split("/") if normalize(path) != "/" else []
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if not resolved:
                    raise ContainerPathError(f"path escapes the container root: {path!r}")
                resolved.pop()
                continue
            if part in ("", "."):
                continue
            candidate = os.path.join(self._root_real, *resolved, part)
            if os.path.islink(candidate):
                hops += 1
                if hops > _MAX_SYMLINKS:
                    raise ContainerPathError(f"too many levels of symbolic links: {path!r}")
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                parts = [p for p in target.split("/") if p] + parts
                continue
            resolved.append(part)
        host = os.path.join(self._root_real, *resolved)
        real = os.path.realpath(host)
        if real != self._root_real and not real.startswith(self._root_real + os.sep):
            raise ContainerPathError(f"path escapes the container root: {path!r}")
        return Path(host)

    # --- ownership metadata ----------------------------------------------------------------

    @contextlib.contextmanager
    def _meta(self, write: bool) -> Iterator[dict]:
        lock_path = self.meta_path.with_name(self.meta_path.name + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            try:
                try:
                    meta = json.loads(self.meta_path.read_text() or "{}")
                except FileNotFoundError:
                    meta = {}
                meta.setdefault("owners", {})
                yield meta
                if write:
                    tmp = self.meta_path.with_name(self.meta_path.name + ".tmp")
                    tmp.write_text(json.dumps(meta, sort_keys=True))
                    os.replace(tmp, self.meta_path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def owner(self, path: str) -> tuple[int, int]:
        """(uid, gid) of ``path``; files nobody recorded belong to root, as in an image."""
        key = normalize(path)
        with self._meta(write=False) as meta:
            uid, gid = meta["owners"].get(key, (0, 0))
        return int(uid), int(gid)

    def chown(self, path: str, uid: int, gid: int) -> None:
        if not self.host_path(path).exists() and not self.host_path(path).is_symlink():
            raise FileNotFoundError(path)
        with self._meta(write=True) as meta:
            meta["owners"][normalize(path)] = [int(uid), int(gid)]

    def created(self, path: str, uid: int, gid: int) -> None:
        """Record the owner of something a process inside the container just created."""
        with self._meta(write=True) as meta:
            meta["owners"][normalize(path)] = [int(uid), int(gid)]

    def forget(self, path: str) -> None:
        """Drop the metadata of ``path`` and everything below it."""
        key = normalize(path)
        prefix = key.rstrip("/") + "/"
        with self._meta(write=True) as meta:
            for k in [k for k in meta["owners"] if k == key or k.startswith(prefix)]:
                del meta["owners"][k]

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(self.host_path(path), mode & 0o7777)

    def mode(self, path: str) -> int:
        return stat.S_IMODE(os.stat(self.host_path(path)).st_mode)

    def exists(self, path: str) -> bool:
        try:
            return self.host_path(path).exists()
        except ContainerPathError:
            return False

    # --- permission checks ---------------------------------------------------------------

    def _allowed(self, path: str, uid: int, bit: int) -> bool:
        """Whether ``uid`` holds permission ``bit`` (4 r, 2 w, 1 x) on existing ``path``."""
        if uid == 0:
            return True
        try:
            mode = self.mode(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        fuid, fgid = self.owner(path)
        ugid = next((g for u, g in USERS.values() if u == uid), None)
        if fuid == uid:
            shift = 6
        elif ugid is not None and fgid == ugid:
            shift = 3
        else:
            shift = 0
        return bool((mode >> shift) & bit)

    def _can_reach(self, path: str, uid: int) -> bool:
        """Search permission on every ancestor directory of ``path``."""
        key = normalize(path)
        current = "/"
        for part in [p for p in key.split("/") if p][:-1]:
            if not self._allowed(current, uid, 1):
                return False
            current = posixpath.join(current, part)
        return self._allowed(current, uid, 1) if key != "/" else True

    def can_read(self, path: str, uid: int) -> bool:
        if not self.exists(path):
            return False
        return uid == 0 or (self._can_reach(path, uid) and self._allowed(path, uid, 4))

    def can_write(self, path: str, uid: int) -> bool:
        """Write an existing file, or (when ``path`` does not exist) create it in its directory."""
        try:
            if not self.exists(path):
                parent = posixpath.dirname(normalize(path))
                return self.exists(parent) and self.host_path(parent).is_dir() and self.can_write(parent, uid) and (
                    uid == 0 or self._allowed(parent, uid, 1)
                )
        except ContainerPathError:
            return False
        return uid == 0 or (self._can_reach(path, uid) and self._allowed(path, uid, 2))

    def can_delete(self, path: str, uid: int) -> bool:
        """Unlinking needs write and search permission on the containing directory."""
        parent = posixpath.dirname(normalize(path))
        return uid == 0 or (self._can_reach(parent, uid) and self._allowed(parent, uid, 2) and self._allowed(parent, uid, 1))

    # --- users -----------------------------------------------------------------------------

    def lookup_user(self, name: str) -> tuple[int, int] | None:
        """(uid, gid) of a user name as the container's /etc/passwd has it."""
        try:
            for line in (self.rootfs / "etc" / "passwd").read_text().splitlines():
                fields = line.split(":")
                if len(fields) >= 4 and fields[0] == name:
                    return int(fields[2]), int(fields[3])
        except FileNotFoundError:
            pass
        return USERS.get(name)

    def lookup_group(self, name: str) -> int | None:
        """A group's id by name (``%File.SetOwnerGroup``), from the container's /etc/group."""
        try:
            for line in (self.rootfs / "etc" / "group").read_text().splitlines():
                fields = line.split(":")
                if len(fields) >= 3 and fields[0] == name:
                    return int(fields[2])
        except FileNotFoundError:
            pass
        return _default_group(name)


class NativeFS(ContainerFS):
    """The filesystem as it really is: inside a real container, or a native install on a host.

    Container paths are host paths; owners and modes are the files' real ones, and the kernel
    enforces every permission on top of the checks made here, so nothing is more permissive
    than Linux.  Only a process running as root can give a file away (``created``).
    """

    def __init__(self) -> None:  # noqa: D107 - no rootfs, no metadata file
        self.rootfs = Path("/")
        self.meta_path = None
        self._root_real = "/"

    def host_path(self, path: str) -> Path:
        return Path(normalize(path))

    def owner(self, path: str) -> tuple[int, int]:
        st = os.stat(self.host_path(path))
        return st.st_uid, st.st_gid

    def chown(self, path: str, uid: int, gid: int) -> None:
        os.chown(self.host_path(path), int(uid), int(gid))

    def created(self, path: str, uid: int, gid: int) -> None:
        if os.geteuid() == 0 and (uid, gid) != (0, 0):
            os.chown(self.host_path(path), int(uid), int(gid))

    def forget(self, path: str) -> None:
        """Nothing to forget: ownership lives in the files themselves."""

    def lookup_user(self, name: str) -> tuple[int, int] | None:
        import pwd

        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            return USERS.get(name)
        return entry.pw_uid, entry.pw_gid

    def lookup_group(self, name: str) -> int | None:
        import grp

        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            return _default_group(name)


def _default_group(name: str) -> int | None:
    """The group of a known user's name (root and irisowner each have a group of their own)."""
    ids = USERS.get(name)
    return ids[1] if ids else None


def current_user() -> str:
    """The name of the user this process runs as (``irisowner`` in a container)."""
    import pwd

    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return next((name for name, (u, _) in USERS.items() if u == uid), str(uid))
