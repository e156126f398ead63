"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import os

import pytest

try:  # property tests: a loaded 2-core CI machine makes per-example deadlines flaky
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("iris-ops", deadline=None)
    _hypothesis_settings.load_profile("iris-ops")
except ImportError:
    pass


@pytest.fixture
def inproc(sim_container, monkeypatch, tmp_path, capsys):
    """Run ``iris_ops.cli.main`` in this process; returns (exit code, stdout, stderr)."""
    return make_inproc(sim_container.env, monkeypatch, tmp_path, capsys)


def make_inproc(env, monkeypatch, tmp_path, capsys):
    """The in-process CLI with only ``env``'s IRIS_OPS_* settings (JSON logs), run in ``tmp_path``."""
    from iris_ops import cli as cli_module

    for key in list(os.environ):
        if key.startswith("IRIS_OPS_"):
            monkeypatch.delenv(key)
    for key, value in {**env, "IRIS_OPS_LOG_FORMAT": "json"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)

    def run(*args):
        capsys.readouterr()
        code = 0
        try:
            cli_module.main(["iris-ops", *map(str, args)])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run
