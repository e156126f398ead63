"""Issue 26 points 4 and 7: ``apply`` of generated desired states, against a simulated instance in
this process (tests/inproc_sim.py; the same scripts, sessions and runner as in a container).

For every state Hypothesis draws, one of two things holds, whichever way the instance answers:
* the apply succeeds; then a second apply changes nothing (every object ``ok``, the instance
  byte for byte as the first left it) and ``--check``'s comparison finds no drift;
* the apply fails (exit 2, 3 or 5: a database that does not exist, a call the simulator
  refuses); then the instance is exactly as before it.

The states are drawn from a few names, so that they refer to each other and to what the instance
holds (USER, APP_DATA, %DB_USER) and most can be applied; a second state drawn on top of the
first changes, adds and leaves objects.  The states hold the core kinds; the security plugin's
roles and users are applied the same way in its own tests (test_security_state_apply.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inproc_sim import InProcessIris
from iris_ops.errors import IrisOpsError
from iris_ops.manager import state_kinds
from iris_ops.operations.apply import apply_state
from iris_ops.state import plan as planning
from iris_ops.state.toml_reader import state_from_text
from state_strategies import to_toml

RESOURCES = ["%DB_RA", "R_B"]
DATABASES = ["DB_A", "DB_B"]
NAMESPACES = ["NS_A", "NS_B"]
TEXT = st.sampled_from(["", "the app", "it's data"])
PERMS = st.sampled_from(["", "R", "RW", "RWU"])


@st.composite
def applicable_states(draw) -> dict[str, list[dict]]:
    resources = draw(st.lists(st.sampled_from(RESOURCES), unique=True, max_size=2))
    known_resources = resources + ["%DB_USER"]
    database_resources = [r for r in known_resources if r.startswith("%DB_")]
    state: dict[str, list[dict]] = {}
    state["resources"] = [{"name": r, **draw(st.fixed_dictionaries({}, optional={
        "description": TEXT, "public_permission": PERMS}))} for r in resources]
    databases = draw(st.lists(st.sampled_from(DATABASES), unique=True, max_size=2))
    state["databases"] = [{"name": db, "directory": db.lower().replace("_", "-"), **draw(st.fixed_dictionaries(
        {}, optional={"size": st.integers(1, 3), "resource": st.sampled_from(database_resources)}))} for db in databases]
    if draw(st.booleans()):  # one the instance has
        state["databases"].append({"name": "APP_DATA", "directory": "app_data"})
    usable = databases + ["USER", "APP_DATA"]
    namespaces = draw(st.lists(st.sampled_from(NAMESPACES), unique=True, max_size=2))
    state["namespaces"] = [{"name": ns, "globals": draw(st.sampled_from(usable)), **draw(st.fixed_dictionaries(
        {}, optional={"routines": st.sampled_from(usable), "interop": st.booleans()}))} for ns in namespaces]
    if draw(st.booleans()):
        state["namespaces"].append({"name": "USER", "globals": "USER", **draw(st.fixed_dictionaries(
            {}, optional={"interop": st.booleans()}))})
    state["global_mappings"] = draw(st.lists(st.fixed_dictionaries({
        "namespace": st.sampled_from(namespaces + ["USER"]), "name": st.sampled_from(["Orders", "Log*"]),
        "database": st.sampled_from(usable)}), max_size=2, unique_by=lambda m: (m["namespace"], m["name"])))
    return {kind: objects for kind, objects in state.items() if objects}


def _apply(sim: InProcessIris, root: Path, text: str):
    kinds = state_kinds(sim.pm)
    desired = state_from_text(text, "state.toml", kinds=kinds)
    before = sim.snapshot()
    try:
        done = apply_state(sim.operation("apply", root), desired, kinds, prune=False)
    except IrisOpsError as exc:
        assert exc.exit_code in (2, 3, 5), exc
        if "not what cannot be undone" in exc.message:  # one-way changes (a size) may be made: named
            assert exc.details["not_undone"], exc
        else:
            assert sim.snapshot() == before, f"a failed apply ({exc}) left the instance changed"
        return None
    after = sim.snapshot()
    again = apply_state(sim.operation("apply", root), desired, kinds, prune=False)
    assert again["summary"]["created"] == again["summary"]["changed"] == 0, again["lines"]
    assert sim.snapshot() == after, "a second apply changed the instance"
    steps = planning.compare(desired, sim.run(planning.read_script(desired, kinds)), kinds)
    assert [s for s in steps if s.action != planning.OK] == [], "--check would find drift right after apply"
    return done


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=applicable_states(), second=applicable_states())
def test_an_apply_either_holds_and_a_second_changes_nothing_or_leaves_the_instance_as_it_was(first, second):
    with tempfile.TemporaryDirectory(prefix="iris-ops-apply-") as home:
        root = Path(home)
        sim = InProcessIris(root)
        for state in (first, second):
            _apply(sim, root, to_toml(state))


def test_the_generated_states_are_mostly_applied(tmp_path):
    """The property above proves little if every draw fails: most of these fixed draws apply."""
    sim = InProcessIris(tmp_path)
    applied = 0
    for seed in range(6):
        applied += _apply(sim, tmp_path, to_toml(_fixed(seed))) is not None
    assert applied >= 4, applied


def _fixed(seed: int) -> dict[str, list[dict]]:
    """Six states without randomness: each a plausible setup, built on the one before."""
    base = {
        "resources": [{"name": "%DB_RA", "description": "the app", "public_permission": "R"}],
        "databases": [{"name": "DB_A", "directory": "db-a", "size": 2, "resource": "%DB_RA"}],
        "namespaces": [{"name": "NS_A", "globals": "DB_A", "routines": "USER"}],
        "global_mappings": [{"namespace": "NS_A", "name": "Orders", "database": "USER"}],
    }
    steps = [
        base,
        {**base, "namespaces": [{"name": "NS_A", "globals": "DB_A", "routines": "DB_A", "interop": True}]},
        {**base, "global_mappings": [{"namespace": "NS_A", "name": "Orders", "database": "DB_A"}]},
        {"databases": [{"name": "DB_B", "directory": "db-b", "resource": "%DB_USER"}]},
        {"namespaces": [{"name": "NS_B", "globals": "DB_B"}], "global_mappings": [
            {"namespace": "NS_B", "name": "Log*", "database": "USER"}]},
        {"resources": [{"name": "R_B", "public_permission": "W"}, {"name": "%DB_RA", "description": "the app"}]},
    ]
    return steps[seed]


CHANGED = {
    "resources": [{"name": "%DB_RA", "description": "the app, changed", "public_permission": "RW"}],
    "databases": [{"name": "DB_A", "directory": "db-a", "size": 3, "resource": "%DB_USER"},
                  {"name": "DB_C", "directory": "db-c"}],
    "namespaces": [{"name": "NS_A", "globals": "DB_C", "routines": "DB_A", "interop": True}],
    "global_mappings": [{"namespace": "NS_A", "name": "Orders", "database": "DB_A"}],
}


def _changing_calls(sim: InProcessIris, root: Path, text: str) -> list[str]:
    """Every class method the apply of ``text`` calls that changes something, in order, from the
    scripts apply would run (its dry run prints them)."""
    import io
    import re

    from iris_ops.operation import Operation

    kinds = state_kinds(sim.pm)
    op = sim.operation("apply", root)
    shown = io.StringIO()
    dry = Operation("apply", op.settings, sim.pm, dry_run=True, out=shown)
    apply_state(dry, state_from_text(text, "state.toml", kinds=kinds), kinds, prune=False)
    calls = re.findall(r"##class\(([%\w.]+)\)\.(\w+)\(", shown.getvalue())
    # Reads, and the clean-up a step runs only when it fails part-way (a new database's), are not
    # calls the apply makes on its way.
    read_only = ("Exists", "Get", "%OpenId", "DirectoryExists", "ManagerDirectory", "GetList", "Delete",
                 "DeleteDatabase", "DismountDatabase", "RemoveDirectoryTree")
    return list(dict.fromkeys(f"{cls}.{method}" for cls, method in calls
                              if method not in read_only and not cls.startswith(("%Exception.", "%SYSTEM.Process"))))


@pytest.mark.parametrize("phase", ["create", "change"])
def test_a_call_the_instance_refuses_at_any_step_leaves_it_as_before(tmp_path, phase):
    """Each changing call apply makes, refused by the instance in turn (``iris-sim stop arm CALL
    --fail``: the class method returns an error status): exit 5 naming it, every change rolled
    back, the instance exactly as before.  Then, with nothing refused, the apply holds."""
    from iris_ops_sim.irissim.instance import stops

    sim = InProcessIris(tmp_path)
    if phase == "change":
        assert _apply(sim, tmp_path, to_toml(_fixed(0))) is not None
    text = to_toml(_fixed(0) if phase == "create" else CHANGED)
    kinds = state_kinds(sim.pm)
    calls = _changing_calls(sim, tmp_path, text)
    wanted = {"create": {"Security.Resources.Create", "%Library.File.CreateDirectoryChain",
                         "SYS.Database.CreateDatabase", "Config.Databases.Create", "Config.Namespaces.Create",
                         "Config.MapGlobals.Create"},
              "change": {"Security.Resources.Modify", "Config.Namespaces.Modify",
                         "Config.MapGlobals.Modify", "SYS.Database.CreateDatabase"}}[phase]
    assert wanted <= set(calls), calls
    for call in calls:
        before = sim.snapshot()
        stops.arm(sim.instance, call, fail=True)
        try:
            with pytest.raises(IrisOpsError) as caught:
                apply_state(sim.operation("apply", tmp_path), state_from_text(text, "state.toml", kinds=kinds), kinds,
                            prune=False)
        finally:
            stops.clear(sim.instance)
        assert caught.value.exit_code == 5, (call, caught.value)
        message = caught.value.message
        assert "(at: " in message and "every change of this apply was rolled back" in message, message
        # the instance's own error, passed on (a %File call answers 0, and the step says what failed)
        said = {"%Library.File.CreateDirectoryChain": "cannot create the directory "}.get(
            call, f"{call.rsplit('.', 1)[1]} failed")
        assert said in message, message
        assert sim.snapshot() == before, f"refusing {call} left the instance changed"
    assert _apply(sim, tmp_path, text) is not None


def test_prune_acts_only_on_entries_an_apply_wrote(tmp_path):
    """A record edited by hand (entries that are no objects, a system namespace, a namespace the
    state names no more but no apply created) makes --prune remove only what the record really
    says an apply created, and never a system object."""
    import json

    sim = InProcessIris(tmp_path)
    assert _apply(sim, tmp_path, to_toml(_fixed(3))) is not None  # DB_B, created and recorded
    record = sim.host(sim.mgr + "iris-ops-applied.json")
    doc = json.loads(record.read_text())
    doc["created"] += ["junk", {"kind": "namespaces"}, {"kind": "namespaces", "key": [7]},
                       {"kind": "namespaces", "key": ["%SYS"]}, {"kind": "databases", "key": ["IRISLIB"]}]
    record.write_text(json.dumps(doc))
    kinds = state_kinds(sim.pm)
    desired = state_from_text(to_toml({"namespaces": [{"name": "USER", "globals": "USER"}]}), "s.toml", kinds=kinds)
    done = apply_state(sim.operation("apply", tmp_path), desired, kinds, prune=True)
    assert done["pruned"] == [{"kind": "databases", "name": "DB_B"}]
    config = sim.config()
    assert "%SYS" in config["Namespaces"] and "IRISLIB" in config["Databases"] and "DB_B" not in config["Databases"]


def test_prune_refuses_a_record_that_is_not_a_json_object_and_names_it_once(tmp_path):
    """--prune over a record of earlier applies that holds another JSON value: exit 5's error,
    the record named once with what it holds, and nothing removed."""
    from iris_ops.errors import InstanceError

    sim = InProcessIris(tmp_path)
    assert _apply(sim, tmp_path, to_toml(_fixed(3))) is not None
    path = sim.mgr + "iris-ops-applied.json"
    sim.host(path).write_text("[]")
    before = sim.snapshot()
    kinds = state_kinds(sim.pm)
    desired = state_from_text(to_toml({"namespaces": [{"name": "USER", "globals": "USER"}]}), "s.toml", kinds=kinds)
    with pytest.raises(InstanceError) as refused:
        apply_state(sim.operation("apply", tmp_path), desired, kinds, prune=True)
    message = str(refused.value)
    assert message == (f"the record of earlier applies {path} is not a JSON object: it holds JSON list, "
                       "not an object"), message
    assert sim.snapshot() == before


@pytest.mark.parametrize("phase", ["create", "change", "prune"])
def test_doctor_builds_every_undo_from_the_journal_as_apply_built_it(tmp_path, phase):
    """What ``doctor --fix`` runs after a ``kill -9`` is built again from the journal's entries
    (data, through the kinds): for every action of a create, a change and a --prune, through
    JSON as the journal stores it, the same ObjectScript as the undo apply itself recorded."""
    import json

    from iris_ops.objectscript import Script
    from iris_ops.operations import apply as apply_module
    from iris_ops.operations.apply_journal import entry_of, undo_script
    from iris_ops.state import changeset
    from iris_ops.state.kinds import ChangeContext

    sim = InProcessIris(tmp_path)
    kinds = state_kinds(sim.pm)
    if phase != "create":
        assert _apply(sim, tmp_path, to_toml(_fixed(0))) is not None
    op = sim.operation("apply", tmp_path)
    ctx = ChangeContext(sim.mgr, op)
    if phase == "prune":
        desired = state_from_text(to_toml({"namespaces": [{"name": "USER", "globals": "USER"}]}), "s.toml", kinds=kinds)
        record = json.loads(sim.host(sim.mgr + "iris-ops-applied.json").read_text())
        todo = apply_module._prune(op, desired, kinds, record, ctx)
    else:
        desired = state_from_text(to_toml(_fixed(0) if phase == "create" else CHANGED), "s.toml", kinds=kinds)
        todo = changeset.actions(planning.compare(desired, sim.run(planning.read_script(desired, kinds)), kinds),
                                 kinds, ctx)
    undone = [action for action in todo if action.undo is not None]
    assert len(undone) >= 3, todo
    for action in undone:
        entry = json.loads(json.dumps(entry_of(action)))
        recorded = Script("%SYS", purpose="undo")
        recorded.step("undo", *action.undo)
        assert undo_script(entry, kinds, ctx).folded() == recorded.folded(), action.what


def test_prune_removes_newest_kind_first_and_what_cannot_come_back_last():
    """``--prune``'s removals (pure logic): in the reverse of the kinds' order; each undone by
    creating the object again from what the instance held, through the kind's builders with
    apply's context; a database (its files are gone) and a namespace removed with the databases
    a fixture's restore made (statements of its own) are never undone, and come last."""
    from iris_ops.objectscript import lit, set_, var
    from iris_ops.state import changeset
    from iris_ops.state.kinds import DATABASES, GLOBAL_MAPPINGS, NAMESPACES, RESOURCES, ChangeContext, Kind
    from iris_ops.state.model import Field, Schema

    def build(verb):
        return lambda key, fields, ctx: [set_(var("x"), lit(f"{verb} {key[0]} in {ctx.manager_directory}"))]

    widgets = Kind(Schema(kind="widgets", title="widget", key=("name",), fields=(
        Field("name", "Name", str, str, "its name", required=True),)), reader=lambda keys: [],
        create=build("create"), remove=build("remove"))
    ctx = ChangeContext("/mgr/")
    own = (set_(var("x"), lit("delete NSF with its databases")),)
    found = [(RESOURCES, ("%DB_R",), "%DB_R", {"name": "%DB_R", "description": "d"}),
             (DATABASES, ("DB",), "DB", {"name": "DB", "directory": "/mgr/db/"}),
             (NAMESPACES, ("NS",), "NS", {"name": "NS", "globals": "DB"}),
             (NAMESPACES, ("NSF",), "NSF", {"name": "NSF", "globals": "NSF"}),
             (GLOBAL_MAPPINGS, ("NS", "Orders"), "NS/Orders", {"namespace": "NS", "name": "Orders", "database": "DB"}),
             (widgets, ("W",), "W", {"name": "W"})]
    actions = changeset.prune_actions(found, ctx, {("namespaces", ("NSF",)): (own, False)})
    assert [(a.kind, a.label, a.undo is not None) for a in actions] == [
        ("widgets", "W", True), ("global_mappings", "NS/Orders", True), ("namespaces", "NS", True),
        ("resources", "%DB_R", True), ("namespaces", "NSF", False), ("databases", "DB", False)]
    assert all(a.action == changeset.REMOVE for a in actions)
    widget, mapping, namespace, resource, restored, database = actions
    assert "remove W in /mgr/" in str(widget.statements) and "create W in /mgr/" in str(widget.undo)
    assert widget.fields == widget.undo_fields == {"name": "W"}
    assert restored.statements == own and restored.undo is restored.undo_fields is None
    assert database.undo is database.undo_fields is None and database.fields == {"name": "DB", "directory": "/mgr/db/"}
    assert resource.undo_fields == {"name": "%DB_R", "description": "d"}
    assert changeset.prune_actions(found[:1], ctx)[0].undo is not None  # no statements of its own given


def test_a_database_is_never_moved_and_one_not_mounted_is_named(tmp_path):
    """A database the instance keeps in another directory than the state gives is exit 3
    before anything changes (apply does not move one); a size change of a database that is not
    mounted is exit 5, naming it, and the instance is as before."""
    from iris_ops.errors import ConflictError

    sim = InProcessIris(tmp_path)
    kinds = state_kinds(sim.pm)
    before = sim.snapshot()
    moved = state_from_text(to_toml({"databases": [{"name": "APP_DATA", "directory": "elsewhere", "size": 3}]}),
                            "s.toml", kinds=kinds)
    with pytest.raises(ConflictError) as caught:
        apply_state(sim.operation("apply", tmp_path), moved, kinds, prune=False)
    assert caught.value.exit_code == 3 and caught.value.message == (
        "database APP_DATA is in another directory than the state gives: apply does not move a database")
    assert caught.value.fix == ("Give the directory it has, or move it yourself (dismount, move the file, "
                                "Config.Databases.Modify) and apply again.")
    assert sim.snapshot() == before
    assert "dismounted=1" in sim.session(f'Write "dismounted=",##class(SYS.Database).DismountDatabase('
                                         f'"{sim.mgr}app_data/"),!')
    before = sim.snapshot()
    grown = state_from_text(to_toml({"databases": [{"name": "APP_DATA", "directory": "app_data", "size": 3}]}),
                            "s.toml", kinds=kinds)
    with pytest.raises(IrisOpsError) as caught:
        apply_state(sim.operation("apply", tmp_path), grown, kinds, prune=False)
    assert caught.value.exit_code == 5
    assert "database APP_DATA is not mounted: mount it, then apply again" in caught.value.message, caught.value
    assert sim.snapshot() == before
    # its file gone (a disk that lost it): named with the directory, exit 5, nothing changed
    sim.host(f"{sim.mgr}app_data/IRIS.DAT").unlink()
    before = sim.snapshot()
    with pytest.raises(IrisOpsError) as caught:
        apply_state(sim.operation("apply", tmp_path), grown, kinds, prune=False)
    assert caught.value.exit_code == 5
    assert f"cannot open the database file of APP_DATA in {sim.mgr}app_data/" in caught.value.message, caught.value
    assert sim.snapshot() == before


def test_the_plan_becomes_actions_in_its_order_one_way_changes_last():
    """changeset.actions (pure logic): every create and change of the plan in its order, a
    namespace from a fixture as an action of its own, each change split into what can be undone
    and what cannot (which comes after everything else); the kinds' builders get apply's
    context; a change a kind has no builder for is refused before anything runs (exit 2)."""
    from iris_ops.errors import UsageError
    from iris_ops.objectscript import lit, set_, var
    from iris_ops.state import changeset
    from iris_ops.state.kinds import CORE_KINDS, ChangeContext, Kind
    from iris_ops.state.model import Field, Schema
    from iris_ops.state.plan import CHANGE, CREATE, OK, Change, Step

    def build(verb):
        return lambda key, fields, ctx: [set_(var("x"), lit(f"{verb} {key[0]} {sorted(fields.items())} in "
                                                            f"{ctx.manager_directory}"))]

    schema = Schema(kind="widgets", title="widget", key=("name",), fields=(
        Field("name", "Name", str, str, "its name", required=True), Field("label", "Label", str, str, "its label")))
    widgets = Kind(schema, reader=lambda keys: [], create=build("create"), modify=build("modify"),
                   remove=build("remove"))
    ctx = ChangeContext("/mgr/")
    steps = [
        Step("resources", "R", CREATE, fields={"name": "R", "description": "d"}, key=("R",)),
        Step("namespaces", "NSF", CREATE, fields={"name": "NSF", "fixture": "FX"}, key=("NSF",)),
        Step("databases", "DB", CHANGE, (Change("size", 1, 3), Change("resource", "%DB_A", "%DB_B")), key=("DB",)),
        Step("widgets", "W", CREATE, fields={"name": "W"}, key=("W",)),
        Step("widgets", "V", CHANGE, (Change("label", "a", "b"),), key=("V",)),
        Step("namespaces", "NS", OK, key=("NS",)),
    ]
    actions = changeset.actions(steps, (*CORE_KINDS, widgets), ctx)
    assert [(a.kind, a.key, a.label, a.action, dict(a.fields), a.fixture, a.undo_fields) for a in actions] == [
        ("resources", ("R",), "R", CREATE, {"name": "R", "description": "d"}, "", {"name": "R", "description": "d"}),
        ("namespaces", ("NSF",), "NSF", CREATE, {"name": "NSF", "fixture": "FX"}, "FX", None),
        ("databases", ("DB",), "DB", CHANGE, {"resource": "%DB_B"}, "", {"resource": "%DB_A"}),
        ("widgets", ("W",), "W", CREATE, {"name": "W"}, "", {"name": "W"}),
        ("widgets", ("V",), "V", CHANGE, {"label": "b"}, "", {"label": "a"}),
        ("databases", ("DB",), "DB", CHANGE, {"size": 3}, "", None),
    ]
    fixture, size = actions[1], actions[-1]
    assert fixture.statements == fixture.undo == () and size.undo is None and size.statements
    created, changed = actions[3], actions[4]
    def text(codes):
        return " ".join(map(str, codes))

    assert "create W [('name', 'W')] in /mgr/" in text(created.statements)
    assert "remove W [('name', 'W')] in /mgr/" in text(created.undo)
    assert "modify V [('label', 'b')] in /mgr/" in text(changed.statements)
    assert "modify V [('label', 'a')] in /mgr/" in text(changed.undo)

    from iris_ops.state import plan as planning

    # the plan's lines name a plugin's objects by its kind's title
    assert planning.lines(steps[3:5], (*CORE_KINDS, widgets))[:2] == ["create  widget W", "change  widget V"]
    frozen = Kind(schema, reader=lambda keys: [], create=build("create"))
    with pytest.raises(UsageError) as caught:
        changeset.actions(steps[4:5], (*CORE_KINDS, frozen), ctx)
    assert caught.value.exit_code == 2 and caught.value.message == (
        "the state asks to change widget objects, and the kind widgets has no modify builder: apply cannot do it")
    assert caught.value.fix == ("Make that change yourself, or leave it out of the state; the plugin that adds "
                                "widgets may support it in a later version.")
    with pytest.raises(UsageError, match="^the state asks to create widget objects, and the kind widgets has no "
                                         "remove builder to undo that: apply cannot do it$"):
        changeset.actions(steps[3:4], (*CORE_KINDS, frozen), ctx)


def test_prune_removes_what_an_apply_created_down_to_the_instance_it_found(tmp_path):
    """An apply, then --prune with a state that names none of it: the mapping, the namespace, the
    resource and the database it created are removed (newest kind first), the record with
    them, and the instance is as it was before the first apply; a new database's directory that
    exists already is refused (exit 3) before anything changes."""
    from iris_ops.errors import ConflictError

    sim = InProcessIris(tmp_path)
    kinds = state_kinds(sim.pm)
    before = sim.snapshot()
    assert _apply(sim, tmp_path, to_toml(_fixed(0))) is not None
    empty = state_from_text(to_toml({"namespaces": [{"name": "USER", "globals": "USER"}]}), "s.toml", kinds=kinds)
    done = apply_state(sim.operation("apply", tmp_path), empty, kinds, prune=True)
    assert done["pruned"] == [{"kind": "global_mappings", "name": "NS_A/Orders"}, {"kind": "namespaces", "name": "NS_A"},
                              {"kind": "resources", "name": "%DB_RA"}, {"kind": "databases", "name": "DB_A"}]
    assert sim.snapshot() == before
    taken = state_from_text(to_toml({"databases": [{"name": "DB_NEW", "directory": "app_data"}]}), "s.toml",
                            kinds=kinds)
    with pytest.raises(ConflictError) as caught:
        apply_state(sim.operation("apply", tmp_path), taken, kinds, prune=False)
    assert caught.value.message == f"the directory of a database to create exists already: {sim.mgr}app_data/"
    assert sim.snapshot() == before


def test_a_database_to_create_needs_its_directory(tmp_path):
    sim = InProcessIris(tmp_path)
    kinds = state_kinds(sim.pm)
    before = sim.snapshot()
    bare = state_from_text(to_toml({"databases": [{"name": "DB_NEW", "size": 2}]}), "s.toml", kinds=kinds)
    with pytest.raises(IrisOpsError) as caught:
        apply_state(sim.operation("apply", tmp_path), bare, kinds, prune=False)
    assert caught.value.exit_code == 2 and caught.value.message == (
        "database DB_NEW is to be created, and the state gives no directory for it")
    assert caught.value.fix == 'Add directory = "..." to [state.databases.DB_NEW] (relative to the manager directory).'
    assert sim.snapshot() == before


def test_every_mapping_kind_is_created_changed_and_pruned_in_a_namespace_that_stays(tmp_path):
    """Each mapping kind end to end in USER (which stays, so its mappings go only by their own
    removal): created as the plan line says, moved to another database, then removed by --prune,
    the rest of the instance as the databases' apply left it."""
    from iris_ops.operations.plan import read_objects

    sim = InProcessIris(tmp_path)
    kinds = state_kinds(sim.pm)
    base = {"databases": [{"name": "DB_M", "directory": "db_m"}, {"name": "DB_N", "directory": "db_n"}]}
    names = {"global_mappings": "Orders", "routine_mappings": "Lib*", "package_mappings": "App.Model"}

    def state(database: str) -> dict:
        return {**base, **{kind: [{"namespace": "USER", "name": name, "database": database}]
                           for kind, name in names.items()}}

    def where() -> dict:
        op = sim.operation("plan", tmp_path)
        found = read_objects(op, kinds, [(kind, ("USER", name)) for kind, name in names.items()])
        assert [(entry["namespace"], entry["name"]) for _, entry in found] == [("USER", n) for n in names.values()]
        return {kind: entry.get("database") if entry["exists"] else None for (kind, _), entry in found}

    assert _apply(sim, tmp_path, to_toml(base)) is not None
    with_databases = sim.snapshot()
    done = _apply(sim, tmp_path, to_toml(state("DB_M")))
    assert [line for line in done["lines"] if "mapping" in line] == [
        "created  global mapping USER/Orders", "created  routine mapping USER/Lib*",
        "created  package mapping USER/App.Model"]
    assert where() == dict.fromkeys(names, "DB_M")
    done = _apply(sim, tmp_path, to_toml(state("DB_N")))
    assert [line for line in done["lines"] if "mapping" in line] == [
        "changed  global mapping USER/Orders", "changed  routine mapping USER/Lib*",
        "changed  package mapping USER/App.Model"]
    assert where() == dict.fromkeys(names, "DB_N")
    desired = state_from_text(to_toml(base), "s.toml", kinds=kinds)
    done = apply_state(sim.operation("apply", tmp_path), desired, kinds, prune=True)
    assert done["pruned"] == [{"kind": kind, "name": f"USER/{name}"} for kind, name in reversed(names.items())]
    assert where() == dict.fromkeys(names)
    assert sim.snapshot() == with_databases


def test_what_a_state_leaves_out_is_created_empty_and_interoperability_off(tmp_path):
    """A resource without description or public permission is created with neither (not with a
    placeholder), and a namespace asked for without interoperability has it off."""
    from iris_ops.operations.plan import read_objects

    sim = InProcessIris(tmp_path)
    state = {"resources": [{"name": "R_PLAIN"}], "databases": [{"name": "DB_I", "directory": "db_i"}],
             "namespaces": [{"name": "NS_I", "globals": "DB_I", "interop": False}]}
    assert _apply(sim, tmp_path, to_toml(state)) is not None
    found = dict(read_objects(sim.operation("plan", tmp_path), state_kinds(sim.pm),
                              [("resources", ("R_PLAIN",)), ("namespaces", ("NS_I",)), ("databases", ("DB_I",))]))
    assert found.pop(("databases", ("DB_I",)))["size"] == 1  # no size given: the smallest, 1 MB
    assert (found["resources", ("R_PLAIN",)]["description"], found["resources", ("R_PLAIN",)]["public_permission"]) \
        == ("", "")
    assert found["namespaces", ("NS_I",)] == {"name": "NS_I", "exists": 1, "globals": "DB_I", "routines": "DB_I",
                                              "temp_globals": "IRISTEMP", "interop": 0}
    assert [entry["name"] for entry in found.values()] == ["R_PLAIN", "NS_I"]  # each entry names its object


def test_what_a_kind_cannot_do_and_what_must_exist_are_named_before_anything_runs():
    """Pure logic of the plan and the changes: a kind without a create builder, or without the
    remove builder --prune needs, stops apply (exit 2) naming the change; objects of kinds that
    must exist (a plugin's services) and are missing are all named, of every kind, in one error."""
    from iris_ops.errors import UsageError
    from iris_ops.objectscript import lit, set_, var
    from iris_ops.state import changeset
    from iris_ops.state import plan as planning
    from iris_ops.state.kinds import CORE_KINDS, ChangeContext, Kind
    from iris_ops.state.model import DesiredState, Field, Origin, Schema, StateObject
    from iris_ops.state.plan import CREATE, Step

    def schema(name, title):
        return Schema(kind=name, title=title, key=("name",), fields=(Field("name", "Name", str, str, "its name",
                                                                            required=True),))

    remove_only = Kind(schema("widgets", "widget"), reader=lambda keys: [],
                       remove=lambda key, fields, ctx: [set_(var("x"), lit(1))])
    with pytest.raises(UsageError, match="^the state asks to create widget objects, and the kind widgets has no "
                                         "create builder: apply cannot do it$"):
        changeset.actions([Step("widgets", "W", CREATE, fields={"name": "W"}, key=("W",))],
                          (*CORE_KINDS, remove_only), ChangeContext("/mgr/"))
    create_only = Kind(schema("widgets", "widget"), reader=lambda keys: [],
                       create=lambda key, fields, ctx: [set_(var("x"), lit(1))])
    with pytest.raises(UsageError, match="^the state asks to remove widget objects, and the kind widgets has no "
                                         "remove builder: apply cannot do it$"):
        changeset.prune_actions([(create_only, ("W",), "W", {"name": "W"})], ChangeContext("/mgr/"))
    services = Kind(schema("gadgets", "gadget"), reader=lambda keys: [], must_exist=True)
    ports = Kind(schema("gizmos", "gizmo"), reader=lambda keys: [], must_exist=True)
    state = DesiredState("s.toml", (StateObject("gadgets", ("G",), {"name": "G"}, Origin("s.toml", 2)),
                                    StateObject("gizmos", ("Z",), {"name": "Z"}, Origin("s.toml", 5))))
    with pytest.raises(UsageError) as caught:
        planning.compare(state, {"gadgets": [{"exists": 0}], "gizmos": [{"exists": 0}]}, (services, ports))
    assert caught.value.message == "the instance has no gadget G (s.toml:2), gizmo Z (s.toml:5)"
    assert caught.value.fix == "iris-ops never creates objects of that kind: check the names against the instance."
    # a secret field is compared but never shown; a field the reader did not answer is a change from nothing
    locks = Kind(Schema(kind="locks", title="lock", key=("name",), fields=(
        Field("name", "Name", str, str, "its name", required=True),
        Field("code", "Code", str, str, "its code", secret=True), Field("label", "Label", str, str, "its label"))),
        reader=lambda keys: [])
    wanted = DesiredState("s.toml", (StateObject("locks", ("L",), {"name": "L", "code": "new", "label": "x"},
                                                 Origin("s.toml", 1)),))
    [step] = planning.compare(wanted, {"locks": [{"exists": 1, "code": "old"}]}, (locks,))
    assert planning.as_data([step])["plan"][0]["changes"] == {"code": {"changed": True},
                                                              "label": {"old": None, "new": "x"}}
