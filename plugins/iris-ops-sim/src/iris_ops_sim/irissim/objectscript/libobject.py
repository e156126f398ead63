"""Base of the simulated library objects: oref numbers, ``%ClassName`` and method dispatch.

The library classes the interpreter itself needs build on it: :mod:`.libexceptions`
(%Exception.*), :mod:`.libsystem` (%SYSTEM.Status, Process, Version) and :mod:`.libdynamic`
(%DynamicObject, %DynamicArray).
"""

from __future__ import annotations

import itertools

from .runtime import OMITTED, ByRef, IrisError, Process, SimObject
from .values import truth

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LibObject", "arg_at", "by_value"]

_orefs = itertools.count(1)


def arg_at(args: tuple, i: int, default: Any) -> Any:
    """Argument ``i`` as given (a by-reference one stays one); ``default`` when omitted or absent."""
    return args[i] if len(args) > i and args[i] is not OMITTED else default


def by_value(v: Any) -> Any:
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
            full = truth(arg_at(tuple(args), 0, 0))
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
