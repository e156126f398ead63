"""Issue 26 points 4 and 7 for this plugin's kinds: ``apply`` of generated desired states holding
resources, roles and users, on a simulated instance in this process (state_sim.Bed: the same
scripts, sessions, runner and staged passwords as against a container), as
tests/test_apply_states.py does for iris-ops' own kinds.

For every state Hypothesis draws, one of two things holds, whichever way the instance answers:
* the apply succeeds; then a second apply changes nothing (every object ``ok``, the instance
  exactly as the first left it, passwords included) and ``--check``'s comparison finds no drift;
* the apply fails (exit 2, 3 or 5: a role granting a resource the instance lacks, a user given
  a role that does not exist, a call the simulator refuses); then the instance is exactly as
  before it, but for a password changed before the failure, which cannot be undone and is named.

The states are drawn from a few names, so that they refer to each other (a user holds roles the
state creates; a role grants resources it creates and the roles before it) and to what the
instance holds (%DB_USER, %Developer, %SQL), and most can be applied; a second state drawn on top
of the first changes, adds and leaves objects, and may give a user another password.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path
from unittest import mock

import pytest

pytest.importorskip("iris_ops_security")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from iris_ops.errors import IrisOpsError  # noqa: E402
from iris_ops.operations.apply import apply_state  # noqa: E402
from iris_ops.state.toml_reader import state_from_text  # noqa: E402
from state_sim import Bed  # noqa: E402

#: The passwords the states' users name (password_env), in the environment of every apply.
PASSWORDS = {"PW_ONE": "Pässword-one 1", "PW_TWO": "Password-two 2!"}
RESOURCES = ["%DB_RA", "R_B"]
ROLES = ["ROLE_A", "ROLE_B"]
USERS = ["alice", "Bob"]
TEXT = st.sampled_from(["", "the app", "it's data"])
PERMS = st.sampled_from(["R", "RW", "RWU"])


@st.composite
def security_states(draw) -> dict[str, list[dict]]:
    resources = draw(st.lists(st.sampled_from(RESOURCES), unique=True, max_size=2))
    state: dict[str, list[dict]] = {"resources": [{"name": r, **draw(st.fixed_dictionaries({}, optional={
        "description": TEXT, "public_permission": st.sampled_from(["", "R"])}))} for r in resources]}
    roles = draw(st.lists(st.sampled_from(ROLES), unique=True, max_size=2))
    state["roles"] = [{"name": role, **draw(st.fixed_dictionaries({}, optional={
        "description": TEXT,
        # a resource the instance has, one the state creates, or one it may lack
        "resources": st.dictionaries(st.sampled_from(RESOURCES + ["%DB_USER"]), PERMS, max_size=2),
        "granted_roles": st.lists(st.sampled_from(["%Developer", *roles[:index]]), unique=True, max_size=2),
    }))} for index, role in enumerate(roles)]
    users = draw(st.lists(st.sampled_from(USERS), unique=True, max_size=2))
    state["users"] = [{"name": user, "password_env": draw(st.sampled_from(sorted(PASSWORDS))),
                       **draw(st.fixed_dictionaries({}, optional={
                           "roles": st.lists(st.sampled_from(["%Developer", "%SQL", *ROLES]), unique=True,
                                             max_size=3),
                           "full_name": TEXT, "enabled": st.booleans(), "change_password": st.booleans()}))}
                      for user in users]
    return {kind: objects for kind, objects in state.items() if objects}


def to_toml(state: dict[str, list[dict]]) -> str:
    """``state`` as the ``[state]`` of a TOML file (its names and values need no escaping)."""
    def value(item) -> str:
        if isinstance(item, dict):
            return "{" + ", ".join(f'"{key}" = {value(perm)}' for key, perm in item.items()) + "}"
        return repr(item).lower() if isinstance(item, bool) else (
            "[" + ", ".join(value(part) for part in item) + "]" if isinstance(item, list) else f'"{item}"')

    lines = []
    for kind, objects in state.items():
        for obj in objects:
            lines += [f'[state.{kind}."{obj["name"]}"]',
                      *[f"{key} = {value(item)}" for key, item in obj.items() if key != "name"], ""]
    return "\n".join(lines)


def _apply(bed: Bed, root: Path, text: str):
    desired = state_from_text(text, "state.toml", kinds=bed.kinds)
    before = bed.snapshot()
    try:
        done = apply_state(bed.operation(root), desired, bed.kinds, prune=False)
    except IrisOpsError as exc:
        assert exc.exit_code in (2, 3, 5), exc
        if "not what cannot be undone" in exc.message:  # a password changed before the failure: named
            assert all("password_env" in left for left in exc.details["not_undone"]), exc
        else:
            assert bed.snapshot() == before, f"a failed apply ({exc}) left the instance changed"
        assert bed.secret_dirs() == []
        return None
    after = bed.snapshot()
    again = apply_state(bed.operation(root), desired, bed.kinds, prune=False)
    assert again["summary"]["created"] == again["summary"]["changed"] == 0, again["lines"]
    assert bed.snapshot() == after, "a second apply changed the instance"
    drift = {key: step.changes for key, step in bed.plan(text).items() if step.action != "ok"}
    assert drift == {}, "--check would find drift right after apply"
    assert bed.secret_dirs() == []
    return done


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=security_states(), second=security_states())
def test_an_apply_either_holds_and_a_second_changes_nothing_or_leaves_the_instance_as_it_was(first, second):
    with tempfile.TemporaryDirectory(prefix="iris-ops-security-apply-") as home, \
            mock.patch.dict(os.environ, PASSWORDS):
        root = Path(home)
        bed = Bed(root)
        for state in (first, second):
            _apply(bed, root, to_toml(state))


FIXED = [
    {"resources": [{"name": "%DB_RA", "description": "the app"}],
     "roles": [{"name": "ROLE_A", "resources": {"%DB_RA": "RW"}, "granted_roles": ["%Developer"]}],
     "users": [{"name": "alice", "password_env": "PW_ONE", "roles": ["ROLE_A", "%SQL"], "full_name": "Alice"}]},
    {"roles": [{"name": "ROLE_A", "resources": {"%DB_RA": "R"}, "granted_roles": []},
               {"name": "ROLE_B", "granted_roles": ["ROLE_A"]}],
     "users": [{"name": "alice", "password_env": "PW_TWO", "roles": ["ROLE_B"], "enabled": False},
               {"name": "Bob", "password_env": "PW_ONE", "roles": ["ROLE_A"]}]},
    {"resources": [{"name": "R_B", "public_permission": "R"}],
     "roles": [{"name": "ROLE_B", "resources": {"R_B": "RWU", "%DB_USER": "R"}}],
     "databases": [{"name": "DB_B", "directory": "db-b", "resource": "%DB_USER"}],
     "users": [{"name": "Bob", "password_env": "PW_TWO", "roles": ["ROLE_B", "%DB_USER"]}]},
]


def test_the_generated_states_are_mostly_applied(tmp_path, monkeypatch):
    """The property above proves little if every draw fails: these plausible setups, each on top
    of the one before (a role changed, a user given another role and password), all apply, in
    issue 26's order: resources, then roles, databases, namespaces, mappings, users."""
    for name, password in PASSWORDS.items():
        monkeypatch.setenv(name, password)
    bed = Bed(tmp_path)
    done = [_apply(bed, tmp_path, to_toml(state)) for state in FIXED]
    assert None not in done
    assert [(item["kind"], item["result"]) for item in done[2]["applied"]] == [
        ("resources", "created"), ("roles", "changed"), ("databases", "created"), ("users", "changed")]
    assert bed.check_password("alice", PASSWORDS["PW_TWO"]) and bed.user("alice")["Roles"] == ["ROLE_B"]
    assert bed.security()["roles"]["ROLE_B"]["GrantedRoles"] == "ROLE_A"


def _changing_calls(bed: Bed, root: Path, text: str) -> list[str]:
    """Every Security class method the apply of ``text`` calls that changes something, in order,
    from the scripts apply would run (its dry run prints them)."""
    shown = io.StringIO()
    dry = bed.operation(root, dry_run=True, out=shown)
    apply_state(dry, state_from_text(text, "state.toml", kinds=bed.kinds), bed.kinds, prune=False)
    calls = re.findall(r"##class\((Security\.\w+)\)\.(\w+)\(", shown.getvalue())
    return list(dict.fromkeys(f"{cls}.{method}" for cls, method in calls if method not in ("Exists", "Get")))


@pytest.mark.parametrize("phase", ["create", "change"])
def test_a_call_the_instance_refuses_at_any_step_leaves_it_as_before(tmp_path, monkeypatch, phase):
    """Each changing call of the security kinds' apply, refused by the instance in turn (``iris-sim
    stop arm CALL --fail``: the class method returns an error status): exit 5 naming it, every
    change rolled back (a role, a user and its staged password included), the instance exactly as
    before.  Then, with nothing refused, the apply holds."""
    from iris_ops_sim.irissim.instance import stops

    for name, password in PASSWORDS.items():
        monkeypatch.setenv(name, password)
    bed = Bed(tmp_path)
    if phase == "change":
        assert _apply(bed, tmp_path, to_toml(FIXED[0])) is not None
    # the change keeps alice's password: a password change cannot be undone, and comes last
    text = to_toml(FIXED[0] if phase == "create" else {**FIXED[1], "users": [
        {**FIXED[1]["users"][0], "password_env": "PW_ONE"}, FIXED[1]["users"][1]]})
    calls = _changing_calls(bed, tmp_path, text)
    wanted = {"create": ["Security.Resources.Create", "Security.Roles.Create", "Security.Users.Create"],
              "change": ["Security.Roles.Modify", "Security.Roles.Create", "Security.Users.Modify",
                         "Security.Users.Create"]}[phase]
    assert calls == wanted, calls
    for call in calls:
        before = bed.snapshot()
        stops.arm(bed.instance, call, fail=True)
        try:
            with pytest.raises(IrisOpsError) as caught:
                apply_state(bed.operation(tmp_path), state_from_text(text, "state.toml", kinds=bed.kinds), bed.kinds,
                            prune=False)
        finally:
            stops.clear(bed.instance)
        assert caught.value.exit_code == 5, (call, caught.value)
        message = caught.value.message
        assert f"{call} failed" in message and "every change of this apply was rolled back" in message, message
        assert bed.snapshot() == before, f"refusing {call} left the instance changed"
        assert bed.secret_dirs() == []
    assert _apply(bed, tmp_path, text) is not None


def test_prune_removes_a_role_before_the_resource_it_grants_and_a_user_last(tmp_path, monkeypatch):
    """--prune removes what an earlier apply created in the reverse of the kinds' order (a role
    before the resource it grants), but a removal that cannot be undone last of all (a user: its
    password cannot be read back); the instance as it was."""
    for name, password in PASSWORDS.items():
        monkeypatch.setenv(name, password)
    bed = Bed(tmp_path)
    before = bed.snapshot()
    assert _apply(bed, tmp_path, to_toml(FIXED[0])) is not None
    desired = state_from_text('[state.resources."%DB_USER"]\n', "state.toml", kinds=bed.kinds)
    done = apply_state(bed.operation(tmp_path), desired, bed.kinds, prune=True)
    assert done["pruned"] == [{"kind": "roles", "name": "ROLE_A"}, {"kind": "resources", "name": "%DB_RA"},
                              {"kind": "users", "name": "alice"}]
    assert bed.snapshot() == before
