"""Fixtures shared by the CLI tests."""

from __future__ import annotations

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
    from cli_helpers import make_inproc

    return make_inproc(sim_container.env, monkeypatch, tmp_path, capsys)
