"""%DynamicObject and %DynamicArray for the simulated interpreter: JSON literals, %FromJSON, %ToJSON.

Each class names its class-reference page (IRIS 2024.1, readable as ``.cls`` stubs in the
public repository ``caretdev/docs-intersystems`` at ``ref/2024.1/<Package>/<Class>.cls``).
Where the reference is silent the stricter behaviour is chosen and marked [UNV].
"""

from __future__ import annotations

import json

from .libexceptions import GeneralExceptionObject
from .libobject import LibObject, by_value
from .runtime import OMITTED, ByRef, IrisError, Process, SimClass, SimObject, ThrownException, register_class
from .values import canon_number, to_num, to_str, truth

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "JsonNumber", "to_json", "from_json", "DynamicObjectObject", "DynamicArrayObject", "IteratorObject",
    "DynamicObjectClass", "DynamicArrayClass", "DynamicAbstractClass", "build_json",
]

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
    value = by_value(value)
    t = "" if type_ is OMITTED else to_str(by_value(type_)).lower()
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
        self.items[to_str(by_value(key))] = _store(value, type_)
        return self

    def mp_Get(self, proc: Process, key: Any, default: Any = OMITTED, type_: Any = OMITTED) -> Any:
        if type_ is not OMITTED:
            raise IrisError("UNIMPLEMENTED", "*simulator does not run %Get with a type")
        k = to_str(by_value(key))
        if k not in self.items:
            return "" if default is OMITTED else by_value(default)
        return _to_os(self.items[k])

    def mp_IsDefined(self, proc: Process, key: Any) -> int:
        return 1 if to_str(by_value(key)) in self.items else 0

    def mp_Remove(self, proc: Process, key: Any) -> Any:
        return _to_os(self.items.pop(to_str(by_value(key)), None))

    def mp_Size(self, proc: Process) -> int:
        return len(self.items)

    def mp_GetTypeOf(self, proc: Process, key: Any) -> str:
        return _type_of(self.items.get(to_str(by_value(key))))

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
        k = to_num(by_value(key))
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
            return "" if default is OMITTED else by_value(default)
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
        return from_json(by_value(text))


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
