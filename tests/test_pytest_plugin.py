"""The pytest plugin (iris_ops.pytest_plugin): the documented example in docs/examples/pytest,
run as a user would run it, serially and with pytest-xdist, against a simulated IRIS installed
on this host; leftovers of a run killed with SIGKILL are swept by the next one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "pytest"
PREFIX = "PYT_"


@pytest.fixture
def project(sim_host, tmp_path):
    """A user's project: the example's conftest and tests, and fixtures/user made with
    `iris-ops backup` from a USER namespace holding three accounts."""
    for name in ("conftest.py", "test_accounts.py"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    sim_host.instance.sql("USER", "CREATE TABLE Demo.Account (Name VARCHAR(50), Balance NUMERIC(10,2))")
    for name, balance in (("Alice", "100.50"), ("Bob", "200.75"), ("Charlie", "300.25")):
        sim_host.instance.sql("USER", f"INSERT INTO Demo.Account (Name, Balance) VALUES ('{name}', {balance})")
    env = _env(sim_host)
    done = subprocess.run([sys.executable, "-m", "iris_ops", "backup", "--ns", "USER", "--out", "fixtures/user"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return tmp_path


def _env(sim_host) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IRIS_OPS_", "PYTEST_"))}
    env.update(sim_host.env, IRIS_OPS_LOG_FORMAT="json")
    return env


def pytest_run(project, sim_host, *args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=project,
                          env=_env(sim_host), capture_output=True, text=True, timeout=timeout)


def leftovers(sim_host) -> list[str]:
    return [ns for ns in sim_host.instance.read_config()["Namespaces"] if ns.startswith(PREFIX)]


def test_pytest_help_lists_the_options():
    shown = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True, timeout=60)
    for option in ("--iris-container", "--iris-fixtures", "--iris-keep", "--iris-sim", "--iris-report"):
        assert option in shown.stdout


def test_importing_the_plugin_costs_nothing_but_pytest():
    code = "import sys, iris_ops.pytest_plugin; sys.exit(sorted(m for m in ('docker', 'iris', 'iris_ops.operations', 'iris_ops.config') if m in sys.modules) != [])"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("parallel", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_the_documented_example_passes_and_leaves_nothing(project, sim_host, parallel):
    done = pytest_run(project, sim_host, "--iris-report", *parallel)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    if not parallel:  # (xdist workers' terminal summaries are not shown by the controller)
        assert "restores on the local instance" in done.stdout
        assert "user: 2 restores" in done.stdout
    assert leftovers(sim_host) == []


def test_failed_tests_keep_their_namespace_with_iris_keep(project, sim_host):
    (project / "test_broken.py").write_text(
        "def test_broken(accounts):\n    accounts.sql('DELETE FROM Demo.Account')\n    assert False\n")
    done = pytest_run(project, sim_host, "--iris-keep", "test_broken.py")
    assert done.returncode == 1
    kept = leftovers(sim_host)
    assert len(kept) == 1
    assert f"iris-ops run --ns {kept[0]}" in done.stdout
    done = pytest_run(project, sim_host, "test_broken.py")  # without --iris-keep nothing more stays,
    assert done.returncode == 1
    assert leftovers(sim_host) == kept  # and what was kept on purpose is never swept
    assert "swept" not in done.stdout


def test_a_restore_failure_reads_as_an_iris_ops_error(project, sim_host):
    (project / "test_missing.py").write_text(
        "def test_missing(iris_namespace):\n    iris_namespace('no-such-fixture')\n")
    done = pytest_run(project, sim_host, "test_missing.py")
    assert done.returncode == 1
    assert "iris-ops could not restore 'no-such-fixture'" in done.stdout
    assert "fix:" in done.stdout
    assert "Traceback" not in done.stdout and "pytest_plugin.py" not in done.stdout


def test_module_and_session_scopes_share_one_namespace(project, sim_host):
    (project / "test_scopes.py").write_text(
        "def test_one(iris_namespace):\n"
        "    ns = iris_namespace('user', scope='module')\n"
        "    ns.sql(\"INSERT INTO Demo.Account (Name, Balance) VALUES ('Dan', 1)\")\n"
        "def test_two(iris_namespace):\n"
        "    ns = iris_namespace('user', scope='module')\n"
        "    assert ns.sql('SELECT COUNT(*) FROM Demo.Account').rows == [[4]]\n"
        "    assert iris_namespace('user', scope='session').name != ns.name\n")
    done = pytest_run(project, sim_host, "--iris-report", "test_scopes.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "user: 2 restores" in done.stdout
    assert leftovers(sim_host) == []


def test_a_killed_run_is_swept_by_the_next(project, sim_host):
    (project / "test_slow.py").write_text(
        "import time\n"
        "def test_slow(accounts):\n"
        "    print('restored', accounts.name, flush=True)\n"
        "    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", "test_slow.py"],
                            cwd=project, env=_env(sim_host), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not leftovers(sim_host):
            time.sleep(0.2)
        assert leftovers(sim_host), "the run never restored its namespace"
        left = leftovers(sim_host)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    done = pytest_run(project, sim_host, "test_accounts.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"swept 1 namespace(s) left by runs that died: {left[0]}" in done.stdout
    assert leftovers(sim_host) == []


def test_dbapi_without_a_configured_connection_says_what_to_set(project, sim_host):
    (project / "test_dbapi.py").write_text("def test_dbapi(accounts):\n    accounts.dbapi()\n")
    done = pytest_run(project, sim_host, "test_dbapi.py")
    assert done.returncode == 1
    assert "--iris-dbapi HOST[:PORT]" in done.stdout and "IRIS_OPS_PASSWORD" in done.stdout
    assert "Traceback" not in done.stdout
    assert leftovers(sim_host) == []


TRANSFER_COUNTER = '''
import pytest
from iris_ops import hookimpl


class CountTransfers:
    """Every database file the transport writes: a restore's streamed IRIS.DAT (the empty file a
    cache hit copies into does not count)."""
    streamed = 0

    @hookimpl(hookwrapper=True)
    def write_file(self, target, src, size, path, timeout):
        if path.endswith("/IRIS.DAT") and size > 0:
            CountTransfers.streamed += 1
        yield


def pytest_configure(config):
    from iris_ops.manager import get_plugin_manager

    get_plugin_manager().register(CountTransfers(), name="count-transfers")


def pytest_sessionfinish(session):
    with open("transfers.txt", "w") as out:
        out.write(str(CountTransfers.streamed))
'''


@pytest.mark.slow
def test_one_fixture_for_20_tests_costs_one_transfer(project, sim_host):
    (project / "conftest.py").write_text((project / "conftest.py").read_text() + TRANSFER_COUNTER)
    (project / "test_twenty.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('n', range(20))\n"
        "def test_each(accounts, n):\n"
        "    assert accounts.sql('SELECT COUNT(*) FROM Demo.Account').rows == [[3]]\n"
        "    accounts.sql('DELETE FROM Demo.Account')\n")
    done = pytest_run(project, sim_host, "--iris-report", "test_twenty.py", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 passed" in done.stdout
    assert "user: 20 restores" in done.stdout
    assert "databases from the cache: 19, streamed: 1" in done.stdout
    assert (project / "transfers.txt").read_text() == "1"
    assert leftovers(sim_host) == []
