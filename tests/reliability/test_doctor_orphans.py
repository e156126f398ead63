"""Issue 20 point 7: a database delete-ns kept because a mapping used it becomes an orphan once
the mapping goes.  `doctor` reports a database an iris-ops restore created that nothing uses any
more, and `--fix` removes it as delete-ns would (configuration, mount, file, directory, the
resource the restore made); a database iris-ops did not create is never reported."""

from __future__ import annotations

import json
import re

import pytest

from clihelp import cli, ok
from cli_helpers import plugin
from iris_ops_sim.faults import Fault
from reliability.conftest import comparable, leftovers_in

MGR = "/usr/irissys/mgr/"


def _doctor(rel_cli, *flags):
    code, out, err = rel_cli("doctor", "--json", *flags)
    return code, json.loads(out), err


def _run(rel_cli, code: str) -> None:
    status, _, err = rel_cli("run", "--ns", "%SYS", code + " If 'sc { Throw ##class(%Exception.StatusException).CreateFromStatus(sc) }")
    assert status == 0, err


@pytest.fixture(scope="module")
def fixture_dir(shared_sim, tmp_path_factory):
    """A one-database fixture whose label names %DB_ORPHRES, a resource the instance then lacks
    (so that a restore creates it)."""
    sc = shared_sim
    sc.instance.create_database("ORPHSRC", namespace="ORPHSRC", resource="%DB_ORPHRES")
    sc.instance.sql("ORPHSRC", "CREATE TABLE Demo.T (N INT)")
    sc.instance.sql("ORPHSRC", "INSERT INTO Demo.T (N) VALUES (1)")
    out = tmp_path_factory.mktemp("fx") / "ORPHSRC"
    ok(cli(sc, "backup", "--ns", "ORPHSRC", "--out", out))
    ok(cli(sc, "delete-ns", "--ns", "ORPHSRC", "--yes"))
    assert sc.instance.delete_resource("%DB_ORPHRES")
    return out


def test_a_database_kept_for_a_mapping_is_an_orphan_once_the_mapping_goes(shared_sim, rel_cli, fixture_dir):
    sc = shared_sim
    before, resources_before = sc.instance.listing(), sc.instance.resources()
    code, _, err = rel_cli("restore", "--src", fixture_dir, "--ns", "ORPH")
    assert code == 0, err
    directory = sc.instance.read_config()["Databases"]["ORPH"]["Directory"]
    assert "%DB_ORPHRES" in sc.instance.resources()
    _run(rel_cli, 'Set p("Database")="ORPH" Set sc=##class(Config.MapGlobals).Create("USER","Borrowed",.p)')
    code, out, err = rel_cli("delete-ns", "--ns", "ORPH", "--yes")
    assert code == 0, err
    assert re.search(r"ORPH\s+kept \(needed by global mapping Borrowed in namespace USER\)", out)
    code, doc, err = _doctor(rel_cli)
    assert code == 0 and doc["findings"] == [], err  # still used: not an orphan

    _run(rel_cli, 'Set sc=##class(Config.MapGlobals).Delete("USER","Borrowed")')
    code, out, err = rel_cli("doctor")
    assert code == 4, err
    assert re.search(rf"orphan-db\s+ORPH \({re.escape(directory)}\)\s+a database an iris-ops restore created, which no "
                     "namespace, mapping or other database uses any more", out), out
    assert "resource %DB_ORPHRES" in out
    code, doc, err = _doctor(rel_cli, "--fix", "--yes")
    assert code == 0, err
    assert [r["kind"] for r in doc["repaired"]] == ["orphan-db"]
    assert "ORPH" not in sc.instance.read_config()["Databases"]
    assert not sc.exists(directory)
    assert sc.instance.resources() == resources_before  # the resource the restore made went too
    after = sc.instance.listing()
    assert leftovers_in(after) == [] and comparable(after) == comparable(before)
    code, doc, err = _doctor(rel_cli)
    assert code == 0 and doc["findings"] == [], err


def test_a_database_iris_ops_did_not_create_is_never_reported(shared_sim, rel_cli):
    """Unused databases: one made by someone else, and one whose directory holds a provenance
    file naming another database (a copied directory, say): neither is iris-ops' to remove."""
    sc = shared_sim
    sc.instance.create_database("LONER")
    copied = sc.instance.create_database("COPYCAT")
    marker = json.dumps({"tool": "iris-ops", "fixture": "x", "database": "ORIGINAL"})
    code, _, err = sc.exec(["sh", "-c", f"printf '%s' '{marker}' > {copied}iris-ops-restore.json"])
    assert code == 0, err
    code, doc, err = _doctor(rel_cli, "--fix", "--yes")
    assert code == 0 and doc["findings"] == [] and doc["repaired"] == [], err
    assert {"LONER", "COPYCAT"} <= set(sc.instance.read_config()["Databases"])
    assert sc.instance.check_integrity(copied) == []


def test_a_half_done_delete_ns_is_one_finding_not_an_orphan(shared_sim, rel_cli, tmp_path):
    """delete-ns stopped after the namespace went (the instance refused a DeleteDatabase): its
    other database, unused now, belongs to the delete-ns finding, which --fix finishes."""
    sc = shared_sim
    before = sc.instance.listing()
    ok(cli(sc, "backup", "--ns", "APP", "--out", tmp_path / "app"))
    code, _, err = rel_cli("restore", "--src", tmp_path / "app", "--ns", "HALF")
    assert code == 0, err
    failing = Fault("status", "##class(SYS.Database).DeleteDatabase(")
    with plugin(failing) as pm:
        failing.pm = pm
        code, _, err = rel_cli("delete-ns", "--ns", "HALF", "--yes")
    assert failing.fired and code == 5, err
    assert "HALF_CODE" in sc.instance.read_config()["Databases"]  # unused, and its delete is pending
    code, doc, _ = _doctor(rel_cli)
    assert code == 4 and [f["kind"] for f in doc["findings"]] == ["delete-ns"], doc
    code, doc, err = _doctor(rel_cli, "--fix", "--yes")
    assert code == 0, err
    after = sc.instance.listing()
    assert leftovers_in(after) == [] and comparable(after) == comparable(before)
