"""Compressed fixtures (``backup --compress``): the zstd stream both ways, validate's one pass
over a compressed file and every way it can lie, restore's reader, and a round trip through the
CLI against the simulated container."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("zstandard")

import zstandard  # noqa: E402

from dat_factory import dat_bytes  # noqa: E402
from iris_ops import compression, errors  # noqa: E402
from iris_ops import fixture as fx  # noqa: E402

MIB = 1 << 20
ZST = "databases/APP/IRIS.DAT.zst"


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _compress(plain: bytes) -> tuple[bytes, compression.CompressedDigest]:
    out = io.BytesIO()
    writer = compression.CompressingWriter(out)
    for i in range(0, len(plain), 65536):
        writer.write(plain[i : i + 65536])
    digest = writer.close()
    return out.getvalue(), digest


PLAIN = b"\0" * (3 << 20) + os.urandom(100_000) + b"row " * 50_000
#: A plausible IRIS.DAT, mostly empty blocks as a typical test database is.
DAT = dat_bytes(directory="/usr/irissys/mgr/app/", resource="%DB_APP", blocks=64, filler=b"rows " * 200)


# --- the stream -------------------------------------------------------------------------------------

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


def test_the_writer_can_leave_the_plain_digest_to_the_caller():
    out = io.BytesIO()
    writer = compression.CompressingWriter(out, hash_plain=False)
    writer.write(PLAIN)
    digest = writer.close()
    assert digest.sha256 == "" and digest.bytes == len(PLAIN) and digest.compressed_sha256 == sha(out.getvalue())
    assert zstandard.ZstdDecompressor().decompress(out.getvalue(), max_output_size=len(PLAIN)) == PLAIN


def test_the_frame_walker_knows_where_a_stream_may_end():
    """libzstd's streaming reader returns a truncated frame's bytes without an error; the walker
    follows the frame and block headers and accepts only whole frames, whatever the cut."""
    frame = zstandard.ZstdCompressor(level=3, write_checksum=True).compress(PLAIN[: 300_000])
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"12345"
    stream, _ = _compress(PLAIN)  # the backup writer's frames (worker threads, unknown size)
    for whole in (frame, frame + frame, skippable + frame, stream):
        walker = compression._FrameWalker()
        for i in range(0, len(whole), 997):  # fed in pieces that cut headers anywhere
            walker.feed(whole[i : i + 997])
        assert walker.problem() is None
    for cut in sorted({1, 4, 5, 7, 12, len(frame) // 2, len(frame) - 4, len(frame) - 1}):
        walker = compression._FrameWalker()
        walker.feed(frame[:cut])
        assert walker.problem() == "truncated: the stream ends inside a zstd frame", cut
    for junk, why in ((b"", "empty"), (b"\0" * 16, "not a zstd stream"), (frame + b"\0" * 8, "no zstd frame at byte")):
        walker = compression._FrameWalker()
        walker.feed(junk)
        assert why in walker.problem()


# --- compressed fixtures, validated offline -----------------------------------------------------------

def write_fixture(root: Path, stored: bytes, *, plain: bytes = DAT, compressed: bool = True,
                  schema: str | None = None, **lies) -> Path:
    """A one-database fixture whose file holds ``stored``; the manifest records ``plain``'s size and
    digest and ``stored``'s as the compressed ones, unless ``lies`` overrides a field."""
    relative = ZST if compressed else "databases/APP/IRIS.DAT"
    db = {"name": "APP", "role": "globals+routines", "directory": "/usr/irissys/mgr/app/", "resource": "%DB_APP",
          "block_size": 8192, "size_mb": 0.5, "file": relative, "bytes": len(plain), "sha256": sha(plain)}
    if compressed:
        db["compressed"] = {"format": "zstd", "bytes": len(stored), "sha256": sha(stored)}
    for key, value in lies.items():
        if key.startswith("compressed_"):
            db["compressed"][key.removeprefix("compressed_")] = value
        else:
            db[key] = value
    doc = {"schema": schema or (fx.SCHEMA_ID if compressed else fx.SCHEMA_PLAIN), "fixture_id": "app-1",
           "description": "", "created_at": "2025-01-31T12:00:00Z", "tool": "test",
           "source": {"iris_version": "IRIS", "container": None, "instance": "IRIS"},
           "namespace": {"name": "APP", "properties": {"Globals": "APP", "Routines": "APP"}},
           "databases": [db], "tables": [], "consistency": {"method": "external-freeze", "window_seconds": 0.1}}
    (root / "databases" / "APP").mkdir(parents=True)
    (root / relative).write_bytes(stored)
    (root / "manifest.json").write_text(json.dumps(doc))
    return root


def packed(plain: bytes = DAT) -> bytes:
    return _compress(plain)[0]


def tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def validate(monkeypatch, tmp_path, capsys):
    """``iris-ops validate --src DIR --json`` in this process: (exit code, document); and proof that
    validating wrote nothing, neither in the fixture nor in the working directory."""
    from cli_helpers import make_inproc

    work = tmp_path / "cwd"
    work.mkdir()
    run = make_inproc({}, monkeypatch, work, capsys)

    def go(root: Path):
        before, cwd_before = tree(root), tree(work)
        code, out, err = run("validate", "--src", root, "--json")
        assert tree(root) == before and tree(work) == cwd_before, "validate wrote something"
        doc = json.loads(out) if out.strip() else json.loads(err.strip().splitlines()[-1])
        return code, doc

    return go


def failed(doc) -> dict:
    """{check: message} of the failing findings of an exit-4 document."""
    return {f["check"]: f["message"] for f in doc.get("findings", []) if not f["ok"]}


def test_a_compressed_fixture_validates_both_digests_and_the_label_from_the_stream(validate, tmp_path):
    code, doc = validate(write_fixture(tmp_path / "fx", packed()))
    assert code == 0, doc
    checks = {f["check"]: f for f in doc["findings"]}
    assert {"compressed-size", "compressed-sha256", "zstd", "size", "sha256", "dat-label", "label-resource",
            "label-block-size"} <= set(checks)
    assert checks["size"]["actual"] == len(DAT) and checks["label-resource"]["actual"] == "%DB_APP"
    assert doc["schema"] == fx.SCHEMA_ID


def test_a_truncated_file_fails_with_exit_4(validate, tmp_path):
    whole = packed()
    code, doc = validate(write_fixture(tmp_path / "fx", whole[: len(whole) // 2], compressed_bytes=len(whole),
                                       compressed_sha256=sha(whole)))
    assert code == 4
    bad = failed(doc)
    assert "compressed-size" in bad and "compressed-sha256" in bad
    assert "zstd" in bad and "not a sound zstd stream" in bad["zstd"]


def test_a_flipped_byte_fails_the_compressed_digest(validate, tmp_path):
    whole = bytearray(packed())
    original = sha(bytes(whole))
    whole[len(whole) // 2] ^= 0x01
    code, doc = validate(write_fixture(tmp_path / "fx", bytes(whole), compressed_sha256=original))
    assert code == 4
    assert failed(doc)["compressed-sha256"] == "content differs from the manifest"
    assert "compressed-size" not in failed(doc)


def test_a_sound_stream_of_other_content_fails_the_uncompressed_digest(validate, tmp_path):
    other = bytearray(DAT)
    other[-1] = 1  # same size, same label, one byte off
    code, doc = validate(write_fixture(tmp_path / "fx", packed(bytes(other))))
    assert code == 4
    assert set(failed(doc)) == {"sha256"}  # the stored file is what the manifest says; its content is not


@pytest.mark.parametrize("lie, check", [
    ({"compressed_bytes": "+1"}, "compressed-size"),
    ({"bytes": "+8192"}, "size"),
    ({"bytes": "-8192"}, "zstd"),  # decompresses past the recorded size: stopped there
])
def test_sizes_that_lie_fail_with_exit_4(validate, tmp_path, lie, check):
    stored = packed()
    (key, delta), = lie.items()
    base = len(stored) if key == "compressed_bytes" else len(DAT)
    code, doc = validate(write_fixture(tmp_path / "fx", stored, **{key: base + int(delta)}))
    assert code == 4
    assert check in failed(doc)
    if check == "zstd":
        assert f"more than the {len(DAT) - 8192} bytes" in failed(doc)["zstd"]


def test_a_manifest_claiming_compression_over_a_plain_file_fails_with_exit_4(validate, tmp_path):
    code, doc = validate(write_fixture(tmp_path / "fx", DAT))  # the plain DAT, digests recorded as compressed
    assert code == 4
    assert set(failed(doc)) == {"zstd"} and "not a sound zstd stream" in failed(doc)["zstd"]


def _zero_frames(total: int, frame: int = 8 * MIB) -> bytes:
    one = zstandard.ZstdCompressor(level=1).compress(b"\0" * frame)
    return one * (total // frame)


def test_a_zstd_bomb_stops_at_the_recorded_size(validate, tmp_path):
    bomb = _zero_frames(1 << 30)  # 1 GiB of zeros in a few KiB; the manifest says 64 blocks
    assert len(bomb) < 1 * MIB
    code, doc = validate(write_fixture(tmp_path / "fx", bomb))
    assert code == 4
    assert f"more than the {len(DAT)} bytes the manifest records" in failed(doc)["zstd"]


def test_a_frame_asking_for_a_huge_window_is_refused(validate, tmp_path):
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=30)
    out = io.BytesIO()
    with zstandard.ZstdCompressor(compression_params=params).stream_writer(out, closefd=False) as w:
        w.write(DAT)  # streamed: the frame header declares the 1 GiB window, not the content size
    code, doc = validate(write_fixture(tmp_path / "fx", out.getvalue()))
    assert code == 4
    assert "not a sound zstd stream" in failed(doc)["zstd"]


#: Runs validate and reports the process's own peak RSS (VmHWM: the high-water mark of this
#: address space; ru_maxrss would carry over the pytest process's, which it had at the fork).
_MEASURED_VALIDATE = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('\\n' + next(l for l in open('/proc/self/status') "
    "if l.startswith('VmHWM:'))))\n"
    "from iris_ops.cli import main\n"
    "main(['iris-ops', 'validate', '--src', sys.argv[1]])\n"
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_decompressing_a_bomb_the_manifest_believes_keeps_memory_flat(tmp_path):
    """256 MiB of zeros, recorded as such (with a wrong digest, so every byte must come out):
    the validating process's peak RSS stays under the project's 80 MiB client bound."""
    bomb = _zero_frames(256 * MIB)
    root = write_fixture(tmp_path / "fx", bomb, plain=b"", bytes=256 * MIB, sha256="0" * 64)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    proc = subprocess.run([sys.executable, "-c", _MEASURED_VALIDATE, str(root)], env=env, capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "sha256" in proc.stdout and "FAIL" in proc.stdout
    assert "zstd" in proc.stdout and "FAIL  databases/APP/IRIS.DAT.zst  zstd" not in proc.stdout
    peak_kib = int(proc.stderr.strip().splitlines()[-1].split()[1])
    assert peak_kib / 1024 < 80, f"peak RSS {peak_kib / 1024:.0f} MiB"


@pytest.mark.parametrize("change, field", [
    (lambda d: d["databases"][0]["compressed"].update(format="gzip"), "compressed.format"),
    (lambda d: d["databases"][0].update(bytes=None), ".bytes"),
    (lambda d: d.update(schema=fx.SCHEMA_PLAIN), "unknown key(s) 'compressed'"),
    (lambda d: d["databases"][0]["compressed"].update(sha256="abc"), "compressed.sha256"),
])
def test_malformed_compression_fields_are_usage_errors(validate, tmp_path, change, field):
    root = write_fixture(tmp_path / "fx", packed())
    doc = json.loads((root / "manifest.json").read_text())
    change(doc)
    (root / "manifest.json").write_text(json.dumps(doc))
    code, err = validate(root)
    assert code == 2
    assert field in err["error"]


def test_plain_manifests_keep_schema_1_and_older_ones_still_load(tmp_path):
    root = write_fixture(tmp_path / "fx", DAT, compressed=False)
    loaded = fx.load(root)
    assert loaded.schema == fx.SCHEMA_PLAIN and loaded.manifest.databases[0].compressed is None
    assert json.loads(loaded.manifest.to_json())["schema"] == fx.SCHEMA_PLAIN
    assert fx.check(root).ok
    zroot = write_fixture(tmp_path / "zfx", packed())
    m = fx.load(zroot).manifest
    assert m.databases[0].compressed == fx.Compressed("zstd", len(packed()), sha(packed()))
    assert json.loads(m.to_json())["schema"] == fx.SCHEMA_ID
    assert fx.manifest_from_json(m.to_json()) == m


# --- restore's reader ---------------------------------------------------------------------------------

def test_open_database_gives_the_uncompressed_bytes_and_their_size(tmp_path):
    root = write_fixture(tmp_path / "fx", packed())
    loaded = fx.load(root)
    with fx.open_database(loaded, loaded.databases[0]) as (reader, size):
        assert size == len(DAT)
        assert b"".join(iter(lambda: reader.read(4096), b"")) == DAT
    plain = write_fixture(tmp_path / "plain", DAT, compressed=False)
    loaded = fx.load(plain)
    with fx.open_database(loaded, loaded.databases[0]) as (reader, size):
        assert (size, reader.read()) == (len(DAT), DAT)


def test_open_database_refuses_a_stream_that_decompresses_to_other_content(tmp_path):
    other = bytearray(DAT)
    other[-1] = 1
    loaded = fx.load(write_fixture(tmp_path / "fx", packed(bytes(other))))
    with fx.open_database(loaded, loaded.databases[0]) as (reader, size):
        with pytest.raises(errors.ValidationError, match="decompresses to"):
            while reader.read(4096):
                pass


# --- without zstandard ------------------------------------------------------------------------------------

def test_without_zstandard_compressed_fixtures_fail_with_exit_2_and_the_fix(monkeypatch, tmp_path, capsys):
    from cli_helpers import make_inproc

    root = write_fixture(tmp_path / "fx", packed())
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard now raises ImportError
    run = make_inproc({"IRIS_OPS_CONTAINER": "no-such-container"}, monkeypatch, tmp_path, capsys)
    for argv in (("validate", "--src", root), ("restore", "--src", root, "--ns", "NEWZ"),
                 ("backup", "--ns", "USER", "--compress", "--out", tmp_path / "new")):
        code, out, err = run(*argv)
        assert code == 2, (argv, out, err)
        assert "zstandard" in err and "pip install 'iris-ops[zstd]'" in err
    assert not (tmp_path / "new").exists()
    assert fx.check(write_fixture(tmp_path / "plain", DAT, compressed=False)).ok  # plain ones need nothing


# --- through the CLI, against the simulated container -------------------------------------------------

@pytest.mark.slow
def test_backup_compress_validate_restore_round_trip(sim_container, inproc, monkeypatch, tmp_path):
    from test_operations import accounts, cli, make_accounts, manifest, ok, snapshot, assert_same

    sc = sim_container
    make_accounts(sc)
    out = tmp_path / "fx"
    frozen_when_compressing = []
    real_init = compression.CompressingWriter.__init__

    def spying_init(self, *args, **kwargs):
        frozen_when_compressing.append(sc.instance.is_frozen())
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(compression.CompressingWriter, "__init__", spying_init)
    code, _, err = inproc("backup", "--ns", "USER", "--out", out, "--compress")
    assert code == 0, err
    assert frozen_when_compressing == [False]  # compression runs after the thaw: the window does not grow
    m = manifest(out)
    (db,) = m["databases"]
    assert m["schema"] == fx.SCHEMA_ID and db["file"].endswith("IRIS.DAT.zst")
    stored = (out / db["file"]).read_bytes()
    assert db["compressed"] == {"format": "zstd", "bytes": len(stored), "sha256": sha(stored)}
    assert len(stored) * 10 < db["bytes"]  # a mostly empty database
    assert not (out / "databases" / "USER" / "IRIS.DAT").exists()
    ok(cli(sc, "validate", "--src", out))
    ok(cli(sc, "restore", "--src", out, "--ns", "NEWZ"))
    assert accounts(sc, "NEWZ") == accounts(sc, "USER")
    assert sc.instance.check_integrity("/usr/irissys/mgr/newz/") == []
    restored = sc.exec(["sha256sum", "/usr/irissys/mgr/newz/IRIS.DAT"])[1].decode().split()[0]
    assert restored == db["sha256"]  # the uncompressed digest is what restore wrote

    # a damaged compressed fixture is refused before anything changes in the instance
    bad = bytearray(stored)
    bad[len(bad) // 2] ^= 0x01
    (out / db["file"]).write_bytes(bytes(bad))
    before = snapshot(sc)
    proc = cli(sc, "restore", "--src", out, "--ns", "NEWZ2")
    assert proc.returncode == 4, proc.stderr
    assert "compressed-sha256" in proc.stdout + proc.stderr
    assert_same(before, snapshot(sc))
