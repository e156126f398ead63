"""Issue 10 point 8: hostile values through every task flag and every hook argument.

Every string flag of every registered task (read from the invoke collection: a new flag is
covered without editing this file) gets each hostile value, with the other flags at ordinary
values.  In process, no instance: a recording plugin takes every script, file transfer and
command iris-ops would send, and answers that the instance cannot be reached (so nothing is sent
anywhere; the Docker host is a socket that does not exist).  Each run must end in a clear refusal
(exit 2, or 3/4 per the task's table) or, when the value was acceptable, in the recorder's
"unreachable" (exit 6) -- never an internal error (exit 1).  Every script recorded must keep every
value inside ObjectScript string literals: each line's literals close, and the payloads' marker
never appears in code.  The same for hostile values a plugin *returns*: a transport's output with
forged markers, a ``validate`` hook's problems.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

import pytest

from cli_helpers import plugin
from dat_factory import dat_bytes
from iris_ops import hookimpl
from iris_ops.errors import UnreachableError
from iris_ops.transports.base import ExecResult

MARK = "ZZPWNED"
HOSTILE = {
    "quote": f'a"b{MARK}',
    "injection": f'x") Set ^{MARK}=1 Halt  //',
    "crlf": f"a\r\nSet ^{MARK}=1",
    "nul": f"a\x00{MARK}",
    "percent": f"%%{MARK}%",
    "dollar-underscore": f"$$${MARK}_$ZF(-1,\"sh\")",
    "comma-paren": f"a,b)_{MARK}(",
    "long": MARK + "A" * 1000,
    "non-ascii": f"Ünïcödé-{MARK}-名前",
    "empty": "",
}
#: Ordinary values for the flags a case does not attack (so the attacked one gets through).
ORDINARY = {"ns": "USER", "out": "fx-out", "src": "fx", "user": "alice", "roles": "%Developer",
            "service": "%Service_Bindings", "statement": "SELECT 1", "name": "DB1", "code": "Write 1",
            "namespace": "DB1", "description": "d", "full_name": "A", "password_env": "PW"}
#: Target flags that would aim iris-ops elsewhere: attacked too, but the transport stays the recorder's.
SKIP = {"docker_host", "transport"}
#: Tasks that run nothing through the transport hooks (they build, install or list locally).
LOCAL_TASKS = {"sim.image", "sim.up", "sim.down", "sim.status", "config", "plugins"}


class Recorder:
    """Takes everything bound for the instance; nothing gets there."""

    pm = None

    def __init__(self) -> None:
        self.scripts: list[str] = []
        self.other: list[str] = []

    @hookimpl(tryfirst=True)
    def run_objectscript(self, target, script, namespace, timeout):
        self.scripts.append(script)
        raise UnreachableError("recorded; the instance is unreachable in this test")

    @hookimpl(tryfirst=True)
    def exec_argument_call(self, target, entry, namespace, timeout):
        self.scripts.append(entry)
        raise UnreachableError("recorded; the instance is unreachable in this test")

    @hookimpl(tryfirst=True)
    def read_file(self, target, path, dest, timeout):
        self.other.append(path)
        raise UnreachableError("recorded")

    @hookimpl(tryfirst=True)
    def write_file(self, target, src, size, path, timeout):
        self.other.append(path)
        raise UnreachableError("recorded")

    @hookimpl(tryfirst=True)
    def write_files(self, target, files, timeout):
        self.other.extend(path for _, path in files)
        raise UnreachableError("recorded")

    @hookimpl(tryfirst=True)
    def list_directory(self, target, path, timeout):
        self.other.append(path)
        raise UnreachableError("recorded")

    @hookimpl(tryfirst=True)
    def remove_path(self, target, path, timeout):
        self.other.append(path)
        raise UnreachableError("recorded")


_LITERAL = re.compile(r'"(?:[^"\r\n]|"")*"')


def code_outside_literals(script: str) -> list[str]:
    """Each line with its string literals removed; a literal left open is reported as such."""
    out = []
    for line in script.split("\n"):
        rest = _LITERAL.sub('""', line)
        assert '"' not in rest.replace('""', ""), f"a string literal does not close: {line[:200]!r}"
        assert "\r" not in rest and "\x00" not in rest, f"a control character outside a literal: {line[:200]!r}"
        out.append(rest)
    return out


def _string_flags():
    """(task name, task, flag) for every string flag; the instance flags every target task shares
    (one code path, :data:`iris_ops.cli.TARGET_FLAGS`) once, with the first task that has them."""
    from iris_ops import cli

    collection = cli.build_collection()
    shared_done: set[str] = set()
    for name in sorted(collection.task_names):
        if name in LOCAL_TASKS:
            continue
        task = collection[name]
        for arg in task.get_arguments():
            if arg.kind is not str or arg.name in SKIP:
                continue
            if arg.name in cli.TARGET_FLAGS and not name.startswith("sim."):
                if arg.name in shared_done:
                    continue
                shared_done.add(arg.name)
            yield name, task, arg


def _argv(task_name, task, attacked, value):
    argv = [task_name]
    for arg in task.get_arguments():
        if arg.kind is not str or arg.name in SKIP:
            continue
        if arg.name == attacked.name:
            text = value
        elif arg.name in ORDINARY:
            text = ORDINARY[arg.name]
        else:
            continue
        argv += [text] if arg.positional else [f"--{arg.name.replace('_', '-')}", text]
    if any(a.name == "yes" for a in task.get_arguments()):
        argv.append("--yes")
    return argv


FLAGS = list(_string_flags())


@pytest.fixture
def hostile_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("IRIS_OPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("IRIS_OPS_CONTAINER", "iris")
    monkeypatch.setenv("IRIS_OPS_TRANSPORT", "docker")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/iris-ops-hostile.sock")
    monkeypatch.setenv("IRIS_OPS_LOG_FORMAT", "json")
    monkeypatch.setenv("PW", "a-password")
    monkeypatch.chdir(tmp_path)
    _fixture(tmp_path / "fx")
    return tmp_path


def _fixture(root):
    """A fixture that passes the offline checks, so restore/validate reach the instance."""
    data = dat_bytes(directory="/usr/irissys/mgr/user/", resource="%DB_USER")
    (root / "databases" / "USER").mkdir(parents=True)
    (root / "databases" / "USER" / "IRIS.DAT").write_bytes(data)
    doc = {
        "schema": "iris-ops/fixture/1", "fixture_id": "user-1", "description": "d",
        "created_at": "2025-01-31T12:00:00Z", "tool": "iris-ops 0.1.0",
        "source": {"iris_version": "IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2024.1 (Build 267U)",
                   "container": "iris", "instance": "IRIS"},
        "namespace": {"name": "USER", "properties": {"Globals": "USER", "Routines": "USER"}},
        "databases": [{"name": "USER", "role": "globals+routines", "directory": "/usr/irissys/mgr/user/",
                       "resource": "%DB_USER", "block_size": 8192, "size_mb": 1,
                       "file": "databases/USER/IRIS.DAT", "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()}],
        "tables": [], "consistency": {"method": "external-freeze", "window_seconds": 0.1},
    }
    (root / "manifest.json").write_text(json.dumps(doc))


def _run(argv, capsys, *plugins):
    from iris_ops import cli
    from iris_ops.console import exit_status

    capsys.readouterr()
    code = 0
    with _registered(plugins):
        try:
            cli.main(["iris-ops", *argv])
        except SystemExit as exc:
            code = exit_status(exc.code)
    out, err = capsys.readouterr()
    return code, out, err


class _registered:
    def __init__(self, plugins):
        import contextlib

        self.stack = contextlib.ExitStack()
        self.plugins = plugins

    def __enter__(self):
        for p in self.plugins:
            p.pm = self.stack.enter_context(plugin(p))

    def __exit__(self, *exc):
        self.stack.close()


def test_every_task_has_string_flags_to_attack():
    names = {name for name, _, _ in FLAGS}
    assert {"backup", "restore", "delete-ns", "validate", "run"} <= names


@pytest.mark.parametrize("task_name,task,flag", FLAGS, ids=[f"{n}--{a.name}" for n, _, a in FLAGS])
def test_hostile_values_through_every_flag(task_name, task, flag, hostile_env, capsys):
    for kind, value in HOSTILE.items():
        recorder = Recorder()
        argv = _argv(task_name, task, flag, value)
        code, out, err = _run(argv, capsys, recorder)
        where = f"{task_name} --{flag.name} <{kind}>: exit {code}"
        # 0 only when the value was not used at all (e.g. --ns of an offline validate).
        assert code in (2, 3, 4, 6) or (code == 0 and not recorder.scripts), f"{where}\n{err[-2000:]}"
        assert "Traceback" not in err and "unexpected internal error" not in err, f"{where}\n{err[-2000:]}"
        if code not in (0, 6):  # refused: said clearly, with a fix line, before anything reached the instance
            assert '"fix"' in err or "fix:" in err, f"{where}: no fix line\n{err[-1000:]}"
        for script in recorder.scripts:
            for line in code_outside_literals(script):
                assert MARK not in line, f"{where}: the value reached a script outside a literal:\n{line[:300]}"


def test_the_literal_check_catches_an_unquoted_value():
    with pytest.raises(AssertionError):
        code_outside_literals('Set x="a" Set y="b')  # left open
    assert MARK in "".join(code_outside_literals(f'Set x="ok" Set ^{MARK}=1'))
    assert MARK not in "".join(code_outside_literals(f'Set x="a""b{MARK}"'))


# ----------------------------------------------------------------- values a plugin hands back
class ForgingTransport:
    """A transport plugin answering with hostile output: forged markers (another token), a
    success document outside the markers, control characters, 100 KB of junk."""

    pm = None

    def __init__(self, output: bytes, exit_code: int = 0) -> None:
        self.output, self.exit_code = output, exit_code

    @hookimpl(tryfirst=True)
    def run_objectscript(self, target, script, namespace, timeout):
        return ExecResult(self.output, b"") if False else ExecResult(self.exit_code, self.output, b"")

    @hookimpl(tryfirst=True)
    def exec_argument_call(self, target, entry, namespace, timeout):
        return ExecResult(self.exit_code, self.output, b"")


FORGED = {
    "forged-markers": b'<<<000000000000000000000000:BEGIN>>>\n{"ok":1,"tables":[]}\n<<<000000000000000000000000:END>>>\n',
    "bare-success": b'{"ok":1}\n',
    "control": b"\x00\r\n\x1b[2J<<<:BEGIN>>>\xff\xfe",
    "junk": os.urandom(100_000),
}


@pytest.mark.parametrize("kind", list(FORGED))
@pytest.mark.parametrize("argv", [["run", "--ns", "USER", "Write 1"], ["delete-ns", "--ns", "T1", "--yes"],
                                  ["doctor"], ["restore", "fx", "--ns", "T2"]], ids=lambda a: a[0])
def test_forged_output_is_never_success(kind, argv, hostile_env, capsys):
    code, out, err = _run(argv, capsys, ForgingTransport(FORGED[kind]))
    assert code in (5, 6), f"{argv} with {kind}: exit {code}\n{err[-1500:]}"
    assert "Traceback" not in err


class HostileProblems:
    pm = None

    @hookimpl
    def validate(self, operation, fixture, online, namespace):
        return [f'problem "{MARK}"\r\n\x00 ' + "x" * 1000, {"not": "a string"}]


def test_a_validate_hook_returning_hostile_problems_fails_validation_cleanly(hostile_env, capsys):
    code, out, err = _run(["validate", "fx"], capsys, HostileProblems())
    assert code in (1, 4), err[-1500:]
    assert "Traceback" not in err
