"""The name rules at their edges, and the exact message and fix line a refused name gets
(iris_ops.names): what the user reads before anything touches an instance."""

from __future__ import annotations

import pytest

from iris_ops import names
from iris_ops.errors import InvalidNameError, SystemTargetError, UsageError

NAME_FIX = InvalidNameError.default_fix


def refused(check, value, **kw):
    with pytest.raises(UsageError) as caught:
        check(value, **kw)
    assert caught.value.exit_code == 2
    return caught.value


def test_a_shown_name_is_quoted_escaped_and_shortened():
    assert names.shown("ok") == "'ok'"
    assert names.shown("naïve\x1b[2J") == "'naïve\\x1b[2J'"
    assert names.shown("x" * 40) == "'" + "x" * 40 + "'"
    assert names.shown("x" * 41) == "'" + "x" * 40 + "…' (41 characters)"
    assert names.shown("abcdef", limit=3) == "'abc…' (6 characters)"
    assert names.shown(12) == "'12'"


def test_namespace_messages():
    error = refused(names.namespace, "1bad")
    assert error.message == "invalid namespace name '1bad': use 1-64 characters, a letter or % first, then letters, digits, - or _"
    assert error.fix == NAME_FIX
    assert refused(names.namespace, "", what="target namespace").message.startswith("invalid target namespace name ''")
    assert refused(names.namespace, None).message.startswith("invalid namespace name 'None'")
    assert names.namespace("%sys") == "%SYS" and names.namespace("a" * 64) == "A" * 64
    refused(names.namespace, "a" * 65)


def test_database_messages():
    error = refused(names.database, "%DB")
    assert error.message == "invalid database name '%DB': use 1-64 characters, a letter first, then letters, digits, - or _"
    assert error.fix == NAME_FIX
    assert refused(names.database, 7).message.startswith("invalid database name '7'")
    assert names.database("app_Data-1") == "APP_DATA-1"


def test_resource_names_at_their_limits():
    assert names.resource("R") == "R" and names.resource("r" * 64) == "r" * 64
    for bad in ("", "r" * 65, "a\x7fb", "a\x1fb", 5):
        error = refused(names.resource, bad)
        assert error.fix == "Check the resource named in the database label (the fixture's manifest shows it)."
    assert refused(names.resource, "a,b").message == \
        "invalid resource name 'a,b': IRIS resource names are 1-64 characters without ',' or ':'"


def test_a_system_resource_is_one_with_percent_right_after_the_first_underscore():
    assert names.is_system_resource("%DB_%DEFAULT")
    assert not names.is_system_resource("%DB_USER")
    assert not names.is_system_resource("App_Res_%1")  # the first underscore decides
    assert not names.is_system_resource("NoUnderscore%")
    assert names.user_resource("App_Res_%1") == "App_Res_%1"
    with pytest.raises(SystemTargetError) as caught:
        names.user_resource("%DB_%DEFAULT")
    assert caught.value.message == "refusing to create or delete system resource %DB_%DEFAULT"
    assert caught.value.exit_code == 3


def test_system_namespaces_and_databases():
    with pytest.raises(SystemTargetError) as caught:
        names.user_namespace("%sys", action="restore over")
    assert caught.value.message == "refusing to restore over system namespace %SYS"
    assert names.user_namespace("app", action="delete") == "APP"
    assert names.is_system_namespace("hslib") and names.is_system_namespace("%Anything")
    assert not names.is_system_namespace("USER")
    assert names.is_system_database("IRISLIB") and names.is_system_database("irissys")
    assert not names.is_system_database("USER")


def test_derived_database_names_and_the_64_character_limit():
    assert names.derived_database("t1", "data") == "T1_DATA"
    assert names.derived_database("n" * 59, "DATA") == "N" * 59 + "_DATA"  # exactly 64
    error = refused(names.derived_database, "n" * 60, suffix="DATA")
    assert error.message == (f"namespace '{'n' * 40}…' (60 characters) is too long: the database name "
                             f"'{'N' * 60}_DATA' it needs exceeds 64 characters")
    assert error.fix == "Use a namespace name of at most 59 characters."
    long = refused(names.derived_database, "n" * 70, suffix="CODE")
    assert f"'{'N' * 70}_C…' (75 characters)" in long.message
    with pytest.raises(InvalidNameError):
        names.derived_database("bad name", "DATA")


def test_instance_paths_and_directories():
    assert names.instance_path("/usr/irissys/mgr/user/IRIS.DAT") == "/usr/irissys/mgr/user/IRIS.DAT"
    for bad in ("relative/x", "/a//b", "/a/./b", "/a/../b", "/a/..", "/a b", 3):
        error = refused(names.instance_path, bad)
        assert error.fix == "Check the directory reported by the instance or the one you passed."
    error = refused(names.instance_path, "/a/../b")
    assert error.message == ("unsafe path '/a/../b': instance paths must be absolute and use only letters, "
                             "digits, '.', '_', '-' and '/' (no '..')")
    assert refused(names.instance_path, "/" + "d" * 130 + " x", what="staging directory").message.startswith(
        "unsafe staging directory '/" + "d" * 119 + "…' (133 characters): instance paths")
    assert names.directory("/usr/irissys/mgr/user") == "/usr/irissys/mgr/user/"
    assert names.directory("/usr/irissys/mgr/user/") == "/usr/irissys/mgr/user/"
    assert refused(names.directory, "x").message.startswith("unsafe directory 'x'")
    assert refused(names.directory, "x", what="cache").message.startswith("unsafe cache 'x'")


def test_role_names_follow_the_resource_rule_and_keep_their_case():
    assert names.role("%Developer") == "%Developer"
    assert names.role("r" * 64) == "r" * 64
    for bad in ("", "r" * 65, "a,b", "a:b", "a\nb", "a\x7fb", 3):
        assert refused(names.role, bad).message.startswith("invalid role name")


def test_what_mappings_map():
    for good in ("Orders", "%Z*", "Orders(1):(100)", "Orders(\"a\",2)", "A.B.C*", "x" * 63):
        assert names.global_mapping(good) == good
    for bad in ("^Orders", "1X", "A B", "A(", "A()", "Orders*x", "x" * 64, "A(\n)", 3):
        assert refused(names.global_mapping, bad).message.startswith("invalid global mapping")
    for good in ("ACC*", "TEST_OBJ", "%Z.R_MAC", "R_INT", "R_INC"):
        assert names.routine_mapping(good) == good
    for bad in ("ACC**", "TEST_XYZ", "_MAC", "1R", "R-1", "R*_OBJ*"):
        assert refused(names.routine_mapping, bad).message.startswith("invalid routine mapping")
    for good in ("App", "App.Model", "%Z.Pkg2"):
        assert names.package(good) == good
    for bad in ("App.", ".App", "App..Model", "1App", "App.2x", "App Model", "A*"):
        assert refused(names.package, bad).message.startswith("invalid package name")


def test_fixture_names_and_directories_under_the_manager_directory():
    for good in ("USER", "app-1.2_x", "%SYS"):
        assert names.fixture_name(good) == good
    for bad in ("", ".hidden", "a/b", "..", "a b", "x" * 256):
        assert refused(names.fixture_name, bad).message.startswith("invalid fixture name")
    assert names.relative_directory("app-data") == "app-data/"
    assert names.relative_directory("apps/data/") == "apps/data/"
    for bad in ("", "/abs", "../up", "a/../b", "a//b", "a b"):
        with pytest.raises(UsageError):
            names.relative_directory(bad)
    assert refused(names.relative_directory, "").message == (
        "empty directory: name a directory under the manager directory")


@pytest.mark.parametrize("check, bad, message, fix", [
    (names.global_mapping, "^Orders",
     "invalid global mapping '^Orders': give a global name without ^ (a letter or % first, then letters, digits or .), "
     "optionally ending in * or followed by subscripts such as (1):(100)",
     "For example Orders, Orders*, or Orders(2020):(2024)."),
    (names.routine_mapping, "R-1",
     "invalid routine mapping 'R-1': give a routine name (a letter or % first, then letters, digits or .), optionally "
     "ending in *, optionally followed by _MAC, _INT, _INC or _OBJ",
     "For example ACC*, or TEST_OBJ."),
    (names.package, "App..Model",
     "invalid package name 'App..Model': use dotted names of letters and digits, a letter or % first",
     "For example App.Model."),
    (names.fixture_name, "a/b",
     "invalid fixture name 'a/b': a fixture is named by its directory in fixtures_dir (letters, digits, %, ., _ or -; "
     "no /)", "Name a fixture that `iris-ops backup --ns NS` wrote (fixtures/NS)."),
    (names.role, "a,b", "invalid role name 'a,b': use 1-64 characters without ',' or ':'",
     "Name the role as the Management Portal shows it (e.g. %Developer, APP_READER)."),
    (names.relative_directory, "", "empty directory: name a directory under the manager directory",
     'For example directory = "app-data".'),
])
def test_each_refused_name_says_the_rule_and_the_fix(check, bad, message, fix):
    error = refused(check, bad)
    assert (error.message, error.fix) == (message, fix)


def test_mapped_names_at_their_length_limits_and_printable_edges():
    subscripted = "O(" + "1" * 508 + ")"  # 511 characters: the most Config.MapGlobals takes here
    assert names.global_mapping(subscripted) == subscripted
    assert refused(names.global_mapping, subscripted[:-1] + "1)").message.startswith("invalid global mapping")
    assert names.package("A" * 189) == "A" * 189
    assert refused(names.package, "A" * 190).message.startswith("invalid package name")
    # inside subscripts any printable character stands, a space too; control characters never
    assert names.global_mapping('Orders("a b")') == 'Orders("a b")'
    assert names.global_mapping('Orders("é")') == 'Orders("é")'
    for bad in ('Orders("a\x7fb")', 'Orders("a\x1fb")'):
        assert refused(names.global_mapping, bad).message.startswith("invalid global mapping")
    assert refused(names.relative_directory, 3).message.startswith("unsafe directory")
