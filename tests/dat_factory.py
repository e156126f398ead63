"""Synthetic IRIS.DAT files for tests: the label facts of IRIS.md §7, written independently of
:mod:`iris_ops.datlabel` (offsets spelled out here, not imported) so a wrong constant there fails."""

from __future__ import annotations

import struct
from pathlib import Path

BLOCK = 8192


def dat_bytes(directory: str = "/usr/irissys/mgr/app_data/", resource: str = "%DB_APP_DATA",
              blocks: int = 3, filler: bytes = b"") -> bytes:
    """A file that passes the §7 plausibility check.  ``filler`` goes into block 2 after the marker."""
    buf = bytearray(BLOCK * blocks)
    buf[0x5F4:0x5FC] = b"Cache DB"
    d = directory.encode()
    struct.pack_into("<H", buf, 0x5FC, len(d))
    buf[0x5FE:0x5FE + len(d)] = d
    r = resource.encode()
    struct.pack_into("<H", buf, 0x700, len(r))
    buf[0x702:0x702 + len(r)] = r
    buf[0x2020:0x2028] = b"CacheMap"
    struct.pack_into("<I", buf, 0x4004, 9)
    buf[0x4100:0x4100 + len(filler)] = filler
    return bytes(buf)


def write_dat(path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dat_bytes(**kw))
    return path
