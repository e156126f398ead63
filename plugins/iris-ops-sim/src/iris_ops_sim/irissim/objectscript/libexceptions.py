"""%Exception.* for the simulated interpreter: what Try/Catch, Throw and status conversions use.

Each class names its class-reference page (IRIS 2024.1, readable as ``.cls`` stubs in the
public repository ``caretdev/docs-intersystems`` at ``ref/2024.1/<Package>/<Class>.cls``).
Where the reference is silent the stricter behaviour is chosen and marked [UNV].
"""

from __future__ import annotations

from .libobject import LibObject, arg_at, by_value
from .runtime import OMITTED, ErrorStatus, IrisError, Process, SimClass, error_status, register_class
from .values import to_num, to_str

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "SYSTEM_ERROR_CODES", "ExceptionObject", "GeneralExceptionObject", "StatusExceptionObject",
    "SystemExceptionObject", "GeneralException", "StatusException", "SystemException",
]

# Code values of system exceptions (%Exception.SystemException.Code).  Only codes seen in public
# material are listed ([CODE]: `<UNDEFINED> 9 ...`, `<CLASS DOES NOT EXIST> 150 ...`,
# `<METHOD DOES NOT EXIST> 148 ...`, `<INVALID OREF> 192 ...` in DisplayString output); any other
# error gets an empty Code rather than an invented number.
SYSTEM_ERROR_CODES = {
    "SYNTAX": 8,
    "UNDEFINED": 9,
    "DIVIDE": 18,
    "METHOD DOES NOT EXIST": 148,
    "CLASS DOES NOT EXIST": 150,
    "INVALID OREF": 192,
}


class ExceptionObject(LibObject):
    """%Exception.AbstractException (``ref/2024.1/%Exception/AbstractException.cls``):
    properties Name, Code, Location, Data, InnerException; methods DisplayString, AsStatus."""

    class_name = "%Exception.AbstractException"
    read_only = False

    def __init__(self, name: Any = "", code: Any = "", location: Any = "", data: Any = "", inner: Any = "") -> None:
        super().__init__()
        self.props = {"Name": name, "Code": code, "Location": location, "Data": data, "InnerException": inner}

    def get_property(self, proc: Process, name: str) -> Any:
        if name in self.props:
            return self.props[name]
        return super().get_property(proc, name)

    def set_property(self, proc: Process, name: str, value: Any) -> None:
        if name not in self.props:
            super().set_property(proc, name, value)
        if self.read_only:
            # SystemException forces its properties read-only (NameSet etc. are overridden).
            raise IrisError("CANNOT SET THIS PROPERTY", f"*{name},{self.class_name}")
        self.props[name] = value

    def display_string(self) -> str:
        """[UNV] Name, Code, Location and Data separated by one space, as in the public output
        ``<UNDEFINED> 9 zTest1+8^CookBook.Class1.1 p1``; empty parts are left out."""
        parts = [to_str(self.props[k]) for k in ("Name", "Code", "Location", "Data")]
        return " ".join(p for p in parts if p != "")

    def m_DisplayString(self, proc: Process, level: Any = OMITTED) -> str:
        return self.display_string()

    def m_AsStatus(self, proc: Process) -> Any:
        return self.as_status()

    def as_status(self) -> Any:
        """[UNV] %Exception.General.OnAsStatus: a #5001 error carrying DisplayString."""
        return error_status(5001, self.display_string())


class GeneralExceptionObject(ExceptionObject):
    """%Exception.General (``ref/2024.1/%Exception/General.cls``):
    ``%New(Name, Code, Location, Data, InnerException)``."""

    class_name = "%Exception.General"


class StatusExceptionObject(ExceptionObject):
    """%Exception.StatusException (``ref/2024.1/%Exception/StatusException.cls``).

    Built by CreateFromStatus: Name and Code are the error number, Data the message (IRIS keeps a
    $ListBuild of the message parameters; lists are not simulated).  DisplayString is the status
    error text (``ERROR #5001: ...``) and AsStatus gives back the original status."""

    class_name = "%Exception.StatusException"

    def __init__(self, status: ErrorStatus | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.status = status

    def display_string(self) -> str:
        if self.status is not None:
            return self.status.text
        return super().display_string()

    def as_status(self) -> Any:
        if self.status is not None:
            return self.status
        return error_status(to_num(self.props["Code"]) or 5001, to_str(self.props["Data"]))


class SystemExceptionObject(ExceptionObject):
    """%Exception.SystemException (``ref/2024.1/%Exception/SystemException.cls``): what Catch
    receives for an ObjectScript error.  Name ``<UNDEFINED>``, Code (see
    :data:`SYSTEM_ERROR_CODES`), Location, Data (``x`` for ``<UNDEFINED> *x``; read-only).
    AsStatus is ``ERROR #5002: ObjectScript error: <$ZE text>``."""

    class_name = "%Exception.SystemException"
    read_only = True

    def __init__(self, error: IrisError) -> None:
        detail = error.detail[1:] if error.detail.startswith("*") else error.detail
        super().__init__(f"<{error.code}>", SYSTEM_ERROR_CODES.get(error.code, ""), error.location, detail)
        self.error = error

    @classmethod
    def from_error(cls, error: IrisError) -> "SystemExceptionObject":
        return cls(error)

    def as_error(self) -> IrisError:
        e = self.error
        return IrisError(e.code, e.detail, e.location)

    def m_AsSystemError(self, proc: Process) -> str:
        return self.error.zerror

    def as_status(self) -> Any:
        return error_status(5002, "ObjectScript error: " + self.error.zerror)


def _exception_new(cls: type[ExceptionObject], args: tuple) -> ExceptionObject:
    vals = [by_value(arg_at(args, i, "")) for i in range(5)]
    if len(args) > 5:
        raise IrisError("PARAMETER")
    return cls(*vals)


@register_class
class GeneralException(SimClass):
    """%Exception.General (``ref/2024.1/%Exception/General.cls``)."""

    name = "%Exception.General"

    def _pct_New(self, proc: Process, *args: Any) -> ExceptionObject:
        return _exception_new(GeneralExceptionObject, args)


@register_class
class StatusException(SimClass):
    """%Exception.StatusException (``ref/2024.1/%Exception/StatusException.cls``)."""

    name = "%Exception.StatusException"

    def CreateFromStatus(self, proc: Process, sc: Any) -> ExceptionObject:
        """Convert a %Status into an exception.  The reference says not to call it with an OK
        status; the simulator then returns an exception with empty properties [UNV]."""
        sc = by_value(sc)
        if isinstance(sc, ErrorStatus):
            return StatusExceptionObject(sc, name=sc.code, code=sc.code, location="", data=sc.text.split(": ", 1)[-1])
        return StatusExceptionObject(None)

    def _pct_New(self, proc: Process, *args: Any) -> ExceptionObject:
        return _exception_new(StatusExceptionObject, args)


@register_class
class SystemException(SimClass):
    """%Exception.SystemException: "Only the System should create an instance of this class";
    ``%New`` is accepted with the AbstractException arguments."""

    name = "%Exception.SystemException"

    def _pct_New(self, proc: Process, *args: Any) -> ExceptionObject:
        vals = [by_value(arg_at(args, i, "")) for i in range(4)]
        name = to_str(vals[0]).strip("<>")
        return SystemExceptionObject(IrisError(name, to_str(vals[3]), to_str(vals[2])))
