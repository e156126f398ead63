"""The script builder, every generated admin script, and result parsing."""

from __future__ import annotations

import pytest

from iris_ops import names, script_builders
from iris_ops import objectscript as o
from iris_ops.errors import AuthenticationError, InvalidNameError, ScriptError, SystemTargetError, UsageError
from iris_ops.operations.run import build_script
from iris_ops.script_builders.cache import record_text
from iris_ops.runner import Runner
from iris_ops.transports.base import ExecResult, Target

MGR = "/usr/irissys/mgr/"


def every_script():
    """Every script the tool can generate, for every operation and option."""
    copies = [(f"{MGR}app_data/IRIS.DAT", f"{MGR}iris-ops-backup-1/APP_DATA/IRIS.DAT"),
              (f"{MGR}app_code/IRIS.DAT", f"{MGR}iris-ops-backup-1/APP_CODE/IRIS.DAT")]
    yield script_builders.describe_namespace("APP")
    yield script_builders.describe_namespace("APP", with_tables=True)
    yield script_builders.namespace_exists("APP")
    yield script_builders.database_users("APP", [("APP_DATA", f"{MGR}app_data/"), ("APP_CODE", f"{MGR}app_code/")])
    yield script_builders.file_exists(f"{MGR}iris-ops-delete-T1.json")
    yield script_builders.remove_file(f"{MGR}iris-ops-delete-T1.json")
    yield script_builders.counts("USER")
    yield script_builders.freeze_and_copy(f"{MGR}iris-ops-backup-1/", copies, freeze_timeout=0, freeze_limit=300)
    owner = script_builders.FreezeOwner("0123456789abcdef", "host", 1)
    yield script_builders.freeze_and_copy(f"{MGR}iris-ops-backup-1/", copies, freeze_timeout=0, freeze_limit=300,
                                          owner=owner, reflink=True)
    yield script_builders.copy_and_thaw(copies, [True, False], owner=owner)
    yield script_builders.dismount_and_copy(f"{MGR}iris-ops-backup-1/", [f"{MGR}app_data/", f"{MGR}app_code/"], copies)
    yield script_builders.count_staged("IRISOPS-COUNT-1", [
        ("IRISOPS-COUNT-1-0", "globals", f"{MGR}iris-ops-backup-1/APP_DATA/", f"{MGR}app_data/"),
        ("IRISOPS-COUNT-1-1", "routines", f"{MGR}iris-ops-backup-1/APP_CODE/", f"{MGR}app_code/")])
    yield script_builders.remove_directory(f"{MGR}iris-ops-backup-1/")
    yield script_builders.existing("T1", ["T1_DATA", "T1_CODE"], [f"{MGR}t1_data/", f"{MGR}t1_code/"])
    yield script_builders.manager_directory()
    yield script_builders.configured_names()
    yield script_builders.make_directory(f"{MGR}t1_data/")
    yield script_builders.ensure_resource("%DB_APP_DATA")
    yield script_builders.delete_resource("%DB_APP_DATA")
    yield script_builders.delete_resource("%DB_APP_DATA", with_role=True)
    yield script_builders.resource_status("%DB_%DEFAULT")
    yield script_builders.create_database("T1_DATA", f"{MGR}t1_data/")
    yield script_builders.create_namespace("T1", "T1_DATA", "T1_CODE")
    yield script_builders.delete_namespace("T1")
    yield script_builders.delete_database("T1_DATA", f"{MGR}t1_data/")
    yield script_builders.delete_database("T1_DATA", f"{MGR}t1_data/", keep_files=True)
    yield script_builders.delete_all("T1", [("T1_DATA", f"{MGR}t1_data/", "%DB_T1_DATA"),
                                            ("T1_CODE", f"{MGR}t1_code/", "%DB_%DEFAULT")])
    yield script_builders.delete_all("T1", [("T1", f"{MGR}t1/", "")], keep_files=True)
    yield script_builders.wd_suspended()
    yield script_builders.freeze_arguments()
    yield script_builders.freeze_state()
    yield script_builders.release_freeze("0123456789abcdef")
    yield script_builders.restored_databases("iris-ops-restore.json")
    yield script_builders.database_users(None, [("APP_DATA", f"{MGR}app_data/")])
    yield script_builders.delete_all(None, [("T1_DATA", f"{MGR}t1_data/", "%DB_T1_DATA")])
    yield script_builders.resource_status("%DB_APP_DATA")
    cache = f"{MGR}iris-ops-cache/"
    RECORD = record_text({"sha256": "a" * 64, "size": 8192, "fixture": 'a "quoted" fixture \u00e9'})
    yield script_builders.restore_facts("T1", ["T1_DATA", "T1_CODE"], ["%DB_APP_DATA", "%DB_%DEFAULT"])
    yield script_builders.restore_facts("T1", ["T1"], ["%DB_APP_DATA"], [("a" * 64, 8192)])
    served = [script_builders.NewDatabase("T1_DATA", f"{MGR}t1_data/", "%DB_APP_DATA",
                                          clone=(cache, "a" * 64, 8192, "0" * 12)),
              script_builders.NewDatabase("T1_CODE", f"{MGR}t1_code/", None, clone=(cache, "b" * 64, 8192, "0" * 12))]
    yield script_builders.restore_databases("T1", served, "T1_DATA", "T1_CODE")
    streamed = [script_builders.NewDatabase("T1_DATA", f"{MGR}t1_data/", "%DB_APP_DATA",
                                            fill=(cache, "a" * 64, 8192, "0" * 12, RECORD)),
                script_builders.NewDatabase("T1_CODE", f"{MGR}t1_code/", None)]
    yield script_builders.restore_databases("T1", streamed, "T1_DATA", "T1_CODE")
    reflinked = [script_builders.NewDatabase("T1", f"{MGR}t1/", None, clone=(cache, "a" * 64, 8192, "0" * 12),
                                             clone_reflinked=True),
                 script_builders.NewDatabase("T2", f"{MGR}t2/", None, fill=(cache, "b" * 64, 8192, "0" * 12, RECORD),
                                             fill_reflinked=True)]
    yield script_builders.restore_databases("T1", reflinked[:1], "T1", "T1")
    yield script_builders.restore_databases("T1", reflinked[1:], "T2", "T2")
    journal = f"{MGR}iris-ops-restore-T1.json"
    guard = script_builders.Guard("T1", (journal, f"{MGR}iris-ops-restore-T1.committed.json"), "f" * 32, 120)
    yield script_builders.restore_databases("IRISOPS-NEW-0A1B2C3D", streamed, "T1_DATA", "T1_CODE", guard)
    yield script_builders.restore_facts("T1", ["T1"], ["%DB_APP_DATA"], None, ["iris-ops-restore-T1.json"])
    guarded = script_builders.guard_step(o.Script(purpose="stop the restore"), guard, check_journal=False)
    yield script_builders.revoke_step(guarded, journal, f"{MGR}iris-ops-restore-T1.rollback.json")
    yield script_builders.swap("T1", guard, journal, f"{MGR}iris-ops-restore-T1.committed.json", "IRISOPS-NEW-0A1B2C3D",
                               [("IRISOPS-NEW-0A1B2C3D-1", "T1_DATA", f"{MGR}t1_data-0a1b2c3d/"),
                                ("IRISOPS-NEW-0A1B2C3D-2", "T1_CODE", f"{MGR}t1_code/")], "T1_DATA", "T1_CODE",
                               [("T1_DATA", f"{MGR}t1_data/", "%DB_T1_DATA"), ("OLD", f"{MGR}old/", "")],
                               [f"{MGR}t1_code/"])
    yield script_builders.current_state([
        ("databases", script_builders.read_databases(["APP_DATA"])),
        ("namespaces", script_builders.read_namespaces(["APP"])),
        ("global_mappings", script_builders.read_mappings("globals", [("APP", "Orders(1):(100)")])),
        ("routine_mappings", script_builders.read_mappings("routines", [("%ALL", "ACC*")])),
        ("package_mappings", script_builders.read_mappings("packages", [("APP", "App.Model")])),
        ("resources", script_builders.read_resources(['%DB_A "quoted"']))])
    # the cache's own scripts: tests/test_cache.py
    yield build_script('Write $ZVersion\nSet x=1 Write x,!\nHang 0', "%SYS")


@pytest.fixture(scope="module")
def parser():
    ts = pytest.importorskip("tree_sitter")
    grammar = pytest.importorskip("tree_sitter_objectscript")
    return ts.Parser(ts.Language(grammar.language_objectscript()))


def error_nodes(node):
    if node.type == "ERROR" or node.is_missing:
        yield node
    for child in node.children:
        yield from error_nodes(child)


@pytest.mark.parametrize("script", list(every_script()), ids=lambda s: s.purpose)
def test_every_generated_script_parses_without_error(parser, script):
    for line in script.lines():
        # Column 0 reads as a label: indent each line by one space (IRIS.md §5).
        tree = parser.parse((" " + line + "\n").encode())
        assert not list(error_nodes(tree.root_node)), f"syntax error in: {line}"


def test_the_parser_check_can_fail(parser):
    tree = parser.parse(b' Set x=("a"\n')
    assert list(error_nodes(tree.root_node))


def test_literals_double_quotes_and_refuse_control_characters():
    assert o.lit('say "hi"') == '"say ""hi"""'
    assert o.lit(3) == "3" and o.lit(True) == "1"
    for bad in ("a\nb", "a\rb", "nul\x00", "del\x7f"):
        with pytest.raises(ValueError):
            o.lit(bad)


def test_builders_refuse_plain_strings_where_code_belongs():
    with pytest.raises(TypeError):
        o.set_("x", "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        o.Script().step("s", "Set x=1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        o.call("Config.Namespaces", "Get);Halt;(")
    with pytest.raises(ValueError):
        o.set_(o.var("err"), 1)


def test_markers_never_appear_whole_in_the_source():
    script = script_builders.describe_namespace("USER")
    begin, end = script.markers
    source = script.render()
    assert begin not in source and end not in source
    assert script.token[:6] in source


@pytest.mark.parametrize("bad", ['US"ER', "", "1ABC", "A" * 65, "USER\n", "us er", "a;b", "x/y"])
def test_invalid_namespace_names(bad):
    with pytest.raises(InvalidNameError):
        names.namespace(bad)


def test_namespace_rules():
    assert names.namespace("user") == "USER"
    assert names.namespace("%SYS") == "%SYS"
    assert names.namespace("My-App_2") == "MY-APP_2"
    with pytest.raises(SystemTargetError):
        names.user_namespace("%SYS", action="delete")
    with pytest.raises(InvalidNameError):
        names.database("%DB")
    with pytest.raises(InvalidNameError):
        names.derived_database("N" * 60, "DATA")


@pytest.mark.parametrize("bad", ["relative/x", "/a/../b", "/a//b", "/a b", '/a"b', "/a\nb", "/a;rm"])
def test_unsafe_instance_paths(bad):
    with pytest.raises(UsageError):
        names.instance_path(bad)


class _FakeHook:
    def __init__(self, result):
        self.result = result

    def run_objectscript(self, **kwargs):
        return self.result


class _FakePM:
    def __init__(self, result):
        self.hook = _FakeHook(result)


def _runner(result):
    return Runner(_FakePM(result), Target(container="c"), timeout=5)


def _frame(script, body, *, status=0, before="", after=""):
    begin, end = script.markers
    text = f"\r\nNode: x, Instance: IRIS\r\n\r\n%SYS>{before}\r\n{begin}\r\n{body}\r\n{end}\r\n{after}"
    return ExecResult(exit_code=status, stdout=text.encode())


def test_success_needs_markers_ok_and_exit_status():
    script = script_builders.manager_directory()
    ok_body = '{"ok":1,"error":"","step":"","steps":1,"manager_directory":"/m/"}'
    assert _runner(_frame(script, ok_body)).run(script, changes=False)["manager_directory"] == "/m/"
    with pytest.raises(ScriptError):  # exit status alone
        _runner(_frame(script, ok_body, status=1)).run(script, changes=False)
    with pytest.raises(ScriptError):  # ok false
        _runner(_frame(script, ok_body.replace('"ok":1', '"ok":0'))).run(script, changes=False)
    with pytest.raises(ScriptError):  # markers of another run
        other = script_builders.manager_directory()
        _runner(_frame(other, ok_body)).run(script, changes=False)


def test_a_success_word_in_the_output_is_not_success():
    script = script_builders.manager_directory()
    text = 'SUCCESS\n{"ok":1}\n<<<' + script.token[:6] + ":BEGIN>>>\n"
    with pytest.raises(ScriptError):
        _runner(ExecResult(0, text.encode())).run(script, changes=False)


def test_failure_carries_the_iris_error_and_output_tail():
    script = script_builders.delete_namespace("T1")
    body = '{"ok":0,"error":"ERROR #5001: boom","step":"delete","steps":0}'
    with pytest.raises(ScriptError) as caught:
        _runner(_frame(script, body, status=1)).run(script)
    assert "ERROR #5001: boom" in str(caught.value)
    assert caught.value.details["iris_error"] == "ERROR #5001: boom"
    assert "Instance: IRIS" in caught.value.details["output_tail"]
    assert caught.value.exit_code == 5


def test_error_without_result_reports_what_iris_printed():
    script = script_builders.counts("USER")
    text = "%SYS>\nSet x=y\n     ^\n<UNDEFINED> *y\n%SYS>\n"
    with pytest.raises(ScriptError) as caught:
        _runner(ExecResult(0, text.encode())).run(script, changes=False)
    assert "<UNDEFINED> *y" in str(caught.value)


@pytest.mark.parametrize("prompt", ["Username: ", "\nAccess Denied\n"])
def test_login_prompt_is_an_unreachable_error(prompt):
    script = script_builders.counts("USER")
    with pytest.raises(AuthenticationError) as caught:
        _runner(ExecResult(1, prompt.encode())).run(script, changes=False)
    assert caught.value.exit_code == 6
    assert "OS authentication" in caught.value.fix


def test_dry_run_prints_changing_scripts_and_runs_nothing(capsys):
    runner = Runner(_FakePM(None), Target(container="c"), timeout=5, dry_run=True)
    assert runner.run(script_builders.delete_namespace("T1"))["dry_run"]
    out = capsys.readouterr().out
    assert "Config.Namespaces).Delete" in out and "dry run" in out


def test_loop_select_and_character_builders():
    i, m = o.var("i"), o.var("m")
    loop = o.for_(i, 1, o.func("$Length", m), o.set_(o.var("x"), o.op(o.func("$Ascii", m, i), "#", 256)))
    assert loop == "For i=1:1:$Length(m) { Set x=($Ascii(m,i)#256) }"
    assert o.select((o.op(o.var("a"), "=", "SHA1"), 160), default=0) == '$Select((a="SHA1"):160,1:0)'
    assert o.func("$ZConvert", o.var("p"), "I", "UTF8") == '$ZConvert(p,"I","UTF8")'
    with pytest.raises(ValueError):
        o.for_(o.var("n"), 1, 2)  # the frame's step counter


def test_row_counts_mount_the_staged_copies_read_write():
    """Whether SQL runs on a read-only mount is not documented: the count mounts its staging
    copies read-write (they were streamed already, and are discarded), never read-only."""
    stage = f"{MGR}iris-ops-backup-1/"
    text = script_builders.count_staged("IRISOPS-COUNT-1",
                                        [("IRISOPS-COUNT-1-0", "globals+routines", stage + "USER/", f"{MGR}user/")]).render()
    mounts = [line for line in text.splitlines() if "MountDatabase(" in line]
    assert mounts and all(f'MountDatabase("{stage}USER/")' in line for line in mounts), mounts


def test_every_public_builder_name_is_loaded_from_its_module_on_first_use(monkeypatch):
    """The package imports a builder module only when one of its names is first used (PEP 562);
    then the name is the module's own, and kept."""
    import importlib

    from iris_ops.script_builders import _WHERE

    for name, module in _WHERE.items():
        monkeypatch.delitem(vars(script_builders), name, raising=False)  # not used yet in this process
        value = getattr(script_builders, name)
        assert value is getattr(importlib.import_module(f"iris_ops.script_builders.{module}"), name)
        assert vars(script_builders)[name] is value
    with pytest.raises(AttributeError) as caught:
        script_builders.no_such_builder  # noqa: B018
    assert str(caught.value) == "module 'iris_ops.script_builders' has no attribute 'no_such_builder'"
