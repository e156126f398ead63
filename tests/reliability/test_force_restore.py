"""Issue 20 point 2: `restore --force` keeps the old namespace until the new one is proven.

The old namespace FOLD holds other rows than the fixture.  Whatever stops a forced restore
before the new namespace is verified, the old namespace, its databases and its rows are exactly
as before (the instance's whole listing: configuration, mounts, resources, every file with its
sha256); from the swap on, the restore completes (the new namespace whole).  Faults are real: a
damaged fixture, a manifest that disagrees with its files, a plugin refusing, the container
killed, the instance's disk full, a lock another session holds, a directory the instance may
not remove, and SIGTERM or `kill -9` of iris-ops.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from iris_ops import hookimpl
from iris_ops.errors import VetoedError
from reliability import beds
from reliability.conftest import At, Hang, comparable, leftovers_in, popen_cli, wait_for
from reliability.stepfaults import StepFault

NS = "FOLD"
FIXTURE_ROWS = [(1, "fixture"), (2, "fixture")]
OLD_ROWS = [(1, "fixture"), (2, "fixture"), (3, "old")]


def _rows(sc, ns=NS):
    return sorted(tuple(r) for r in sc.instance.sql(ns, "SELECT id, what FROM t").rows)


@pytest.fixture(scope="module")
def fx(shared_sim, tmp_path_factory):
    """A fixture of namespace FSRC: table t with FIXTURE_ROWS."""
    from clihelp import cli, ok

    sc = shared_sim
    sc.instance.create_database("FSRC", namespace="FSRC")
    sc.instance.sql("FSRC", "CREATE TABLE t (id INT, what VARCHAR(20))")
    for i, what in FIXTURE_ROWS:
        sc.instance.sql("FSRC", f"INSERT INTO t (id, what) VALUES ({i}, '{what}')")
    out = tmp_path_factory.mktemp("fx") / "FSRC"
    ok(cli(sc, "backup", "--ns", "FSRC", "--out", out))
    return out


@pytest.fixture(scope="module")
def known(shared_sim, fx):
    """The listing the instance had with FOLD as the old namespace, once it was made."""
    return {}


@pytest.fixture
def old(shared_sim, rel_cli, fx, known):
    """Namespace FOLD, restored from the fixture and then changed (OLD_ROWS); yields the
    instance's listing with it.  A case that keeps the old namespace proves the listing is
    unchanged, so the next case reuses it; after one that replaced it, it is made again."""
    sc = shared_sim
    if "listing" not in known or comparable(sc.instance.listing()) != comparable(known["listing"]):
        if NS in sc.instance.read_config()["Namespaces"]:
            code, _, err = rel_cli("delete-ns", "--ns", NS, "--yes")
            assert code == 0, err
        code, _, err = rel_cli("restore", "--src", fx, "--ns", NS)
        assert code == 0, err
        sc.instance.sql(NS, "INSERT INTO t (id, what) VALUES (3, 'old')")
        known["listing"] = sc.instance.listing()
    assert _rows(sc) == OLD_ROWS
    yield known["listing"]
    if sc.client.containers.get(sc.name).status != "running":
        sc.start()


def _force(rel_cli, src, *extra, plugins=()):
    return rel_cli("restore", "--src", src, "--ns", NS, "--force", "--yes", *extra, plugins=plugins)


def _old_kept(sc, before):
    after = sc.instance.listing()
    assert leftovers_in(after) == []
    assert comparable(after) == comparable(before), "the old namespace, its databases or files changed"
    assert _rows(sc) == OLD_ROWS
    assert not any(n.startswith("IRISOPS-NEW-") for n in sc.instance.read_config()["Namespaces"])


def _new_whole(sc, rel_cli):
    code, out, err = rel_cli("doctor", "--json")
    assert code == 0, out + err
    config = sc.instance.read_config()
    assert config["Namespaces"][NS]["Globals"] == NS
    directory = config["Databases"][NS]["Directory"]
    assert sc.instance.check_integrity(directory) == []
    assert _rows(sc) == FIXTURE_ROWS
    assert not any(n.startswith("IRISOPS-NEW-") for n in list(config["Namespaces"]) + list(config["Databases"]))
    mgr = sc.instance.manager_directory()
    assert not sc.exists(f"{mgr}fold/") or directory == f"{mgr}fold/", "the old database's directory stayed"
    assert not [p for p in sc.instance.listing()["files"] if "/iris-ops-restore-" in p]


def _doctor_fixes(rel_cli, kind="restore"):
    code, out, err = rel_cli("doctor", "--json")
    assert code == 4 and {f["kind"] for f in json.loads(out)["findings"]} == {kind}, out + err
    code, out, err = rel_cli("doctor", "--fix", "--yes")
    assert code == 0, out + err


# --- a damaged fixture ------------------------------------------------------------------------


def _flip(dat: Path) -> None:
    data = bytearray(dat.read_bytes())
    data[len(data) // 2] ^= 0x01  # one byte in a data block, the same size
    dat.write_bytes(bytes(data))


def _truncate(dat: Path) -> None:
    with open(dat, "r+b") as f:
        f.truncate(dat.stat().st_size - 8192)


@pytest.mark.parametrize("damage", [_flip, _truncate], ids=["flipped-byte", "truncated"])
def test_a_damaged_fixture_is_refused_before_anything_changes(shared_sim, rel_cli, fx, old, tmp_path, damage):
    """The done-when case.  The fixture cache holds the undamaged file (the old namespace was
    restored from it): only hashing every file first refuses the flipped byte there."""
    sc = shared_sim
    damaged = tmp_path / "damaged"
    shutil.copytree(fx, damaged)
    damage(damaged / "databases" / "FSRC" / "IRIS.DAT")
    code, _, err = _force(rel_cli, damaged)
    assert code == 4, err
    assert "databases/FSRC/IRIS.DAT" in err
    _old_kept(sc, old)


def test_a_database_another_namespace_needs_is_refused_before_anything_changes(shared_sim, rel_cli, fx, old):
    """FOLD's database is also FOTHER's: --force may not delete it, and the new database could
    not take its name.  Refused (exit 3) before any change, naming who needs it."""
    sc = shared_sim
    sc.instance.create_namespace("FOTHER", NS)
    with_other = sc.instance.listing()
    code, _, err = _force(rel_cli, fx)
    assert code == 3 and "database FOLD (needed by namespace FOTHER" in err, err
    _old_kept(sc, with_other)
    code, _, err = rel_cli("delete-ns", "--ns", "FOTHER", "--yes")  # keeps FOLD's database: FOLD uses it
    assert code == 0, err
    _old_kept(sc, old)


# --- a failure at each step -------------------------------------------------------------------


class SeesStaged:
    """A plugin whose post_restore looks at what it is given, then refuses (as a plugin may)."""

    pm = None

    def __init__(self, sc) -> None:
        self.sc, self.seen = sc, None

    @hookimpl
    def post_restore(self, operation, fixture, namespace, databases):
        self.seen = (namespace, databases, _rows(self.sc, namespace), _rows(self.sc))
        raise VetoedError("test plugin: not this one")


def test_a_post_restore_refusal_sees_the_new_namespace_staged_and_keeps_the_old(shared_sim, rel_cli, fx, old):
    sc = shared_sim
    plugin = SeesStaged(sc)
    code, _, err = _force(rel_cli, fx, plugins=[plugin])
    assert code == 3 and "not this one" in err, err
    staged, databases, new_rows, old_rows = plugin.seen
    assert staged.startswith("IRISOPS-NEW-") and databases == [f"{staged}-1"]
    assert new_rows == FIXTURE_ROWS and old_rows == OLD_ROWS  # both at once: the old one untouched
    _old_kept(sc, old)


def test_row_counts_that_disagree_with_the_manifest_keep_the_old(shared_sim, rel_cli, fx, old, tmp_path):
    sc = shared_sim
    wrong = tmp_path / "wrong"
    shutil.copytree(fx, wrong)
    manifest = json.loads((wrong / "manifest.json").read_text())
    manifest["tables"][0]["row_count"] += 1
    (wrong / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = _force(rel_cli, wrong)
    assert code == 4 and "does not match the manifest's row counts" in err, err
    _old_kept(sc, old)


def test_the_container_killed_keeps_the_old(shared_sim, rel_cli, fx, old, request):
    """`docker kill` of the instance while it creates the staged namespace (the session held at
    that call): exit 6, and once the container is back, doctor --fix rolls the staged one back."""
    sc = shared_sim
    request.addfinalizer(lambda: sc.client.containers.get(sc.name).status == "running" or sc.start())
    with StepFault(sc, "Config.Namespaces.Create", "container-kill"):  # starts it again at the end
        code, _, err = _force(rel_cli, fx, "--no-cache")
    assert code == 6 and "is not running" in err, err
    _doctor_fixes(rel_cli)
    _old_kept(sc, old)


def test_a_lock_held_elsewhere_stops_the_swap_and_its_rollback_waits(shared_sim, rel_cli, fx, old, monkeypatch):
    """Another session holds ^IRISOPS.Session(FOLD) (as a session of this restore the client
    gave up on would) when the swap starts: the swap, then the rollback, wait for it and give
    up; nothing of the old namespace was touched, and doctor --fix rolls back once it ended."""
    sc = shared_sim
    monkeypatch.setenv("IRIS_OPS_TIMEOUT", "4")
    script = b'Lock +^IRISOPS.Session("FOLD")\nWrite "HELD",!\nHang 14\nHalt\n'
    holder = threading.Thread(target=sc.exec, args=(["iris", "session", "IRIS", "-U", "%SYS"],), kwargs={"stdin": script})

    class Holds:
        pm = None

        @hookimpl
        def post_restore(self, operation, fixture, namespace, databases):
            holder.start()
            time.sleep(2)  # the session has started and taken the lock

    code, _, err = _force(rel_cli, fx, plugins=[Holds()])
    assert code == 5 and "still runs in the instance" in err and "nothing was undone" in err, err
    assert "doctor --fix" in err
    assert sc.instance.read_config()["Namespaces"][NS]["Globals"] == NS and _rows(sc) == OLD_ROWS
    holder.join()
    _doctor_fixes(rel_cli)
    _old_kept(sc, old)


def test_a_failure_after_the_commit_leaves_the_new_namespace_and_doctor_finishes(shared_sim, rel_cli, fx, old):
    """The old database's directory holds something the instance may not remove (root's): the
    swap fails after its commit.  The new namespace is whole; doctor --fix finishes the rest
    once the obstacle is gone."""
    sc = shared_sim
    mgr = sc.instance.manager_directory()
    assert sc.exec(["sh", "-c", f"mkdir {mgr}fold/roots && touch {mgr}fold/roots/x"], user="root")[0] == 0
    code, _, err = _force(rel_cli, fx)
    assert code == 5 and "oldfiles0" in err and "doctor --fix" in err, err
    config = sc.instance.read_config()
    assert config["Namespaces"][NS]["Globals"] == NS and _rows(sc) == FIXTURE_ROWS
    code, out, _ = rel_cli("doctor", "--json")
    assert code == 4 and "finish it" in out
    assert sc.exec(["rm", "-rf", f"{mgr}fold/roots"], user="root")[0] == 0
    _doctor_fixes(rel_cli)
    _new_whole(sc, rel_cli)


def test_the_container_killed_mid_swap_and_doctor_finishes_it(shared_sim, rel_cli, fx, old, request):
    """Power loss in the middle of the swap: the journal says it was committed, so doctor --fix
    finishes it (the new namespace whole), from wherever it stopped."""
    sc = shared_sim
    request.addfinalizer(lambda: sc.client.containers.get(sc.name).status == "running" or sc.start())

    committed = f"{sc.instance.manager_directory()}iris-ops-restore-{NS}.committed.json"

    def kill_once_committed():  # the swap then hangs before its first dismount: killed inside it
        deadline = time.monotonic() + 60
        while not sc.exists(committed) and time.monotonic() < deadline:
            time.sleep(0.05)
        sc.client.containers.get(sc.name).kill()

    def kill_soon():
        threading.Thread(target=kill_once_committed, daemon=True).start()

    hang = Hang("DismountDatabase", "DismountDatabase", 30, then=kill_soon)
    code, _, err = _force(rel_cli, fx, plugins=[hang])
    assert hang.fired and code == 6, err
    assert "doctor --fix" in err
    sc.start()
    _doctor_fixes(rel_cli)
    _new_whole(sc, rel_cli)


# --- the instance's disk full -----------------------------------------------------------------


@pytest.fixture(scope="module")
def disk_bed(docker_engine, sim_image, tmp_path_factory):
    """An instance on a small tmpfs, namespace FOLD on it, then the disk filled (4 MB left)."""
    from clihelp import cli, ok

    def old_namespace(sc, fixture):
        ok(cli(sc, "restore", "--src", fixture, "--ns", NS, "--no-cache"))

    with beds.big_disk_bed(docker_engine, sim_image, tmp_path_factory.mktemp("disk"), old_namespace) as bed:
        yield bed


def test_the_instance_disk_full_keeps_the_old(disk_bed, monkeypatch, tmp_path, capsys):
    from cli_helpers import make_inproc

    sc, fixture = disk_bed
    run = make_inproc(sc.env, monkeypatch, tmp_path, capsys)
    before = sc.instance.listing()
    code, _, err = run("restore", "--src", fixture, "--ns", NS, "--force", "--yes", "--no-cache")
    assert code == 5 and "disk is full" in err, err
    after = sc.instance.listing()
    assert comparable(after) == comparable(before) and leftovers_in(after) == []


# --- SIGTERM at each step, kill -9 ------------------------------------------------------------

BEFORE_THE_SWAP = {  # (hook, text its call holds)
    # the journal and each directory's marker: one round trip (the docker transport's write_files)
    "journal-and-directories": ("write_file", "iris-ops-restore-FOLD.json"),
    "upload": ("write_file", "IRIS.DAT"),
    "staging-session": ("run_objectscript", "Config.Namespaces).Create"),
    "post-restore": ("post_restore", None),
}
FROM_THE_SWAP = {
    "swap": ("run_objectscript", "DismountDatabase"),  # only the swap dismounts (the old database)
    "journal-removal": ("remove_path", "iris-ops-restore-FOLD.committed.json"),
}


@pytest.mark.parametrize("step", list(BEFORE_THE_SWAP) + list(FROM_THE_SWAP))
def test_sigterm_at_each_step(shared_sim, rel_cli, fx, old, step):
    sc = shared_sim
    hook, among = {**BEFORE_THE_SWAP, **FROM_THE_SWAP}[step]
    at = At(signal.SIGTERM, hook, among)
    code, out, err = _force(rel_cli, fx, "--no-cache", plugins=[at])
    assert at.seen, f"step {step} never reached"
    if step in BEFORE_THE_SWAP:
        assert code == 143 and "stopped by SIGTERM; cleanup ran" in err, err
        _old_kept(sc, old)
    else:  # past the point of no return: the restore completes and says so
        assert code == 0 and f"restored {fx} into namespace {NS}" in out, err
        _new_whole(sc, rel_cli)


@pytest.mark.parametrize("moment", ["staging", "swap"])
def test_kill_9_then_doctor_leaves_one_whole_namespace(shared_sim, rel_cli, fx, old, tmp_path, moment):
    """`kill -9` of iris-ops once the staging journal is there (the old namespace comes back
    whole), or once the swap committed (the new one is finished): never neither."""
    sc = shared_sim
    mgr = sc.instance.manager_directory()
    # The step after the journal's commit waits 3 s first: the kill lands inside the swap.
    proc = popen_cli(sc, tmp_path, "restore", "--src", fx, "--ns", NS, "--force", "--yes", "--no-cache",
                     fault="slow@##class(SYS.Database).DismountDatabase(")
    journal = f"{mgr}iris-ops-restore-FOLD{'.committed' if moment == 'swap' else ''}.json"
    wait_for(lambda: sc.exists(journal), proc, journal)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    beds.wait_for_late_sessions(sc)  # a session the client left still runs in the instance
    _doctor_fixes(rel_cli)
    if moment == "staging":
        _old_kept(sc, old)
    else:
        _new_whole(sc, rel_cli)
