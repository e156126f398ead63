"""What the restore scripts do to an instance, run on a simulated one (tests/inproc_sim.py):
targets checked, directories and resources made, databases configured and mounted, the
namespace created, and the whole restore session with its cache steps."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from inproc_sim import fails, sim  # noqa: F401 - sim is a fixture
from iris_ops import script_builders as scripts
from iris_ops.errors import ScriptError, SystemTargetError
from iris_ops.script_builders.cache import record_text
from iris_ops.script_builders.common import RESOURCE_DESCRIPTION, RESOURCE_WITH_ROLE_DESCRIPTION

MGR = "/usr/irissys/mgr/"
CACHE = MGR + "iris-ops-cache/"


def test_existing_reports_the_namespace_databases_and_directories(sim):
    found = sim.run(scripts.existing("app", ["T1_DATA", "app_data"], [MGR + "t1_data", MGR + "app_data/"]))
    assert found["namespace"] == 1
    assert found["databases"] == {"T1_DATA": 0, "APP_DATA": 1}
    assert found["directories"] == {MGR + "t1_data/": 0, MGR + "app_data/": 1}
    assert found["manager_directory"] == MGR
    assert sim.run(scripts.existing("T1", [], []))["namespace"] == 0


def test_manager_directory_and_version(sim):
    found = sim.run(scripts.manager_directory())
    assert (found["manager_directory"], found["version"]) == (MGR, sim.instance.version)


def test_make_directory_creates_the_chain_or_says_why_not(sim):
    assert sim.run(scripts.make_directory(MGR + "a/b/c"))["created"] == 1
    assert sim.host(MGR + "a/b/c").is_dir()
    sim.put(MGR + "blocker", b"a file in the way")
    error = fails(sim, scripts.make_directory(MGR + "blocker/sub"))
    assert f"cannot create {MGR}blocker/sub" in str(error) and error.details["step"] == "mkdir"


def test_ensure_resource_beside_an_existing_role_creates_only_the_resource(sim):
    sim.session('Write ##class(Security.Roles).Create("%DB_T2","theirs","")')
    made = sim.run(scripts.ensure_resource("%DB_T2"))
    assert (made["created"], made["role_created"]) == (1, 0)
    assert sim.resources()["%DB_T2"]["Description"] == RESOURCE_DESCRIPTION
    with sim.instance.locked() as state:
        assert state["security"]["roles"]["%DB_T2"]["Description"] == "theirs"


def test_system_resources_are_refused_before_anything_runs():
    for build in (scripts.ensure_resource, scripts.delete_resource):
        with pytest.raises(SystemTargetError) as caught:
            build("%DB_%DEFAULT")
        assert caught.value.exit_code == 3


def test_delete_resource_removes_the_role_only_when_asked(sim):
    sim.run(scripts.ensure_resource("%DB_T1"))
    assert sim.run(scripts.delete_resource("%DB_T1"))["deleted"] == 1
    assert "%DB_T1" not in sim.resources() and "%DB_T1" in sim.roles()
    sim.run(scripts.ensure_resource("%DB_T1"))
    sim.run(scripts.delete_resource("%DB_T1", with_role=True))
    assert "%DB_T1" not in sim.resources() and "%DB_T1" not in sim.roles()
    assert sim.run(scripts.delete_resource("%DB_T1", with_role=True))["deleted"] == 1  # already gone: fine


def test_create_database_configures_and_mounts_read_write(sim):
    sim.put(MGR + "t1_data/IRIS.DAT", sim.database_bytes())
    done = sim.run(scripts.create_database("T1_DATA", MGR + "t1_data", "%DB_T1"))
    assert (done["created"], done["role_created"], done["configured"], done["mounted"]) == (1, 1, 1, 1)
    assert sim.config()["Databases"]["T1_DATA"]["Directory"] == MGR + "t1_data/"
    assert sim.mounted(MGR + "t1_data/")
    error = fails(sim, scripts.create_database("T1_DATA", MGR + "t1_data/"))
    assert error.details["step"] == "config" and "already exists" in str(error)


def test_a_database_that_will_not_open_or_mounts_read_only_fails_the_mount_step(sim):
    error = fails(sim, scripts.create_database("T2_DATA", MGR + "t2_data/"))
    assert error.details["step"] == "mount" and f"cannot open database {MGR}t2_data/" in str(error)
    sim.put(MGR + "t3_data/IRIS.DAT", sim.database_bytes())
    os.chmod(sim.host(MGR + "t3_data/IRIS.DAT"), 0o440)
    error = fails(sim, scripts.create_database("T3_DATA", MGR + "t3_data/"))
    assert error.details["step"] == "mount"
    assert f"database {MGR}t3_data/ mounted read-only: Database file is write-protected" in str(error)


def test_create_namespace_uses_the_globals_and_routines_databases(sim):
    assert sim.run(scripts.create_namespace("t1", "app_data", "app_code"))["created"] == 1
    assert sim.config()["Namespaces"]["T1"]["Globals"] == "APP_DATA"
    assert sim.config()["Namespaces"]["T1"]["Routines"] == "APP_CODE"
    error = fails(sim, scripts.create_namespace("T2", "NO_SUCH", "APP_CODE"))
    assert error.details["step"] == "create"




def _streamed_restore(sim, ns: str, *, fill: bool):
    data, code = sim.database_bytes(), sim.database_bytes("APP_CODE")
    digest = hashlib.sha256(data).hexdigest()
    lower = ns.lower()
    sim.put(f"{MGR}{lower}_data/IRIS.DAT", data)
    sim.put(f"{MGR}{lower}_code/IRIS.DAT", code)
    record = record_text({"sha256": digest, "size": len(data), "fixture": "fx"})
    databases = [scripts.NewDatabase(f"{ns}_DATA", f"{MGR}{lower}_data/", f"%DB_{ns}",
                                     fill=(CACHE, digest, len(data), "tok1", record) if fill else None),
                 scripts.NewDatabase(f"{ns}_CODE", f"{MGR}{lower}_code/", None)]
    return sim.run(scripts.restore_databases(ns, databases, f"{ns}_DATA", f"{ns}_CODE")), digest


def test_a_streamed_restore_makes_resources_databases_and_the_namespace_in_one_session(sim):
    sim.instance.sql("APP", "CREATE TABLE Demo.T (A INT)")
    sim.instance.sql("APP", "INSERT INTO Demo.T (A) VALUES (1)")
    done, _ = _streamed_restore(sim, "T1", fill=False)
    assert done["finished"] == 1
    assert (done["cloned"], done["reasons"], done["filled"], done["fill_errors"]) == ({}, {}, {}, {})
    assert done["tables"] == [{"name": "Demo.T", "row_count": 1}]
    namespace = sim.config()["Namespaces"]["T1"]
    assert (namespace["Globals"], namespace["Routines"]) == ("T1_DATA", "T1_CODE")
    assert sim.mounted(MGR + "t1_data/") and sim.mounted(MGR + "t1_code/")
    assert (done["created"], done["role_created"]) == (1, 1)
    assert sim.resources()["%DB_T1"]["Description"] == RESOURCE_DESCRIPTION and "%DB_T1" in sim.roles()
    assert not sim.host(CACHE).exists()


def test_a_streamed_restore_leaves_its_verified_file_in_the_cache_and_the_next_is_served_from_it(sim):
    done, digest = _streamed_restore(sim, "T1", fill=True)
    assert done["finished"] == 1
    assert (done["filled"], done["fill_errors"]) == ({"T1_DATA": 1}, {"T1_DATA": ""})
    assert sorted(p.name for p in sim.host(CACHE).iterdir()) == [digest + ".DAT", digest + ".json"]
    data = sim.database_bytes()
    assert sim.host(CACHE + digest + ".DAT").read_bytes() == data
    record = json.loads(sim.host(CACHE + digest + ".json").read_text())
    assert (record["sha256"], record["size"], record["fixture"]) == (digest, len(data), "fx")
    assert record["mtime"] and record["ctime"]
    sim.put(MGR + "t2_data/IRIS.DAT", b"")  # the empty file the client writes first (owner, mode)
    served = sim.run(scripts.restore_databases("T2", [scripts.NewDatabase(
        "T2_DATA", MGR + "t2_data/", "%DB_APP_DATA", clone=(CACHE, digest, len(data), "tok2"))], "T2_DATA", "T2_DATA"))
    assert served["cloned"] == {"T2_DATA": 1} and served["finished"] == 1 and served["role_created"] == 0
    assert sim.host(MGR + "t2_data/IRIS.DAT").read_bytes() == data
    assert sim.config()["Namespaces"]["T2"]["Globals"] == "T2_DATA" and sim.mounted(MGR + "t2_data/")
    assert sim.resources()["%DB_APP_DATA"]["Description"] == ""  # it was there: left as it was


def test_one_cache_miss_stops_the_session_before_any_change(sim):
    _, digest = _streamed_restore(sim, "T1", fill=True)
    data, code = sim.database_bytes(), sim.database_bytes("APP_CODE")
    missing = hashlib.sha256(code).hexdigest()
    sim.put(MGR + "t2_data/IRIS.DAT", b"")
    sim.put(MGR + "t2_code/IRIS.DAT", b"")
    done = sim.run(scripts.restore_databases("T2", [
        scripts.NewDatabase("T2_DATA", MGR + "t2_data/", "%DB_T2", clone=(CACHE, digest, len(data), "tok3")),
        scripts.NewDatabase("T2_CODE", MGR + "t2_code/", None, clone=(CACHE, missing, len(code), "tok3")),
    ], "T2_DATA", "T2_CODE"))
    assert done["finished"] == 0
    assert done["cloned"] == {"T2_DATA": 1, "T2_CODE": 0}
    assert done["reasons"]["T2_CODE"] == "no entry"
    assert "T2" not in sim.config()["Namespaces"] and "T2_DATA" not in sim.config()["Databases"]
    assert "%DB_T2" not in sim.resources()


def test_a_restore_with_some_databases_to_stream_serves_the_others_and_stops(sim):
    _, digest = _streamed_restore(sim, "T1", fill=True)
    data = sim.database_bytes()
    sim.put(MGR + "t2_data/IRIS.DAT", b"")
    done = sim.run(scripts.restore_databases("T2", [
        scripts.NewDatabase("T2_DATA", MGR + "t2_data/", None, clone=(CACHE, digest, len(data), "tok4")),
        scripts.NewDatabase("T2_CODE", MGR + "t2_code/", None),
    ], "T2_DATA", "T2_CODE"))
    assert done["cloned"] == {"T2_DATA": 1} and done["finished"] == 0
    assert sim.host(MGR + "t2_data/IRIS.DAT").read_bytes() == data
    assert "T2_DATA" not in sim.config()["Databases"]


# --- restore --force: the swap that puts the staged namespace in the old one's place -------------

STAGING = "IRISOPS-NEW-0A1B2C3D"
JOURNAL, COMMITTED = MGR + "iris-ops-restore-APP.json", MGR + "iris-ops-restore-APP.committed.json"


def _staged_swap(sim, token: str = "tok-123456"):
    from iris_ops.script_builders.restore import Guard

    sim.put(MGR + "app_data-n1/IRIS.DAT", sim.database_bytes())
    sim.put(MGR + "app_code-n1/IRIS.DAT", sim.database_bytes("APP_CODE"))
    sim.put(MGR + "app_orphan/IRIS.DAT", b"left by an interrupted restore")
    staged = [scripts.NewDatabase(STAGING + "-0", MGR + "app_data-n1/", None),
              scripts.NewDatabase(STAGING + "-1", MGR + "app_code-n1/", None)]
    assert sim.run(scripts.restore_databases(STAGING, staged, STAGING + "-0", STAGING + "-1"))["finished"] == 1
    assert sim.run(scripts.ensure_resource("%DB_APP_OLD"))["created"] == 1  # one restore made: it goes with the swap
    sim.put(JOURNAL, json.dumps({"token": "tok-123456"}).encode())
    return scripts.swap("APP", Guard("APP", (JOURNAL, COMMITTED), token, 5), JOURNAL, COMMITTED, STAGING,
                        [(STAGING + "-0", "APP_DATA", MGR + "app_data-n1/"), (STAGING + "-1", "APP_CODE", MGR + "app_code-n1/")],
                        "APP_DATA", "APP_CODE",
                        [("APP_DATA", MGR + "app_data/", "%DB_APP_DATA"), ("APP_CODE", MGR + "app_code/", "%DB_APP_OLD")],
                        [MGR + "app_orphan/"])


def test_the_swap_puts_the_staged_namespace_in_place_and_can_run_again(sim):
    swap = _staged_swap(sim)
    assert swap.purpose == "put the restored namespace in the place of APP"
    done = sim.run(swap)
    assert (done["committed"], done["finished"]) == (1, 1)
    assert done["resources"]["%DB_APP_DATA"]["outcome"] == "not-ours"
    assert done["resources"]["%DB_APP_OLD"]["outcome"] == "deleted-with-role" and "%DB_APP_OLD" not in sim.resources()
    assert "%DB_APP_OLD" not in sim.roles()
    config = sim.config()
    assert (config["Namespaces"]["APP"]["Globals"], config["Namespaces"]["APP"]["Routines"]) == ("APP_DATA", "APP_CODE")
    assert config["Databases"]["APP_DATA"]["Directory"] == MGR + "app_data-n1/"
    assert config["Databases"]["APP_CODE"]["Directory"] == MGR + "app_code-n1/"
    assert STAGING not in config["Namespaces"] and not [d for d in config["Databases"] if d.startswith("IRISOPS")]
    assert sim.mounted(MGR + "app_data-n1/") and sim.mounted(MGR + "app_code-n1/")
    for gone in ("app_data/", "app_code/", "app_orphan/"):
        assert not sim.host(MGR + gone).exists(), gone
    assert not sim.host(JOURNAL).exists() and sim.host(COMMITTED).exists()
    again = sim.run(swap)  # what doctor --fix does after a dead instance: every step tolerates its own work
    assert (again["finished"], again["dismounted"], again["removed_directory"]) == (1, 0, 0)
    assert "created" not in again  # the namespace already had the new Globals: kept, not made again
    assert sim.config() == config


def test_a_swap_whose_restore_was_rolled_back_changes_nothing(sim):
    swap = _staged_swap(sim, token="tok-other")
    before = sim.config()
    with pytest.raises(ScriptError) as caught:
        sim.run(swap)
    assert caught.value.details["step"] == "guard"
    assert "this restore into APP was rolled back or replaced: its journal is gone" in str(caught.value)
    assert sim.config() == before and sim.host(JOURNAL).exists() and not sim.host(COMMITTED).exists()


def test_a_revoked_journal_stops_every_later_session_of_its_restore(sim):
    from iris_ops.objectscript import Script
    from iris_ops.script_builders.restore import Guard, guard_step, revoke_step

    aside = MGR + "iris-ops-restore-APP.revoked.json"
    sim.put(JOURNAL, json.dumps({"token": "tok-123456"}).encode())
    guarded = guard_step(Script("%SYS", purpose="guarded"), Guard("APP", (JOURNAL, COMMITTED), "tok-123456", 1))
    assert sim.run(guarded)["ok"] == 1
    revoke = revoke_step(Script("%SYS", purpose="revoke"), JOURNAL, aside)
    assert sim.run(revoke)["revoked"] == 1 and sim.host(aside).exists() and not sim.host(JOURNAL).exists()
    assert sim.run(revoke)["revoked"] == 0  # again: nothing left to rename
    error = fails(sim, guarded)
    assert error.details["step"] == "guard" and "its journal is gone" in str(error)
    unchecked = guard_step(Script("%SYS", purpose="unchecked"), Guard("APP", (JOURNAL,), "tok-123456", 1),
                           check_journal=False)
    assert sim.run(unchecked)["ok"] == 1  # only the lock: a rollback's own session


def test_a_journal_that_cannot_be_set_aside_fails_the_revoke_step(sim):
    from iris_ops.objectscript import Script
    from iris_ops.script_builders.restore import revoke_step

    aside = MGR + "iris-ops-restore-APP.revoked.json"
    sim.put(JOURNAL, b"{}")
    sim.put(aside, b"left by an earlier revoke")  # Rename does not replace it
    error = fails(sim, revoke_step(Script("%SYS", purpose="revoke"), JOURNAL, aside))
    assert error.details["step"] == "revoke" and f"cannot rename {JOURNAL}" in str(error)
    assert sim.host(JOURNAL).exists()


def test_restore_facts_say_which_cached_files_may_be_served_and_which_journals_exist(sim):
    _, digest = _streamed_restore(sim, "T1", fill=True)
    size = len(sim.database_bytes())
    sim.put(JOURNAL, b"{}")
    facts = sim.run(scripts.restore_facts("T2", ["T2_DATA"], [], cached=[(digest, size), ("0" * 64, 5)],
                                          journals=["iris-ops-restore-APP.json", "iris-ops-restore-T2.json"]))
    assert (facts["manager_directory"], facts["namespace"]) == (MGR, 0) and facts["version"].startswith("IRIS for ")
    assert facts["databases"] == {"T2_DATA": 0} and facts["directories"] == {MGR + "t2_data/": 0}
    assert facts["resources"] == {}
    there = sim.run(scripts.restore_facts("app", ["APP_DATA"], ["%DB_APP_DATA"]))
    assert (there["namespace"], there["databases"], there["directories"]) == (1, {"APP_DATA": 1}, {MGR + "app_data/": 1})
    assert there["resources"] == {"%DB_APP_DATA": {"exists": 1, "role_exists": 1}}
    assert "cache" not in there and "journals" not in there
    assert facts["cache_dir"] == CACHE
    assert facts["cache"] == {digest: 1, "0" * 64: 0} and facts["cache_why"]["0" * 64] == "no entry"
    assert facts["journals"] == {"iris-ops-restore-APP.json": 1, "iris-ops-restore-T2.json": 0}
    with pytest.raises(ValueError) as caught:
        scripts.restore_facts("T2", [], [], journals=["a/b.json"])
    assert str(caught.value) == "not a file name: 'a/b.json'"
