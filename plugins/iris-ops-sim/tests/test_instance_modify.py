"""Modify of existing objects, as ``iris-ops apply`` calls it (issue 26): Security.Resources.Modify,
Security.Roles.Modify, Config.Namespaces.Modify and Config.Map*.Modify, driven by ObjectScript
lines in %SYS.  Each is no more forgiving than the 2024.1 class reference."""

from __future__ import annotations

import io

import pytest

from _instance_helpers import new_instance
from iris_ops_sim.irissim.objectscript import iris_main


@pytest.fixture
def inst(tmp_path):
    return new_instance(tmp_path)


def run(inst, *lines: str) -> dict[str, str]:
    """Run ``lines`` in one %SYS session; every ``Write "key=",value,!`` comes back as key -> value.
    A failed %Status reads ``0 ERROR #...``: tests look at its first character."""
    chunks: list[bytes] = []
    script = "\n".join([*lines, "Halt"]) + "\n"
    assert iris_main(inst, ["session", "IRIS", "-U", "%SYS"], io.BytesIO(script.encode()), chunks.append) == 0
    out = b"".join(chunks).decode()
    assert "<" not in out.replace("<<", ""), out  # no ObjectScript error on the way
    found = {}
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            found[key] = value
    return found


def ok(value: str) -> bool:
    return value == "1"


def refused(value: str) -> bool:
    return value.startswith("0 ERROR #")


def resource(inst, name: str) -> dict[str, str]:
    got = run(inst, f'Set sc=##class(Security.Resources).Get("{name}",.p)',
              'Write "sc=",sc,! Write "d=",p("Description"),! Write "pp=",p("PublicPermission"),!')
    assert ok(got["sc"])
    return {"Description": got["d"], "PublicPermission": got["pp"]}


def role(inst, name: str) -> dict[str, str]:
    got = run(inst, f'Set sc=##class(Security.Roles).Get("{name}",.p)',
              'Write "sc=",sc,! Write "d=",p("Description"),! Write "r=",p("Resources"),! Write "g=",p("GrantedRoles"),!')
    assert ok(got["sc"])
    return {"Description": got["d"], "Resources": got["r"], "GrantedRoles": got["g"]}


def modify(inst, cls: str, *args: str, **props) -> str:
    sets = " ".join(f'Set p("{k}")="{v}"' for k, v in props.items()) or "Set p=\"\""
    quoted = ",".join(f'"{a}"' for a in args)
    return run(inst, f'Kill p {sets} Write "sc=",##class({cls}).Modify({quoted},.p),!')["sc"]


# --- Security.Resources.Modify ----------------------------------------------------------------


def test_a_resource_modify_changes_only_the_properties_passed(inst):
    assert ok(run(inst, 'Write "sc=",##class(Security.Resources).Create("APP_RES","the app","R"),!')["sc"])
    assert ok(modify(inst, "Security.Resources", "app_res", Description="the app's data"))  # any case
    assert resource(inst, "APP_RES") == {"Description": "the app's data", "PublicPermission": "R"}
    assert ok(modify(inst, "Security.Resources", "APP_RES", PublicPermission="uw"))
    assert resource(inst, "APP_RES") == {"Description": "the app's data", "PublicPermission": "WU"}
    assert ok(modify(inst, "Security.Resources", "APP_RES", PublicPermission=""))  # no public permission
    assert resource(inst, "APP_RES") == {"Description": "the app's data", "PublicPermission": ""}


def test_what_get_gave_can_be_passed_back_to_modify(inst):
    run(inst, 'Write ##class(Security.Resources).Create("APP_RES","x","R")')
    got = run(inst, 'Do ##class(Security.Resources).Get("APP_RES",.p) Set p("Description")="y"',
              'Write "sc=",##class(Security.Resources).Modify("APP_RES",.p),!')
    assert ok(got["sc"]) and resource(inst, "APP_RES")["Description"] == "y"


def test_a_resource_modify_refuses_what_the_reference_does_not_allow_and_changes_nothing(inst):
    run(inst, 'Write ##class(Security.Resources).Create("APP_RES","kept","R")')
    assert refused(modify(inst, "Security.Resources", "NO_SUCH_RES", Description="x"))
    assert refused(modify(inst, "Security.Resources", "APP_RES", Description="changed", PublicPermission="RX"))
    assert refused(modify(inst, "Security.Resources", "APP_RES", PublicPermission="READ"))  # as Create refuses it
    assert refused(modify(inst, "Security.Resources", "APP_RES", Description="x" * 257))  # MAXLEN = 256
    assert refused(modify(inst, "Security.Resources", "APP_RES", Name="OTHER"))  # not a property Get gives
    assert refused(modify(inst, "Security.Resources", "APP_RES", Type="1"))  # "Internal use only"
    assert resource(inst, "APP_RES") == {"Description": "kept", "PublicPermission": "R"}
    assert ok(modify(inst, "Security.Resources", "APP_RES", Description="y" * 256))


def test_a_system_resource_keeps_its_description_but_not_its_public_permission(inst):
    for name in ("%DB_%DEFAULT", "%DB_IRISSYS"):
        assert refused(modify(inst, "Security.Resources", name, Description="mine"))
        assert ok(modify(inst, "Security.Resources", name, Description=""))  # the same value modifies nothing
    assert ok(modify(inst, "Security.Resources", "%DB_IRISSYS", PublicPermission="R"))
    assert resource(inst, "%DB_IRISSYS") == {"Description": "", "PublicPermission": "R"}


# --- Security.Roles.Modify ---------------------------------------------------------------------


def _roles(inst) -> None:
    got = run(inst, 'Write "a=",##class(Security.Resources).Create("APP_RES","",""),!',
              'Write "b=",##class(Security.Resources).Create("LOG_RES","",""),!',
              'Write "r=",##class(Security.Roles).Create("APP_READER","reads","APP_RES:R","%Developer"),!',
              'Write "w=",##class(Security.Roles).Create("APP_WRITER","writes","APP_RES:RW","APP_READER"),!')
    assert all(ok(v) for v in got.values()), got


def test_a_role_modify_changes_only_the_properties_passed(inst):
    _roles(inst)
    assert ok(modify(inst, "Security.Roles", "app_reader", Description="reads the app"))
    assert role(inst, "APP_READER") == {"Description": "reads the app", "Resources": "APP_RES:R",
                                        "GrantedRoles": "%Developer"}
    assert ok(modify(inst, "Security.Roles", "APP_READER", Resources="APP_RES:RU,log_res:R"))
    assert role(inst, "APP_READER")["Resources"] == "APP_RES:RU,log_res:R"
    assert ok(modify(inst, "Security.Roles", "APP_READER", GrantedRoles="%Operator,%sql"))
    assert role(inst, "APP_READER") == {"Description": "reads the app", "Resources": "APP_RES:RU,log_res:R",
                                        "GrantedRoles": "%Operator,%sql"}
    assert ok(modify(inst, "Security.Roles", "APP_READER", Resources="", GrantedRoles=""))  # removes them all
    assert role(inst, "APP_READER") == {"Description": "reads the app", "Resources": "", "GrantedRoles": ""}


@pytest.mark.parametrize("props", [
    {"Resources": "NO_SUCH_RES:R"},                 # the resource must exist, as Create requires
    {"Resources": "APP_RES:RX"},                    # a permission is R, W, U letters
    {"Resources": "APP_RES"},                       # and is given
    {"Resources": "APP_RES:R,app_res:W"},           # each resource once
    {"GrantedRoles": "NO_SUCH_ROLE"},               # each granted role must exist, as Create requires
    {"GrantedRoles": "%Developer,%developer"},      # each once
    {"GrantedRoles": "APP_WRITER"},                 # APP_WRITER grants APP_READER: a loop
    {"GrantedRoles": "APP_READER"},                 # itself
    {"Description": "x" * 257},                     # MAXLEN = 256
    {"EscalationOnly": "1"},                        # not a property Get gives
    {"Description": "changed", "Resources": "NO_SUCH_RES:R"},  # nothing changes when one is refused
])
def test_a_role_modify_refuses_what_create_refuses_and_changes_nothing(inst, props):
    _roles(inst)
    before = role(inst, "APP_READER")
    assert refused(modify(inst, "Security.Roles", "APP_READER", **props))
    assert role(inst, "APP_READER") == before


def test_unknown_and_read_only_roles_are_not_modified(inst):
    assert refused(modify(inst, "Security.Roles", "NO_SUCH_ROLE", Description="x"))
    for name in ("%DB_USER", "%All"):  # "%DB_* implicit roles cannot be modified"; %All is read only
        assert refused(modify(inst, "Security.Roles", name, Description="x"))
    assert ok(modify(inst, "Security.Roles", "%Developer", Description="developers"))  # a system role can be


def test_create_checks_grants_as_modify_does(inst):
    _roles(inst)
    got = run(inst, 'Write "twice=",##class(Security.Roles).Create("R1","","APP_RES:R,APP_RES:W"),!',
              'Write "long=",##class(Security.Roles).Create("R2","' + "x" * 257 + '"),!',
              'Write "dup=",##class(Security.Roles).Create("R3","","","%SQL,%SQL"),!',
              'Write "res=",##class(Security.Resources).Create("R4","' + "x" * 257 + '"),!')
    assert all(refused(v) for v in got.values()), got


# --- Config.Namespaces.Modify ------------------------------------------------------------------


def namespace(inst, name: str) -> dict[str, str]:
    got = run(inst, f'Set sc=##class(Config.Namespaces).Get("{name}",.p) Write "sc=",sc,!',
              *[f'Write "{k}=",p("{k}"),!' for k in ("Globals", "Routines", "TempGlobals", "Interop")])
    assert ok(got.pop("sc"))
    return got


def test_a_namespace_modify_changes_the_databases_passed(inst):
    assert ok(modify(inst, "Config.Namespaces", "app", Globals="user", TempGlobals="iristemp"))
    assert namespace(inst, "APP") == {"Globals": "USER", "Routines": "APP_CODE", "TempGlobals": "IRISTEMP",
                                      "Interop": "0"}
    assert ok(modify(inst, "Config.Namespaces", "APP", Routines="USER"))
    assert namespace(inst, "APP")["Routines"] == "USER"


@pytest.mark.parametrize("props,error", [
    *[({key: ""}, f"ERROR #5659: Property 'Config.Namespaces::{key}(APP)' required")  # Required, MINLEN = 1
      for key in ("Globals", "Routines", "TempGlobals")],
    ({"Routines": "NO_SUCH_DB"}, "ERROR #420: Database NO_SUCH_DB does not exist"),
    ({"TempGlobals": "no_such_db"}, "ERROR #420: Database NO_SUCH_DB does not exist"),
    ({"Interop": "2"}, "not a boolean"), ({"Interop": "yes"}, "not a boolean"),  # a %Boolean
    ({"Database": "USER"}, "Property 'Database' does not exist"),           # not a namespace property
])
def test_a_namespace_modify_refuses_what_the_reference_does_not_allow(inst, props, error):
    before = namespace(inst, "APP")
    status = modify(inst, "Config.Namespaces", "APP", **props)
    assert refused(status) and error in status
    assert namespace(inst, "APP") == before


def test_interoperability_is_enabled_and_never_disabled(inst):
    assert ok(modify(inst, "Config.Namespaces", "APP", Interop="0"))  # already off: nothing changes
    assert ok(modify(inst, "Config.Namespaces", "APP", Interop="1"))
    assert namespace(inst, "APP")["Interop"] == "1"
    assert refused(modify(inst, "Config.Namespaces", "APP", Interop="0"))
    assert refused(modify(inst, "Config.Namespaces", "APP", Interop=""))  # the null value reads as 0
    assert ok(modify(inst, "Config.Namespaces", "APP", Interop="1"))
    assert namespace(inst, "APP")["Interop"] == "1"


# --- Config.MapGlobals / MapRoutines / MapPackages.Modify ---------------------------------------

MAPS = [("Config.MapGlobals", "Orders"), ("Config.MapRoutines", "ACC*"), ("Config.MapPackages", "App.Model")]


def mapping(inst, cls: str, name: str) -> str:
    got = run(inst, f'Set sc=##class({cls}).Get("APP","{name}",.p) Write "sc=",sc,! Write "db=",p("Database"),!')
    assert ok(got["sc"])
    return got["db"]


@pytest.mark.parametrize("cls,name", MAPS)
def test_a_mapping_modify_changes_its_database_and_refuses_the_rest(inst, cls, name):
    assert ok(run(inst, f'Set p("Database")="USER" Write "sc=",##class({cls}).Create("APP","{name}",.p),!')["sc"])
    assert ok(modify(inst, cls, "app", name, Database="app_data"))
    assert mapping(inst, cls, name) == "APP_DATA"
    assert ok(modify(inst, cls, "APP", name))  # nothing passed, nothing changes
    for props in ({"Database": ""}, {"Database": "NO_SUCH_DB"}, {"Name": "Other"}, {"Routines": "USER"}):
        assert refused(modify(inst, cls, "APP", name, **props)), props
    assert refused(modify(inst, cls, "APP", "NotMapped", Database="USER"))
    assert mapping(inst, cls, name) == "APP_DATA"


def test_a_global_mapping_takes_its_collation_and_lock_database_only_as_simulated(inst):
    run(inst, 'Set p("Database")="USER" Write ##class(Config.MapGlobals).Create("APP","Orders",.p)')
    assert ok(modify(inst, "Config.MapGlobals", "APP", "Orders", Collation="5", LockDatabase=""))
    assert refused(modify(inst, "Config.MapGlobals", "APP", "Orders", Collation="133"))
    assert refused(modify(inst, "Config.MapGlobals", "APP", "Orders", LockDatabase="USER"))
    assert refused(modify(inst, "Config.MapRoutines", "APP", "Orders", Collation="5"))  # not a routine's
    assert refused(run(inst, 'Set p("Database")="USER",p("Collation")=133',
                       'Write "sc=",##class(Config.MapGlobals).Create("APP","Lines",.p),!')["sc"])
