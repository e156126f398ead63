"""%Library.File (%Library/File.cls): %Boolean-returning file methods, run as the process user."""

from __future__ import annotations

import os
import posixpath

from ... import variants
from ...objectscript.runtime import Process, SimClass, error_status, ok_status, register_class
from ..fs import USERS, ContainerFS, ContainerPathError, normalize
from .common import E_GENERAL, arg, instance_of, set_ref, truth, user_of

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LibraryFile"]


def _copy_contents(fin, fout) -> None:
    """Every byte copied, in the kernel where it can (``sendfile``), as IRIS's native CopyFile is
    no slower than ``cp``; else through a 1 MiB buffer.  Never ``copy_file_range``: on storage
    that shares blocks (XFS, Btrfs) the kernel makes that a reflink, and IRIS's CopyFile does
    not share blocks (iris-ops makes reflinks outside IRIS, :mod:`iris_ops.storage`)."""
    sendfile = getattr(os, "sendfile", None)
    if sendfile is not None:
        try:
            offset = 0
            while sent := sendfile(fout.fileno(), fin.fileno(), offset, 1 << 30):
                offset += sent
            return
        except OSError:
            fin.seek(0)
            fout.seek(0)
    import shutil  # lazily: only the fallback needs it

    shutil.copyfileobj(fin, fout, 1024 * 1024)


def _horolog(ns: int, utc: bool) -> str:
    """A file time (nanoseconds since the epoch) as %Library.File gives it: $H, "rounded to
    millisecond precision", in UTC or local time.  The seconds are a canonical number (no
    trailing zeros) [UNV: the reference shows no example]."""
    import time

    ms = (ns + 500_000) // 1_000_000
    if not utc:
        local = time.localtime(ms // 1000)
        ms -= (time.altzone if local.tm_isdst > 0 else time.timezone) * 1000
    days, ms = divmod(ms, 86_400_000)
    seconds = f"{ms // 1000}.{ms % 1000:03d}".rstrip("0").rstrip(".")
    return f"{days + 47117},{seconds}"


@register_class
class LibraryFile(SimClass):
    """%Library.File (ref/2024.1/%Library/File.cls).  Returns %Boolean (not %Status).  Runs as the
    process user and honours the container's permissions; what it creates belongs to that user."""

    name = "%Library.File"
    aliases = ("%File",)

    def _path(self, proc: Process, value: Any, directory: bool = False) -> str | None:
        text = str(value)
        if not text:
            return None
        if not text.startswith("/"):
            text = instance_of(proc).manager_directory() + text
        try:
            return normalize(text)
        except ContainerPathError:
            return None

    def _fs(self, proc: Process) -> ContainerFS:
        return instance_of(proc).fs

    def _pct_New(self, proc: Process, *args: Any) -> Any:
        """%New(initval) -> a file object named ``initval`` (see :mod:`..fileobject`)."""
        from ..fileobject import FileObject

        return FileObject(str(arg(list(args), 0, "")))

    def Exists(self, proc: Process, *args: Any) -> Any:
        """Exists(filename, Output return) As %Boolean."""
        args = list(args)
        path = self._path(proc, arg(args, 0))
        fs = self._fs(proc)
        uid = user_of(proc)[0]
        if path is None or not fs.exists(path):
            set_ref(args, 1, -2)
            return 0
        parent = posixpath.dirname(path)
        if uid and not (fs.can_read(parent, uid) or fs._can_reach(path, uid)):
            set_ref(args, 1, -13)
            return 0
        return 1

    def DirectoryExists(self, proc: Process, *args: Any) -> Any:
        """DirectoryExists(filename) As %Boolean."""
        path = self._path(proc, arg(list(args), 0))
        if path is None:
            return 0
        fs = self._fs(proc)
        uid = user_of(proc)[0]
        if uid and not fs._can_reach(path, uid):
            return 0
        return 1 if fs.exists(path) and fs.host_path(path).is_dir() else 0

    def _mkdir(self, proc: Process, path: str) -> int:
        fs = self._fs(proc)
        uid, gid = user_of(proc)
        if fs.exists(path):
            return -17
        if not fs.can_write(path, uid):
            return -13
        fs.host_path(path).mkdir()
        os.chmod(fs.host_path(path), 0o755)
        fs.created(path, uid, gid)
        return 0

    def CreateDirectory(self, proc: Process, *args: Any) -> Any:
        """CreateDirectory(name, Output return) As %Boolean: one level."""
        args = list(args)
        path = self._path(proc, arg(args, 0))
        if path is None:
            set_ref(args, 1, -2)
            return 0
        rc = self._mkdir(proc, path)
        set_ref(args, 1, rc)
        return 1 if rc == 0 else 0

    def CreateDirectoryChain(self, proc: Process, *args: Any) -> Any:
        """CreateDirectoryChain(name, Output return) As %Boolean."""
        args = list(args)
        path = self._path(proc, arg(args, 0))
        if path is None:
            set_ref(args, 1, -2)
            return 0
        fs = self._fs(proc)
        current = ""
        for part in [p for p in path.split("/") if p]:
            current += "/" + part
            if fs.exists(current):
                if not fs.host_path(current).is_dir():
                    set_ref(args, 1, -20)
                    return 0
                continue
            rc = self._mkdir(proc, current)
            if rc:
                set_ref(args, 1, rc)
                return 0
        return 1

    def RemoveDirectoryTree(self, proc: Process, *args: Any) -> Any:
        """RemoveDirectoryTree(pTarget) As %Boolean: recursive; 0 if anything cannot be removed."""
        path = self._path(proc, arg(list(args), 0))
        fs = self._fs(proc)
        uid = user_of(proc)[0]
        if path is None or path == "/" or not fs.exists(path) or not fs.host_path(path).is_dir():
            return 0  # [UNV] a missing directory counts as failure here (the stricter reading)

        def remove(cpath: str) -> bool:
            host = fs.host_path(cpath)
            ok = True
            if host.is_dir() and not host.is_symlink():
                if uid and not (fs._allowed(cpath, uid, 4) and fs._allowed(cpath, uid, 1)):
                    return False
                for child in sorted(os.listdir(host)):
                    ok = remove(posixpath.join(cpath, child)) and ok
                if not ok:
                    return False
                if not fs.can_delete(cpath, uid):
                    return False
                host.rmdir()
            else:
                if not fs.can_delete(cpath, uid):
                    return False
                host.unlink()
            fs.forget(cpath)
            return True

        return 1 if remove(path) else 0

    def Delete(self, proc: Process, *args: Any) -> Any:
        """Delete(filename, Output return) As %Boolean."""
        args = list(args)
        path = self._path(proc, arg(args, 0))
        fs = self._fs(proc)
        if path is None or not fs.exists(path) or fs.host_path(path).is_dir():
            set_ref(args, 1, -2)
            return 0
        if not fs.can_delete(path, user_of(proc)[0]):
            set_ref(args, 1, -13)
            return 0
        fs.host_path(path).unlink()
        fs.forget(path)
        return 1

    def CopyFile(self, proc: Process, *args: Any) -> Any:
        """CopyFile(from, to, pDeleteBeforeCopy=0, Output return) As %Boolean."""
        args = list(args)
        src = self._path(proc, arg(args, 0))
        dst = self._path(proc, arg(args, 1))
        fs = self._fs(proc)
        uid, gid = user_of(proc)
        if src is None or dst is None or not fs.exists(src) or fs.host_path(src).is_dir():
            set_ref(args, 3, -2)
            return 0
        if not fs.can_read(src, uid) or (uid and not fs._can_reach(src, uid)):
            set_ref(args, 3, -13)
            return 0
        if fs.exists(dst) and fs.host_path(dst).is_dir():
            set_ref(args, 3, -21)
            return 0
        existed = fs.exists(dst)
        if existed and (truth(arg(args, 2, 0)) or variants.on(variants.COPY_TAKES_NEW_OWNER)):
            if not fs.can_delete(dst, uid):
                set_ref(args, 3, -13)
                return 0
            fs.host_path(dst).unlink()
            fs.forget(dst)
            existed = False
        if not fs.can_write(dst, uid):
            set_ref(args, 3, -13)
            return 0
        try:
            with open(fs.host_path(src), "rb") as fin, open(fs.host_path(dst), "r+b" if existed else "wb") as fout:
                try:
                    _copy_contents(fin, fout)
                    fout.truncate()
                finally:
                    if not existed:
                        os.chmod(fs.host_path(dst), 0o644)
                        fs.created(dst, uid, gid)
        except OSError as e:
            # The disk filled (ENOSPC) or the like: 0 and the negated errno in ``return``, as for
            # the other failures [UNV: whether IRIS removes the partial target; it is left, the
            # stricter choice: the caller must clean up].
            set_ref(args, 3, -(e.errno or 5))
            return 0
        return 1

    def Rename(self, proc: Process, *args: Any) -> Any:
        """Rename(oldname, newname, Output return) As %Boolean: rename(2) within the filesystem.
        [UNV] whether an existing ``newname`` is replaced is not documented: the simulator takes
        the stricter reading and fails (-17, EEXIST), so callers must delete it first; the
        variant ``rename-replaces`` replaces it, as rename(2) does."""
        args = list(args)
        src = self._path(proc, arg(args, 0))
        dst = self._path(proc, arg(args, 1))
        fs = self._fs(proc)
        uid = user_of(proc)[0]
        if src is None or dst is None or not fs.exists(src):
            set_ref(args, 2, -2)
            return 0
        if fs.exists(dst) and (fs.host_path(dst).is_dir() or not variants.on(variants.RENAME_REPLACES)):
            set_ref(args, 2, -17)
            return 0
        if not fs.can_delete(src, uid) or not fs.can_write(dst, uid):
            set_ref(args, 2, -13)
            return 0
        owner = fs.owner(src)
        os.rename(fs.host_path(src), fs.host_path(dst))
        fs.forget(dst)
        fs.forget(src)
        fs.created(dst, *owner)
        return 1

    def Truncate(self, proc: Process, *args: Any) -> Any:
        """Truncate(filename, Output return) As %Boolean: an existing file emptied in place (owner
        and mode kept), or a new empty file (the process's, mode 0644)."""
        args = list(args)
        path = self._path(proc, arg(args, 0))
        fs = self._fs(proc)
        uid, gid = user_of(proc)
        if path is None or (fs.exists(path) and fs.host_path(path).is_dir()):
            set_ref(args, 1, -21 if path else -2)
            return 0
        existed = fs.exists(path)
        if not fs.can_write(path, uid):
            set_ref(args, 1, -13)
            return 0
        with open(fs.host_path(path), "r+b" if existed else "wb") as f:
            f.truncate()
        if not existed:
            os.chmod(fs.host_path(path), 0o644)
            fs.created(path, uid, gid)
        return 1

    def Attributes(self, proc: Process, *args: Any) -> Any:
        """Attributes(filename) As %String: on Unix the mode map, file type bits included (a
        regular file with mode 0660 is 33200).  [UNV] a missing file: ""."""
        path = self._path(proc, arg(list(args), 0))
        fs = self._fs(proc)
        if path is None or not fs.exists(path) or not fs._can_reach(path, user_of(proc)[0]):
            return ""
        kind = 0o040000 if fs.host_path(path).is_dir() else 0o100000
        return kind | fs.mode(path)

    def SetAttributes(self, proc: Process, *args: Any) -> Any:
        """SetAttributes(filename, attributes, Output return) As %Boolean: on Unix the permission
        bits of the mode map (chmod); only the owner (or root) may (rc -1, EPERM)."""
        args = list(args)
        path = self._path(proc, arg(args, 0))
        fs = self._fs(proc)
        uid = user_of(proc)[0]
        if path is None or not fs.exists(path):
            set_ref(args, 2, -2)
            return 0
        if uid and fs.owner(path)[0] != uid:
            set_ref(args, 2, -1)
            return 0
        fs.chmod(path, int(str(arg(args, 1, 0)) or 0) & 0o7777)
        return 1

    def GetOwnerGroup(self, proc: Process, *args: Any) -> Any:
        """GetOwnerGroup(File, ByRef OwnerGroup) As %Status: ``owner:group`` by name (a number
        where the id has no name)."""
        args = list(args)
        path = self._path(proc, arg(args, 0))
        fs = self._fs(proc)
        if path is None or not fs.exists(path):
            return error_status(E_GENERAL, f"File '{arg(args, 0)}' does not exist")  # [UNV] text
        uid, gid = fs.owner(path)
        set_ref(args, 1, f"{_user_name(uid)}:{_group_name(gid)}")
        return ok_status()

    def SetOwnerGroup(self, proc: Process, *args: Any) -> Any:
        """SetOwnerGroup(filename, OwnerGroup) As %Status: chown to ``owner:group`` (names or
        numbers).  Only root may give a file away; another user may only name what it has."""
        args = list(args)
        path = self._path(proc, arg(args, 0))
        fs = self._fs(proc)
        owner, _, group = str(arg(args, 1, "")).partition(":")
        if path is None or not fs.exists(path):
            return error_status(E_GENERAL, f"File '{arg(args, 0)}' does not exist")  # [UNV] text
        uid = int(owner) if owner.isdigit() else (fs.lookup_user(owner) or (None,))[0]
        gid = int(group) if group.isdigit() else (fs.lookup_group(group) if group else fs.owner(path)[1])
        if uid is None or gid is None:
            return error_status(E_GENERAL, f"Unknown owner or group '{arg(args, 1, '')}'")  # [UNV] text
        if user_of(proc)[0] and (uid, gid) != tuple(fs.owner(path)):
            return error_status(E_GENERAL, f"chown {arg(args, 1, '')} {path}: Operation not permitted")  # [UNV] text
        fs.chown(path, uid, gid)
        return ok_status()

    def _date(self, proc: Process, args: tuple, field: str) -> str:
        path = self._path(proc, arg(list(args), 0))
        fs = self._fs(proc)
        if path is None or not fs.exists(path) or not fs._can_reach(path, user_of(proc)[0]):
            return ""
        return _horolog(getattr(os.stat(fs.host_path(path)), field), truth(arg(list(args), 1, 0)))

    def GetFileDateModified(self, proc: Process, *args: Any) -> Any:
        """GetFileDateModified(filename, utc=0) As %String: $H with milliseconds.  [UNV] a missing
        file: the reference does not say; the simulator returns ""."""
        return self._date(proc, args, "st_mtime_ns")

    def GetFileDateCreated(self, proc: Process, *args: Any) -> Any:
        """GetFileDateCreated(filename, utc=0) As %String: "Windows is the only current platform
        that tracks the created date.  Other systems return the date of the last file 'status'
        change": on Linux the file's change time (st_ctime), $H with milliseconds.  [UNV] a
        missing file: ""."""
        return self._date(proc, args, "st_ctime_ns")

    def NormalizeDirectory(self, proc: Process, *args: Any) -> Any:
        """NormalizeDirectory(directory, absolutedirectory="", addnull) As %String: absolute, trailing /."""
        args = list(args)
        directory = str(arg(args, 0))
        base = str(arg(args, 1, "")) or instance_of(proc).manager_directory()
        if not directory.startswith("/"):
            directory = base.rstrip("/") + "/" + directory
        try:
            return normalize(directory).rstrip("/") + "/"
        except ContainerPathError:
            return ""

    def ManagerDirectory(self, proc: Process, *args: Any) -> Any:
        """ManagerDirectory() As %String."""
        return instance_of(proc).manager_directory()

    def GetFileSize(self, proc: Process, *args: Any) -> Any:
        """GetFileSize(filename) As %Integer: bytes, or a negative OS error code."""
        path = self._path(proc, arg(list(args), 0))
        fs = self._fs(proc)
        if path is None or not fs.exists(path):
            return -2
        if not fs._can_reach(path, user_of(proc)[0]):
            return -13
        return os.path.getsize(fs.host_path(path))


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return next((name for name, ids in USERS.items() if ids[0] == uid), str(uid))


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return next((name for name, ids in USERS.items() if ids[1] == gid), str(gid))
