"""The roles, users and services kinds against a simulated instance in this process
(tests/state_sim.py): the plan reads what the instance holds and says create, change or ok, a
password only as "changed" and decided inside the instance; the change builders (what ``apply``
runs) leave the instance as the state says, and their undo as it was; and a password appears in
no script, output, result, log or file."""

from __future__ import annotations

import base64
import json

import pytest

pytest.importorskip("iris_ops_security")

from structlog.testing import capture_logs  # noqa: E402

from iris_ops.errors import ScriptError, SystemTargetError, UsageError  # noqa: E402
from iris_ops.state import plan  # noqa: E402
from iris_ops_security import kinds  # noqa: E402
from state_sim import Bed  # noqa: E402

NEW = "Nëw-pässword 42"
OTHER = "Other-pass 7!"


@pytest.fixture
def bed(tmp_path, monkeypatch):
    monkeypatch.setenv("APP_PW", NEW)
    monkeypatch.setenv("SYS_PW", "SYS")  # the predefined accounts' password in a fresh container
    return Bed(tmp_path)


STATE = '''
[state.users.alice]
roles = ["%Developer", "%SQL"]
full_name = "Alice A"
password_env = "APP_PW"

[state.users._system]
roles = ["%ALL"]
enabled = true
password_env = "SYS_PW"

[state.users.SuperUser]
password_env = "APP_PW"
change_password = false

[state.services."%Service_CallIn"]
enabled = true
authentication = ["OS", "Password"]

[state.services."%Service_Bindings"]
enabled = true
authentication = ["Password"]
'''


def test_the_plan_says_create_change_or_ok_and_a_password_only_changed(bed):
    steps = bed.plan(STATE)
    assert {key: step.action for key, step in steps.items()} == {
        "users:alice": "create", "users:_system": "ok", "users:SuperUser": "change",
        "services:%Service_CallIn": "change", "services:%Service_Bindings": "ok"}
    assert steps["users:alice"].fields == {"name": "alice", "roles": ["%Developer", "%SQL"], "full_name": "Alice A",
                                           "password_env": "APP_PW"}
    assert steps["users:SuperUser"].changes == (plan.Change("change_password", True, False),
                                                plan.Change("password_env", False, "APP_PW", secret=True))
    assert steps["services:%Service_CallIn"].changes == (plan.Change("enabled", False, True),
                                                         plan.Change("authentication", ["OS"], ["OS", "Password"]))
    shown = plan.lines(list(steps.values()), bed.kinds)
    assert shown == [
        "create  user alice (roles=%Developer,%SQL, full_name=Alice A, password_env=APP_PW)",
        "ok      user _system",
        "change  user SuperUser",
        "          change_password: true -> false",
        "          password_env: changed",
        "change  service %Service_CallIn",
        "          enabled: false -> true",
        "          authentication: OS -> OS,Password",
        "ok      service %Service_Bindings",
        "plan: 1 to create, 2 to change, 2 ok",
    ]
    data = plan.as_data(list(steps.values()))
    assert data["plan"][2] == {"kind": "users", "name": "SuperUser", "action": "change",
                               "changes": {"change_password": {"old": True, "new": False},
                                           "password_env": {"changed": True}}}
    # the same password in another variable is no change: the instance compared it
    assert bed.plan(STATE.replace('"APP_PW"\nchange_password', '"SYS_PW"\nchange_password'))[
        "users:SuperUser"].changes == (plan.Change("change_password", True, False),)
    assert bed.secret_dirs() == [] and bed.removed_by_transport == []  # each read removed its file itself


def test_the_password_is_in_no_script_output_result_log_or_file(bed, capsys):
    encodings = [NEW, NEW.encode().hex(), base64.b64encode(NEW.encode()).decode(), NEW.encode("latin-1").hex()]
    with capture_logs() as logs:
        desired, result = bed.read(STATE)
        steps = plan.compare(desired, result, bed.kinds)
        shown = "\n".join(plan.lines(steps, bed.kinds)) + json.dumps(plan.as_data(steps))
    out, err = capsys.readouterr()
    texts = [shown, out, err, json.dumps(result), repr(logs)]
    texts += [script for script, _ in bed.sessions] + [output.decode("utf-8", "replace") for _, output in bed.sessions]
    texts += [data.decode("latin-1") for data in bed.staged]
    assert len(bed.sessions) == 2 and len(bed.staged) == 3  # the manager directory, then the read; three passwords
    for text in texts:
        for encoded in encodings:
            assert encoded not in text
    assert "password_env: changed" in shown
    assert [entry.get("password_env") for entry in result["users"]] == [None, 1, 0]  # alice does not exist yet
    assert not {"Password", "Salt", "password", "salt"} & {key for entry in result["users"] for key in entry}
    assert bed.secret_dirs() == []


def test_a_state_naming_a_service_the_instance_lacks_is_refused(bed):
    with pytest.raises(UsageError) as caught:
        bed.plan('[state.services."%Service_Nope"]\nenabled = true\n[state.services."%Service_callin"]\n'
                 'enabled = true\n')
    assert caught.value.exit_code == 2
    assert caught.value.message == ("the instance has no service %Service_Nope (state.toml:1), "
                                    "service %Service_callin (state.toml:3)")


def test_a_missing_or_unusable_password_is_refused_before_any_session(bed, monkeypatch):
    monkeypatch.delenv("APP_PW")
    with pytest.raises(UsageError) as caught:
        bed.plan(STATE)
    assert caught.value.exit_code == 2
    assert caught.value.message == ("user alice (state.toml:2): no password in the environment variable APP_PW "
                                    "(its password_env)")
    monkeypatch.setenv("APP_PW", "two\nlines")
    with pytest.raises(UsageError) as caught:
        bed.plan(STATE)
    assert caught.value.message == "the password from the environment variable APP_PW holds a control character"
    assert bed.sessions == [] and bed.staged == []


def test_a_secret_the_session_cannot_remove_is_removed_after_the_failed_read(bed):
    written: list[str] = []

    def second_root_owned(path: str) -> None:
        # the second user's directory becomes root's: readable, not writable by the instance's owner
        written.append(path.rsplit("/", 1)[0])
        if len(written) == 2:
            bed.instance.fs.chown(written[1], 0, 0)
            bed.instance.fs.chmod(written[1], 0o755)

    bed.after_write = second_root_owned
    with pytest.raises(ScriptError) as caught:
        bed.plan(STATE)
    assert "cannot remove the one-time secret directory" in caught.value.message
    assert caught.value.details["step"] == "users_1"
    assert NEW not in caught.value.message + json.dumps(caught.value.details)
    assert bed.secret_dirs() == []
    # the first user's step removed its file and said so; the second could not, and the third
    # never ran (every password is staged before the session): the transport removed those two
    assert bed.removed_by_transport == written[:0:-1]  # newest first


def test_a_read_in_a_dry_run_still_compares_the_password(bed):
    bed.op.dry_run = True
    assert bed.plan(STATE)["users:SuperUser"].changes[1] == plan.Change("password_env", False, "APP_PW", secret=True)
    assert bed.secret_dirs() == []


# --- the change builders (what apply runs) -----------------------------------------------------------

def _fields(text: str, bed: Bed) -> dict:
    from iris_ops.state.toml_reader import state_from_text

    return dict(state_from_text(text, "state.toml", kinds=bed.kinds).objects[0].values)


ROLE_STATE = '''
[state.resources.APP_RES]
description = "the app's data"

[state.roles.APP_READER]
description = "reads the app"
resources = { app_res = "R" }
granted_roles = ["%Developer"]
'''


def test_a_role_is_planned_then_created_changed_undone_and_removed_as_the_state_says(bed):
    from iris_ops.state.kinds import kind_named

    steps = bed.plan(ROLE_STATE)
    assert [(key, step.action) for key, step in steps.items()] == [("resources:APP_RES", "create"),
                                                                    ("roles:APP_READER", "create")]
    assert steps["roles:APP_READER"].fields == {"name": "APP_READER", "description": "reads the app",
                                                "resources": {"app_res": "R"}, "granted_roles": ["%Developer"]}
    bed.change(lambda ctx: kind_named("resources", bed.kinds).create(("APP_RES",), {"description": "the app's data"},
                                                                     ctx))
    # granted with the resource's own spelling: resource names are compared without case
    bed.change(lambda ctx: kinds.ROLES.create(("APP_READER",), {"description": "reads the app",
                                                                "resources": {"APP_RES": "R"},
                                                                "granted_roles": ["%Developer"]}, ctx))
    assert {step.action for step in bed.plan(ROLE_STATE).values()} == {"ok"}  # a second apply finds nothing
    before = bed.security()["roles"]["APP_READER"]

    changed = ROLE_STATE.replace('granted_roles = ["%Developer"]', 'granted_roles = []').replace('"R"', '"RW"')
    step = bed.plan(changed)["roles:APP_READER"]
    assert step.changes == (plan.Change("resources", {"APP_RES": "R"}, {"app_res": "RW"}),
                            plan.Change("granted_roles", ["%Developer"], []))
    bed.change(lambda ctx: kinds.ROLES.modify(("APP_READER",), {c.field: c.new for c in step.changes}, ctx))
    assert bed.security()["roles"]["APP_READER"] == {**before, "Resources": "app_res:RW", "GrantedRoles": ""}
    assert {step.action for step in bed.plan(changed).values()} == {"ok"}
    bed.change(lambda ctx: kinds.ROLES.modify(("APP_READER",), {c.field: c.old for c in step.changes}, ctx))
    assert bed.security()["roles"]["APP_READER"] == before  # the undo: modify with the values the plan read

    bed.change(lambda ctx: kinds.ROLES.remove(("app_reader",), {}, ctx))
    assert "APP_READER" not in bed.security()["roles"]
    bed.change(lambda ctx: kinds.ROLES.remove(("APP_READER",), {}, ctx))  # a role that is not there: nothing to do


def test_the_role_reader_changes_nothing_and_reads_what_get_gives(bed):
    bed.change(lambda ctx: kinds.ROLES.create(("R1",), {"description": "one", "granted_roles": ["%Developer"]}, ctx))
    before = bed.security()
    desired, result = bed.read('[state.roles.r1]\n[state.roles.NOPE]\n')
    assert bed.security() == before
    assert result["roles"] == [{"name": "r1", "exists": 1, "description": "one", "resources": "",
                                "granted_roles": "%Developer"}, {"name": "NOPE", "exists": 0}]


def test_a_user_is_created_changed_and_removed_as_the_state_says(bed):
    state = ('[state.users.carol]\nroles = ["%SQL"]\nfull_name = "Carol C"\ncomment = "ops"\nenabled = false\n'
             'password_never_expires = true\naccount_never_expires = true\npassword_env = "APP_PW"\n')
    created = bed.change(lambda ctx: kinds.USERS.create(("carol",), _fields(state, bed), ctx))
    carol = bed.user("carol")
    assert (carol["Roles"], carol["FullName"], carol["Comment"], carol["Enabled"], carol["ChangePassword"],
            carol["PasswordNeverExpires"], carol["AccountNeverExpires"]) == (["%SQL"], "Carol C", "ops", 0, 0, 1, 1)
    assert bed.check_password("carol", NEW)
    assert bed.secret_dirs() == [] and bed.removed_by_transport == [] and any(k.startswith("secret_removed_")
                                                                             for k in created)
    assert {step.action for step in bed.plan(state).values()} == {"ok"}  # a second apply finds nothing

    changed = state.replace('roles = ["%SQL"]', 'roles = ["%Developer", "%sql"]').replace("false", "true") \
        .replace("APP_PW", "OTHER_PW")
    import os
    os.environ["OTHER_PW"] = OTHER
    try:
        steps = bed.plan(changed)
        wanted = {c.field: c.new for c in steps["users:carol"].changes}
        assert set(wanted) == {"roles", "enabled", "password_env"}
        bed.change(lambda ctx: kinds.USERS.modify(("carol",), wanted, ctx))
        assert bed.user("carol")["Roles"] == ["%Developer", "%SQL"] and bed.user("carol")["Enabled"] == 1
        assert bed.check_password("carol", OTHER) and not bed.check_password("carol", NEW)
        assert {step.action for step in bed.plan(changed).values()} == {"ok"}
    finally:
        del os.environ["OTHER_PW"]

    bed.change(lambda ctx: kinds.USERS.remove(("CAROL",), {}, ctx))
    assert bed.user("carol") is None
    bed.change(lambda ctx: kinds.USERS.remove(("carol",), {}, ctx))  # a user that is not there: nothing to do
    assert bed.secret_dirs() == []


def test_a_predefined_user_is_never_removed(bed):
    for name in (*kinds.PREDEFINED_USERS, "_system", "superuser"):
        with pytest.raises(SystemTargetError) as caught:
            bed.change(lambda ctx: kinds.USERS.remove((name,), {}, ctx))
        assert caught.value.exit_code == 3 and caught.value.message == f"user {name} is predefined: iris-ops never " \
                                                                      "removes it"
        assert bed.user(name) is not None
    assert bed.sessions == []


def test_a_new_user_needs_a_password(bed):
    with pytest.raises(UsageError) as caught:
        kinds.USERS.create(("dave",), {"name": "dave", "roles": ["%SQL"]}, None)
    assert caught.value.exit_code == 2 and "a new user needs a password" in caught.value.message


def test_a_service_is_changed_and_changed_back_from_the_old_values(bed):
    before = bed.service("%Service_CallIn")
    state = '[state.services."%Service_CallIn"]\nenabled = true\nauthentication = ["Password", "OS"]\n'
    step = bed.plan(state)["services:%Service_CallIn"]
    bed.change(lambda ctx: kinds.SERVICES.modify(("%Service_CallIn",), {c.field: c.new for c in step.changes}, ctx))
    after = bed.service("%Service_CallIn")
    assert (after["Enabled"], after["AutheEnabled"]) == (1, 48)
    assert bed.plan(state)["services:%Service_CallIn"].action == "ok"
    bed.change(lambda ctx: kinds.SERVICES.modify(("%Service_CallIn",), {c.field: c.old for c in step.changes}, ctx))
    assert bed.service("%Service_CallIn") == before  # the undo: modify with the values the plan read
    assert kinds.SERVICES.create is None and kinds.SERVICES.remove is None


def test_a_method_the_service_does_not_allow_fails_and_changes_nothing(bed):
    before = bed.service("%Service_Bindings")
    with pytest.raises(ScriptError) as caught:
        bed.change(lambda ctx: kinds.SERVICES.modify(("%Service_Bindings",),
                                                     {"enabled": False, "authentication": ["K5API"]}, ctx))
    assert "not allowed" in caught.value.message
    assert bed.service("%Service_Bindings") == before


def test_every_reader_and_builder_parses():
    pytest.importorskip("tree_sitter_objectscript")
    from iris_ops.objectscript import Script
    from iris_ops_security import state_scripts
    from iris_ops_security.script_builders import Secret
    from iris_ops_sim.syntax import syntax_errors

    staged = Secret(directory="/usr/irissys/mgr/iris-ops-secret-0123456789abcdef/",
                    path="/usr/irissys/mgr/iris-ops-secret-0123456789abcdef/s", pad="AAEC", size=4)
    fields = {"roles": ["%SQL", 'we"ird'], "full_name": "A", "comment": "c", "enabled": True, "change_password": False,
              "password_never_expires": True, "account_never_expires": False}
    grants = {"resources": {"%DB_A": "RW", "R\"2": "R"}, "granted_roles": ["%Developer", "x y"], "description": 'a "b"'}
    steps = [*state_scripts.read_roles(["R1", 'we"ird']), state_scripts.create_role("R1", grants),
             state_scripts.create_role("R2", {}), state_scripts.modify_role("R1", grants),
             state_scripts.modify_role("R1", {"resources": {}}), state_scripts.remove_role("R1"),
             *state_scripts.read_users([("alice", staged), ("bob", None)]), *state_scripts.read_services(["%Service_X"]),
             state_scripts.create_user("alice", fields, staged), state_scripts.create_user("bob", {}, staged),
             state_scripts.modify_user("alice", fields, staged), state_scripts.modify_user("alice", fields, None),
             state_scripts.remove_user("alice"),
             state_scripts.modify_service("%Service_X", {"enabled": False, "authentication": 48})]
    for index, statements in enumerate(steps):
        assert syntax_errors(Script("%SYS").step(f"s{index}", *statements)) == [], index
