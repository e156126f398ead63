"""Offline plausibility check of an IRIS.DAT label (IRIS.md §7).

This is a **filter, never proof**.  It catches the obvious cases (a truncated copy, a text file,
an HTML error page saved as IRIS.DAT, iris-devtester's 11-byte ``GOF_FIXTURE`` marker, a file
from a big-endian platform) before anything is copied into a container.  A file that passes can
still fail to mount: the server's ``SYS.Database.MountDatabase`` is the real check.

What is checked, measured on three public files with 8 KiB blocks [EMP]:

========  =====================================================================
offset    content
========  =====================================================================
(size)    a multiple of 8192 and at least 3 blocks
0x05F4    ASCII ``Cache DB``
0x05FC    u16 length, then the original database directory
0x0700    u16 length, then the resource name (e.g. ``%DB_USER``)
0x2020    ASCII ``CacheMap`` (block 1)
0x4004    u32 equal to 9 (block 2)
========  =====================================================================

Byte order is little-endian: IRIS.DAT files are endian-specific, and the platforms iris-ops
targets (IRIS in Docker on x86-64 and ARM64 Linux) are little-endian.  A file whose integers only
make sense read big-endian is reported as such.

Only 8 KiB blocks were measured, so the layout above is the 8 KiB layout and
:attr:`DatLabel.block_size` is inferred from it (always 8192), not read from a field.
Only the first three blocks are read: memory use does not depend on the file size.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Union

from .errors import FixtureError

__all__ = ["BLOCK_SIZE", "MIN_BLOCKS", "HEAD_BYTES", "DatLabel", "check_label", "read_label", "check_head",
           "label_of_head"]

BLOCK_SIZE = 8192
MIN_BLOCKS = 3
#: The bytes of a file's start the checks read: its first :data:`MIN_BLOCKS` blocks.
HEAD_BYTES = MIN_BLOCKS * BLOCK_SIZE

MAGIC_OFFSET = 0x5F4
MAGIC = b"Cache DB"
DIRECTORY_OFFSET = 0x5FC
RESOURCE_OFFSET = 0x700
MAP_OFFSET = 0x2020
MAP_MAGIC = b"CacheMap"
MARKER_OFFSET = 0x4004
MARKER_VALUE = 9

# The directory string must end before the resource field starts; the resource inside block 0.
_DIRECTORY_MAX = RESOURCE_OFFSET - (DIRECTORY_OFFSET + 2)
_RESOURCE_MAX = BLOCK_SIZE - (RESOURCE_OFFSET + 2)

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class DatLabel:
    """What the label of a plausible IRIS.DAT says.

    ``block_size`` is inferred from the recognised layout (8192); ``directory`` is the directory
    the database had when the file was created or last mounted; ``resource`` is the resource that
    guards it, which must exist on an instance before the file mounts there.
    """

    block_size: int
    directory: str
    resource: str


@dataclass
class _Parsed:
    size: int
    problems: list
    directory: str | None = None
    resource: str | None = None


def _read_head(path: PathLike) -> tuple[int, bytes]:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(HEAD_BYTES)
    return size, head


def _string_field(head: bytes, offset: int, limit: int, what: str, problems: list) -> str | None:
    """Read a u16-length-prefixed string at ``offset``; append a problem and return None if implausible."""
    where = f"{what} (u16 length at 0x{offset:X})"
    if len(head) < offset + 2:
        problems.append(f"{where}: beyond the end of the file")
        return None
    (length,) = struct.unpack_from("<H", head, offset)
    if length == 0:
        problems.append(f"{where}: empty (length 0)")
        return None
    if length > limit:
        (big,) = struct.unpack_from(">H", head, offset)
        hint = " (reads plausibly big-endian: a file from another platform?)" if 0 < big <= limit else ""
        problems.append(f"{where}: length {length} exceeds the field's {limit} bytes{hint}")
        return None
    raw = head[offset + 2 : offset + 2 + length]
    if len(raw) < length:
        problems.append(f"{where}: beyond the end of the file")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{where}: not valid UTF-8 text: {raw[:32]!r}")
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        problems.append(f"{where}: contains control characters: {text[:64]!r}")
        return None
    return text


def _parse(path: PathLike) -> _Parsed:
    try:
        size, head = _read_head(path)
    except OSError as e:
        return _Parsed(size=0, problems=[f"cannot read {os.fspath(path)}: {e.strerror or e}"])
    return _parse_head(size, head)


def _parse_head(size: int, head: bytes) -> _Parsed:
    """The checks on a file of ``size`` bytes whose first bytes (up to :data:`HEAD_BYTES`) are ``head``."""
    head = head[:HEAD_BYTES]
    problems: list[str] = []
    parsed = _Parsed(size=size, problems=problems)

    if size % BLOCK_SIZE:
        problems.append(f"size {size} bytes is not a multiple of the {BLOCK_SIZE}-byte block")
    if size < MIN_BLOCKS * BLOCK_SIZE:
        problems.append(f"size {size} bytes is less than {MIN_BLOCKS} blocks ({MIN_BLOCKS * BLOCK_SIZE} bytes)")
    if head.startswith(b"GOF_FIXTURE"):
        problems.append("content is iris-devtester's 'GOF_FIXTURE' marker, not a database file")

    def magic(offset: int, expected: bytes, what: str) -> None:
        found = head[offset : offset + len(expected)]
        if len(found) < len(expected):
            problems.append(f"{what} at 0x{offset:X}: beyond the end of the file")
        elif found != expected:
            problems.append(f"{what} at 0x{offset:X}: expected {expected!r}, found {found!r}")

    magic(MAGIC_OFFSET, MAGIC, "label magic")
    parsed.directory = _string_field(head, DIRECTORY_OFFSET, _DIRECTORY_MAX, "original directory", problems)
    parsed.resource = _string_field(head, RESOURCE_OFFSET, _RESOURCE_MAX, "resource name", problems)
    magic(MAP_OFFSET, MAP_MAGIC, "map magic")

    if len(head) < MARKER_OFFSET + 4:
        problems.append(f"u32 at 0x{MARKER_OFFSET:X}: beyond the end of the file")
    else:
        (value,) = struct.unpack_from("<I", head, MARKER_OFFSET)
        if value != MARKER_VALUE:
            (big,) = struct.unpack_from(">I", head, MARKER_OFFSET)
            hint = " (equals 9 read big-endian: a file from a big-endian platform?)" if big == MARKER_VALUE else ""
            problems.append(f"u32 at 0x{MARKER_OFFSET:X}: expected {MARKER_VALUE}, found {value}{hint}")
    return parsed


def check_label(path: PathLike) -> list[str]:
    """Return the reasons ``path`` does not look like an IRIS.DAT; ``[]`` when it is plausible.

    Every field is checked independently, so one report names every broken field.  A filter,
    never proof: only mounting the file on an instance proves it is a database.
    """
    return list(_parse(path).problems)


def check_head(size: int, head: bytes) -> list[str]:
    """:func:`check_label` for bytes already read (a decompressed stream's first blocks, or the
    start of a hashing pass): ``size`` is the whole file's, ``head`` its first bytes."""
    return list(_parse_head(size, head).problems)


def label_of_head(size: int, head: bytes) -> DatLabel | None:
    """The label in ``head`` when :func:`check_head` finds no problem, else None."""
    parsed = _parse_head(size, head)
    if parsed.problems:
        return None
    assert parsed.directory is not None and parsed.resource is not None
    return DatLabel(block_size=BLOCK_SIZE, directory=parsed.directory, resource=parsed.resource)


def read_label(path: PathLike) -> DatLabel:
    """Read the label of a plausible IRIS.DAT.

    Raises :class:`~iris_ops.errors.FixtureError` listing every problem when the file is
    unreadable or fails :func:`check_label`; run ``iris-ops validate`` for a full report.
    """
    parsed = _parse(path)
    if parsed.problems:
        raise FixtureError(
            f"{os.fspath(path)} does not look like an IRIS.DAT: " + "; ".join(parsed.problems),
            fix="Run `iris-ops validate` on the fixture; recreate it with `iris-ops backup` if the file is damaged.",
            details={"file": os.fspath(path), "problems": parsed.problems},
        )
    assert parsed.directory is not None and parsed.resource is not None
    return DatLabel(block_size=BLOCK_SIZE, directory=parsed.directory, resource=parsed.resource)

