"""Helpers for tests that drive ``python -m iris_ops`` against the simulated instance."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path


def command(*args, fault: str | None = None) -> list[str]:
    """The argv of ``iris-ops ARGS``; with ``fault`` (``KIND@WHERE``), through the test kit's
    fault launcher (an installed iris-ops never loads a fault)."""
    launcher = ["-m", "iris_ops_sim.faults", fault] if fault else ["-m", "iris_ops"]
    return [sys.executable, *launcher, *map(str, args)]


def cli(sc, *args, fault: str | None = None, cwd=None, **env) -> subprocess.CompletedProcess:
    """``iris-ops ARGS`` aimed at ``sc`` (a ``sim_container``), JSON logs on stderr: in this
    process (:func:`run_inprocess`), or, with ``fault``, as a subprocess of the fault launcher."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    full.update(sc.env, IRIS_OPS_LOG_FORMAT="json", **env)
    if fault is None:
        return run_inprocess(full, *args, cwd=cwd)
    return subprocess.run(command(*args, fault=fault), env=full, capture_output=True, cwd=cwd,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)


def run_inprocess(env: dict, *args, cwd=None) -> subprocess.CompletedProcess:
    """``iris-ops ARGS`` through the console script's own entry (:func:`iris_ops.cli.main`) in
    this process, as a subprocess with environment ``env``, working directory ``cwd``, no input
    and its output captured would run it: the same program, minus a Python start (about 0.3 s of
    CPU each, and the suite starts it hundreds of times).  What only a process of its own shows
    (its exit, its signals, its start-up) is tested with processes elsewhere (test_console,
    test_signals, test_cli_program).  From a thread other than the main one (signal handlers
    are the main thread's), or with the environment or directory another thread may read, a
    subprocess runs it instead."""
    if threading.current_thread() is not threading.main_thread() or threading.active_count() > _BASELINE:
        return subprocess.run(command(*args), env=env, capture_output=True, cwd=cwd, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)
    from iris_ops import cli as cli_module
    from iris_ops.console import exit_status

    out, err = (io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="replace", write_through=True)
                for _ in range(2))
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    code = 0
    with open(os.devnull) as devnull, contextlib.ExitStack() as stack:
        os.environ.clear()
        os.environ.update(env)
        stack.callback(_restore, saved_env, saved_cwd)
        if cwd is not None:
            os.chdir(cwd)
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        stdin, sys.stdin = sys.stdin, devnull
        stack.callback(setattr, sys, "stdin", stdin)
        try:
            cli_module.main(["iris-ops", *map(str, args)])
        except SystemExit as exc:
            code = exit_status(exc.code)
    return subprocess.CompletedProcess(["iris-ops", *map(str, args)], code, _text(out), _text(err))


#: Threads every worker runs whatever the test does (execnet's, under xdist): more than these
#: means the test runs threads of its own, which may read the environment meanwhile.
_BASELINE = threading.active_count()


def _restore(env: dict, cwd: str) -> None:
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8", "replace").replace("\r\n", "\n")


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def fails(proc: subprocess.CompletedProcess, code: int) -> subprocess.CompletedProcess:
    assert proc.returncode == code, f"exit {proc.returncode}, wanted {code}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def objectscript(sc, code: str, ns: str = "%SYS") -> str:
    """Run ObjectScript through ``iris-ops run``; its output."""
    return ok(cli(sc, "run", "--ns", ns, code)).stdout.strip()


def events(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]


def manifest(fixture: Path) -> dict:
    return json.loads((Path(fixture) / "manifest.json").read_text())
