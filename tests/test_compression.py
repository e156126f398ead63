"""Compressed fixture files (groundwork for backup --compress): digests, damage, truncation."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

pytest.importorskip("zstandard")

from iris_ops import compression, errors  # noqa: E402


def _compress(plain: bytes) -> tuple[bytes, compression.CompressedDigest]:
    out = io.BytesIO()
    writer = compression.CompressingWriter(out)
    for i in range(0, len(plain), 65536):
        writer.write(plain[i : i + 65536])
    digest = writer.close()
    return out.getvalue(), digest


PLAIN = b"\0" * (3 << 20) + os.urandom(100_000) + b"row " * 50_000


def test_round_trip_records_both_digests():
    packed, digest = _compress(PLAIN)
    assert digest.bytes == len(PLAIN) and digest.sha256 == hashlib.sha256(PLAIN).hexdigest()
    assert digest.compressed_bytes == len(packed) and digest.compressed_sha256 == hashlib.sha256(packed).hexdigest()
    assert len(packed) < len(PLAIN) // 10
    assert compression.verify(io.BytesIO(packed), digest) == []
    reader = compression.DecompressingReader(io.BytesIO(packed), size=digest.bytes, sha256=digest.sha256)
    got = b"".join(iter(lambda: reader.read(1 << 16), b""))
    assert got == PLAIN


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_or_truncated_files_are_refused(damage):
    packed, digest = _compress(PLAIN)
    bad = bytearray(packed)
    if damage == "flip":
        bad[len(bad) // 2] ^= 0xFF
    else:
        del bad[len(bad) * 2 // 3 :]
    assert compression.verify(io.BytesIO(bytes(bad)), digest)
    reader = compression.DecompressingReader(io.BytesIO(bytes(bad)), size=digest.bytes, sha256=digest.sha256)
    with pytest.raises(errors.ValidationError):
        while reader.read(1 << 16):
            pass


def test_a_sound_stream_with_the_wrong_recorded_digest_is_refused():
    packed, digest = _compress(PLAIN)
    other = compression.CompressedDigest(digest.bytes, "0" * 64, digest.compressed_bytes, digest.compressed_sha256)
    assert compression.verify(io.BytesIO(packed), other) == ["uncompressed size or sha256 differs from the manifest"]
    reader = compression.DecompressingReader(io.BytesIO(packed), size=digest.bytes, sha256="0" * 64)
    with pytest.raises(errors.ValidationError, match="not the"):
        while reader.read(1 << 16):
            pass
