"""The streaming tar reader/writer against the stdlib's tarfile, in both directions."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

import pytest

from iris_ops import tarstream


def _stdlib_tar(members: list[tuple[str, bytes]], fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o640
            info.uid, info.gid = 51773, 51773
            info.uname, info.gname = "irisowner", "irisowner"
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _read_all(chunks) -> list[tuple[tarstream.TarMember, bytes]]:
    return [(m, m.read()) for m in tarstream.iter_members(chunks)]


LONG_NAME = "usr/irissys/mgr/" + "d" * 120 + "/" + "f" * 130 + ".dat"  # fits neither name nor prefix
PREFIX_NAME = "usr/irissys/mgr/" + "p" * 100 + "/IRIS.DAT"  # ustar prefix + name split
MEMBERS = [
    ("IRIS.DAT", os.urandom(8192 * 3)),
    ("empty", b""),
    (PREFIX_NAME, b"prefix split"),
    (LONG_NAME, os.urandom(1000)),
    ("naïve-ünïcode.txt", b"utf-8 name"),
]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
@pytest.mark.parametrize("chunk", [1, 511, 512, 4096, 1 << 20])
def test_reads_what_tarfile_writes(fmt, chunk):
    members = MEMBERS if fmt != tarfile.USTAR_FORMAT else [m for m in MEMBERS if m[0] != LONG_NAME and m[0].isascii()]
    if chunk == 1:
        members = members[:3]  # one byte at a time is slow; the split points are what matter
    got = _read_all(_chunked(_stdlib_tar(members, fmt), chunk))
    assert [(m.name, data) for m, data in got] == members
    for m, data in got:
        assert m.isfile() and m.size == len(data)
        assert (m.mode, m.uid, m.gid, m.mtime) == (0o640, 51773, 51773, 1_700_000_000)
        assert (m.uname, m.gname) == ("irisowner", "irisowner")


def test_pax_headers_override_ustar_fields():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("short")
        info.size = 3
        info.uid = 10_000_000  # too big for the octal field: goes to a pax record
        info.mtime = 1_700_000_000.25  # fractional: pax record
        info.pax_headers = {"path": "from/pax/header", "comment": "hello"}
        tf.addfile(info, io.BytesIO(b"abc"))
    (member, data), = _read_all([buf.getvalue()])
    assert member.name == "from/pax/header"
    assert member.uid == 10_000_000
    assert member.mtime == 1_700_000_000.25
    assert member.pax["comment"] == "hello"
    assert data == b"abc"


def test_global_pax_header_applies_to_later_members():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"uname": "globaluser"}) as tf:
        for name in ("a", "b"):
            info = tarfile.TarInfo(name)
            tf.addfile(info, io.BytesIO(b""))
    got = _read_all([buf.getvalue()])
    assert [(m.name, m.uname) for m, _ in got] == [("a", "globaluser"), ("b", "globaluser")]


def test_directories_and_symlinks_are_reported_with_their_types():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        d = tarfile.TarInfo("dir")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
        link = tarfile.TarInfo("dir/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "../" + "t" * 150  # GNU long link name
        tf.addfile(link)
    (d, _), (link, _) = _read_all([buf.getvalue()])
    assert d.isdir() and not d.isfile()
    assert link.type == b"2" and link.linkname == "../" + "t" * 150


def test_member_larger_than_the_chunk_size_streams_in_slices():
    data = os.urandom(5 * 65536 + 123)
    raw = _stdlib_tar([("big", data), ("after", b"x")], tarfile.PAX_FORMAT)
    members = tarstream.iter_members(_chunked(raw, 65536))
    big = next(members)
    pieces = list(big.iter_data())
    assert len(pieces) > 5 and max(len(p) for p in pieces) <= 65536
    assert b"".join(bytes(p) for p in pieces) == data
    assert next(members).read() == b"x"
    assert next(members, None) is None


def test_unread_member_data_is_skipped():
    raw = _stdlib_tar([("a", os.urandom(3000)), ("b", b"second")], tarfile.USTAR_FORMAT)
    names = []
    for m in tarstream.iter_members(_chunked(raw, 700)):
        names.append(m.name)
        if m.name == "b":
            assert m.read() == b"second"
    assert names == ["a", "b"]


def test_data_of_a_passed_member_is_refused():
    raw = _stdlib_tar([("a", b"1"), ("b", b"2")], tarfile.USTAR_FORMAT)
    members = tarstream.iter_members([raw])
    first = next(members)
    next(members)
    with pytest.raises(tarstream.TarError, match="no longer available"):
        first.read()


@pytest.mark.parametrize("cut", [100, 512, 700, 512 + 4000, -1024, -600])
def test_truncated_streams_raise(cut):
    raw = _stdlib_tar([("a", os.urandom(5000))], tarfile.USTAR_FORMAT)
    # tarfile pads to 10 KiB records: cut relative to the real end of the archive (the first
    # zero block ends it, as for tarfile; -1024 has none, -600 half of one)
    end = 512 + 5120 + 1024
    raw = raw[:end]
    cut_at = cut if cut > 0 else end + cut
    with pytest.raises(tarstream.TruncatedTarError):
        for member in tarstream.iter_members(_chunked(raw[:cut_at], 333)):
            member.read()


def test_empty_stream_is_truncated():
    with pytest.raises(tarstream.TruncatedTarError):
        list(tarstream.iter_members([]))


def test_garbage_fails_the_checksum():
    with pytest.raises(tarstream.TarError, match="checksum"):
        list(tarstream.iter_members([b"x" * 1024]))


def test_sparse_members_are_refused():
    header = bytearray(tarstream.file_header("s", 0, 0o644, 0, 0, 0))
    header[156:157] = b"S"
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    with pytest.raises(tarstream.TarError, match="sparse"):
        list(tarstream.iter_members([bytes(header) + bytes(1024)]))


# ---------------------------------------------------------------------------------- writer


def _stdlib_read(raw: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
        return [(m, tf.extractfile(m).read()) for m in tf.getmembers()]


@pytest.mark.parametrize(
    "name",
    ["IRIS.DAT", PREFIX_NAME, LONG_NAME, "naïve/ünïcode.dat", ".IRIS.DAT.iris-ops-0123456789ab.part"],
)
def test_tarfile_reads_what_we_write(name):
    data = os.urandom(3 * 1024 + 17)
    raw = b"".join(tarstream.single_file_tar(name, len(data), 0o660, 51773, 51773, 1_700_000_000, io.BytesIO(data), chunk_size=1000))
    assert len(raw) % 512 == 0
    (info, got), = _stdlib_read(raw)
    assert info.name == name and info.isfile()
    assert (info.size, info.mode, info.uid, info.gid, info.mtime) == (len(data), 0o660, 51773, 51773, 1_700_000_000)
    assert got == data
    # and our own reader agrees
    (member, ours), = _read_all(_chunked(raw, 777))
    assert (member.name, ours) == (name, data)


def test_writer_uses_pax_for_huge_ids_and_sizes():
    header = tarstream.file_header("f", 9 * 1024**3, 0o660, 3_000_000, 5, 1_700_000_000)
    assert header[156:157] == b"x"  # a pax header comes first
    # parse just the headers with tarfile: give it an archive holding no data for the member
    members = tarstream.iter_members([header])
    member = next(members)
    assert member.size == 9 * 1024**3 and member.uid == 3_000_000 and member.gid == 5


def test_writer_streams_a_file_larger_than_its_chunk_size():
    data = os.urandom(10 * 4096 + 1)
    chunks = list(tarstream.single_file_tar("f", len(data), 0o644, 0, 0, 0, io.BytesIO(data), chunk_size=4096))
    assert max(len(c) for c in chunks) <= 4096 + 1024 + 512
    assert len(chunks) >= 11
    (_, got), = _stdlib_read(b"".join(chunks))
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def test_writer_refuses_a_short_source():
    with pytest.raises(tarstream.SourceSizeError, match="ended after 10 of 20"):
        list(tarstream.single_file_tar("f", 20, 0o644, 0, 0, 0, io.BytesIO(b"x" * 10)))


def test_writer_refuses_a_long_source():
    with pytest.raises(tarstream.SourceSizeError, match="more than"):
        list(tarstream.single_file_tar("f", 5, 0o644, 0, 0, 0, io.BytesIO(b"x" * 10)))


def test_writer_refuses_absolute_names():
    with pytest.raises(tarstream.TarError):
        list(tarstream.single_file_tar("/etc/passwd", 0, 0o644, 0, 0, 0, io.BytesIO()))


def test_reader_hashes_what_tarfile_reads():
    """Same bytes and same digest as the stdlib's stream mode, in one pass over chunks.  (How much
    faster it is is a benchmark figure, not a test: bench/run.py.)"""
    data = os.urandom(1 << 20) * 8
    raw = b"".join(tarstream.single_file_tar("f", len(data), 0o644, 0, 0, 0, io.BytesIO(data)))

    h = hashlib.sha256()
    for m in tarstream.iter_members(_chunked(raw, 2 << 20)):
        for piece in m.iter_data():
            h.update(piece)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r|") as tf:
        member = next(iter(tf))
        assert tf.extractfile(member).read() == data
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()
