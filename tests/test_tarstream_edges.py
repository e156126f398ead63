"""The tar reader and writer at the edges of the format: field limits, base-256 and signed
checksums, GNU long names, pax records, and the exact error for each kind of broken stream."""

from __future__ import annotations

import io
import tarfile

import pytest

from iris_ops import tarstream
from iris_ops.tarstream import TarError, TruncatedTarError

END = bytes(1024)


def _header(**fields) -> bytes:
    """A ustar header written by tarfile (the reference), with our checksum rules."""
    info = tarfile.TarInfo(fields.pop("name", "f"))
    fmt = fields.pop("format", tarfile.USTAR_FORMAT)
    for key, value in fields.items():
        setattr(info, key, value)
    return info.tobuf(fmt, "utf-8", "surrogateescape")


def _resum(block: bytearray, *, signed: bool = False) -> bytes:
    block[148:156] = b" " * 8
    total = sum((b - 256 if b > 127 else b) for b in block) if signed else sum(block)
    block[148:156] = b"%06o\0 " % total
    return bytes(block)


def _members(raw: bytes, chunk: int = 512) -> list:
    return [(m, m.read()) for m in tarstream.iter_members([raw[i:i + chunk] for i in range(0, len(raw), chunk)])]


def _error(raw: bytes, kind=TarError) -> str:
    with pytest.raises(kind) as caught:
        _members(raw)
    return str(caught.value)


# -- reading: fields ----------------------------------------------------------------------


def test_a_name_filling_all_100_bytes_and_a_non_utf8_name():
    name = "n" * 100
    (member, _), = _members(_header(name=name) + END)
    assert member.name == name
    block = bytearray(_header(name="x"))
    block[0:3] = b"a\xffb"
    (member, _), = _members(_resum(block) + END)
    assert member.name == "a\udcffb"


def test_base256_numbers_and_negative_times_as_gnu_tar_writes_them():
    raw = _header(name="big", uid=10**10, gid=2**40, mtime=-100, format=tarfile.GNU_FORMAT)
    assert raw[108] == 0x80 and raw[136] == 0xFF  # base-256, positive and negative
    (member, _), = _members(raw + END)
    assert (member.uid, member.gid, member.mtime) == (10**10, 2**40, -100)


def test_numeric_fields_padded_with_spaces_or_empty():
    block = bytearray(_header(name="f", size=3, mode=0o640))
    block[100:108] = b"  640  \0"  # leading and trailing blanks
    block[124:136] = b"00000000003 "  # terminated by a space, as old GNU tar did
    block[108:116] = bytes(8)  # no uid at all: 0
    (member, data), = _members(_resum(block) + b"abc" + bytes(509) + END)
    assert (member.mode, member.size, member.uid, data) == (0o640, 3, 0, b"abc")


def test_a_size_of_gigabytes_is_read_from_its_octal_field():
    header = tarstream.file_header("f", 2**31 + 5, 0o644, 0, 0, 0)
    assert header[124:136] == b"%011o\0" % (2**31 + 5)
    assert next(tarstream.iter_members([header])).size == 2**31 + 5


def test_a_checksum_summed_as_signed_chars_is_accepted():
    block = bytearray(_header(name="x"))
    block[0:100] = b"\xff" * 100
    block[157:257] = b"\xfe" * 100  # a big unsigned sum: the checksum's first digit is not 0
    signed = _resum(bytearray(block), signed=True)
    assert signed != _resum(bytearray(block))
    (member, _), = _members(signed + END)
    assert member.name == "\udcff" * 100
    unsigned = _resum(bytearray(block))
    assert int(unsigned[148:154], 8) >= 0o100000
    (member, _), = _members(unsigned + END)
    assert member.linkname == "\udcfe" * 100


def test_a_checksum_that_matches_neither_sum_is_refused():
    block = bytearray(_header(name="x"))
    block[148:156] = b"%06o\0 " % (sum(block) + 1)
    assert _error(bytes(block) + END) == "tar header checksum mismatch: not a tar stream, or a corrupted one"
    block[148:156] = b"12x4567\0"
    assert _error(bytes(block) + END) == "invalid checksum field in tar header: b'12x4567\\x00'"


def test_a_bad_size_field_and_a_negative_size_are_named():
    block = bytearray(_header(name="x"))
    block[124:136] = b"9" * 11 + b"\0"
    assert _error(_resum(block) + END) == "invalid size field in tar header: b'99999999999\\x00'"
    block[124:136] = b"\xff" + b"\xff" * 11  # base-256 -1
    assert _error(_resum(block) + END) == "negative member size in tar header"


def test_links_keep_their_targets_and_types():
    sym = _header(name="s", type=tarfile.SYMTYPE, linkname="target")
    hard = _header(name="h", type=tarfile.LNKTYPE, linkname="s")
    (s, _), (h, _) = _members(sym + hard + END)
    assert s.type == b"2" and s.linkname == "target" and not s.isfile() and not s.isdir()
    assert h.type == b"1" and h.linkname == "s" and not h.isfile() and not h.isdir()


def test_gnu_long_names_and_long_link_names():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        link = tarfile.TarInfo("l" * 120)
        link.type = tarfile.SYMTYPE
        link.linkname = "t" * 150
        tf.addfile(link)
        tf.addfile(tarfile.TarInfo("after"), io.BytesIO(b""))
    (link, _), (after, _) = _members(buf.getvalue())
    assert (link.name, link.linkname) == ("l" * 120, "t" * 150)
    assert (after.name, after.linkname) == ("after", "")


def test_pax_records_with_padding_equals_signs_odd_bytes_and_every_field():
    records = b"".join(tarstream._pax_record(k, v) for k, v in (
        ("path", "a=b"), ("uid", "70000000"), ("gid", "80000000"), ("uname", "u\udcff"), ("gname", "grp"),
        ("linkpath", "lp"), ("size", "0"), ("mtime", "12.5")))
    padded = records + b"\0" * 7  # padding some writers leave inside the declared size
    pax = bytearray(_header(name="././@PaxHeader", size=len(padded), type=tarfile.XHDTYPE))
    raw = _resum(pax) + padded + bytes(-len(padded) % 512) + _header(name="x") + END
    (member, _), = _members(raw)
    assert (member.name, member.uid, member.gid, member.uname, member.gname, member.linkname, member.mtime) == \
        ("a=b", 70000000, 80000000, "u\udcff", "grp", "lp", 12.5)


def _pax_member(records: bytes) -> bytes:
    pax = _header(name="././@PaxHeader", size=len(records), type=tarfile.XHDTYPE)
    return pax + records + bytes(-len(records) % 512) + _header(name="x") + END


@pytest.mark.parametrize("records,message", [
    (b"abc", "malformed pax header: record without length"),
    (b" 5 a=b\n", "malformed pax header: bad record length b''"),
    (b"x9 a=b\n", "malformed pax header: bad record length b'x9'"),
    (b"6 a=bc\n", "malformed pax header: record length does not match its contents"),
    (b"6 a=b\n0 x=y\n", "malformed pax header: record length does not match its contents"),
    (b"99 a=b\n", "malformed pax header: record length does not match its contents"),
    (b"6 abc\n", "malformed pax header: record without '=': b'abc'"),
    (b"10 uid=x1\n", "invalid pax value uid='x1'"),
    (b"19 GNU.sparse.map=\n", "sparse member 'x' is not supported"),
])
def test_malformed_pax_records_are_named(records, message):
    assert _error(_pax_member(records)) == message


@pytest.mark.parametrize("typeflag,what", [
    (tarfile.XHDTYPE, "a pax header"), (tarfile.XGLTYPE, "a pax global header"),
    (tarfile.GNUTYPE_LONGNAME, "a GNU long name"), (tarfile.GNUTYPE_LONGLINK, "a GNU long link name"),
])
def test_extended_headers_are_bounded_and_their_truncation_named(typeflag, what):
    big = _header(name="e", size=tarstream.MAX_EXTENDED_HEADER + 1, type=typeflag)
    assert _error(big) == f"{what} of 1048577 bytes is larger than any sane archive carries"
    cut = _header(name="e", size=600, type=typeflag) + b"x" * 100
    assert _error(cut, TruncatedTarError) == f"tar stream ended inside {what} (100 of 600 bytes)"
    unpadded = _header(name="e", size=6, type=typeflag) + b"6 a=b\n"
    assert _error(unpadded, TruncatedTarError) == f"tar stream ended inside {what} (506 bytes missing)"


def test_an_extended_header_of_exactly_the_limit_is_read():
    value = "v" * (tarstream.MAX_EXTENDED_HEADER - len(" comment=\n") - 7)
    record = tarstream._pax_record("comment", value)
    assert len(record) == tarstream.MAX_EXTENDED_HEADER
    (member, _), = _members(_pax_member(record))
    assert member.pax["comment"] == value


def test_truncations_name_where_the_stream_stopped():
    header = _header(name="a", size=1000)
    assert _error(header[:300], TruncatedTarError) == "tar stream ended inside a tar header (0 of 212 bytes)"
    assert _error(header + b"x" * 10, TruncatedTarError) == \
        "tar stream ended inside the data of 'a' (10 of 1000 bytes)"
    assert _error(header + b"x" * 1000, TruncatedTarError) == \
        "tar stream ended inside the padding after 'a' (24 bytes missing)"
    assert _error(header + b"x" * 1024, TruncatedTarError) == "tar stream ended without its end-of-archive marker"
    with pytest.raises(TarError, match="sparse tar members are not supported"):
        _members(_header(name="s", type=tarfile.GNUTYPE_SPARSE) + END)


def test_skipping_unread_data_that_is_cut_names_the_member():
    raw = _header(name="a", size=1000) + b"x" * 600
    with pytest.raises(TruncatedTarError) as caught:
        for _ in tarstream.iter_members([raw]):
            pass
    assert str(caught.value) == "tar stream ended inside the data of 'a' (400 bytes missing)"


# -- writing ---------------------------------------------------------------------------------


def _fields(block: bytes) -> dict:
    return {"name": block[0:100].rstrip(b"\0"), "mode": block[100:108], "uid": block[108:116], "gid": block[116:124],
            "size": block[124:136], "mtime": block[136:148], "type": block[156:157], "uname": block[265:297],
            "gname": block[297:329], "prefix": block[345:500].rstrip(b"\0")}


def test_a_plain_header_is_what_tarfile_writes():
    for uname, gname in (("irisowner", "irisgroup"), ("", "")):
        ours = tarstream.file_header("mgr/IRIS.DAT", 8192, 0o660, 51773, 52773, 1_700_000_000.9, uname, gname)
        theirs = _header(name="mgr/IRIS.DAT", size=8192, mode=0o660, uid=51773, gid=52773, mtime=1_700_000_000,
                         uname=uname, gname=gname)
        assert _fields(ours) == _fields(theirs)
        assert ours[257:265] == theirs[257:265] == b"ustar\x0000"
        (member, _), = _members(ours + bytes(8192) + END)
        assert (member.uname, member.gname) == (uname, gname)


def test_long_user_and_group_names_are_cut_to_their_fields():
    header = tarstream.file_header("f", 0, 0o644, 0, 0, 0, "u" * 40)
    (member, _), = _members(header + END)
    assert (member.uname, member.gname) == ("u" * 32, "")
    header = tarstream.file_header("f", 0, 0o644, 0, 0, 0, "u" * 40, "g" * 40)
    (member, _), = _members(header + END)
    assert (member.uname, member.gname) == ("u" * 32, "g" * 32)


@pytest.mark.parametrize("name,prefix", [
    ("n" * 100, b""),  # fills the name field: no split, no pax
    ("p" * 155 + "/" + "n" * 100, b"p" * 155),  # the longest prefix and the longest name
    ("a/" + "p" * 150 + "/" + "n" * 100, b"a/" + b"p" * 150),
    ("a" * 60 + "/" + "b" * 60, b"a" * 60),  # the last slash that leaves a name
    ("d/" + "n" * 99, b"d"),
])
def test_names_that_ustar_can_carry_need_no_pax_header(name, prefix):
    header = tarstream.file_header(name, 0, 0o644, 0, 0, 0)
    assert len(header) == 512 and header[156:157] == b"0"
    assert _fields(header)["prefix"] == prefix
    assert [m.name for m, _ in _members(header + END)] == [name]
    with tarfile.open(fileobj=io.BytesIO(header + END)) as tf:
        assert tf.getnames() == [name]


@pytest.mark.parametrize("name", [
    "n" * 101, "p" * 156 + "/" + "n" * 10, "a/" + "n" * 101, "p" * 10 + "/" + "n" * 101, "naïve.dat",
    "bad\udcff.dat", "é" + "/" * 100,
])
def test_names_ustar_cannot_carry_go_in_a_pax_header(name):
    header = tarstream.file_header(name, 5, 0o644, 0, 0, 0)
    pax, main = header[:512], header[-512:]
    fields = _fields(pax)
    size = int(fields.pop("size")[:11], 8)
    assert fields == {"name": b"././@PaxHeader", "mode": b"0000644\0", "uid": b"0000000\0", "gid": b"0000000\0",
                      "mtime": b"%011o\0" % 0, "type": b"x", "uname": bytes(32), "gname": bytes(32), "prefix": b""}
    assert len(header) == 512 + size + (-size % 512) + 512 and header[512 + size - 1:512 + size] == b"\n"
    fallback = name.encode("ascii", "replace")[-100:].lstrip(b"/") or b"././@LongName"
    assert _fields(main)["name"] == fallback and _fields(main)["prefix"] == b""
    (member, data), = _members(header + b"12345" + bytes(507) + END)
    assert (member.name, data) == (name, b"12345")


@pytest.mark.parametrize("field,value,pax", [
    ("size", 0o77777777777, False), ("size", 0o77777777777 + 1, True),
    ("uid", 0o7777777, False), ("uid", 0o7777777 + 1, True), ("uid", -1, True),
    ("gid", 0o7777777, False), ("gid", 0o7777777 + 1, True), ("gid", -2, True),
    ("mtime", 0o77777777777, False), ("mtime", 0o77777777777 + 1, True), ("mtime", -5, True),
])
def test_numbers_beyond_their_octal_fields_go_in_a_pax_header(field, value, pax):
    args = {"size": 0, "uid": 0, "gid": 0, "mtime": 0, field: value}
    header = tarstream.file_header("f", args["size"], 0o644, args["uid"], args["gid"], args["mtime"])
    assert (header[156:157] == b"x") is pax
    main = header[-512:]
    offset = {"size": 124, "uid": 108, "gid": 116, "mtime": 136}[field]
    width = 12 if field in ("size", "mtime") else 8
    shown = 0 if pax else value
    assert main[offset:offset + width] == b"%0*o\0" % (width - 1, shown)  # what a reader without pax sees
    member = next(tarstream.iter_members([header]))
    assert getattr(member, field) == value


def test_the_writer_refuses_what_it_cannot_write():
    for name in ("", "/abs"):
        with pytest.raises(TarError) as caught:
            tarstream.file_header(name, 0, 0o644, 0, 0, 0)
        assert str(caught.value) == f"tar member names are relative and not empty: {name!r}"
    with pytest.raises(TarError) as caught:
        list(tarstream.single_file_tar("f", -1, 0o644, 0, 0, 0, io.BytesIO()))
    assert str(caught.value) == "negative size for 'f'"


def test_an_empty_file_makes_a_complete_archive():
    raw = b"".join(tarstream.single_file_tar("empty", 0, 0o600, 1, 2, 3, io.BytesIO(b"")))
    assert len(raw) == 512 + 1024
    (member, data), = _members(raw)
    assert (member.name, member.size, data, member.mode) == ("empty", 0, b"", 0o600)


def test_user_and_group_names_stay_in_their_fields_with_data_after_them():
    name = "p" * 120 + "/" + "n" * 90  # a ustar prefix, after the user and group fields
    header = tarstream.file_header(name, 3, 0o644, 0, 0, 0, "irisowner", "irisowner")
    assert len(header) == 512
    raw = header + b"abc" + bytes(509) + END
    (member, data), = _members(raw)
    assert (member.name, member.uname, member.gname, data) == (name, "irisowner", "irisowner", b"abc")
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        (info,) = tf.getmembers()
        assert (info.name, info.uname, info.gname, tf.extractfile(info).read()) == (name, "irisowner", "irisowner", b"abc")


def test_the_defaults_and_the_shortest_pax_records():
    (member, _), = _members(tarstream.file_header("f", 0, 0o644, 0, 0, 0) + END)
    assert (member.uname, member.gname) == ("", "")
    # " uid=-1\n" is 8 bytes: "9 uid=-1\n" and "10 uid=-1\n" both count themselves; tarfile writes the first
    assert b"9 uid=-1\n" in tarstream.file_header("f", 0, 0o644, -1, 0, 0)


def test_a_slash_just_before_the_last_character_still_splits_the_name():
    name = "d" * 120 + "/x"
    header = tarstream.file_header(name, 0, 0o644, 0, 0, 0)
    assert len(header) == 512 and header[:2] == b"x\0" and header[345:466].rstrip(b"\0") == b"d" * 120


def test_the_stand_in_name_of_a_pax_path_is_never_absolute():
    name = "é/" + "X" + "b" * 98  # not ASCII: the name goes in a pax record, a stand-in in the ustar field
    header = tarstream.file_header(name, 0, 0o644, 0, 0, 0)
    main = header[-512:]
    assert main[:100].rstrip(b"\0") == b"X" + b"b" * 98
    (member, _), = _members(header + END)
    assert member.name == name


def test_names_cut_to_their_fields_leave_the_next_fields_readable_by_tar():
    header = tarstream.file_header("f", 0, 0o644, 0, 0, 0, "u" * 40, "g" * 40)
    with tarfile.open(fileobj=io.BytesIO(header + END)) as tf:  # devmajor follows gname: it must stay a number
        (info,) = tf.getmembers()
    assert (info.uname, info.gname, info.devmajor) == ("u" * 32, "g" * 32, 0)


def test_a_pax_keyword_that_is_not_utf8_is_an_unknown_keyword_and_ignored():
    (member, _), = _members(_pax_member(b"7 \xff\xfe=1\n" + tarstream._pax_record("path", "kept")))
    assert member.name == "kept"


def test_base256_numbers_whose_second_byte_is_all_ones():
    big = 0xFF << 48  # positive, but its second byte is 0xff
    raw = _header(name="x", uid=big, gid=-(1 << 55), format=tarfile.GNU_FORMAT)
    assert raw[108:110] == b"\x80\xff" and raw[116:118] == b"\xff\x80"
    (member, _), = _members(raw + END)
    assert (member.uid, member.gid) == (big, -(1 << 55))


def test_a_numeric_field_with_a_stray_letter_is_refused():
    block = bytearray(_header(name="x"))
    block[124:136] = b"0000000012X\0"
    assert _error(_resum(block) + END) == "invalid size field in tar header: b'0000000012X\\x00'"


def test_a_gnu_sparse_member_is_refused():
    block = bytearray(_header(name="x"))
    block[156:157] = b"S"
    assert _error(_resum(block) + END) == "sparse tar members are not supported"


@pytest.mark.parametrize("field,where", [("mode", slice(100, 108)), ("uid", slice(108, 116)),
                                         ("gid", slice(116, 124)), ("mtime", slice(136, 148))])
def test_each_bad_numeric_field_is_named(field, where):
    block = bytearray(_header(name="x"))
    width = where.stop - where.start
    block[where] = b"9" * (width - 1) + b"\0"
    assert _error(_resum(block) + END) == f"invalid {field} field in tar header: {bytes(block[where])!r}"


def test_fields_that_fill_their_bytes_end_where_the_field_ends():
    block = bytearray(_header(name="x", uid=1, gname="g" * 32))
    block[100:108] = b"00000644"  # eight digits, no NUL: the uid field follows at once
    block[329:337] = b"0000000\0"  # a devmajor, as some writers set for every member, right after gname
    (member, _), = _members(_resum(block) + END)
    assert (member.mode, member.uid, member.gname) == (0o644, 1, "g" * 32)


def test_a_link_with_a_size_has_no_data_and_unread_data_is_skipped():
    link = bytearray(_header(name="l", type=tarfile.SYMTYPE, linkname="t"))
    link[124:136] = b"%011o\0" % 10  # a size on a link: nothing follows it
    data = _header(name="d", size=700) + b"d" * 700 + bytes(-700 % 512)
    raw = _resum(link) + data + _header(name="e", size=3) + b"abc" + bytes(509) + END
    chunks = [raw[i:i + 512] for i in range(0, len(raw), 512)]
    assert [m.name for m in tarstream.iter_members(chunks)] == ["l", "d", "e"]  # no data read
