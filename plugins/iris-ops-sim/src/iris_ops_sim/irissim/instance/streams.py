"""%Stream.FileBinary (``ref/2024.1/%Stream/FileBinary.cls``, ``%Stream/Object.cls``): reading
a file through a stream linked to it, and writing a new one.  Simulated: ``%New``,
``LinkToFile``, ``Read``, ``Rewind``, ``Write`` and ``%Save`` (to a file that does not exist yet),
the ``AtEnd``, ``Size`` and ``Filename`` properties, and :meth:`FileBinaryObject.chunks` for
``$SYSTEM.Encryption.SHAHashStream``.  The process reads and writes as its OS user, with the
container's permissions.
"""

from __future__ import annotations

import os

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

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any, Iterator

__all__ = ["DEFAULT_READ", "FileBinaryObject", "StreamFileBinary", "CHUNK"]

DEFAULT_READ = 32000  # FileBinary's Read(len=32000)
CHUNK = 1 << 20


class FileBinaryObject(SimObject):
    class_name = "%Stream.FileBinary"

    def __init__(self) -> None:
        self.filename = ""
        self.position = 0
        self.at_end = False
        #: What Write gave since the link, kept until %Save.
        self.pending: list[bytes] | None = None

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
        if name == "Write":
            return self._write(proc, args)
        if name == "%Save":
            return self._save(proc)
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
        self.position, self.at_end, self.pending = 0, False, None
        return ok_status()

    def _uid(self, proc: Process) -> tuple[int, int]:
        return proc.instance.fs.lookup_user(proc.user) or IRISOWNER

    def _readable(self, proc: Process):
        """The host path of the linked file when the process may read it, else None."""
        fs = proc.instance.fs
        if not self.filename or not fs.exists(self.filename) or not fs.can_read(self.filename, self._uid(proc)[0]):
            return None
        host = fs.host_path(self.filename)
        return None if host.is_dir() else host

    def chunks(self, proc: Process) -> Iterator[bytes] | None:
        """The bytes from the current position to the end, read a chunk at a time (the position
        follows); None when the file cannot be read."""
        host = self._readable(proc)
        if host is None:
            return None

        def read() -> Iterator[bytes]:
            with open(host, "rb") as f:
                f.seek(self.position)
                while data := f.read(CHUNK):
                    self.position += len(data)
                    yield data
            self.at_end = True

        return read()

    def _write(self, proc: Process, args: list[Any]) -> Any:
        """Write(data) As %Status: appended to what is saved by %Save.  [UNV] only a stream linked
        to a file that does not exist yet is written (whether IRIS appends to an existing file or
        replaces it is not documented: the simulator refuses); a character above 255 is
        ``<WIDE CHAR>`` (a binary stream holds bytes)."""
        fs = proc.instance.fs
        if not self.filename:
            return error_status(E_GENERAL, "the stream is linked to no file")  # [UNV]
        if self.pending is None and fs.exists(self.filename):
            raise IrisError("UNIMPLEMENTED", "*simulator writes only a stream linked to a new file")
        try:
            data = str(arg(args, 0)).encode("latin-1")
        except UnicodeEncodeError:
            raise IrisError("WIDE CHAR") from None
        self.pending = (self.pending or []) + [data]
        return ok_status()

    def _save(self, proc: Process) -> Any:
        """%Save() As %Status: the written bytes become the linked file, owned by the process's OS
        user.  [UNV] nothing reaches the file before %Save (the stricter reading); no permission
        to create it in its directory: an error status."""
        if self.pending is None:
            return ok_status()
        fs = proc.instance.fs
        uid, gid = self._uid(proc)
        if fs.exists(self.filename) or not fs.can_write(self.filename, uid):
            return error_status(E_GENERAL, f"Unable to open file {self.filename}")  # [UNV]
        host = fs.host_path(self.filename)
        try:
            with open(host, "xb") as f:
                f.write(b"".join(self.pending))
        except OSError as exc:
            return error_status(E_GENERAL, f"Error writing file {self.filename}: {os.strerror(exc.errno or 5)}")
        os.chmod(host, 0o644)
        fs.created(self.filename, uid, gid)
        self.pending = None
        return ok_status()

    def _data(self, proc: Process) -> bytes | None:
        host = self._readable(proc)
        return None if host is None else host.read_bytes()

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
