"""What `validate` reports, finding by finding, and how the report reads as a table and as
JSON (iris_ops.fixture.checks): the exact rows a user sees for a good file and a damaged one."""

from __future__ import annotations

import hashlib
import json

import pytest

from iris_ops import fixture as fx
from test_fixture import CODE, DATA, files, good, rewrite  # noqa: F401 - pytest fixtures

F = fx.Finding


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


REPORT = fx.Report("/fx/ünï", "iris-ops/fixture/1", [
    F("manifest.json", "schema", True, expected="x", actual="iris-ops/fixture/1", message="iris-ops/fixture/1, 1 database(s)"),
    F("databases/A/IRIS.DAT", "size", True, expected=3, actual=3),
    F("databases/A/IRIS.DAT", "sha256", False, expected="aa", actual="bb", message="content differs"),
    F("b", "exists", False, expected="regular file", message=""),
    F("b", "dat-label", False, actual=None, message="bad label"),
    F("b", "zstd", False, actual="cut short"),
    F("c", "path", True),
])


def test_the_table_lines_up_and_shows_what_failed():
    assert REPORT.table().split("\n") == [
        "fixture /fx/ünï (iris-ops/fixture/1)",
        "STATUS  FILE                  CHECK      DETAIL",
        "ok      manifest.json         schema     iris-ops/fixture/1, 1 database(s)",
        "ok      databases/A/IRIS.DAT  size       3",
        "FAIL    databases/A/IRIS.DAT  sha256     content differs",
        "                                         expected: aa",
        "                                         actual:   bb",
        "FAIL    b                     exists",
        "                                         expected: regular file",
        "                                         actual:   (none)",
        "FAIL    b                     dat-label  bad label",
        "FAIL    b                     zstd       cut short",
        "                                         expected: (none)",
        "                                         actual:   cut short",
        "ok      c                     path",
        "3 of 7 checks passed; 4 failed",
    ]
    assert not REPORT.ok and [f.check for f in REPORT.failures] == ["sha256", "exists", "dat-label", "zstd"]


def test_a_passing_report_says_so():
    report = fx.Report("fx", "s", [F("a", "path", True, message="inside")])
    assert report.ok and report.failures == []
    assert report.table().split("\n")[-1] == "1 of 1 checks passed"
    assert not fx.Report("fx", "s").ok  # nothing checked is not a pass


def test_the_json_report():
    assert json.loads(REPORT.to_json()) == REPORT.to_dict()
    assert REPORT.to_json().startswith('{\n  "fixture": "/fx/ünï",\n  "schema": "iris-ops/fixture/1",\n  "ok": false,\n')
    assert REPORT.to_json(indent=None).startswith('{"fixture": "/fx/ünï", "schema": "iris-ops/fixture/1", "ok": false, ')
    first = REPORT.to_dict()["findings"][3]
    assert first == {"file": "b", "check": "exists", "ok": False, "expected": "regular file", "actual": None,
                     "message": ""}


def _rows(report):
    return [(f.file, f.check, f.ok, f.expected, f.actual, f.message) for f in report.findings]


def _good_rows(file: str, name: str, role: str, content: bytes) -> list[tuple]:
    return [
        (file, "path", True, None, None, "inside the fixture"),
        (file, "exists", True, None, None, f"database {name} ({role})"),
        (file, "size", True, len(content), len(content), f"{len(content)} bytes"),
        (file, "sha256", True, sha(content), sha(content), "matches the manifest"),
        (file, "dat-label", True, "plausible IRIS.DAT label", "plausible", "plausible (a filter; the mount is the real check)"),
        (file, "label-resource", True, f"%DB_{name}", f"%DB_{name}", f"%DB_{name}"),
        (file, "label-block-size", True, 8192, 8192, "8192"),
    ]


def test_every_finding_of_a_good_fixture(good, files):
    assert _rows(fx.check(good)) == [
        ("manifest.json", "schema", True, "iris-ops/fixture/1, iris-ops/fixture/1.1 or iris-devtester 1.0",
         "iris-ops/fixture/1", "iris-ops/fixture/1, 2 database(s)"),
        *_good_rows(DATA, "APP_DATA", "globals", files[DATA]),
        *_good_rows(CODE, "APP_CODE", "routines", files[CODE]),
    ]


def test_every_finding_of_a_damaged_fixture(good, files):
    data = files[DATA]
    (good / DATA).write_bytes(data + b"x")

    def change(m):
        m["databases"][1]["resource"] = "%DB_OTHER"
        m["databases"][1]["block_size"] = 4096
    rewrite(good, change)
    rows = _rows(fx.check(good))
    assert rows[3:6] == [
        (DATA, "size", False, len(data), len(data) + 1, "size differs from the manifest by +1 bytes"),
        (DATA, "sha256", False, sha(data), sha(data + b"x"), "content differs from the manifest"),
        (DATA, "dat-label", False, "plausible IRIS.DAT label",
         f"size {len(data) + 1} bytes is not a multiple of the 8192-byte block", "not a plausible IRIS.DAT: 1 problem(s)"),
    ]
    assert rows[6][:2] == (CODE, "path")  # no label checks for a file whose label is not plausible
    assert rows[-2:] == [
        (CODE, "label-resource", False, "%DB_OTHER", "%DB_APP_CODE", "the label names another resource than the manifest"),
        (CODE, "label-block-size", False, 4096, 8192, "block size differs from the manifest"),
    ]
    (good / DATA).write_bytes(data[:-8192])
    assert _rows(fx.check(good))[3][-1] == "size differs from the manifest by -8192 bytes"


def test_a_missing_or_odd_file_is_named(good):
    (good / DATA).unlink()
    (good / DATA).mkdir()
    (good / CODE).unlink()
    rows = _rows(fx.check(good))
    assert rows[2] == (DATA, "exists", False, "regular file", "not a regular file", "database APP_DATA: file is not a regular file")
    assert (CODE, "exists", False, "regular file", "missing", "database APP_CODE: file is missing") in rows


def test_an_imported_fixture_without_sizes_checks_what_it_has(tmp_path):
    from test_fixture import devtester_fixture
    from dat_factory import dat_bytes

    content = dat_bytes(directory="/usr/irissys/mgr/user/", resource="%DB_USER")
    rows = _rows(fx.check(devtester_fixture(tmp_path, content)))
    assert [r[1] for r in rows] == ["schema", "path", "exists", "sha256", "dat-label"]
    assert rows[0][4] == "iris-devtester/1.0" and rows[0][5] == "iris-devtester/1.0, 1 database(s)"


def test_a_compressed_file_is_checked_stored_then_streamed(tmp_path):
    pytest.importorskip("zstandard")
    from test_compression import DAT, ZST, packed, write_fixture

    stored = packed()
    root = write_fixture(tmp_path / "fx", stored)
    report = fx.check(root)
    assert report.fixture == str(root.resolve()) and report.schema == fx.SCHEMA_ID
    rows = _rows(report)
    assert rows[3:6] == [
        (ZST, "compressed-size", True, len(stored), len(stored), f"{len(stored)} bytes"),
        (ZST, "compressed-sha256", True, sha(stored), sha(stored), "matches the manifest"),
        (ZST, "zstd", True, f"a zstd stream of {len(DAT)} bytes", f"{len(DAT)} bytes", "zstd stream read to its end"),
    ]
    assert rows[6] == (ZST, "size", True, len(DAT), len(DAT), f"{len(DAT)} bytes")
    cut = write_fixture(tmp_path / "cut", stored)
    (cut / ZST).write_bytes(stored[: len(stored) // 2])
    rows = _rows(fx.check(cut))
    assert rows[3][:3] == (ZST, "compressed-size", False) and rows[4][:3] == (ZST, "compressed-sha256", False)
    zstd = rows[5]
    assert zstd[:4] == (ZST, "zstd", False, f"a zstd stream of {len(DAT)} bytes")
    assert zstd[5] == f"zstd stream: {zstd[4]}" and zstd[4]
    assert len(rows) == 6  # nothing is held against a stream that did not decompress


def test_two_label_problems_are_listed_together(good, files):
    data = bytearray(files[DATA])
    data[0x2020:0x2028] = b"NotAMap!"
    data[0x4004:0x4008] = b"\0\0\0\0"
    (good / DATA).write_bytes(bytes(data))
    label = [r for r in _rows(fx.check(good)) if r[:2] == (DATA, "dat-label")][0]
    assert label[4] == "map magic at 0x2020: expected b'CacheMap', found b'NotAMap!'; u32 at 0x4004: expected 9, found 0"
    assert label[5] == "not a plausible IRIS.DAT: 2 problem(s)"


def test_a_file_the_checker_cannot_read_is_a_failed_sha256_and_readable_it_passes(good, tmp_path):
    """A real permission error: the check runs as an unprivileged user (root reads anything)."""
    import os
    import shutil
    import tempfile

    # readable, the same fixture passes (and this process runs the checks too, not only the child)
    assert all(row[2] for row in _rows(fx.check(good)) if row[0] == DATA)
    if os.geteuid() != 0:
        (good / DATA).chmod(0)
        rows = _rows(fx.check(good))
    else:
        shared = tempfile.mkdtemp(prefix="iris-ops-unreadable-")
        try:
            os.chmod(shared, 0o755)
            copy = shutil.copytree(good, os.path.join(shared, "fx"))
            os.chmod(copy, 0o755)
            for directory, dirs, names in os.walk(copy):
                for name in dirs:
                    os.chmod(os.path.join(directory, name), 0o755)
                for name in names:
                    os.chmod(os.path.join(directory, name), 0o644)
            os.chmod(os.path.join(copy, DATA), 0)
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: drop to nobody, check, send the rows back
                try:
                    os.close(read)
                    os.setgid(65534)
                    os.setuid(65534)
                    os.write(write, json.dumps(_rows(fx.check(copy))).encode())
                finally:
                    os._exit(0)
            os.close(write)
            with os.fdopen(read) as pipe:
                text = pipe.read()
            os.waitpid(pid, 0)
            rows = [tuple(r) for r in json.loads(text)]
        finally:
            shutil.rmtree(shared, ignore_errors=True)
    expected = fx.manifest_from_json((good / "manifest.json").read_text()).databases[0].sha256
    assert (DATA, "sha256", False, expected, None, "cannot read: Permission denied") in rows
    assert not [r for r in rows if r[0] == DATA and r[1] in ("size", "dat-label")]
