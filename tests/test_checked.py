"""A fixture's file that a restore read whole and found right is not read again while it is the
very same file, and is read again after any write to it (iris_ops.checked)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time

import pytest

from iris_ops import checked

SIZE = 64 * 1024


@pytest.fixture(scope="module")
def old_files(tmp_path_factory):
    """Files whose change time is older than the racy window: written, then waited for once."""
    root = tmp_path_factory.mktemp("old")
    paths = []
    for i in range(11):  # one or more per test: a test may change its files
        path = root / f"IRIS{i}.DAT"
        path.write_bytes(os.urandom(SIZE))
        paths.append(path)
    time.sleep(checked.RACY_NS / 1e9 + 0.2)
    return paths


@pytest.fixture(autouse=True)
def records(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "iris-ops" / "checked.json"


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flip_a_byte(path) -> None:
    with open(path, "r+b") as f:
        f.seek(SIZE // 2)
        byte = f.read(1)
        f.seek(SIZE // 2)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_a_file_read_whole_and_right_is_not_read_again_until_a_byte_changes(old_files):
    path = old_files[0]
    right = sha(path)
    assert checked.sha256_of(path, right) == (right, True)
    assert checked.sha256_of(path, right) == (right, False)
    flip_a_byte(path)
    digest, read = checked.sha256_of(path, right)
    assert read and digest == sha(path) != right
    assert checked.sha256_of(path, right) == (digest, True)  # a wrong file is never recorded


def test_setting_the_modification_time_back_does_not_hide_a_change(old_files):
    path = old_files[1]
    right = sha(path)
    checked.sha256_of(path, right)
    before = os.stat(path)
    flip_a_byte(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == before.st_mtime_ns
    assert checked.sha256_of(path, right) == (sha(path), True)


def test_another_file_renamed_into_its_place_is_read(old_files):
    path, other = old_files[2], old_files[3]
    checked.sha256_of(path, sha(path))
    data = path.read_bytes()
    other.write_bytes(data)
    os.replace(other, path)  # the same bytes, another inode
    assert checked.sha256_of(path, sha(path)) == (sha(path), True)


def test_a_file_changed_just_before_the_read_is_not_recorded(tmp_path):
    path = tmp_path / "IRIS.DAT"
    path.write_bytes(os.urandom(SIZE))
    right = sha(path)
    assert checked.sha256_of(path, right) == (right, True)
    assert checked.sha256_of(path, right) == (right, True)


def test_always_reads_every_byte(old_files):
    path = old_files[4]
    right = sha(path)
    checked.sha256_of(path, right)
    assert checked.sha256_of(path, right, always=True) == (right, True)


def test_a_record_for_another_digest_is_no_record(old_files):
    path = old_files[5]
    right = sha(path)
    checked.sha256_of(path, right)
    assert checked.sha256_of(path, "0" * 64) == (right, True)
    assert checked.sha256_of(path, "0" * 64) == (right, True)  # a file that is not the manifest's is never recorded
    assert checked.sha256_of(path, right) == (right, False)


def test_an_unreadable_record_file_is_no_record_and_is_written_again(old_files, records):
    path = old_files[6]
    records.parent.mkdir(parents=True)
    records.write_text("{not json")
    right = sha(path)
    assert checked.sha256_of(path, right) == (right, True)
    assert json.loads(records.read_text())["files"][str(path.resolve())]["sha256"] == right
    assert checked.sha256_of(path, right) == (right, False)


def test_the_records_are_the_users_alone(old_files, records):
    checked.sha256_of(old_files[7], sha(old_files[7]))
    assert stat.S_IMODE(records.stat().st_mode) == 0o600
    assert stat.S_IMODE(records.parent.stat().st_mode) == 0o700
    assert [p.name for p in records.parent.iterdir()] == ["checked.json"]  # no temporary left


def test_only_the_newest_records_are_kept(old_files, monkeypatch, records):
    monkeypatch.setattr(checked, "MAX_FILES", 2)
    for path in old_files[8:11]:
        checked.sha256_of(path, sha(path))
    kept = json.loads(records.read_text())["files"]
    assert sorted(kept) == sorted(str(p.resolve()) for p in old_files[9:11])


def test_without_xdg_cache_home_the_records_live_in_the_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert checked.record_path() == tmp_path / ".cache" / "iris-ops" / "checked.json"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, as the spec says
    assert checked.record_path() == tmp_path / ".cache" / "iris-ops" / "checked.json"


def test_a_bad_fixture_check_setting_stops_the_restore_before_it_reaches_the_instance(monkeypatch, tmp_path, capsys):
    from cli_helpers import make_inproc

    run = make_inproc({"IRIS_OPS_CONTAINER": "no-such-container-anywhere", "IRIS_OPS_FIXTURE_CHECK": "sometimes"},
                      monkeypatch, tmp_path, capsys)
    code, out, err = run("restore", "--src", tmp_path / "fx", "--ns", "T1")
    assert code == 2, err
    assert "fixture_check must be changed or always, got 'sometimes'" in err
    assert 'fixture_check = \\"changed\\"' in err or 'fixture_check = "changed"' in err
    assert "no-such-container" not in err  # never contacted
