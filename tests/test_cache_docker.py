"""The fixture cache through the docker transport, changed where users change it: inside the
container (`docker exec`).  A changed entry is never served (it is streamed again and replaced),
`cache verify` finds what the cheap check cannot, `doctor` reports a changed entry, and a fixture
with one flipped byte is refused while the cache serves its file, even after a read that found it
right let the restores before skip reading it.  (tests/test_cache.py covers
the same through the local transport, case by case.)"""

from __future__ import annotations

import json
import shutil
import time

from clihelp import cli, events, fails, manifest, objectscript, ok

from iris_ops import checked
from iris_ops.script_builders.cache import CHANGED

MGR = "/usr/irissys/mgr/"
CACHE = MGR + "iris-ops-cache/"


def sh(sc, script: str, *args: str, user: str = "irisowner") -> str:
    code, out, err = sc.exec(["sh", "-c", script, "sh", *args], user=user)
    assert code == 0, (script, out, err)
    return out.decode()


def sha256_in(sc, path: str) -> str:
    return sh(sc, 'sha256sum "$1"', path).split()[0]


def rewrite_a_byte(sc, path: str) -> None:
    """One byte in the middle of ``path`` rewritten in place, as the instance owner: its size
    stays, its bytes change."""
    before = sha256_in(sc, path)
    sh(sc, 'size=$(stat -c %s "$1"); printf Z | dd of="$1" bs=1 seek=$((size / 2 + 17)) conv=notrunc 2>/dev/null', path)
    assert sha256_in(sc, path) != before


def state(sc) -> dict:
    """What a refused restore must leave as it found it (the cache aside: not its output)."""
    listing = sc.instance.listing()
    return {"config": listing["config"], "resources": listing["resources"], "mounted": listing["mounted"],
            "files": sorted(p for p in listing["files"] if not p.startswith(CACHE))}


def restore_json(sc, fixture, ns) -> tuple[dict, list[dict]]:
    proc = ok(cli(sc, "restore", "--src", fixture, "--ns", ns, "--json"))
    return json.loads(proc.stdout), events(proc)


def entry(sc) -> dict:
    [found] = json.loads(ok(cli(sc, "cache", "list", "--json")).stdout)["entries"]
    return found


def test_a_changed_entry_or_a_damaged_fixture_is_never_served_in_a_container(sim_container, tmp_path):
    sc = sim_container
    sc.instance.sql("USER", "CREATE TABLE Demo.Item (Name VARCHAR(20))")
    sc.instance.sql("USER", "INSERT INTO Demo.Item (Name) VALUES ('one'), ('two')")
    fixture = tmp_path / "fx"
    ok(cli(sc, "backup", "--ns", "USER", "--out", fixture))
    sha = manifest(fixture)["databases"][0]["sha256"]
    dat = f"{CACHE}{sha}.DAT"
    restore_json(sc, fixture, "C1")  # fills the cache

    # 1. a byte rewritten inside the container, then a touch: each time streamed again, replaced
    for n, change in enumerate([lambda: rewrite_a_byte(sc, dat), lambda: sh(sc, 'touch "$1"', dat)], 2):
        change()
        assert entry(sc)["problem"] == CHANGED
        result, log = restore_json(sc, fixture, f"C{n}")
        assert result["databases"][0]["cached"] is False
        assert [e["reason"] for e in log if e["event"] == "restore.cache_miss"] == [CHANGED]
        assert {"restore.streamed", "cache.filled"} <= {e["event"] for e in log}
        assert sha256_in(sc, result["databases"][0]["directory"] + "IRIS.DAT") == sha
        assert sha256_in(sc, dat) == sha and entry(sc)["ok"]

    # 2. doctor reports a changed entry; verify finds one whose record was forged to match it
    rewrite_a_byte(sc, dat)
    doc = json.loads(fails(cli(sc, "doctor", "--json"), 4).stdout)
    assert [(f["kind"], f["problem"]) for f in doc.get("findings") or doc["details"]["findings"]] \
        == [("cache", f"a cache entry that is never served: {CHANGED}")]
    identity = objectscript(sc, f'Write ##class(%File).GetFileDateModified("{dat}",1),"|",'
                                f'##class(%File).GetFileDateCreated("{dat}",1)').splitlines()[-1].split("|")
    record = json.loads(sh(sc, 'cat "$1"', f"{CACHE}{sha}.json"))
    record.update(mtime=identity[0], ctime=identity[1])
    code, _, err = sc.exec(["sh", "-c", 'cat > "$1"', "sh", f"{CACHE}{sha}.json"], user="irisowner",
                           stdin=json.dumps(record).encode())
    assert code == 0, err
    assert entry(sc)["ok"]  # the cheap check is fooled now
    proc = fails(cli(sc, "cache", "verify"), 4)
    assert f"{sha[:16]}" in proc.stdout and "REMOVED: its content differs from its digest" in proc.stdout
    assert not sc.exists(dat) and not sc.exists(f"{CACHE}{sha}.json")

    # 3. with the cache warm, one flipped byte in the fixture's own file: exit 4, nothing left
    restore_json(sc, fixture, "C9")
    assert entry(sc)["ok"]
    # (a fixture older than the racy window, as users' are: read whole once, then known unchanged)
    damaged = tmp_path / "damaged"
    shutil.copytree(fixture, damaged)
    time.sleep(checked.RACY_NS / 1e9 + 0.2)
    for ns, read in (("C10", 1), ("C11", 0)):
        _, log = restore_json(sc, damaged, ns)
        assert [e["read"] for e in log if e["event"] == "restore.fixture_checked"] == [read]
    proc = ok(cli(sc, "restore", "--src", damaged, "--ns", "C12", IRIS_OPS_FIXTURE_CHECK="always"))
    assert [e["read"] for e in events(proc) if e["event"] == "restore.fixture_checked"] == [1]
    db = manifest(damaged)["databases"][0]
    with open(damaged / db["file"], "r+b") as f:
        f.seek((damaged / db["file"]).stat().st_size // 2 + 17)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x5A]))
    assert sc.instance.delete_resource(db["resource"])  # so that the restore creates it, and must undo that
    before = state(sc)
    proc = fails(cli(sc, "restore", "--src", damaged, "--ns", "DAMAGED"), 4)
    assert {"restore.cloned", "restore.rollback"} <= {e["event"] for e in events(proc)}
    assert f"resource {db['resource']}" in [e.get("undone") for e in events(proc)]
    assert f"{db['file']}: content differs from the manifest" in proc.stderr
    assert state(sc) == before
    assert "DAMAGED" not in sc.instance.read_config()["Namespaces"] and not sc.exists(MGR + "damaged")
    assert sha256_in(sc, dat) == sha and entry(sc)["ok"]
