"""Issue 9, point 4: databases iris-ops cannot copy faithfully are refused before any change
(exit 3, with the reason); the manifest records what was checked, and what a restore does not
recreate (mappings, interoperability) is recorded and reported.  Through the CLI."""

from __future__ import annotations

import pytest

from clihelp import cli, events, fails, manifest, objectscript, ok


@pytest.mark.parametrize("seed,reason", [
    ({"encrypted": True}, "encrypted (EncryptedDB=1)"),
    ({"volumes": 2}, "multi-volume database (MultiVolume=1)"),
    ({"mirrored": True}, "mirrored (Mirrored=1)"),
    ({"block_size": 16384}, "block size is 16384"),
    ({"stream_files": True}, "file streams outside IRIS.DAT"),
], ids=["encrypted", "multi-volume", "mirrored", "block-size", "file-streams"])
def test_databases_that_cannot_be_copied_faithfully_are_refused(sim_container, tmp_path, seed, reason):
    sc = sim_container
    sc.instance.create_database("ODD", **seed)  # iris-sim create-db --encrypted / --volumes 2 / ...
    sc.instance.create_namespace("ODD", "ODD")
    proc = fails(cli(sc, "backup", "--ns", "ODD", "--out", tmp_path / "fx"), 3)
    assert reason in proc.stderr and "ODD" in proc.stderr
    assert not (tmp_path / "fx").exists()
    assert objectscript(sc, "Write ##class(Backup.General).IsWDSuspended()") == "0"  # refused before the freeze


def test_the_manifest_records_what_was_checked(sim_container, tmp_path):
    sc = sim_container
    ok(cli(sc, "backup", "--ns", "APP", "--out", tmp_path / "fx"))
    for db in manifest(tmp_path / "fx")["databases"]:
        assert db["checks"] == {"encrypted": 0, "multi_volume": 0, "mirrored": 0, "block_size": 8192,
                                "stream_files": False}


def test_mappings_and_interoperability_are_recorded_and_reported_as_not_restored(sim_container, tmp_path):
    sc = sim_container
    objectscript(sc, 'Set p("Database")="APP_DATA" Set sc=##class(Config.MapGlobals).Create("USER","Shared",.p) '
                     "If 'sc { Throw ##class(%Exception.StatusException).CreateFromStatus(sc) }")
    objectscript(sc, 'Set p("Database")="APP_CODE" Set sc=##class(Config.MapPackages).Create("USER","Lib",.p) '
                     "If 'sc { Throw ##class(%Exception.StatusException).CreateFromStatus(sc) }")
    objectscript(sc, 'Set p("Interop")=1 Set sc=##class(Config.Namespaces).Modify("USER",.p) '
                     "If 'sc { Throw ##class(%Exception.StatusException).CreateFromStatus(sc) }")
    fx = tmp_path / "fx"
    backup = ok(cli(sc, "backup", "--ns", "USER", "--out", fx))
    m = manifest(fx)
    assert m["namespace"]["mappings"]["globals"] == [{"name": "Shared", "database": "APP_DATA"}]
    assert m["namespace"]["mappings"]["packages"] == [{"name": "Lib", "database": "APP_CODE"}]
    assert "global mapping Shared -> APP_DATA" in m["not_restored"]
    assert "package mapping Lib -> APP_CODE" in m["not_restored"]
    assert any(item.startswith("interoperability") for item in m["not_restored"])
    assert "not restored by a restore: global mapping Shared -> APP_DATA" in backup.stdout
    restored = ok(cli(sc, "restore", "--src", fx, "--ns", "COPY"))
    assert "not restored: global mapping Shared -> APP_DATA" in restored.stdout
    assert any(e["event"] == "restore.not_restored" for e in events(restored))
    assert sc.instance.read_config()["Maps"].get("COPY", {}) == {}
