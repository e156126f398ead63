"""Acceptance scenarios for backup / validate / restore / delete-ns / run, through the CLI,
against the simulated Docker engine and IRIS instance (``sim_container``)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from iris_ops.errors import InstanceError, VetoedError

from iris_ops import hookimpl
from cli_helpers import plugin
from clihelp import run_inprocess

ROWS = [("Alice", "100.50"), ("Bob", "200.75"), ("Charlie", "300.25")]
MGR = "/usr/irissys/mgr/"


# --- helpers ------------------------------------------------------------------------------------

def _env(sc, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sc.env)
    env["IRIS_OPS_LOG_FORMAT"] = "json"
    env.update(extra)
    return env


def cli(sc, *args, cwd=None, **extra) -> subprocess.CompletedProcess:
    """``iris-ops ARGS`` aimed at the simulated container (in this process: clihelp.run_inprocess)."""
    return run_inprocess(_env(sc, **extra), *args, cwd=cwd)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def output(proc) -> str:
    return proc.stdout + proc.stderr




def snapshot(sc) -> dict:
    """What a failed or refused operation must leave exactly as it was."""
    listing = sc.instance.listing()
    # The fixture cache is not an operation's output: a failed restore may leave a verified entry.
    return {
        "files": {path: entry for path, entry in listing["files"].items()
                  if not path.startswith(MGR + "iris-ops-cache")},
        "config": listing["config"],
        "resources": listing["resources"],
        "mounted": listing["mounted"],
        "freeze": listing["frozen"],
    }


def staging_dirs(sc) -> list[str]:
    return sc.exec(["sh", "-c", f"ls -d {MGR}iris-ops-backup-* 2>/dev/null"])[1].decode().split()


def assert_same(before: dict, after: dict) -> None:
    assert after["config"] == before["config"], "iris.cpf changed"
    assert set(after["files"]) == set(before["files"]), (
        f"files of the instance changed: added {sorted(set(after['files']) - set(before['files']))}, "
        f"removed {sorted(set(before['files']) - set(after['files']))}")
    assert after["files"] == before["files"], "file contents, modes or owners changed"
    assert after["resources"] == before["resources"], "resources changed"
    assert after["mounted"] == before["mounted"], "mounts changed"
    assert after["freeze"] == before["freeze"], "freeze state changed"


def make_accounts(sc, ns="USER", rows=ROWS) -> None:
    inst = sc.instance
    inst.sql(ns, "CREATE TABLE Demo.Account (Name VARCHAR(50), Balance NUMERIC(10,2))")
    for name, balance in rows:
        inst.sql(ns, f"INSERT INTO Demo.Account (Name, Balance) VALUES ('{name}', {balance})")


def accounts(sc, ns) -> list[tuple[str, Decimal]]:
    res = sc.instance.sql(ns, "SELECT Name, Balance FROM Demo.Account ORDER BY Name")
    return [(str(r[0]), Decimal(str(r[1])).quantize(Decimal("0.01"))) for r in res.rows]


EXPECTED = [(n, Decimal(b)) for n, b in ROWS]


def manifest(fixture: Path) -> dict:
    return json.loads((fixture / "manifest.json").read_text())


def namespaces(sc) -> dict:
    return sc.instance.read_config()["Namespaces"]


def databases(sc) -> dict:
    return sc.instance.read_config()["Databases"]


@pytest.fixture
def user_fixture(sim_container, tmp_path) -> Path:
    make_accounts(sim_container)
    out = tmp_path / "fx"
    ok(cli(sim_container, "backup", "--ns", "USER", "--out", out))
    return out


# --- 1. round trip ------------------------------------------------------------------------------

def test_round_trip(sim_container, user_fixture):
    sc = sim_container
    m = manifest(user_fixture)
    assert m["tables"] == [{"name": "Demo.Account", "row_count": 3}]
    ok(cli(sc, "validate", "--src", user_fixture))
    proc = ok(cli(sc, "restore", "--src", user_fixture, "--ns", "NEW"))
    assert "Demo.Account" in proc.stdout
    assert accounts(sc, "NEW") == accounts(sc, "USER") == EXPECTED
    count = sc.instance.sql("NEW", "SELECT COUNT(*) FROM Demo.Account").rows[0][0]
    assert int(count) == 3
    assert namespaces(sc)["NEW"]["Globals"] == "NEW" == namespaces(sc)["NEW"]["Routines"]
    assert databases(sc)["NEW"]["Directory"] == MGR + "new/"
    assert sc.instance.check_integrity(MGR + "new/") == []


# --- 2. isolation -------------------------------------------------------------------------------

def test_isolation(sim_container, user_fixture):
    sc = sim_container
    sc.instance.sql("USER", "UPDATE Demo.Account SET Balance = 1 WHERE Name = 'Alice'")
    ok(cli(sc, "restore", "--src", user_fixture, "--ns", "NEW"))
    assert accounts(sc, "NEW") == EXPECTED  # the backup's state, not the later update
    sc.instance.sql("USER", "UPDATE Demo.Account SET Balance = 2 WHERE Name = 'Bob'")
    assert accounts(sc, "NEW") == EXPECTED
    sc.instance.sql("NEW", "UPDATE Demo.Account SET Balance = 999 WHERE Name = 'Charlie'")
    sc.instance.sql("NEW", "INSERT INTO Demo.Account (Name, Balance) VALUES ('Dave', 5)")
    assert accounts(sc, "USER") == [("Alice", Decimal("1.00")), ("Bob", Decimal("2.00")),
                                    ("Charlie", Decimal("300.25"))]
    assert len(accounts(sc, "NEW")) == 4


# --- 3. concurrent writes -----------------------------------------------------------------------

def test_backup_during_writes(sim_container, tmp_path):
    sc = sim_container
    sc.instance.sql("USER", "CREATE TABLE Demo.Counter (Id INT, N INT)")
    for i in range(20):
        sc.instance.sql("USER", f"INSERT INTO Demo.Counter (Id, N) VALUES ({i}, 0)")
    writer = sc.instance.start_writer("USER", "Demo.Counter", "N", interval=0.005)
    try:
        out = tmp_path / "fx"
        ok(cli(sc, "backup", "--ns", "USER", "--out", out))
    finally:
        updates = writer.stop()
    assert updates > 0, "the writer never ran"
    assert writer.errors == []
    assert not sc.instance.is_frozen()
    assert manifest(out)["tables"] == [{"name": "Demo.Counter", "row_count": 20}]
    ok(cli(sc, "validate", "--src", out))
    ok(cli(sc, "restore", "--src", out, "--ns", "COPY"))
    assert sc.instance.check_integrity(MGR + "copy/") == []
    rows = sc.instance.sql("COPY", "SELECT COUNT(*), MIN(N), MAX(N) FROM Demo.Counter").rows[0]
    assert int(rows[0]) == 20
    assert int(rows[1]) == int(rows[2]), "the copy caught a half-applied UPDATE"
    ok(cli(sc, "validate", "--src", out, "--online", "--ns", "COPY"))


# --- 4. separate databases ----------------------------------------------------------------------

def test_separate_databases(sim_container, tmp_path):
    sc = sim_container
    make_accounts(sc, "APP")
    out = tmp_path / "app"
    ok(cli(sc, "backup", "--ns", "APP", "--out", out))
    m = manifest(out)
    assert sorted(db["role"] for db in m["databases"]) == ["globals", "routines"]
    assert len(m["databases"]) == 2
    assert m["tables"] == [{"name": "Demo.Account", "row_count": 3}]
    ok(cli(sc, "validate", "--src", out))
    ok(cli(sc, "restore", "--src", out, "--ns", "T"))
    ns = namespaces(sc)["T"]
    assert (ns["Globals"], ns["Routines"]) == ("T_DATA", "T_CODE")
    dbs = databases(sc)
    assert dbs["T_DATA"]["Directory"] == MGR + "t_data/"
    assert dbs["T_CODE"]["Directory"] == MGR + "t_code/"
    proc = ok(cli(sc, "run", "--ns", "%SYS",
                  'Do ##class(Config.Namespaces).Get("T",.p) Write p("Globals"),"|",p("Routines")'))
    assert "T_DATA|T_CODE" in proc.stdout
    assert accounts(sc, "T") == EXPECTED
    for d in ("t_data/", "t_code/"):
        assert sc.instance.check_integrity(MGR + d) == []
    ok(cli(sc, "delete-ns", "--ns", "T", "--yes"))
    assert "T" not in namespaces(sc)
    assert not {"T_DATA", "T_CODE"} & set(databases(sc))
    assert not sc.exists(MGR + "t_data") and not sc.exists(MGR + "t_code")
    assert accounts(sc, "APP") == EXPECTED


# --- 5. corruption ------------------------------------------------------------------------------

def _append(p: Path):
    with open(p, "ab") as f:
        f.write(b"\0")


def _flip(p: Path):
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


def _truncate(p: Path):
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 4096 if len(data) > 8192 else len(data) // 2])


@pytest.mark.parametrize("damage", [_append, _flip, _truncate], ids=["append", "flip", "truncate"])
def test_corruption(sim_container, user_fixture, tmp_path, damage):
    sc = sim_container
    dat = user_fixture / "databases" / "USER" / "IRIS.DAT"
    assert dat.exists()
    expected_sha = manifest(user_fixture)["databases"][0]["sha256"]
    damage(dat)
    actual_sha = hashlib.sha256(dat.read_bytes()).hexdigest()
    assert actual_sha != expected_sha
    proc = cli(sc, "validate", "--src", user_fixture)
    assert proc.returncode == 4, output(proc)
    assert "databases/USER/IRIS.DAT" in output(proc)
    if damage is _flip:
        assert expected_sha in output(proc) and actual_sha in output(proc)
    before = snapshot(sc)
    proc = cli(sc, "restore", "--src", user_fixture, "--ns", "BROKEN")
    assert proc.returncode == 4, output(proc)
    assert "databases/USER/IRIS.DAT" in output(proc)
    assert "BROKEN" not in namespaces(sc)
    assert "BROKEN" not in databases(sc)
    assert_same(before, snapshot(sc))


# --- 6. conflict --------------------------------------------------------------------------------

def test_conflict_and_force(sim_container, user_fixture):
    sc = sim_container
    ok(cli(sc, "restore", "--src", user_fixture, "--ns", "NEW"))
    sc.instance.sql("NEW", "UPDATE Demo.Account SET Balance = 0")
    sc.instance.sql("NEW", "INSERT INTO Demo.Account (Name, Balance) VALUES ('Eve', 1)")
    before = snapshot(sc)
    proc = cli(sc, "restore", "--src", user_fixture, "--ns", "NEW")
    assert proc.returncode == 3, output(proc)
    assert "NEW" in output(proc)
    assert_same(before, snapshot(sc))
    assert len(accounts(sc, "NEW")) == 4
    ok(cli(sc, "restore", "--src", user_fixture, "--ns", "NEW", "--force", "--yes"))
    assert accounts(sc, "NEW") == EXPECTED
    # restored beside the old database (whose directory it was), which went once it was replaced
    directory = sc.instance.read_config()["Databases"]["NEW"]["Directory"]
    assert directory.startswith(MGR + "new-") and not sc.exists(MGR + "new/")
    assert sc.instance.check_integrity(directory) == []
    assert accounts(sc, "USER") == EXPECTED


def test_conflict_with_existing_directory(sim_container, user_fixture):
    sc = sim_container
    assert sc.exec(["mkdir", MGR + "other"])[0] == 0
    before = snapshot(sc)
    proc = cli(sc, "restore", "--src", user_fixture, "--ns", "OTHER")
    assert proc.returncode == 3, output(proc)
    assert "directory" in output(proc)
    assert_same(before, snapshot(sc))
    ok(cli(sc, "restore", "--src", user_fixture, "--ns", "OTHER", "--force", "--yes"))
    assert accounts(sc, "OTHER") == EXPECTED


# --- 7. rollback --------------------------------------------------------------------------------

INJECT = 'Throw ##class(%Exception.General).%New("iris-ops",5001,,"injected failure") '
_STEP = re.compile(r"Try \{ If n=\d+ \{ ")


class ScriptFailure:
    """Fails the first script containing ``marker``: ``before`` it runs (transport error),
    ``inside`` it (the step containing the marker throws; earlier steps ran), or ``after`` it
    ran completely (the reply was lost)."""

    def __init__(self, marker: str, mode: str) -> None:
        self.marker, self.mode, self.fired = marker, mode, 0
        self.pm = None

    @hookimpl(tryfirst=True)
    def run_objectscript(self, target, script, namespace, timeout):
        if self.fired or self.marker not in script:
            return None
        self.fired += 1
        if self.mode == "before":
            raise InstanceError(f"injected failure before {self.marker}")
        others = self.pm.subset_hook_caller("run_objectscript", remove_plugins=[self])
        if self.mode == "inside":
            at = script.index(self.marker)
            starts = [m.end() for m in _STEP.finditer(script, 0, at)]
            assert starts, "marker outside a step"
            script = script[: starts[-1]] + INJECT + script[starts[-1]:]
            return others(target=target, script=script, namespace=namespace, timeout=timeout)
        others(target=target, script=script, namespace=namespace, timeout=timeout)
        raise InstanceError(f"injected failure after {self.marker}")


RESTORE_MARKERS = [  # (a failed fill of the fixture cache costs a warning, not the restore)
    "Security.Resources).Create",
    "Config.Databases).Create",
    "SYS.Database).MountDatabase",
    "Config.Namespaces).Create",
    "SELECT COUNT(*)",
]


@pytest.mark.slow
@pytest.mark.parametrize("fixture_ns,drop_resources", [("USER", True), ("USER", False), ("APP", True)],
                         ids=["user-new-resource", "user-existing-resource", "app-new-resources"])
def test_restore_rollback(sim_container, tmp_path, inproc, fixture_ns, drop_resources):
    sc = sim_container
    make_accounts(sc, fixture_ns)
    out = tmp_path / "fx"
    code, _, err = inproc("backup", "--ns", fixture_ns, "--out", out)
    assert code == 0, err
    # Make the restore create the label's resources, so their undo is exercised too.
    resources = [db["resource"] for db in manifest(out)["databases"]]
    if drop_resources:
        for r in resources:
            sc.instance.delete_resource(r)
    # Every step fails in every way on the namespace with two databases and new resources (the
    # most undo to do), and so does every file write; the other two fixtures fail inside the steps
    # where their undo differs (one database; a resource that existed already).
    everything = fixture_ns == "APP"
    # The one-database fixtures differ from APP in the resource's undo (new, or there already)
    # and in how much there is to undo: the resource step and the last step show both.
    markers = RESTORE_MARKERS if everything else [RESTORE_MARKERS[0], RESTORE_MARKERS[-1]]
    # A step that throws inside the instance, its earlier steps done.  A session or a file write
    # that fails as a whole (the connection cut, the engine gone, the instance's disk full) is
    # made to happen for real by the fault matrix (tests/reliability), at restore's steps and writes.
    cases = [ScriptFailure(m, "inside") for m in markers]
    before = snapshot(sc)  # every failed restore must come back to exactly this
    for failure in cases:
        with plugin(failure) as pm:
            failure.pm = pm
            code, stdout, stderr = inproc("restore", "--src", out, "--ns", "ROLL")
        label = f"{type(failure).__name__}({getattr(failure, 'marker', getattr(failure, 'suffix', ''))!r}, {failure.mode})"
        assert failure.fired, f"{label}: never triggered"
        assert code == 5, f"{label}: exit {code}\n{stderr}"
        assert "rollback incomplete" not in stderr, f"{label}: {stderr}"
        assert "ROLL" not in namespaces(sc), label
        after = snapshot(sc)
        try:
            assert_same(before, after)
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from None
    # and with nothing injected it works
    code, _, err = inproc("restore", "--src", out, "--ns", "ROLL")
    assert code == 0, err
    assert accounts(sc, "ROLL") == EXPECTED


# --- 8. delete ----------------------------------------------------------------------------------

def test_delete_ns(sim_container, user_fixture):
    sc = sim_container
    before = snapshot(sc)
    ok(cli(sc, "restore", "--src", user_fixture, "--ns", "NEW"))
    assert sc.exists(MGR + "new/IRIS.DAT")
    proc = cli(sc, "delete-ns", "--ns", "NEW")  # no --yes, stdin not a TTY
    assert proc.returncode == 2, output(proc)
    assert "NEW" in namespaces(sc)
    ok(cli(sc, "delete-ns", "--ns", "NEW", "--yes"))
    assert "NEW" not in namespaces(sc)
    assert "NEW" not in databases(sc)
    assert sc.instance.mount_info(MGR + "new/") is None
    assert not sc.exists(MGR + "new")
    assert_same(before, snapshot(sc))
    assert accounts(sc, "USER") == EXPECTED
    proc = ok(cli(sc, "delete-ns", "--ns", "NEW", "--yes"))
    assert "nothing to delete" in proc.stdout
    proc = cli(sc, "delete-ns", "--ns", "%SYS", "--yes")
    assert proc.returncode == 3, output(proc)
    assert "%SYS" in namespaces(sc)


def test_delete_keeps_shared_database(sim_container):
    sc = sim_container
    sc.instance.create_namespace("ALIAS", "USER", "USER")
    ok(cli(sc, "delete-ns", "--ns", "ALIAS", "--yes"))
    assert "ALIAS" not in namespaces(sc)
    assert "USER" in databases(sc) and sc.exists(MGR + "user/IRIS.DAT")


def test_resource_shared_by_two_restores_outlives_the_first_delete(sim_container, tmp_path):
    sc = sim_container
    make_accounts(sc, "APP")
    out = tmp_path / "fx"
    ok(cli(sc, "backup", "--ns", "APP", "--out", out))
    ok(cli(sc, "delete-ns", "--ns", "APP", "--yes"))
    resources = [db["resource"] for db in manifest(out)["databases"]]
    for r in resources:  # as on an instance that never had APP
        sc.instance.delete_resource(r)
    ok(cli(sc, "restore", "--src", out, "--ns", "T1"))  # creates the label's resources
    ok(cli(sc, "restore", "--src", out, "--ns", "T2"))  # finds them
    first = ok(cli(sc, "delete-ns", "--ns", "T1", "--yes"))
    assert "still named by T2_" in first.stdout
    assert all(r in sc.instance.resources() for r in resources)
    assert accounts(sc, "T2") == EXPECTED
    second = ok(cli(sc, "delete-ns", "--ns", "T2", "--yes"))
    assert second.stdout.count("(created by restore, no longer used)") == len(resources)
    assert not any(r in sc.instance.resources() for r in resources)


def test_delete_keeps_resources_it_did_not_create(sim_container, user_fixture):
    sc = sim_container
    ok(cli(sc, "restore", "--src", user_fixture, "--ns", "NEW"))  # %DB_USER already existed
    ok(cli(sc, "delete-ns", "--ns", "NEW", "--yes"))
    assert "%DB_USER" in sc.instance.resources()


# --- 9. iris-devtester compatibility ------------------------------------------------------------

def test_devtester_fixture(sim_container, user_fixture, tmp_path):
    sc = sim_container
    ours = manifest(user_fixture)
    dev = tmp_path / "devtester"
    dev.mkdir()
    shutil.copyfile(user_fixture / ours["databases"][0]["file"], dev / "IRIS.DAT")
    sha = hashlib.sha256((dev / "IRIS.DAT").read_bytes()).hexdigest()
    (dev / "manifest.json").write_text(json.dumps({
        "fixture_id": "demo-accounts",
        "version": "1.0.0",
        "schema_version": "1.0",
        "description": "exported by iris-devtester",
        "created_at": "2025-10-14T15:30:00.123456+00:00Z",
        "iris_version": "2024.1",
        "namespace": "USER",
        "dat_file": "IRIS.DAT",
        "checksum": f"sha256:{sha}",
        "tables": [{"name": "Demo.Account", "row_count": 3}],
    }, indent=2))
    ok(cli(sc, "validate", "--src", dev))
    ok(cli(sc, "restore", "--src", dev, "--ns", "DEV"))
    assert accounts(sc, "DEV") == EXPECTED
    # a wrong checksum is caught
    (dev / "manifest.json").write_text((dev / "manifest.json").read_text().replace(sha, "0" * 64))
    proc = cli(sc, "validate", "--src", dev)
    assert proc.returncode == 4, output(proc)


# --- 10. backup edge cases ----------------------------------------------------------------------

def test_backup_refusals(sim_container, tmp_path):
    sc = sim_container
    proc = cli(sc, "backup", "--ns", "NOPE", "--out", tmp_path / "a")
    assert proc.returncode == 2, output(proc)
    proc = cli(sc, "backup", "--ns", "%SYS", "--out", tmp_path / "b")
    assert proc.returncode == 3, output(proc)
    existing = tmp_path / "c"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    proc = cli(sc, "backup", "--ns", "USER", "--out", existing)
    assert proc.returncode == 3, output(proc)
    assert (existing / "keep.txt").read_text() == "mine"
    proc = cli(sc, "backup", "--ns", "USER", "--out", existing, "--force", "--yes")  # not a fixture
    assert proc.returncode == 3 and "1 entry: keep.txt" in proc.stderr, output(proc)
    assert (existing / "keep.txt").read_text() == "mine"
    (existing / "keep.txt").unlink()
    existing.rmdir()
    ok(cli(sc, "backup", "--ns", "USER", "--out", existing))
    ok(cli(sc, "backup", "--ns", "USER", "--out", existing, "--force", "--yes"))
    assert (existing / "manifest.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
    assert not staging_dirs(sc)


def test_backup_empty_namespace(sim_container, tmp_path):
    sc = sim_container
    out = tmp_path / "empty"
    ok(cli(sc, "backup", "--ns", "APP", "--out", out))
    assert manifest(out)["tables"] == []
    ok(cli(sc, "validate", "--src", out))
    ok(cli(sc, "restore", "--src", out, "--ns", "EMPTY"))
    assert ("EMPTY_DATA", "EMPTY_CODE") == (namespaces(sc)["EMPTY"]["Globals"], namespaces(sc)["EMPTY"]["Routines"])


class ReadFailure:
    @hookimpl(tryfirst=True)
    def read_file(self, target, path, dest, timeout):
        if "iris-ops-backup-" in path:
            dest.write(b"partial")
            raise InstanceError(f"injected read failure {path}")
        return None


@pytest.mark.parametrize("failure", ["read_file", "copy_script", "dismount_copy", "freeze_reply_lost",
                                     "count_while_frozen"])
def test_failed_backup_leaves_nothing(sim_container, tmp_path, inproc, failure):
    sc = sim_container
    make_accounts(sc)
    work = tmp_path / "work"
    work.mkdir()
    out = work / "fx"
    before = snapshot(sc)
    if failure == "read_file":
        injected, args = ReadFailure(), ()
    elif failure == "copy_script":
        injected, args = ScriptFailure("CopyFile", "inside"), ()
    elif failure == "dismount_copy":
        injected, args = ScriptFailure("CopyFile", "inside"), ("--dismount",)
    elif failure == "freeze_reply_lost":
        injected, args = ScriptFailure("ExternalFreeze", "after"), ()
    else:
        injected, args = ScriptFailure("SELECT COUNT(*)", "inside"), ()
    with plugin(injected) as pm:
        injected.pm = pm
        code, _, err = inproc("backup", "--ns", "USER", "--out", out, *args)
    assert getattr(injected, "fired", 1), "the failure was never injected"
    assert code == 5, err
    assert list(work.iterdir()) == [], "something left on the host"
    assert not staging_dirs(sc), "staging directory left in the container"
    assert not sc.instance.is_frozen()
    code, stdout, err = inproc("run", "--ns", "%SYS", "Write \"WD=\",##class(Backup.General).IsWDSuspended()")
    assert code == 0, err
    assert "WD=0" in stdout
    after = snapshot(sc)
    assert_same(before, after)
    for d, m in after["mounted"].items():
        assert not m.get("readonly"), d


# --- 11. veto and plugin findings ---------------------------------------------------------------

class Veto:
    @hookimpl
    def pre_backup(self, operation, namespace, out):
        raise VetoedError(f"backups of {namespace} are vetoed by policy")


class ExtraCheck:
    @hookimpl
    def validate(self, operation, fixture, online, namespace):
        from iris_ops.fixture import Finding

        return [Finding(file="policy", check="naming-policy", ok=False, expected="prefix fx-",
                        actual=fixture.manifest.fixture_id, message="fixture id policy")]


def test_veto_and_plugin_findings(sim_container, user_fixture, tmp_path, inproc):
    sc = sim_container
    out = tmp_path / "vetoed"
    before = snapshot(sc)
    with plugin(Veto()):
        code, _, err = inproc("backup", "--ns", "USER", "--out", out)
    assert code == 3, err
    assert "vetoed" in err
    assert not out.exists()
    assert_same(before, snapshot(sc))
    code, stdout, _ = inproc("validate", "--src", user_fixture, "--json")
    assert code == 0
    assert json.loads(stdout)["ok"] is True
    with plugin(ExtraCheck()):
        code, stdout, err = inproc("validate", "--src", user_fixture, "--json")
    assert code == 4, err
    report = json.loads(stdout)
    assert report["ok"] is False
    assert any(f["check"] == "naming-policy" and f["file"] == "policy" and not f["ok"] for f in report["findings"])
    assert any(f["ok"] for f in report["findings"])  # the built-in checks are still there


# --- 12. run, unreachable, dry runs -------------------------------------------------------------

def test_run(sim_container):
    sc = sim_container
    proc = ok(cli(sc, "run", "--ns", "%SYS", "Write $ZVersion"))
    assert sc.instance.version in proc.stdout
    proc = cli(sc, "run", "--ns", "USER", "Write \"before\",!\nWrite x\nWrite \"after\",!")
    assert proc.returncode == 5, output(proc)
    assert "<UNDEFINED>" in output(proc)
    assert "before" in proc.stdout and "after" not in proc.stdout
    proc = cli(sc, "run", "--ns", "%SYS", "Write 1", IRIS_OPS_CONTAINER="nope")
    assert proc.returncode == 6, output(proc)


def test_dry_runs(sim_container, user_fixture, tmp_path):
    sc = sim_container
    ok(cli(sc, "restore", "--src", user_fixture, "--ns", "NEW"))
    before = snapshot(sc)
    out = tmp_path / "dry"
    proc = ok(cli(sc, "backup", "--ns", "USER", "--out", out, "--dry-run"))
    assert "ExternalFreeze" in proc.stdout and "CopyFile" in proc.stdout
    assert not out.exists()
    proc = ok(cli(sc, "restore", "--src", user_fixture, "--ns", "DRY", "--dry-run"))
    assert "Config.Databases).Create" in proc.stdout and "Config.Namespaces).Create" in proc.stdout
    assert "DRY" not in namespaces(sc)
    proc = ok(cli(sc, "restore", "--src", user_fixture, "--ns", "NEW", "--force", "--dry-run"))
    assert "Config.Namespaces).Delete" in proc.stdout
    proc = ok(cli(sc, "delete-ns", "--ns", "NEW", "--dry-run"))
    assert "Config.Namespaces).Delete" in proc.stdout
    assert "NEW" in namespaces(sc)
    assert_same(before, snapshot(sc))
    assert accounts(sc, "NEW") == EXPECTED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fx"]
