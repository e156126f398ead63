"""CPF merge files as a desired state (``--cpf``): files of the kinds users publish (tests/data/cpf),
read as IRIS reads them, case included, and every line iris-ops does not model refused, named.
Read with the core kinds only (no plugin): the security plugin's actions are refused, naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from iris_ops.errors import StateFileError
from iris_ops.state.cpf_reader import cpf_from_text, read_cpf, split_properties
from state_strategies import cpf_states, to_cpf

DATA = Path(__file__).parent / "data" / "cpf"
SECURITY = ("roles, users and services are kinds of the security plugin: install iris-ops-security "
            "(pip install ./plugins/iris-ops-security from an iris-ops checkout), "
            "or, where it is installed, take 'security' out of disable_plugins (IRIS_OPS_DISABLE_PLUGINS)")


def _problems(text: str) -> list[str]:
    with pytest.raises(StateFileError) as caught:
        cpf_from_text(text, "merge.cpf")
    assert caught.value.exit_code == 2
    return caught.value.details["problems"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(cpf_states)
def test_a_state_written_as_create_actions_reads_back_the_same(state):
    expected = {kind: [dict(obj, routines=obj["routines"] if "routines" in obj else obj["globals"])
                       if kind == "namespaces" else obj for obj in objects] for kind, objects in state.items()}
    assert cpf_from_text(to_cpf(state), "merge.cpf").as_data() == expected


def test_a_community_template_reads_as_resources_databases_and_a_namespace():
    assert read_cpf(DATA / "app-template.cpf").as_data() == {
        "resources": [{"name": "%DB_IRISAPP_DATA", "description": "IRISAPP_DATA database"},
                      {"name": "%DB_IRISAPP_CODE", "description": "IRISAPP_CODE database"}],
        "databases": [{"name": "IRISAPP_DATA", "directory": "/usr/irissys/mgr/IRISAPP_DATA/",
                       "resource": "%DB_IRISAPP_DATA"},
                      {"name": "IRISAPP_CODE", "directory": "/usr/irissys/mgr/IRISAPP_CODE/",
                       "resource": "%DB_IRISAPP_CODE"}],
        "namespaces": [{"name": "IRISAPP", "globals": "IRISAPP_DATA", "routines": "IRISAPP_CODE", "interop": True}],
    }


def test_mappings_and_a_modify_of_a_namespace_read_as_given():
    state = read_cpf(DATA / "mappings.cpf").as_data()
    assert state["namespaces"] == [
        # ModifyNamespace manages what it names; CreateNamespace's Routines defaults to Globals.
        {"name": "APPA", "globals": "APPA", "interop": True},
        {"name": "APPB", "globals": "APPB", "routines": "APPB", "interop": True},
    ]
    assert state["global_mappings"] == [{"namespace": "APPB", "name": "Orders(1):(101)", "database": "APPA"}]
    assert state["routine_mappings"] == [{"namespace": "APPB", "name": "ACC*", "database": "APPA"}]
    assert state["package_mappings"] == [{"namespace": "APPB", "name": "App.Model", "database": "APPA"}]
    assert state["resources"] == [{"name": "APPA_RES", "description": "APPA's data", "public_permission": "R"}]


def test_the_configuration_sections_read_onto_the_same_model():
    assert read_cpf(DATA / "sections.cpf").as_data() == {
        "databases": [{"name": "APPDATA", "directory": "/usr/irissys/mgr/appdata/"},
                      {"name": "APPCODE", "directory": "/usr/irissys/mgr/appcode/"}],
        "namespaces": [{"name": "APP", "globals": "APPDATA", "routines": "APPCODE"}],
        "global_mappings": [{"namespace": "APP", "name": "Orders", "database": "APPDATA"}],
        "routine_mappings": [{"namespace": "APP", "name": "ACC*", "database": "APPCODE"}],
        "package_mappings": [{"namespace": "APP", "name": "App.Model", "database": "APPCODE"}],
    }


def test_every_line_iris_ops_does_not_model_is_refused_and_named():
    with pytest.raises(StateFileError) as caught:
        read_cpf(DATA / "refused.cpf")
    where = str(DATA / "refused.cpf")
    assert caught.value.exit_code == 2
    assert caught.value.details["problems"] == [
        f"{where}:2: [config]: not part of iris-ops' desired state (its kinds: resources, databases, namespaces, "
        "global_mappings, routine_mappings, package_mappings); apply it with `iris merge`",
        f"{where}:6: CreateDatabase: property MaxSize is not part of iris-ops' database "
        "(known: Name, Directory, Size, ResourceName)",
        f"{where}:8: ModifyService: {SECURITY}",
        f"{where}:9: ModifyUser: {SECURITY}",
        f"{where}:10: CreateApplication: not supported by iris-ops' desired state; apply it with `iris merge`",
        f"{where}:11: DeleteDatabase: not supported: a desired state names what exists; iris-ops never deletes "
        "what a file does not name",
        f"{where}:12: createnamespace: write CreateNamespace: iris-ops reads action names with their case, as IRIS "
        "reads [Actions]",
        f"{where}:13: CreateRole: {SECURITY}",
        f"{where}:15: [actions]: IRIS reads section headers with their case and ignores [actions] (`iris merge` "
        "still reports success): write [Actions]",
    ]
    assert str(caught.value).startswith(f"{where}: 9 problems in the merge file:\n  {where}:2: [config]")


def test_a_lower_case_actions_header_alone_is_refused_not_read_as_nothing():
    assert _problems("[actions]\nCreateDatabase:Name=APP,Directory=/data/app\n") == [
        "merge.cpf:1: [actions]: IRIS reads section headers with their case and ignores [actions] (`iris merge` "
        "still reports success): write [Actions]"]


def test_property_names_are_read_with_their_case_and_values_checked():
    assert _problems("""[Actions]
CreateDatabase:Name=APP,directory=/data/app
CreateDatabase:Name=APP2,Directory=/data/app2,Size=ten
CreateNamespace:Name=APP,Globals=APP,Interop=yes
CreateResource:Name=R,Description=a, b
CreateNamespace:Name=BAD NAME,Globals=APP
ModifyService:Name=%Service_CallIn,AutheEnabled=$$$AutheOS
CreateResource:Name=R2,Name=R3
CreateResource:Name="R4
""") == [
        "merge.cpf:2: CreateDatabase: write Directory, not directory: IRIS property names are case-sensitive",
        "merge.cpf:3: CreateDatabase: Size: expected a whole number, got 'ten'",
        "merge.cpf:4: CreateNamespace: Interop: expected 1 or 0, got 'yes'",
        "merge.cpf:5: ' b' is not Property=Value: quote a value that holds commas (Resources=\"%DB_A:RW,%DB_B:R\"), "
        "as InterSystems' examples do; how IRIS reads an unquoted comma is not documented",
        "merge.cpf:6: namespace 'name': invalid namespace name 'BAD NAME': use 1-64 characters, a letter or % "
        "first, then letters, digits, - or _",
        f"merge.cpf:7: ModifyService: {SECURITY}",
        "merge.cpf:8: property Name is given twice",
        "merge.cpf:9: a double quote is not closed",
    ]


def test_create_and_modify_of_one_object_merge_and_a_clash_names_both_lines():
    state = cpf_from_text("[Actions]\nCreateResource:Name=R,Description=\"x\"\nModifyResource:Name=r,PublicPermission=RW\n"
                          "[Databases]\nAPP=/data/app/\n[Actions]\nModifyDatabase:Name=APP,Size=10\n", "merge.cpf")
    assert state.as_data() == {"resources": [{"name": "R", "description": "x", "public_permission": "RW"}],
                               "databases": [{"name": "APP", "directory": "/data/app/", "size": 10}]}
    assert _problems("[Databases]\nAPP=/data/app/\n[Actions]\nCreateDatabase:Name=APP,Directory=/data/other\n") == [
        "merge.cpf:4: database APP: 'directory' is '/data/app/' at merge.cpf:2 and '/data/other/' here"]


def test_what_the_sections_hold_beyond_the_model_is_refused():
    assert _problems("""Name=outside
[Databases]
REMOTE=/data/r/,ecpserver
APP=/data/app/,,1
[Namespaces]
APP=A,B,C,D
[Map.APP]
Global_X=APP,APP2
Routin_Y=APP
[databases]
[Databases]
NOVALUE
STREAM=/data/s/,,,,,/data/stream/
MANY=/data/m/,,,,,,x
[Namespaces]
TWO=A,B,C,
""") == [
        "merge.cpf:1: a line outside any [section]",
        "merge.cpf:3: [Databases] REMOTE: only the directory is part of iris-ops' model (remote server 'ecpserver')",
        "merge.cpf:4: [Databases] APP: only the directory is part of iris-ops' model (mount at startup '1')",
        "merge.cpf:6: [Namespaces] APP: expected globals[,routines[,temporary]]",
        "merge.cpf:8: [Map.APP] Global_X: only the database of a mapping is part of iris-ops' model",
        "merge.cpf:9: [Map.APP] 'Routin_Y': expected Global_<name>=DATABASE, Routine_<name>=DATABASE or "
        "Package_<name>=DATABASE",
        "merge.cpf:10: [databases]: write [Databases], as the CPF spells it (iris-ops reads headers with their "
        "case, as IRIS reads [Actions])",
        "merge.cpf:12: 'NOVALUE' is not Name=Value",
        "merge.cpf:13: [Databases] STREAM: only the directory is part of iris-ops' model (stream location "
        "'/data/stream/')",
        "merge.cpf:14: [Databases] MANY: only the directory is part of iris-ops' model (more than six fields)",
        "merge.cpf:16: [Namespaces] TWO: expected globals[,routines[,temporary]]",
    ]
    # the value is all after the first = (a name holds none)
    assert _problems("[Namespaces]\nN=G=X\n")[0].startswith("merge.cpf:2: namespace 'globals': invalid database name 'G=X'")
    # six fields with empty ignored ones, and a temporary globals database, are read
    state = cpf_from_text("[Databases]\nD=/data/d/,,,,,\n[Namespaces]\nN=G,,T\nM=G,R\n", "merge.cpf")
    assert state.as_data() == {"databases": [{"name": "D", "directory": "/data/d/"}], "namespaces": [
        {"name": "N", "globals": "G", "routines": "G", "temp_globals": "T"}, {"name": "M", "globals": "G", "routines": "R"}]}


def test_a_missing_merge_file_is_exit_2_not_success(tmp_path):
    with pytest.raises(StateFileError, match="merge file '.*absent.cpf' does not exist") as caught:
        read_cpf(tmp_path / "absent.cpf")
    assert caught.value.exit_code == 2


def test_quoted_values_keep_commas_and_equals_signs():
    assert split_properties('Name=X,Description="a, b = c",Resources="R1:R,R2:RW"') == [
        "Name=X", 'Description="a, b = c"', 'Resources="R1:R,R2:RW"']
    state = cpf_from_text('[Actions]\nCreateResource:Name=X,Description="a, b = c",PublicPermission="wr"\n', "m.cpf")
    assert state.as_data() == {"resources": [{"name": "X", "description": "a, b = c", "public_permission": "RW"}]}


def test_a_modify_action_manages_only_what_it_names():
    state = cpf_from_text("[Actions]\nModifyNamespace:Name=APP,Interop=0\nModifyMapGlobal:Namespace=APP,Name=X\n"
                          "ModifyResource:Name=R,Description=\"d\"\n", "m.cpf")
    assert state.as_data() == {"resources": [{"name": "R", "description": "d"}],
                               "namespaces": [{"name": "APP", "interop": False}],
                               "global_mappings": [{"namespace": "APP", "name": "X"}]}
    assert _problems("[Actions]\nCreateNamespace:Name=APP,Interop=0\nCreateMapGlobal:Namespace=APP,Name=X\n") == [
        "merge.cpf:2: namespace needs one of 'globals', 'fixture'",
        "merge.cpf:3: global mapping needs 'database' (the database it maps to)"]


def test_a_path_no_filesystem_takes_is_exit_2_and_shown_escaped():
    with pytest.raises(StateFileError) as caught:
        read_cpf(Path("a\x00b\r\nSet ^X=1"))
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith("cannot read merge file 'a\\x00b\\r\\nSet ^X=1': ")


def test_a_byte_order_mark_is_refused_rather_than_guessed_at():
    assert _problems("\ufeff[Actions]\nCreateDatabase:Name=APP,Directory=/data/app\n") == [
        "merge.cpf:1: the file starts with a byte order mark: save it as UTF-8 without one"]


def test_each_malformed_property_is_named_once_and_refuses_its_action_alone():
    """Every malformed ``Key=Value`` of an action is named, at its line, the properties after it
    are still read (each problem once), and only that action is refused: nothing else is
    reported for it (no missing field), and a sound action after it reads."""
    assert _problems("""[Actions]
CreateDatabase:Name=APP,9Size=10,Directory=/data/app,Name=APP2,Size=x
CreateResource:Name=R,Description="a"b"c",PublicPermission=$$$RW,Bad Key=1
CreateResource:Name=R2,PublicPermission=$$$AutheOS
CreateResource:Name=R3,Description=x,9x=1
CreateResource:Name=R3,Description=y
CreateDatabase:Name=OK,Directory=/data/ok
""") == [
        "merge.cpf:2: '9Size' is not a property name",
        "merge.cpf:2: property Name is given twice",
        "merge.cpf:3: Description: a quoted value must be one \"...\" string, got '\"a\"b\"c\"'",
        "merge.cpf:3: PublicPermission: $$$ macros are for the security kinds' AutheEnabled and LDAPFlags, not here",
        "merge.cpf:3: 'Bad Key' is not a property name",
        "merge.cpf:4: PublicPermission: $$$ macros are for the security kinds' AutheEnabled and LDAPFlags, not here",
        "merge.cpf:5: '9x' is not a property name",
    ]


def test_a_plugins_kind_is_read_from_a_merge_file_with_its_own_rules():
    """What only plugins' kinds use, read the same way for any kind: a property refused with a
    reason of its own, a field read by its own ``from_cpf`` (which alone may hold ``$$$``
    macros), and a kind whose objects exist or not (only ``Modify``)."""
    from iris_ops.errors import UsageError
    from iris_ops.state.kinds import CORE_KINDS, Kind
    from iris_ops.state.model import Field, Schema

    def flags(text):
        if text != "$$$On":
            raise UsageError(f"expected $$$On, got {text!r}")
        return 1

    gadgets = Kind(Schema(kind="gadgets", title="gadget", key=("name",), fields=(
        Field("name", "Name", str, str, "its name", required=True),
        Field("level", "Level", int, int, "its level", from_cpf=flags),
        Field("label", "Label", str, str, "its label")),
        refused=(("Secret", "a gadget's secret is never in a file"),)),
        reader=lambda keys: [], cpf_noun="Gadget", must_exist=True)
    kinds = (*CORE_KINDS, gadgets)
    with pytest.raises(StateFileError) as caught:
        cpf_from_text("[Actions]\nModifyGadget:Name=G,Secret=x,Label=$$$On,Level=2,Colour=red\n"
                      "CreateGadget:Name=H\nModifyGadget:Name=K,Secret=y,Label=k\n", "merge.cpf", kinds)
    assert caught.value.details["problems"] == [
        "merge.cpf:2: Label: $$$ macros are for the security kinds' AutheEnabled and LDAPFlags, not here",
        "merge.cpf:3: CreateGadget: not supported by iris-ops' desired state; apply it with `iris merge`",
        "merge.cpf:4: ModifyGadget: Secret: a gadget's secret is never in a file",
    ]
    with pytest.raises(StateFileError) as caught:
        cpf_from_text("[Actions]\nModifyGadget:Name=G,Secret=x,Level=2,Colour=red\n", "merge.cpf", kinds)
    assert caught.value.details["problems"] == [
        "merge.cpf:2: ModifyGadget: Secret: a gadget's secret is never in a file",
        "merge.cpf:2: ModifyGadget: Level: expected $$$On, got '2'",
        "merge.cpf:2: ModifyGadget: property Colour is not part of iris-ops' gadget (known: Name, Level, Label)",
    ]
    state = cpf_from_text("[Actions]\nModifyGadget:Name=G,Level=$$$On,Label=x\n", "merge.cpf", kinds)
    assert state.as_data() == {"gadgets": [{"name": "G", "level": 1, "label": "x"}]}


def test_a_mapping_section_header_is_read_with_its_case():
    assert _problems("[map.APP]\nGlobal_X=APP\n[MAP.APP]\nGlobal_Y=APP\n") == [
        "merge.cpf:1: [map.APP]: write [Map.APP], as the CPF spells it (iris-ops reads headers with their case, "
        "as IRIS reads [Actions])",
        "merge.cpf:3: [MAP.APP]: write [Map.APP], as the CPF spells it (iris-ops reads headers with their case, "
        "as IRIS reads [Actions])"]


def test_a_refused_piece_refuses_its_action_alone_and_long_lines_are_shown_cut():
    """One bad piece per action, beside a value that would be refused too if the action were read
    on: only the piece is named (the action stops there).  A line that is not an action, not
    Name=Value, or no mapping is shown cut at 60 characters; a line starting with X is no
    comment; the value of a mapping is all after its first =."""
    long_action = "NotAnActionAtAllButAVeryLongLineThatGoesOnAndOnAndOnPastSixtyCharactersForSure"
    long_entry = "ALSONOTNAMEVALUEBUTAVERYLONGLINETHATGOESONANDONANDONPASTSIXTYCHARACTERS"
    long_map = "Global" + "X" * 65 + "=APP"
    with pytest.raises(StateFileError) as caught:
        cpf_from_text(f"""[Actions]
CreateResource:Name=A1,PublicPermission=RX,Junk
CreateResource:Name=A2,PublicPermission=RX,9k=1
CreateResource:Name=A3,PublicPermission=RX,Name=A3
CreateResource:Name=A7,PublicPermission=RX,Description=$$$X
CreateResource:Name=A8,PublicPermission=RX,Descripton=x
CreateResource:Name=A9,PublicPermission=RX,description=x
CreateDatabase:Name=B1,Size=x,Resource=%DB_B1
CreateNamespace:Name=N1,Color=red
XCreateDatabase:Name=Q
{long_action}
[Databases]
{long_entry}
R=/data/r/,srv,1
[Map.APP]
Global_X=A=B
Global_Y=1BAD
{long_map}
""", "merge.cpf")
    assert caught.value.fix == ("Each line named above is one iris-ops would read differently from IRIS, or does not "
                                "model; fix it, or leave it to `iris merge`. docs/STATE.md lists what a merge file "
                                "may hold.")
    invalid = "invalid database name '{}': use 1-64 characters, a letter first, then letters, digits, - or _"
    assert caught.value.details["problems"] == [
        "merge.cpf:2: 'Junk' is not Property=Value: quote a value that holds commas (Resources=\"%DB_A:RW,%DB_B:R\"), "
        "as InterSystems' examples do; how IRIS reads an unquoted comma is not documented",
        "merge.cpf:3: '9k' is not a property name",
        "merge.cpf:4: property Name is given twice",
        "merge.cpf:5: Description: $$$ macros are for the security kinds' AutheEnabled and LDAPFlags, not here",
        "merge.cpf:6: CreateResource: property Descripton is not part of iris-ops' resource "
        "(known: Name, Description, PublicPermission)",
        "merge.cpf:7: CreateResource: write Description, not description: IRIS property names are case-sensitive",
        "merge.cpf:8: CreateDatabase: Size: expected a whole number, got 'x'",
        "merge.cpf:8: CreateDatabase: property Resource is not part of iris-ops' database "
        "(known: Name, Directory, Size, ResourceName)",
        "merge.cpf:9: CreateNamespace: property Color is not part of iris-ops' namespace "
        "(known: Name, Globals, Routines, TempGlobals, Interop)",
        "merge.cpf:10: XCreateDatabase: not supported by iris-ops' desired state; apply it with `iris merge`",
        f"merge.cpf:11: '{long_action[:60]}…' (78 characters) is not an action (Action:Property=Value,...)",
        f"merge.cpf:13: '{long_entry[:60]}…' (71 characters) is not Name=Value",
        "merge.cpf:14: [Databases] R: only the directory is part of iris-ops' model (remote server 'srv', "
        "mount at startup '1')",
        "merge.cpf:16: global mapping 'database': " + invalid.format("A=B"),
        "merge.cpf:17: global mapping 'database': " + invalid.format("1BAD"),
        f"merge.cpf:18: [Map.APP] '{long_map[:60]}…' (71 characters): expected Global_<name>=DATABASE, "
        "Routine_<name>=DATABASE or Package_<name>=DATABASE",
    ]
    # a namespace of one database: routines in it too, no temporary globals database
    assert cpf_from_text("[Namespaces]\nO=G\n", "merge.cpf").as_data() == {
        "namespaces": [{"name": "O", "globals": "G", "routines": "G"}]}


def test_a_merge_file_is_read_with_the_kinds_given_and_a_missing_one_names_the_flag(tmp_path):
    from iris_ops.errors import UsageError
    from iris_ops.state.kinds import Kind, core_kinds
    from iris_ops.state.model import Field, Schema

    tags = Kind(Schema(kind="tagged", title="tagged thing", key=("name",), fields=(
        Field("name", "Name", str, str, "its name", required=True),
        Field("tags", "Tags", list, list, "its tags"))), reader=lambda keys: [], cpf_noun="Tagged")
    merge = tmp_path / "merge.cpf"
    merge.write_text('[Actions]\nCreateTagged:Name=T,Tags="a,b"\nCreateTagged:Name=U,Tags=\n')
    assert read_cpf(merge, (*core_kinds(), tags)).as_data() == {
        "tagged": [{"name": "T", "tags": ["a", "b"]}, {"name": "U", "tags": []}]}
    with pytest.raises(UsageError) as caught:
        read_cpf(tmp_path / "none.cpf")
    assert (caught.value.message, caught.value.fix) == (f"merge file '{tmp_path / 'none.cpf'}' does not exist",
                                                        "Check the path given to --cpf.")


def test_every_problem_of_a_line_is_named_and_a_refused_line_takes_no_part_in_the_rest():
    """A line with several problems names them all (reading goes on past the first); a line that
    was refused is left out whole, so a later line of the same object is not said to clash with
    what was refused."""
    not_property = ("is not Property=Value: quote a value that holds commas (Resources=\"%DB_A:RW,%DB_B:R\"), as "
                    "InterSystems' examples do; how IRIS reads an unquoted comma is not documented")
    assert _problems("[Actions]\nCreateResource:Name=R,bogus,Name=R2\nCreateResource:Name=S,Name=S2,junk\n"
                     "CreateDatabase:Name=APP2,Dirx=/a,Size=ten\n") == [
        f"merge.cpf:2: 'bogus' {not_property}",
        "merge.cpf:2: property Name is given twice",
        "merge.cpf:3: property Name is given twice",
        f"merge.cpf:3: 'junk' {not_property}",
        "merge.cpf:4: CreateDatabase: property Dirx is not part of iris-ops' database (known: Name, Directory, Size, "
        "ResourceName)",
        "merge.cpf:4: CreateDatabase: Size: expected a whole number, got 'ten'",
    ]
    assert _problems('[Actions]\nCreateResource:Name=R5,PublicPermission=R,Description="a""b"\n'
                     "CreateResource:Name=R5,PublicPermission=W\n"
                     "CreateDatabase:Name=APP,Directory=/a,Size=ten\nCreateDatabase:Name=APP,Directory=/b\n") == [
        "merge.cpf:2: Description: a quoted value must be one \"...\" string, got '\"a\"\"b\"'",
        "merge.cpf:4: CreateDatabase: Size: expected a whole number, got 'ten'",
    ]


def test_a_state_read_from_text_names_its_source():
    assert cpf_from_text("[Actions]\nCreateResource:Name=R\n", "m.cpf").source == "m.cpf"


def test_a_refused_property_is_named_alone_and_not_offered_as_a_known_one():
    """A plugin kind's refused property (the security plugin's Password: a desired state never
    holds one) refuses its line, which then takes no part in later clashes, and is not listed
    among the known properties when a misspelt one is named."""
    from iris_ops.state.kinds import core_kinds

    users = pytest.importorskip("iris_ops_security.kinds").USERS
    with pytest.raises(StateFileError) as caught:
        cpf_from_text("[Actions]\nCreateUser:Name=bob,Comment=a,Password=x\nCreateUser:Name=bob,Comment=b\n"
                      "CreateUser:Name=eve,Pasword=x\n", "m.cpf", core_kinds() + (users,))
    assert caught.value.details["problems"] == [
        "m.cpf:2: CreateUser: Password: a desired state never holds a password: describe the user in a TOML state "
        "file with password_env (the name of an environment variable holding it), or leave this line to `iris merge`",
        "m.cpf:4: CreateUser: property Pasword is not part of iris-ops' user (known: Name, Roles, FullName, Comment, "
        "Enabled, ChangePassword, PasswordNeverExpires, AccountNeverExpires)",
    ]
