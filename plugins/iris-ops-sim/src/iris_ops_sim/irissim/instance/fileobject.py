"""A %Library.File object (``ref/2024.1/%Library/File.cls``): ``##class(%File).%New(name)``, then
``Open(mode)``, ``Write(data)`` / ``WriteLine(data)`` and ``Close()``.  Only writing a new file
is simulated: what iris-ops' freeze script needs to leave a small record in the manager
directory.

[DOC] what is simulated:

* ``%New(initval)`` sets ``Name``; ``IsOpen`` is 0 until ``Open`` succeeds.
* ``Open(mode="", timeout=0) As %Status``: ``W`` write, ``S`` stream mode, ``N`` "Create a new
  file (overwrite existing file)".  The process writes as its OS user, with the container's
  permissions; the directory must exist (the OPEN command "If the OPEN command creates a new
  file, the specified directory must already exist", I/O Device Guide).
* ``Write(data) As %Status``; ``WriteLine(data) As %Status`` adds the line terminator; ``Close()``.

[UNV] what is not verified, and the stricter or simpler choice made:

* Only a mode holding ``W`` and ``N`` (with or without ``S``) is run; any other mode (reading,
  appending, the ``:``-separated keywords) is ``<UNIMPLEMENTED>``.
* A failed ``Open`` returns #5001 ``Cannot open file``; ``Write`` on a file that is not open
  returns #5001 too.  The line terminator in stream mode is ``LF`` (UNIX).
* Each ``Write`` reaches the file at once (no buffering): a process killed mid-way leaves what it
  wrote so far.
"""

from __future__ import annotations

import os
import posixpath

from ..objectscript.runtime import IrisError, Process, SimObject, arg, error_status, ok_status
from .classes.common import E_GENERAL, instance_of, user_of
from .fs import ContainerPathError, normalize

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["FileObject"]


class FileObject(SimObject):
    class_name = "%Library.File"

    def __init__(self, name: str) -> None:
        self.name = name
        self.path: str | None = None  # the open file's container path

    def get_property(self, proc: Process, name: str) -> Any:
        if name == "Name":
            return self.name
        if name == "IsOpen":
            return 1 if self.path else 0
        return super().get_property(proc, name)

    def set_property(self, proc: Process, name: str, value: Any) -> None:
        if name == "Name":
            self.name = str(value)
            return
        super().set_property(proc, name, value)

    def call_method(self, proc: Process, name: str, args: list[Any]) -> Any:
        if name == "Open":
            return self._open(proc, str(arg(args, 0, "")))
        if name == "Write":
            return self._write(proc, str(arg(args, 0, "")))
        if name == "WriteLine":
            return self._write(proc, str(arg(args, 0, "")) + "\n")
        if name == "Close":
            self.path = None
            return ""
        return super().call_method(proc, name, args)

    def _open(self, proc: Process, mode: str) -> Any:
        letters = set(mode.upper())
        if ":" in mode or not {"W", "N"} <= letters or not letters <= {"W", "N", "S"}:
            raise IrisError("UNIMPLEMENTED", f'*simulator opens a %File only to write a new file ("WSN"), not "{mode}"')
        inst = instance_of(proc)
        fs = inst.fs
        uid, gid = user_of(proc)
        text = self.name if self.name.startswith("/") else inst.manager_directory() + self.name
        refused = error_status(E_GENERAL, f"Cannot open file '{self.name}'")
        try:
            path = normalize(text)
        except ContainerPathError:
            return refused
        parent = posixpath.dirname(path)
        if not self.name or not fs.exists(parent) or not fs.host_path(parent).is_dir():
            return refused
        existed = fs.exists(path)
        if existed and (fs.host_path(path).is_dir() or not fs.can_write(path, uid)):
            return refused
        if not existed and not fs.can_write(path, uid):
            return refused
        try:
            with open(fs.host_path(path), "wb"):
                pass
        except OSError:
            return refused
        if not existed:
            os.chmod(fs.host_path(path), 0o644)
            fs.created(path, uid, gid)
        self.path = path
        return ok_status()

    def _write(self, proc: Process, data: str) -> Any:
        if not self.path:
            return error_status(E_GENERAL, f"File '{self.name}' is not open")
        try:
            with open(instance_of(proc).fs.host_path(self.path), "ab") as out:
                out.write(data.encode("utf-8"))
        except OSError as exc:  # the disk full, or the file removed meanwhile
            return error_status(E_GENERAL, f"Cannot write to file '{self.name}': {exc.strerror}")
        return ok_status()
