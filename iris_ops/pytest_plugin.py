"""The pytest plugin for IRIS developers: every test gets its own namespace, restored from a
fixture, and it is deleted afterwards whatever happened.

    # conftest.py: nothing to write; in a test:
    def test_balance(iris_namespace):
        ns = iris_namespace("user")                 # fixtures/user, restored into PYT_<run>_<n>
        ns.sql("UPDATE Demo.Account SET Balance = 0")
        assert ns.sql("SELECT COUNT(*) FROM Demo.Account").rows == [[3]]

``iris_namespace(fixture, scope="function"|"module"|"session")`` restores ``fixture`` (a fixture
directory, or a name in ``fixtures_dir``) into a fresh namespace and returns an
:class:`IrisNamespace`.  A module or session scope gives every test of that scope the same
namespace.  Registered as the ``iris_ops_pytest`` pytest11 entry point; importing it imports only
pytest, so projects that never ask for ``iris_namespace`` pay nothing.

Options (each also an ini setting): ``--iris-container`` (default: the iris-ops settings, so
``iris-ops.toml`` and ``IRIS_OPS_*`` work as for the CLI), ``--iris-fixtures`` (the fixtures
directory), ``--iris-keep`` (keep the namespaces of failed tests), ``--iris-sim`` (start a
simulated instance for the session, from the ``iris-ops-sim`` plugin; the summary says so) and
``--iris-report`` (restore times and cache use per fixture in the summary); ``--iris-pool N``
keeps N namespaces per fixture restored ahead of the tests (:mod:`iris_ops.pytest_pool`), and
``--iris-pool-fixtures`` names the fixtures to warm at session start.  With no container
configured and no ``--iris-sim``, the tests that ask for a namespace fail and say how to
configure one: a simulated instance is never used unless asked for.  Under pytest-xdist the
controller prints the workers' summaries (:mod:`iris_ops.pytest_report`).

Names are ``PYT_<run id>_<worker>_<n>``; what a run leaves when it dies is swept by the next
(:mod:`iris_ops.pytest_runs`).  This module is pytest's side (options, fixtures, hooks); the work
behind them is :mod:`iris_ops.pytest_session`.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import pytest

from iris_ops.pytest_report import WORKER_KEY, RunReport
from iris_ops.pytest_session import NO_INSTANCE, IrisNamespace, IrisSession, SqlResult, option, pool_options

__all__ = [
    "pytest_addoption", "SqlResult", "IrisNamespace", "IrisSession",
    "iris_session", "iris_namespace", "pytest_runtest_makereport", "pytest_runtest_teardown",
    "pytest_sessionfinish", "pytest_testnodedown", "pytest_terminal_summary", "NO_INSTANCE",
    "pool_options", "pytest_configure",
]



# --- options ------------------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("iris-ops", "IRIS namespaces from iris-ops fixtures")
    options = [
        ("--iris-container", "iris_container", "IRIS container name (default: iris-ops settings, IRIS_OPS_CONTAINER)", None),
        ("--iris-fixtures", "iris_fixtures_dir", "directory of iris-ops fixtures (default: the fixtures_dir setting)", None),
        ("--iris-dbapi", "iris_dbapi", "HOST[:PORT] of the instance's superserver, for IrisNamespace.dbapi()", None),
    ]
    for flag, ini, help_text, default in options:
        group.addoption(flag, dest=ini, default=default, help=help_text)
        parser.addini(ini, help_text, default=default)
    group.addoption("--iris-pool", dest="iris_pool", type=int, default=None, metavar="N",
                    help="keep N namespaces per fixture restored ahead of the tests (default 0: restore when asked)")
    parser.addini("iris_pool", "namespaces per fixture restored ahead of the tests", default="0")
    group.addoption("--iris-pool-fixtures", dest="iris_pool_fixtures", default=None, metavar="F1,F2",
                    help="with --iris-pool: fixtures to restore at session start (others: from their first request)")
    parser.addini("iris_pool_fixtures", "with iris_pool: fixtures to restore at session start", default="")
    for flag, ini, help_text in [
        ("--iris-keep", "iris_keep", "keep the namespaces of failed tests, and say how to reach them"),
        ("--iris-sim", "iris_sim", "start the simulated IRIS instance for the session"),
        ("--iris-report", "iris_report", "list restore times and cache use per fixture"),
    ]:
        group.addoption(flag, dest=ini, action="store_true", default=None, help=help_text)
        parser.addini(ini, help_text, type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    pool_options(config)  # a bad value stops the run before any test


# --- fixtures -----------------------------------------------------------------------------------

_SESSION = pytest.StashKey[IrisSession]()


@pytest.fixture(scope="session")
def iris_session(request: pytest.FixtureRequest) -> Iterator[IrisSession]:
    """The instance this test session restores into (started on first use)."""
    session = IrisSession(request.config)
    session.start()
    request.config.stash[_SESSION] = session
    try:
        yield session
    finally:
        try:
            try:
                for ns in list(session.shared.values()):
                    session.dispose(ns)
            finally:
                session.close_pool()
        finally:
            session.stop()


@pytest.fixture
def iris_namespace(request: pytest.FixtureRequest, iris_session: IrisSession) -> Iterator[Callable[..., IrisNamespace]]:
    """``iris_namespace(fixture, scope="function")``: a namespace restored from ``fixture``."""
    mine: list[IrisNamespace] = []
    module_key = request.node.module.__name__ if request.node.module else ""

    def factory(fixture: str | os.PathLike, scope: str = "function") -> IrisNamespace:
        if scope not in ("function", "module", "session"):
            raise pytest.UsageError(f"iris_namespace scope must be function, module or session, not {scope!r}")
        if scope == "function":
            ns = iris_session.restore(fixture, scope)
            mine.append(ns)
        else:
            key = (scope, str(fixture), module_key if scope == "module" else "")
            ns = iris_session.shared.get(key)
            if ns is None:
                ns = iris_session.restore(fixture, scope)
                iris_session.shared[key] = ns
                if scope == "module":
                    _module_namespaces(request).append(key)
        request.node.stash.setdefault(_USED, []).append(ns)
        return ns

    yield factory
    for ns in mine:
        iris_session.dispose(ns)


_USED = pytest.StashKey[list]()
_MODULE_KEYS = pytest.StashKey[list]()


def _module_namespaces(request: pytest.FixtureRequest) -> list:
    module = request.node.getparent(pytest.Module)
    return module.stash.setdefault(_MODULE_KEYS, [])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for ns in item.stash.get(_USED, []):
            ns.failed = True


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Module-scoped namespaces go when the last test of their module is done."""
    module = item.getparent(pytest.Module)
    if module is None or (nextitem is not None and nextitem.getparent(pytest.Module) is module):
        return
    session = item.config.stash.get(_SESSION, None)
    if session is None:
        return
    for key in module.stash.get(_MODULE_KEYS, []):
        ns = session.shared.pop(key, None)
        if ns is not None:
            session.dispose(ns)


@pytest.hookimpl(trylast=True)  # after the session's fixtures are torn down (namespaces kept, records written)
def pytest_sessionfinish(session: pytest.Session) -> None:
    iris = session.config.stash.get(_SESSION, None)
    if iris is not None and hasattr(session.config, "workeroutput"):  # an xdist worker
        session.config.workeroutput[WORKER_KEY] = iris.report.to_data()


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: called on the controller
def pytest_testnodedown(node: Any, error: object) -> None:
    data = getattr(node, "workeroutput", {}).get(WORKER_KEY)
    if data is not None:
        node.config.stash.setdefault(_GATHERED, RunReport()).merge(RunReport.from_data(data))


_GATHERED = pytest.StashKey[RunReport]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # the controller prints what the workers sent
    session = config.stash.get(_SESSION, None)
    report = config.stash.get(_GATHERED, None) or (session.report if session is not None else None)
    if report is None:
        return
    for line in report.lines(bool(option(config, "iris_report"))):
        terminalreporter.write_line(line)
