"""Issue 9, point 9: version awareness.  The source $ZVERSION is recorded and parsed; a restore
into an older IRIS warns; a version whose ExternalFreeze lacks the arguments the freeze script
passes is refused clearly.  Through the CLI, and the parser on its own."""

from __future__ import annotations

import pytest

from clihelp import cli, events, fails, manifest, ok
from iris_ops import versions

OLDER = "IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2023.1 (Build 229U) Fri Apr 14 2023 17:37:52 EDT"
NO_LIMIT = "LogFile,Text,SwitchJournalFile,TimeOut,Hibernate,Verbose,ExternalFreezeTimeOut,Username,Password,RequiredFile"


@pytest.mark.parametrize("zv,expected", [
    ("IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2024.1 (Build 263U) Wed Mar 13 2024 15:21:28 EDT",
     ("IRIS", "2024.1", "263U")),
    ("IRIS for UNIX (Ubuntu Server 22.04 LTS for ARM64 Containers) 2024.1.2 (Build 398U) Thu Oct 3 2024 14:29:04 EDT",
     ("IRIS", "2024.1.2", "398U")),
    ("IRIS for Windows (x86-64) 2022.1.4 (Build 812_0_23178U) Thu Mar 14 2024 12:53:58 EDT",
     ("IRIS", "2022.1.4", "812_0_23178U")),
    ("Cache for UNIX (Red Hat Enterprise Linux for x86-64) 2018.1.4 (Build 505_1U) Thu May 28 2020 10:01:40 EDT",
     ("Cache", "2018.1.4", "505_1U")),
])
def test_zversion_is_parsed_into_product_version_and_build(zv, expected):
    parsed = versions.parse(zv)
    assert (parsed.product, parsed.version, parsed.build) == expected


def test_versions_compare_by_number_then_build():
    a, b = versions.parse(OLDER), versions.parse(OLDER.replace("2023.1 (Build 229U)", "2024.1 (Build 263U)"))
    assert a.older_than(b) and not b.older_than(a)
    assert versions.parse("not a version") is None


def test_backup_records_the_source_version(sim_container, tmp_path):
    ok(cli(sim_container, "backup", "--ns", "USER", "--out", tmp_path / "fx"))
    source = manifest(tmp_path / "fx")["source"]
    assert source["iris_version"] == sim_container.instance.version
    assert (source["product"], source["version"], source["build"]) == ("IRIS", "2024.1", "263U")


def test_restoring_into_an_older_iris_warns(sim_container, tmp_path):
    sc = sim_container
    ok(cli(sc, "backup", "--ns", "USER", "--out", tmp_path / "fx"))
    same = ok(cli(sc, "restore", "--src", tmp_path / "fx", "--ns", "SAME"))
    assert not any(e["event"] == "restore.older_target" for e in events(same))
    sc.instance.set_version(OLDER)  # iris-sim set-version
    proc = ok(cli(sc, "restore", "--src", tmp_path / "fx", "--ns", "OLDER"))
    [warning] = [e for e in events(proc) if e["event"] == "restore.older_target"]
    assert "2023.1" in warning["target"] and "2024.1" in warning["source"] and "not guaranteed" in warning["note"]


def test_a_version_without_the_freeze_arguments_is_refused_clearly(sim_container, tmp_path):
    sc = sim_container
    sc.instance.set_version(OLDER, NO_LIMIT.split(","))  # iris-sim set-version --freeze-args ...
    proc = fails(cli(sc, "backup", "--ns", "USER", "--out", tmp_path / "fx"), 5)
    assert "no WDSuspendLimit argument" in proc.stderr and "2023.1" in proc.stderr and "--dismount" in proc.stderr
    assert not (tmp_path / "fx").exists()
    ok(cli(sc, "backup", "--ns", "USER", "--out", tmp_path / "fx", "--dismount"))


def test_a_version_is_not_older_than_itself_and_the_build_breaks_ties():
    a = versions.parse(OLDER)
    assert not a.older_than(a)
    later_build = versions.parse(OLDER.replace("Build 229U", "Build 230U"))
    assert a.older_than(later_build) and not later_build.older_than(a)
    assert versions.parse(OLDER.replace("2023.1 ", "2023.1.0.0 ")).key == a.key
    assert str(a) == "IRIS 2023.1 (Build 229U)"
    assert versions.parse(None) is None and versions.parse("") is None
