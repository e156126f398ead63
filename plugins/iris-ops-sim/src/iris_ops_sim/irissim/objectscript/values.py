"""ObjectScript values: strings, canonical numbers and orefs.

Numbers follow "Numeric Values" and "Canonical Form of Numbers" (ObjectScript guide,
``GCOS_types``): a canonical number has no leading ``+``, no leading zeros, no trailing
zeros after a decimal point, no trailing point, and ``-0`` is ``0``; a fraction below 1
has no leading ``0`` (``.5``).  A string used as a number is converted from its longest
leading numeric prefix (``"1.50abc"`` -> ``1.5``, ``"abc"`` -> ``0``).

Arithmetic runs in :mod:`decimal` (ObjectScript numbers are decimal, about 18 significant
digits), then is stored as ``int`` or ``float`` per the runtime contract; ``float`` results
are shown with Python's shortest repr digits (at most 17 significant digits where IRIS shows
up to 19: a known, documented difference).
"""

from __future__ import annotations

import decimal
import re

from .runtime import IrisError, SimObject

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "canon_number", "to_str", "from_decimal", "to_num", "truth", "from_bool", "is_canonical_number_string",
    "arith", "collates_after", "subscript", "format_ref",
]

_CTX = decimal.Context(prec=18, rounding=decimal.ROUND_HALF_EVEN)
_LEADING = re.compile(r"([+-]*)(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def canon_number(n: Any) -> str:
    if isinstance(n, bool):
        n = int(n)
    if isinstance(n, int):
        return str(n)
    if isinstance(n, float):
        if n != n or n in (float("inf"), float("-inf")):
            raise IrisError("ILLEGAL VALUE")
        d = decimal.Decimal(repr(n))
    else:
        d = n
    if d == 0:
        return "0"
    if d == d.to_integral_value():
        return str(int(d))
    text = format(d.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text.startswith("0."):
        text = text[1:]
    elif text.startswith("-0."):
        text = "-" + text[2:]
    return text


def to_str(v: Any) -> str:
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, (int, float)):
        return canon_number(v)
    if isinstance(v, SimObject):
        return str(v)
    if v is None:
        return ""
    raise TypeError(f"not an ObjectScript value: {v!r}")


def _to_decimal(v: Any) -> decimal.Decimal:
    if isinstance(v, bool):
        return decimal.Decimal(int(v))
    if isinstance(v, int):
        return decimal.Decimal(v)
    if isinstance(v, float):
        return decimal.Decimal(repr(v))
    s = to_str(v)
    m = _LEADING.match(s)
    if not m:
        return decimal.Decimal(0)
    sign = -1 if m.group(1).count("-") % 2 else 1
    body = m.group(2) + (m.group(3) or "")
    return _CTX.plus(decimal.Decimal(body)) * sign


def from_decimal(d: decimal.Decimal) -> int | float:
    d = _CTX.plus(d)
    if d == d.to_integral_value():
        return int(d)
    return float(d)


def to_num(v: Any) -> int | float:
    """The numeric value of ``v`` (canonical ``int``/``float``)."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if v == int(v) else v
    return from_decimal(_to_decimal(v))


def truth(v: Any) -> bool:
    return to_num(v) != 0


def from_bool(b: bool) -> int:
    """A truth as ObjectScript's logical and relational operators give it: 1 or 0."""
    return 1 if b else 0


def is_canonical_number_string(s: str) -> bool:
    m = _LEADING.fullmatch(s)
    return bool(m) and canon_number(to_num(s)) == s


def arith(op: str, a: Any, b: Any) -> int | float:
    x, y = _to_decimal(a), _to_decimal(b)
    with decimal.localcontext(_CTX):
        if op == "+":
            r = x + y
        elif op == "-":
            r = x - y
        elif op == "*":
            r = x * y
        elif op == "/":
            if y == 0:
                raise IrisError("DIVIDE")
            r = x / y
        elif op == "\\":
            if y == 0:
                raise IrisError("DIVIDE")
            r = (x / y).to_integral_value(rounding=decimal.ROUND_DOWN)
        elif op == "#":
            if y == 0:
                raise IrisError("DIVIDE")
            r = x - y * (x / y).to_integral_value(rounding=decimal.ROUND_FLOOR)
        elif op == "**":
            if x == 0 and y < 0:
                raise IrisError("ILLEGAL VALUE")
            if y == y.to_integral_value():
                r = x ** int(y)
            else:
                if x < 0:
                    raise IrisError("ILLEGAL VALUE")
                r = decimal.Decimal(repr(float(x) ** float(y)))
        else:  # pragma: no cover - parser guarantees the operator
            raise IrisError("SYNTAX")
    return from_decimal(r)


def collates_after(a: Any, b: Any) -> bool:
    """``a]]b``: ``a`` sorts after ``b`` in subscript (numeric-then-string) order."""
    return _sort_key(a) > _sort_key(b)


def _sort_key(v: Any) -> tuple:
    s = to_str(v)
    if s == "":
        return (-1, 0, "")
    if is_canonical_number_string(s):
        return (0, to_num(s), "")
    return (1, 0, s)


def subscript(v: Any) -> Any:
    """Normalise a subscript value: canonical numeric strings and numbers are the same node."""
    if isinstance(v, SimObject):
        v = to_str(v)
    if isinstance(v, (int, float)):
        return to_num(v)
    s = to_str(v)
    if s == "":
        raise IrisError("SUBSCRIPT")
    if is_canonical_number_string(s):
        return to_num(s)
    return s


def format_ref(name: str, subs: list) -> str:
    """How IRIS shows a variable reference in ``<UNDEFINED> *x("a",1)``."""
    if not subs:
        return name
    parts = []
    for s in subs:
        if isinstance(s, (int, float)):
            parts.append(canon_number(s))
        else:
            parts.append('"' + str(s).replace('"', '""') + '"')
    return f"{name}({','.join(parts)})"
