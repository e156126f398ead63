"""Issue 10 point 6: bad input ends in a clear error and changes nothing.  Property tests
(hypothesis) for the name validator, literal quoting and the manifest parser, and a corpus of
hostile manifests and fixture directories checked through `validate` (exit 2 or 4)."""

from __future__ import annotations

import json
import os
import re
import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from iris_ops import names
from iris_ops.errors import FixtureError, InvalidNameError, IrisOpsError, UsageError
from iris_ops.objectscript import lit

HOSTILE_NAMES = ["", "A" * 1000, 'US"ER', "US'ER", "US\rER", "US\nER", "US\0ER", "%%SYS", "A%B", "US ER",
                 " USER", "USER ", "ÜSER", "用户", "A" * 65, "-USER", "1USER", "USER;K", "USER)", "../USER"]
NS_RULE = re.compile(r"[A-Za-z%][A-Za-z0-9_-]{0,63}")
PRINTABLE_NAME = st.text(alphabet=string.ascii_letters + string.digits + "%_-\"' \r\n\0.;/()ü", max_size=80)


@given(st.one_of(st.text(max_size=200), PRINTABLE_NAME))
def test_namespace_validator_accepts_exactly_the_rule(text):
    if NS_RULE.fullmatch(text):
        assert names.namespace(text) == text.upper()
    else:
        with pytest.raises(InvalidNameError) as caught:
            names.namespace(text)
        assert caught.value.exit_code == 2
        # The message repeats the name, shortened, with control characters escaped.
        assert not any(ord(ch) < 32 for ch in caught.value.message)
        assert len(caught.value.message) < 300


@given(st.one_of(st.text(max_size=200), PRINTABLE_NAME))
def test_database_validator_never_lets_anything_but_the_rule_through(text):
    try:
        got = names.database(text)
    except InvalidNameError:
        return
    assert re.fullmatch(r"[A-Z][A-Z0-9_-]{0,63}", got)


@pytest.mark.parametrize("bad", HOSTILE_NAMES)
def test_hostile_names_are_refused(bad):
    for check in (names.namespace, names.database):
        with pytest.raises(InvalidNameError):
            check(bad)


@given(st.text(max_size=300))
def test_instance_paths_are_plain_absolute_and_never_climb(text):
    try:
        got = names.instance_path(text)
    except UsageError:
        return
    assert got.startswith("/") and ".." not in got.split("/") and "//" not in got
    assert re.fullmatch(r"[A-Za-z0-9._/-]*", got)


@given(st.text(max_size=300))
def test_literal_quoting_round_trips_or_refuses_control_characters(text):
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        with pytest.raises(ValueError):
            lit(text)
        return
    code = str(lit(text))
    assert code.startswith('"') and code.endswith('"')
    body = code[1:-1]
    # Every quote inside is doubled: the literal cannot end early, whatever the text.
    assert re.fullmatch(r'(?:[^"]|"")*', body)
    assert body.replace('""', '"') == text


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"),
               max_size=60))
@example('"')
@example('""x"')
@example('x" Kill  Write "y')
def test_literals_mean_exactly_the_text_to_the_simulated_parser(text):
    """The simulator's ObjectScript parser reads the literal back as one string: the text, not code."""
    from iris_ops_sim.irissim.objectscript import parser

    (cmd,) = parser.parse_line(f"Set x={lit(text)}")
    assert cmd.kind == "SET"
    assert repr(("str", text)) in repr(cmd.a)


# --------------------------------------------------------------------------- the manifest parser
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30,
)


def _good_manifest() -> dict:
    return {
        "schema": "iris-ops/fixture/1", "fixture_id": "user-1", "description": "d",
        "created_at": "2025-01-31T12:00:00Z", "tool": "iris-ops 0.1.0",
        "source": {"iris_version": "IRIS 2024.1", "container": "iris", "instance": "IRIS"},
        "namespace": {"name": "USER", "properties": {"Globals": "USER", "Routines": "USER"}},
        "databases": [{"name": "USER", "role": "globals+routines", "directory": "/usr/irissys/mgr/user/",
                       "resource": "%DB_USER", "block_size": 8192, "size_mb": 1,
                       "file": "databases/USER/IRIS.DAT", "bytes": 8192 * 3, "sha256": "0" * 64}],
        "tables": [], "consistency": {"method": "external-freeze", "window_seconds": 0.1},
    }


def _parse(raw: str | bytes):
    from iris_ops.fixture import manifest_from_json

    return manifest_from_json(raw, where="manifest.json")


@given(JSON_VALUES)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_json_document_is_a_manifest_or_a_fixture_error(value):
    try:
        _parse(json.dumps(value))
    except FixtureError:
        pass


@given(st.sampled_from(sorted(_good_manifest())), JSON_VALUES)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_a_manifest_with_any_key_missing_or_retyped_is_a_fixture_error_or_valid(key, value):
    broken = _good_manifest()
    del broken[key]
    for doc in (broken, {**_good_manifest(), key: value}):
        try:
            _parse(json.dumps(doc))
        except FixtureError:
            pass


@given(st.binary(max_size=400))
def test_any_bytes_are_a_manifest_or_a_fixture_error(raw):
    try:
        _parse(raw)
    except FixtureError:
        pass


def test_the_good_manifest_parses():
    assert _parse(json.dumps(_good_manifest())).namespace.name == "USER"


@pytest.mark.parametrize("raw,needle", [
    ("{", "not valid JSON"),
    ('{"schema": "iris-ops/fixture/1", "schema": "x"}', "duplicate key"),
    ("[" * 10_000 + "]" * 10_000, "nest"),
    ('{"a": ' * 10_000 + "1" + "}" * 10_000, "nest"),
    ("NaN", "not valid JSON"),
    ("[]", ""),
    ('"manifest"', ""),
])
def test_manifest_corpus(raw, needle):
    with pytest.raises(FixtureError) as caught:
        _parse(raw)
    assert needle in caught.value.message


def test_a_100_mb_manifest_is_refused_unread(tmp_path):
    from iris_ops import fixture

    (tmp_path / "manifest.json").write_bytes(b"")
    os.truncate(tmp_path / "manifest.json", 100 << 20)  # sparse: no 100 MB written
    with pytest.raises(FixtureError, match="larger than"):
        fixture.load(tmp_path)


@pytest.mark.parametrize("path", ["/etc/passwd", "../x/IRIS.DAT", "databases/../../x", "databases/A/../../../x",
                                  "databases\\A\\IRIS.DAT", "", "databases/A/IRIS.DAT\0"])
def test_hostile_fixture_paths_are_refused(tmp_path, path):
    from iris_ops import fixture

    doc = _good_manifest()
    doc["databases"][0]["file"] = path
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(FixtureError):
        fixture.load(tmp_path)


def test_a_symlink_pointing_out_is_refused(tmp_path):
    from iris_ops import fixture

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "IRIS.DAT").write_bytes(b"\0" * 8192 * 3)
    root = tmp_path / "fx"
    (root / "databases").mkdir(parents=True)
    os.symlink(outside, root / "databases" / "USER")
    (root / "manifest.json").write_text(json.dumps(_good_manifest()))
    with pytest.raises(FixtureError, match="symlink|outside"):
        fixture.load(root)


# ------------------------------------------------------------------------ DAT files via validate
@pytest.mark.parametrize("content", [b"", os.urandom(8192 * 3), b"\0" * 8191, b"\0" * (8192 * 3 + 5)],
                         ids=["empty", "random", "short", "not-multiple"])
def test_bad_dat_files_fail_validate_with_exit_4_and_change_nothing(tmp_path, monkeypatch, capsys, content):
    import hashlib

    from iris_ops import cli

    root = tmp_path / "fx"
    (root / "databases" / "USER").mkdir(parents=True)
    (root / "databases" / "USER" / "IRIS.DAT").write_bytes(content)
    doc = _good_manifest()
    doc["databases"][0].update(bytes=len(content), sha256=hashlib.sha256(content).hexdigest())
    (root / "manifest.json").write_text(json.dumps(doc))
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    for key in list(os.environ):
        if key.startswith("IRIS_OPS_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        cli.main(["iris-ops", "validate", "--src", str(root)])
    assert done.value.code == 4
    assert "label" in capsys.readouterr().err.lower()
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before
