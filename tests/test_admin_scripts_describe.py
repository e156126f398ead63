"""What the read-only describe scripts report, run on a simulated instance (tests/inproc_sim.py):
namespaces, their databases and mappings, who uses a database, resources, row counts, SQL; and
what the conformance probes observe there, and that their cleanup leaves nothing behind."""

from __future__ import annotations

import os

import pytest

from inproc_sim import sim  # noqa: F401 - sim is a fixture
from iris_ops import script_builders as scripts
from iris_ops.errors import ScriptError

MGR = "/usr/irissys/mgr/"


def _map(sim, kind: str, namespace: str, name: str, database: str) -> None:
    out = sim.session(f'Set p("Database")="{database}" Write "made=",##class(Config.Map{kind}).Create("{namespace}","{name}",.p),!')
    assert "made=1" in out, out


def _plain_db(name: str, role: str, directory: str, **overrides) -> dict:
    entry = {"name": name, "role": role, "directory": directory, "resource": f"%DB_{name}", "block_size": 8192,
             "size_mb": 1, "mounted": 1, "read_only_mounted": 0, "encrypted": 0, "mirrored": 0, "multi_volume": 0,
             "stream_location": "", "stream_directory": 0}
    entry.update(overrides)
    return entry


def test_a_namespace_is_described_with_its_databases_mappings_and_tables(sim):
    _map(sim, "Globals", "APP", "Foo*", "USER")
    _map(sim, "Routines", "APP", "Bar", "USER")
    _map(sim, "Packages", "APP", "Pkg", "APP_DATA")
    sim.instance.sql("APP", "CREATE TABLE Demo.Account (Name VARCHAR(50), Balance NUMERIC(10,2))")
    for name in ("A", "B"):
        sim.instance.sql("APP", f"INSERT INTO Demo.Account (Name, Balance) VALUES ('{name}', 1)")
    info = sim.run(scripts.describe_namespace("app", with_tables=True))
    assert info["exists"] == 1
    assert info["manager_directory"] == MGR
    assert info["version"] == sim.instance.version
    assert info["properties"] == {"Globals": "APP_DATA", "Routines": "APP_CODE", "TempGlobals": "IRISTEMP",
                                  "Library": "IRISLIB", "SysGlobals": "IRISSYS", "SysRoutines": "IRISSYS",
                                  "Interop": 0}
    assert info["dbs"] == [_plain_db("APP_DATA", "globals", MGR + "app_data/"),
                           _plain_db("APP_CODE", "routines", MGR + "app_code/")]
    assert info["mappings"] == {"globals": [{"name": "Foo*", "database": "USER"}],
                                "routines": [{"name": "Bar", "database": "USER"}],
                                "packages": [{"name": "Pkg", "database": "APP_DATA"}]}
    assert info["tables"] == [{"name": "Demo.Account", "row_count": 2}]


def test_one_database_for_globals_and_routines_is_listed_once(sim):
    info = sim.run(scripts.describe_namespace("USER"))
    assert info["dbs"] == [_plain_db("USER", "globals+routines", MGR + "user/")]
    assert "tables" not in info


def test_a_missing_namespace_reports_only_that_it_does_not_exist(sim):
    info = sim.run(scripts.describe_namespace("NOPE", with_tables=True))
    assert info["exists"] == 0 and info["manager_directory"] == MGR
    assert not {"properties", "dbs", "mappings", "tables"} & set(info)


def test_what_a_faithful_copy_depends_on_is_reported_and_a_lost_file_is_missing(sim):
    sim.instance.create_database("ODD", mirrored=True, volumes=1, stream_files=True)
    sim.instance.create_database("GONE")
    sim.instance.create_namespace("ODD", "ODD", "GONE")
    out = sim.session('Set p("StreamLocation")="/streams/odd/" Write "set=",##class(Config.Databases).Modify("ODD",.p),!')
    assert "set=1" in out, out
    os.remove(sim.host(MGR + "gone/IRIS.DAT"))
    info = sim.run(scripts.describe_namespace("ODD"))
    assert info["dbs"] == [
        _plain_db("ODD", "globals", MGR + "odd/", mirrored=1, multi_volume=1, stream_directory=1,
                  stream_location="/streams/odd/"),
        {"name": "GONE", "role": "routines", "directory": MGR + "gone/", "missing": 1},
    ]


def test_a_dismounted_database_reads_as_not_mounted(sim):
    sim.instance.dismount(MGR + "app_data/")
    [data, _] = sim.run(scripts.describe_namespace("APP"))["dbs"]
    assert data["mounted"] == 0 and data["name"] == "APP_DATA"


def test_database_users_names_every_other_user_of_a_database(sim):
    sim.instance.create_namespace("OTHER", "APP_DATA", "USER")
    _map(sim, "Globals", "USER", "G*", "APP_CODE")
    _map(sim, "Routines", "USER", "R", "APP_DATA")
    _map(sim, "Packages", "OTHER", "P", "APP_CODE")
    out = sim.session('Set p("Globals")="IRISTEMP",p("Routines")="IRISTEMP" Write "made=",##class(Config.Namespaces).Create("%ALL",.p),!')
    assert "made=1" in out, out
    _map(sim, "Globals", "%ALL", "A", "APP_CODE")
    out = sim.session(f'Set p("Directory")="{MGR}app_data/" Write "made=",##class(Config.Databases).Create("TWIN",.p),!')
    assert "made=1" in out, out
    # the namespace being changed is not a user of its own databases
    _map(sim, "Globals", "APP", "Own", "APP_DATA")
    users = sim.run(scripts.database_users("APP", [("APP_DATA", MGR + "app_data"), ("APP_CODE", MGR + "app_code/"),
                                                   ("USER", MGR + "user/")]))["users"]
    assert sorted(users["APP_DATA"]) == sorted([
        "namespace OTHER (Globals)", "routine mapping R in namespace USER", "database TWIN (same directory)"])
    # (%ALL is looked at twice: as a configured namespace, and on its own where ListAll omits it)
    assert set(users["APP_CODE"]) == {
        "global mapping G* in namespace USER", "package mapping P in namespace OTHER",
        "global mapping A in namespace %ALL"}
    assert sorted(users["USER"]) == sorted([
        "namespace USER (Globals)", "namespace USER (Routines)", "namespace OTHER (Routines)"])


def test_database_users_of_databases_nobody_else_uses_are_empty(sim):
    users = sim.run(scripts.database_users("APP", [("APP_DATA", MGR + "app_data/")]))["users"]
    assert users == {"APP_DATA": []}


@pytest.mark.parametrize("role", ["TempGlobals", "Library", "SysGlobals", "SysRoutines"])
def test_every_database_role_of_a_namespace_makes_it_a_user(sim, role):
    sim.instance.create_namespace("OTHER", "USER", "USER")
    out = sim.session(f'Set p("{role}")="APP_DATA" Write "set=",##class(Config.Namespaces).Modify("OTHER",.p),!')
    assert "set=1" in out, out
    users = sim.run(scripts.database_users("APP", [("APP_DATA", MGR + "app_data/")]))["users"]
    assert users == {"APP_DATA": [f"namespace OTHER ({role})"]}


def test_resource_status_names_the_databases_labelled_with_it(sim):
    out = sim.session('Write "made=",##class(Security.Resources).Create("Shared","kept",""),!')
    assert "made=1" in out, out
    sim.instance.create_database("ONE", resource="Shared")
    sim.instance.create_database("TWO", resource="Shared")
    sim.instance.create_namespace("MORE", "ONE", "TWO")
    sim.instance.create_database("IDLE", resource="Shared")  # used by no namespace
    sim.instance.create_namespace("ELSE", "USER", "APP_CODE")  # uses databases of other resources
    status = sim.run(scripts.resource_status("Shared"))
    assert status["exists"] == 1 and status["description"] == "kept"
    assert sorted(status["users"]) == ["ONE", "TWO"]


def test_resource_status_of_an_unknown_resource(sim):
    status = sim.run(scripts.resource_status("NoSuchResource"))
    assert status["exists"] == 0 and status["users"] == [] and "description" not in status


def test_counts_see_user_tables_only_and_quote_odd_names(sim):
    sim.instance.sql("APP", 'CREATE TABLE "My Schema"."Odd""Name" (A INT)')
    sim.instance.sql("APP", 'INSERT INTO "My Schema"."Odd""Name" (A) VALUES (1)')
    sim.instance.sql("APP", "CREATE TABLE Demo.Empty (A INT)")
    tables = sim.run(scripts.counts("APP"))["tables"]
    assert sorted(tables, key=lambda t: t["name"]) == [{"name": "Demo.Empty", "row_count": 0},
                                                        {"name": 'My Schema.Odd"Name', "row_count": 1}]
    # the session ends where it started: a later step of the same script runs in %SYS
    assert sim.run(scripts.counts("USER"))["tables"] == []


def test_namespace_exists(sim):
    assert sim.run(scripts.namespace_exists("app"))["exists"] == 1
    assert sim.run(scripts.namespace_exists("NOPE"))["exists"] == 0


def test_namespace_names_lists_configured_namespaces_only(sim):
    sim.instance.create_namespace("LATE", "USER")
    assert sim.run(scripts.namespace_names())["namespaces"] == ["%SYS", "APP", "LATE", "USER"]


def test_configured_names_lists_namespaces_and_databases_with_directories(sim):
    sim.instance.create_database("EXTRA", MGR + "somewhere/else/")
    names = sim.run(scripts.configured_names())
    assert names["namespaces"] == ["%SYS", "APP", "USER"]
    assert ["EXTRA", MGR + "somewhere/else/"] in names["databases"]
    assert ["IRISSYS", MGR] in names["databases"]
    assert len(names["databases"]) == 9


def test_sql_statement_returns_columns_rows_and_count(sim):
    sim.instance.sql("APP", "CREATE TABLE Demo.Account (Name VARCHAR(50), Balance NUMERIC(10,2))")
    for name, balance in (("A", 1), ("B", 2.5)):
        sim.instance.sql("APP", f"INSERT INTO Demo.Account (Name, Balance) VALUES ('{name}', {balance})")
    query = sim.run(scripts.sql_statement("APP", "SELECT Name, Balance FROM Demo.Account ORDER BY Name"))
    assert (query["columns"], query["rows"], query["rowcount"]) == (["Name", "Balance"], [["A", 1], ["B", 2.5]], 2)
    change = sim.run(scripts.sql_statement("APP", "UPDATE Demo.Account SET Balance=3 WHERE Name='A'"))
    assert (change["columns"], change["rows"], change["rowcount"]) == ([], [], 1)


def test_sql_statement_failure_carries_the_sql_error(sim):
    with pytest.raises(ScriptError) as caught:
        sim.run(scripts.sql_statement("APP", "SELECT * FROM No.Such"))
    assert "SQL error -30: Table 'NO.SUCH' not found" in str(caught.value)
    assert caught.value.details["step"] == "sql"


def test_the_scripts_package_lists_and_loads_every_builder():
    listed = dir(scripts)
    assert set(scripts.__all__) <= set(listed) and "__getattr__" in listed and listed == sorted(listed)
    assert scripts.counts is __import__("iris_ops.script_builders.describe", fromlist=["counts"]).counts
    with pytest.raises(AttributeError) as caught:
        scripts.no_such_builder
    assert str(caught.value) == "module 'iris_ops.script_builders' has no attribute 'no_such_builder'"


def _built():
    from iris_ops.script_builders.restore import Guard
    from iris_ops.script_builders.state_changes import directories_in_use

    scratch = scripts.ConformanceScratch("c0123456789", MGR)
    guard = Guard("T1", (MGR + "j.json",), "tok", 5)
    return [
        (scripts.describe_namespace("app"), "describe namespace APP"),
        (scripts.namespace_exists("app"), "check that namespace APP exists"),
        (scripts.database_users("APP", []), "find who uses databases"),
        (scripts.file_exists(MGR + "x.json"), f"check {MGR}x.json"),
        (scripts.remove_file(MGR + "x.json"), f"remove {MGR}x.json"),
        (scripts.counts("user"), "count rows in USER"),
        (scripts.freeze_and_copy(MGR + "s/", [], freeze_timeout=0, freeze_limit=300), "freeze and copy"),
        (scripts.dismount_and_copy(MGR + "s/", [], []), "dismount and copy"),
        (scripts.count_staged("N", [("D", "globals+routines", MGR + "s/D/", MGR + "d/")]), "count rows in the copies"),
        (scripts.remove_directory(MGR + "s/"), f"remove {MGR}s/"),
        (scripts.existing("T1", [], []), "check restore targets"),
        (scripts.manager_directory(), "find the manager directory"),
        (scripts.configured_names(), "list configured namespaces and databases"),
        (scripts.namespace_names(), "list namespaces"),
        (scripts.make_directory(MGR + "t1/"), f"create {MGR}t1/"),
        (scripts.ensure_resource("%DB_T1"), "ensure resource %DB_T1"),
        (scripts.delete_resource("%DB_T1"), "delete resource %DB_T1"),
        (scripts.resource_status("%DB_T1"), "check resource %DB_T1"),
        (scripts.create_database("T1_DATA", MGR + "t1/"), "create database T1_DATA"),
        (scripts.create_namespace("T1", "A", "B"), "create namespace T1"),
        (scripts.delete_namespace("T1"), "delete namespace T1"),
        (scripts.delete_database("T1_DATA", MGR + "t1/"), "delete database T1_DATA"),
        (scripts.delete_all("t1", []), "delete namespace T1 and its databases"),
        (scripts.wd_suspended(), "check the write daemon"),
        (scripts.freeze_arguments(), "check ExternalFreeze's arguments"),
        (scripts.restore_facts("T1", [], []), "check restore targets, resources and cache"),
        (scripts.sql_statement("app", "SELECT 1"), "run SQL in APP"),
        (scripts.cache_describe(MGR + "c/", []), "describe the fixture cache"),
        (scripts.cache_remove(MGR + "c/", []), "remove fixture cache files"),
        (scripts.cache_hash(MGR + "c/", "a" * 64), "hash fixture cache entry aaaaaaaaaaaaaaaa"),
        (scripts.restored_databases(".m"), "find the databases a restore created"),
        (scripts.freeze_state(), "find who froze the instance"),
        (scripts.release_freeze("t"), "release the freeze record"),
        (scripts.conformance_facts(), "read the instance's facts (conformance)"),
        (scripts.conformance_transaction(), "probe InTransaction (conformance)"),
        (scripts.conformance_setup(scratch, wait=5), "probe the instance (conformance, part 1)"),
        (scripts.conformance_checks(scratch, wait=5, login=("p", "n")), "probe the instance (conformance, part 2)"),
        (scripts.conformance_end_session(scratch, "eof"), "end the eof probe session (conformance)"),
        (scripts.conformance_cleanup(scratch, wait=5), "remove the conformance probes' scratch objects"),
        (scripts.restore_databases("t1", [scripts.NewDatabase("T1_DATA", MGR + "t1_data/", "%DB_T1", clone=(
            MGR + "c/", "a" * 64, 8192, "tok"))], "T1_DATA", "T1_DATA", guard=guard), "restore into namespace T1"),
        (scripts.swap("APP", guard, MGR + "j.json", MGR + "k.json", "IRISOPS-NEW-0A1B2C3D",
                      [("IRISOPS-NEW-0A1B2C3D-0", "APP_DATA", MGR + "n/")], "APP_DATA", "APP_DATA",
                      [("APP_DATA", MGR + "app_data/", "%DB_APP_DATA")], [MGR + "o/"]),
         "put the restored namespace in the place of APP"),
        (scripts.current_state([("resources", scripts.read_resources(["R1"]))]), "read the current state"),
        (directories_in_use([MGR + "a/"]), "check the new databases' directories"),
    ]


def test_every_builder_says_what_its_script_is_for_in_its_errors(sim):
    """The purpose starts every error message of a script ("restore into namespace T1 failed at
    step 'mount0' ...") and every dry-run block."""
    for script, purpose in _built():
        assert script.purpose == purpose
        assert script.namespace == ("APP" if purpose == "run SQL in APP" else "%SYS")
    failing = scripts.create_namespace("T9", "NO_SUCH", "NO_SUCH")
    with pytest.raises(ScriptError) as caught:
        sim.run(failing)
    assert str(caught.value).startswith("create namespace T9 failed at step 'create' (exit status 1): ")


STEPS = {
    "describe namespace APP": ["exists", "properties", "databases", "mappings"],
    "find who uses databases": ["direct", "mapped", "all", "directories"],
    "freeze and copy": ["arguments", "stage", "freeze", "record", "transactions", "held", "report", "thaw"],
    "dismount and copy": ["stage", "check", "report", "remounted"],
    "count rows in the copies": ["attach0", "namespace", "tables", "detach_namespace", "detach0"],
    "list configured namespaces and databases": ["namespaces", "databases"],
    "create database T1_DATA": ["config", "mount"],
    "delete database T1_DATA": ["config", "dismount", "file", "directory"],
    "delete namespace T1 and its databases": ["namespace"],
    "check ExternalFreeze's arguments": ["spec"],
    "check restore targets, resources and cache": ["check", "resources"],
    "list namespaces": ["list"], "run SQL in APP": ["sql"], "describe the fixture cache": ["describe"],
    "remove fixture cache files": ["remove"], "check the write daemon": ["check"], "create namespace T1": ["create"],
    "delete namespace T1": ["delete"], "find the manager directory": ["mgr"], "check restore targets": ["check"],
    f"create {MGR}t1/": ["mkdir"], "ensure resource %DB_T1": ["resource"], "check resources": ["resources"],
    "check that namespace APP exists": ["check"], f"check {MGR}x.json": ["check"], f"remove {MGR}x.json": ["remove"],
    "count rows in USER": ["tables"], f"remove {MGR}s/": ["remove"], "delete resource %DB_T1": ["resource"],
    "check resource %DB_T1": ["resource"], "hash fixture cache entry aaaaaaaaaaaaaaaa": ["hash"],
    "find the databases a restore created": ["list"], "find who froze the instance": ["state"],
    "release the freeze record": ["record", "check"],
    "read the instance's facts (conformance)": ["facts", "freeze_spec", "write_daemon"],
    "probe InTransaction (conformance)": ["transaction"],
    "probe the instance (conformance, part 1)": ["serial", "directories", "database", "mount_mounted", "dismount",
                                                 "files", "copy"],
    "probe the instance (conformance, part 2)": ["serial", "dismounted", "readonly", "readonly_sql", "role", "user"],
    "end the eof probe session (conformance)": ["owner", "terminate", "wait"],
    "remove the conformance probes' scratch objects": ["serial", "namespace0", "namespace1", "sessioneof",
                                                       "sessionlock", "database0", "database1", "directory0",
                                                       "directory1", "resource", "user", "done"],
    "restore into namespace T1": ["guard", "start", "probe0", "copy0", "touch0", "served0", "resource0", "config0",
                                  "mount0", "namespace", "tables"],
    "read the current state": ["start", "resources_0", "done"],
    "check the new databases' directories": ["check"],
    "put the restored namespace in the place of APP": ["guard", "commit", "staging", "old", "oldconfig0", "rename0",
                                                       "namespace", "oldfiles0", "orphans", "resources",
                                                       "resource0", "finished"],
}


def test_every_builder_names_the_steps_an_error_may_happen_in():
    for script, purpose in _built():
        assert script.step_names == STEPS[purpose], purpose


# --- conformance: the probes on scratch objects, judged as `iris-ops conformance` judges them ------


def _instance_state(sim) -> tuple:
    with sim.instance.locked() as state:
        security = {kind: sorted(state["security"].get(kind, {})) for kind in ("roles", "users")}
        mounted = sorted(state["mounted"])
    return sim.config(), sim.resources(), security, mounted


def _conformance(sim, login=None):
    from iris_ops.operations.conformance_facts import Observations, evaluate

    seen = Observations()
    seen.facts = sim.run(scripts.conformance_facts())
    scratch = scripts.ConformanceScratch("c0123456789", seen.facts["manager_directory"])
    before = _instance_state(sim)
    sim.put(scratch.marker, b"what the transport writes first\n")
    seen.setup = sim.run(scripts.conformance_setup(scratch, wait=5))
    seen.transaction = sim.run(scripts.conformance_transaction())
    seen.checks = sim.run(scripts.conformance_checks(scratch, wait=5, login=login))
    seen.users = _instance_state(sim)[2]["users"]
    seen.session = sim.session(scripts.conformance_session_lines(scratch, "eof", "tok0123456789"))
    cleaned = sim.run(scripts.conformance_cleanup(scratch, wait=5))
    seen.late_session = sim.session(scripts.conformance_session_lines(scratch, "eof", "tok0123456789"))
    return scratch, seen, {a.fact.key: (a.status, a.observed) for a in evaluate(seen)}, before, cleaned


def test_the_conformance_probes_find_the_simulated_instance_conforming_and_leave_nothing(sim):
    from iris_ops.operations.conformance_facts import NOT_PROBED, OK

    scratch, seen, facts, before, cleaned = _conformance(sim)
    assert {key for key, (status, _) in facts.items() if status != OK} == {"end-of-input", "lock-release",
                                                                         "login-prompts"}
    assert {status for key, (status, _) in facts.items() if status != OK} == {NOT_PROBED}
    assert facts["copy-owner-mode"][1] == "kept: mode 600, owner irisowner:irisowner (was 600, irisowner:irisowner)"
    assert facts["rename-onto-existing"][1] == "refused (return -17)"
    assert facts["in-transaction"][1] == "counted 1; this session's InTransaction 131072"
    assert {k: seen.transaction[k] for k in ("tx_level", "tx_count", "tx_own")} == {"tx_level": 1, "tx_count": 1,
                                                                                     "tx_own": 131072}
    assert "tx_error" not in seen.transaction and "tx_own_error" not in seen.transaction
    assert (seen.setup["source_size"], seen.setup["copy_size"]) == (1048576, 1048576)
    assert seen.checks["ro_reason"] == "Mounted read-only at user request" and seen.checks["role_with_resource"] == 0
    assert cleaned["serialized"] == 1
    # a probe session writes who holds its lock; one that starts after the cleanup halts at once
    assert f"<<<tok0123456789:HELD>>>{os.getpid()}|1" in seen.session and "<<<tok0123456789:END>>>" in seen.session
    assert "<<<" not in seen.late_session
    assert _instance_state(sim) == before
    assert not sim.host(scratch.db_dir).exists() and not sim.host(scratch.copy_dir).exists()


def test_the_conformance_login_probe_user_is_made_and_removed(sim):
    from iris_ops.operations.conformance_facts import OK

    scratch, seen, facts, before, _ = _conformance(sim, login=("Cf-0123456789abcdef", "iris-ops conformance probe"))
    assert facts["db-role"][0] == OK and seen.checks["user_created"] == 1
    assert scratch.user.upper() in {name.upper() for name in seen.users}
    assert _instance_state(sim) == before


def test_the_databases_a_restore_created_are_found_by_their_marker(sim):
    import json

    marker = ".iris-ops-restored.json"
    sim.put(MGR + "app_data/" + marker, json.dumps({"database": "APP_DATA", "fixture": "fx"}).encode())
    sim.put(MGR + "app_code/" + marker, b"not json")
    script = scripts.restored_databases(marker)
    assert script.purpose == "find the databases a restore created"
    found = sorted(sim.run(script)["restored"])
    assert found == [["APP_CODE", MGR + "app_code/", "", "%DB_APP_CODE"],
                     ["APP_DATA", MGR + "app_data/", "APP_DATA", "%DB_APP_DATA"]]
    os.remove(sim.host(MGR + "app_code/IRIS.DAT"))  # its file gone: no label to read the resource from
    assert sorted(sim.run(script)["restored"])[0] == ["APP_CODE", MGR + "app_code/", "", ""]


def test_ending_a_probe_session_that_is_not_there(sim):
    scratch = scripts.ConformanceScratch("c0123456789", MGR)
    script = scripts.conformance_end_session(scratch, "lock")
    assert script.purpose == "end the lock probe session (conformance)"
    assert sim.run(script) | {} == {"owner": "", "free_before": 1, "terminated": "", "released": 1, "ok": 1,
                                    "error": "", "step": "", "steps": 3}
    with pytest.raises(ValueError) as caught:
        scratch.probe_lock("other")
    assert str(caught.value) == "no probe session 'other'"


def test_without_a_namespace_every_namespace_is_a_user(sim):
    users = sim.run(scripts.database_users(None, [("APP_DATA", MGR + "app_data/")]))["users"]
    assert users == {"APP_DATA": ["namespace APP (Globals)"]}


def test_a_conformance_run_names_everything_from_one_token():
    import re

    scratch = scripts.ConformanceScratch.new("/usr/irissys/mgr")
    assert re.fullmatch(r"c[0-9a-f]{10}", scratch.token) and scratch.manager_dir == MGR
    upper = scratch.token.upper()
    assert scratch.db_dir == f"{MGR}iris-ops-conformance-{scratch.token}/"
    assert scratch.copy_dir == f"{MGR}iris-ops-conformance-{scratch.token}-ro/"
    assert scratch.directories == (scratch.db_dir, scratch.copy_dir)
    assert scratch.marker == scratch.db_dir + "iris-ops-conformance.txt"
    assert (scratch.database, scratch.copy_database) == (f"IRISOPS-CONF-{upper}", f"IRISOPS-CONF-{upper}-RO")
    assert (scratch.namespace, scratch.resource, scratch.user) == (
        f"IRISOPS-CONF-{upper}", f"%DB_IRISOPS-CONF-{upper}", f"IRISOPSCONF{upper}")
    assert scratch.serial_lock() == f'^IRISOPS.Conformance("{scratch.token}")'
    assert scratch.probe_lock("eof") == f'^IRISOPS.Probe("{scratch.token}","eof")'
    assert scripts.ConformanceScratch.new(MGR).token != scratch.token


def _racing_get(sim, monkeypatch, victim: str, *, deleted: bool) -> None:
    """Config.Namespaces.Get of ``victim`` meets another operation (the simulator's Get wrapped to
    let it in): a delete-ns that removed the namespace since ListAll named it (``deleted``), or
    else an error while the namespace is still there."""
    from iris_ops_sim.irissim.instance.classes.config import ConfigNamespaces
    from iris_ops_sim.irissim.objectscript.runtime import error_status

    get = ConfigNamespaces.Get

    def racing(self, proc, *args):
        if str(args[0]).upper() == victim:
            if not deleted:
                return error_status(5001, f"Namespace {victim} could not be read")
            with sim.instance.config() as cpf:
                cpf["Namespaces"].pop(victim, None)
        return get(self, proc, *args)

    monkeypatch.setattr(ConfigNamespaces, "Get", racing)


def test_a_namespace_deleted_while_the_namespaces_are_read_is_skipped(sim, monkeypatch):
    _racing_get(sim, monkeypatch, "APP", deleted=True)
    users = sim.run(scripts.database_users(None, [("APP_DATA", MGR + "app_data/")]))["users"]
    assert users == {"APP_DATA": []}


def test_a_namespace_that_cannot_be_read_fails_the_script(sim, monkeypatch):
    _racing_get(sim, monkeypatch, "APP", deleted=False)
    with pytest.raises(ScriptError) as caught:
        sim.run(scripts.database_users(None, [("APP_DATA", MGR + "app_data/")]))
    assert caught.value.details["step"] == "direct" and "Namespace APP could not be read" in str(caught.value)


def _mapping_query_meets(sim, monkeypatch, victim: str, *, deleted: bool) -> None:
    """The List query of ``victim``'s mappings meets another operation (the simulator's class
    query wrapped to let it in): a delete-ns that removed the namespace since it was read
    (``deleted``), or else a failure while the namespace is still there."""
    from iris_ops_sim.irissim.instance.classes import sqlclasses
    from iris_ops_sim.irissim.instance.classes.sqlclasses import StatementResult

    execute = sqlclasses.run_class_query

    def meeting(proc, class_name, query, params):
        if class_name.startswith("Config.Map") and params and str(params[0]).upper() == victim:
            if not deleted:
                return StatementResult([], [], -400, f"Mappings of {victim} could not be listed")
            with sim.instance.config() as cpf:
                cpf["Namespaces"].pop(victim, None)
        return execute(proc, class_name, query, params)

    monkeypatch.setattr(sqlclasses, "run_class_query", meeting)


def test_mappings_of_a_namespace_deleted_while_they_are_read_are_skipped(sim, monkeypatch):
    _map(sim, "Globals", "APP", "Foo*", "USER")
    _mapping_query_meets(sim, monkeypatch, "APP", deleted=True)
    users = sim.run(scripts.database_users(None, [("USER", MGR + "user/")]))["users"]
    assert users == {"USER": ["namespace USER (Globals)", "namespace USER (Routines)"]}


def test_mappings_that_cannot_be_listed_fail_the_script(sim, monkeypatch):
    _mapping_query_meets(sim, monkeypatch, "APP", deleted=False)
    with pytest.raises(ScriptError) as caught:
        sim.run(scripts.database_users(None, [("USER", MGR + "user/")]))
    assert caught.value.details["step"] == "mapped" and "Mappings of APP could not be listed" in str(caught.value)


def test_a_mapping_that_cannot_be_read_fails_the_script(sim, monkeypatch):
    """Config.MapGlobals.Get fails for a mapping that is still there (the simulator's Get
    wrapped to fail): only a mapping deleted since it was listed may be skipped."""
    from iris_ops_sim.irissim.instance.classes.maps import ConfigMapGlobals
    from iris_ops_sim.irissim.objectscript.runtime import error_status

    _map(sim, "Globals", "APP", "Foo*", "USER")
    monkeypatch.setattr(ConfigMapGlobals, "Get", lambda self, proc, *args: error_status(5001, "Mapping unreadable"))
    with pytest.raises(ScriptError) as caught:
        sim.run(scripts.database_users(None, [("USER", MGR + "user/")]))
    assert caught.value.details["step"] == "mapped" and "Mapping unreadable" in str(caught.value)
