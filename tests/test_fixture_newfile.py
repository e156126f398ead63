"""A fixture's new file (iris_ops.fixture.newfile): written around the page cache where the
filesystem allows, every byte reaches the file whatever the sizes of the pieces, and a direct
write the kernel refuses goes through the page cache instead, never losing a byte or an error.
Where direct writes cannot be had, the file is handed to the disk as it is written: every range
once, in order, and a hand-over that fails stops the hand-overs, never the writing."""

from __future__ import annotations

import errno
import os
import sys

import pytest

from iris_ops import fixture as fx
from iris_ops.fixture import newfile
from iris_ops.fixture.newfile import BLOCK, DirectFile, WriteBehind, start_writeback


class Recorder:
    """A hand-over that notes what it was given, and how much of the file was in it then."""

    def __init__(self, answer: int = 0) -> None:
        self.ranges: list[tuple[int, int]] = []
        self.sizes: list[int] = []
        self.answer = answer

    def __call__(self, fd: int, offset: int, nbytes: int) -> int:
        self.ranges.append((offset, nbytes))
        self.sizes.append(os.fstat(fd).st_size)
        return self.answer


def test_every_range_is_handed_over_once_in_order_once_it_is_in_the_file(tmp_path):
    pieces = [os.urandom(n) for n in (700, 1, 300, 1024, 5, 2000, 999, 4096, 3)]
    start = Recorder()
    path = tmp_path / "IRIS.DAT"
    with WriteBehind(open(path, "wb"), step=1000, start=start) as out:
        assert [out.write(p) for p in pieces] == [len(p) for p in pieces]
    data = b"".join(pieces)
    assert path.read_bytes() == data
    # Hand-overs begin where the last one ended, once at least a step was written since.
    assert start.ranges == [(0, 1001), (1001, 1024), (2025, 2005), (4030, 5095)]
    # Each range was in the file (flushed out of Python's buffer) when it was handed over.
    assert all(size >= offset + n for (offset, n), size in zip(start.ranges, start.sizes))


def test_less_than_a_step_is_left_to_the_fsync(tmp_path):
    start = Recorder()
    with WriteBehind(open(tmp_path / "f", "wb"), step=4096, start=start) as out:
        out.write(b"x" * 4095)
    assert start.ranges == [] and (tmp_path / "f").stat().st_size == 4095


def test_a_failed_hand_over_is_not_tried_again_and_the_writing_goes_on(tmp_path):
    start = Recorder(answer=-1)
    with WriteBehind(open(tmp_path / "f", "wb"), step=10, start=start) as out:
        for _ in range(5):
            out.write(b"0123456789")
    assert start.ranges == [(0, 10)]
    assert (tmp_path / "f").read_bytes() == b"0123456789" * 5


def test_closing_it_closes_the_file(tmp_path):
    handle = open(tmp_path / "f", "wb")
    with WriteBehind(handle, start=Recorder()):
        pass
    assert handle.closed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_the_real_hand_over_takes_a_range_of_a_real_file(tmp_path):
    start = start_writeback()
    assert start is not None
    with open(tmp_path / "f", "wb") as handle:
        handle.write(b"y" * (1 << 20))
        handle.flush()
        assert start(handle.fileno(), 0, 1 << 20) == 0
        # A range past 4 GiB (a database that size is common).
        handle.seek((5 << 30) - 1)
        handle.write(b"z")
        handle.flush()
        assert start(handle.fileno(), (5 << 30) - 1, 1) == 0
        assert start(handle.fileno(), -1, 1) == -1  # the kernel saw the offset: negative is EINVAL
    closed = os.open(tmp_path / "f", os.O_RDONLY)
    os.close(closed)
    import ctypes

    assert start(closed, 0, 1) == -1 and ctypes.get_errno() == errno.EBADF


def direct_or_skip(path) -> DirectFile:
    handle = newfile.create(path)
    if not isinstance(handle, DirectFile):
        handle.close()
        pytest.skip(f"{path.parent}'s filesystem does not take O_DIRECT")
    return handle


def o_direct(fd: int) -> bool:
    import fcntl

    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)


@pytest.mark.parametrize("sizes", [
    [], [1], [BLOCK - 1], [BLOCK], [BLOCK + 1], [8192] * 3,
    [(4 << 20) - 1, 1], [4 << 20], [3, (4 << 20) + 5, 8192, 700], [(9 << 20) + 12345],
])
def test_a_direct_file_holds_exactly_what_was_written(tmp_path, sizes):
    path = tmp_path / "IRIS.DAT"
    pieces = [os.urandom(n) for n in sizes]
    with direct_or_skip(path) as out:
        assert o_direct(out.fileno())
        assert [out.write(p) for p in pieces] == sizes
    assert path.read_bytes() == b"".join(pieces)


def test_a_direct_file_takes_memoryviews_of_other_buffers(tmp_path):
    data = bytearray(os.urandom(3 * BLOCK + 17))
    with direct_or_skip(tmp_path / "f") as out:
        out.write(memoryview(data)[5:])
        data[:] = b"\0" * len(data)  # the caller may reuse its buffer at once
    assert (tmp_path / "f").stat().st_size == 3 * BLOCK + 12


def test_a_direct_write_cut_short_by_the_file_size_limit_ends_in_efbig_not_einval(tmp_path):
    """RLIMIT_FSIZE (what `ulimit -f` sets; the fault matrix's "this host's disk full") cuts a
    direct write short at an unaligned size; the rest must fail as the limit says."""
    import resource
    import signal

    limit = (4 << 20) + 1000
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old[1]))
    try:
        with pytest.raises(OSError) as caught:
            with direct_or_skip(tmp_path / "f") as out:
                out.write(os.urandom(8 << 20))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, previous)
    assert caught.value.errno == errno.EFBIG
    assert (tmp_path / "f").stat().st_size == limit


def test_without_direct_writes_the_file_is_written_behind(tmp_path):
    with newfile.create(tmp_path / "f", direct=False) as out:
        assert isinstance(out, WriteBehind) and out.step == newfile.STEP
        out.write(b"xyz")
    assert (tmp_path / "f").read_bytes() == b"xyz"


def test_the_fixture_writer_writes_databases_around_the_page_cache(tmp_path):
    out = tmp_path / "fx"
    writer = fx.FixtureWriter(out)
    writer.open()
    data = os.urandom(3 * 8192)
    with writer.create("databases/APP/IRIS.DAT") as handle:
        assert isinstance(handle, DirectFile)
        handle.write(data)
    assert (writer.tmp / "databases/APP/IRIS.DAT").read_bytes() == data
    writer.abort()
    assert not out.exists()


def test_a_direct_file_is_private_and_closing_it_twice_is_one_close(tmp_path):
    before = sorted(os.listdir("/proc/self/fd"))
    with direct_or_skip(tmp_path / "f") as out:
        out.write(b"x" * (BLOCK + 3))
        out.close()  # the with block closes it again
    assert out.fileno() == -1
    assert sorted(os.listdir("/proc/self/fd")) == before  # its own descriptor closed, and no other
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "f").read_bytes() == b"x" * (BLOCK + 3)


@pytest.mark.skipif(os.geteuid() != 0 or not sys.platform.startswith("linux"), reason="mounts a ramfs (root, Linux)")
def test_a_filesystem_that_refuses_direct_writes_gets_the_file_written_behind(tmp_path):
    """ramfs has no O_DIRECT: opening with it is EINVAL, and the file is written through the page
    cache instead, every byte of it."""
    import subprocess

    mount = tmp_path / "ram"
    mount.mkdir()
    subprocess.run(["mount", "-t", "ramfs", "ramfs", str(mount)], check=True)
    try:
        data = os.urandom(3 * BLOCK + 5)
        with newfile.create(mount / "IRIS.DAT") as out:
            assert isinstance(out, WriteBehind)
            out.write(data)
        assert (mount / "IRIS.DAT").read_bytes() == data
    finally:
        subprocess.run(["umount", str(mount)], check=True)
