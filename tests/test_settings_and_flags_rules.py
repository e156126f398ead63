"""Settings, task flags and secret masking at their edges, with the exact message and fix line
each refusal gets (iris_ops.config, iris_ops.flags, iris_ops.redact)."""

from __future__ import annotations

import pytest

from iris_ops import config, flags, redact
from iris_ops.errors import ConfigError

FILE_FIX = ConfigError.default_fix


@pytest.fixture
def empty(tmp_path):
    return tmp_path


@pytest.fixture
def secrets_kept(monkeypatch):
    """Secrets remembered by a test are forgotten after it (redact's memory is process-wide)."""
    monkeypatch.setattr(redact, "_values", set())
    monkeypatch.setattr(redact, "_declared", set())


def refused(call) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        call()
    assert caught.value.exit_code == 2
    return caught.value


@pytest.mark.parametrize("environ,message,fix", [
    ({"IRIS_OPS_TIMEOUT": "x"}, "IRIS_OPS_TIMEOUT: setting 'timeout' must be a non-negative number, got 'x'", FILE_FIX),
    ({"IRIS_OPS_TIMEOUT": "-1"}, "IRIS_OPS_TIMEOUT: setting 'timeout' must be a non-negative number, got '-1'", FILE_FIX),
    ({"IRIS_OPS_TIMEOUT": "inf"}, "IRIS_OPS_TIMEOUT: setting 'timeout' must be a non-negative number, got 'inf'", FILE_FIX),
    ({"IRIS_OPS_TIMEOUT": "-inf"}, "IRIS_OPS_TIMEOUT: setting 'timeout' must be a non-negative number, got '-inf'",
     FILE_FIX),
    ({"IRIS_OPS_FREEZE_LIMIT": "nan"},
     "IRIS_OPS_FREEZE_LIMIT: setting 'freeze_limit' must be a non-negative number, got 'nan'", FILE_FIX),
    ({"IRIS_OPS_TIMEOUT": "0"},
     "IRIS_OPS_TIMEOUT: setting 'timeout' must be above 0, got '0': 0 leaves no time for any session",
     "Set timeout to a number above 0."),
    ({"IRIS_OPS_TRANSFER_TIMEOUT": "0"}, "IRIS_OPS_TRANSFER_TIMEOUT: setting 'transfer_timeout' must be above 0, got "
     "'0': 0 leaves no time for any transfer", "Set transfer_timeout to a number above 0."),
    ({"IRIS_OPS_FREEZE_LIMIT": "0"}, "IRIS_OPS_FREEZE_LIMIT: setting 'freeze_limit' must be above 0, got '0': 0 means "
     "the write daemon never resumes by itself if iris-ops dies", "Set freeze_limit to a number above 0."),
    ({"IRIS_OPS_FREEZE_LIMIT": "1.5"},
     "IRIS_OPS_FREEZE_LIMIT: setting 'freeze_limit' must be a non-negative number, got '1.5'", FILE_FIX),
])
def test_bad_environment_values_are_named(empty, environ, message, fix):
    error = refused(lambda: config.load(environ=environ, start=empty))
    assert (error.message, error.fix) == (message, fix)


def test_numbers_at_their_limits_are_accepted(empty):
    s = config.load(environ={"IRIS_OPS_FREEZE_TIMEOUT": "0", "IRIS_OPS_TIMEOUT": "0.5"}, start=empty)
    assert (s.freeze_timeout, s.timeout) == (0, 0.5)
    assert type(s.freeze_timeout) is int and type(s.timeout) is float


@pytest.mark.parametrize("overrides,message,fix", [
    ({"timeout": "0"}, "--timeout: setting 'timeout' must be above 0, got '0': 0 leaves no time for any session",
     "Pass a number above 0 to --timeout."),
    ({"timeout": "abc"}, "--timeout: setting 'timeout' must be a non-negative number, got 'abc'",
     "Pass a non-negative number to --timeout."),
    ({"timeout": True}, "--timeout: setting 'timeout' must be a non-negative number, got True",
     "Pass a non-negative number to --timeout."),
    ({"container": {"a": 1}}, "--container: setting 'container' must be a str, got {'a': 1}",
     "Pass a str to --container."),
    ({"docker_host": ["x"]}, "--docker-host: setting 'docker_host' must be a str, got ['x']",
     "Pass a str to --docker-host."),
    ({"password": "abc"}, "setting 'password' is a secret and never a task flag", config.SECRET_FIX),
    ({"nope": "abc"}, "unknown setting 'nope'", FILE_FIX),
])
def test_bad_flag_values_are_named_with_the_flag(empty, overrides, message, fix):
    error = refused(lambda: config.load(start=empty).with_overrides(overrides))
    assert (error.message, error.fix) == (message, fix)


def test_overrides_keep_their_source_and_skip_none(empty):
    base = config.load(environ={"IRIS_OPS_CONTAINER": "env-c"}, start=empty)
    s = base.with_overrides({"container": None, "instance": "FLAGGED", "timeout": "7"})
    assert (s.container, s.source("container")) == ("env-c", "env IRIS_OPS_CONTAINER")
    assert (s.instance, s.source("instance"), s.timeout) == ("FLAGGED", "flag", 7.0)
    other = base.with_overrides({"owner": "x"}, source="plugin p")
    assert other.source("owner") == "plugin p"
    assert refused(lambda: base.with_overrides({"timeout": "-2"}, source="api")).fix == FILE_FIX


def test_booleans_and_lists_from_text(empty, secrets_kept):
    defaults = [("p", {"flag": False, "items": ["d"], "my_token": ""})]
    for text, value in (("1", True), ("YES", True), ("on", True), (" true ", True), ("0", False), ("off", False),
                        ("no", False), ("", False), ("False", False)):
        assert config.load(defaults, {"IRIS_OPS_FLAG": text}, empty).flag is value
    error = refused(lambda: config.load(defaults, {"IRIS_OPS_FLAG": "maybe"}, empty))
    assert error.message == "IRIS_OPS_FLAG: setting 'flag' must be a bool, got 'maybe'"
    s = config.load(defaults, {"IRIS_OPS_ITEMS": " a, ,b ", "IRIS_OPS_MY_TOKEN": "tok-123"}, empty)
    assert s["items"] == ["a", "b"] and s.source("items") == "env IRIS_OPS_ITEMS"
    assert s.with_overrides({"items": ("x", 2)})["items"] == ["x", "2"]
    assert s.with_overrides({"flag": True}).flag is True
    assert s.source("flag") == "plugin p" and s.help("flag") == "added by plugin p"
    error = refused(lambda: s.with_overrides({"my_token": "zz"}).with_overrides({"timeout": "bad"}))
    assert "got 'bad'" in error.message
    hidden = refused(lambda: config.load(defaults, {"IRIS_OPS_MY_TOKEN": "tok"}, empty)
                     .with_overrides({"my_token": ["a list"]}))
    assert hidden.message == "--my-token: setting 'my_token' must be a str, got ***"
    assert s.display("my_token") == "***" and s.display("flag") is False


def test_the_project_file_and_its_refusals(tmp_path):
    (tmp_path / "iris-ops.toml").write_text('container = "c"\nfreeze-limit = 30\n')
    (tmp_path / "sub").mkdir()
    s = config.load(environ={}, start=tmp_path / "sub")  # found by walking up
    project = tmp_path / "iris-ops.toml"
    assert (s.container, s.freeze_limit, s.project_file) == ("c", 30, project.resolve())
    assert s.source("container") == f"file {project.resolve()}"
    assert s.path("fixtures_dir") == project.resolve().parent / "fixtures"
    project.write_text("nope = 1\n")
    error = refused(lambda: config.load(environ={}, start=tmp_path))
    assert error.message == f"{project.resolve()}: unknown setting 'nope'"
    assert error.fix.startswith("Known settings: accept_new_host_key, container, disable_plugins, docker_host,")
    project.write_text('password = "c"\n')
    error = refused(lambda: config.load(environ={}, start=tmp_path))
    assert error.message == f"{project.resolve()}: 'password' is a secret and is not read from project files"
    assert error.fix == config.SECRET_FIX
    project.write_text("timeout = -1\n")
    error = refused(lambda: config.load(environ={}, start=tmp_path))
    assert error.message == f"{project.resolve()}: setting 'timeout' must be a non-negative number, got -1"
    project.write_text("timeout =\n")
    error = refused(lambda: config.load(environ={}, start=tmp_path))
    assert error.message == f"cannot read {project.resolve()}: Invalid value (at line 1, column 10)"
    project.unlink()
    (tmp_path / "pyproject.toml").write_text('[tool.other]\nx = 1\n')
    assert config.load(environ={}, start=tmp_path).project_file is None
    (tmp_path / "pyproject.toml").write_text('[tool.iris-ops]\ninstance = "X"\n')
    assert config.load(environ={}, start=tmp_path).instance == "X"


def test_settings_read_as_a_mapping(empty):
    s = config.load(environ={}, start=empty)
    assert s["instance"] == "IRIS" and s.instance == "IRIS" and "instance" in s
    assert len(s) == len(config.CORE_SETTINGS) and list(s) == list(config.CORE_SETTINGS)
    with pytest.raises(AttributeError):
        s.no_such_setting
    assert s.source("owner") == "default" and s.help("owner") == config.CORE_SETTINGS["owner"][1]
    assert s.help("nothing") == "" and s.project_file is None
    assert s.path("fixtures_dir").is_absolute()
    assert s.with_overrides({"fixtures_dir": "/abs/fx"}).path("fixtures_dir").as_posix() == "/abs/fx"
    assert s.with_overrides({"fixtures_dir": "~/fx"}).path("fixtures_dir").as_posix().endswith("/fx")
    assert not s.with_overrides({"fixtures_dir": "~/fx"}).path("fixtures_dir").as_posix().startswith("~")
    assert s.display("password") == "" and s.display("instance") == "IRIS"


def test_freeze_limit_against_the_freeze_timeout(empty):
    ok = config.load(environ={"IRIS_OPS_FREEZE_LIMIT": "600"}, start=empty).require_consistent()
    assert ok.freeze_limit == 600
    assert config.load(environ={"IRIS_OPS_FREEZE_LIMIT": "900", "IRIS_OPS_FREEZE_TIMEOUT": "900"}, start=empty).require_consistent()
    error = refused(lambda: config.load(environ={"IRIS_OPS_FREEZE_LIMIT": "601"}, start=empty).require_consistent())
    assert error.message == (
        "freeze_limit (601 s, from env IRIS_OPS_FREEZE_LIMIT) is longer than the time IRIS lets processes keep "
        "updating during a freeze (freeze_timeout -> ExternalFreezeTimeOut: 600 s, from default): the instance's "
        "users would block for the rest of the freeze")
    assert error.fix == "Set freeze_timeout (IRIS_OPS_FREEZE_TIMEOUT) to at least 601 (at most 1200), or lower freeze_limit."


def test_secrets_are_masked_by_name_declaration_and_value(secrets_kept):
    assert redact.is_secret("password") and redact.is_secret("IRIS_OPS_API_TOKEN") and redact.is_secret("db_passwd")
    assert redact.is_secret("client_SECRET") and not redact.is_secret("iris_ops_user")
    assert not redact.is_secret("tokens_used")
    redact.declare("Api_Key")
    assert redact.is_secret("api_key") and redact.is_secret("IRIS_OPS_API_KEY")
    assert redact.text("nothing remembered") == "nothing remembered"
    redact.remember("abc")  # too short to mask: would mask ordinary text
    redact.remember(12345678)
    assert redact.text("abc 12345678") == "abc 12345678"
    redact.remember_environment({"IRIS_OPS_PASSWORD": "s3cret-pw", "MY_TOKEN": "tok-9999", "HOME": "/home/me/x"})
    redact.remember("s3cret-pw-longer")
    assert redact.text("pw s3cret-pw-longer and s3cret-pw, tok-9999 at /home/me/x") == "pw *** and ***, *** at /home/me/x"
    assert redact.text(None) is None
    err = ValueError("failed with s3cret-pw")
    assert redact.value({"a": ["s3cret-pw", ("tok-9999", 5)], "b": err, "c": 1.5}) == \
        {"a": ["***", ("***", 5)], "b": "failed with ***", "c": 1.5}
    assert redact.processor(None, "info", {"event": "x", "pw": "s3cret-pw"}) == {"event": "x", "pw": "***"}


def test_secrets_from_settings_are_remembered(empty, secrets_kept):
    config.load(environ={"IRIS_OPS_PASSWORD": "from-the-env"}, start=empty)
    assert redact.text("x from-the-env") == "x ***"
    config.load(plugin_defaults=[("p", {"api_token": "dflt-token"})], environ={}, start=empty)
    assert redact.text("dflt-token") == "***"


def test_flag_names_and_metavars():
    assert flags.flag_of("dry_run") == "--dry-run" and flags.flag_of("json_") == "--json"
    assert flags.flag_of("_x_y_") == "--x-y"
    assert flags.metavar("ns") == "NS" and flags.metavar("lock_wait") == "SECONDS"
    assert flags.metavar("docker-host") == "URL" and flags.metavar("list_format") == "FORMAT"
    assert flags.metavar("json_") == "JSON" and flags.metavar("keep_files") == "KEEP-FILES"
    assert flags.metavar("_code_") == "CODE"


def _task(body, **kw):
    from iris_ops.cli import task

    return task(**kw)(body)


def test_a_badly_typed_flag_names_the_flag_and_what_it_needs():
    def body(c, timeout=None, lock_wait=None, count=3, name="x"):
        pass

    t = _task(body)
    args = {a.name: a for a in flags.arguments(t)}
    with pytest.raises(flags.FlagValueError) as caught:
        args["timeout"].set_value("soon")
    assert str(caught.value) == "--timeout needs a number, got 'soon'"
    assert caught.value.fix == "Pass a non-negative number to --timeout."
    with pytest.raises(flags.FlagValueError) as caught:
        args["count"].set_value("many")
    assert (str(caught.value), caught.value.fix) == ("--count needs a whole number, got 'many'",
                                                     "Pass a non-negative number to --count.")
    args["lock_wait"].set_value("2.5")
    assert args["lock_wait"].value == 2.5


def test_short_flags_optional_positionals_and_required_flags():
    def body(c, code=None, ns="", out="", yes=False, file=""):
        pass

    t = _task(body, positional=["code"], required=("ns",))
    names = {a.name: a.names for a in flags.arguments(t)}
    assert names["ns"] == ("ns", "n") and names["out"] == ("out", "o") and names["yes"] == ("yes", "y")
    assert names["file"] == ("file",)  # no letter of its own: -f means nothing
    assert flags.optional_positionals(t) == ("code",) and t.positional == []
    assert flags.required_flags(t) == ("ns",)
    assert flags.optional_positionals(object()) == () and flags.required_flags(object()) == ()

    def positional(c, name):
        pass

    p = _task(positional)
    assert p.positional == ["name"] and flags.optional_positionals(p) == ()


def test_help_survives_being_asked_for_twice():
    def body(c, ns=""):
        pass

    t = _task(body, help={"ns": "the namespace"})
    first = {a.name: a.help for a in flags.arguments(t)}
    again = {a.name: a.help for a in flags.arguments(t)}
    assert first["ns"] == again["ns"] == "the namespace"
    assert t.help_text == {"ns": "the namespace"}


def test_overrides_keep_the_help_and_the_project_file(tmp_path):
    (tmp_path / "iris-ops.toml").write_text('fixtures_dir = "fx"\n')
    s = config.load(environ={}, start=tmp_path).with_overrides({"instance": "X"})
    assert s.help("owner") == config.CORE_SETTINGS["owner"][1]
    assert s.project_file == (tmp_path / "iris-ops.toml").resolve()
    assert s.path("fixtures_dir") == tmp_path.resolve() / "fx"
    with pytest.raises(AttributeError) as caught:
        s.no_such_setting
    assert str(caught.value) == "no_such_setting"


def test_a_pyproject_without_tool_tables_is_no_project_file(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert config.load(environ={}, start=tmp_path).project_file is None


def test_only_the_environment_settings_came_from_is_remembered(empty, secrets_kept, monkeypatch):
    monkeypatch.setenv("PROCESS_WIDE_TOKEN", "process-token-value")
    s = config.load(environ={"CI_DEPLOY_TOKEN": "given-token-value"}, start=empty)
    s.with_overrides({"instance": "X"})
    assert redact.text("given-token-value process-token-value") == "*** process-token-value"


def test_the_child_environment_drops_only_our_own_secret_settings(monkeypatch):
    given = {"IRIS_OPS_PASSWORD": "pw-1234", "iris_ops_api_token": "tok-1234", "IRIS_OPS_CONTAINER": "iris",
             "MY_PASSWORD": "the user's own", "PATH": "/bin"}
    assert redact.child_environment(given) == {"IRIS_OPS_CONTAINER": "iris", "MY_PASSWORD": "the user's own",
                                               "PATH": "/bin"}
    monkeypatch.setenv("IRIS_OPS_SECRET", "from-this-process")
    monkeypatch.setenv("IRIS_OPS_INSTANCE", "IRIS")
    child = redact.child_environment()
    assert "IRIS_OPS_SECRET" not in child and child["IRIS_OPS_INSTANCE"] == "IRIS"


def test_a_secret_inside_a_longer_one_does_not_leave_the_rest_showing(secrets_kept):
    # "word" sorts after "pass-word": masked first, it would leave "pass-" showing
    redact.remember("word")
    redact.remember("pass-word")
    assert redact.text("it is pass-word, or word") == "it is ***, or ***"


def test_a_freeze_limit_of_exactly_the_iris_maximum_can_still_be_met(empty):
    error = refused(lambda: config.load(environ={"IRIS_OPS_FREEZE_LIMIT": "1200"}, start=empty).require_consistent())
    assert error.fix == "Set freeze_timeout (IRIS_OPS_FREEZE_TIMEOUT) to at least 1200 (at most 1200), or lower freeze_limit."
    error = refused(lambda: config.load(environ={"IRIS_OPS_FREEZE_LIMIT": "1201"}, start=empty).require_consistent())
    assert error.fix.startswith("Lower freeze_limit (IRIS_OPS_FREEZE_LIMIT) to at most 1200 and set freeze_timeout")


def test_only_underscores_are_trimmed_from_a_flag_name():
    assert flags.flag_of("Xmx_") == "--Xmx" and flags.flag_of("_X_") == "--X"
    assert flags.metavar("Xmx_") == "XMX" and flags.metavar("_X_") == "X"


def test_a_task_takes_invokes_positional_arguments():
    def body(c, ns=""):
        pass

    t = flags.IrisOpsTask(body, "other-name")
    assert t.name == "other-name" and t.auto_shortflags is False


def test_arguments_of_a_plain_invoke_task_keep_their_help_and_ignore_unknown_help():
    import invoke

    def body(c, ns=""):
        pass

    t = invoke.Task(body, help={"ns": "the namespace", "gone": "help for a flag the task no longer has"})
    flags.remember_help(t)
    t.get_arguments(ignore_unknown_help=True)  # what invoke's parser does: empties t.help
    assert {a.name: a.help for a in flags.arguments(t)} == {"ns": "the namespace"}
    assert {a.name: a.help for a in flags.arguments(t)} == {"ns": "the namespace"}


def test_settings_holding_only_the_two_freeze_settings_are_checked_too():
    both = {"freeze_limit": config.Value(900, "a plugin"), "freeze_timeout": config.Value(0, "default")}
    error = refused(lambda: config.Settings(both, help={}).require_consistent())
    assert error.message.startswith("freeze_limit (900 s, from a plugin) is longer than")
    assert config.Settings({"freeze_limit": config.Value(900, "a plugin")}, help={}).require_consistent()


def test_a_typed_flag_left_uncast_keeps_the_value_as_given():
    def body(c, timeout=None):
        pass

    timeout = {a.name: a for a in flags.arguments(_task(body))}["timeout"]
    # invoke's parser does this for an optional-value flag given without a value: True, kept a bool
    timeout.set_value(True, cast=False)
    assert timeout.value is True


def test_the_freeze_timeout_is_capped_where_iris_caps_it(empty):
    assert config.load(environ={"IRIS_OPS_FREEZE_TIMEOUT": "1200"}, start=empty).freeze_timeout == 1200
    error = refused(lambda: config.load(environ={"IRIS_OPS_FREEZE_TIMEOUT": "1201"}, start=empty))
    assert error.message == ("IRIS_OPS_FREEZE_TIMEOUT: setting 'freeze_timeout' must be between 0 and 1200 seconds, "
                             "got '1201': IRIS caps ExternalFreezeTimeOut at 1200 s and uses a larger value as 1200")
    assert error.fix == "Set freeze_timeout to at most 1200 (0 means IRIS's default of 600)."


def test_this_process_environment_is_remembered_when_none_is_given(secrets_kept, monkeypatch):
    monkeypatch.setenv("IRIS_OPS_PASSWORD", "from-this-process")
    redact.remember_environment()
    assert redact.text("pw from-this-process") == "pw ***"


class _Stamp:
    """A flag type of a plugin's own: refuses what it cannot read."""

    def __init__(self, text):
        raise ValueError(text)


def test_a_flag_of_another_type_says_what_it_needs_by_the_type_name():
    import functools

    stamp = flags.TypedArgument(names=("when", "w"), kind=_Stamp)
    with pytest.raises(flags.FlagValueError) as caught:
        stamp.set_value("soon")
    assert (str(caught.value), caught.value.fix) == ("--when needs a _Stamp, got 'soon'", "Pass a _Stamp to --when.")
    count = flags.TypedArgument(names=("count", "c"), kind=int)
    with pytest.raises(flags.FlagValueError) as caught:
        count.set_value("many")
    assert str(caught.value) == "--count needs a whole number, got 'many'"
    nameless = flags.TypedArgument(names=("base",), kind=functools.partial(int, base=16))
    with pytest.raises(flags.FlagValueError) as caught:
        nameless.set_value("zz")
    assert (str(caught.value), caught.value.fix) == ("--base needs a value, got 'zz'", "Pass a value to --base.")


def test_a_trailing_underscore_keeps_the_short_flag_and_invoke_options_survive():
    def body(c, out_="", verbose=0, color=None):
        pass

    t = _task(body, incrementable=["verbose"], optional=["color"], help={"gone": "help for no flag"})
    args = {a.name: a for a in flags.arguments(t)}
    assert args["out_"].names == ("out", "o")

    def other(c, Xns=""):  # noqa: N803 - a parameter beginning with X: only underscores are trimmed
        pass

    assert {a.name: a.names for a in flags.arguments(_task(other))}["Xns"] == ("Xns",)
    assert args["verbose"].incrementable and not args["out_"].incrementable
    assert args["color"].optional and not args["verbose"].optional
    assert all(isinstance(a, flags.TypedArgument) for a in args.values())


def test_help_remembered_twice_is_not_forgotten():
    import invoke

    def body(c, ns=""):
        pass

    t = invoke.Task(body, help={"ns": "the namespace"})
    flags.remember_help(t)
    t.get_arguments()  # empties t.help
    flags.remember_help(t)
    assert t.help_text == {"ns": "the namespace"}


def test_the_state_and_target_tables_of_the_project_file_do_not_stop_the_settings_after_them(tmp_path):
    """TOML keeps a file's order: dotted keys of [state] and [targets] may come before settings."""
    (tmp_path / "iris-ops.toml").write_text('state.databases.APP.directory = "app"\n'
                                            'targets.a.container = "iris-a"\n'
                                            'timeout = 7\n')
    s = config.load(environ={}, start=tmp_path)
    assert (s["timeout"], s.source("timeout")) == (7, f"file {(tmp_path / 'iris-ops.toml').resolve()}")


def test_settings_for_a_named_target_take_its_table_and_keep_it(tmp_path):
    (tmp_path / "iris-ops.toml").write_text('fixtures_dir = "fx"\ntimeout = 7\n')
    base = config.load(environ={}, start=tmp_path)
    named = config.NamedTarget("a", host="ops@127.0.0.2")
    s = base.for_target(named, {"container": "iris-a", "timeout": 9}, source="iris-ops.toml [targets.a]")
    assert (s["container"], s["timeout"], s.source("timeout")) == ("iris-a", 9, "iris-ops.toml [targets.a]")
    assert s.named is named and base.named is None
    assert s.project_file == base.project_file and s.help("owner") == config.CORE_SETTINGS["owner"][1]
    again = s.with_overrides({"instance": "X"})
    assert again.named is named and again["instance"] == "X" and again["container"] == "iris-a"
