"""The hash-and-write thread of transfers (iris_ops.transports.hashsink): the digest is of
exactly what was written, in order; a failed write stops the receiving side; an interrupted
receive stops the writer."""

from __future__ import annotations

import hashlib
import io
import threading

import pytest

from iris_ops.transports.hashsink import BATCH, HashSink


def pieces(total: int, size: int):
    data = bytes(range(256)) * (total // 256 + 1)
    view = memoryview(data[:total])
    return [view[i:i + size] for i in range(0, total, size)], data[:total]


@pytest.mark.parametrize("size", [1, 7, 32768, BATCH, BATCH + 3])
def test_the_digest_and_the_file_are_what_was_put_in_order(size):
    parts, data = pieces(3 * BATCH + 11 if size > 7 else 5000, size)
    out = io.BytesIO()
    with HashSink(out) as sink:
        for part in parts:
            sink.put(part)
    assert out.getvalue() == data
    assert sink.count == len(data)
    assert sink.hexdigest() == hashlib.sha256(data).hexdigest()


def test_nothing_put_is_the_empty_file():
    out = io.BytesIO()
    with HashSink(out) as sink:
        pass
    assert out.getvalue() == b"" and sink.count == 0 and sink.hexdigest() == hashlib.sha256(b"").hexdigest()


class Full(io.RawIOBase):
    """A disk that fills after ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit, self.got = limit, 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.got + len(data) > self.limit:
            raise OSError(28, "No space left on device")
        self.got += len(data)
        return len(data)


def test_a_failed_write_is_raised_on_the_receiving_side_and_stops_it():
    parts, _ = pieces(64 * BATCH, BATCH)
    put = 0
    with pytest.raises(OSError, match="No space left"):
        with HashSink(Full(2 * BATCH)) as sink:
            for part in parts:
                sink.put(part)
                put += 1
    assert put < len(parts)  # it stopped receiving, not only at the end
    assert not any(w.thread.is_alive() for w in sink._workers)


def test_a_failed_write_of_the_last_batch_is_raised_by_close():
    with pytest.raises(OSError, match="No space left"):
        with HashSink(Full(10)) as sink:
            sink.put(b"x" * 11)


def test_an_interrupted_receive_stops_the_writer_and_drops_the_rest():
    started, release = threading.Event(), threading.Event()

    class Slow(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            started.set()
            release.wait(5)
            return len(data)

    parts, _ = pieces(8 * BATCH, BATCH)
    with pytest.raises(KeyboardInterrupt):
        with HashSink(Slow(), depth=2) as sink:
            for index, part in enumerate(parts):
                if index == 3:
                    started.wait(5)
                    release.set()
                    raise KeyboardInterrupt
                sink.put(part)
    assert not any(w.thread.is_alive() for w in sink._workers)
    assert sink.count < 8 * BATCH
