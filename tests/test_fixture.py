"""iris_ops.fixture: manifest schema (ours + iris-devtester 1.0), path safety, check, FixtureWriter."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from dat_factory import dat_bytes, write_dat
from iris_ops import fixture as fx
from iris_ops.errors import ConflictError, FixtureError, InternalError, UsageError

DATA = "databases/APP_DATA/IRIS.DAT"
CODE = "databases/APP_CODE/IRIS.DAT"


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def manifest_for(files: dict[str, bytes]) -> fx.Manifest:
    data, code = files[DATA], files[CODE]
    return fx.Manifest(
        fixture_id="app-baseline",
        description="APP with 3 people",
        created_at="2025-01-31T12:00:00Z",
        tool="iris-ops 0.1.0",
        source=fx.Source(iris_version="IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2024.1 (Build 267U)",
                         container="iris", instance="IRIS"),
        namespace=fx.NamespaceInfo("APP", {"Globals": "APP_DATA", "Routines": "APP_CODE", "TempGlobals": "IRISTEMP"}),
        databases=[
            fx.Database(name="APP_DATA", role="globals", directory="/usr/irissys/mgr/app_data/",
                        resource="%DB_APP_DATA", block_size=8192, size_mb=1, file=DATA,
                        bytes=len(data), sha256=sha(data)),
            fx.Database(name="APP_CODE", role="routines", directory="/usr/irissys/mgr/app_code/",
                        resource="%DB_APP_CODE", block_size=8192, size_mb=1, file=CODE,
                        bytes=len(code), sha256=sha(code)),
        ],
        tables=[fx.Table("SQLUser.Person", 3)],
        consistency=fx.Consistency("external-freeze", 0.42),
    )


@pytest.fixture
def files():
    return {
        DATA: dat_bytes(directory="/usr/irissys/mgr/app_data/", resource="%DB_APP_DATA", filler=b"rows"),
        CODE: dat_bytes(directory="/usr/irissys/mgr/app_code/", resource="%DB_APP_CODE", filler=b"classes"),
    }


@pytest.fixture
def good(tmp_path, files) -> Path:
    out = tmp_path / "fixtures" / "app"
    with fx.FixtureWriter(out) as w:
        for rel, content in files.items():
            w.path_for(rel).write_bytes(content)
        w.write_manifest(manifest_for(files))
    return out


def raw_manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def rewrite(path: Path, change) -> None:
    data = raw_manifest(path)
    change(data)
    (path / "manifest.json").write_text(json.dumps(data))


def by_check(report: fx.Report, file: str, check: str) -> fx.Finding:
    (f,) = [f for f in report.findings if f.file == file and f.check == check]
    return f


# ---------------------------------------------------------------------------- model & schema


def test_round_trip(files):
    m = manifest_for(files)
    text = m.to_json()
    assert json.loads(text)["schema"] == fx.SCHEMA_PLAIN  # the lowest schema that holds it
    assert fx.manifest_from_json(text) == m
    assert fx.manifest_from_json(text).to_json() == text


def test_written_fixture_loads_and_checks(good, files):
    f = fx.load(good)
    assert f.schema == fx.SCHEMA_PLAIN and f.root == good.resolve()
    assert f.manifest == manifest_for(files)
    assert f.manifest.globals_database.name == "APP_DATA" and f.manifest.routines_database.name == "APP_CODE"
    assert f.path_of(f.databases[0]).read_bytes() == files[DATA]
    r = fx.check(good)
    assert r.ok, r.table()
    checks = [(x.file, x.check) for x in r.findings]
    for rel in (DATA, CODE):
        for c in ("path", "exists", "size", "sha256", "dat-label", "label-resource", "label-block-size"):
            assert (rel, c) in checks
    assert ("manifest.json", "schema") in checks
    assert len(checks) == len(set(checks))


def test_utc_now_is_accepted_by_the_schema(files):
    m = manifest_for(files)
    m.created_at = fx.utc_now()
    assert m.created_at.endswith("Z")
    fx.manifest_from_json(m.to_json())


# ------------------------------------------------------------------------------ damage found


def test_appended_byte(good, files):
    with open(good / DATA, "ab") as f:
        f.write(b"\0")
    r = fx.check(good)
    assert not r.ok
    size = by_check(r, DATA, "size")
    assert (size.ok, size.expected, size.actual) == (False, len(files[DATA]), len(files[DATA]) + 1)
    digest = by_check(r, DATA, "sha256")
    assert not digest.ok
    assert digest.expected == sha(files[DATA]) and digest.actual == sha(files[DATA] + b"\0")
    assert not by_check(r, DATA, "dat-label").ok  # no longer a whole number of blocks
    assert all(f.ok for f in r.findings if f.file == CODE)


def test_flipped_byte(good, files):
    damaged = bytearray(files[CODE])
    damaged[0x5000] ^= 0xFF
    (good / CODE).write_bytes(bytes(damaged))
    r = fx.check(good)
    assert [(f.file, f.check) for f in r.failures] == [(CODE, "sha256")]
    f = r.failures[0]
    assert (f.expected, f.actual) == (sha(files[CODE]), sha(bytes(damaged)))
    assert by_check(r, CODE, "size").ok  # same size: only the checksum tells


def test_truncation(good, files):
    (good / DATA).write_bytes(files[DATA][:10000])
    r = fx.check(good)
    failed = {f.check for f in r.failures if f.file == DATA}
    assert failed == {"size", "sha256", "dat-label"}
    d = by_check(r, DATA, "sha256")
    assert (d.expected, d.actual) == (sha(files[DATA]), sha(files[DATA][:10000]))


def test_missing_file(good):
    (good / DATA).unlink()
    r = fx.check(good)
    f = by_check(r, DATA, "exists")
    assert not f.ok and f.actual == "missing"
    assert not [x for x in r.findings if x.file == DATA and x.check == "sha256"]


def test_directory_in_place_of_file(good):
    (good / DATA).unlink()
    (good / DATA).mkdir()
    assert by_check(fx.check(good), DATA, "exists").actual == "not a regular file"


def test_label_resource_and_block_size_against_manifest(good):
    rewrite(good, lambda d: d["databases"][0].update(resource="%DB_OTHER", block_size=16384))
    r = fx.check(good)
    res = by_check(r, DATA, "label-resource")
    assert (res.ok, res.expected, res.actual) == (False, "%DB_OTHER", "%DB_APP_DATA")
    bs = by_check(r, DATA, "label-block-size")
    assert (bs.ok, bs.expected, bs.actual) == (False, 16384, 8192)
    assert by_check(r, DATA, "sha256").ok


# ---------------------------------------------------------------------------- iris-devtester


def devtester_fixture(tmp_path, content: bytes, **override) -> Path:
    d = tmp_path / "dt"
    d.mkdir()
    (d / "IRIS.DAT").write_bytes(content)
    m = {
        "fixture_id": "test-entities-100",
        "version": "1.0.0",
        "schema_version": "1.0",
        "description": "Test fixture with 100 entities",
        "created_at": "2025-10-14T15:30:00.123456+00:00Z",
        "iris_version": "2024.1",
        "namespace": "USER",
        "dat_file": "IRIS.DAT",
        "checksum": "sha256:" + sha(content),
        "tables": [{"name": "RAG.Entities", "row_count": 100}],
        "features": {"vectors": True},
        "known_queries": [{"sql": "SELECT COUNT(*) FROM RAG.Entities", "expected": 100}],
    }
    m.update(override)
    m = {k: v for k, v in m.items() if v is not None}
    (d / "manifest.json").write_text(json.dumps(m))
    return d


def test_devtester_manifest_loads_normalized_and_checks(tmp_path):
    content = dat_bytes(directory="/usr/irissys/mgr/user/", resource="%DB_USER")
    d = devtester_fixture(tmp_path, content)
    f = fx.load(d)
    m = f.manifest
    assert f.schema == "iris-devtester/1.0" == m.imported_from
    assert m.namespace.name == "USER" and m.source.iris_version == "2024.1"
    (db,) = m.databases
    assert (db.role, db.file, db.sha256, db.name) == ("globals+routines", "IRIS.DAT", sha(content), "USER")
    assert db.bytes is None and db.resource is None
    assert m.tables == [fx.Table("RAG.Entities", 100)]
    assert m.extras["version"] == "1.0.0" and m.extras["features"] == {"vectors": True}
    assert m.extras["known_queries"][0]["expected"] == 100
    assert m.consistency.method == "unknown"
    assert m.globals_database is m.routines_database
    r = fx.check(d)
    assert r.ok, r.table()
    assert r.schema == "iris-devtester/1.0"
    # Converted to our schema, it still round-trips (nullable fields allowed only because imported).
    assert fx.manifest_from_json(m.to_json()) == m


def test_devtester_gof_marker_fails_the_label_check_with_a_clear_reason(tmp_path):
    d = devtester_fixture(tmp_path, b"GOF_FIXTURE")
    r = fx.check(d)
    assert by_check(r, "IRIS.DAT", "sha256").ok
    label = by_check(r, "IRIS.DAT", "dat-label")
    assert not label.ok and "GOF_FIXTURE" in label.actual


def test_devtester_damage_found(tmp_path):
    content = dat_bytes()
    d = devtester_fixture(tmp_path, content)
    (d / "IRIS.DAT").write_bytes(content + b"x")
    f = by_check(fx.check(d), "IRIS.DAT", "sha256")
    assert (f.ok, f.expected, f.actual) == (False, sha(content), sha(content + b"x"))


@pytest.mark.parametrize("field, value, needle", [
    ("checksum", None, "'checksum' is missing"),
    ("tables", None, "'tables' is missing"),
    ("checksum", "md5:abc", "'checksum' must start with 'sha256:'"),
    ("checksum", "sha256:xyz", "'checksum' must be 64 hexadecimal digits"),
    ("namespace", 5, "'namespace' must be a string, got integer"),
    ("namespace", "US ER", "'namespace' is not a valid namespace name"),
    ("dat_file", "../IRIS.DAT", "contains '..'"),
    ("dat_file", "/usr/irissys/mgr/user/IRIS.DAT", "absolute path"),
    ("schema_version", "2.0", "'schema_version' is '2.0'"),
    ("tables", [{"name": "T", "row_count": -1}], "'tables[0].row_count' must be at least 0"),
])
def test_devtester_malformed(tmp_path, field, value, needle):
    d = devtester_fixture(tmp_path, dat_bytes(), **{field: value}) if value is not None else None
    if d is None:
        d = devtester_fixture(tmp_path, dat_bytes())
        rewrite(d, lambda m: m.pop(field))
    with pytest.raises(FixtureError) as e:
        fx.load(d)
    assert needle in str(e.value)
    assert "manifest.json" in str(e.value)


# ------------------------------------------------------------------------------ path safety


@pytest.mark.parametrize("bad, needle", [
    ("../outside/IRIS.DAT", "'..'"),
    ("databases/../../x", "'..'"),
    ("/etc/passwd", "absolute path"),
    ("C:/IRIS.DAT", "absolute path"),
    ("databases\\APP\\IRIS.DAT", "backslash"),
    ("data\x00bases/IRIS.DAT", "control characters"),
    ("databases/\nIRIS.DAT", "control characters"),
    ("manifest.json", "manifest itself"),
    ("./manifest.json", "manifest itself"),
    (".", "fixture directory itself"),
    ("", "empty"),
])
def test_unsafe_path_text_is_rejected(good, bad, needle):
    rewrite(good, lambda d: d["databases"][0].update(file=bad))
    for op in (fx.load, fx.check):
        with pytest.raises(FixtureError) as e:
            op(good)
        assert needle in str(e.value) and "databases[0].file" in str(e.value)
        assert e.value.exit_code == 2


def test_symlinked_file_pointing_out_is_rejected(good, tmp_path, files):
    outside = tmp_path / "outside.DAT"
    outside.write_bytes(files[DATA])
    (good / DATA).unlink()
    (good / DATA).symlink_to(outside)
    for op in (fx.load, fx.check):
        with pytest.raises(FixtureError, match="outside the fixture"):
            op(good)


def test_symlinked_directory_pointing_out_is_rejected(good, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (good / "databases").rename(elsewhere)
    (good / "databases").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(FixtureError, match="outside the fixture"):
        fx.check(good)


def test_manifest_symlinked_from_outside_is_rejected(good, tmp_path):
    outside = tmp_path / "m.json"
    (good / "manifest.json").rename(outside)
    (good / "manifest.json").symlink_to(outside)
    with pytest.raises(FixtureError, match="symlink"):
        fx.load(good)


def test_symlink_inside_the_fixture_is_fine(good):
    (good / "blobs").mkdir()
    (good / DATA).rename(good / "blobs" / "data.DAT")
    (good / DATA).symlink_to(Path("../../blobs/data.DAT"))
    assert fx.check(good).ok


# ---------------------------------------------------------------------- malformed manifests


def test_missing_directory_and_manifest(tmp_path):
    with pytest.raises(FixtureError, match="does not exist"):
        fx.load(tmp_path / "nope")
    with pytest.raises(FixtureError, match="no manifest.json"):
        fx.check(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(FixtureError, match="not a directory"):
        fx.load(tmp_path / "file")


@pytest.mark.parametrize("text, needle", [
    ("{not json", "not valid JSON"),
    ("[]", "must be a JSON object, got array"),
    ('{"schema": "iris-ops/fixture/1", "schema": "x"}', "duplicate key 'schema'"),
    ('{"schema": "iris-ops/fixture/1", "n": NaN}', "NaN"),
    ("{}", "neither 'schema'"),
    ('{"schema": "iris-ops/fixture/9"}', "does not know"),
    ('{"schema": "other/1"}', "'schema' is 'other/1'"),
])
def test_unreadable_manifests(good, text, needle):
    (good / "manifest.json").write_text(text)
    with pytest.raises(FixtureError) as e:
        fx.load(good)
    assert needle in str(e.value) and "manifest.json" in str(e.value)


def test_non_utf8_manifest(good):
    (good / "manifest.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(FixtureError, match="not UTF-8"):
        fx.load(good)


def _set(path, value):
    def change(d):
        *parents, last = path
        for p in parents:
            d = d[p]
        if value is KeyError:
            del d[last]
        else:
            d[last] = value
    return change


@pytest.mark.parametrize("path, value, needle", [
    (("fixture_id",), KeyError, "'fixture_id' is missing"),
    (("databases", 0, "sha256"), KeyError, "'databases[0].sha256' is missing"),
    (("databases", 0, "bytes"), "12", "'databases[0].bytes' must be an integer, got string"),
    (("databases", 0, "bytes"), True, "'databases[0].bytes' must be an integer, got boolean"),
    (("databases", 0, "bytes"), None, "'databases[0].bytes' must be an integer, got null"),
    (("databases", 0, "resource"), None, "'databases[0].resource' must be a string, got null"),
    (("databases", 0, "role"), "data", "'databases[0].role' must be one of"),
    (("databases", 1, "role"), "globals", "exactly one database with the globals role"),
    (("databases", 0, "name"), "IRISSYS", "system database IRISSYS"),
    (("databases", 0, "name"), "APP DATA", "not a valid database name"),
    (("databases", 1, "name"), "APP_DATA", "repeats database"),
    (("databases", 1, "file"), DATA, "repeats file"),
    (("databases",), [], "'databases' is empty"),
    (("databases",), {}, "'databases' must be a JSON array, got object"),
    (("databases", 0, "sha256"), "abc", "'databases[0].sha256' must be 64 hexadecimal digits"),
    (("databases", 0, "extra"), 1, "unknown key(s) 'extra'"),
    (("namespace", "properties", "Globals"), "OTHER", "'namespace.properties.Globals' is 'OTHER'"),
    (("namespace", "name"), "1APP", "'namespace.name' is not a valid namespace name"),
    (("source",), "iris", "'source' must be a JSON object, got string"),
    (("created_at",), "yesterday", "'created_at' must be a UTC ISO-8601 time"),
    (("created_at",), "2025-01-31T12:00:00+02:00", "'created_at' must be a UTC ISO-8601 time"),
    (("consistency", "method"), "live-copy", "'consistency.method' must be one of"),
    (("consistency", "method"), "unknown", "'consistency.method' must be one of"),
    (("consistency", "window_seconds"), -1, "must not be negative"),
    (("tables", 0, "row_count"), 1.5, "'tables[0].row_count' must be an integer, got number"),
    (("surprise",), 1, "unknown key(s) 'surprise'"),
])
def test_malformed_fields_are_named(good, path, value, needle):
    rewrite(good, _set(path, value))
    with pytest.raises(FixtureError) as e:
        fx.load(good)
    assert needle in str(e.value)
    assert str(good / "manifest.json") in str(e.value)
    assert e.value.fix


def test_one_database_for_both_roles(good, files):
    def change(d):
        d["databases"][0]["role"] = "globals+routines"
        del d["databases"][1]
        d["namespace"]["properties"]["Routines"] = "APP_DATA"
    rewrite(good, change)
    m = fx.load(good).manifest
    assert m.globals_database is m.routines_database


# ------------------------------------------------------------------------------------ hashing


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 3 * 4096])
def test_hash_file(tmp_path, size):
    content = os.urandom(size)
    p = tmp_path / "f"
    p.write_bytes(content)
    assert fx.hash_file(p, chunk=4096) == (size, sha(content))
    assert fx.hash_file(p) == (size, sha(content))


def test_hash_file_reports_an_unreadable_file_as_oserror(tmp_path):
    with pytest.raises(OSError):
        fx.hash_file(tmp_path / "missing")
    with pytest.raises(OSError):
        fx.hash_file(tmp_path)  # a directory: the read fails in the reader thread


# ------------------------------------------------------------------------------ FixtureWriter


def siblings(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_writer_success_leaves_only_the_fixture(good):
    assert siblings(good.parent) == ["app"]
    assert sorted(p.relative_to(good).as_posix() for p in good.rglob("*") if p.is_file()) == \
        sorted(["manifest.json", DATA, CODE])


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_writer_cleans_up_on_exception(tmp_path, files, exc):
    out = tmp_path / "app"
    with pytest.raises(type(exc)):
        with fx.FixtureWriter(out) as w:
            w.path_for(DATA).write_bytes(files[DATA])
            assert w.tmp.parent == tmp_path and w.tmp.name.startswith(".app.")
            raise exc
    assert siblings(tmp_path) == []


def test_writer_refuses_existing_without_force(good, files):
    before = raw_manifest(good)
    with pytest.raises(ConflictError) as e:
        with fx.FixtureWriter(good):
            pass
    assert e.value.exit_code == 3
    assert raw_manifest(good) == before and siblings(good.parent) == ["app"]


def test_writer_force_replaces_only_when_complete(good, files):
    new = {DATA: dat_bytes(resource="%DB_APP_DATA", filler=b"new rows"), CODE: files[CODE]}
    # A failed replacement leaves the old fixture as it was.
    with pytest.raises(RuntimeError):
        with fx.FixtureWriter(good, force=True) as w:
            w.path_for(DATA).write_bytes(new[DATA])
            assert fx.check(good).ok  # old one still complete while the new one is written
            raise RuntimeError("copy failed")
    assert fx.check(good).ok and siblings(good.parent) == ["app"]
    with fx.FixtureWriter(good, force=True) as w:
        for rel, content in new.items():
            w.path_for(rel).write_bytes(content)
        w.write_manifest(manifest_for(new))
    assert fx.check(good).ok
    assert (good / DATA).read_bytes() == new[DATA]
    assert siblings(good.parent) == ["app"]


def tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None for p in root.rglob("*")}


@pytest.mark.parametrize("extra", ["notes.txt", "databases/mine.txt", "databases/OTHER/", ".git/"])
def test_writer_force_refuses_a_fixture_holding_anything_else(good, files, extra):
    path = good / extra.rstrip("/")
    if extra.endswith("/"):
        path.mkdir()
        (path / "HEAD").write_text("mine")
    else:
        path.write_text("mine")
    before = tree(good)
    with pytest.raises(ConflictError) as refused:
        with fx.FixtureWriter(good, force=True) as w:
            w.path_for(DATA).write_bytes(files[DATA])
    assert refused.value.exit_code == 3
    assert f"refusing to replace {good}: besides the fixture it holds 1 entry: {extra}" in str(refused.value)
    assert tree(good) == before and siblings(good.parent) == ["app"]


def test_writer_force_checks_again_before_it_replaces(good, files):
    """Something of the user's put there while the backup ran is never deleted."""
    with pytest.raises(ConflictError, match="1 entry: late.txt"):
        with fx.FixtureWriter(good, force=True) as w:
            for rel, content in files.items():
                w.path_for(rel).write_bytes(content)
            w.write_manifest(manifest_for(files))
            (good / "late.txt").write_text("mine")
    assert (good / "late.txt").read_text() == "mine" and fx.check(good).ok
    assert siblings(good.parent) == ["app"]


def test_writer_force_replaces_an_iris_devtester_fixture(tmp_path, files):
    dt = devtester_fixture(tmp_path, dat_bytes(directory="/usr/irissys/mgr/user/", resource="%DB_USER"))
    assert fx.writer.replaceable(dt).manifest.fixture_id == "test-entities-100"
    with fx.FixtureWriter(dt, force=True) as w:
        for rel, content in files.items():
            w.path_for(rel).write_bytes(content)
        w.write_manifest(manifest_for(files))
    assert fx.check(dt).ok and not (dt / "IRIS.DAT").exists()


def test_replaceable_names_what_is_not_a_fixture(tmp_path):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    for name in ("a.py", "b.py", "c.py", "d.py", "e.py", "f.py", "g.py"):
        (project / name).write_text("")
    with pytest.raises(ConflictError) as refused:
        fx.writer.replaceable(project)
    assert str(refused.value) == (f"refusing to replace {project}: it holds no manifest.json, so it is not a "
                                  "fixture; in it: 8 entries: a.py, b.py, c.py, d.py, e.py and 3 more")
    (project / "manifest.json").write_text("{}")
    with pytest.raises(ConflictError, match="its manifest.json is not a fixture's"):
        fx.writer.replaceable(project)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConflictError, match="it is empty"):
        fx.writer.replaceable(empty)
    with pytest.raises(ConflictError, match="it is a file"):
        fx.writer.replaceable(project / "a.py")
    (tmp_path / "link").symlink_to(project)
    with pytest.raises(ConflictError, match="it is a symbolic link"):
        fx.writer.replaceable(tmp_path / "link")


@pytest.mark.parametrize("under", ["file.txt/app", "file.txt/new/app", "/sys/iris-ops-test/app"])
def test_writer_that_cannot_create_its_directory_says_so(tmp_path, under):
    (tmp_path / "file.txt").write_text("mine")
    out = tmp_path / under
    with pytest.raises(UsageError) as refused:
        with fx.FixtureWriter(out):
            pass
    assert refused.value.exit_code == 2 and str(refused.value).startswith(f"cannot write a fixture at {out}: ")
    assert siblings(tmp_path) == ["file.txt"] and (tmp_path / "file.txt").read_text() == "mine"


def test_writer_removes_the_parents_it_made_on_failure(tmp_path, files):
    with pytest.raises(RuntimeError):
        with fx.FixtureWriter(tmp_path / "new" / "deeper" / "app") as w:
            w.path_for(DATA).write_bytes(files[DATA])
            raise RuntimeError("copy failed")
    assert siblings(tmp_path) == []


def test_writer_without_manifest_is_a_bug_and_leaves_nothing(tmp_path, files):
    with pytest.raises(InternalError, match="without write_manifest"):
        with fx.FixtureWriter(tmp_path / "app") as w:
            w.path_for(DATA).write_bytes(files[DATA])
    assert siblings(tmp_path) == []


def test_writer_validates_the_manifest_it_writes(tmp_path, files):
    m = manifest_for(files)
    m.databases[0].role = "nonsense"
    with pytest.raises(FixtureError, match="databases\\[0\\].role"):
        with fx.FixtureWriter(tmp_path / "app") as w:
            for rel, content in files.items():
                w.path_for(rel).write_bytes(content)
            w.write_manifest(m)
    assert siblings(tmp_path) == []


def test_writer_requires_listed_files(tmp_path, files):
    with pytest.raises(InternalError, match="not written"):
        with fx.FixtureWriter(tmp_path / "app") as w:
            w.path_for(DATA).write_bytes(files[DATA])
            w.write_manifest(manifest_for(files))
    assert siblings(tmp_path) == []


@pytest.mark.parametrize("bad", ["../escape", "/abs", "a/../../b"])
def test_writer_path_for_rejects_escapes(tmp_path, bad):
    with pytest.raises(FixtureError):
        with fx.FixtureWriter(tmp_path / "app") as w:
            w.path_for(bad)
    assert siblings(tmp_path) == []


# -------------------------------------------------------------------------------- rendering


def test_report_json_and_table(good, files):
    with open(good / DATA, "ab") as f:
        f.write(b"\0")
    r = fx.check(good)
    data = json.loads(r.to_json())
    assert data["ok"] is False and data["schema"] == fx.SCHEMA_PLAIN
    assert set(data["findings"][0]) == {"file", "check", "ok", "expected", "actual", "message"}
    failing = [f for f in data["findings"] if not f["ok"]]
    assert {(f["file"], f["check"]) for f in failing} == {(DATA, "size"), (DATA, "sha256"), (DATA, "dat-label")}
    text = r.table()
    lines = text.splitlines()
    assert lines[0].startswith("fixture ") and lines[1].split() == ["STATUS", "FILE", "CHECK", "DETAIL"]
    assert any(line.startswith("FAIL") and DATA in line and "sha256" in line for line in lines)
    appended = sha(files[DATA] + b"\0")
    assert f"expected: {sha(files[DATA])}" in text and f"actual:   {appended}" in text
    assert lines[-1].endswith("3 failed")


def test_good_report_renders_ok(good):
    r = fx.check(good)
    assert json.loads(r.to_json())["ok"] is True
    assert "FAIL" not in r.table() and r.table().splitlines()[-1] == f"{len(r.findings)} of {len(r.findings)} checks passed"


def test_empty_report_is_not_ok():
    assert not fx.Report(fixture="x", schema=fx.SCHEMA_ID).ok


def test_importing_does_not_import_docker_or_iris():
    import subprocess

    code = ("import sys, iris_ops.fixture, iris_ops.datlabel; "
            "bad = [m for m in ('docker', 'iris') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_writer_refuses_a_directory_that_appeared_while_writing(tmp_path, files):
    out = tmp_path / "app"
    with pytest.raises(ConflictError):
        with fx.FixtureWriter(out) as w:
            for rel, content in files.items():
                w.path_for(rel).write_bytes(content)
            w.write_manifest(manifest_for(files))
            out.mkdir()  # someone else's, created meanwhile: an empty dir would silently be replaced by rename
            (out / "theirs").write_text("keep")
    assert siblings(tmp_path) == ["app"] and (out / "theirs").read_text() == "keep"


def test_check_reads_each_database_file_once(good, monkeypatch):
    """validate's cost is one pass per file: the size, the digest and the label come from the
    same read (the label check used to open the file twice more)."""
    import builtins

    real_open = builtins.open
    opened: list[str] = []

    def counting_open(file, *args, **kwargs):
        if str(file).endswith("IRIS.DAT"):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    assert fx.check(good).ok
    assert sorted(opened) == sorted(str(good.resolve() / rel) for rel in (DATA, CODE))
