"""What `--force` may replace and exactly what a refusal says, and a writer that is closed
stays closed (iris_ops.fixture.writer)."""

from __future__ import annotations

import os

import pytest

from iris_ops import fixture as fx
from iris_ops.errors import ConflictError, FixtureError, InternalError
from iris_ops.fixture.writer import FIX_REPLACE, replaceable
from test_fixture import CODE, DATA, files, good, manifest_for  # noqa: F401 - pytest fixtures


def refusal(path) -> ConflictError:
    with pytest.raises(ConflictError) as caught:
        replaceable(path)
    assert caught.value.exit_code == 3 and caught.value.fix == FIX_REPLACE
    return caught.value


def test_what_is_not_a_fixture_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    assert refusal(tmp_path / "file").message == f"refusing to replace {tmp_path / 'file'}: it is a file, not a fixture directory"
    (tmp_path / "link").symlink_to(tmp_path / "file")
    assert refusal(tmp_path / "link").message == (f"refusing to replace {tmp_path / 'link'}: it is a symbolic link "
                                                  f"(to {tmp_path / 'file'}), not a fixture directory")
    (tmp_path / "empty").mkdir()
    error = refusal(tmp_path / "empty")
    assert error.message == (f"refusing to replace {tmp_path / 'empty'}: it holds no manifest.json, so it is not a "
                             "fixture; it is empty")
    assert error.details == {"entries": [], "count": 0}


@pytest.mark.parametrize("count,listed", [
    (1, "1 entry: e0"),
    (5, "5 entries: e0, e1, e2, e3, e4"),
    (6, "6 entries: e0, e1, e2, e3, e4 and 1 more"),
])
def test_what_is_in_the_way_is_counted_and_the_first_five_named(tmp_path, count, listed):
    for i in range(count):
        (tmp_path / f"e{i}").write_text("")
    error = refusal(tmp_path)
    assert error.message == f"refusing to replace {tmp_path}: it holds no manifest.json, so it is not a fixture; in it: {listed}"
    assert error.details == {"entries": [f"e{i}" for i in range(min(count, 5))], "count": count}


def test_a_fixture_holding_anything_else_is_refused_with_what(good):
    (good / "databases" / "notes.txt").write_text("mine")
    (good / "databases" / "APP_DATA" / "sub").mkdir()
    os.symlink(good / "databases", good / "dirlink")
    error = refusal(good)
    assert error.message == (f"refusing to replace {good}: besides the fixture it holds 3 entries: "
                             "databases/APP_DATA/sub/, databases/notes.txt, dirlink")
    assert error.details == {"entries": ["databases/APP_DATA/sub/", "databases/notes.txt", "dirlink"], "count": 3}


def test_a_broken_manifest_is_named(good):
    (good / "manifest.json").write_text("{}")
    error = refusal(good)
    assert error.message.startswith(f"refusing to replace {good}: its manifest.json is not a fixture's ({good}/manifest.json: ")
    assert error.message.endswith("; in it: 2 entries: databases/, manifest.json")


def test_a_fixture_and_nothing_else_is_replaceable(good):
    assert replaceable(good).manifest.fixture_id == "app-baseline"


def test_an_aborted_writer_is_closed_and_leaves_what_it_found(tmp_path, files):
    (tmp_path / "kept").mkdir()
    w = fx.FixtureWriter(tmp_path / "kept" / "new" / "app")
    w.open()
    (tmp_path / "kept" / "new" / "mine").write_text("appeared meanwhile")
    w.abort()
    assert sorted(os.listdir(tmp_path / "kept" / "new")) == ["mine"]
    for call in (lambda: w.path_for(DATA), lambda: w.write_manifest(manifest_for(files)), w.commit):
        with pytest.raises(InternalError) as caught:
            call()
        assert caught.value.message == "FixtureWriter is not open (use it as a context manager)"
    w.abort()  # twice: nothing left to do


def test_a_committed_writer_is_closed(tmp_path, files):
    with fx.FixtureWriter(tmp_path / "app") as w:
        for rel, content in files.items():
            w.path_for(rel).write_bytes(content)
        w.write_manifest(manifest_for(files))
    with pytest.raises(InternalError):
        w.path_for(DATA)
    assert (tmp_path / "app" / "manifest.json").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "app").stat().st_mode & 0o777 == 0o750


def test_a_listed_file_of_the_wrong_size_is_a_bug(tmp_path, files):
    m = manifest_for(files)
    m.databases[0].bytes += 1
    with pytest.raises(InternalError) as caught:
        with fx.FixtureWriter(tmp_path / "app") as w:
            for rel, content in files.items():
                w.path_for(rel).write_bytes(content)
            w.write_manifest(m)
    size = len(files[DATA])
    assert caught.value.message == f"manifest says {DATA} has {size + 1} bytes; the file has {size}"
    assert os.listdir(tmp_path) == []


def test_an_aborted_writer_stays_closed_if_opened_again(tmp_path):
    w = fx.FixtureWriter(tmp_path / "made" / "app")
    w.open()
    (tmp_path / "made" / "mine").write_text("appeared meanwhile")  # the parent it made cannot go
    w.abort()
    assert os.listdir(tmp_path / "made") == ["mine"]
    w.open()
    try:
        with pytest.raises(InternalError):
            w.path_for(DATA)
    finally:
        w.abort()


def test_an_unwritable_place_names_the_directory_it_could_not_create_in(tmp_path):
    import errno

    from iris_ops.fixture.writer import unwritable

    out = tmp_path / "a" / "fx"
    named = unwritable(out, OSError(errno.EACCES, "Permission denied", str(tmp_path / "b" / "c")))
    assert named.message == f"cannot write a fixture at {out}: cannot create a directory in {tmp_path / 'b'} (Permission denied)"
    assert named.fix == ("Choose an --out in a directory you can write (check its permissions, and that its "
                         "filesystem is not read-only).")
    assert (named.exit_code, named.details) == (2, {"path": str(out), "errno": errno.EACCES})
    unnamed = unwritable(out, OSError(errno.EACCES, "Permission denied"))
    assert unnamed.message == f"cannot write a fixture at {out}: cannot create a directory in {tmp_path / 'a'} (Permission denied)"

    full = unwritable(out, OSError(errno.ENOSPC, "No space left on device"))  # no file named: the fixture's path
    assert full.message == f"this host's disk is full: cannot write {out} (No space left on device)"


def test_a_compressed_file_is_checked_against_its_compressed_size(tmp_path, files):
    import dataclasses
    import hashlib

    stored = b"zstd frame standing in for the compressed file"
    m = manifest_for(files)
    data = m.databases[0]
    m.databases[0] = dataclasses.replace(data, file=DATA + ".zst", compressed=fx.Compressed(
        "zstd", len(stored), hashlib.sha256(stored).hexdigest()))
    with fx.FixtureWriter(tmp_path / "app") as w:
        w.path_for(DATA + ".zst").write_bytes(stored)
        w.path_for(CODE).write_bytes(files[CODE])
        w.write_manifest(m)
    assert (tmp_path / "app" / (DATA + ".zst")).read_bytes() == stored


def test_a_manifest_the_loader_would_refuse_is_never_written(tmp_path, files):
    import dataclasses

    w = fx.FixtureWriter(tmp_path / "app")
    w.open()
    try:
        for rel, content in files.items():
            w.path_for(rel).write_bytes(content)
        with pytest.raises(FixtureError) as caught:
            w.write_manifest(dataclasses.replace(manifest_for(files), fixture_id="a\tb"))
        assert str(caught.value).startswith(f"manifest for {tmp_path / 'app'}: field 'fixture_id' contains control")
    finally:
        w.abort()


def test_a_committed_writer_stays_closed_and_can_be_aborted_harmlessly(tmp_path, files):
    def write(w):
        for rel, content in files.items():
            w.path_for(rel).write_bytes(content)
        w.write_manifest(manifest_for(files))

    w = fx.FixtureWriter(tmp_path / "app", force=True)
    with w:
        write(w)
    w.abort()  # after the commit of a new fixture: nothing of it goes
    assert sorted(os.listdir(tmp_path)) == ["app"] and (tmp_path / "app" / "manifest.json").is_file()
    w.open()  # --force: the fixture may be replaced, but not by this writer
    try:
        with pytest.raises(InternalError):
            w.path_for(DATA)
    finally:
        w.abort()
    replacing = fx.FixtureWriter(tmp_path / "app", force=True)  # the replacement path of commit
    with replacing:
        write(replacing)
    replacing.abort()  # after the commit: nothing of the fixture goes
    assert sorted(os.listdir(tmp_path)) == ["app"] and (tmp_path / "app" / "manifest.json").is_file()


def test_a_writer_used_before_it_is_opened_or_over_an_existing_fixture(tmp_path, good):
    w = fx.FixtureWriter(tmp_path / "app")
    with pytest.raises(InternalError) as caught:
        w.path_for(DATA)
    assert caught.value.message == "FixtureWriter is not open (use it as a context manager)"
    w.abort()  # before open: nothing to remove
    with pytest.raises(ConflictError) as caught:
        fx.FixtureWriter(good).open()
    assert caught.value.message == f"{good} already exists"
    assert caught.value.fix == "Choose another --out directory, or pass --force to replace it."


def test_the_same_file_may_be_asked_for_twice(tmp_path):
    w = fx.FixtureWriter(tmp_path / "app")
    w.open()
    try:
        assert w.path_for(DATA) == w.path_for(DATA)
    finally:
        w.abort()


def _replacing(out, files):
    """A fixture at ``out``, and an open --force writer holding its replacement, ready to commit."""
    def write(w):
        for rel, content in files.items():
            w.path_for(rel).write_bytes(content)
        w.write_manifest(manifest_for(files))

    with fx.FixtureWriter(out) as w:
        write(w)
    replacing = fx.FixtureWriter(out, force=True)
    replacing.open()
    write(replacing)
    return replacing


def test_a_place_taken_during_the_swap_keeps_the_old_fixture_where_the_error_says(tmp_path, files, monkeypatch):
    """--force sets the old fixture aside, then renames the new one in.  Another process that puts
    something at the fixture's place in between makes that rename fail (a real ENOTEMPTY), and
    the way back too: the old fixture stays aside, named in the error (exit 3), the new one goes,
    and what the other process wrote is left alone."""
    from iris_ops.fixture import writer as writer_module

    out = tmp_path / "app"
    replacing = _replacing(out, files)
    real_rename = os.rename

    def another_process_takes_the_place(src, dst):
        if os.path.basename(src).startswith(".app.iris-ops-tmp-"):
            os.makedirs(dst)
            (out / "theirs.txt").write_text("written by another process\n")
        return real_rename(src, dst)

    monkeypatch.setattr(writer_module.os, "rename", another_process_takes_the_place)
    with pytest.raises(ConflictError) as caught:
        replacing.commit()
    monkeypatch.undo()
    kept = tmp_path / caught.value.details["kept"]
    assert caught.value.exit_code == 3
    assert caught.value.message == (f"{out} was taken by something else while the new fixture was being put in place "
                                    f"(Directory not empty); the new fixture was not written, and the one it was to "
                                    f"replace is kept at {kept}")
    assert caught.value.fix == (f"See what is at {out} now; then move the old fixture back (`mv {kept} {out}`) or "
                                "remove it, and run the backup again.")
    assert fx.load(kept).manifest.databases  # the old fixture, whole
    assert sorted(os.listdir(out)) == ["theirs.txt"]
    assert sorted(os.listdir(tmp_path)) == sorted(["app", kept.name])  # the new one's directory is gone


def test_the_old_fixture_goes_back_when_the_new_one_cannot_take_its_place(tmp_path, files, monkeypatch):
    """The rename of the new fixture refused while the place is free again at once (a directory that
    came and went): the old fixture is back at its place, the error is exit 3, nothing else is left."""
    from iris_ops.fixture import writer as writer_module

    out = tmp_path / "app"
    replacing = _replacing(out, files)
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    real_rename = os.rename

    def taken_for_a_moment(src, dst):
        if os.path.basename(src).startswith(".app.iris-ops-tmp-"):
            os.makedirs(dst)
            (out / "theirs.txt").write_text("x")
            try:
                return real_rename(src, dst)
            finally:
                (out / "theirs.txt").unlink()
                os.rmdir(dst)
        return real_rename(src, dst)

    monkeypatch.setattr(writer_module.os, "rename", taken_for_a_moment)
    with pytest.raises(ConflictError) as caught:
        replacing.commit()
    monkeypatch.undo()
    assert caught.value.exit_code == 3
    assert caught.value.message == (f"the new fixture could not take the place of {out} (Directory not empty); the "
                                    "old fixture is back where it was, and the new one was not written")
    assert caught.value.fix == f"Check that nothing else writes to {tmp_path}, and run the backup again."
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert sorted(os.listdir(tmp_path)) == ["app"]


def test_a_writer_that_replaced_a_fixture_is_closed_and_abort_leaves_the_new_one(tmp_path, files):
    out = tmp_path / "app"
    replacing = _replacing(out, files)
    new_manifest = (replacing.tmp / "manifest.json").read_text()
    assert replacing.commit() == out
    replacing.abort()
    assert (out / "manifest.json").read_text() == new_manifest
    assert sorted(os.listdir(tmp_path)) == ["app"]  # the old one set aside is gone too
