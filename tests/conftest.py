"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import pytest

try:  # property tests: a loaded 2-core CI machine makes per-example deadlines flaky
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("iris-ops", deadline=None)
    _hypothesis_settings.load_profile("iris-ops")
except ImportError:
    pass


def pytest_collection_modifyitems(config, items):
    """Modules holding a slow test run first, each module's tests together and in their order:
    under pytest-xdist's worksteal the long tests then start early, instead of ending the run on
    one worker while the other has nothing left."""
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture
def inproc(sim_container, monkeypatch, tmp_path, capsys):
    """Run ``iris_ops.cli.main`` in this process; returns (exit code, stdout, stderr)."""
    from cli_helpers import make_inproc

    return make_inproc(sim_container.env, monkeypatch, tmp_path, capsys)
