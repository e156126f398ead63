"""Every rule of manifest.json, with the exact message a user gets when a field breaks it
(iris_ops.fixture.schema, .devtester, .model): the file, the field's path and what is wrong."""

from __future__ import annotations

import copy

import pytest

from iris_ops import fixture as fx
from iris_ops.errors import FixtureError
from iris_ops.fixture.paths import FIX_PATH
from iris_ops.fixture.schema import FIX_MANIFEST, parse_json

from test_fixture import CODE, DATA, manifest_for

BASE = manifest_for({DATA: b"d" * 8192 * 3, CODE: b"c" * 8192 * 3}).to_dict()
DIGEST = "a" * 64
MISSING = object()


def _changed(path, value, base=BASE):
    data = copy.deepcopy(base)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is MISSING:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


def _refused(data, where="manifest.json") -> FixtureError:
    with pytest.raises(FixtureError) as caught:
        fx.manifest_from_dict(data, where=where)
    assert caught.value.exit_code == 2
    return caught.value


CASES = [
    (('schema',), 'iris-ops/fixture/9', "manifest.json: field 'schema' is 'iris-ops/fixture/9', which this iris-ops does not know (it reads 'iris-ops/fixture/1' and 'iris-ops/fixture/1.1')"),
    (('schema',), 'other/1', "manifest.json: field 'schema' is 'other/1'; expected 'iris-ops/fixture/1.1'"),
    (('schema',), 5, "manifest.json: field 'schema' is 5; expected 'iris-ops/fixture/1.1'"),
    (('fixture_id',), '', "manifest.json: field 'fixture_id' must not be empty"),
    (('fixture_id',), 'a\tb', "manifest.json: field 'fixture_id' contains control characters: 'a\\tb'"),
    (('fixture_id',), 3, "manifest.json: field 'fixture_id' must be a string, got integer"),
    (('description',), MISSING, "manifest.json: field 'description' is missing"),
    (('tool',), 1, "manifest.json: field 'tool' must be a string, got integer"),
    (('source', 'iris_version'), MISSING, "manifest.json: field 'source.iris_version' is missing"),
    (('source', 'container'), 5, "manifest.json: field 'source.container' must be a string, got integer"),
    (('source', 'instance'), 5, "manifest.json: field 'source.instance' must be a string, got integer"),
    (('source', 'product'), 5, "manifest.json: field 'source.product' must be a string, got integer"),
    (('source', 'version'), 5, "manifest.json: field 'source.version' must be a string, got integer"),
    (('source', 'build'), 5, "manifest.json: field 'source.build' must be a string, got integer"),
    (('source', 'x'), 1, "manifest.json: field 'source' has unknown key(s) 'x'"),
    (('namespace', 'x'), 1, "manifest.json: field 'namespace' has unknown key(s) 'x'"),
    (('namespace', 'mappings'), [], "manifest.json: field 'namespace.mappings' must be a JSON object, got array"),
    (('namespace', 'mappings'), {'globals': {}}, "manifest.json: field 'namespace.mappings.globals' must be a JSON array, got object"),
    (('namespace', 'properties'), MISSING, "manifest.json: field 'namespace.properties' is missing"),
    (('namespace', 'properties', 'Interop'), [1], "manifest.json: field 'namespace.properties.Interop' must be a string or number, got array"),
    (('namespace', 'properties', 'Routines'), 'OTHER', "manifest.json: field 'namespace.properties.Routines' is 'OTHER' but the routines database is 'APP_CODE'"),
    (('consistency',), [], "manifest.json: field 'consistency' must be a JSON object, got array"),
    (('consistency', 'x'), 1, "manifest.json: field 'consistency' has unknown key(s) 'x'"),
    (('consistency', 'method'), MISSING, "manifest.json: field 'consistency.method' is missing"),
    (('consistency', 'window_seconds'), '1', "manifest.json: field 'consistency.window_seconds' must be a number, got string"),
    (('consistency', 'open_transactions'), -1, "manifest.json: field 'consistency.open_transactions' must be at least 0, got -1"),
    (('consistency', 'open_transactions'), 1.5, "manifest.json: field 'consistency.open_transactions' must be an integer, got number"),
    (('databases', 0), 'x', "manifest.json: field 'databases[0]' must be a JSON object, got string"),
    (('databases', 0, 'directory'), '', "manifest.json: field 'databases[0].directory' must not be empty"),
    (('databases', 0, 'resource'), '', "manifest.json: field 'databases[0].resource' must not be empty"),
    (('databases', 0, 'block_size'), 511, "manifest.json: field 'databases[0].block_size' must be at least 512, got 511"),
    (('databases', 0, 'size_mb'), -1, "manifest.json: field 'databases[0].size_mb' must not be negative, got -1"),
    (('databases', 0, 'size_mb'), True, "manifest.json: field 'databases[0].size_mb' must be a number, got boolean"),
    (('databases', 0, 'checks'), [], "manifest.json: field 'databases[0].checks' must be a JSON object, got array"),
    (('databases', 0, 'compressed'), {'format': 'zstd', 'bytes': 1, 'sha256': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}, "manifest.json: field 'databases[0]' has unknown key(s) 'compressed'"),
    (('databases', 0, 'file'), '../x', "manifest.json: field 'databases[0].file' is unsafe: unsafe file path '../x' in the manifest: contains '..'"),
    (('databases', 0, 'sha256'), 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAg', "manifest.json: field 'databases[0].sha256' must be 64 hexadecimal digits, got 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAg'"),
    (('tables',), {}, "manifest.json: field 'tables' must be a JSON array, got object"),
    (('tables', 0), 1, "manifest.json: field 'tables[0]' must be a JSON object, got integer"),
    (('tables', 0, 'name'), '', "manifest.json: field 'tables[0].name' must not be empty"),
    (('tables', 0, 'name'), 'a\nb', "manifest.json: field 'tables[0].name' contains control characters: 'a\\nb'"),
    (('tables',), [{'name': 'A.B', 'row_count': 1}, {'name': 'a.b', 'row_count': 2}], "manifest.json: field 'tables[1].name' repeats table 'a.b'"),
    (('row_counts',), 1, "manifest.json: field 'row_counts' must be a JSON object, got integer"),
    (('row_counts',), {'source': 'x'}, "manifest.json: field 'row_counts.source' must be one of 'copied-files', 'live', 'not-fixed', got 'x'"),
    (('row_counts',), {'source': 5}, "manifest.json: field 'row_counts.source' must be a string, got integer"),
    (('row_counts',), {}, "manifest.json: field 'row_counts.source' is missing"),
    (('row_counts',), {'source': 'live', 'note': 5}, "manifest.json: field 'row_counts.note' must be a string, got integer"),
    (('row_counts',), {'source': 'live', 'y': 1}, "manifest.json: field 'row_counts' has unknown key(s) 'y'"),
    (('row_counts',), {'source': 'live', 'note': 'a\x00'}, "manifest.json: field 'row_counts.note' contains control characters: 'a\\x00'"),
    (('not_restored',), 'x', "manifest.json: field 'not_restored' must be a JSON array, got string"),
    (('not_restored',), [1], "manifest.json: field 'not_restored[0]' must be a string, got integer"),
    (('not_restored',), ['a\x01'], "manifest.json: field 'not_restored[0]' contains control characters: 'a\\x01'"),
    (('imported_from',), 3, "manifest.json: field 'imported_from' must be a string, got integer"),
    (('extras',), [], "manifest.json: field 'extras' must be a JSON object, got array"),
    (('created_at',), '2025-01-31T12:00:00', "manifest.json: field 'created_at' must be a UTC ISO-8601 time such as '2025-01-31T12:00:00Z', got '2025-01-31T12:00:00'"),
]


@pytest.mark.parametrize("path,value,message", CASES)
def test_each_broken_field_is_named_with_what_is_wrong(path, value, message):
    error = _refused(_changed(path, value))
    assert error.message == message
    field = message.split("field '", 1)[1].split("'", 1)[0] if "field '" in message else ""
    assert error.details == {"file": "manifest.json", "field": field}
    if "is unsafe" in message:
        assert error.fix == FIX_PATH
    elif "does not know" in message:
        assert error.fix == "Upgrade iris-ops to read this fixture."
    else:
        assert error.fix == FIX_MANIFEST


def test_the_file_is_named_as_given():
    error = _refused(_changed(("tool",), 1), where="/fx/app/manifest.json")
    assert error.message.startswith("/fx/app/manifest.json: field 'tool'")
    assert error.details["file"] == "/fx/app/manifest.json"


@pytest.mark.parametrize("data,message", [
    ([], "manifest.json: the top level must be a JSON object, got array"),
    ({}, "manifest.json: the top level has neither 'schema' ('iris-ops/fixture/1.1') nor iris-devtester's "
         "'schema_version' ('1.0')"),
    ({"schema_version": "2.0"}, "manifest.json: field 'schema_version' is '2.0'; the iris-devtester schema read is '1.0'"),
])
def test_what_is_not_a_manifest_at_all(data, message):
    error = _refused(data)
    assert error.message == message
    assert error.details == {"file": "manifest.json", "field": "schema_version" if "schema_version" in data else ""}


@pytest.mark.parametrize("text,message", [
    (b"\xff", "w is not UTF-8 text: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
    ("{", "w is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ('{"a":1,"a":2}', "w is not valid JSON: duplicate key 'a'"),
    ('{"a":NaN}', "w is not valid JSON: NaN is not valid JSON"),
    ('{"a":-Infinity}', "w is not valid JSON: -Infinity is not valid JSON"),
    ("[" * 100000, "w nests too deeply to be a manifest"),
])
def test_unreadable_json_is_named(text, message):
    with pytest.raises(FixtureError) as caught:
        parse_json(text, "w")
    assert caught.value.message == message and caught.value.fix == FIX_MANIFEST


def test_a_full_manifest_round_trips_with_every_optional_field():
    data = copy.deepcopy(BASE)
    data["source"].update(product="IRIS", version="2024.1", build="263U")
    data["namespace"]["mappings"] = {"globals": [{"name": "G*", "database": "USER"}]}
    data["namespace"]["properties"]["Interop"] = None
    data["consistency"]["open_transactions"] = 2
    data["row_counts"] = {"source": "copied-files", "note": "counted in the copies"}
    data["not_restored"] = ["global mapping G*"]
    data["databases"][0]["checks"] = {"encrypted": 0}
    data["tables"][0]["name"] = "SQLUser.Person"
    m = fx.manifest_from_dict(data)
    assert m.source.product == "IRIS" and (m.source.version, m.source.build) == ("2024.1", "263U")
    assert m.namespace.mappings == {"globals": [{"name": "G*", "database": "USER"}]}
    assert m.consistency.open_transactions == 2 and m.consistency.window_seconds == 0.42
    assert (m.row_counts.source, m.row_counts.note) == ("copied-files", "counted in the copies")
    assert m.not_restored == ["global mapping G*"] and m.databases[0].checks == {"encrypted": 0}
    assert m.counts_are_exact and not m.compressed
    again = m.to_dict()
    assert again == data and list(again)[0] == "schema" and again["schema"] == fx.SCHEMA_PLAIN
    assert "imported_from" not in again and "extras" not in again and "compressed" not in again["databases"][0]
    plain = _changed(("row_counts",), MISSING)
    assert fx.manifest_from_dict(plain).row_counts == fx.RowCounts("live")
    assert not fx.manifest_from_dict(_changed(("row_counts",), {"source": "not-fixed"})).counts_are_exact
    assert fx.manifest_from_dict(_changed(("row_counts",), {"source": "live"})).row_counts.note == ""


def _compressed(**compressed):
    data = _changed(("schema",), fx.SCHEMA_ID)
    data["databases"][0]["compressed"] = {"format": "zstd", "bytes": 100, "sha256": DIGEST, **compressed}
    data["databases"][0]["file"] = DATA + ".zst"
    return data


def test_a_compressed_database_needs_schema_1_1_and_its_uncompressed_size():
    m = fx.manifest_from_dict(_compressed(sha256="A" * 64))
    assert m.compressed and m.databases[0].compressed == fx.Compressed("zstd", 100, DIGEST)
    assert m.to_dict()["schema"] == fx.SCHEMA_ID
    assert fx.manifest_from_dict(_compressed()).to_dict()["databases"][0]["compressed"] == \
        {"format": "zstd", "bytes": 100, "sha256": DIGEST}
    nulled = _compressed()
    nulled["databases"][0]["compressed"] = None
    assert fx.manifest_from_dict(nulled).databases[0].compressed is None
    for change, message in [
        ({"format": "gzip"}, "field 'databases[0].compressed.format' must be one of 'zstd', got 'gzip'"),
        ({"bytes": -1}, "field 'databases[0].compressed.bytes' must be at least 0, got -1"),
        ({"sha256": "x"}, "field 'databases[0].compressed.sha256' must be 64 hexadecimal digits, got 'x'"),
        ({"level": 3}, "field 'databases[0].compressed' has unknown key(s) 'level'"),
    ]:
        assert _refused(_compressed(**change)).message == "manifest.json: " + message
    no_size = _compressed()  # only an imported manifest may leave a size out
    no_size["imported_from"] = "iris-devtester/1.0"
    no_size["databases"][0]["bytes"] = None
    assert _refused(no_size).message == ("manifest.json: field 'databases[0].bytes' is required when the file is "
                                         "compressed (the uncompressed size)")
    not_object = _compressed()
    not_object["databases"][0]["compressed"] = "zstd"
    assert _refused(not_object).message == \
        "manifest.json: field 'databases[0].compressed' must be a JSON object, got string"


def test_an_imported_manifest_may_lack_what_its_tool_never_recorded():
    data = _changed(("imported_from",), "iris-devtester/1.0")
    for key in ("bytes", "directory", "resource", "block_size", "size_mb"):
        data["databases"][0][key] = None
    data["consistency"]["method"] = "unknown"
    data["created_at"] = "2025-10-14T15:30:00.123456+00:00Z"  # kept verbatim: not ours to check
    m = fx.manifest_from_dict(data)
    assert m.imported_from == "iris-devtester/1.0" and m.databases[0].bytes is None
    assert m.to_dict()["imported_from"] == "iris-devtester/1.0"


def _devtester(**override):
    data = {"fixture_id": "f-1", "version": "1.0.0", "schema_version": "1.0", "description": "d",
            "created_at": "2025-10-14T15:30:00.123456+00:00Z", "iris_version": "2024.1", "namespace": "%Dev",
            "dat_file": "IRIS.DAT", "checksum": "sha256:" + "A" * 64, "tables": [{"name": "T.A", "row_count": 1}],
            "features": {"vectors": True}}
    data.update(override)
    return {k: v for k, v in data.items() if v is not MISSING}


def test_an_iris_devtester_manifest_in_our_model():
    m = fx.manifest_from_dict(_devtester())
    assert (m.fixture_id, m.description, m.created_at, m.tool) == \
        ("f-1", "d", "2025-10-14T15:30:00.123456+00:00Z", "iris-devtester")
    assert m.source == fx.Source(iris_version="2024.1")
    assert m.namespace == fx.NamespaceInfo(name="%Dev", properties={}, mappings={})
    assert m.databases == [fx.Database(name="Dev", role="globals+routines", file="IRIS.DAT", sha256=DIGEST)]
    assert m.tables == [fx.Table("T.A", 1)] and m.consistency == fx.Consistency("unknown")
    assert m.imported_from == "iris-devtester/1.0"
    assert m.extras == {"features": {"vectors": True}, "version": "1.0.0"}
    assert fx.manifest_from_dict(_devtester(namespace="%")).databases[0].name == "%"
    assert fx.manifest_from_dict(_devtester(namespace="%XYZ")).databases[0].name == "XYZ"


@pytest.mark.parametrize("override,message", [
    ({"fixture_id": ""}, "field 'fixture_id' must not be empty"),
    ({"fixture_id": "a\x01"}, "field 'fixture_id' contains control characters: 'a\\x01'"),
    ({"dat_file": ""}, "field 'dat_file' must not be empty"),
    ({"version": 1}, "field 'version' must be a string, got integer"),
    ({"version": MISSING}, "field 'version' is missing"),
    ({"description": MISSING}, "field 'description' is missing"),
    ({"created_at": 5}, "field 'created_at' must be a string, got integer"),
    ({"iris_version": MISSING}, "field 'iris_version' is missing"),
    ({"checksum": "sha256:x"}, "field 'checksum' must be 64 hexadecimal digits, got 'x'"),
    ({"tables": MISSING}, "field 'tables' is missing"),
])
def test_a_broken_iris_devtester_manifest_is_named(override, message):
    assert _refused(_devtester(**override)).message == "manifest.json: " + message


@pytest.mark.parametrize("path,why", [
    ("", "empty"), ("a\x00", "contains NUL or control characters"), ("a\x1fb", "contains NUL or control characters"),
    ("a\\b", "contains a backslash"), ("/x", "absolute path"), ("C:x", "absolute path"),
    ("a/../b", "contains '..'"), (".", "names the fixture directory itself"),
    ("./", "names the fixture directory itself"), ("manifest.json", "names the manifest itself"),
    ("./manifest.json", "names the manifest itself"),
])
def test_each_unsafe_file_path_says_why(path, why):
    from iris_ops.fixture.paths import check_relative_path

    with pytest.raises(FixtureError) as caught:
        check_relative_path(path)
    assert caught.value.message == f"unsafe file path {path!r} in the manifest: {why}"
    assert caught.value.fix == FIX_PATH and caught.value.details == {"path": path}


def test_file_paths_on_disk_stay_inside_the_fixture(tmp_path):
    from iris_ops.fixture.paths import check_relative_path, database_file

    assert check_relative_path("a//manifest.json") == "a//manifest.json"  # in a subdirectory: fine
    assert database_file(tmp_path, "databases/A/IRIS.DAT") == tmp_path.resolve() / "databases" / "A" / "IRIS.DAT"
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(FixtureError) as caught:
        database_file(tmp_path, "loop/x")
    assert caught.value.message.startswith("unsafe file path 'loop/x' in the manifest: cannot resolve: ")
    assert caught.value.fix == FIX_PATH
    (tmp_path / "out").symlink_to("/etc")
    with pytest.raises(FixtureError) as caught:
        database_file(tmp_path, "out/passwd")
    assert caught.value.message == (f"unsafe file path 'out/passwd' in the manifest: resolves to /etc/passwd, "
                                    f"outside the fixture {tmp_path.resolve()}")
    assert caught.value.details == {"path": "out/passwd", "resolved": "/etc/passwd"} and caught.value.fix == FIX_PATH
    (tmp_path / "self").symlink_to(tmp_path)
    with pytest.raises(FixtureError, match="outside the fixture"):
        database_file(tmp_path, "self")


def test_what_is_not_a_fixture_directory_is_named(tmp_path):
    with pytest.raises(FixtureError) as caught:
        fx.load(tmp_path / "nope")
    assert caught.value.message == f"fixture directory {tmp_path / 'nope'} does not exist"
    (tmp_path / "f").write_text("")
    with pytest.raises(FixtureError) as caught:
        fx.load(tmp_path / "f")
    assert caught.value.message == f"fixture path {tmp_path / 'f'} is not a directory"
    with pytest.raises(FixtureError) as caught:
        fx.load(tmp_path)
    assert caught.value.message == f"{tmp_path} holds no manifest.json: it is not a fixture directory"
    (tmp_path / "manifest.json").mkdir()
    with pytest.raises(FixtureError) as caught:
        fx.load(tmp_path)
    assert caught.value.message == f"cannot read {tmp_path / 'manifest.json'}: Is a directory"
    (tmp_path / "manifest.json").rmdir()
    (tmp_path / "manifest.json").write_bytes(b" " * (16 << 20) + b"{}")
    with pytest.raises(FixtureError) as caught:
        fx.load(tmp_path)
    assert caught.value.message == f"{tmp_path / 'manifest.json'} is larger than 16 MiB: not a manifest"
    assert caught.value.fix == FIX_MANIFEST
    (tmp_path / "manifest.json").write_bytes(b" " * ((16 << 20) - 2) + b"{}")
    with pytest.raises(FixtureError, match="has neither 'schema'"):
        fx.load(tmp_path)


def test_a_manifest_that_is_a_symlink_out_of_the_fixture_is_refused(tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text("{}")
    (tmp_path / "fx").mkdir()
    (tmp_path / "fx" / "manifest.json").symlink_to(outside)
    with pytest.raises(FixtureError) as caught:
        fx.load(tmp_path / "fx")
    assert caught.value.message == (f"{tmp_path / 'fx' / 'manifest.json'} is a symlink pointing outside the fixture "
                                    f"({outside})")
    assert caught.value.fix == FIX_PATH


def test_a_manifest_time_is_whole_seconds_in_utc():
    import re

    from iris_ops.fixture.model import utc_now

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", utc_now())


def test_manifest_json_is_indented_and_keeps_non_ascii_text_readable():
    m = fx.manifest_from_dict(_changed(("description",), "Café des données"))
    text = m.to_json()
    assert text.startswith('{\n  "') and text.endswith("}\n") and "Café des données" in text
    assert "\n" not in m.to_json(indent=None).rstrip("\n")


def test_the_place_a_manifest_came_from_is_in_every_error():
    with pytest.raises(FixtureError) as caught:
        fx.manifest_from_json('{"schema": 5}', where="fx/manifest.json")
    assert caught.value.message.startswith("fx/manifest.json: field 'schema' is 5")
    with pytest.raises(FixtureError) as caught:
        fx.manifest_from_json("{", where="fx/manifest.json")
    assert caught.value.message.startswith("fx/manifest.json is not valid JSON: ")


@pytest.mark.parametrize("path,value,message", [
    (("databases",), [], "manifest.json: field 'databases' is empty; a namespace backup carries its Globals and "
                         "Routines databases"),
    (("databases", 1, "name"), "app_data", "manifest.json: field 'databases[1].name' repeats database 'app_data'"),
    (("databases", 1, "file"), DATA, f"manifest.json: field 'databases[1].file' repeats file '{DATA}'"),
    (("databases", 1, "role"), "globals", "manifest.json: field 'databases' must hold exactly one database with "
                                          "the globals role ('globals' or 'globals+routines'), found 2"),
])
def test_what_the_databases_must_cover_is_named(path, value, message):
    error = _refused(_changed(path, value))
    assert error.message == message


def test_times_in_utc_with_an_offset_and_manifests_without_tables():
    m = fx.manifest_from_dict(_changed(("created_at",), "2025-01-31T12:00:00+00:00"))
    assert m.created_at == "2025-01-31T12:00:00+00:00"
    assert fx.manifest_from_dict(_changed(("tables",), MISSING)).tables == []
    assert _refused(_changed(("created_at",), "2025-01-31T12:00:00z")).message == (
        "manifest.json: field 'created_at' must be a UTC ISO-8601 time such as '2025-01-31T12:00:00Z', "
        "got '2025-01-31T12:00:00z'")


def test_a_lowercase_drive_letter_is_absolute_and_a_compressed_format_is_named():
    from iris_ops.fixture.paths import check_relative_path

    with pytest.raises(FixtureError) as caught:
        check_relative_path("c:x")
    assert caught.value.message == "unsafe file path 'c:x' in the manifest: absolute path"
    assert _refused(_compressed(format=5)).message == (
        "manifest.json: field 'databases[0].compressed.format' must be a string, got integer")


@pytest.mark.parametrize("path,value,message", [
    (("tables", 0, "row_count"), None, "manifest.json: field 'tables[0].row_count' must be an integer, got null"),
    (("consistency", "window_seconds"), MISSING, "manifest.json: field 'consistency.window_seconds' is missing"),
    (("source",), MISSING, "manifest.json: field 'source' is missing"),
    (("databases", 0, "name"), "1bad", "manifest.json: field 'databases[0].name' is not a valid database name: "
                                        "'1bad' (1-64 characters: a letter, then letters, digits, - or _)"),
    (("source",), {"iris_version": "v", "x": 1, "y": 2}, "manifest.json: field 'source' has unknown key(s) 'x', 'y'"),
])
def test_more_fields_named_exactly(path, value, message):
    assert _refused(_changed(path, value)).message == message


def test_imported_from_may_be_null():
    assert fx.manifest_from_dict(_changed(("imported_from",), None)).to_dict().get("imported_from") is None


@pytest.mark.parametrize("path,message", [
    (("namespace",), "manifest.json: field 'namespace' must be a JSON object, got integer"),
    (("namespace", "properties"), "manifest.json: field 'namespace.properties' must be a JSON object, got integer"),
    (("namespace", "name"), "manifest.json: field 'namespace.name' must be a string, got integer"),
    (("databases", 0, "name"), "manifest.json: field 'databases[0].name' must be a string, got integer"),
    (("databases", 0, "file"), "manifest.json: field 'databases[0].file' must be a string, got integer"),
])
def test_a_number_where_an_object_or_a_string_belongs_is_named(path, message):
    assert _refused(_changed(path, 5)).message == message


def test_a_manifest_that_is_not_an_object_is_refused_at_the_top_level():
    error = _refused([1])
    assert error.message == "manifest.json: the top level must be a JSON object, got array"
    assert error.details == {"file": "manifest.json", "field": ""}


def _full() -> dict:
    """BASE with every optional field given, one database compressed (schema 1.1)."""
    data = _compressed()
    data["source"].update(product="IRIS", version="2024.1", build="263U")
    data["namespace"]["mappings"] = {"globals": [{"name": "G*", "database": "USER"}]}
    data["consistency"]["open_transactions"] = 2
    data["row_counts"] = {"source": "copied-files", "note": "counted in the copies"}
    data["not_restored"] = ["global mapping G*"]
    data["databases"][0]["checks"] = {"encrypted": 0}
    return data


def _fields(value, path=()):
    """Every field of a manifest, as a key path (list items by index)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        yield (*path, key)
        yield from _fields(inner, (*path, key))


def _named(path) -> str:
    return "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in path).lstrip(".")


#: Fields whose type is checked by a rule of their own, or that hold anything (checks, mappings).
_ANY_TYPE = ("databases[0].checks", "namespace.mappings.globals[", "schema")


@pytest.mark.parametrize("path", [p for p in _fields(_full()) if not _named(p).startswith(_ANY_TYPE)], ids=_named)
def test_every_field_of_the_wrong_type_or_missing_is_named_by_its_path(path):
    """The error names the very field that is wrong (details and message), for every field of a
    full manifest: one of another JSON type, and one left out (unless it may be left out)."""
    full = _full()
    assert fx.manifest_from_dict(full).compressed
    current = full
    for key in path:
        current = current[key]
    wrong = "x" if isinstance(current, (list, dict)) or current is None else [current]
    error = _refused(_changed(path, wrong, full))
    assert error.details["field"] == _named(path) and f"field {_named(path)!r} " in error.message, error.message
    if isinstance(path[-1], int):
        return  # an item left out of a list is a shorter list, checked as a whole
    try:
        fx.manifest_from_dict(_changed(path, MISSING, full))
    except FixtureError as missing:
        assert missing.details["field"] == _named(path), missing.message


def test_a_window_of_zero_and_the_smallest_block_size_are_accepted():
    assert fx.manifest_from_dict(_changed(("consistency", "window_seconds"), 0)).consistency.window_seconds == 0
    assert fx.manifest_from_dict(_changed(("databases", 0, "block_size"), 512)).databases[0].block_size == 512
    assert _refused(_changed(("databases", 0, "block_size"), 511)).message == (
        "manifest.json: field 'databases[0].block_size' must be at least 512, got 511")


@pytest.mark.parametrize("path, value, message", [
    (("databases", 0, "name"), "IRISSYS", "manifest.json: field 'databases[0].name' names the system database IRISSYS; "
                                         "fixtures never carry system databases"),
    (("databases",), MISSING, "manifest.json: field 'databases' is missing"),
    (("x",), 1, "manifest.json: the top level has unknown key(s) 'x'"),
    (("consistency", "method"), "copy", "manifest.json: field 'consistency.method' must be one of 'external-freeze', "
                                        "'dismount', got 'copy'"),
    (("databases", 0, "role"), "x", "manifest.json: field 'databases[0].role' must be one of 'globals', 'routines', "
                                    "'globals+routines', got 'x'"),
    # optional, but not nullable: a null note is not a missing one
    (("row_counts",), {"source": "live", "note": None}, "manifest.json: field 'row_counts.note' must be a string, got null"),
])
def test_system_names_missing_lists_wrong_choices_and_null_notes_are_named_exactly(path, value, message):
    assert _refused(_changed(path, value)).message == message
