"""What ``iris-ops plan`` reads and decides, run on a simulated instance (tests/inproc_sim.py): the
reader of each core kind finds what the instance holds (and what it lacks), changes nothing,
and the plan says create, change (field by field) or ok.  (The security plugin's roles, users and
services: plugins/iris-ops-security/tests/test_security_state_sim.py.)"""

from __future__ import annotations

import pytest

from inproc_sim import sim  # noqa: F401 - sim is a fixture
from iris_ops.state import plan
from iris_ops.state.kinds import iris_permission
from iris_ops.state.toml_reader import state_from_text

MGR = "/usr/irissys/mgr/"

STATE = '''
[state.resources.APP_RES]
description = "the app's data"
public_permission = "R"

[state.databases.APP_DATA]
directory = "app_data"
size = 1
resource = "%db_app_data"

[state.databases.NEW_DB]
directory = "/data/new/"

[state.namespaces.APP]
globals = "APP_DATA"
routines = "APP_CODE"

[state.namespaces.TEST1]
fixture = "APP"

[[state.global_mappings]]
namespace = "APP"
name = "Orders(1):(100)"
database = "USER"

[[state.routine_mappings]]
namespace = "%ALL"
name = "ACC*"
database = "USER"

[[state.package_mappings]]
namespace = "APP"
name = "App.Model"
database = "APP_CODE"
'''


def _setup(sim) -> None:
    out = sim.session('\n'.join([
        'Write "res=",##class(Security.Resources).Create("APP_RES","the app\'s data","R"),!',
        'Set p("Database")="USER" Write "gm=",##class(Config.MapGlobals).Create("APP","Orders(1):(100)",.p),!',
        'Set p("Database")="APP_DATA" Write "pm=",##class(Config.MapPackages).Create("APP","App.Model",.p),!',
    ]))
    for made in ("res=1", "gm=1", "pm=1"):
        assert made in out, out


def _steps(sim, text: str = STATE) -> dict[str, plan.Step]:
    desired = state_from_text(text, "iris-ops.toml")
    return {f"{s.kind}:{s.label}": s for s in plan.compare(desired, sim.run(plan.read_script(desired)))}


def test_an_instance_without_the_objects_plans_to_create_them(sim):
    steps = _steps(sim)
    assert {k for k, s in steps.items() if s.action == "create"} == {
        "resources:APP_RES", "databases:NEW_DB", "namespaces:TEST1",
        "global_mappings:APP/Orders(1):(100)", "routine_mappings:%ALL/ACC*", "package_mappings:APP/App.Model"}
    assert steps["databases:APP_DATA"].action == "ok"  # size 1 at least, resource without case
    assert steps["namespaces:APP"].action == "ok"
    assert steps["resources:APP_RES"].fields == {"name": "APP_RES", "description": "the app's data",
                                                 "public_permission": "R"}
    assert steps["namespaces:TEST1"].fields == {"name": "TEST1", "fixture": "APP"}


def test_what_the_instance_holds_is_ok_and_each_difference_is_a_field_change(sim):
    _setup(sim)
    steps = _steps(sim)
    assert steps["resources:APP_RES"].action == "ok"
    assert steps["global_mappings:APP/Orders(1):(100)"].action == "ok"
    mapped = steps["package_mappings:APP/App.Model"]
    assert (mapped.action, mapped.changes) == ("change", (plan.Change("database", "APP_DATA", "APP_CODE"),))
    changed = _steps(sim, STATE.replace('size = 1', 'size = 3').replace('directory = "app_data"', 'directory = "x/"')
                     .replace('public_permission = "R"', 'public_permission = "RW"')
                     .replace('routines = "APP_CODE"', 'routines = "USER"'))
    assert changed["databases:APP_DATA"].changes == (plan.Change("directory", f"{MGR}app_data/", f"{MGR}x/"),
                                                     plan.Change("size", 1, 3))
    assert changed["resources:APP_RES"].changes == (plan.Change("public_permission", "R", "RW"),)
    assert changed["namespaces:APP"].changes == (plan.Change("routines", "APP_CODE", "USER"),)


def test_the_reader_changes_nothing(sim):
    _setup(sim)
    before = (sim.config(), sim.resources(), sim.roles())
    desired = state_from_text(STATE, "iris-ops.toml")
    result = sim.run(plan.read_script(desired))
    assert (sim.config(), sim.resources(), sim.roles()) == before
    assert result["manager_directory"] == MGR
    assert [entry["exists"] for entry in result["databases"]] == [1, 0]
    assert result["databases"][0] == {"name": "APP_DATA", "exists": 1, "directory": f"{MGR}app_data/", "file": 1,
                                      "size": 1, "resource": "%DB_APP_DATA", "mounted": 1}


def test_the_plan_reads_as_lines_and_as_data(sim):
    _setup(sim)
    desired = state_from_text(STATE.replace('size = 1', 'size = 2'), "iris-ops.toml")
    steps = plan.compare(desired, sim.run(plan.read_script(desired)))
    shown = plan.lines(steps)
    assert "change  database APP_DATA" in shown
    assert "          size: 1 -> 2" in shown
    assert "create  namespace TEST1 (fixture=APP)" in shown
    assert shown[-1] == "plan: 3 to create, 2 to change, 3 ok"
    data = plan.as_data(steps)
    assert data["summary"] == {"create": 3, "change": 2, "ok": 3}
    assert {"kind": "databases", "name": "APP_DATA", "action": "change",
            "changes": {"size": {"old": 1, "new": 2}}} in data["plan"]


def test_a_reader_that_answers_for_fewer_objects_is_an_instance_error():
    desired = state_from_text('[state.databases.A]\n[state.databases.B]\n', "iris-ops.toml")
    with pytest.raises(Exception, match="answered for 1 objects, not 2"):
        plan.compare(desired, {"manager_directory": MGR, "databases": [{"name": "A", "exists": 0}]})


@pytest.mark.parametrize("given, letters", [("", ""), ("R", "R"), ("wr", "RW"), ("0", ""), ("1", "R"), ("3", "RW"),
                                             ("5", "RU"), ("7", "RWU")])
def test_a_permission_reads_as_letters_or_as_the_bitmap(given, letters):
    assert iris_permission(given) == letters


def test_a_size_is_a_minimum_since_a_database_only_grows(sim):
    sim.instance.create_database("BIG", size_mb=3)
    text = '[state.databases.BIG]\nsize = {}\n'
    assert _steps(sim, text.format(2))["databases:BIG"].action == "ok"
    assert _steps(sim, text.format(3))["databases:BIG"].action == "ok"
    assert _steps(sim, text.format(4))["databases:BIG"].changes == (plan.Change("size", 3, 4),)


def test_the_simulated_security_roles_get_is_no_more_forgiving_than_iris(sim):
    out = sim.session('\n'.join([
        'Set sc=##class(Security.Roles).Get("NO_SUCH_ROLE",.p) Write "missing=",$SYSTEM.Status.IsError(sc),!',
        'Set sc=##class(Security.Roles).Create("R1","","","NO_SUCH_ROLE") Write "granted=",$SYSTEM.Status.IsError(sc),!',
        'Set sc=##class(Security.Roles).Create("R2","two","","%Developer") Write "made=",sc,!',
        'Kill p Set sc=##class(Security.Roles).Get("r2",.p) Write "got=",p("Description"),"|",p("GrantedRoles"),!',
    ]))
    for seen in ("missing=1", "granted=1", "made=1", "got=two|%Developer"):
        assert seen in out, out


def test_a_namespace_restored_from_a_fixture_is_ok_once_it_exists(sim):
    assert _steps(sim, '[state.namespaces.APP]\nfixture = "APP"\n')["namespaces:APP"].action == "ok"


def test_values_iris_gives_as_text_compare_as_their_meaning():
    desired = state_from_text('[state.namespaces.APP]\nglobals = "APP"\ninterop = false\n'
                              '[state.resources.R]\npublic_permission = "RW"\n', "iris-ops.toml")
    result = {"manager_directory": MGR,
              "namespaces": [{"name": "APP", "exists": 1, "globals": "app", "interop": "0"}],
              "resources": [{"name": "R", "exists": 1, "public_permission": "3"}]}
    assert [s.action for s in plan.compare(desired, result)] == ["ok", "ok"]


def test_every_kind_of_value_reads_as_the_plan_shows_it():
    """The console lines and the --json document of a plan, value by value: none, booleans,
    grants, lists, empty text; a secret shown only as changed; a create's fields without its
    key; a kind no longer installed shown by its name."""
    steps = [
        plan.Step("databases", "APP", plan.CREATE, fields={"name": "APP", "directory": "/mgr/app/", "size": 2}),
        plan.Step("namespaces", "NS", plan.CREATE, fields={"name": "NS"}),
        plan.Step("resources", "R", plan.CHANGE, (
            plan.Change("description", None, ""), plan.Change("public_permission", "", "RW"))),
        plan.Step("users", "alice", plan.CHANGE, (
            plan.Change("enabled", True, False), plan.Change("roles", [], ["A", "B"]),
            plan.Change("grants", {"R": "RW", "S": "R"}, {}), plan.Change("password", "old", "new", secret=True))),
        plan.Step("roles", "RO", plan.OK),
    ]
    assert plan.lines(steps) == [
        "create  database APP (directory=/mgr/app/, size=2)",
        "create  namespace NS",
        "change  resource R",
        '          description: (none) -> ""',
        '          public_permission: "" -> RW',
        "change  users alice",
        "          enabled: true -> false",
        '          roles: "" -> A,B',
        '          grants: R:RW,S:R -> ""',
        "          password: changed",
        "ok      roles RO",
        "plan: 2 to create, 2 to change, 1 ok",
    ]
    assert plan.as_data(steps) == {"plan": [
        {"kind": "databases", "name": "APP", "action": "create",
         "fields": {"name": "APP", "directory": "/mgr/app/", "size": 2}},
        {"kind": "namespaces", "name": "NS", "action": "create", "fields": {"name": "NS"}},
        {"kind": "resources", "name": "R", "action": "change",
         "changes": {"description": {"old": None, "new": ""}, "public_permission": {"old": "", "new": "RW"}}},
        {"kind": "users", "name": "alice", "action": "change",
         "changes": {"enabled": {"old": True, "new": False}, "roles": {"old": [], "new": ["A", "B"]},
                     "grants": {"old": {"R": "RW", "S": "R"}, "new": {}}, "password": {"changed": True}}},
        {"kind": "roles", "name": "RO", "action": "ok"},
    ], "summary": {"create": 2, "change": 2, "ok": 1}}
    assert plan.as_data([plan.Step("databases", "X", plan.CREATE)])["plan"][0]["fields"] == {}


@pytest.mark.parametrize(("given", "meaning"), [(0, False), (1, True), ("0", False), ("1", True), ("", False),
                                                ("2", "2"), (True, True)])
def test_a_flag_iris_gives_reads_as_a_boolean_and_anything_else_as_it_is(given, meaning):
    """Interoperability as the reader gives it; a value that is no flag stays itself, so that it
    differs from true and false and the plan shows it."""
    from iris_ops.state.kinds import NAMESPACES

    assert NAMESPACES.schema.field("interop").from_iris(given) == meaning
    assert type(NAMESPACES.schema.field("interop").from_iris(given)) is type(meaning)


@pytest.mark.parametrize(("given", "meaning"), [(5, 5), ("5", 5), ("", ""), ("-1", "-1"), ("5MB", "5MB")])
def test_a_size_iris_gives_reads_as_a_number_and_anything_else_as_it_is(given, meaning):
    """A database's size as the reader gives it: digits are a number; anything else stays
    itself, so that it differs from the number the state gives and the plan shows it."""
    from iris_ops.state.kinds import DATABASES

    assert DATABASES.schema.field("size").from_iris(given) == meaning
    assert type(DATABASES.schema.field("size").from_iris(given)) is type(meaning)


def test_the_reader_of_a_kind_that_needs_the_objects_gets_them_and_a_context():
    """A kind with ``read_objects`` (the security plugin's users) is asked with the objects and
    apply's context, or an empty one for a plan read without it."""
    from iris_ops.state.kinds import ChangeContext, Kind
    from iris_ops.state.model import Field, Schema

    asked = []
    gadgets = Kind(Schema(kind="gadgets", title="gadget", key=("name",), fields=(
        Field("name", "Name", str, str, "its name", required=True),)), reader=lambda keys: [],
        read_objects=lambda objects, ctx: asked.append(([o.key for o in objects], ctx.manager_directory)) or [[]])
    desired = state_from_text("[state.gadgets.G]\n[state.gadgets.H]\n", "iris-ops.toml", kinds=(gadgets,))
    plan.read_script(desired, (gadgets,), ChangeContext("/mgr/"))
    plan.read_script(desired, (gadgets,))
    assert asked == [([("G",), ("H",)], "/mgr/"), ([("G",), ("H",)], "")]
