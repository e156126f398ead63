"""The desired state in TOML: ``[state]`` of iris-ops.toml, pyproject.toml or a ``--state`` file.

Pure logic, in-process, with the core kinds only (no plugin): a round trip of Hypothesis-drawn
states, and the exact exit-2 messages (file, line, key) of what a file may not say, a kind of the
security plugin included."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, given, settings

from iris_ops import config
from iris_ops.errors import StateFileError
from iris_ops.state.kinds import CORE_KINDS
from iris_ops.state.toml_reader import read_project_state, read_state_file, state_from_text
from state_strategies import states, to_toml

SECURITY = ("roles, users and services are kinds of the security plugin: install iris-ops-security "
            "(pip install ./plugins/iris-ops-security from an iris-ops checkout), "
            "or, where it is installed, take 'security' out of disable_plugins (IRIS_OPS_DISABLE_PLUGINS)")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states)
def test_a_state_written_as_toml_reads_back_the_same(state):
    assert state_from_text(to_toml(state), "iris-ops.toml").as_data() == state


def _problems(text: str, source: str = "iris-ops.toml") -> list[str]:
    with pytest.raises(StateFileError) as caught:
        state_from_text(textwrap.dedent(text), source)
    assert caught.value.exit_code == 2
    return caught.value.details["problems"]


def test_an_unknown_key_names_the_file_the_line_and_the_key():
    assert _problems("""\
        container = "app"

        [state.databases.APP_DATA]
        directory = "app-data"
        sise = 10

        [[state.global_mappings]]
        namespace = "APP"
        name = "Orders"
        database = "APP_DATA"
        collation = 5
        """) == [
        "iris-ops.toml:5: unknown key 'sise' in [state.databases.APP_DATA] (known: directory, size, resource)",
        "iris-ops.toml:11: unknown key 'collation' in [[state.global_mappings]] (entry 1) "
        "(known: namespace, name, database)",
    ]


def test_an_unknown_kind_a_dotted_key_and_an_inline_table_are_found_on_their_lines():
    assert _problems("""\
        [state]
        databases.APP.directory = "app"
        databases.APP.owner = "me"
        applications = { "/csp/app" = {} }
        """) == [
        "iris-ops.toml:3: unknown key 'owner' in [state.databases.APP] (known: directory, size, resource)",
        "iris-ops.toml:4: unknown key 'applications' in [state] (known kinds: resources, databases, namespaces, "
        "global_mappings, routine_mappings, package_mappings)",
    ]


def test_the_second_array_entry_is_found_on_its_own_line():
    assert _problems("""\
        [[state.routine_mappings]]
        namespace = "APP"
        name = "ACC*"
        database = "APP"

        [[state.routine_mappings]]
        namespace = "APP"
        nmae = "TEST"
        database = "APP"
        """) == [
        "iris-ops.toml:8: unknown key 'nmae' in [[state.routine_mappings]] (entry 2) (known: namespace, name, database)",
        "iris-ops.toml:6: routine mapping needs 'name' (the routine, Name*, optionally with _MAC, _INT, _INC or _OBJ)",
    ]


def test_bad_values_are_named_with_their_line_and_the_rule():
    assert _problems("""\
        [state.databases.APP]
        directory = "../etc"
        size = "10"

        [state.namespaces.APP]
        fixture = "APP"
        globals = "APP"

        [state.namespaces.EMPTY]
        interop = true

        [state.resources.R1]
        public_permission = "RX"
        """) == [
        "iris-ops.toml:2: database 'directory': unsafe database directory '/../etc': instance paths must be "
        "absolute and use only letters, digits, '.', '_', '-' and '/' (no '..')",
        "iris-ops.toml:3: database 'size' must be a whole number, got '10'",
        "iris-ops.toml:7: namespace takes 'fixture' or 'globals', not both",
        "iris-ops.toml:9: namespace needs one of 'globals', 'fixture'",
        "iris-ops.toml:13: resource 'public_permission': invalid permission 'RX': use the letters R, W and U, "
        "each at most once",
    ]


def test_names_are_validated_and_one_object_is_not_declared_twice():
    assert _problems("""\
        [state.databases."1BAD"]
        [state.databases.app]
        [state.databases.APP]
        [state.resources.MyRes]
        [state.resources.MYRES]
        [[state.global_mappings]]
        namespace = "APP"
        name = "^Orders"
        database = "APP"
        """) == [
        "iris-ops.toml:1: database 'name': invalid database name '1BAD': use 1-64 characters, a letter first, "
        "then letters, digits, - or _",
        "iris-ops.toml:3: database 'APP' is declared twice (also as 'app': IRIS does not tell them apart)",
        "iris-ops.toml:5: resource 'MYRES' is declared twice (also as 'MyRes': IRIS does not tell them apart)",
        "iris-ops.toml:8: global mapping 'name': invalid global mapping '^Orders': give a global name without ^ "
        "(a letter or % first, then letters, digits or .), optionally ending in * or followed by subscripts such "
        "as (1):(100)",
    ]


def test_the_error_says_how_many_problems_and_where(tmp_path):
    path = tmp_path / "state.toml"
    path.write_text('[state.databases.APP]\nsize = 0\n')
    with pytest.raises(StateFileError) as caught:
        read_state_file(path)
    assert str(caught.value).startswith(f"{path}: 1 problem in the desired state:\n  {path}:2: database 'size': "
                                        "invalid size 0")


def test_a_state_file_holds_the_state_table_only(tmp_path):
    path = tmp_path / "state.toml"
    path.write_text('container = "x"\n[state.databases.APP]\ndirectory = "app"\n')
    with pytest.raises(StateFileError) as caught:
        read_state_file(path)
    assert caught.value.details["problems"] == [
        f"{path}:1: unknown key 'container': a state file holds a [state] table only"]
    assert caught.value.fix == "Each problem names its file and line; docs/STATE.md lists every kind and key."
    path.write_text("[state.databases.APP]\ndirectory = \"app\"\n")
    assert read_state_file(path).as_data() == {"databases": [{"name": "APP", "directory": "app/"}]}
    # read with the kinds it is given (a plugin's among them), not the core's alone
    without = tuple(kind for kind in CORE_KINDS if kind.name != "databases")
    with pytest.raises(StateFileError) as caught:
        read_state_file(path, without)
    assert caught.value.details["problems"][0].startswith(f"{path}:1: unknown key 'databases' in [state]")
    path.write_text('container = "x"\n')
    with pytest.raises(StateFileError) as caught:
        read_state_file(path)
    assert caught.value.details["problems"] == [
        f"{path}:1: unknown key 'container': a state file holds a [state] table only", f"{path}: no [state] table"]
    assert str(caught.value).startswith(f"{path}: 2 problems in the state file:\n  {path}:1: unknown key")


def test_a_missing_or_broken_state_file_is_exit_2(tmp_path):
    with pytest.raises(StateFileError, match="state file '.*nope.toml' does not exist") as caught:
        read_state_file(tmp_path / "nope.toml")
    assert caught.value.exit_code == 2 and caught.value.fix == "Check the path given to --state."
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[state.resources.R]\ndescription = "caf\u00e9"\n'.encode("latin-1"))
    for unreadable in (tmp_path, latin):  # a directory, and a file that is not UTF-8
        with pytest.raises(StateFileError, match=f"^cannot read state file '{unreadable}': ") as caught:
            read_state_file(unreadable)
        assert caught.value.exit_code == 2 and caught.value.fix == "Check the path given to --state."
    latin.write_bytes('[state.resources.R]\ndescription = "caf\u00e9"\n'.encode())
    assert read_state_file(latin).as_data() == {"resources": [{"name": "R", "description": "caf\u00e9"}]}
    bad = tmp_path / "bad.toml"
    bad.write_text("[state\n")
    with pytest.raises(StateFileError, match=r"bad.toml: not valid TOML: .*line 1"):
        read_state_file(bad)


def test_the_project_file_holds_settings_and_the_state(tmp_path):
    (tmp_path / "iris-ops.toml").write_text('container = "app-iris"\n\n[state.databases.APP]\nsize = 5\n')
    assert config.load(environ={}, start=tmp_path).container == "app-iris"
    assert read_project_state(tmp_path).as_data() == {"databases": [{"name": "APP", "size": 5}]}
    with pytest.raises(StateFileError) as caught:  # read with the kinds it is given
        read_project_state(tmp_path, tuple(kind for kind in CORE_KINDS if kind.name != "databases"))
    assert caught.value.details["problems"][0].startswith(f"{tmp_path / 'iris-ops.toml'}:3: unknown key 'databases'")


def test_pyproject_state_lines_are_found_under_tool_iris_ops(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.iris-ops]\ncontainer = "c"\n\n[tool.iris-ops.state.databases.APP]\nsiz = 5\n')
    assert config.load(environ={}, start=tmp_path).container == "c"
    with pytest.raises(StateFileError) as caught:
        read_project_state(tmp_path)
    assert caught.value.details["problems"] == [
        f"{tmp_path / 'pyproject.toml'}:8: unknown key 'siz' in [tool.iris-ops.state.databases.APP] "
        "(known: directory, size, resource)"]


def test_no_project_file_or_no_state_table_is_no_state(tmp_path):
    assert read_project_state(tmp_path) is None
    (tmp_path / "iris-ops.toml").write_text('container = "c"\n')
    assert read_project_state(tmp_path) is None


def test_a_multi_line_string_does_not_shift_the_lines_and_a_line_break_is_refused():
    assert _problems('''\
        [state.resources.R]
        description = """one
        two = 2
        colour = 3
        """
        colour = "red"
        ''') == [
        "iris-ops.toml:6: unknown key 'colour' in [state.resources.R] (known: description, public_permission)",
        "iris-ops.toml:2: resource 'description': expected text of at most 256 characters without control "
        "characters, got 'one\\ntwo = 2\\ncolour = 3\\n'",
    ]


def test_a_key_named_twice_is_reported_where_it_is_first_named():
    assert _problems("""\
        [state.applications.a]
        path = "/a"

        [state.applications.b]
        path = "/b"
        """) == ["iris-ops.toml:1: unknown key 'applications' in [state] (known kinds: resources, databases, "
                 "namespaces, global_mappings, routine_mappings, package_mappings)"]


def test_a_kind_of_the_security_plugin_without_it_names_the_plugin_and_how_to_install_it():
    """Roles, users and services come through the security plugin's ``state_kinds``: without it, a
    file naming one is refused (exit 2) at the kind's line, saying which plugin adds it."""
    assert _problems("""\
        [state.resources.APP_RES]

        [state.roles.APP_READER]
        resources = { APP_RES = "R" }

        [state]
        users.alice.roles = ["APP_READER"]
        services = {}
        """) == [
        "iris-ops.toml:3: unknown key 'roles' in [state]: " + SECURITY,
        "iris-ops.toml:7: unknown key 'users' in [state]: " + SECURITY,
        "iris-ops.toml:8: unknown key 'services' in [state]: " + SECURITY,
    ]


def test_dotted_keys_and_escaped_quotes_in_keys_keep_their_lines():
    assert _problems('''\
        [state]
        namespaces.APP.interop = true
        namespaces.APP.routines = "APP"

        [state.resources."R\\"1"]
        colour = "red"
        ''') == [
        "iris-ops.toml:2: namespace needs one of 'globals', 'fixture'",
        "iris-ops.toml:6: unknown key 'colour' in [state.resources.\"R\\\"1\"] (known: description, public_permission)",
    ]


def test_each_kind_must_have_its_own_shape_and_a_name_is_the_tables_key():
    text = textwrap.dedent("""\
        [state]
        databases = "x"
        global_mappings = [1, 2]

        [state.namespaces.APP]
        name = "APP"
        globals = "USER"

        [state.routine_mappings]
        namespace = "APP"
        """)
    with pytest.raises(StateFileError) as caught:
        state_from_text(text, "s.toml")
    assert caught.value.details["problems"] == [
        "s.toml:2: [state.databases] holds one table per database: [state.databases.<NAME>]",
        "s.toml:3: global_mappings is an array of tables: [[state.global_mappings]]",
        "s.toml:6: unknown key 'name' in [state.namespaces.APP]: the name is the table's own key",
        "s.toml:9: routine_mappings is an array of tables: [[state.routine_mappings]]",
    ]
    # a table per object, each of them a table
    with pytest.raises(StateFileError) as caught:
        state_from_text('[state.databases]\nAPP = "app"\n', "s.toml")
    assert caught.value.details["problems"] == [
        "s.toml:1: [state.databases] holds one table per database: [state.databases.<NAME>]"]


def test_the_role_list_helper_plugins_use_keeps_case_and_refuses_a_role_named_twice():
    """``kinds.role_list``, the check of a field holding role names (the security plugin's users
    and roles): each role once, compared without case, as given."""
    from iris_ops.errors import UsageError
    from iris_ops.state.kinds import role_list

    assert role_list(["%Developer", "App_Reader"]) == ["%Developer", "App_Reader"]
    assert role_list([]) == []
    for value, message in [("%Developer", "expected a list of role names"),
                           (["App", "APP"], "role APP is named twice"),
                           (["a,b"], "invalid role name 'a,b': use 1-64 characters without ',' or ':'")]:
        with pytest.raises(UsageError) as caught:
            role_list(value)
        assert caught.value.message == message


def test_what_a_change_context_is_given_to_do_at_the_end_is_kept_in_order():
    from iris_ops.state.kinds import ChangeContext

    ctx = ChangeContext("/mgr/")
    first, second = object(), object()
    ctx.on_end(first)
    ctx.on_end(second)
    assert ctx.ends == [first, second] and ctx.manager_directory == "/mgr/"


def test_a_long_value_of_the_wrong_type_is_shown_cut():
    with pytest.raises(StateFileError) as caught:
        state_from_text(f'[state.databases.APP]\nsize = "{"9" * 50}"\n', "iris-ops.toml")
    assert caught.value.details["problems"] == [
        f"iris-ops.toml:2: database 'size' must be a whole number, got '{'9' * 40}…' (50 characters)"]


def test_a_state_file_that_is_missing_or_no_file_is_named_cut_at_200_characters(tmp_path):
    deep = tmp_path / ("d" * 210)
    deep.mkdir()
    shown = f"'{str(deep)[:200]}…' ({len(str(deep))} characters)"
    with pytest.raises(StateFileError) as caught:
        read_state_file(deep)
    assert caught.value.message == f"cannot read state file {shown}: [Errno 21] Is a directory: '{deep}'"
    assert caught.value.fix == "Check the path given to --state."
    missing = tmp_path / ("m" * 210)
    with pytest.raises(StateFileError) as caught:
        read_state_file(missing)
    assert caught.value.message == f"state file '{str(missing)[:200]}…' ({len(str(missing))} characters) does not exist"


def test_reading_goes_on_past_a_twice_declared_object_and_a_quoted_name_is_shown_escaped():
    assert _problems("[state.resources.R]\n[state.resources.r]\n[state.resources.S]\nbogus = 1\n"
                     "[state.resources.'a\\b']\nbogus = 2\n") == [
        "iris-ops.toml:2: resource 'r' is declared twice (also as 'R': IRIS does not tell them apart)",
        "iris-ops.toml:4: unknown key 'bogus' in [state.resources.S] (known: description, public_permission)",
        "iris-ops.toml:6: unknown key 'bogus' in [state.resources.\"a\\\\b\"] (known: description, public_permission)",
    ]


def test_a_plugin_kinds_refused_key_is_named_with_its_reason_and_place():
    from iris_ops.state.kinds import core_kinds

    users = pytest.importorskip("iris_ops_security.kinds").USERS
    with pytest.raises(StateFileError) as caught:
        state_from_text('[state.users.bob]\npassword = "x"\n', "s.toml", kinds=core_kinds() + (users,))
    assert caught.value.details["problems"] == [
        "s.toml:2: 'password' in [state.users.bob]: a state never holds a password: set password_env = \"VAR\", "
        "the name of an environment variable that holds it"]


def test_the_public_flag_check_says_what_it_expected():
    """``iris_ops.state.kinds.flag`` (a value check of the public API, for a plugin's fields)."""
    from iris_ops.errors import UsageError
    from iris_ops.state.kinds import flag

    assert flag(True) is True and flag(False) is False
    for value, shown in (("yes", "'yes'"), (1, "1"), (None, "None")):
        with pytest.raises(UsageError) as caught:
            flag(value)
        assert caught.value.message == f"expected true or false, got {shown}"


def test_what_is_no_state_table_is_named_with_its_fix_and_a_state_names_its_source():
    from iris_ops.state.toml_reader import FIX

    with pytest.raises(StateFileError) as caught:
        state_from_text("[state\n", "s.toml")
    assert caught.value.exit_code == 2 and caught.value.message == (
        "s.toml: not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 7)")
    assert caught.value.fix == "Fix the TOML syntax at the line named."
    with pytest.raises(StateFileError) as caught:
        state_from_text("state = 5\n", "s.toml")
    assert caught.value.message == "s.toml: 1 problem in the desired state:\n  s.toml:1: [state] must be a table"
    assert caught.value.details["problems"] == ["s.toml:1: [state] must be a table"] and caught.value.fix == FIX
    with pytest.raises(StateFileError) as caught:
        state_from_text("[tool.iris-ops]\nstate = 5\n", "pyproject.toml", prefix=("tool", "iris-ops", "state"))
    assert caught.value.details["problems"] == ["pyproject.toml:2: [tool.iris-ops.state] must be a table"]
    with pytest.raises(StateFileError) as caught:
        state_from_text("[state.resources.R]\nbogus = 1\n", "s.toml")
    assert caught.value.fix == FIX
    # a table above the state that is no table holds no state
    assert state_from_text("tool = 5\n", "pyproject.toml", prefix=("tool", "iris-ops", "state")).as_data() == {}
    assert state_from_text("[state.resources.R]\n", "s.toml").source == "s.toml"
    # a document parsed already is read as given, and not parsed again
    given = state_from_text("not toml at all", "s.toml", document={"state": {"resources": {"R": {}}}})
    assert given.as_data() == {"resources": [{"name": "R"}]} and given.source == "s.toml"


def test_each_key_is_found_on_its_line_however_it_is_quoted_spaced_or_broken():
    """``tomllines.key_lines``: where each key is, for the messages (tomllib gives no positions).
    Basic strings unescape, literal ones do not, spaces around dots are allowed, and a quoted key
    or header that never closes names nothing (the keys after it stay in the table before)."""
    from iris_ops.state.tomllines import key_lines

    text = ('[ state . "data\\"bases" ]\n'
            'Xy = 1\n'
            '"a".b = 2\n'
            'c  .  d = 3\n'
            '"e\\\\" = 4\n'
            '"unterminated = 5\n'
            "'lit\\' = 6\n"
            '"q" . \'r\' = 7\n'
            '"x\\\n'
            '"ab\\" = 10\n'
            '["unterminated header\n'
            '["ab\\"\n'
            'z = 9\n')
    table = ("state", 'data"bases')
    assert key_lines(text) == {
        ("state",): 1, table: 1, (*table, "Xy"): 2, (*table, "a"): 3, (*table, "a", "b"): 3, (*table, "c"): 4,
        (*table, "c", "d"): 4, (*table, "e\\"): 5, (*table, "lit\\"): 7, (*table, "q"): 8, (*table, "q", "r"): 8,
        (*table, "z"): 13,
    }
