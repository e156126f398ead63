"""The roles, users and services kinds in state files and CPF merge files, read with the kinds
iris-ops gets through the ``state_kinds`` hook: where they come in the order, what they read, and
the exact exit-2 message of what a file may not say (a password above all: a state names the
variable holding it, never holds it).

Pure logic, in-process."""

from __future__ import annotations

import textwrap

import pytest

pytest.importorskip("iris_ops_security")

from iris_ops.errors import StateFileError  # noqa: E402
from iris_ops.manager import state_kinds  # noqa: E402
from iris_ops.state.cpf_reader import cpf_from_text  # noqa: E402
from iris_ops.state.toml_reader import state_from_text  # noqa: E402
from iris_ops_security import kinds  # noqa: E402

KINDS = state_kinds()
SECRET = "Hunter2-not-a-name!"


def _toml(text: str) -> dict:
    return state_from_text(textwrap.dedent(text), "state.toml", kinds=KINDS).as_data()


def _toml_problems(text: str) -> list[str]:
    with pytest.raises(StateFileError) as caught:
        state_from_text(textwrap.dedent(text), "state.toml", kinds=KINDS)
    assert caught.value.exit_code == 2
    return caught.value.details["problems"]


def _cpf_problems(text: str) -> list[str]:
    with pytest.raises(StateFileError) as caught:
        cpf_from_text(text, "merge.cpf", KINDS)
    assert caught.value.exit_code == 2
    return caught.value.details["problems"]


def test_the_hook_adds_roles_after_resources_and_users_and_services_after_the_core_kinds():
    """Issue 26's order: resources, then roles, databases, namespaces, mappings, users and services."""
    assert [kind.name for kind in KINDS] == ["resources", "roles", "databases", "namespaces", "global_mappings",
                                             "routine_mappings", "package_mappings", "users", "services"]
    assert {kind.name: kind.cpf_noun for kind in KINDS}["users"] == "User"
    assert kinds.ROLES.after == ("resources",) and kinds.ROLES.cpf_noun == "Role"


def test_roles_read_from_toml_with_their_grants_and_granted_roles():
    assert _toml("""\
        [state.roles.APP_READER]
        description = "reads the app"
        resources = { APP_RES = "r", "%DB_APP" = "WR" }
        granted_roles = ["%Developer"]

        [state.resources.APP_RES]
        """) == {
        "resources": [{"name": "APP_RES"}],
        "roles": [{"name": "APP_READER", "description": "reads the app", "resources": {"APP_RES": "R", "%DB_APP": "RW"},
                   "granted_roles": ["%Developer"]}],
    }


def test_bad_role_keys_and_values_name_their_line_and_the_rule():
    assert _toml_problems("""\
        [state.roles.READER]
        resources = { "%DB_APP" = "" }
        name = "READER"

        [state.roles.WRITER]
        resources = { "%DB_APP" = "W", "%db_app" = "R" }
        granted_roles = ["%Developer", "%DEVELOPER"]

        [state.roles."A:B"]
        resources = "%DB_APP:RW"

        [state.roles.Viewer]
        [state.roles.VIEWER]
        """) == [
        "state.toml:3: unknown key 'name' in [state.roles.READER]: the name is the table's own key",
        "state.toml:2: role 'resources': an empty permission grants nothing: give R, W and/or U",
        "state.toml:6: role 'resources': resource %db_app is granted twice (IRIS compares resource names without "
        "case)",
        "state.toml:7: role 'granted_roles': role %DEVELOPER is named twice",
        "state.toml:9: role 'name': invalid role name 'A:B': use 1-64 characters without ',' or ':'",
        "state.toml:10: role 'resources' must be a table, got '%DB_APP:RW'",
        "state.toml:13: role 'VIEWER' is declared twice (also as 'Viewer': IRIS does not tell them apart)",
    ]


def test_users_and_services_read_from_toml():
    assert _toml("""\
        [state.users.alice]
        roles = ["%Developer", "%SQL"]
        full_name = "Alice A"
        comment = "the app's owner"
        enabled = true
        change_password = false
        password_never_expires = true
        account_never_expires = false
        password_env = "ALICE_PASSWORD"

        [state.services."%Service_Bindings"]
        enabled = true
        authentication = ["password", "OS"]
        """) == {
        "users": [{"name": "alice", "roles": ["%Developer", "%SQL"], "full_name": "Alice A",
                   "comment": "the app's owner", "enabled": True, "change_password": False,
                   "password_never_expires": True, "account_never_expires": False, "password_env": "ALICE_PASSWORD"}],
        "services": [{"name": "%Service_Bindings", "enabled": True, "authentication": ["OS", "Password"]}],
    }


def test_a_password_in_the_file_is_refused_and_never_shown():
    problems = _toml_problems(f"""\
        [state.users.alice]
        roles = ["%SQL"]
        password = "{SECRET}"

        [state.users.bob]
        password_env = "{SECRET}"

        [state.users.carol]
        Password = "{SECRET}"
        """)
    assert problems == [
        "state.toml:3: 'password' in [state.users.alice]: a state never holds a password: set password_env = \"VAR\", "
        "the name of an environment variable that holds it",
        "state.toml:6: user 'password_env': is not the name of an environment variable (letters, digits, _): it "
        "names the variable that holds the password, never the password",
        "state.toml:9: 'Password' in [state.users.carol]: a desired state never holds a password: describe the user "
        "in a TOML state file with password_env (the name of an environment variable holding it), or leave this line "
        "to `iris merge`",
    ]
    assert all(SECRET not in problem for problem in problems)


def test_bad_keys_and_values_name_their_line_and_the_rule():
    assert _toml_problems("""\
        [state.users."a*b"]
        roles = "%SQL"

        [state.users.dave]
        enabled = "yes"
        roles = ["%SQL", "%sql"]
        namespace = "USER"

        [state.services.Bindings]
        enabled = true

        [state.services."%Service_CallIn"]
        authentication = ["Password", "Kerberos", "password"]
        """) == [
        "state.toml:1: user 'name': invalid IRIS user name 'a*b'",
        "state.toml:2: user 'roles' must be a list, got '%SQL'",
        "state.toml:7: unknown key 'namespace' in [state.users.dave] (known: roles, full_name, comment, enabled, "
        "change_password, password_never_expires, account_never_expires, password_env)",
        "state.toml:6: user 'roles': role %sql is named twice",
        "state.toml:5: user 'enabled' must be true or false, got 'yes'",
        "state.toml:9: service 'name': invalid service name 'Bindings': services are named like %Service_Bindings",
        "state.toml:13: service 'authentication': unknown authentication method 'Kerberos' (known: K5CCache, "
        "K5Prompt, K5API, K5KeyTab, OS, Password, Unauthenticated, KB, KBEncryption, KBIntegrity, System, LDAP, "
        "Delegated, LoginToken, TwoFactorSMS, TwoFactorPW, MutualTLS)",
    ]
    assert _toml_problems('[state.services."%Service_CallIn"]\nauthentication = ["OS", "os"]\n') == [
        "state.toml:2: service 'authentication': authentication method OS is named twice"]


def test_two_spellings_of_one_user_or_service_are_refused():
    assert _toml_problems('[state.users.Alice]\nenabled = true\n[state.users.alice]\nenabled = false\n') == [
        "state.toml:3: user 'alice' is declared twice (also as 'Alice': IRIS does not tell them apart)"]
    # whether IRIS matches service names without case is not documented: one spelling per file
    assert _toml_problems('[state.services."%Service_CallIn"]\nenabled = true\n[state.services."%service_callin"]\n'
                          'enabled = false\n') == [
        "state.toml:3: service '%service_callin' is declared twice (also as '%Service_CallIn': IRIS does not tell "
        "them apart)"]
    # InterSystems' own merge example writes %service_ecp: read as written, for the instance to answer
    assert cpf_from_text("[Actions]\nModifyService:Name=%service_ecp,Enabled=1\n", "merge.cpf", KINDS).as_data() == {
        "services": [{"name": "%service_ecp", "enabled": True}]}


# --- CPF merge files -------------------------------------------------------------------------------

def test_role_actions_read_as_this_kind_quoted_values_keeping_their_commas():
    """InterSystems' own example (Automating Configuration with Configuration Merge) with a role
    added, and a Modify that manages only what it names."""
    state = cpf_from_text("""[Actions]
CreateDatabase:Name=APPA,Directory=/database-path/APPA
CreateResource:Name=APPA_RES,Description="APPA's data",PublicPermission=R
CreateRole:Name=APPA_READER,Description="Reads APPA, all of it",Resources="APPA_RES:r,%DB_APPA:WR",GrantedRoles="%Developer"
ModifyRole:Name=OTHER,Description="d"
""", "merge.cpf", KINDS)
    assert state.as_data() == {
        "resources": [{"name": "APPA_RES", "description": "APPA's data", "public_permission": "R"}],
        "roles": [{"name": "APPA_READER", "description": "Reads APPA, all of it",
                   "resources": {"APPA_RES": "R", "%DB_APPA": "RW"}, "granted_roles": ["%Developer"]},
                  {"name": "OTHER", "description": "d"}],
        "databases": [{"name": "APPA", "directory": "/database-path/APPA/"}],
    }


def test_what_a_role_action_may_not_say_is_refused_and_named():
    assert _cpf_problems("""[Actions]
CreateRole:Name=APP_ROLE,Resources=%DB_APP,%DB_APP2
CreateRole:Name=R,Resources="%DB_APP"
CreateRole:Name=R2,Resources="%DB_A:R,%DB_A:W"
CreateRole:Name=R3,Resources=$$$AutheOS
CreateRole:Name=R4,Resources="%DB_A:RX"
createrole:Name=R5
DeleteRole:Name=R6
""") == [
        "merge.cpf:2: '%DB_APP2' is not Property=Value: quote a value that holds commas "
        "(Resources=\"%DB_A:RW,%DB_B:R\"), as InterSystems' examples do; how IRIS reads an unquoted comma is not "
        "documented",
        "merge.cpf:3: CreateRole: Resources: grant '%DB_APP' names no permission: write Resource:RW",
        "merge.cpf:4: CreateRole: Resources: resource '%DB_A' is granted twice",
        "merge.cpf:5: CreateRole: Resources: $$$ macros are for the security kinds' AutheEnabled and LDAPFlags, "
        "not here",
        "merge.cpf:6: role 'resources': invalid permission 'RX': use the letters R, W and U, each at most once",
        "merge.cpf:7: createrole: write CreateRole: iris-ops reads action names with their case, as IRIS reads "
        "[Actions]",
        "merge.cpf:8: DeleteRole: not supported: a desired state names what exists; iris-ops never deletes what a "
        "file does not name",
    ]


def test_user_and_service_actions_read_as_these_kinds():
    state = cpf_from_text("""[Actions]
CreateUser:Name=SQLAdmin,Roles="%SQL,%DB_USER",FullName="SQL admin",Enabled=1
ModifyUser:Name=SuperUser,ChangePassword=0,PasswordNeverExpires=1
ModifyService:Name=%Service_CallIn,Enabled=1,AutheEnabled=48
ModifyService:Name=%Service_Bindings,AutheEnabled=$$$AuthePassword+$$$AutheUnauthenticated
ModifyService:Name=%Service_Telnet,Enabled=0,AutheEnabled=0
""", "merge.cpf", KINDS)
    assert state.as_data() == {
        "users": [{"name": "SQLAdmin", "roles": ["%SQL", "%DB_USER"], "full_name": "SQL admin", "enabled": True},
                  {"name": "SuperUser", "change_password": False, "password_never_expires": True}],
        "services": [{"name": "%Service_CallIn", "enabled": True, "authentication": ["OS", "Password"]},
                     {"name": "%Service_Bindings", "authentication": ["Password", "Unauthenticated"]},
                     {"name": "%Service_Telnet", "enabled": False, "authentication": []}],
    }


def test_what_the_user_and_service_actions_may_not_say_is_refused_and_named():
    hashed = "cec6638a357e7586fddfb15c0e7dd5719a1964e774cd37466fb0c49c05,323cb89148c887166dd2be61c107710539af2c0,10000,SHA512"
    problems = _cpf_problems(f"""[Actions]
CreateUser:Name=bob,Password={SECRET}
ModifyUser:Name=SuperUser,PasswordHash="{hashed}"
CreateUser:Name=carol,NameSpace=USER
CreateService:Name=%Service_Mine,Enabled=1
ModifyService:Name=%Service_CallIn,AutheEnabled=$$$AutheTwoFactorSMS
ModifyService:Name=%Service_CallIn,AutheEnabled=$$$AuthePassword|$$$AutheOS
ModifyService:Name=%Service_CallIn,AutheEnabled=4096
ModifyService:Name=%Service_Bindings,Enabled=yes
DeleteUser:Name=alice
CreateResource:Name=R,Description=$$$AutheOS
""")
    assert problems == [
        "merge.cpf:2: CreateUser: Password: a desired state never holds a password: describe the user in a TOML state "
        "file with password_env (the name of an environment variable holding it), or leave this line to `iris merge`",
        "merge.cpf:3: ModifyUser: PasswordHash: not modelled: IRIS documents setting a PasswordHash only through a "
        "merge (Config.Startup PasswordHash), so iris-ops can neither set it nor compare it exactly; use password_env "
        "in a TOML state file, or leave this line to `iris merge`",
        "merge.cpf:4: CreateUser: property NameSpace is not part of iris-ops' user (known: Name, Roles, FullName, "
        "Comment, Enabled, ChangePassword, PasswordNeverExpires, AccountNeverExpires)",
        "merge.cpf:5: CreateService: not supported by iris-ops' desired state; apply it with `iris merge`",
        "merge.cpf:6: ModifyService: AutheEnabled: '$$$AutheTwoFactorSMS' is not a macro whose value is documented: "
        "write a number or a sum of " + ", ".join("$$$" + macro for macro in kinds.MACROS),
        "merge.cpf:7: ModifyService: AutheEnabled: '$$$AuthePassword|$$$AutheOS' is not a macro whose value is "
        "documented: write a number or a sum of " + ", ".join("$$$" + macro for macro in kinds.MACROS),
        "merge.cpf:8: ModifyService: AutheEnabled: 4096 sets bit12, which Security.Services does not document",
        "merge.cpf:9: ModifyService: Enabled: expected 1 or 0, got 'yes'",
        "merge.cpf:10: DeleteUser: not supported: a desired state names what exists; iris-ops never deletes what a "
        "file does not name",
        "merge.cpf:11: Description: $$$ macros are for the security kinds' AutheEnabled and LDAPFlags, not here",
    ]
    assert all(SECRET not in problem for problem in problems)


@pytest.mark.parametrize("name, bit", [("K5CCache", 0), ("OS", 4), ("Password", 5), ("Unauthenticated", 6),
                                       ("LDAP", 11), ("Delegated", 13), ("LoginToken", 14)])
def test_each_documented_macro_is_its_bit(name, bit):
    assert kinds.authentication_from_cpf(f"$$$Authe{name}") == [name]
    assert kinds.bits_of([name]) == 1 << bit == int(kinds.MACROS[f"Authe{name}"])
    assert kinds.methods_of_bits(str(1 << bit)) == [name]


def test_an_undocumented_bit_the_instance_holds_survives_a_round_trip():
    held = kinds.methods_of_bits(str((1 << 12) | (1 << 5)))
    assert held == ["Password", "bit12"]
    assert kinds.bits_of(held) == 4128


def test_the_example_of_docs_state_md_reads_as_written():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "STATE.md").read_text(encoding="utf-8")
    example = doc.split("## The TOML format", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    state = state_from_text(example, "STATE.md", kinds=KINDS).as_data()
    assert list(state) == [kind.name for kind in KINDS]  # every kind, in the order apply follows
    assert state["roles"] == [{"name": "APP_READER", "description": "reads the app",
                               "resources": {"APP_RES": "R", "%DB_APP_DATA": "RW"}, "granted_roles": ["%Developer"]}]
    assert state["users"][0] == {"name": "alice", "roles": ["%Developer", "APP_READER"], "full_name": "Alice A",
                                 "enabled": True, "password_env": "ALICE_PASSWORD"}
    assert state["services"] == [{"name": "%Service_Bindings", "enabled": True, "authentication": ["Password"]}]
