"""What the delete-ns scripts remove, and what they leave, run on a simulated instance
(tests/inproc_sim.py): each step tolerates what is already gone, and a resource goes only when
iris-ops restore created it and no database of any namespace still names it."""

from __future__ import annotations

import pytest

from inproc_sim import sim  # noqa: F401 - sim is a fixture
from iris_ops import script_builders as scripts
from iris_ops.errors import ScriptError

MGR = "/usr/irissys/mgr/"


def _restored(sim, ns: str, resource: str) -> None:
    """A namespace as restore leaves it: <NS>_DATA and <NS>_CODE, labelled with ``resource``."""
    for suffix in ("DATA", "CODE"):
        sim.instance.create_database(f"{ns}_{suffix}", resource=resource)
    sim.instance.create_namespace(ns, f"{ns}_DATA", f"{ns}_CODE")


def test_delete_namespace_reports_whether_there_was_one(sim):
    assert sim.run(scripts.delete_namespace("app"))["deleted"] == 1
    assert "APP" not in sim.config()["Namespaces"]
    assert sim.run(scripts.delete_namespace("APP"))["deleted"] == 0


def test_delete_database_in_the_documented_order_and_again_when_gone(sim):
    sim.run(scripts.delete_namespace("APP"))
    done = sim.run(scripts.delete_database("APP_CODE", MGR + "app_code"))
    assert {k: done[k] for k in ("configured", "dismounted", "deleted_file", "removed_directory")} == \
        {"configured": 1, "dismounted": 1, "deleted_file": 1, "removed_directory": 1}
    assert "APP_CODE" not in sim.config()["Databases"] and not sim.mounted(MGR + "app_code/")
    assert not sim.host(MGR + "app_code").exists()
    again = sim.run(scripts.delete_database("APP_CODE", MGR + "app_code/"))
    assert {k: again[k] for k in ("configured", "dismounted", "deleted_file", "removed_directory")} == \
        {"configured": 0, "dismounted": 0, "deleted_file": 0, "removed_directory": 0}


def test_delete_database_keeping_its_files(sim):
    sim.run(scripts.delete_namespace("APP"))
    sim.instance.dismount(MGR + "app_data/")
    done = sim.run(scripts.delete_database("APP_DATA", MGR + "app_data/", keep_files=True))
    assert (done["configured"], done["dismounted"]) == (1, 0)
    assert "deleted_file" not in done and "removed_directory" not in done
    assert sim.host(MGR + "app_data/IRIS.DAT").is_file()
    assert "APP_DATA" not in sim.config()["Databases"]


def test_a_directory_that_cannot_be_removed_fails_its_step(sim):
    sim.run(scripts.delete_namespace("APP"))
    sim.put(MGR + "app_code/keep/x", b"")
    sim.host(MGR + "app_code/keep/x").chmod(0o400)
    sim.host(MGR + "app_code/keep").chmod(0o500)
    try:
        with pytest.raises(ScriptError) as caught:
            sim.run(scripts.delete_database("APP_CODE", MGR + "app_code/"))
    finally:
        sim.host(MGR + "app_code/keep").chmod(0o700)
    assert caught.value.details["step"] == "directory"
    assert f"cannot remove {MGR}app_code/" in str(caught.value)


def test_delete_all_removes_the_namespace_its_databases_and_the_resources_restore_made(sim):
    sim.run(scripts.ensure_resource("%DB_T1"))
    _restored(sim, "T1", "%DB_T1")
    done = sim.run(scripts.delete_all("t1", [("T1_DATA", MGR + "t1_data/", "%DB_T1"),
                                             ("T1_CODE", MGR + "t1_code/", "%DB_T1")]))
    assert done["namespace_deleted"] == 1
    every = {"configured": 1, "dismounted": 1, "deleted_file": 1, "removed_directory": 1}
    assert done["databases"] == {"T1_DATA": every, "T1_CODE": every}
    assert done["resources"] == {"%DB_T1": {"outcome": "deleted-with-role", "users": []}}
    assert "%DB_T1" not in sim.resources() and "%DB_T1" not in sim.roles()
    assert not sim.host(MGR + "t1_data").exists() and not sim.host(MGR + "t1_code").exists()
    assert "T1" not in sim.config()["Namespaces"]
    again = sim.run(scripts.delete_all("T1", [("T1_DATA", MGR + "t1_data/", "%DB_T1")], keep_files=True))
    assert again["namespace_deleted"] == 0
    assert again["databases"] == {"T1_DATA": {"configured": 0, "dismounted": 0}}
    assert again["resources"] == {"%DB_T1": {"outcome": "absent", "users": []}}


def test_delete_all_keeps_resources_it_did_not_make_or_that_are_still_used(sim):
    sim.session('Write ##class(Security.Roles).Create("%DB_MINE","theirs","")')
    sim.run(scripts.ensure_resource("%DB_MINE"))  # ours, without the role (that one is theirs)
    sim.run(scripts.ensure_resource("%DB_SHARED"))
    sim.session('Write ##class(Security.Resources).Create("%DB_THEIRS","made by hand","")')
    _restored(sim, "T1", "%DB_SHARED")
    sim.instance.create_database("T2_DATA", resource="%DB_MINE")
    sim.instance.create_database("T3_DATA", resource="%DB_THEIRS")
    sim.instance.create_database("T4_DATA", resource="%DB_SHARED")
    sim.instance.create_namespace("T2", "T2_DATA", "T3_DATA")
    done = sim.run(scripts.delete_all("T2", [("T2_DATA", MGR + "t2_data/", "%DB_MINE"),
                                             ("T3_DATA", MGR + "t3_data/", "%DB_THEIRS"),
                                             ("T4_DATA", MGR + "t4_data/", "%DB_SHARED"),
                                             ("X", MGR + "x/", "%DB_%DEFAULT"), ("Y", MGR + "y/", "")],
                                     keep_files=True))
    assert done["resources"] == {
        "%DB_MINE": {"outcome": "deleted", "users": []},
        "%DB_THEIRS": {"outcome": "not-ours", "users": []},
        "%DB_SHARED": {"outcome": "in-use", "users": ["T1_DATA", "T1_CODE"]},
    }
    assert "%DB_MINE" not in sim.resources() and "%DB_MINE" in sim.roles()
    assert "%DB_THEIRS" in sim.resources() and "%DB_SHARED" in sim.resources() and "%DB_SHARED" in sim.roles()
    assert done["databases"]["X"] == {"configured": 0, "dismounted": 0}


def test_file_exists_and_remove_file(sim):
    assert sim.run(scripts.file_exists(MGR + "user/IRIS.DAT"))["exists"] == 1
    assert sim.run(scripts.file_exists(MGR + "iris-ops-delete-T1.json"))["exists"] == 0
    sim.put(MGR + "iris-ops-delete-T1.json", b"{}")
    assert sim.run(scripts.remove_file(MGR + "iris-ops-delete-T1.json"))["removed"] == 1
    assert not sim.host(MGR + "iris-ops-delete-T1.json").exists()
    assert sim.run(scripts.remove_file(MGR + "iris-ops-delete-T1.json"))["removed"] == 0


def test_a_file_that_cannot_be_removed_fails_with_its_name(sim):
    sim.put(MGR + "held/iris-ops-delete-T1.json", b"{}")
    sim.host(MGR + "held").chmod(0o500)
    try:
        with pytest.raises(ScriptError) as caught:
            sim.run(scripts.remove_file(MGR + "held/iris-ops-delete-T1.json"))
    finally:
        sim.host(MGR + "held").chmod(0o700)
    assert f"cannot remove {MGR}held/iris-ops-delete-T1.json" in str(caught.value)


def test_waiting_for_an_earlier_session_then_deleting_what_nothing_uses(sim):
    guarded = scripts.delete_all("app", [("APP_DATA", MGR + "app_data/", "%DB_APP_DATA")], wait=5)
    assert guarded.purpose == "delete namespace APP and its databases"
    assert guarded.step_names[:3] == ["guard", "namespace", "db0"]
    assert 'Lock +^IRISOPS.Session("APP"):5' in guarded.render()
    done = sim.run(guarded)
    assert done["namespace_deleted"] == 1 and "APP" not in sim.config()["Namespaces"]
    orphans = scripts.delete_all(None, [("APP_CODE", MGR + "app_code/", "")])  # doctor: nothing uses it now
    assert (orphans.purpose, orphans.step_names[:2]) == ("delete databases nothing uses", ["start", "db0"])
    done = sim.run(orphans)
    assert "namespace_deleted" not in done and set(done["databases"]) == {"APP_CODE"}
    assert "APP_CODE" not in sim.config()["Databases"] and not sim.host(MGR + "app_code/").exists()
