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


def _fill(sim, *, record_written: bool = True, cache_dir_there: bool = True) -> tuple[dict, str]:
    data = sim.database_bytes()
    digest = hashlib.sha256(data).hexdigest()
    sim.put(MGR + "t1_data/IRIS.DAT", data)
    if record_written:
        sim.put(f"{CACHE}{digest}.json.tmp-tok5", json.dumps({"sha256": digest, "size": len(data)}).encode())
    elif cache_dir_there:
        sim.put(CACHE + "other.json", b"{}")
    done = sim.run(scripts.restore_databases("T1", [scripts.NewDatabase(
        "T1_DATA", MGR + "t1_data/", None, fill=(CACHE, digest, len(data), "tok5"))], "T1_DATA", "T1_DATA"))
    assert done["finished"] == 1 and sim.config()["Namespaces"]["T1"]["Globals"] == "T1_DATA"
    return done, digest


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
    assert sim.run(script) | {} == {"sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(), "error": "",
                                    "changed": 0, "ok": 1, "step": "", "steps": 1}
    assert sim.run(scripts.cache_hash(CACHE, other))["sha256"] == base64.b64encode(
        hashlib.sha256(b"another file of the cache").digest()).decode()


def test_the_cache_description_has_each_dat_s_change_time_and_each_record_s_text(sim):
    digest = _entry(sim, b"a cached file", json.dumps({"sha256": "x"}).encode())
    names = [digest + ".DAT", digest + ".json"]
    described = sim.run(scripts.cache_describe(CACHE, names))
    assert described["sizes"] == {digest + ".DAT": 13, digest + ".json": len(json.dumps({"sha256": "x"}))}
    assert set(described["modified"]) == set(names) and list(described["changed"]) == [digest + ".DAT"]
    assert described["changed"][digest + ".DAT"].count(",") == 1  # $H, in UTC
    assert described["records"] == {digest + ".json": json.dumps({"sha256": "x"})}
