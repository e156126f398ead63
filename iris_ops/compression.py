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

__all__ = [
    "DEFAULT_LEVEL", "DEFAULT_THREADS", "CHUNK", "MAX_WINDOW", "FIX_DAMAGED", "CompressedDigest",
    "available", "CompressingWriter", "DecompressingReader", "Scan", "scan", "verify",
]

#: zstd level and worker threads of ``backup --compress``, chosen by figures on 256 MiB files
#: streamed in 1 MiB writes (2026-11-29, the typical database of bench/run.py and a filled one):
#: on the typical one (mostly empty blocks) levels 1, 3, 6, 9 and 19 all store it 5,200-5,900 x
#: smaller, level 1 within 3 % of level 3; on a filled database (incompressible) level 1 costs 0.15-0.21 s of CPU where level 3
#: costs 0.34-0.39 s.  Worker threads (one per core) compress beside the thread that streams
#: the file out of the instance instead of in it.
DEFAULT_LEVEL = 1
DEFAULT_THREADS = -1  # one per core
CHUNK = 1 << 20
#: The largest window a frame may ask for.  Levels up to 19 write at most 8 MiB windows
#: (512 KiB at level 1); libzstd's own default limit is 128 MiB, more than an 80 MiB client.
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


_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE_MAGIC = 0x184D2A50  # the low four bits are free
_FCS_BYTES = (0, 2, 4, 8)
_DICT_ID_BYTES = (0, 1, 2, 4)


class _FrameWalker:
    """Follows the frame and block headers of a zstd stream (RFC 8878 §3.1) as its bytes go by,
    skipping block contents, to tell whether the stream ends on a frame boundary: libzstd's
    streaming decompression hands back what it decoded from a truncated frame without an error.
    Cost: a few operations per 128 KiB block."""

    def __init__(self) -> None:
        self.frames = 0
        self.bad: str | None = None
        self._state = "magic"
        self._need = 4
        self._buf = b""
        self._skip = 0
        self._checksum = False
        self._seen = 0

    def feed(self, data) -> None:
        n = len(data)
        self._seen += n
        i = 0
        while i < n and self.bad is None:
            if self._skip:
                take = min(self._skip, n - i)
                self._skip -= take
                i += take
                continue
            take = min(self._need - len(self._buf), n - i)
            self._buf += bytes(data[i : i + take])
            i += take
            if len(self._buf) == self._need:
                header, self._buf = self._buf, b""
                self._advance(header)

    def _expect(self, state: str, need: int, skip: int = 0) -> None:
        self._state, self._need, self._skip = state, need, skip

    def _advance(self, h: bytes) -> None:
        state = self._state
        if state == "magic":
            magic = int.from_bytes(h, "little")
            if magic == _ZSTD_MAGIC:
                self._expect("descriptor", 1)
            elif magic & 0xFFFFFFF0 == _SKIPPABLE_MAGIC:
                self._expect("skippable", 4)
            else:
                self.bad = f"no zstd frame at byte {self._seen - 4}" if self.frames else "not a zstd stream"
        elif state == "descriptor":
            fhd = h[0]
            single = (fhd >> 5) & 1
            self._checksum = bool((fhd >> 2) & 1)
            fcs = _FCS_BYTES[fhd >> 6] or (1 if single else 0)
            rest = (0 if single else 1) + _DICT_ID_BYTES[fhd & 3] + fcs
            if fhd & 0x08:
                self.bad = "a zstd frame header with its reserved bit set"
            elif rest:
                self._expect("header", rest)
            else:
                self._expect("block", 3)
        elif state == "header":
            self._expect("block", 3)
        elif state == "block":
            value = int.from_bytes(h, "little")
            kind, size = (value >> 1) & 3, value >> 3
            if kind == 3:
                self.bad = "a zstd block of the reserved type"
                return
            content = 1 if kind == 1 else size
            if not value & 1:
                self._expect("block", 3, content)
            elif self._checksum:
                self._expect("checksum", 4, content)
            else:
                self.frames += 1
                self._expect("magic", 4, content)
        elif state == "checksum":
            self.frames += 1
            self._expect("magic", 4)
        elif state == "skippable":
            self._expect("magic", 4, int.from_bytes(h, "little"))

    def problem(self) -> str | None:
        """Why the bytes fed so far are not whole zstd frames, or None."""
        if self.bad:
            return self.bad
        if self._seen == 0:
            return "the file is empty: not a zstd stream"
        if self._state != "magic" or self._buf or self._skip:
            return "truncated: the stream ends inside a zstd frame"
        if not self.frames:
            return "holds no zstd frame"
        return None


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
        self._walker = _FrameWalker()
        self._reader = _decompressor(zstandard).stream_reader(_Tee(src, self._walker), read_size=CHUNK,
                                                              closefd=False, read_across_frames=True)
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
        problem = self._walker.problem()
        if problem:
            raise errors.ValidationError(f"compressed fixture file is damaged: {problem}", fix=FIX_DAMAGED)
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
    walker = _FrameWalker()
    tee = _Tee(src, walker, stored)
    plain = hashlib.sha256()
    count = 0
    head = b""
    problem = None
    try:
        reader = _decompressor(zstandard).stream_reader(tee, read_size=CHUNK, closefd=False,
                                                        read_across_frames=True)
        while data := reader.read(CHUNK):
            if len(head) < head_bytes:
                head += data[: head_bytes - len(head)]
            count += len(data)
            if count > limit:
                problem = f"decompresses to more than the {limit} bytes the manifest records"
                break
            plain.update(data)
    except zstandard.ZstdError as exc:
        problem = f"not a sound zstd stream: {exc}"
    while tee.read(CHUNK):  # the rest of the file (after a stop, or bytes after the last frame)
        pass
    if problem is None and walker.problem():
        problem = f"not a sound zstd stream: {walker.problem()}"
    if problem:
        return Scan(stored.count, stored.digest.hexdigest(), None, None, head, problem)
    return Scan(stored.count, stored.digest.hexdigest(), count, plain.hexdigest(), head)


class _Tee:
    """A reader that shows every byte it reads to the frame walker (and a hashing sink)."""

    def __init__(self, src: BinaryIO, walker: _FrameWalker, sink: "_HashingSink | None" = None) -> None:
        self.src, self.walker, self.sink = src, walker, sink

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.walker.feed(data)
        if self.sink is not None:
            self.sink.write(data)
        return data


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
