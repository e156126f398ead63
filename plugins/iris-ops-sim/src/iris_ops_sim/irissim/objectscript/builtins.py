"""Simulated IRIS library classes the interpreter itself needs.

Each class names its class-reference page (IRIS 2024.1, readable as ``.cls`` stubs in the
public repository ``caretdev/docs-intersystems`` at ``ref/2024.1/<Package>/<Class>.cls``).
Where the reference is silent the stricter behaviour is chosen and marked [UNV].
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from .runtime import (
    OMITTED,
    ByRef,
    ErrorStatus,
    Halt,
    IrisError,
    Process,
    SimClass,
    SimObject,
    ThrownException,
    error_status,
    is_error_status,
    ok_status,
    register_class,
)
from .values import canon_number, to_num, to_str, truth

__all__ = [
    "LibObject", "SYSTEM_ERROR_CODES", "ExceptionObject", "GeneralExceptionObject",
    "StatusExceptionObject", "SystemExceptionObject", "GeneralException", "StatusException",
    "SystemException", "STATUS_TEMPLATES", "SystemStatus", "SystemProcess", "SystemVersion", "JsonNumber",
    "to_json", "from_json", "DynamicObjectObject", "DynamicArrayObject", "IteratorObject",
    "DynamicObjectClass", "DynamicArrayClass", "DynamicAbstractClass", "build_json",
]

_orefs = itertools.count(1)


def _arg(args: tuple, i: int, default: Any) -> Any:
    return args[i] if len(args) > i and args[i] is not OMITTED else default


def _value(v: Any) -> Any:
    """A by-value argument: ``.var`` where a value is expected is the variable's value."""
    if isinstance(v, ByRef):
        return v.get("")
    return v


class LibObject(SimObject):
    """Base of the objects created here: a stable oref number and ``%ClassName``."""

    def __init__(self) -> None:
        self.oref_number = next(_orefs)

    def __str__(self) -> str:
        return f"{self.oref_number}@{self.class_name}"

    def call_method(self, proc: Process, name: str, args: list[Any]) -> Any:
        if name == "%ClassName":
            full = truth(_arg(tuple(args), 0, 0))
            return self.class_name if full else self.class_name.rsplit(".", 1)[-1]
        attr = "m_" + (name[1:] if name.startswith("%") else name)
        if name.startswith("%"):
            attr = "mp_" + name[1:]
        impl = getattr(self, attr, None)
        if impl is None:
            raise IrisError("METHOD DOES NOT EXIST", f"*{name},{self.class_name}")
        try:
            return impl(proc, *args)
        except TypeError as e:
            if "positional argument" in str(e):
                raise IrisError("PARAMETER") from None
            raise


# --- %Exception.* ----------------------------------------------------------------------------

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
    vals = [_value(_arg(args, i, "")) for i in range(5)]
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
        sc = _value(sc)
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
        vals = [_value(_arg(args, i, "")) for i in range(4)]
        name = to_str(vals[0]).strip("<>")
        return SystemExceptionObject(IrisError(name, to_str(vals[3]), to_str(vals[2])))


# --- %SYSTEM.Status, %SYSTEM.Process, %SYSTEM.Version ----------------------------------------

# Message templates of the few error numbers the simulator builds itself (%1 = first message).
STATUS_TEMPLATES = {5001: "%1", 5002: "ObjectScript error: %1"}


@register_class
class SystemStatus(SimClass):
    """%SYSTEM.Status (``ref/2024.1/%SYSTEM/Status.cls``), also reached as ``$SYSTEM.Status``."""

    name = "%SYSTEM.Status"

    def OK(self, proc: Process) -> int:
        return ok_status()

    def IsError(self, proc: Process, sc: Any) -> int:
        return 1 if is_error_status(_value(sc)) else 0

    def IsOK(self, proc: Process, sc: Any) -> int:
        return 0 if is_error_status(_value(sc)) else 1

    def GetErrorText(self, proc: Process, sc: Any, language: Any = OMITTED) -> str:
        """The error text (``ERROR #5001: ...``); ``""`` for an OK status."""
        sc = _value(sc)
        if isinstance(sc, ErrorStatus):
            return sc.text
        return ""

    def GetErrorCodes(self, proc: Process, sc: Any) -> Any:
        sc = _value(sc)
        return sc.code if isinstance(sc, ErrorStatus) else ""

    def Error(self, proc: Process, errorcode: Any, *messages: Any) -> ErrorStatus:
        """An error status.  Only templates of :data:`STATUS_TEMPLATES` are known; any other
        number gets its messages joined by ``, `` [UNV]."""
        if len(messages) > 3:
            raise IrisError("PARAMETER")
        code = int(to_num(_value(errorcode)))
        msgs = [to_str(_value(m)) for m in messages if m is not OMITTED]
        template = STATUS_TEMPLATES.get(code)
        if template is None:
            text = ", ".join(msgs)
        else:
            text = template
            for i in range(3):
                text = text.replace(f"%{i + 1}", msgs[i] if i < len(msgs) else "")
        return error_status(code, text)


@register_class
class SystemProcess(SimClass):
    """%SYSTEM.Process (``ref/2024.1/%SYSTEM/Process.cls``)."""

    name = "%SYSTEM.Process"

    def Terminate(self, proc: Process, pid: Any = OMITTED, exit_status: Any = OMITTED) -> int:
        """``Terminate(pid=$JOB, ExitStatus=1)``: ends the process with ExitStatus as its OS exit
        status.  For a pid that is not this process the simulator knows no other IRIS process:
        returns -3 ("pid does not reference an InterSystems IRIS process")."""
        pid = _value(pid)
        target = proc.job if pid is OMITTED or to_str(pid) == "" else to_num(pid)
        status = 1 if exit_status is OMITTED else int(to_num(_value(exit_status)))
        if target != proc.job:
            return -3
        if status < 0 and status != -65:
            raise IrisError("ILLEGAL VALUE")
        raise Halt(status)

    def SetZEOF(self, proc: Process, switch: Any = OMITTED) -> int:
        """``SetZEOF(switch)``: 1 makes the end of a file set $ZEOF to -1 (READ returns "")
        instead of raising <ENDOFFILE>; without an argument it only answers.  Returns the
        previous setting."""
        before = 1 if proc.zeof_mode else 0
        switch = _value(switch)
        if switch is not OMITTED:
            proc.zeof_mode = bool(to_num(switch))
        return before


_VERSION_NUMBER = re.compile(r"\s(\d+)\.(\d+)(?:\.(\d+))?\s")


@register_class
class SystemVersion(SimClass):
    """%SYSTEM.Version (``ref/2024.1/%SYSTEM/Version.cls``); ``zv`` defaults to ``$ZVERSION``."""

    name = "%SYSTEM.Version"

    def _zv(self, proc: Process, zv: Any) -> str:
        return to_str(_value(zv)) if zv is not OMITTED else proc.instance.version

    def GetVersion(self, proc: Process, zv: Any = OMITTED) -> str:
        """"A string containing complete version information": the $ZVERSION string."""
        return self._zv(proc, zv)

    def GetNumber(self, proc: Process, zv: Any = OMITTED) -> str:
        """major.minor[.point], e.g. ``2024.1``."""
        m = _VERSION_NUMBER.search(" " + self._zv(proc, zv) + " ")
        return ".".join(g for g in m.groups() if g) if m else ""

    def GetMajor(self, proc: Process, zv: Any = OMITTED) -> str:
        m = _VERSION_NUMBER.search(" " + self._zv(proc, zv) + " ")
        return m.group(1) if m else ""

    def GetMinor(self, proc: Process, zv: Any = OMITTED) -> str:
        m = _VERSION_NUMBER.search(" " + self._zv(proc, zv) + " ")
        return m.group(2) if m else ""


# --- %DynamicObject / %DynamicArray ----------------------------------------------------------


class JsonNumber(str):
    """A number that came from JSON text: %ToJSON writes its text back unchanged, %Get returns
    its canonical ObjectScript value."""


class _Const:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


JTRUE, JFALSE, JNULL = _Const("true"), _Const("false"), _Const("null")


def _from_json_value(v: Any) -> Any:
    if v is True:
        return JTRUE
    if v is False:
        return JFALSE
    if v is None:
        return JNULL
    if isinstance(v, JsonNumber):
        return v
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        arr = DynamicArrayObject()
        arr.items = [_from_json_value(x) for x in v]
        return arr
    if isinstance(v, dict):
        obj = DynamicObjectObject()
        obj.items = {k: _from_json_value(x) for k, x in v.items()}
        return obj
    raise TypeError(v)  # pragma: no cover


def _to_os(v: Any) -> Any:
    """Element value as %Get returns it: true/false -> 1/0, null -> ""."""
    if v is JTRUE:
        return 1
    if v is JFALSE:
        return 0
    if v is JNULL or v is None:
        return ""
    if isinstance(v, JsonNumber):
        return to_num(str.__str__(v))
    return v


def _type_of(v: Any) -> str:
    if v is None:
        return "unassigned"
    if v is JTRUE or v is JFALSE:
        return "boolean"
    if v is JNULL:
        return "null"
    if isinstance(v, (JsonNumber, int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, DynamicObjectObject):
        return "object"
    if isinstance(v, DynamicArrayObject):
        return "array"
    return "oref"


def _store(value: Any, type_: Any) -> Any:
    """Convert an ObjectScript value for storage (%Set/%Push ``type`` argument)."""
    value = _value(value)
    t = "" if type_ is OMITTED else to_str(_value(type_)).lower()
    if t == "":
        if isinstance(value, bool):
            return int(value)
        return value
    if t == "boolean":
        return JTRUE if truth(value) else JFALSE
    if t == "null":
        if to_str(value) != "":
            raise IrisError("ILLEGAL VALUE")
        return JNULL
    if t == "number":
        return to_num(value)
    if t == "string":
        return to_str(value)
    raise IrisError("ILLEGAL VALUE")


def _json_number(n: int | float) -> str:
    text = canon_number(n)
    if text.startswith("."):
        return "0" + text
    if text.startswith("-."):
        return "-0" + text[1:]
    return text


def to_json(v: Any) -> str:
    """%ToJSON serialisation.  Strings escape ``"``, ``\\`` and control characters; ``/`` and
    non-ASCII characters are written as they are [UNV]."""
    if v is None or v is JNULL:
        return "null"
    if v is JTRUE:
        return "true"
    if v is JFALSE:
        return "false"
    if isinstance(v, JsonNumber):
        return str.__str__(v)
    if isinstance(v, (int, float)):
        return _json_number(v)
    if isinstance(v, str):
        return json.dumps(str.__str__(v), ensure_ascii=False)
    if isinstance(v, DynamicObjectObject):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + to_json(x) for k, x in v.items.items()) + "}"
    if isinstance(v, DynamicArrayObject):
        return "[" + ",".join(to_json(x) for x in v.items) + "]"
    # an oref of another class cannot be converted to JSON
    raise IrisError("ILLEGAL VALUE")


def from_json(text: Any) -> Any:
    """%FromJSON of a string.  A parse error throws an exception (``%Exception.General``,
    Name ``Parsing error``, Code 3, Data ``Line 1 Offset n``) [UNV]."""
    if isinstance(text, SimObject):
        raise IrisError("UNIMPLEMENTED", "*simulator does not run %FromJSON of a stream")
    s = to_str(text)
    try:
        parsed = json.loads(s, parse_float=JsonNumber, parse_int=JsonNumber, object_pairs_hook=dict)
    except json.JSONDecodeError as e:
        raise ThrownException(GeneralExceptionObject("Parsing error", 3, "", f"Line {e.lineno} Offset {e.colno}")) from None
    if not isinstance(parsed, (dict, list)):
        raise ThrownException(GeneralExceptionObject("Parsing error", 3, "", "Line 1 Offset 1"))
    return _from_json_value(parsed)


class DynamicObjectObject(LibObject):
    """%Library.DynamicObject (``ref/2024.1/%Library/DynamicObject.cls``)."""

    class_name = "%Library.DynamicObject"

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, Any] = {}

    def get_property(self, proc: Process, name: str) -> Any:
        return _to_os(self.items.get(name))

    def set_property(self, proc: Process, name: str, value: Any) -> None:
        self.items[name] = _store(value, OMITTED)

    def mp_Set(self, proc: Process, key: Any, value: Any = OMITTED, type_: Any = OMITTED) -> "DynamicObjectObject":
        if value is OMITTED:
            raise IrisError("PARAMETER")
        self.items[to_str(_value(key))] = _store(value, type_)
        return self

    def mp_Get(self, proc: Process, key: Any, default: Any = OMITTED, type_: Any = OMITTED) -> Any:
        if type_ is not OMITTED:
            raise IrisError("UNIMPLEMENTED", "*simulator does not run %Get with a type")
        k = to_str(_value(key))
        if k not in self.items:
            return "" if default is OMITTED else _value(default)
        return _to_os(self.items[k])

    def mp_IsDefined(self, proc: Process, key: Any) -> int:
        return 1 if to_str(_value(key)) in self.items else 0

    def mp_Remove(self, proc: Process, key: Any) -> Any:
        return _to_os(self.items.pop(to_str(_value(key)), None))

    def mp_Size(self, proc: Process) -> int:
        return len(self.items)

    def mp_GetTypeOf(self, proc: Process, key: Any) -> str:
        return _type_of(self.items.get(to_str(_value(key))))

    def mp_ToJSON(self, proc: Process, stream: Any = OMITTED) -> str:
        if stream is not OMITTED:
            raise IrisError("UNIMPLEMENTED", "*simulator does not run %ToJSON to a stream")
        return to_json(self)

    def mp_GetIterator(self, proc: Process) -> "IteratorObject":
        return IteratorObject(list(self.items.items()), "%Iterator.Object")

    def mp_Clear(self, proc: Process) -> "DynamicObjectObject":
        self.items.clear()
        return self


class DynamicArrayObject(LibObject):
    """%Library.DynamicArray (``ref/2024.1/%Library/DynamicArray.cls``); keys are 0-based."""

    class_name = "%Library.DynamicArray"

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Any] = []

    def _index(self, key: Any) -> int:
        k = to_num(_value(key))
        if k != int(k) or k < 0:
            raise IrisError("ILLEGAL VALUE")
        return int(k)

    def mp_Push(self, proc: Process, value: Any = OMITTED, type_: Any = OMITTED) -> "DynamicArrayObject":
        if value is OMITTED:
            raise IrisError("PARAMETER")
        self.items.append(_store(value, type_))
        return self

    def mp_Pop(self, proc: Process) -> Any:
        return _to_os(self.items.pop()) if self.items else ""

    def mp_Set(self, proc: Process, key: Any, value: Any = OMITTED, type_: Any = OMITTED) -> "DynamicArrayObject":
        if value is OMITTED:
            raise IrisError("PARAMETER")
        i = self._index(key)
        while len(self.items) <= i:
            self.items.append(None)  # unassigned; %ToJSON writes null
        self.items[i] = _store(value, type_)
        return self

    def mp_Get(self, proc: Process, key: Any, default: Any = OMITTED, type_: Any = OMITTED) -> Any:
        if type_ is not OMITTED:
            raise IrisError("UNIMPLEMENTED", "*simulator does not run %Get with a type")
        i = self._index(key)
        if i >= len(self.items) or self.items[i] is None:
            return "" if default is OMITTED else _value(default)
        return _to_os(self.items[i])

    def mp_IsDefined(self, proc: Process, key: Any) -> int:
        i = self._index(key)
        return 1 if i < len(self.items) and self.items[i] is not None else 0

    def mp_Remove(self, proc: Process, key: Any) -> Any:
        i = self._index(key)
        return _to_os(self.items.pop(i)) if i < len(self.items) else ""

    def mp_Size(self, proc: Process) -> int:
        return len(self.items)

    def mp_GetTypeOf(self, proc: Process, key: Any) -> str:
        i = self._index(key)
        return _type_of(self.items[i] if i < len(self.items) else None)

    def mp_ToJSON(self, proc: Process, stream: Any = OMITTED) -> str:
        if stream is not OMITTED:
            raise IrisError("UNIMPLEMENTED", "*simulator does not run %ToJSON to a stream")
        return to_json(self)

    def mp_GetIterator(self, proc: Process) -> "IteratorObject":
        return IteratorObject([(i, v) for i, v in enumerate(self.items) if v is not None], "%Iterator.Array")

    def mp_Clear(self, proc: Process) -> "DynamicArrayObject":
        self.items.clear()
        return self


class IteratorObject(LibObject):
    """%Iterator.Object / %Iterator.Array: ``%GetNext(.key, .value, .type)`` returns 1 while
    an element remains."""

    def __init__(self, pairs: list, class_name: str) -> None:
        super().__init__()
        self.pairs = pairs
        self.pos = 0
        self.class_name = class_name

    def mp_GetNext(self, proc: Process, key: Any = OMITTED, value: Any = OMITTED, type_: Any = OMITTED) -> int:
        if self.pos >= len(self.pairs):
            return 0
        k, v = self.pairs[self.pos]
        self.pos += 1
        for ref, val in ((key, k), (value, _to_os(v)), (type_, _type_of(v))):
            if isinstance(ref, ByRef):
                ref.set(val)
        return 1


class _DynamicClass(SimClass):
    factory: type = DynamicObjectObject

    def _pct_New(self, proc: Process, *args: Any) -> Any:
        if args:
            raise IrisError("UNIMPLEMENTED", "*simulator does not run %New with an initial value")
        return self.factory()

    def _pct_FromJSON(self, proc: Process, text: Any) -> Any:
        """Parse JSON text; the result is an object or an array as the text says."""
        return from_json(_value(text))


@register_class
class DynamicObjectClass(_DynamicClass):
    """%Library.DynamicObject (``ref/2024.1/%Library/DynamicObject.cls``)."""

    name = "%Library.DynamicObject"
    factory = DynamicObjectObject


@register_class
class DynamicArrayClass(_DynamicClass):
    """%Library.DynamicArray (``ref/2024.1/%Library/DynamicArray.cls``)."""

    name = "%Library.DynamicArray"
    factory = DynamicArrayObject


@register_class
class DynamicAbstractClass(_DynamicClass):
    """%Library.DynamicAbstractObject: only ``%FromJSON`` (it is abstract: no ``%New``)."""

    name = "%Library.DynamicAbstractObject"

    def _pct_New(self, proc: Process, *args: Any) -> Any:
        raise IrisError("METHOD DOES NOT EXIST", f"*%New,{self.name}")


def build_json(interp: Any, node: tuple) -> Any:
    """Evaluate a JSON literal node (``{...}`` / ``[...]``) from the parser."""
    kind = node[0]
    if kind == "jobj":
        obj = DynamicObjectObject()
        for key, v in node[1]:
            obj.items[key] = build_json(interp, v)
        return obj
    if kind == "jarr":
        arr = DynamicArrayObject()
        arr.items = [build_json(interp, v) for v in node[1]]
        return arr
    if kind == "jstr":
        return node[1]
    if kind == "jnum":
        return JsonNumber(node[1])
    if kind == "jconst":
        return {"true": JTRUE, "false": JFALSE, "null": JNULL}[node[1]]
    if kind == "expr":
        return _store(interp.eval(node[1]), OMITTED)
    raise IrisError("SYNTAX")  # pragma: no cover
