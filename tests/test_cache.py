"""The fixture cache inside the instance (iris_ops.cache): hits, corrupted and changed entries,
`cache verify`, concurrent restores and prunes, --no-cache, doctor, what a failed restore leaves,
and a damaged fixture refused while the cache serves its file.

One simulated instance installed on this host serves the whole module (the local transport: no
Docker engine needed); each test restores into its own namespaces and removes them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from clihelp import cli, events, fails, manifest, objectscript, ok

from iris_ops import cache, names, script_builders
from iris_ops.script_builders.cache import CHANGED, NO_IDENTITY, record_text


@pytest.fixture(scope="module")
def sim():
    from iris_ops_sim.simcontainer import HostSim

    home = tempfile.mkdtemp(prefix="iris-ops-cache-")
    try:
        sim = HostSim(home).install()
        sim.instance.sql("USER", "CREATE TABLE Demo.Account (Name VARCHAR(50), Balance NUMERIC(10,2))")
        for name, balance in (("Alice", "100.50"), ("Bob", "200.75")):
            sim.instance.sql("USER", f"INSERT INTO Demo.Account (Name, Balance) VALUES ('{name}', {balance})")
        sim.instance.create_database("OTHER", size_mb=2, namespace="OTHER")
        yield sim
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def fixtures(sim, tmp_path_factory):
    out = tmp_path_factory.mktemp("fixtures")
    ok(cli(sim, "backup", "--ns", "USER", "--out", out / "user"))
    ok(cli(sim, "backup", "--ns", "OTHER", "--out", out / "other"))
    ok(cli(sim, "backup", "--ns", "USER", "--out", out / "userz", "--compress"))
    return out


@pytest.fixture
def clean(sim):
    """Every test starts with an empty cache.  (The namespaces it restores go with the instance
    at the end of the module.)"""
    shutil.rmtree(cache_dir(sim), ignore_errors=True)


def cache_dir(sim) -> Path:
    return Path(sim.instance.manager_directory()) / "iris-ops-cache"


def digest(fixture: Path) -> str:
    return manifest(fixture)["databases"][0]["sha256"]


def restore(sim, fixture, ns, *extra):
    """Restore; returns (JSON result, the log's event names)."""
    proc = ok(cli(sim, "restore", "--src", fixture, "--ns", ns, "--json", *extra))
    return json.loads(proc.stdout), [e["event"] for e in events(proc)]


def entries(sim) -> list[dict]:
    return json.loads(ok(cli(sim, "cache", "list", "--json")).stdout)["entries"]


def test_the_second_restore_copies_inside_the_instance(sim, fixtures, clean):
    first, log = restore(sim, fixtures / "user", "CA1")
    assert first["databases"][0]["cached"] is False
    # plain storage (the host's temporary directory): every copy is a full one
    assert (first["databases"][0]["method"], first["databases"][0]["cache_fill"]) == ("stream", "copy")
    assert "restore.streamed" in log and "cache.filled" in log
    proc = ok(cli(sim, "restore", "--src", fixtures / "user", "--ns", "CA2"))
    assert "(copied from the fixture cache: copy)" in proc.stdout
    log = [e["event"] for e in events(proc)]
    second = json.loads(ok(cli(sim, "restore", "--src", fixtures / "user", "--ns", "CA2", "--json",
                               "--force", "--yes")).stdout)
    assert second["databases"][0]["cached"] is True and second["databases"][0]["method"] == "copy"
    assert "restore.cloned" in log and "restore.streamed" not in log
    assert second["tables"] == first["tables"]
    restored = Path(second["databases"][0]["directory"]) / "IRIS.DAT"
    assert restored.stat().st_size == manifest(fixtures / "user")["databases"][0]["bytes"]
    [entry] = entries(sim)
    assert entry["ok"] and entry["sha256"] == digest(fixtures / "user") and entry["fixture"]
    # a compressed fixture of the same database shares the entry: the key is the uncompressed digest
    assert digest(fixtures / "userz") == digest(fixtures / "user")
    assert manifest(fixtures / "userz")["databases"][0]["compressed"]
    third, log = restore(sim, fixtures / "userz", "CA3")
    assert third["databases"][0]["cached"] is True and "restore.streamed" not in log


def test_no_cache_neither_reads_nor_fills(sim, fixtures, clean):
    result, log = restore(sim, fixtures / "user", "NC1", "--no-cache")
    assert result["databases"][0]["cached"] is False and "cache.filled" not in log
    assert entries(sim) == []
    restore(sim, fixtures / "user", "NC2")  # fills it
    result, log = restore(sim, fixtures / "user", "NC3", "--no-cache")
    assert result["databases"][0]["cached"] is False and "restore.streamed" in log


def _truncate_dat(d: Path, sha: str):
    dat = d / f"{sha}.DAT"
    dat.write_bytes(dat.read_bytes()[:-8192])


def _grow_dat(d: Path, sha: str):
    with open(d / f"{sha}.DAT", "ab") as f:
        f.write(b"\0" * 8192)


def _no_record(d: Path, sha: str):
    (d / f"{sha}.json").unlink()


def _garbled_record(d: Path, sha: str):
    (d / f"{sha}.json").write_text('{"sha256": "' + sha[:20])


def _record_of_another_digest(d: Path, sha: str):
    record = json.loads((d / f"{sha}.json").read_text())
    record["sha256"] = "0" * 64
    (d / f"{sha}.json").write_text(json.dumps(record))


def _record_with_another_size(d: Path, sha: str):
    record = json.loads((d / f"{sha}.json").read_text())
    record["size"] += 8192
    (d / f"{sha}.json").write_text(json.dumps(record))


def _no_dat(d: Path, sha: str):
    (d / f"{sha}.DAT").unlink()


DAMAGES = [_truncate_dat, _no_record, _garbled_record, _record_of_another_digest, _record_with_another_size, _no_dat]


def entry_files(sim) -> list[str]:
    return sorted(p.name for p in cache_dir(sim).iterdir())


@pytest.mark.slow
def test_a_damaged_entry_is_never_served_and_is_replaced(sim, fixtures, clean):
    import hashlib

    sha = digest(fixtures / "user")
    restore(sim, fixtures / "user", "CD0")
    for n, damage in enumerate(DAMAGES, 1):
        damage(cache_dir(sim), sha)
        result, log = restore(sim, fixtures / "user", f"CD{n}")
        assert result["databases"][0]["cached"] is False, damage.__name__
        assert "restore.cache_miss" in log and "restore.streamed" in log and "cache.filled" in log, damage.__name__
        assert entry_files(sim) == [f"{sha}.DAT", f"{sha}.json"], damage.__name__
        record = json.loads((cache_dir(sim) / f"{sha}.json").read_text())
        assert (record["sha256"], record["size"]) == (sha, (cache_dir(sim) / f"{sha}.DAT").stat().st_size)
        assert hashlib.sha256((cache_dir(sim) / f"{sha}.DAT").read_bytes()).hexdigest() == sha
    _truncate_dat(cache_dir(sim), sha)
    [entry] = entries(sim)
    assert not entry["ok"] and "its record says" in entry["problem"]


def flip_a_byte(path: Path) -> None:
    """One byte in the middle of ``path`` changed in place, its size kept (a real write)."""
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2 + 17)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x5A]))


def _one_byte_changed(d: Path, sha: str):
    flip_a_byte(d / f"{sha}.DAT")


def _touched(d: Path, sha: str):  # the same bytes, another modification time
    dat = d / f"{sha}.DAT"
    os.utime(dat, ns=(dat.stat().st_atime_ns, dat.stat().st_mtime_ns + 10**9))


def _changed_then_mtime_set_back(d: Path, sha: str):  # `touch -d` after an edit: only the ctime tells
    dat = d / f"{sha}.DAT"
    before = dat.stat()
    flip_a_byte(dat)
    os.utime(dat, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (dat.stat().st_size, dat.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def _record_without_identity(d: Path, sha: str):  # what an older iris-ops wrote
    record = json.loads((d / f"{sha}.json").read_text())
    del record["mtime"], record["ctime"]
    (d / f"{sha}.json").write_text(json.dumps(record))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_changed_entry_is_never_served_and_is_replaced(sim, fixtures, clean):
    """An entry whose file changed inside the instance after it was cached (a byte, its mtime
    alone, or a byte with the mtime set back) is streamed again and replaced, the reason logged;
    the restored file is the manifest's."""
    sha = digest(fixtures / "user")
    restore(sim, fixtures / "user", "CH0")
    for n, (damage, reason) in enumerate([(_one_byte_changed, CHANGED), (_touched, CHANGED),
                                          (_changed_then_mtime_set_back, CHANGED),
                                          (_record_without_identity, NO_IDENTITY)], 1):
        damage(cache_dir(sim), sha)
        [entry] = entries(sim)
        assert not entry["ok"] and entry["problem"] == reason, damage.__name__
        proc = ok(cli(sim, "restore", "--src", fixtures / "user", "--ns", f"CH{n}", "--json"))
        result, log = json.loads(proc.stdout), events(proc)
        assert result["databases"][0]["cached"] is False, damage.__name__
        assert [e["reason"] for e in log if e["event"] == "restore.cache_miss"] == [reason], damage.__name__
        assert {"restore.streamed", "cache.filled"} <= {e["event"] for e in log}, damage.__name__
        assert sha256_of(Path(result["databases"][0]["directory"]) / "IRIS.DAT") == sha, damage.__name__
        assert sha256_of(cache_dir(sim) / f"{sha}.DAT") == sha, damage.__name__
        [entry] = entries(sim)
        assert entry["ok"], damage.__name__  # replaced: its record holds the new file's identity
        result, log = restore(sim, fixtures / "user", f"CH{n}B")
        assert result["databases"][0]["cached"] is True and "restore.streamed" not in log, damage.__name__


def set_identity(sim, d: Path, sha: str) -> None:
    """Forge the record of ``sha`` to hold its DAT's size, mtime and ctime as the instance reads
    them now: the cheap check passes whatever the bytes are."""
    dat = names.instance_path(str(d / f"{sha}.DAT"))
    out = objectscript(sim, f'Write ##class(%File).GetFileSize("{dat}"),"|",##class(%File).GetFileDateModified('
                            f'"{dat}",1),"|",##class(%File).GetFileDateCreated("{dat}",1)')
    size, mtime, ctime = out.splitlines()[-1].split("|")
    record = json.loads((d / f"{sha}.json").read_text())
    record.update(size=int(size), mtime=mtime, ctime=ctime)
    (d / f"{sha}.json").write_text(json.dumps(record))


@pytest.mark.slow
def test_cache_verify_hashes_every_entry_and_removes_the_unsound(sim, fixtures, clean):
    restore(sim, fixtures / "user", "CV1")
    restore(sim, fixtures / "other", "CV2")
    user, other = digest(fixtures / "user"), digest(fixtures / "other")
    proc = ok(cli(sim, "cache", "verify"))
    assert sorted(line.split()[-1] for line in proc.stdout.splitlines()[:2]) == ["ok", "ok"]
    assert "2 entries verified, 0 removed" in proc.stdout
    # bytes changed, and the record forged to the changed file's identity: only a hash finds it
    flip_a_byte(cache_dir(sim) / f"{user}.DAT")
    altered = sha256_of(cache_dir(sim) / f"{user}.DAT")
    set_identity(sim, cache_dir(sim), user)
    assert all(e["ok"] for e in entries(sim))  # the cheap check is fooled
    proc = fails(cli(sim, "cache", "verify"), 4)
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[:2]}
    assert rows[other[:16]].endswith(" ok")
    assert rows[user[:16]].endswith(f"REMOVED: its content differs from its digest (the file hashes to {altered})")
    assert "held 1 unsound entry, now removed" in proc.stderr
    assert entry_files(sim) == sorted([f"{other}.DAT", f"{other}.json"])
    # an entry that fails the cheap check is removed unhashed; --json tells the same
    _touched(cache_dir(sim), other)
    doc = json.loads(fails(cli(sim, "cache", "verify", "--json"), 4).stdout)
    assert doc["ok"] is False and doc["exit_code"] == 4 and doc["removed"] == 1
    assert [(e["sha256"], e["removed"], e["problem"]) for e in doc["entries"]] == [(other, True, CHANGED)]
    assert entry_files(sim) == []
    assert json.loads(ok(cli(sim, "cache", "verify", "--json")).stdout)["removed"] == 0


def test_doctor_reports_a_changed_entry_and_fix_removes_it(sim, fixtures, clean):
    restore(sim, fixtures / "user", "DC1")
    sha = digest(fixtures / "user")
    ok(cli(sim, "doctor"))
    _changed_then_mtime_set_back(cache_dir(sim), sha)
    doc = json.loads(fails(cli(sim, "doctor", "--json"), 4).stdout)
    findings = doc["details"]["findings"] if "details" in doc else doc["findings"]
    assert [(f["kind"], Path(f["where"]).name) for f in findings] == [("cache", sha)]
    assert CHANGED in findings[0]["problem"]
    ok(cli(sim, "doctor", "--fix", "--yes"))
    assert entry_files(sim) == []
    ok(cli(sim, "doctor"))


@pytest.mark.slow
def test_concurrent_restores_fill_one_entry_safely(sim, fixtures, clean):
    procs = [subprocess.Popen([sys.executable, "-m", "iris_ops", "restore", "--src", str(fixtures / "other"),
                               "--ns", f"CC{i}", "--json"], env=_env(sim), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    sha = digest(fixtures / "other")
    assert entry_files(sim) == [f"{sha}.DAT", f"{sha}.json"]
    result, _ = restore(sim, fixtures / "other", "CC9")
    assert result["databases"][0]["cached"] is True


@pytest.mark.slow
def test_a_prune_racing_restores_costs_misses_never_a_bad_database(sim, fixtures, clean):
    restore(sim, fixtures / "user", "PR0")
    stop = threading.Event()
    pruned = []

    def prune_loop():
        while not stop.is_set():
            pruned.append(cli(sim, "cache", "prune", "--all").returncode)

    thread = threading.Thread(target=prune_loop)
    thread.start()
    try:
        results = [restore(sim, fixtures / "user", f"PR{i}")[0] for i in range(1, 3)]
    finally:
        stop.set()
        thread.join(timeout=120)
    assert pruned and set(pruned) == {0}
    for result in results:  # each restore verified its row counts against the manifest
        assert result["tables"] == [{"name": "Demo.Account", "row_count": 2}]
    assert not [p for p in cache_dir(sim).iterdir() if ".tmp-" in p.name or ".used-" in p.name]


def _env(sim) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sim.env, IRIS_OPS_LOG_FORMAT="json")
    return env


@pytest.mark.slow
def test_prune_max_size_removes_the_least_recently_used_first(sim, fixtures, clean):
    restore(sim, fixtures / "other", "PM1")
    restore(sim, fixtures / "user", "PM2")
    restore(sim, fixtures / "other", "PM3")  # a hit: OTHER is now the more recently used
    user_size = manifest(fixtures / "user")["databases"][0]["bytes"]
    other_size = manifest(fixtures / "other")["databases"][0]["bytes"]
    done = json.loads(ok(cli(sim, "cache", "prune", "--max-size", str(other_size), "--json")).stdout)
    assert [e["sha256"] for e in done["removed"]] == [digest(fixtures / "user")] and done["bytes"] == user_size
    assert [e["sha256"] for e in entries(sim)] == [digest(fixtures / "other")]
    fails(cli(sim, "cache", "prune", "--max-size", "lots"), 2)


def test_doctor_finds_and_repairs_what_a_crash_leaves_in_the_cache(sim, fixtures, clean):
    restore(sim, fixtures / "user", "DR1")
    restore(sim, fixtures / "other", "DR2")
    d = cache_dir(sim)
    user, other = digest(fixtures / "user"), digest(fixtures / "other")
    (d / f"{user}.DAT.tmp-0123456789ab").write_bytes(b"partial")
    _truncate_dat(d, other)
    (d / f"{'f' * 64}.json").write_text(json.dumps({"sha256": "f" * 64, "size": 8192}))
    doc = json.loads(fails(cli(sim, "doctor", "--json"), 4).stdout)
    kinds = sorted((f["kind"], Path(f["where"]).name) for f in doc["details"]["findings"]) \
        if "details" in doc else sorted((f["kind"], Path(f["where"]).name) for f in doc["findings"])
    assert kinds == [("cache", other), ("cache", "f" * 64), ("cache-temp", f"{user}.DAT.tmp-0123456789ab")]
    ok(cli(sim, "doctor", "--fix", "--yes"))
    assert sorted(p.name for p in d.iterdir()) == [f"{user}.DAT", f"{user}.json"]


def test_a_failed_restore_leaves_only_a_verified_cache_entry(sim, fixtures, clean, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(fixtures / "user", bad)
    doc = manifest(bad)
    doc["tables"][0]["row_count"] += 1  # the counts check fails after the file was cached
    (bad / "manifest.json").write_text(json.dumps(doc))
    before = set(sim.instance.read_config()["Namespaces"]), set(sim.instance.read_config()["Databases"])
    fails(cli(sim, "restore", "--src", bad, "--ns", "FR1"), 4)
    assert (set(sim.instance.read_config()["Namespaces"]), set(sim.instance.read_config()["Databases"])) == before
    assert not (Path(sim.instance.manager_directory()) / "fr1").exists()
    [entry] = entries(sim)
    assert entry["ok"] and entry["sha256"] == digest(fixtures / "user")


def test_parse_size():
    assert cache.parse_size("100") == 100
    assert cache.parse_size("2G") == 2 << 30
    assert cache.parse_size("500MiB") == 500 << 20
    with pytest.raises(Exception):
        cache.parse_size("2 parsecs")


def test_the_cache_scripts_parse():
    ts = pytest.importorskip("tree_sitter")
    grammar = pytest.importorskip("tree_sitter_objectscript")
    parser = ts.Parser(ts.Language(grammar.language_objectscript()))
    mgr = "/usr/irissys/mgr/"
    sha = "a" * 64
    cdir = f"{mgr}iris-ops-cache/"
    record = record_text({"sha256": sha, "size": 8192, "fixture": "f"})
    cloned = script_builders.NewDatabase("T1", f"{mgr}t1/", "%DB_APP", clone=(cdir, sha, 8192, "0" * 12))
    filled = script_builders.NewDatabase("T1", f"{mgr}t1/", None, fill=(cdir, sha, 8192, "0" * 12, record))
    made = [script_builders.restore_databases("T1", [cloned], "T1", "T1"),
            script_builders.restore_databases("T1", [filled], "T1", "T1"),
            script_builders.cache_describe(f"{mgr}iris-ops-cache/", [f"{sha}.DAT", f"{sha}.json"]),
            script_builders.cache_remove(f"{mgr}iris-ops-cache/", [f"{sha}.json", f"{sha}.DAT"]),
            script_builders.cache_hash(f"{mgr}iris-ops-cache/", sha),
            script_builders.restore_facts("T1", ["T1"], ["%DB_APP"], [(sha, 8192)]),
            script_builders.create_database("T1", f"{mgr}t1/", "%DB_APP")]
    for script in made:
        for line in script.lines():
            tree = parser.parse((" " + line + "\n").encode())
            assert not tree.root_node.has_error, line
    with pytest.raises(Exception):
        script_builders.restore_databases("T1", [script_builders.NewDatabase(
            "T1", f"{mgr}t1/../x/", None, clone=(cdir, sha, 8192, "0" * 12))], "T1", "T1")
    assert names.instance_path(cache.location(mgr)) == f"{mgr}iris-ops-cache/"


def test_a_damaged_fixture_is_refused_with_the_cache_warm(sim, fixtures, clean, tmp_path):
    """The cache serves the file by the manifest's digest; the fixture's own file is hashed
    meanwhile, and one flipped byte in its middle rolls the restore back (exit 4, the file named)."""
    damaged = tmp_path / "damaged"
    shutil.copytree(fixtures / "user", damaged)
    restore(sim, damaged, "WARM")  # the cache now holds this file's digest
    [db] = manifest(damaged)["databases"]
    flip_a_byte(damaged / db["file"])
    fails(cli(sim, "validate", "--src", damaged), 4)
    instance = sim.instance
    before = (set(instance.read_config()["Namespaces"]), set(instance.read_config()["Databases"]),
              instance.resources(), sorted(os.listdir(instance.manager_directory())))
    proc = fails(cli(sim, "restore", "--src", damaged, "--ns", "DAMAGED"), 4)
    log = events(proc)
    assert "restore.cloned" in [e["event"] for e in log]  # the cache did serve it
    [error] = [e for e in log if e.get("exit_code") == 4]
    assert error["event"].startswith(f"{db['file']}: content differs from the manifest (expected sha256 {db['sha256']}")
    assert error["file"] == db["file"] and "nothing was kept" in error["event"]
    after = (set(instance.read_config()["Namespaces"]), set(instance.read_config()["Databases"]),
             instance.resources(), sorted(os.listdir(instance.manager_directory())))
    assert after == before  # no namespace, database, resource, directory or journal left
    assert not (Path(instance.manager_directory()) / "damaged").exists()
    [entry] = entries(sim)
    assert entry["ok"] and sha256_of(cache_dir(sim) / f"{db['sha256']}.DAT") == db["sha256"]
    doc = json.loads(fails(cli(sim, "restore", "--src", damaged, "--ns", "DAMAGED", "--json"), 4).stdout)
    assert doc["exit_code"] == 4 and doc["file"] == db["file"]
