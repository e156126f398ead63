"""``$LISTBUILD`` values in IRIS's own encoding, as a Python ``str`` of byte-valued characters.

An element is a length byte (header + data), a type byte and the data: type 1 an 8-bit string,
2 a UTF-16LE string, 4 a non-negative integer and 5 a negative one (little-endian, fewest bytes).
Elements longer than 253 bytes use ``\\x00`` + u16 length (or ``\\x00\\x00\\x00`` + u32).
``$LISTBUILD`` results are ordinary strings in IRIS, so a list is an ordinary ``str`` here too.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["listbuild", "parse"]


def _element(value: Any) -> bytes:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        if value == 0:
            kind, data = 4, b""
        elif value > 0:
            kind, data = 4, value.to_bytes((value.bit_length() + 7) // 8, "little")
        else:
            n = (value.bit_length() + 8) // 8
            kind, data = 5, value.to_bytes(n, "little", signed=True)
    else:
        text = str(value)
        if all(ord(c) < 256 for c in text):
            kind, data = 1, text.encode("latin-1")
        else:
            kind, data = 2, text.encode("utf-16-le")
    size = len(data) + 2
    if size < 256:
        return bytes([size, kind]) + data
    if len(data) + 4 < 65536:
        return b"\x00" + struct.pack("<H", len(data) + 1) + bytes([kind]) + data
    return b"\x00\x00\x00" + struct.pack("<I", len(data) + 1) + bytes([kind]) + data


def listbuild(*values: Any) -> str:
    return "".join(_element(v).decode("latin-1") for v in values)


def parse(lst: str) -> list[Any]:
    """The elements of a list built by :func:`listbuild` (for tests and the interpreter)."""
    raw = lst.encode("latin-1")
    out: list[Any] = []
    i = 0
    while i < len(raw):
        size = raw[i]
        if size == 0:
            if raw[i + 1 : i + 3] == b"\x00\x00":
                (length,) = struct.unpack_from("<I", raw, i + 3)
                head = 7
            else:
                (length,) = struct.unpack_from("<H", raw, i + 1)
                head = 3
            kind = raw[i + head]
            data = raw[i + head + 1 : i + head + length]
            i += head + length
        else:
            if size == 1:
                out.append(None)
                i += 1
                continue
            kind = raw[i + 1]
            data = raw[i + 2 : i + size]
            i += size
        if kind == 1:
            out.append(data.decode("latin-1"))
        elif kind == 2:
            out.append(data.decode("utf-16-le"))
        elif kind in (4, 5):
            out.append(int.from_bytes(data, "little", signed=kind == 5) if data else 0)
        else:
            out.append(data.decode("latin-1"))
    return out
