"""Hash and write what a transfer receives, in a second thread, while the next piece arrives.

A backup receives a database file (from the engine's archive stream, or from the host side of a
container's filesystem), hashes it and writes it to the fixture.  Done one after the other in
one thread, the three add up; ``hashlib`` and file writes release the GIL, so a second thread
that hashes and writes piece *n* while the first thread receives piece *n + 1* makes the pass
as long as the slowest of them (docs/PERFORMANCE.md has the figures).

Pieces are handed over in batches of at least :data:`BATCH` bytes: the engine's archive
stream arrives in 32 KiB HTTP chunks, and a thread hand-off per chunk costs more than it saves.
Memory stays bounded: at most :data:`DEPTH` batches wait in the queue.  The digest is of exactly
the bytes written, in order.  An error on either side stops both: a failed write (a full disk)
is raised in the receiving thread at its next piece, and a failed or interrupted receive stops
the writer before :meth:`HashSink.close` returns.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from typing import BinaryIO

__all__ = ["HashSink", "copy_file", "DEPTH", "BATCH", "READ_SIZE"]

#: Batches that may wait for the writer.
DEPTH = 4
#: Bytes gathered before a batch is handed to the writer.
BATCH = 1 << 20
#: Read size of :func:`copy_file` (a file on this host: page-cache reads cost little per call).
READ_SIZE = 1 << 20
_END = None


class HashSink:
    """``with HashSink(dest) as sink: sink.put(piece) ...``; then ``sink.count``, ``sink.hexdigest()``.

    ``put`` takes bytes-like pieces it may keep until written: the caller must not reuse their
    buffer.  Leaving the block normally waits for the last write; leaving it with an exception
    drops what was not written yet and waits for the writer to stop.
    """

    def __init__(self, dest: BinaryIO, depth: int = DEPTH) -> None:
        self.dest = dest
        self.digest = hashlib.sha256()
        self.count = 0  # bytes hashed and written
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iris-ops-hash-write", daemon=True)
        self._batch: list = []
        self._batched = 0

    def __enter__(self) -> "HashSink":
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abandon()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is _END or self._stop.is_set():
                return
            try:
                for piece in batch:
                    self.digest.update(piece)
                    self.dest.write(piece)
                    self.count += len(piece)
            except BaseException as exc:  # noqa: BLE001 - handed to the receiving thread
                self._error = exc
                self._stop.set()
                return

    def put(self, piece) -> None:
        """Queue ``piece`` (waits while the queue is full); raises the writer's error, if any."""
        self._batch.append(piece)
        self._batched += len(piece)
        if self._batched >= BATCH:
            self._hand_over()

    def _hand_over(self) -> None:
        batch, self._batch, self._batched = self._batch, [], 0
        while True:
            self._raise_error()
            try:
                self._queue.put(batch, timeout=0.2)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait until everything queued is hashed and written; raise the writer's error, if any."""
        if self._batch:
            self._hand_over()
        while self._thread.is_alive():
            try:
                self._queue.put(_END, timeout=0.2)
                break
            except queue.Full:
                self._raise_error()
        self._thread.join()
        self._raise_error()

    def hexdigest(self) -> str:
        return self.digest.hexdigest()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _abandon(self) -> None:
        self._stop.set()
        while True:  # unblock the writer: drop what waits, then tell it to end
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        try:
            self._queue.put_nowait(_END)
        except queue.Full:  # pragma: no cover - the queue was just emptied
            pass
        self._thread.join()


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
