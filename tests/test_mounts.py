"""Issue 9, point 5: mount and dismount as IRIS does them.  MountDatabase of a mounted database
is an error, so nothing mounts what is mounted; the dismount mode remounts only what it
dismounted; restored databases end up mounted read-write.  Through the CLI."""

from __future__ import annotations

import json

from clihelp import cli, events, objectscript, ok

MGR = "/usr/irissys/mgr/"


def mounted(sc, directory: str) -> str:
    return objectscript(sc, f'Write ##class(SYS.Database).%OpenId("{directory}").Mounted')


def test_mounting_a_mounted_database_fails_on_the_instance(sim_container):
    out = objectscript(sim_container, f'Write $SYSTEM.Status.GetErrorText(##class(SYS.Database).MountDatabase("{MGR}user/"))')
    assert "already mounted" in out


def test_dismount_mode_remounts_only_what_it_dismounted(sim_container, tmp_path):
    sc = sim_container
    sc.instance.sql("APP", "CREATE TABLE Demo.T (N INT)")
    objectscript(sc, f'Set sc=##class(SYS.Database).DismountDatabase("{MGR}app_code/") '
                     "If 'sc { Throw ##class(%Exception.StatusException).CreateFromStatus(sc) }")
    proc = ok(cli(sc, "backup", "--ns", "APP", "--out", tmp_path / "fx", "--dismount"))
    assert mounted(sc, f"{MGR}app_data/") == "1"
    assert mounted(sc, f"{MGR}app_code/") == "0", "the backup mounted a database it had not dismounted"
    assert json.loads((tmp_path / "fx" / "manifest.json").read_text())["tables"] == [{"name": "Demo.T", "row_count": 0}]
    assert any(e["event"] == "backup.copied_in_instance" for e in events(proc))


def test_restored_databases_are_mounted_read_write(sim_container, tmp_path):
    sc = sim_container
    ok(cli(sc, "backup", "--ns", "APP", "--out", tmp_path / "fx"))
    ok(cli(sc, "restore", "--src", tmp_path / "fx", "--ns", "COPY"))
    check = json.loads(ok(cli(sc, "validate", "--src", tmp_path / "fx", "--online", "--ns", "COPY", "--json")).stdout)
    assert [f["ok"] for f in check["findings"] if f["check"] == "mounted-rw"] == [True, True]
