"""Hash and write what a transfer receives in two more threads, while the next piece arrives.

A backup receives a database file (from the engine's archive stream, or from the host side of a
container's filesystem), hashes it and writes it to the fixture.  Done one after the other in
one thread, the three add up; ``hashlib`` and file writes release the GIL, so one thread that
hashes and another that writes, each working through the same batches in order while the
first thread receives the next, make the pass as long as the slowest of the three
(docs/PERFORMANCE.md has the figures).

Pieces are handed over in batches of at least :data:`BATCH` bytes: the engine's archive
stream arrives in 32 KiB HTTP chunks, and a thread hand-off per chunk costs more than it saves.
Memory stays bounded: at most :data:`DEPTH` batches wait for each worker, and both share them.
The digest is of exactly the bytes written, in order.  An error on any side stops all of them:
a failed write (a full disk) is raised in the receiving thread at its next piece, and a failed
or interrupted receive stops the workers before the ``with`` block is left.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from typing import BinaryIO, Callable

__all__ = ["HashSink", "HashingReader", "copy_file", "DEPTH", "BATCH", "READ_SIZE"]

#: Batches that may wait for each worker.
DEPTH = 4
#: Bytes gathered before a batch is handed to the workers.
BATCH = 1 << 20
#: Read size of :func:`copy_file` (a file on this host: page-cache reads cost little per call).
READ_SIZE = 1 << 20
_END = None


class _Worker:
    """A thread applying ``fn`` to every piece of every batch it is given, in order."""

    def __init__(self, name: str, fn: Callable, sink: "HashSink", depth: int) -> None:
        self.fn = fn
        self.sink = sink
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        sink = self.sink
        while True:
            batch = self.queue.get()
            if batch is _END or sink._stop.is_set():
                return
            try:
                for piece in batch:
                    self.fn(piece)
            except BaseException as exc:  # noqa: BLE001 - handed to the receiving thread
                sink._error = sink._error or exc
                sink._stop.set()
                return

    def give(self, item) -> None:
        """Queue ``item``, waiting while the queue is full; raises a worker's error, if any."""
        while True:
            self.sink._raise_error()
            if not self.thread.is_alive():
                return  # it stopped (an error, raised above, or the end)
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def abandon(self) -> None:
        while True:  # unblock it: drop what waits, then tell it to end
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
        try:
            self.queue.put_nowait(_END)
        except queue.Full:  # pragma: no cover - the queue was just emptied
            pass


class HashSink:
    """``with HashSink(dest) as sink: sink.put(piece) ...``; then ``sink.count``, ``sink.hexdigest()``.

    ``put`` takes bytes-like pieces it may keep until written: the caller must not reuse their
    buffer.  Leaving the block normally waits for the last write; leaving it with an exception
    drops what was not written yet and waits for the workers to stop.
    """

    def __init__(self, dest: BinaryIO, depth: int = DEPTH) -> None:
        self.dest = dest
        self.digest = hashlib.sha256()
        self.count = 0  # bytes written
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._batch: list = []
        self._batched = 0
        self._workers = (_Worker("iris-ops-hash", self.digest.update, self, depth),
                         _Worker("iris-ops-write", self._write, self, depth))

    def _write(self, piece) -> None:
        self.dest.write(piece)
        self.count += len(piece)

    def __enter__(self) -> "HashSink":
        for worker in self._workers:
            worker.thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abandon()

    def put(self, piece) -> None:
        """Queue ``piece`` (waits while a worker is behind); raises a worker's error, if any."""
        self._batch.append(piece)
        self._batched += len(piece)
        if self._batched >= BATCH:
            self._hand_over()

    def _hand_over(self) -> None:
        batch, self._batch, self._batched = self._batch, [], 0
        for worker in self._workers:
            worker.give(batch)

    def close(self) -> None:
        """Wait until everything queued is hashed and written; raise a worker's error, if any."""
        try:
            if self._batch:
                self._hand_over()
            for worker in self._workers:
                worker.give(_END)
        except BaseException:
            self._abandon()
            raise
        for worker in self._workers:
            worker.thread.join()
        self._raise_error()

    def hexdigest(self) -> str:
        return self.digest.hexdigest()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _abandon(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.abandon()
        for worker in self._workers:
            worker.thread.join()


class HashingReader:
    """Reads from ``src``, hashing and counting what it hands out (the sending side of a
    transfer); past ``deadline`` (a :func:`time.monotonic` value) it raises
    :class:`iris_ops.errors.DeadlineExceeded` naming ``what``."""

    def __init__(self, src: BinaryIO, deadline: float, what: str) -> None:
        self.src = src
        self.digest = hashlib.sha256()
        self.count = 0
        self.deadline = deadline
        self.what = what

    def read(self, n: int = -1) -> bytes:
        from iris_ops import errors

        if time.monotonic() > self.deadline:
            raise errors.DeadlineExceeded(f"{self.what} did not finish before its deadline")
        data = self.src.read(n)
        if data:
            self.digest.update(data)
            self.count += len(data)
        return data


def copy_file(path, dest: BinaryIO, *, deadline: float, what: str) -> tuple[int, str]:
    """Copy the file ``path`` of this host into ``dest``: read here, hashed and written in the
    sink's thread.  Returns (bytes, sha256 hex).  Raises :class:`iris_ops.errors.DeadlineExceeded`
    past ``deadline`` (a ``time.monotonic()`` value)."""
    from iris_ops import errors

    with open(path, "rb", buffering=0) as src, HashSink(dest) as sink:
        while True:
            if time.monotonic() > deadline:
                raise errors.DeadlineExceeded(f"{what} did not finish before its deadline")
            piece = src.read(READ_SIZE)
            if not piece:
                break
            sink.put(piece)
    return sink.count, sink.hexdigest()
