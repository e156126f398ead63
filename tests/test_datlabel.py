"""iris_ops.datlabel: the offline IRIS.DAT plausibility filter (IRIS.md §7)."""

from __future__ import annotations

import struct

import pytest

from dat_factory import BLOCK, dat_bytes, write_dat
from iris_ops.datlabel import DatLabel, check_label, read_label
from iris_ops.errors import FixtureError


def patched(tmp_path, edits, **kw):
    buf = bytearray(dat_bytes(**kw))
    for offset, data in edits:
        buf[offset:offset + len(data)] = data
    p = tmp_path / "IRIS.DAT"
    p.write_bytes(bytes(buf))
    return p


def test_plausible_label_passes_and_reads(tmp_path):
    p = write_dat(tmp_path / "IRIS.DAT", directory="/data/db/app/", resource="%DB_APP")
    assert check_label(p) == []
    assert read_label(p) == DatLabel(block_size=8192, directory="/data/db/app/", resource="%DB_APP")


def test_larger_file_passes_and_only_the_head_is_read(tmp_path):
    p = write_dat(tmp_path / "IRIS.DAT", blocks=5)
    with open(p, "r+b") as f:  # sparse 4 GiB: reading it whole would be slow and show
        f.truncate(4 << 30)
    assert check_label(p) == []


def test_non_ascii_directory_is_utf8(tmp_path):
    p = write_dat(tmp_path / "IRIS.DAT", directory="/données/app/")
    assert read_label(p).directory == "/données/app/"


@pytest.mark.parametrize(
    "edits, needle",
    [
        ([(0x5F4, b"Cache XX")], "label magic at 0x5F4"),
        ([(0x5FC, struct.pack("<H", 0))], "original directory (u16 length at 0x5FC): empty"),
        ([(0x5FC, struct.pack("<H", 300))], "original directory (u16 length at 0x5FC): length 300"),
        ([(0x5FE, b"\x01")], "original directory (u16 length at 0x5FC): contains control characters"),
        ([(0x700, struct.pack("<H", 0))], "resource name (u16 length at 0x700): empty"),
        ([(0x700, struct.pack("<H", 9000))], "resource name (u16 length at 0x700): length 9000"),
        ([(0x702, b"\xff\xfe")], "resource name (u16 length at 0x700): not valid UTF-8"),
        ([(0x2020, b"CacheMAP")], "map magic at 0x2020"),
        ([(0x4004, struct.pack("<I", 8))], "u32 at 0x4004: expected 9, found 8"),
    ],
)
def test_each_broken_field_is_named(tmp_path, edits, needle):
    problems = check_label(patched(tmp_path, edits))
    assert len(problems) == 1, problems
    assert needle in problems[0]


def test_big_endian_marker_gets_a_hint(tmp_path):
    problems = check_label(patched(tmp_path, [(0x4004, struct.pack(">I", 9))]))
    assert len(problems) == 1 and "big-endian" in problems[0]


def test_every_broken_field_is_reported_at_once(tmp_path):
    p = patched(tmp_path, [(0x5F4, b"XXXXXXXX"), (0x2020, b"XXXXXXXX"), (0x4004, b"\0\0\0\0")])
    text = "\n".join(check_label(p))
    assert "0x5F4" in text and "0x2020" in text and "0x4004" in text


def test_size_not_a_multiple_of_the_block(tmp_path):
    p = tmp_path / "IRIS.DAT"
    p.write_bytes(dat_bytes() + b"\0")
    problems = check_label(p)
    assert problems == [f"size {3 * BLOCK + 1} bytes is not a multiple of the 8192-byte block"]


def test_fewer_than_three_blocks(tmp_path):
    p = tmp_path / "IRIS.DAT"
    p.write_bytes(dat_bytes()[: 2 * BLOCK])
    problems = check_label(p)
    assert any("less than 3 blocks" in x for x in problems)
    assert any("u32 at 0x4004: beyond the end of the file" in x for x in problems)


@pytest.mark.parametrize("content", [b"", b"GOF_FIXTURE", b"<html>404</html>"])
def test_small_non_databases(tmp_path, content):
    p = tmp_path / "IRIS.DAT"
    p.write_bytes(content)
    problems = check_label(p)
    assert any("less than 3 blocks" in x for x in problems)
    assert any("label magic" in x for x in problems)
    if content == b"GOF_FIXTURE":
        assert any("GOF_FIXTURE" in x for x in problems)


def test_missing_file_is_a_problem_not_an_exception(tmp_path):
    problems = check_label(tmp_path / "nope.DAT")
    assert len(problems) == 1 and "cannot read" in problems[0]


def test_read_label_raises_fixture_error_listing_problems(tmp_path):
    p = patched(tmp_path, [(0x2020, b"nothing!")])
    with pytest.raises(FixtureError) as e:
        read_label(p)
    assert "map magic at 0x2020" in str(e.value)
    assert e.value.exit_code == 2
    assert e.value.details["problems"]


def test_data_damage_beyond_the_label_passes_it_is_only_a_filter(tmp_path):
    p = patched(tmp_path, [(0x5000, b"\xde\xad\xbe\xef")])
    assert check_label(p) == []
