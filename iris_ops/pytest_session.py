"""What a test of the pytest plugin (:mod:`iris_ops.pytest_plugin`) gets, and the work behind it:
:class:`IrisSession`, one pytest process's view of the instance (its settings, the names it
gives, its restores from a fixture or the warm pool, and the deletes afterwards), and
:class:`IrisNamespace`, a namespace restored for a test.  The plugin module keeps pytest's side:
options, fixtures and hooks."""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from iris_ops.pytest_report import PoolRecord, RestoreRecord, RunReport
from iris_ops.pytest_runs import PREFIX, RECORD_REFRESH, RunRecords

__all__ = ["NO_INSTANCE", "option", "pool_options", "SqlResult", "IrisNamespace", "IrisSession", "fail"]

NO_INSTANCE = (
    "no IRIS instance to restore into: iris-ops has no container configured. Aim the tests at your IRIS container "
    "with --iris-container NAME (or ini iris_container = NAME, or IRIS_OPS_CONTAINER=NAME, or container = \"NAME\" "
    "in iris-ops.toml; IRIS_OPS_TRANSPORT=local for an instance on this host), or ask for a throwaway simulated IRIS "
    "with --iris-sim (or ini iris_sim = true; needs the iris-ops-sim plugin)")


def option(config: pytest.Config, name: str) -> Any:
    value = config.getoption(name)
    return value if value is not None else config.getini(name)


def pool_options(config: pytest.Config) -> tuple[int, list[str]]:
    """``--iris-pool`` and ``--iris-pool-fixtures``, checked (a usage error says what to pass)."""
    raw = option(config, "iris_pool")
    try:
        size = int(str(raw).strip() or 0)
    except ValueError:
        size = -1
    if size < 0:
        raise pytest.UsageError(f"--iris-pool (ini iris_pool) takes how many namespaces to keep ready per fixture, "
                                f"not {raw!r}: e.g. --iris-pool 4, or 0 for no pool")
    fixtures = [part for part in re.split(r"[,\s]+", str(option(config, "iris_pool_fixtures") or "")) if part]
    if fixtures and not size:
        raise pytest.UsageError("--iris-pool-fixtures (ini iris_pool_fixtures) names fixtures to restore ahead, "
                                "but there is no pool: add --iris-pool N (ini iris_pool = N)")
    return size, fixtures


# --- what a test gets ---------------------------------------------------------------------------

@dataclass
class SqlResult:
    columns: list[str]
    rows: list[list]
    rowcount: int


@dataclass
class IrisNamespace:
    """A namespace restored for a test: its name, its databases, and ways in."""

    name: str
    fixture: str
    databases: list[str]
    scope: str
    session: "IrisSession" = field(repr=False)
    failed: bool = False
    _dbapi: Any = field(default=None, repr=False)

    def run(self, code: str) -> str:
        """Run ObjectScript lines in this namespace; returns what they wrote.  An error is an
        iris-ops ScriptError, as with ``iris-ops run``."""
        from iris_ops.operations.run import build_script, user_output

        script = build_script(code, self.name)
        op = self.session.operation("run")
        result = op.runner.execute(script.render(), self.name)
        op.runner.parse(script, result)
        return user_output(result.text, script)

    def sql(self, statement: str) -> SqlResult:
        """Run one SQL statement in this namespace through the instance."""
        from iris_ops import script_builders

        done = self.session.operation("sql").runner.run(script_builders.sql_statement(self.name, statement))
        return SqlResult(list(done.get("columns", [])), [list(r) for r in done.get("rows", [])],
                         int(done.get("rowcount") or 0))

    def dbapi(self) -> Any:
        """A DB-API connection through intersystems-irispython, opened on first use.  Needs
        ``--iris-dbapi HOST[:PORT]`` (ini ``iris_dbapi``) and the iris-ops credentials, the settings
        ``username`` and ``password`` (``IRIS_OPS_USERNAME``, ``IRIS_OPS_PASSWORD``): a password
        account, IRIS.md §6."""
        if self._dbapi is None:
            self._dbapi = self.session.connect(self.name)
        return self._dbapi

    def close(self) -> None:
        if self._dbapi is not None:
            try:
                self._dbapi.close()
            finally:
                self._dbapi = None


class IrisSession(RunRecords):
    """One pytest process's view of the instance: settings, naming, restores, cleanup."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.run_id = (os.environ.get("PYTEST_XDIST_TESTRUNUID") or secrets.token_hex(4))[:8].upper()
        self.worker = (os.environ.get("PYTEST_XDIST_WORKER") or "gw").upper()
        self.counter = 0
        self.report = RunReport()
        self._settings = None
        self._pm = None
        self._stop_sim: Callable[[], None] | None = None
        #: what the pytest options and --iris-sim set on top of the iris-ops settings
        self._overrides: dict[str, Any] = {}
        #: namespaces of module and session scope: (scope, fixture, module) -> IrisNamespace
        self.shared: dict[tuple, IrisNamespace] = {}
        self.pool = None

    # -- settings and the instance --

    def start(self) -> None:
        from iris_ops import config as settings_module
        from iris_ops.errors import IrisOpsError
        from iris_ops.manager import get_plugin_manager, plugin_defaults

        self._pm = get_plugin_manager()
        settings = settings_module.load(plugin_defaults(self._pm))
        overrides: dict[str, Any] = {}
        container = option(self.config, "iris_container")
        if container:
            overrides["container"] = container
        fixtures = option(self.config, "iris_fixtures_dir")
        if fixtures:
            overrides["fixtures_dir"] = str(Path(fixtures).absolute())
        settings = settings.with_overrides(overrides, source="pytest option")
        if option(self.config, "iris_sim"):
            simulated = self._start_sim()
            settings = settings.with_overrides(simulated, source="pytest --iris-sim")
            overrides.update(simulated)
        elif settings.container or settings.transport in ("local", "ssh"):
            where = f"container {settings.container}" if settings.container else "the local instance"
            if settings.transport == "ssh":
                where = f"{where if settings.container else 'the instance'} on host {settings.ssh_host}"
            self.report.where.append(where)
        else:
            pytest.fail(NO_INSTANCE, pytrace=False)
        self._settings = settings
        self._overrides = overrides
        try:
            warm = self._pool_sources()  # a fixture that is not there stops the session before any change
            self._write_record()
            self.sweep()
            self._start_pool(warm)
        except BaseException as err:
            self._stop_simulated()  # nothing of a session that could not start stays behind
            if isinstance(err, IrisOpsError):
                fail(f"iris-ops could not use {self.report.where[-1]}", err)
            raise

    def _start_sim(self) -> dict[str, Any]:
        """A simulated instance for this session, from the plugin that provides one (the
        ``iris-ops-sim`` distribution); stopped at the end of the session."""
        name = f"iris-ops-pytest-{self.run_id.lower()}-{self.worker.lower()}"
        started = self._pm.hook.start_simulated_instance(name=name)
        if started is None:
            pytest.fail("--iris-sim asks for a simulated IRIS, but no plugin provides one: install iris-ops-sim "
                        "(pip install 'iris-ops[sim]'; from a checkout of iris-ops: pip install -e plugins/iris-ops-sim), "
                        "or aim the tests at a real IRIS container with --iris-container NAME", pytrace=False)
        settings, self._stop_sim, where = started
        self.report.where.append(where)
        self.report.simulated.append(where)
        return settings

    def _pool_sources(self) -> dict[str, str]:
        """The fixtures ``--iris-pool-fixtures`` names, found: {fixture: its directory}."""
        from iris_ops.errors import IrisOpsError

        _size, warm = pool_options(self.config)
        try:
            return {fixture: str(self.fixture_path(fixture).absolute()) for fixture in warm}
        except IrisOpsError as err:
            fail("--iris-pool-fixtures names a fixture iris-ops cannot find", err)

    def _start_pool(self, warm: dict[str, str]) -> None:
        """With ``--iris-pool N``: the pool, restoring the fixtures to warm at once."""
        from iris_ops import config as settings_module
        from iris_ops.pytest_pool import NamespacePool

        size, _fixtures = pool_options(self.config)
        if not size:
            return
        # the children read the same settings: the environment and project file as here, and
        # what the options set on top, as the variables that outrank both
        env = dict(os.environ, **{settings_module.ENV_PREFIX + name.upper(): str(value)
                                  for name, value in self._overrides.items()})
        self.pool = NamespacePool(size, self.next_name, env, os.getcwd())
        for fixture, source in warm.items():
            self.pool.warm(fixture, source)

    def close_pool(self) -> None:
        """Stop the pool's background work, delete what it holds, and keep its figures."""
        pool, self.pool = self.pool, None
        if pool is None:
            return
        try:
            pool.close()
        finally:
            for fixture in pool.fixtures():
                self.report.pools.append(PoolRecord(fixture.key, pool.size, fixture.hits, fixture.misses,
                                                    round(sum(fixture.waits), 3), len(fixture.restores),
                                                    fixture.unused))
                self.report.restores.extend(RestoreRecord(fixture.key, r.name, r.seconds, r.cached, r.streamed)
                                            for r in fixture.restores)
            self.report.pool_errors.extend(pool.errors)

    def stop(self) -> None:
        try:
            self._remove_record()
        finally:
            self._stop_simulated()

    def _stop_simulated(self) -> None:
        stop, self._stop_sim = self._stop_sim, None
        if stop is not None:
            stop()

    def operation(self, name: str):
        from iris_ops.operation import Operation

        return Operation(name, self._settings, self._pm)

    def connect(self, namespace: str) -> Any:
        address = option(self.config, "iris_dbapi")
        user, password = self._settings.username, self._settings.password
        if not (address and user and password):
            pytest.fail("no DB-API connection configured: pass --iris-dbapi HOST[:PORT] (ini iris_dbapi) and set "
                        "IRIS_OPS_USERNAME and IRIS_OPS_PASSWORD", pytrace=False)
        host, _, port = str(address).partition(":")
        import iris.dbapi

        return iris.dbapi.connect(hostname=host, port=int(port or 1972), namespace=namespace,
                                  username=user, password=password)

    # -- namespaces --

    def next_name(self) -> str:
        self.counter += 1
        return f"{PREFIX}{self.run_id}_{self.worker}_{self.counter}"

    def fixture_path(self, fixture: str | os.PathLike) -> Path:
        from iris_ops import fixtures_dir

        return fixtures_dir.locate(str(fixture), self._settings)

    def restore(self, fixture: str | os.PathLike, scope: str) -> IrisNamespace:
        from iris_ops.errors import IrisOpsError
        from iris_ops.operations.restore import run_restore

        if self.pool is not None:
            return self._from_pool(fixture, scope)
        name = self.next_name()
        op = self.operation("restore")
        began = time.monotonic()
        try:
            source = self.fixture_path(fixture)
            with op.bound(ns=name, fixture=str(source)):
                _tables, planned = run_restore(op, source, name, force=False, verify=True)
        except IrisOpsError as err:
            fail(f"iris-ops could not restore {fixture!r} into {name}", err)
        cached = sum(1 for p in planned if getattr(p, "cached", False))
        self.report.restores.append(RestoreRecord(str(fixture), name, time.monotonic() - began, cached,
                                                  len(planned) - cached))
        self._write_record()
        return IrisNamespace(name=name, fixture=str(fixture), databases=[p.name for p in planned], scope=scope,
                             session=self)

    def _from_pool(self, fixture: str | os.PathLike, scope: str) -> IrisNamespace:
        from iris_ops.errors import IrisOpsError
        from iris_ops.pytest_pool import PoolFailure

        try:
            source = str(self.fixture_path(fixture).absolute())
        except IrisOpsError as err:
            fail(f"iris-ops could not restore {fixture!r}", err)
        try:
            got = self.pool.acquire(str(fixture), source)
        except PoolFailure as err:
            fail(f"iris-ops could not restore {fixture!r} into {err.namespace}", err)
        if time.time() - self._record_written > RECORD_REFRESH:
            self._write_record()
        return IrisNamespace(name=got.namespace.name, fixture=str(fixture), databases=got.namespace.databases,
                             scope=scope, session=self)

    def dispose(self, ns: IrisNamespace) -> None:
        ns.close()
        if ns.failed and option(self.config, "iris_keep"):
            if self._stop_sim is None:
                self.report.kept.append([ns.name, ns.fixture])
                return
            self.report.lost.append(ns.name)  # the simulated instance goes at the end of the run
        if self.pool is not None:
            self.pool.release(ns.name)
        else:
            self.delete(ns.name)

    def delete(self, name: str) -> bool:
        """Delete namespace ``name``; False when it was gone already (another xdist worker swept it)."""
        from iris_ops.operations.delete import delete_namespace

        op = self.operation("delete-ns")
        with op.bound(ns=name):
            return bool(delete_namespace(op, name))


def fail(what: str, err: Exception) -> None:
    """Fail the test with iris-ops' message and fix, not a traceback into the plugin."""
    text = f"{what}: {err}"
    if getattr(err, "fix", None):
        text += f"\nfix: {err.fix}"
    try:
        pytest.fail(text, pytrace=False)
    except pytest.fail.Exception as failed:
        raise failed from None  # the error is in the text: not shown a second time as its cause
