"""zstd for fixture files, streamed both ways, with the digests a manifest records.

``backup --compress`` writes each DAT through :class:`CompressingWriter` as it streams out of the
instance's staging copy (on this side, after the thaw: the freeze window does not grow), hashing
the compressed bytes in the same pass; :func:`scan` is validate's one pass over a compressed file
(both digests, the first blocks for the label check, nothing written); :class:`DecompressingReader`
hands a restore the plain bytes and refuses, at the end of the stream, anything whose plain size
or sha256 is off.  Memory is bounded by the chunk and zstd's window (at most :data:`MAX_WINDOW`:
a frame that asks for more is refused as damaged), whatever the file size or what a frame header
claims; decompression never goes past the size the manifest records (a zstd bomb stops there).

``zstandard`` is an optional dependency (``pip install 'iris-ops[zstd]'``), imported on first
use: without it, compressed fixtures fail with exit 2 and that fix line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

from iris_ops import errors

#: zstd level and worker threads of ``backup --compress`` (figures: README "Performance").
DEFAULT_LEVEL = 3
DEFAULT_THREADS = -1  # one per core
CHUNK = 1 << 20
#: The largest window a frame may ask for.  Levels up to 19 write at most 8 MiB windows
#: (2 MiB at level 3); libzstd's own default limit is 128 MiB, more than a 80 MiB client.
MAX_WINDOW = 1 << 24
FIX_DAMAGED = "Recreate the fixture with `iris-ops backup --compress`."


@dataclass(frozen=True)
class CompressedDigest:
    """What a manifest records for one compressed file."""

    bytes: int
    sha256: str
    compressed_bytes: int
    compressed_sha256: str


def _zstd():
    try:
        import zstandard
    except ImportError as exc:
        raise errors.UsageError(
            "compressed fixtures (backup --compress, and validating or restoring a compressed fixture) "
            "need the zstandard package, which is not installed",
            fix="pip install 'iris-ops[zstd]'   (or: pip install 'zstandard>=0.22')",
        ) from exc
    return zstandard


def available() -> None:
    """Raise the :class:`errors.UsageError` (exit 2, with the fix line) when zstandard is missing."""
    _zstd()


def _decompressor(zstandard):
    return zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)


class _HashingSink:
    """The file object zstd writes into: counts and hashes the compressed bytes."""

    def __init__(self, dest: BinaryIO) -> None:
        self.dest = dest
        self.digest = hashlib.sha256()
        self.count = 0

    def write(self, data) -> int:
        self.digest.update(data)
        self.count += len(data)
        return self.dest.write(data)

    def flush(self) -> None:
        self.dest.flush()


class CompressingWriter:
    """A binary sink (``write``) for the plain bytes; ``close()`` returns the digests.

    ``hash_plain=False`` when the caller already hashes the plain bytes (backup's transport does):
    the digest's ``sha256`` is then empty and the caller supplies its own."""

    def __init__(self, dest: BinaryIO, level: int = DEFAULT_LEVEL, threads: int = DEFAULT_THREADS,
                 *, hash_plain: bool = True) -> None:
        zstandard = _zstd()
        self._sink = _HashingSink(dest)
        self._plain = hashlib.sha256() if hash_plain else None
        self._plain_count = 0
        compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
        self._writer = compressor.stream_writer(self._sink, closefd=False)

    def write(self, data) -> int:
        if self._plain is not None:
            self._plain.update(data)
        self._plain_count += len(data)
        self._writer.write(data)
        return len(data)

    def flush(self) -> None:
        """Nothing to do: the frame is ended by :meth:`close` (a zstd flush would cut a block)."""

    def close(self) -> CompressedDigest:
        self._writer.close()
        plain = self._plain.hexdigest() if self._plain is not None else ""
        return CompressedDigest(self._plain_count, plain, self._sink.count, self._sink.digest.hexdigest())


class DecompressingReader:
    """``read(n)`` gives the plain bytes of a zstd stream; at its end the plain size and sha256
    must equal the recorded ones, else :class:`errors.ValidationError` (the caller undoes what it
    wrote).  A damaged stream is a :class:`errors.ValidationError` too."""

    def __init__(self, src: BinaryIO, *, size: int, sha256: str) -> None:
        zstandard = _zstd()
        self._error = zstandard.ZstdError
        self._reader = _decompressor(zstandard).stream_reader(src, read_size=CHUNK, closefd=False,
                                                              read_across_frames=True)
        self._digest = hashlib.sha256()
        self._count = 0
        self._size = size
        self._sha256 = sha256
        self._done = False

    def read(self, n: int = -1) -> bytes:
        if self._done:
            return b""
        try:
            data = self._reader.read(n if n and n > 0 else CHUNK)
        except self._error as exc:
            raise errors.ValidationError(f"compressed fixture file is damaged: {exc}",
                                         fix=FIX_DAMAGED) from exc
        if data:
            self._digest.update(data)
            self._count += len(data)
            if self._count > self._size:
                raise errors.ValidationError(
                    f"compressed fixture file holds more than the {self._size} bytes recorded",
                    fix=FIX_DAMAGED)
            return data
        self._done = True
        if self._count != self._size or self._digest.hexdigest() != self._sha256:
            raise errors.ValidationError(
                f"compressed fixture file decompresses to {self._count} bytes with sha256 "
                f"{self._digest.hexdigest()}, not the {self._size} bytes and {self._sha256} recorded",
                fix=FIX_DAMAGED)
        return b""


@dataclass(frozen=True)
class Scan:
    """What one pass over a fixture file found.

    ``stored_*`` describe the file as it lies in the fixture; ``bytes``/``sha256`` the database
    (the same for a plain file; the decompressed stream for a compressed one, ``None`` when the
    stream could not be read to its end).  ``head`` is the database's first bytes (for the label
    check); ``problem`` says why a compressed stream could not be read to its end.
    """

    stored_bytes: int
    stored_sha256: str
    bytes: int | None
    sha256: str | None
    head: bytes
    problem: str | None = None


def scan(src: BinaryIO, *, limit: int, head_bytes: int = 0) -> Scan:
    """One pass over a compressed file: its size and sha256, and those of what it decompresses
    to (hashed as it comes out, never written), plus the first ``head_bytes`` of that.

    Decompression stops once it passes ``limit`` bytes (the size the manifest records): then,
    or when the stream is damaged, truncated or not zstd at all, ``problem`` says so and the
    plain figures are ``None``; the compressed file is still hashed to its end.  :class:`OSError`
    when the file cannot be read."""
    zstandard = _zstd()
    stored = _HashingSink(_Discard())

    class _Tee:
        def read(self, n: int = -1) -> bytes:
            data = src.read(n)
            stored.write(data)
            return data

    plain = hashlib.sha256()
    count = 0
    head = b""
    problem = None
    try:
        reader = _decompressor(zstandard).stream_reader(_Tee(), read_size=CHUNK, closefd=False,
                                                        read_across_frames=True)
        while data := reader.read(CHUNK):
            if len(head) < head_bytes:
                head += data[: head_bytes - len(head)]
            count += len(data)
            if count > limit:
                problem = f"decompresses to more than the {limit} bytes the manifest records"
                break
            plain.update(data)
        else:
            if stored.count == 0:
                problem = "the file is empty: not a zstd stream"
    except zstandard.ZstdError as exc:
        problem = f"not a sound zstd stream: {exc}"
    while tail := src.read(CHUNK):  # the rest of the file (after a stop, or bytes after the last frame)
        stored.write(tail)
    if problem:
        return Scan(stored.count, stored.digest.hexdigest(), None, None, head, problem)
    return Scan(stored.count, stored.digest.hexdigest(), count, plain.hexdigest(), head)


def verify(src: BinaryIO, expected: CompressedDigest) -> list[str]:
    """Problems of a compressed file against its recorded digests ([] when sound); the plain
    bytes are hashed as they are decompressed, never written."""
    found = scan(src, limit=expected.bytes)
    problems = [found.problem] if found.problem else []
    if (found.stored_bytes, found.stored_sha256) != (expected.compressed_bytes, expected.compressed_sha256):
        problems.append("compressed size or sha256 differs from the manifest")
    if not problems and (found.bytes, found.sha256) != (expected.bytes, expected.sha256):
        problems.append("uncompressed size or sha256 differs from the manifest")
    return problems


class _Discard:
    def write(self, data) -> int:
        return len(data)
