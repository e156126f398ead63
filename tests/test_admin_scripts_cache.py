"""The fixture cache's scripts on a simulated instance (tests/inproc_sim.py): when an entry may
be served and why not, the copy and the record's renewal, filling an entry, and describing and
removing the cache's files."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from inproc_sim import sim  # noqa: F401 - sim is a fixture
from iris_ops import script_builders as scripts
from iris_ops.errors import ScriptError
from iris_ops.script_builders.cache import CHANGED_IN_COPY, OTHER_SIZE

MGR = "/usr/irissys/mgr/"
CACHE = MGR + "iris-ops-cache/"
#: 2025-01-31T12:00:00Z, and the same instant as IRIS's $HOROLOG (days since 1840-12-31, seconds)
OLD = 1738324800
OLD_H = "67236,43200"


def _entry(sim, data: bytes, record: bytes | None = None, *, dat: bytes | None = None) -> str:
    digest = hashlib.sha256(data).hexdigest()
    sim.put(CACHE + digest + ".DAT", data if dat is None else dat)
    sim.put(CACHE + digest + ".json",
            record if record is not None else json.dumps({"sha256": digest, "size": len(data)}).encode())
    return digest


def _serve(sim, digest: str, size: int, *, target_there: bool = True) -> dict:
    if target_there:
        sim.put(MGR + "t1_data/IRIS.DAT", b"")
    return sim.run(scripts.restore_databases("T1", [scripts.NewDatabase(
        "T1_DATA", MGR + "t1_data/", None, clone=(CACHE, digest, size, "tok9"))], "T1_DATA", "T1_DATA"))


def _why(sim, digest: str, size: int, **kw) -> str:
    done = _serve(sim, digest, size, **kw)
    assert done["cloned"] == {"T1_DATA": 0} and done["finished"] == 0
    assert "T1_DATA" not in sim.config()["Databases"]
    return done["reasons"]["T1_DATA"]


def test_no_entry(sim):
    data = sim.database_bytes()
    assert _why(sim, hashlib.sha256(data).hexdigest(), len(data)) == "no entry"


@pytest.mark.parametrize("record", [
    {"sha256": "0" * 64},  # another digest
    {"size": 8192},  # another size
])
def test_a_record_that_names_another_file_is_not_served(sim, record):
    data = sim.database_bytes()
    digest = hashlib.sha256(data).hexdigest()
    fields = {"sha256": digest, "size": len(data), **record}
    _entry(sim, data, json.dumps(fields).encode())
    assert _why(sim, digest, len(data)) == "its record does not match the manifest"


def test_an_unreadable_record_is_not_served(sim):
    data = sim.database_bytes()
    digest = _entry(sim, data, b"{not json")
    assert _why(sim, digest, len(data)) == "its record is unreadable"


def test_the_probe_reports_each_entry_once(sim):
    data = sim.database_bytes()
    good = _entry(sim, data)
    facts = sim.run(scripts.restore_facts("T1", [], [], [(good, len(data)), (good, len(data)), (good, 8192)]))
    assert facts["cache"] == {good: 0}  # the last answer for a digest wins: asked with a wrong size


def test_cache_describe_reports_sizes_times_and_records(sim):
    data = sim.database_bytes()
    digest = _entry(sim, data)
    sim.put(CACHE + "bad.json", b"\xff not json")
    sim.put(CACHE + "dir.json/x", b"")  # a directory: nothing to read
    for name in (digest + ".DAT", digest + ".json"):
        os.utime(sim.host(CACHE + name), (OLD, OLD))
    found = sim.run(scripts.cache_describe(CACHE, [digest + ".DAT", digest + ".json", "bad.json", "dir.json"]))
    assert found["sizes"][digest + ".DAT"] == len(data)
    assert found["sizes"][digest + ".json"] == sim.host(CACHE + digest + ".json").stat().st_size
    assert found["modified"][digest + ".DAT"] == OLD_H and found["modified"][digest + ".json"] == OLD_H
    assert found["records"] == {digest + ".json": json.dumps({"sha256": digest, "size": len(data)}),
                                "bad.json": "\xff not json", "dir.json": ""}
    assert digest + ".DAT" not in found["records"]


def test_cache_remove_removes_what_is_there_and_counts_it(sim):
    data = sim.database_bytes()
    digest = _entry(sim, data)
    done = sim.run(scripts.cache_remove(CACHE, [digest + ".json", "gone.json", digest + ".DAT"]))
    assert done["removed"] == 2 and list(sim.host(CACHE).iterdir()) == []


def test_a_cache_file_that_cannot_be_removed_is_named(sim):
    sim.put(CACHE + "held.json/inside", b"")  # a directory where a record should be: Delete fails
    with pytest.raises(ScriptError) as caught:
        sim.run(scripts.cache_remove(CACHE, ["held.json"]))
    assert "cannot remove held.json from the cache" in str(caught.value)


def test_an_entry_is_hashed_inside_the_instance(sim):
    import base64

    data = sim.database_bytes() + b"tail that makes it differ"
    digest = _entry(sim, data)
    other = _entry(sim, b"another file of the cache")
    script = scripts.cache_hash(CACHE, digest)
    assert script.purpose == f"hash fixture cache entry {digest[:16]}"
    assert sim.run(script) | {} == {"sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
                                    "hash_error": "", "changed": 0, "ok": 1, "error": "", "step": "", "steps": 1}
    assert sim.run(scripts.cache_hash(CACHE, other))["sha256"] == base64.b64encode(
        hashlib.sha256(b"another file of the cache").digest()).decode()


@pytest.mark.parametrize("unreadable", ["missing", "directory"])
def test_an_entry_that_cannot_be_hashed_says_why(sim, unreadable):
    digest = "b" * 64
    sim.put(CACHE + (digest + ".DAT/inside" if unreadable == "directory" else "other.json"), b"")
    done = sim.run(scripts.cache_hash(CACHE, digest))
    assert (done["ok"], done["sha256"], done["changed"]) == (1, "", 0)
    assert done["hash_error"] == f"ERROR #5001: Unable to open file {CACHE}{digest}.DAT"


def test_cache_verify_says_why_an_entry_could_not_be_hashed(sim):
    """What `cache verify` prints for it (the entry's problem), with the instance's reason."""
    from types import SimpleNamespace

    from iris_ops import cache

    digest = "b" * 64
    sim.put(CACHE + digest + ".DAT/inside", b"")  # a directory where the DAT should be
    op = SimpleNamespace(runner=sim.runner, settings=SimpleNamespace(transfer_timeout=30))
    problem = cache._hash_problem(op, CACHE, SimpleNamespace(sha256=digest))
    assert problem == f"its file cannot be hashed: ERROR #5001: Unable to open file {CACHE}{digest}.DAT"


def test_the_cache_description_has_each_dat_s_change_time_and_each_record_s_text(sim):
    digest = _entry(sim, b"a cached file", json.dumps({"sha256": "x"}).encode())
    names = [digest + ".DAT", digest + ".json"]
    described = sim.run(scripts.cache_describe(CACHE, names))
    assert described["sizes"] == {digest + ".DAT": 13, digest + ".json": len(json.dumps({"sha256": "x"}))}
    assert set(described["modified"]) == set(names) and list(described["changed"]) == [digest + ".DAT"]
    assert described["changed"][digest + ".DAT"].count(",") == 1  # $H, in UTC
    assert described["records"] == {digest + ".json": json.dumps({"sha256": "x"})}


# --- serving an entry: the copy, its checks, the placed file's owner and mode, the record's renewal -----

T1_DAT = MGR + "t1_data/IRIS.DAT"


def _cached(sim) -> tuple[bytes, str]:
    """An entry as a fill leaves it: the DAT and its record with the DAT's size, mtime and ctime."""
    data = sim.database_bytes()
    digest = hashlib.sha256(data).hexdigest()
    sim.put(CACHE + digest + ".DAT", data)
    stamps = sim.run(scripts.cache_describe(CACHE, [digest + ".DAT"]))
    sim.put(CACHE + digest + ".json", json.dumps({
        "sha256": digest, "size": len(data), "mtime": stamps["modified"][digest + ".DAT"],
        "ctime": stamps["changed"][digest + ".DAT"]}).encode())
    return data, digest


def _placed_by_the_transport(sim, owner: str = "irisowner") -> None:
    """The empty file the transport writes first, with the owner and mode the copy must keep."""
    from iris_ops_sim.irissim.instance.fs import USERS

    sim.put(T1_DAT, b"")
    sim.instance.fs.chown(T1_DAT, *USERS[owner])
    sim.instance.fs.chmod(T1_DAT, 0o660)


def _served(sim, digest: str, size: int) -> dict:
    done = sim.run(scripts.restore_databases("T1", [scripts.NewDatabase(
        "T1_DATA", MGR + "t1_data/", None, clone=(CACHE, digest, size, "tok9"))], "T1_DATA", "T1_DATA"))
    # why is read only for a miss (a hit leaves the probe's first value there)
    return {"cloned": done["cloned"]["T1_DATA"], "finished": done["finished"],
            **({} if done["cloned"]["T1_DATA"] else {"why": done["reasons"]["T1_DATA"]})}


def test_an_entry_is_served_where_no_file_was_placed_first(sim):
    data, digest = _cached(sim)
    sim.put(MGR + "t1_data/.keep", b"")  # the directory, without the empty file
    assert _served(sim, digest, len(data)) == {"cloned": 1, "finished": 1}
    assert sim.host(T1_DAT).read_bytes() == data


@pytest.mark.parametrize("user", ["irisowner", "root"])
def test_a_served_copy_has_the_placed_file_s_owner_and_mode_when_copyfile_makes_a_new_file(sim, monkeypatch, user):
    """The variant copy-takes-new-owner: CopyFile makes the target anew, the copying session's,
    mode 0644.  The session (the instance owner's, or the local transport's as root) sets them back."""
    from iris_ops_sim.irissim.instance.fs import USERS

    monkeypatch.setenv("IRISSIM_VARIANTS", "copy-takes-new-owner")
    sim.transport.user = user
    data, digest = _cached(sim)
    _placed_by_the_transport(sim)
    assert _served(sim, digest, len(data)) == {"cloned": 1, "finished": 1}
    assert sim.host(T1_DAT).read_bytes() == data
    assert (sim.instance.fs.owner(T1_DAT), sim.instance.fs.mode(T1_DAT)) == (tuple(USERS["irisowner"]), 0o660)


def test_a_copy_whose_owner_cannot_be_given_back_is_not_served(sim, monkeypatch):
    monkeypatch.setenv("IRISSIM_VARIANTS", "copy-takes-new-owner")
    data, digest = _cached(sim)
    _placed_by_the_transport(sim, owner="root")  # a session of the instance owner may not chown to root
    served = _served(sim, digest, len(data))
    assert (served["cloned"], served["finished"]) == (0, 0)
    assert served["why"].startswith("the copy's owner or mode: ERROR #5001: chown root:root")
    assert "T1_DATA" not in sim.config()["Databases"]


def test_a_failed_copy_is_not_served(sim):
    data, digest = _cached(sim)
    sim.put(T1_DAT + "/inside", b"")  # a directory where the file goes: CopyFile fails
    assert _served(sim, digest, len(data)) == {"cloned": 0, "why": "the copy failed", "finished": 0}


@pytest.mark.parametrize("change, why", [
    (lambda path: path.write_bytes(path.read_bytes()[:-8192]), "the copy is short"),  # cut before the copy
    (lambda path: path.write_bytes(path.read_bytes() + b"\0" * 8192), CHANGED_IN_COPY),  # grown after
])
def test_an_entry_that_changes_while_it_is_copied_is_not_served(sim, monkeypatch, change, why):
    """Another process writes the cached DAT while CopyFile copies it (the simulator's copy is
    wrapped to let it in at that moment)."""
    from iris_ops_sim.irissim.instance.classes import files

    data, digest = _cached(sim)
    _placed_by_the_transport(sim)
    copy = files._copy_contents
    source = sim.host(CACHE + digest + ".DAT")
    cut = why == "the copy is short"

    def copy_while_written(fin, fout):
        if cut:
            change(source)
            fin.seek(0)
        copy(fin, fout)
        if not cut:
            change(source)

    monkeypatch.setattr(files, "_copy_contents", copy_while_written)
    assert _served(sim, digest, len(data)) == {"cloned": 0, "why": why, "finished": 0}


def test_serving_an_entry_renews_its_record_s_modification_time(sim):
    data, digest = _cached(sim)
    record = sim.host(CACHE + digest + ".json")
    text = record.read_bytes()
    os.utime(record, (OLD, OLD))
    _placed_by_the_transport(sim)
    assert _served(sim, digest, len(data))["cloned"] == 1
    assert record.read_bytes() == text and record.stat().st_mtime > OLD
    assert sorted(p.name for p in sim.host(CACHE).iterdir()) == [digest + ".DAT", digest + ".json"]
    assert sim.run(scripts.restore_facts("T2", [], [], [(digest, len(data))]))["cache"] == {digest: 1}


# --- filling an entry: the verified file of a streamed restore left in the cache ------------------


def _fill(sim) -> tuple[dict, str, bytes]:
    """A restore of T1 whose streamed T1_DATA is left in the cache: (its result, digest, bytes)."""
    from iris_ops.script_builders.cache import record_text

    data = sim.database_bytes()
    digest = hashlib.sha256(data).hexdigest()
    sim.put(T1_DAT, data)
    record = record_text({"sha256": digest, "size": len(data), "fixture": "fx"})
    done = sim.run(scripts.restore_databases("T1", [scripts.NewDatabase(
        "T1_DATA", MGR + "t1_data/", None, fill=(CACHE, digest, len(data), "tok5", record))], "T1_DATA", "T1_DATA"))
    assert done["finished"] == 1 and sim.config()["Namespaces"]["T1"]["Globals"] == "T1_DATA"
    return done, digest, data


def test_a_fill_replaces_an_entry_left_there_before(sim):
    data = sim.database_bytes()
    digest = hashlib.sha256(data).hexdigest()
    sim.put(CACHE + digest + ".DAT", b"an older, damaged copy")
    sim.put(CACHE + digest + ".json", b'{"sha256": "stale"}')
    done, _, _ = _fill(sim)
    assert (done["filled"], done["fill_errors"]) == ({"T1_DATA": 1}, {"T1_DATA": ""})
    assert sim.host(CACHE + digest + ".DAT").read_bytes() == data
    assert json.loads(sim.host(CACHE + digest + ".json").read_text())["fixture"] == "fx"
    assert sorted(p.name for p in sim.host(CACHE).iterdir()) == [digest + ".DAT", digest + ".json"]


def test_a_cache_directory_that_cannot_be_made_is_named_and_the_restore_goes_on(sim):
    sim.put(CACHE.rstrip("/"), b"a file where the cache directory goes")
    done, _, _ = _fill(sim)
    assert (done["filled"], done["fill_errors"]) == ({"T1_DATA": 0}, {"T1_DATA": f"iris-ops 5001 cannot create {CACHE}"})


def test_a_short_copy_to_the_cache_is_named_and_left_nowhere(sim, monkeypatch):
    """The cache's temporary copy loses its last block before it is checked (another writer cuts
    it as CopyFile ends: the simulator's copy is wrapped to let it in)."""
    from iris_ops_sim.irissim.instance.classes import files

    copy = files._copy_contents

    def copy_then_cut(fin, fout):
        copy(fin, fout)
        fout.flush()
        os.ftruncate(fout.fileno(), os.fstat(fout.fileno()).st_size - 8192)
        fout.seek(0, os.SEEK_END)  # where CopyFile's own truncate() then cuts

    monkeypatch.setattr(files, "_copy_contents", copy_then_cut)
    done, _, _ = _fill(sim)
    assert (done["filled"], done["fill_errors"]) == ({"T1_DATA": 0}, {"T1_DATA": "iris-ops 5001 the cache copy is short"})
    assert list(sim.host(CACHE).iterdir()) == []


@pytest.fixture
def new_york(monkeypatch):
    """The instance's local time is not UTC (the in-process instance's zone is this process's)."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_cache_s_times_are_utc_whatever_the_instance_s_zone(sim, new_york):
    digest = _entry(sim, b"a cached file")
    os.utime(sim.host(CACHE + digest + ".DAT"), (OLD, OLD))
    assert sim.run(scripts.cache_describe(CACHE, [digest + ".DAT"]))["modified"] == {digest + ".DAT": OLD_H}


def test_an_entry_whose_file_is_no_longer_its_record_s_size_is_not_served(sim):
    data, digest = _cached(sim)
    sim.host(CACHE + digest + ".DAT").write_bytes(data + b"\0" * 8192)
    _placed_by_the_transport(sim)
    assert _served(sim, digest, len(data)) == {"cloned": 0, "why": OTHER_SIZE, "finished": 0}


# --- an entry the transport already reflinked into place (clone_reflinked) --------------------------


def _served_reflinked(sim, digest: str, size: int) -> dict:
    done = sim.run(scripts.restore_databases("T1", [scripts.NewDatabase(
        "T1_DATA", MGR + "t1_data/", None, clone=(CACHE, digest, size, "tok9"), clone_reflinked=True)],
        "T1_DATA", "T1_DATA"))
    return {"cloned": done["cloned"]["T1_DATA"], "finished": done["finished"],
            **({} if done["cloned"]["T1_DATA"] else {"why": done["reasons"]["T1_DATA"]})}


def test_a_reflinked_entry_is_checked_and_served_in_place(sim):
    data, digest = _cached(sim)
    sim.put(T1_DAT, data)  # what the transport's reflink left there
    assert _served_reflinked(sim, digest, len(data)) == {"cloned": 1, "finished": 1}
    assert sim.host(T1_DAT).read_bytes() == data and sim.mounted(MGR + "t1_data/")


def test_a_reflinked_copy_that_is_short_is_removed_for_the_stream(sim):
    data, digest = _cached(sim)
    sim.put(T1_DAT, data[:-8192])
    assert _served_reflinked(sim, digest, len(data)) == {"cloned": 0, "why": "the reflinked copy is short",
                                                         "finished": 0}
    assert not sim.host(T1_DAT).exists() and "T1_DATA" not in sim.config()["Databases"]


def test_a_reflinked_entry_the_probe_refuses_is_removed_for_the_stream(sim):
    data, digest = _cached(sim)
    sim.put(T1_DAT, data)
    sim.host(CACHE + digest + ".DAT").write_bytes(data + b"\0" * 8192)  # changed since the transport's probe
    assert _served_reflinked(sim, digest, len(data)) == {"cloned": 0, "why": OTHER_SIZE, "finished": 0}
    assert not sim.host(T1_DAT).exists()


@pytest.mark.parametrize("placed, why", [
    (".DAT", "a concurrent restore placed it first"),
    (".json", "cannot rename its record into place"),
])
def test_a_fill_that_another_restore_overtakes_leaves_no_temporary_file(sim, monkeypatch, placed, why):
    """Another restore puts the same entry's file in place just before this one renames its own
    there (the simulator's Rename wrapped to let it in): this fill gives way, says why, and removes
    its temporary files; the restore itself goes on."""
    from iris_ops_sim.irissim.instance.classes.files import LibraryFile

    rename = LibraryFile.Rename
    digest = hashlib.sha256(sim.database_bytes()).hexdigest()

    def overtaken(self, proc, *args):
        if str(args[1]).endswith(digest + placed):
            sim.put(CACHE + digest + placed, b"the other restore's")
        return rename(self, proc, *args)

    monkeypatch.setattr(LibraryFile, "Rename", overtaken)
    done, _, _ = _fill(sim)
    assert (done["filled"], done["fill_errors"]) == ({"T1_DATA": 0}, {"T1_DATA": why})
    assert not [p.name for p in sim.host(CACHE).iterdir() if ".tmp-" in p.name]
    assert sim.host(CACHE + digest + placed).read_bytes() == b"the other restore's"


def test_a_served_copy_is_written_into_the_placed_file_whoever_owns_it(sim):
    """The placed file is root's, writable by the instance owner's group: CopyFile rewrites it in
    place (it is not deleted first), so it keeps its owner, which that session could not give back."""
    from iris_ops_sim.irissim.instance.fs import USERS

    data, digest = _cached(sim)
    _placed_by_the_transport(sim)
    sim.instance.fs.chown(T1_DAT, USERS["root"][0], USERS["irisowner"][1])
    assert _served(sim, digest, len(data)) == {"cloned": 1, "finished": 1}
    assert sim.instance.fs.owner(T1_DAT) == (USERS["root"][0], USERS["irisowner"][1])
    assert sim.host(T1_DAT).read_bytes() == data


def test_a_record_renewal_another_restore_overtakes_still_serves_and_leaves_no_temporary_file(sim, monkeypatch):
    """Another restore renews the same record between this one's Delete and Rename (the
    simulator's Rename wrapped to let it in): the entry is served all the same."""
    from iris_ops_sim.irissim.instance.classes.files import LibraryFile

    data, digest = _cached(sim)
    _placed_by_the_transport(sim)
    rename = LibraryFile.Rename

    def overtaken(self, proc, *args):
        if ".json.used-" in str(args[0]):
            sim.put(CACHE + digest + ".json", b"the other restore's renewal")
        return rename(self, proc, *args)

    monkeypatch.setattr(LibraryFile, "Rename", overtaken)
    assert _served(sim, digest, len(data)) == {"cloned": 1, "finished": 1}
    assert sorted(p.name for p in sim.host(CACHE).iterdir()) == [digest + ".DAT", digest + ".json"]
