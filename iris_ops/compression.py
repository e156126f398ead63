"""zstd for fixture files, streamed both ways, with the digests a manifest records.

Groundwork for ``backup --compress`` (issue 12, point 4), not wired into backup, validate or
restore yet.  :class:`CompressingWriter` takes the plain bytes as they stream out of the
instance and writes zstd frames, hashing the plain bytes and the compressed bytes in the same
pass; :func:`verify` checks a compressed file against both recorded digests without writing the
plain file; :class:`DecompressingReader` hands a restore the plain bytes and refuses, at the end
of the stream, anything whose plain size or sha256 is off.  Memory is bounded by the chunk and
zstd's window, whatever the file size.

``zstandard`` is imported on first use: building the task list stays free of it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

from iris_ops import errors

#: Level 3 with one worker per core: on the typical fixture (mostly empty blocks) it is limited
#: by reading, not by compressing (bench/run.py, README "Performance").
DEFAULT_LEVEL = 3
CHUNK = 1 << 20


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
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise errors.UsageError(
            "compressed fixtures need the zstandard package",
            fix="pip install zstandard",
        ) from exc
    return zstandard


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
    """A binary sink (``write``) for the plain bytes; ``close()`` returns the digests."""

    def __init__(self, dest: BinaryIO, level: int = DEFAULT_LEVEL, threads: int = -1) -> None:
        zstandard = _zstd()
        self._sink = _HashingSink(dest)
        self._plain = hashlib.sha256()
        self._plain_count = 0
        compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
        self._writer = compressor.stream_writer(self._sink, closefd=False)

    def write(self, data) -> int:
        self._plain.update(data)
        self._plain_count += len(data)
        self._writer.write(data)
        return len(data)

    def close(self) -> CompressedDigest:
        self._writer.close()
        return CompressedDigest(self._plain_count, self._plain.hexdigest(), self._sink.count, self._sink.digest.hexdigest())


class DecompressingReader:
    """``read(n)`` gives the plain bytes of a zstd stream; at its end the plain size and sha256
    must equal the recorded ones, else :class:`errors.ValidationError` (the caller undoes what it
    wrote).  A damaged stream is a :class:`errors.ValidationError` too."""

    def __init__(self, src: BinaryIO, *, size: int, sha256: str) -> None:
        zstandard = _zstd()
        self._error = zstandard.ZstdError
        self._reader = zstandard.ZstdDecompressor().stream_reader(src, read_size=CHUNK, closefd=False,
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
                                         fix="Recreate the fixture with `iris-ops backup`.") from exc
        if data:
            self._digest.update(data)
            self._count += len(data)
            if self._count > self._size:
                raise errors.ValidationError(
                    f"compressed fixture file holds more than the {self._size} bytes recorded",
                    fix="Recreate the fixture with `iris-ops backup`.")
            return data
        self._done = True
        if self._count != self._size or self._digest.hexdigest() != self._sha256:
            raise errors.ValidationError(
                f"compressed fixture file decompresses to {self._count} bytes with sha256 "
                f"{self._digest.hexdigest()}, not the {self._size} bytes and {self._sha256} recorded",
                fix="Recreate the fixture with `iris-ops backup`.")
        return b""


def verify(src: BinaryIO, expected: CompressedDigest) -> list[str]:
    """Problems of a compressed file against its recorded digests ([] when sound); the plain
    bytes are hashed as they are decompressed, never written."""
    problems: list[str] = []
    zstandard = _zstd()
    outer = _HashingSink(_Discard())
    plain = hashlib.sha256()
    count = 0

    class _Tee:
        def read(self, n: int = -1) -> bytes:
            data = src.read(n)
            outer.write(data)
            return data

    try:
        reader = zstandard.ZstdDecompressor().stream_reader(_Tee(), read_size=CHUNK, closefd=False,
                                                                 read_across_frames=True)
        while data := reader.read(CHUNK):
            plain.update(data)
            count += len(data)
        while tail := src.read(CHUNK):  # bytes after the last frame are part of the compressed file
            outer.write(tail)
    except zstandard.ZstdError as exc:
        problems.append(f"damaged zstd stream: {exc}")
    if (outer.count, outer.digest.hexdigest()) != (expected.compressed_bytes, expected.compressed_sha256):
        problems.append("compressed size or sha256 differs from the manifest")
    if not problems and (count, plain.hexdigest()) != (expected.bytes, expected.sha256):
        problems.append("uncompressed size or sha256 differs from the manifest")
    return problems


class _Discard:
    def write(self, data) -> int:
        return len(data)
