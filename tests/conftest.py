"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile

import pytest

try:  # property tests: a loaded 2-core CI machine makes per-example deadlines flaky
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("iris-ops", deadline=None)
    _hypothesis_settings.load_profile("iris-ops")
except ImportError:
    pass


#: The directory of this run's per-user records (XDG_CACHE_HOME), made by the controller.
_RUN_CACHE_ENV = "IRIS_OPS_TEST_RUN_CACHE"
_made: list[str] = []


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """iris-ops keeps per-user records under XDG_CACHE_HOME (iris_ops.checked): the suite's
    processes keep theirs in a directory of this run (pytest-xdist's workers inherit it), removed
    at its end, never in the home directory of whoever runs the tests."""
    if os.environ.get(_RUN_CACHE_ENV):
        return
    # Started in the background by a shell without job control (`bash .ci/run &`), this process
    # and everything it starts would ignore SIGINT and SIGQUIT (POSIX), and the tests that press
    # Ctrl-C on a process they start would wait in vain.  Their defaults, for the workers too.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGQUIT) is signal.SIG_IGN:
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    path = tempfile.mkdtemp(prefix="iris-ops-test-cache-")
    os.environ["XDG_CACHE_HOME"] = os.environ[_RUN_CACHE_ENV] = path
    _made.append(path)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    while _made:
        shutil.rmtree(_made.pop(), ignore_errors=True)


@pytest.fixture
def inproc(sim_container, monkeypatch, tmp_path, capsys):
    """Run ``iris_ops.cli.main`` in this process; returns (exit code, stdout, stderr)."""
    from cli_helpers import make_inproc

    return make_inproc(sim_container.env, monkeypatch, tmp_path, capsys)
