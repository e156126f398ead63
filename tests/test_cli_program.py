"""The ``iris-ops`` command line itself: help, flags, parse errors, output plumbing.
Nothing here needs an instance."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iris_ops import helptext, logs, outcome, progress
from iris_ops.cli import build_collection, make_program

ROOT = Path(__file__).resolve().parents[1]
COLLECTION = build_collection()
TASKS = [name for name, _ in helptext.task_names(COLLECTION, spaced=True)]


def run(*args, capsys, env, monkeypatch):
    """The program in this process: (exit code, stdout, stderr)."""
    for key in list(os.environ):
        if key.startswith("IRIS_OPS_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    code = 0
    try:
        make_program().run(["iris-ops", *args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    out, err = capsys.readouterr()
    return code, out, err


def cli(*args, input=None, env=None, cwd=None):
    full = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "iris_ops", *args], capture_output=True, text=True,
                          input=input, env=full, cwd=cwd or ROOT, timeout=60)


@pytest.fixture
def program(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)

    def call(*args, **env):
        return run(*args, capsys=capsys, env={"IRIS_OPS_LOG_FORMAT": "json", **env}, monkeypatch=monkeypatch)

    yield call
    logs.configure("info", "json", force=True)


# --- help never runs anything -------------------------------------------------------------------

@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_task_prints_help_for_both_help_flags(program, task, flag):
    code, out, err = program(*task.split(), flag)
    assert code == 0, err
    assert out.startswith(f"Usage: iris-ops {task}")
    assert err == ""


def test_help_flag_after_a_positional_argument_still_prints_help(program):
    code, out, _ = program("run", "Write 1", "--help")
    assert code == 0 and out.startswith("Usage: iris-ops run [CODE]")
    code, out, _ = program("--help", "validate")
    assert code == 0 and out.startswith("Usage: iris-ops validate FIXTURE")


@pytest.mark.parametrize("args", [["sim"], ["sim", "--help"], ["sim", "-h"], ["--help", "sim"]])
def test_a_group_lists_its_subcommands(program, args):
    code, out, err = program(*args)
    assert code == 0, err
    for sub in ("up", "down", "status", "sql"):
        assert f"sim {sub}" in out


def test_bare_program_prints_the_task_list(program):
    code, out, _ = program()
    assert code == 0
    assert "Tasks:" in out and all(name in out for name in TASKS)
    assert "--prompt-for-sudo-password" not in out


@pytest.mark.parametrize("args, parsed", [(("--list",), []), (("--help",), []), ((), []),
                                           (("validate", "/nonexistent/fixture"), ["validate"]),
                                           (("sim", "status", "--no-such-flag"), ["sim.status"])])
def test_only_the_tasks_on_the_command_line_get_a_parser_context(program, monkeypatch, args, parsed):
    """invoke's parser deep-copies every task's context on each parse: a listing, the help and a
    bare ``iris-ops`` need none, a task its own only (start-up time)."""
    from iris_ops import flags as flags_module

    built = []
    original = flags_module.IrisOpsTask.get_arguments

    def recording(self, *a, **kw):
        built.append(self)
        return original(self, *a, **kw)

    monkeypatch.setattr(flags_module.IrisOpsTask, "get_arguments", recording)
    code, out, err = program(*args)
    assert list(dict.fromkeys(built)) == [COLLECTION[name] for name in parsed], err  # a usage error parses again
    if not parsed:
        assert code == 0 and "backup" in out


def test_unknown_task_suggests_the_nearest_name(program):
    code, _, err = program("bakup")
    assert code == 2
    event = json.loads(err.strip().splitlines()[-1])
    assert event["event"] == "unknown task 'bakup'" and "`iris-ops backup`" in event["fix"]
    code, _, err = program("sim", "sqll")
    assert code == 2 and "`iris-ops sim sql`" in json.loads(err.strip().splitlines()[-1])["fix"]


# --- one flag scheme ----------------------------------------------------------------------------

def test_a_short_flag_means_one_thing_everywhere():
    from iris_ops import flags
    from iris_ops.program import IrisOpsProgram

    global_shorts = {n for arg in IrisOpsProgram().core_args() for n in arg.names if len(n) == 1}
    meaning: dict[str, str] = {}
    for name in COLLECTION.task_names:
        for arg in flags.arguments(COLLECTION[name]):
            for short in (n for n in arg.names if len(n) == 1):
                assert short not in global_shorts, f"{name}: -{short} is also a global option"
                assert meaning.setdefault(short, arg.name) == arg.name, (
                    f"-{short} means --{meaning[short]} in one task and --{arg.name} in {name}")
    assert meaning == {short: name for name, short in flags.SHORT_FLAGS.items() if short in meaning}


def test_numeric_flags_are_typed():
    from iris_ops import flags

    timeout = next(a for a in flags.arguments(COLLECTION["backup"]) if a.name == "timeout")
    assert timeout.kind is float
    assert "--timeout SECONDS" in helptext.task_help("iris-ops", "backup", COLLECTION["backup"])


def test_invoke_plumbing_flags_are_gone(program):
    code, out, _ = program("--help")
    assert code == 0
    for hidden in ("--hide", "--prompt-for-sudo-password", "--write-pyc", "--dry ", "--echo", "--pty",
                   "--warn-only", "--command-timeout", "--complete"):
        assert hidden not in out
    for kept in ("--help", "--version", "--list", "--verbose", "--quiet", "--log-format",
                 "--print-completion-script"):
        assert kept in out
    code, _, err = program("--dry", "backup", "--ns", "USER")
    assert code == 2 and "unknown flag --dry" in err


@pytest.mark.parametrize("args, message", [
    (["backup", "--ns"], "--ns needs a value"),
    (["backup", "--nope"], "unknown flag --nope for backup"),
    (["backup", "--force=yes", "--ns", "USER"], "unexpected argument 'yes'"),
    (["validate"], "validate needs FIXTURE"),
    (["sim", "sql"], "sim sql needs SQL"),
    (["run", "--timeout", "soon", "Write 1"], "--timeout needs a number"),
])
def test_parse_errors_read_as_iris_ops_errors(program, args, message):
    code, out, err = program(*args)
    assert code == 2 and out == ""
    event = json.loads(err.strip().splitlines()[-1])
    assert message in event["event"]
    assert event["usage"].startswith(f"iris-ops {args[0]}")
    assert "<Argument" not in err and "No idea" not in err


def test_a_task_flag_before_the_task_says_where_it_goes(program):
    code, _, err = program("--json", "plugins")
    assert code == 2 and "--json is a flag of plugins" in err


def test_quiet_and_verbose_together_is_a_usage_error(program):
    code, _, err = program("-q", "-v", "config")
    assert code == 2 and "-q and -v cannot be combined" in err


# --- output -------------------------------------------------------------------------------------

def test_verbose_shows_our_debug_events_and_very_verbose_adds_library_logs():
    stream = io.StringIO()
    try:
        for libraries, library_shown in ((False, False), (True, True)):
            stream.truncate(0)
            logs.configure("debug", "json", stream=stream, force=True, libraries=libraries)
            logging.getLogger("urllib3.connectionpool").debug("library detail")
            logging.getLogger("iris_ops.test").debug("our detail")
            text = stream.getvalue()
            assert "our detail" in text and ("library detail" in text) is library_shown
    finally:
        logs.configure("info", "json", force=True)


def test_with_json_a_parse_failure_is_one_json_document(program):
    code, out, _ = program("validate", "--json", "--src")
    assert code == 2
    doc = json.loads(out)
    assert doc["ok"] is False and doc["exit_code"] == 2 and "--src needs a value" in doc["error"]


def test_validate_json_on_a_malformed_fixture(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text('{"schema": "iris-ops/fixture/1", "databases": 7}')
    done = cli("validate", "--json", "--src", str(bad))
    assert done.returncode == 2, done.stderr
    doc = json.loads(done.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 2 and doc["error"]
    assert doc["error_type"] == "FixtureError"


@pytest.mark.parametrize("args, code", [(["-h", "backup"], 0), (["--list"], 0), (["--help"], 0),
                                        (["plugins"], 141)])
def test_a_closed_stdout_ends_quietly(args, code):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    proc = subprocess.Popen([sys.executable, "-m", "iris_ops", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=ROOT)
    proc.stdout.close()  # the reader is gone before the first write
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert b"Traceback" not in err and b"BrokenPipe" not in err and b"Exception ignored" not in err


def test_names_print_as_given_and_long_ones_are_shortened(program):
    code, _, err = program("backup", "--ns", "A" * 300, "--container", "nowhere")
    assert code == 2
    event = json.loads(err.strip().splitlines()[-1])["event"]
    assert "(300 characters)" in event and "A" * 60 not in event
    done = cli("--log-format", "console", "backup", "--ns", "ÜSER", "--container", "nowhere")
    assert done.returncode == 2 and "'ÜSER'" in done.stderr and "\\u" not in done.stderr
    done = cli("--log-format", "json", "backup", "--ns", "ÜSER", "--container", "nowhere")
    assert "ÜSER" in done.stderr


def test_progress_lines_only_with_console_logs_and_interrupts_start_a_line(capsys):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    try:
        logs.configure("info", "json", stream=Tty(), force=True)
        assert not progress.enabled()
        logs.configure("info", "console", stream=sys.stderr, force=True)
        progress.allow(True, sys.stderr)  # capsys' stderr is no terminal; pretend it is
        progress.draw("USER [#####     ]  50%")
        outcome.report_interrupt()
        err = capsys.readouterr().err
        assert "\niris-ops: interrupted; cleanup ran." in err
    finally:
        logs.configure("info", "json", force=True)
        progress.allow(False)


# --- completion ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell):
    done = cli("--print-completion-script", shell)
    assert done.returncode == 0 and "iris-ops" in done.stdout and "--complete" in done.stdout


def test_completion_candidates_are_fast_and_spelled_as_typed():
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "iris_ops", "--complete", "--",
                           "iris-ops", "sim", ""], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert {"up", "down", "sql", "status"} <= set(done.stdout.split())
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert not {m for m in imported if m == "docker" or m.startswith("docker.")} and "iris" not in imported
    tasks = cli("--complete", "--", "iris-ops", "ba")
    assert "backup" in tasks.stdout.split() and "sim" in tasks.stdout.split()
    flags = cli("--complete", "--", "iris-ops", "backup", "--")
    assert "--ns" in flags.stdout.split() and "--dry-run" in flags.stdout.split()


# --- run's output -------------------------------------------------------------------------------

def test_run_output_keeps_iris_line_breaks():
    from iris_ops.operations.run import build_script, user_output

    script = build_script('Write "a"\nWrite "b",!', "USER")
    begin, end = script.markers
    transcript = ("\nNode: vm, Instance: IRIS\n\nUSER>\n\nUSER>\na\nUSER>\nb\n\nUSER>\n\nUSER>\n\n"
                  f"{begin}\n{{\"ok\":1}}\n{end}\n\nUSER>\n")
    assert user_output(transcript, script) == "ab\n"
    blank = ("\nNode: vm, Instance: IRIS\n\nUSER>\n\nUSER>\n1\n\n2\nUSER>\n\nUSER>\n\n"
             f"{begin}\n{{\"ok\":1}}\n{end}\n")
    assert user_output(blank, script) == "1\n\n2"


@pytest.mark.parametrize(("columns", "width"), [("120", 120), ("30", 60), ("", 100), ("wide", 100), ("-5", 100)])
def test_help_is_as_wide_as_columns_says(monkeypatch, columns, width):
    # COLUMNS, else the terminal's width (none here), else 100; never below 60.
    from iris_ops import helptext

    def no_terminal(fd):
        raise OSError("not a terminal")

    monkeypatch.setattr(helptext.os, "get_terminal_size", no_terminal)
    monkeypatch.setenv("COLUMNS", columns)
    assert helptext._terminal_columns() == width
