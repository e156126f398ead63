"""The IRIS.DAT label check at the edges of each field, with the exact problem it reports
(iris_ops.datlabel): lengths at and past their limits, big-endian hints, text that is not text."""

from __future__ import annotations

import struct

import pytest

from dat_factory import dat_bytes
from iris_ops import datlabel
from iris_ops.errors import FixtureError

GOOD = dat_bytes()
DIRECTORY_ROOM = 0x700 - 0x5FE  # from after the directory's length to the resource field
RESOURCE_ROOM = 8192 - 0x702


def edited(offset: int, fmt: str, value, data: bytes = GOOD) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, value)
    return bytes(buf)


def with_text(offset: int, raw: bytes) -> bytes:
    buf = bytearray(edited(offset, "<H", len(raw)))
    buf[offset + 2:offset + 2 + len(raw)] = raw
    return bytes(buf)


def test_fields_that_fill_their_room_exactly_are_plausible():
    directory = "/" + "d" * (DIRECTORY_ROOM - 1)
    label = datlabel.label_of_head(len(GOOD), with_text(0x5FC, directory.encode()))
    assert label is not None and label.directory == directory
    resource = "R" * RESOURCE_ROOM
    label = datlabel.label_of_head(len(GOOD), with_text(0x700, resource.encode()))
    assert label is not None and label.resource == resource and label.block_size == 8192
    spaced = datlabel.label_of_head(len(GOOD), with_text(0x5FC, b"/usr/irissys/mgr/my db/"))
    assert spaced.directory == "/usr/irissys/mgr/my db/"


@pytest.mark.parametrize("head,problem", [
    (edited(0x5FC, "<H", DIRECTORY_ROOM + 1),
     "original directory (u16 length at 0x5FC): length 259 exceeds the field's 258 bytes"),
    (edited(0x700, "<H", 0xFFFF), "resource name (u16 length at 0x700): length 65535 exceeds the field's 6398 bytes"),
    (edited(0x700, "<H", RESOURCE_ROOM + 1),
     "resource name (u16 length at 0x700): length 6399 exceeds the field's 6398 bytes"),
    (edited(0x5FC, "<H", 0x0200),
     "original directory (u16 length at 0x5FC): length 512 exceeds the field's 258 bytes "
     "(reads plausibly big-endian: a file from another platform?)"),
    (edited(0x5FC, ">H", 258),
     "original directory (u16 length at 0x5FC): length 513 exceeds the field's 258 bytes "
     "(reads plausibly big-endian: a file from another platform?)"),
    (edited(0x5FC, ">H", 259), "original directory (u16 length at 0x5FC): length 769 exceeds the field's 258 bytes"),
    (edited(0x5FC, "<H", 0xFF00), "original directory (u16 length at 0x5FC): length 65280 exceeds the field's 258 bytes "
                                  "(reads plausibly big-endian: a file from another platform?)"),
    (edited(0x5FC, "<H", 0), "original directory (u16 length at 0x5FC): empty (length 0)"),
    (with_text(0x700, b"\xff" * 40),
     "resource name (u16 length at 0x700): not valid UTF-8 text: b'" + "\\xff" * 32 + "'"),
    (with_text(0x700, b"%DB_\x7f"), "resource name (u16 length at 0x700): contains control characters: '%DB_\\x7f'"),
    (with_text(0x700, b"%DB_\x1f"), "resource name (u16 length at 0x700): contains control characters: '%DB_\\x1f'"),
    (with_text(0x5FC, b"/" + b"\x01" * 100),
     "original directory (u16 length at 0x5FC): contains control characters: '/" + "\\x01" * 63 + "'"),
])
def test_each_field_problem_is_reported_exactly(head, problem):
    assert datlabel.check_head(len(GOOD), head) == [problem]
    assert datlabel.label_of_head(len(GOOD), head) is None


def test_a_head_cut_inside_the_fields_names_each_one_beyond_the_end():
    size = len(GOOD)
    assert datlabel.check_head(size, GOOD[:0x5FD]) == [
        "original directory (u16 length at 0x5FC): beyond the end of the file",
        "resource name (u16 length at 0x700): beyond the end of the file",
        "map magic at 0x2020: beyond the end of the file", "u32 at 0x4004: beyond the end of the file"]
    assert datlabel.check_head(size, GOOD[:0x5FE]) == [
        "original directory (u16 length at 0x5FC): beyond the end of the file",
        "resource name (u16 length at 0x700): beyond the end of the file",
        "map magic at 0x2020: beyond the end of the file", "u32 at 0x4004: beyond the end of the file"]
    assert datlabel.check_head(size, GOOD[:0x4007])[-1] == "u32 at 0x4004: beyond the end of the file"
    assert datlabel.check_head(size, GOOD[:0x4008]) == []
    assert datlabel.check_head(size, GOOD + b"ignored beyond the head") == []


def test_the_marker_and_the_magics():
    assert datlabel.check_head(len(GOOD), edited(0x4004, ">I", 9)) == [
        "u32 at 0x4004: expected 9, found 150994944 (equals 9 read big-endian: a file from a big-endian platform?)"]
    assert datlabel.check_head(len(GOOD), edited(0x4004, "<I", 10)) == ["u32 at 0x4004: expected 9, found 10"]
    buf = bytearray(GOOD)
    buf[0x2020:0x2028] = b"CacheMaq"
    assert datlabel.check_head(len(GOOD), bytes(buf)) == [
        "map magic at 0x2020: expected b'CacheMap', found b'CacheMaq'"]


def test_sizes_at_their_limits():
    assert datlabel.check_head(3 * 8192, GOOD) == []
    assert datlabel.check_head(2 * 8192, GOOD) == ["size 16384 bytes is less than 3 blocks (24576 bytes)"]
    assert datlabel.check_head(3 * 8192 + 1, GOOD) == ["size 24577 bytes is not a multiple of the 8192-byte block"]


def test_an_unreadable_file_and_read_label(tmp_path):
    assert datlabel.check_label(tmp_path / "nope.DAT") == [f"cannot read {tmp_path / 'nope.DAT'}: No such file or directory"]
    bad = tmp_path / "IRIS.DAT"
    bad.write_bytes(edited(0x4004, "<I", 10))
    with pytest.raises(FixtureError) as caught:
        datlabel.read_label(bad)
    assert caught.value.message == f"{bad} does not look like an IRIS.DAT: u32 at 0x4004: expected 9, found 10"
    assert caught.value.fix == ("Run `iris-ops validate` on the fixture; recreate it with `iris-ops backup` if the "
                                "file is damaged.")
    assert caught.value.details == {"file": str(bad), "problems": ["u32 at 0x4004: expected 9, found 10"]}
    bad.write_bytes(GOOD)
    assert datlabel.read_label(bad) == datlabel.DatLabel(8192, "/usr/irissys/mgr/app_data/", "%DB_APP_DATA")


def test_devtester_markers_and_marker_values_beyond_31_bits(tmp_path):
    assert datlabel.check_head(11, b"GOF_FIXTURE")[2] == "content is iris-devtester's 'GOF_FIXTURE' marker, not a database file"
    assert datlabel.check_head(len(GOOD), edited(0x4004, "<I", 0xFFFFFFFF)) == ["u32 at 0x4004: expected 9, found 4294967295"]
    bad = tmp_path / "IRIS.DAT"
    bad.write_bytes(edited(0x4004, "<I", 10) + b"x")
    with pytest.raises(FixtureError) as caught:
        datlabel.read_label(bad)
    assert caught.value.message == (f"{bad} does not look like an IRIS.DAT: size 24577 bytes is not a multiple of the "
                                    "8192-byte block; u32 at 0x4004: expected 9, found 10")
