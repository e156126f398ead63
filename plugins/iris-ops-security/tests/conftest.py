"""Fixtures of the iris-ops-security tests."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest


@pytest.fixture
def iris_ops(monkeypatch, capsys):
    """``iris-ops ARGS`` run in this process (no interpreter start-up per call): ``run(env, *args,
    stdin=None, **extra_env)`` -> CompletedProcess with the exit code, stdout and stderr.  The
    subprocess path is exercised by the entry-point and no-leak tests."""
    from iris_ops import cli as cli_module
    from iris_ops.console import exit_status

    def run(env: dict, *args: str, stdin: str | None = None, **extra: str) -> subprocess.CompletedProcess:
        with monkeypatch.context() as patch:
            for key in [k for k in os.environ if k.startswith("IRIS_OPS_")]:
                patch.delenv(key)
            for key, value in {"IRIS_OPS_LOG_FORMAT": "json", **env, **extra}.items():
                patch.setenv(key, value)
            patch.setattr(sys, "stdin", io.StringIO(stdin or ""))
            capsys.readouterr()
            code = 0
            try:
                cli_module.main(["iris-ops", *args])
            except SystemExit as exc:
                code = exit_status(exc.code)
            out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    return run
