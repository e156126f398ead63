"""%Stream.FileBinary (``ref/2024.1/%Stream/FileBinary.cls``, ``%Stream/Object.cls``): reading
a file through a stream linked to it.  Only what reading needs is simulated: ``%New``,
``LinkToFile``, ``Read``, ``Rewind`` and the ``AtEnd``, ``Size`` and ``Filename`` properties.
The process reads as its OS user, with the container's permissions.
"""

from __future__ import annotations

from typing import Any

from ..objectscript.runtime import (
    ByRef,
    IrisError,
    Process,
    SimClass,
    SimObject,
    arg,
    error_status,
    ok_status,
    register_class,
    set_ref,
)
from .fs import ContainerPathError, normalize
from .state import IRISOWNER
from .classes.common import E_GENERAL

__all__ = ["DEFAULT_READ", "FileBinaryObject", "StreamFileBinary"]

DEFAULT_READ = 32000  # FileBinary's Read(len=32000)


class FileBinaryObject(SimObject):
    class_name = "%Stream.FileBinary"

    def __init__(self) -> None:
        self.filename = ""
        self.position = 0
        self.at_end = False

    def get_property(self, proc: Process, name: str) -> Any:
        if name == "Filename":
            return self.filename
        if name == "AtEnd":
            return 1 if self.at_end else 0
        if name == "Size":
            data = self._data(proc)
            return 0 if data is None else len(data)
        return super().get_property(proc, name)

    def call_method(self, proc: Process, name: str, args: list[Any]) -> Any:
        if name == "LinkToFile":
            return self._link(proc, str(arg(args, 0)))
        if name == "Read":
            return self._read(proc, args)
        if name == "Rewind":
            self.position, self.at_end = 0, False
            return ok_status()
        return super().call_method(proc, name, args)

    def _link(self, proc: Process, filename: str) -> Any:
        """LinkToFile(filename) As %Status: "If the file does not already exist it will still allow
        you to link to this file".  [UNV] a relative name is taken relative to the manager
        directory, as %Library.File does."""
        if not filename.startswith("/"):
            filename = proc.instance.manager_directory() + filename
        try:
            self.filename = normalize(filename)
        except ContainerPathError:
            return error_status(E_GENERAL, f"Invalid file name {filename}")  # [UNV]
        self.position, self.at_end = 0, False
        return ok_status()

    def _data(self, proc: Process) -> bytes | None:
        fs = proc.instance.fs
        uid = (fs.lookup_user(proc.user) or IRISOWNER)[0]
        if not self.filename or not fs.exists(self.filename) or not fs.can_read(self.filename, uid):
            return None
        host = fs.host_path(self.filename)
        if host.is_dir():
            return None
        return host.read_bytes()

    def _read(self, proc: Process, args: list[Any]) -> str:
        """Read(ByRef len=32000, ByRef sc) As %RawString: at the end, len is -1 and "" comes back.
        [UNV] a file that is missing or unreadable sets sc to an error and reads as the end."""
        wanted = arg(args, 0, DEFAULT_READ)
        try:
            wanted = int(wanted)
        except (TypeError, ValueError):
            raise IrisError("ILLEGAL VALUE") from None
        data = self._data(proc)
        if data is None:
            set_ref(args, 1, error_status(E_GENERAL, f"Unable to open file {self.filename}"))
            set_ref(args, 0, -1)
            self.at_end = True
            return ""
        set_ref(args, 1, ok_status())
        if self.position >= len(data):
            set_ref(args, 0, -1)
            self.at_end = True
            return ""
        chunk = data[self.position:self.position + max(wanted, 0)]
        self.position += len(chunk)
        self.at_end = self.position >= len(data)
        set_ref(args, 0, len(chunk))
        return chunk.decode("latin-1")


@register_class
class StreamFileBinary(SimClass):
    """%Stream.FileBinary: ``%New()`` (available in every namespace)."""

    name = "%Stream.FileBinary"

    def _pct_New(self, proc: Process, *args: Any) -> Any:
        if args and not all(a is None or (isinstance(a, ByRef) and not a.defined) for a in args):
            raise IrisError("UNIMPLEMENTED", "*simulator does not run %New with an initial value")
        return FileBinaryObject()
