"""The simulated IRIS.DAT: a realistic label, then the database contents as an SQLite image.

Layout (8 KiB blocks; offsets in the file):

====================  ==========================================================================
block 0  0x0000       label block
         0x05F4       ASCII ``Cache DB`` (as real 8 KiB IRIS.DAT files, IRIS.md §7)
         0x05FC       u16 length + original directory (UTF-8)
         0x0700       u16 length + resource name (UTF-8)
         0x0800       ``IRISSIMD`` sim header: u32 block size, u32 format, u64 file size,
                      u64 image length, u64 generation, u32 image block count, u32 CRC of the
                      CRC table, u8 read-only attribute, u32 size requested (MB)
         0x0900       ``IRISSIMX`` extension: u32 block size the database declares (0 = 8192),
                      u32 flags (1 encrypted, 2 mirrored); the layout stays 8 KiB
         0x1FFC       u32 CRC-32 of blocks 0-2 with this field zeroed
block 1  0x2020       ASCII ``CacheMap``
block 2  0x4004       u32 9
blocks 3-10           CRC table: one u32 CRC-32 per image block (at most 16384 blocks)
blocks 11-            the SQLite image (page size 8192), then zero padding up to the file size
====================  ==========================================================================

Integrity: the label CRC covers blocks 0-2 (so a flipped byte anywhere there is caught), the
table CRC covers the CRC table, and each image block has its own CRC.  The recorded file size
catches truncation and appended bytes.  Whatever a byte copy carries is exactly what a mount gets
back: all state is in the file.

Writes go in place (image blocks, then the CRC table, then the label), never by atomic rename,
so a copy taken while a write is under way can be torn and then fails the integrity check, as a
real unfrozen copy can.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import zlib

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    import sqlite3
    from pathlib import Path
    from typing import Iterator

__all__ = [
    "BLOCK", "FORMAT", "LABEL_BLOCKS", "CRC_TABLE_OFFSET", "CRC_TABLE_BLOCKS", "MAX_IMAGE_BLOCKS",
    "IMAGE_OFFSET", "MIN_FILE_SIZE", "MB", "DatError", "Label", "empty_image", "create", "read_label",
    "check", "read", "update", "relabel", "check_capacity", "open_image", "quote",
]

BLOCK = 8192
FORMAT = 1
LABEL_BLOCKS = 3
CRC_TABLE_OFFSET = 3 * BLOCK
CRC_TABLE_BLOCKS = 8
MAX_IMAGE_BLOCKS = CRC_TABLE_BLOCKS * BLOCK // 4
IMAGE_OFFSET = (LABEL_BLOCKS + CRC_TABLE_BLOCKS) * BLOCK
MIN_FILE_SIZE = IMAGE_OFFSET + BLOCK
MB = 1024 * 1024

_MAGIC_OFF, _DIR_OFF, _RES_OFF = 0x5F4, 0x5FC, 0x700
_MAP_OFF, _NINE_OFF = 0x2020, 0x4004
_SIM_OFF = 0x800
_SIM = struct.Struct("<8sIIQQQIIBI")
_EXT_OFF = 0x900
_EXT = struct.Struct("<8sII")
FLAG_ENCRYPTED, FLAG_MIRRORED = 1, 2
_LABEL_CRC_OFF = BLOCK - 4


class DatError(Exception):
    """The file is missing, not an IRIS.DAT, or damaged."""


class Label:
    """A database's label.  ``block_size``, ``encrypted`` and ``mirrored`` are what the database
    declares (SYS.Database BlockSize, EncryptedDB, Mirrored): the simulated layout is 8 KiB
    whatever is declared, only the properties differ."""

    # A plain class, not a dataclass: every session imports this module, and dataclasses costs
    # each session process the import of inspect.
    def __init__(self, directory: str, resource: str, file_size: int, image_length: int, generation: int,
                 image_blocks: int, readonly: bool, size_mb: int, block_size: int = BLOCK, encrypted: bool = False,
                 mirrored: bool = False) -> None:
        self.directory = directory
        self.resource = resource
        self.file_size = file_size
        self.image_length = image_length
        self.generation = generation
        self.image_blocks = image_blocks
        self.readonly = readonly
        self.size_mb = size_mb
        self.block_size = block_size
        self.encrypted = encrypted
        self.mirrored = mirrored

    def __repr__(self) -> str:
        return "Label(" + ", ".join(f"{key}={value!r}" for key, value in vars(self).items()) + ")"


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def empty_image() -> bytes:
    import sqlite3  # lazily, as in open_image

    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("PRAGMA page_size=8192")
        conn.execute("VACUUM")
        return conn.serialize()
    finally:
        conn.close()


def _build_label(lab: Label, table_crc: int) -> bytes:
    buf = bytearray(LABEL_BLOCKS * BLOCK)
    buf[_MAGIC_OFF : _MAGIC_OFF + 8] = b"Cache DB"
    d = lab.directory.encode()
    r = lab.resource.encode()
    if len(d) > _RES_OFF - _DIR_OFF - 2 or len(r) > _SIM_OFF - _RES_OFF - 2:
        raise DatError("directory or resource name too long for the label")
    struct.pack_into("<H", buf, _DIR_OFF, len(d))
    buf[_DIR_OFF + 2 : _DIR_OFF + 2 + len(d)] = d
    struct.pack_into("<H", buf, _RES_OFF, len(r))
    buf[_RES_OFF + 2 : _RES_OFF + 2 + len(r)] = r
    _SIM.pack_into(
        buf, _SIM_OFF, b"IRISSIMD", BLOCK, FORMAT, lab.file_size, lab.image_length, lab.generation,
        lab.image_blocks, table_crc, 1 if lab.readonly else 0, lab.size_mb,
    )
    flags = (FLAG_ENCRYPTED if lab.encrypted else 0) | (FLAG_MIRRORED if lab.mirrored else 0)
    _EXT.pack_into(buf, _EXT_OFF, b"IRISSIMX", lab.block_size if lab.block_size != BLOCK else 0, flags)
    buf[BLOCK + (_MAP_OFF - BLOCK) : _MAP_OFF + 8] = b"CacheMap"
    struct.pack_into("<I", buf, _NINE_OFF, 9)
    struct.pack_into("<I", buf, _LABEL_CRC_OFF, _crc(bytes(buf)))
    return bytes(buf)


def _parse_label(buf: bytes) -> tuple[Label, int]:
    if len(buf) < LABEL_BLOCKS * BLOCK:
        raise DatError("file too short for a database label")
    if buf[_MAGIC_OFF : _MAGIC_OFF + 8] != b"Cache DB" or buf[_MAP_OFF : _MAP_OFF + 8] != b"CacheMap":
        raise DatError("not a database file (label signature missing)")
    if struct.unpack_from("<I", buf, _NINE_OFF)[0] != 9:
        raise DatError("unsupported database label")
    zeroed = bytearray(buf[: LABEL_BLOCKS * BLOCK])
    (stored,) = struct.unpack_from("<I", zeroed, _LABEL_CRC_OFF)
    struct.pack_into("<I", zeroed, _LABEL_CRC_OFF, 0)
    if _crc(bytes(zeroed)) != stored:
        raise DatError("database label is damaged (checksum mismatch)")
    magic, bsize, fmt, fsize, ilen, gen, iblocks, tcrc, ro, smb = _SIM.unpack_from(buf, _SIM_OFF)
    if magic != b"IRISSIMD" or bsize != BLOCK or fmt != FORMAT:
        raise DatError("unsupported database format or block size")
    (dlen,) = struct.unpack_from("<H", buf, _DIR_OFF)
    (rlen,) = struct.unpack_from("<H", buf, _RES_OFF)
    directory = bytes(buf[_DIR_OFF + 2 : _DIR_OFF + 2 + dlen]).decode()
    resource = bytes(buf[_RES_OFF + 2 : _RES_OFF + 2 + rlen]).decode()
    ext, declared, flags = _EXT.unpack_from(buf, _EXT_OFF)
    if ext != b"IRISSIMX":
        declared, flags = 0, 0  # a file written before the extension
    return Label(directory, resource, fsize, ilen, gen, iblocks, bool(ro), smb, declared or BLOCK,
                 bool(flags & FLAG_ENCRYPTED), bool(flags & FLAG_MIRRORED)), tcrc


def _pad(image: bytes) -> bytes:
    rem = len(image) % BLOCK
    return image + b"\x00" * (BLOCK - rem) if rem else image


def _crc_table(padded: bytes) -> bytes:
    return b"".join(struct.pack("<I", _crc(padded[i : i + BLOCK])) for i in range(0, len(padded), BLOCK))


def create(path: Path, directory: str, resource: str, size_mb: int = 1, image: bytes | None = None, *,
           block_size: int = BLOCK, encrypted: bool = False, mirrored: bool = False, fill: bool = False) -> None:
    """Write a new database file of ``size_mb`` MB (at least big enough for its contents).

    ``fill``: the blocks past the contents hold random bytes instead of zeros, as the allocated
    blocks of a real IRIS.DAT of that size hold data: a file with no sparse or compressible
    stretch, for throughput figures.  Integrity covers the label, the CRC table and the image
    blocks, so what lies past them changes nothing else."""
    image = image if image is not None else empty_image()
    padded = _pad(image)
    nblocks = len(padded) // BLOCK
    if nblocks > MAX_IMAGE_BLOCKS:
        raise DatError("database contents too large for the simulated format")
    size = max(int(size_mb) * MB, IMAGE_OFFSET + len(padded), MIN_FILE_SIZE)
    size += (-size) % BLOCK
    lab = Label(directory, resource, size, len(image), 1, nblocks, False, int(size_mb), block_size, encrypted, mirrored)
    table = _crc_table(padded)
    with open(path, "xb") as f:
        f.write(_build_label(lab, _crc(table)))
        f.seek(CRC_TABLE_OFFSET)
        f.write(table)
        f.seek(IMAGE_OFFSET)
        f.write(padded)
        f.truncate(size)
        if fill:
            left = size - f.tell()
            while left > 0:
                piece = os.urandom(min(left, 4 * MB))
                f.write(piece)
                left -= len(piece)


@contextlib.contextmanager
def _locked(path: Path, write: bool) -> Iterator:
    try:
        f = open(path, "r+b" if write else "rb")
    except FileNotFoundError:
        raise DatError(f"database file does not exist: {path}") from None
    except IsADirectoryError:
        raise DatError(f"not a database file: {path}") from None
    with f:
        fcntl.flock(f, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        try:
            yield f
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _read_verified(f, path: Path) -> tuple[Label, bytes, list[str]]:
    """Label, image and the list of problems found (empty when sound)."""
    problems: list[str] = []
    actual = os.fstat(f.fileno()).st_size
    f.seek(0)
    label_bytes = f.read(LABEL_BLOCKS * BLOCK)
    lab, tcrc = _parse_label(label_bytes)
    if actual != lab.file_size:
        problems.append(f"file size {actual} differs from the size recorded in the label ({lab.file_size})")
    if actual % BLOCK:
        problems.append(f"file size {actual} is not a multiple of the block size {BLOCK}")
    f.seek(CRC_TABLE_OFFSET)
    table = f.read(lab.image_blocks * 4)
    if len(table) != lab.image_blocks * 4 or _crc(table) != tcrc:
        problems.append("block checksum table is damaged")
    f.seek(IMAGE_OFFSET)
    padded = f.read(lab.image_blocks * BLOCK)
    if len(padded) != lab.image_blocks * BLOCK:
        problems.append(f"file truncated: {lab.image_blocks} data blocks expected")
    elif not problems:
        for i in range(lab.image_blocks):
            (want,) = struct.unpack_from("<I", table, i * 4)
            if _crc(padded[i * BLOCK : (i + 1) * BLOCK]) != want:
                problems.append(f"block {LABEL_BLOCKS + CRC_TABLE_BLOCKS + i} fails its checksum")
    return lab, padded[: lab.image_length], problems


def read_label(path: Path) -> Label:
    """The label only (what IRIS can read from an unmounted file)."""
    with _locked(path, write=False) as f:
        return _parse_label(f.read(LABEL_BLOCKS * BLOCK))[0]


def check(path: Path) -> list[str]:
    """Problems found in the file; ``[]`` when sound."""
    try:
        with _locked(path, write=False) as f:
            return _read_verified(f, path)[2]
    except DatError as e:
        return [str(e)]


def read(path: Path) -> tuple[Label, bytes]:
    """Label and SQLite image, verified; raises :class:`DatError` on damage."""
    with _locked(path, write=False) as f:
        lab, image, problems = _read_verified(f, path)
    if problems:
        raise DatError("; ".join(problems))
    return lab, image


@contextlib.contextmanager
def update(path: Path) -> Iterator[dict]:
    """Read-modify-write under an exclusive lock: yields ``{"label": Label, "image": bytes}``;
    set ``image`` (and label fields) and the file is rewritten in place on exit."""
    with _locked(path, write=True) as f:
        lab, image, problems = _read_verified(f, path)
        if problems:
            raise DatError("; ".join(problems))
        box = {"label": lab, "image": image}
        yield box
        _write_in_place(f, box["label"], box["image"], old_padded=_pad(image))


def relabel(path: Path, *, size_mb: int | None = None, resource: str | None = None) -> None:
    """SYS.Database %Save of an existing database: grow the file to ``size_mb`` MB and/or name
    ``resource`` in its label.  The file must be sound.  A size below the current one (in whole
    MB, as SYS.Database ``Size`` reads) raises :class:`DatError`: the database is never shrunk.
    The new blocks are allocated, not left sparse (SYS.Database ``SparseDB`` 0: "Force allocation
    of unused blocks"), so a full disk fails the expansion; the file is then cut back to its
    size.  The file grows first and the label follows, in place, as every write here."""
    with _locked(path, write=True) as f:
        lab, image, problems = _read_verified(f, path)
        if problems:
            raise DatError("; ".join(problems))
        old_size = lab.file_size
        if size_mb is not None:
            if size_mb < old_size // MB:
                raise DatError(f"the database is {old_size // MB} MB: it cannot be shrunk to {size_mb} MB")
            if size_mb * MB > old_size:
                lab.file_size, lab.size_mb = size_mb * MB, size_mb
        if resource is not None:
            lab.resource = resource
        lab.generation += 1
        label = _build_label(lab, _crc(_crc_table(_pad(image))))  # before the file grows: it may refuse
        if lab.file_size > old_size:
            try:
                os.posix_fallocate(f.fileno(), 0, lab.file_size)
            except OSError as e:
                os.ftruncate(f.fileno(), old_size)
                raise DatError(f"cannot expand the database to {size_mb} MB: {e.strerror}") from None
        f.seek(0)
        f.write(label)
        f.flush()


def check_capacity(image: bytes) -> None:
    """Raise :class:`DatError` when ``image`` would not fit the simulated format."""
    if len(_pad(image)) // BLOCK > MAX_IMAGE_BLOCKS:
        raise DatError("database full: contents exceed the simulated format")


def _write_in_place(f, lab: Label, image: bytes, old_padded: bytes) -> None:
    check_capacity(image)
    padded = _pad(image)
    nblocks = len(padded) // BLOCK
    for i in range(nblocks):
        chunk = padded[i * BLOCK : (i + 1) * BLOCK]
        if old_padded[i * BLOCK : (i + 1) * BLOCK] != chunk:
            f.seek(IMAGE_OFFSET + i * BLOCK)
            f.write(chunk)
    if nblocks < len(old_padded) // BLOCK:
        f.seek(IMAGE_OFFSET + len(padded))
        f.write(b"\x00" * (len(old_padded) - len(padded)))
    need = IMAGE_OFFSET + len(padded)
    if need > lab.file_size:
        lab.file_size = need + (-need) % BLOCK
        f.truncate(lab.file_size)
    table = _crc_table(padded)
    f.seek(CRC_TABLE_OFFSET)
    f.write(table)
    lab.image_length = len(image)
    lab.image_blocks = nblocks
    lab.generation += 1
    f.seek(0)
    f.write(_build_label(lab, _crc(table)))
    f.flush()


def open_image(image: bytes, schema: str = "main", conn: sqlite3.Connection | None = None) -> sqlite3.Connection:
    """A connection holding a private copy of ``image`` as ``schema``."""
    import sqlite3  # lazily: sessions that run no SQL never load it

    conn = conn or sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    if schema != "main":
        conn.execute("ATTACH ':memory:' AS " + quote(schema))
    if image:
        conn.deserialize(image, name=schema)
    return conn


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
