"""What an ``iris session`` process imports: each one is a process of its own, and the suite starts
thousands, so a heavy module on a session's path costs the suite dearly (docs/PERFORMANCE.md).
A cost test without a clock: the modules a session imports, from Python's own import trace."""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from iris_ops_sim.irissim.instance import CLASS_MODULES
from iris_ops_sim.irissim.objectscript import runtime
from iris_ops_sim.irissim.objectscript.evaluator import takes

#: Never on the path of a session that runs no SQL: dataclasses imports inspect (with ast, dis,
#: tokenize), the SQL module its regular expressions and sqlite3, hashlib OpenSSL, typing is for
#: type checkers only, and site (the launcher's -S) reads a virtual environment's .pth files.
HEAVY = ("dataclasses", "inspect", "ast", "irissim.instance.sql", "sqlite3", "hashlib", "typing", "site")


@pytest.fixture(scope="module")
def host():
    from iris_ops_sim.simcontainer import HostSim

    home = tempfile.mkdtemp(prefix="iris-ops-start-")
    try:
        yield HostSim(Path(home)).install()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _imported(host, script: str) -> tuple[str, set[str]]:
    """Run ``script`` in an ``iris session`` of ``host`` as the launcher runs it; its output and
    the modules it imported (``PYTHONPROFILEIMPORTTIME``: the trace on stderr)."""
    done = subprocess.run([str(host.iris_command), "session", "IRIS", "-U", "%SYS"], input=script.encode(),
                          capture_output=True, timeout=60, env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr.decode()
    names = set()
    for line in done.stderr.decode().splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:") and parts[1].strip().isdigit():
            names.add(parts[2].strip())
    return done.stdout.decode(), names


@pytest.mark.parametrize("script, shown", [
    ("Write 1+1,!\nHalt\n", "\n2\n"),
    ('Write ##class(Config.Namespaces).Exists("USER"),!\nHalt\n', "\n1\n"),
], ids=["trivial", "class-method"])
def test_a_session_without_sql_imports_nothing_heavy(host, script, shown):
    output, names = _imported(host, script)
    assert shown in output
    assert "irissim.iris" in names  # the trace is there: an empty one would prove nothing
    assert not names & set(HEAVY), f"on a session's path: {sorted(names & set(HEAVY))}"


class _Plain:
    def none(self, proc): ...
    def two(self, proc, a, b=1): ...
    def many(self, proc, *args): ...
    def keyword_needed(self, proc, *, key): ...
    def keyword_given(self, proc, a, *, key=1): ...
    @staticmethod
    def static(proc, a): ...
    @classmethod
    def klass(cls, proc, a=0, b=0): ...


def _wrapped(proc, a):
    ...


@functools.wraps(_wrapped)
def _wrapper(*args):
    return _wrapped(*args)


def _inspect_binds(impl, count: int) -> bool:
    try:
        inspect.signature(impl).bind(*range(count))
    except TypeError:
        return False
    return True


def _every_class_method():
    for module in CLASS_MODULES:
        __import__(f"iris_ops_sim.irissim.instance.{module}")
    for cls in set(runtime._registry.values()):
        for attr in dir(cls):
            impl = getattr(cls, attr)
            if callable(impl) and not attr.startswith("__"):
                yield f"{cls.name}.{attr}", impl
    for attr in ("none", "two", "many", "keyword_needed", "keyword_given", "static", "klass"):
        yield f"_Plain.{attr}", getattr(_Plain(), attr)
    yield "wrapped", _wrapper
    yield "partial", functools.partial(_wrapped, 0)
    yield "builtin", divmod


def test_a_class_calls_arity_check_answers_as_inspect_does():
    """``takes`` (the class call's argument check, without importing inspect) against inspect's
    own answer, for every method of every simulated class and the kinds of callable it reads."""
    checked = 0
    for name, impl in _every_class_method():
        for count in range(7):
            assert takes(impl, count) == _inspect_binds(impl, count), (name, count)
            checked += 1
    assert checked > 500


def _choices(parser) -> set[str]:
    import argparse

    return set(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)


def test_an_iris_sim_call_builds_only_its_own_subcommand_and_help_still_lists_them_all(host):
    """Each `iris-sim` call is a process of its own (the tests make about 1,500 a run): it builds
    the parser of the subcommand it runs, not all of them.  Help, and an unknown subcommand's
    error, still list every one, and every subcommand's own help works."""
    from iris_ops_sim.irissim import ctl

    everything = _choices(ctl.parser())
    assert {"init", "state", "listing", "sql", "stop", "transaction"} <= everything
    assert _choices(ctl.parser("state")) == {"state"}
    assert _choices(ctl.parser("nosuch")) == everything
    assert ctl._command(["--name", "X", "stop", "clear"]) == "stop"
    assert ctl._command(["stop", "--help"]) is None and ctl._command(["-h"]) is None and ctl._command([]) is None
    shown = subprocess.run([str(host.ctl_command), "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and all(name in shown.stdout for name in everything), shown.stderr
    for name in sorted(everything):
        helped = subprocess.run([str(host.ctl_command), "--name", "IRIS", name, "--help"], capture_output=True,
                                text=True, timeout=60)
        assert helped.returncode == 0 and f"iris-sim {name}" in helped.stdout, (name, helped.stderr)
    unknown = subprocess.run([str(host.ctl_command), "nosuch"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "invalid choice: 'nosuch'" in unknown.stderr and "listing" in unknown.stderr
    assert "config" in host.instance.state()  # and a call runs as before
