"""The pytest plugin (iris_ops.pytest_plugin), run as a user would run it on a small project:
the documented example in docs/examples/pytest, serially and with pytest-xdist, on the simulated
IRIS it asks for; with no container configured and no --iris-sim, the tests that need a namespace
fail and say how to configure one; with a configured instance (a simulated IRIS installed on this
host, the local transport), the summary of an xdist run says what a serial one says, and leftovers
of a run killed with SIGKILL are swept by the next one."""

from __future__ import annotations

import contextlib
import json
import os
import re
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


def _env(sim_host=None, **extra) -> dict:
    """A user's environment: no iris-ops settings but those of ``sim_host`` (none: no instance
    configured at all)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IRIS_OPS_", "PYTEST_"))}
    env.update(sim_host.env if sim_host is not None else {}, IRIS_OPS_LOG_FORMAT="json", **extra)
    return env


def pytest_run(project, sim_host, *args, timeout=300, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=project,
                          env=env or _env(sim_host), capture_output=True, text=True, timeout=timeout)


SIMULATED = "iris-ops: these tests ran against a simulated IRIS (--iris-sim), not a real one: "


def simulated_instances(stdout: str) -> list[str]:
    """The simulated instances the summary names (containers, or host install directories)."""
    line = next(line for line in stdout.splitlines() if line.startswith(SIMULATED))
    return re.findall(r"simulated IRIS (?:container|installed in) (\S+?)(?:;|$)", line[len(SIMULATED):])


def assert_gone(instance: str) -> None:
    """A simulated instance the run started is removed: its container, or its host install (a
    leftover is removed here, then reported)."""
    if instance.startswith("/"):
        left = Path(instance).exists()
        shutil.rmtree(instance, ignore_errors=True)
        assert not left, f"the run left {instance}"
        return
    import docker
    from iris_ops_sim import engines

    client = engines.client_for(engines.find_engine())
    try:
        client.containers.get(instance).remove(force=True, v=True)
    except docker.errors.NotFound:
        return
    finally:
        client.close()
    pytest.fail(f"the run left container {instance}")


def leftovers(sim_host) -> list[str]:
    return [ns for ns in sim_host.instance.read_config()["Namespaces"] if ns.startswith(PREFIX)]


def test_pytest_help_lists_the_options():
    shown = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True, timeout=60)
    for option in ("--iris-container", "--iris-fixtures", "--iris-keep", "--iris-sim", "--iris-report", "--iris-pool",
                   "--iris-pool-fixtures"):
        assert option in shown.stdout


@pytest.mark.parametrize("args, ini, says", [
    (("--iris-pool", "-1"), "", "--iris-pool (ini iris_pool) takes how many namespaces to keep ready per fixture, "
                                "not -1: e.g. --iris-pool 4, or 0 for no pool"),
    ((), "iris_pool = lots\n", "not 'lots': e.g. --iris-pool 4"),
    (("--iris-pool-fixtures", "user"), "", "--iris-pool-fixtures (ini iris_pool_fixtures) names fixtures to restore "
                                           "ahead, but there is no pool: add --iris-pool N"),
], ids=["negative", "ini-not-a-number", "fixtures-without-a-pool"])
def test_a_bad_pool_option_stops_the_run_and_says_what_to_pass(tmp_path, args, ini, says):
    (tmp_path / "test_plain.py").write_text(USER_PROJECT)
    (tmp_path / "pytest.ini").write_text("[pytest]\n" + ini)
    done = pytest_run(tmp_path, None, *args)
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage error
    assert says in done.stderr
    assert "passed" not in done.stdout


def test_importing_the_plugin_costs_nothing_but_pytest():
    code = "import sys, iris_ops.pytest_plugin; sys.exit(sorted(m for m in ('docker', 'iris', 'iris_ops.operations', 'iris_ops.config') if m in sys.modules) != [])"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


NEEDS_A_NAMESPACE = (
    "def test_restores(iris_namespace):\n    iris_namespace('user')\n"
    "def test_session(iris_session):\n    pass\n"
    "def test_plain():\n    assert 1 + 1 == 2\n")


def test_without_a_container_the_tests_that_need_a_namespace_fail_and_say_how_to_configure_one(tmp_path):
    (tmp_path / "test_mixed.py").write_text(NEEDS_A_NAMESPACE)
    done = pytest_run(tmp_path, None, "-ra")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed, 2 errors" in done.stdout
    message = done.stdout[done.stdout.index("no IRIS instance to restore into"):]
    for way in ("--iris-container NAME", "iris_container", "IRIS_OPS_CONTAINER", "iris-ops.toml", "--iris-sim",
                "iris-ops-sim"):
        assert way in message.splitlines()[0]
    assert SIMULATED not in done.stdout
    assert "Traceback" not in done.stdout and "pytest_plugin.py" not in done.stdout


def test_iris_sim_without_the_sim_plugin_says_how_to_install_it(tmp_path):
    (tmp_path / "test_mixed.py").write_text(NEEDS_A_NAMESPACE)
    done = pytest_run(tmp_path, None, "--iris-sim", env=_env(IRIS_OPS_DISABLE_PLUGINS="sim"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed, 2 errors" in done.stdout
    assert "no plugin provides one: install iris-ops-sim (pip install 'iris-ops[sim]'" in done.stdout
    assert SIMULATED not in done.stdout


def test_a_simulated_iris_that_cannot_be_used_is_removed_and_says_why(tmp_path):
    """The instance starts, then the session cannot use it (no instance NOPE in it): the test
    reads iris-ops' error and its fix, and the simulated IRIS does not outlive the run."""
    (tmp_path / "test_mixed.py").write_text(NEEDS_A_NAMESPACE)
    done = pytest_run(tmp_path, None, "--iris-sim", env=_env(IRIS_OPS_INSTANCE="NOPE"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed, 2 errors" in done.stdout
    failed = re.search(r"iris-ops could not use simulated IRIS (?:container|installed in) (\S+): "
                       r"Instance 'NOPE' not found", done.stdout)
    assert failed, done.stdout
    assert "\nfix: List the instances with `iris qlist`" in done.stdout
    assert "Traceback" not in done.stdout and "pytest_plugin.py" not in done.stdout
    assert_gone(failed.group(1))


def test_the_documented_example_passes_on_the_simulated_iris_it_asks_for(project):
    """No instance configured (the fixture came from the one on this host, which this run never
    sees): the simulated IRIS is used because the ini file asks for it, under pytest-xdist, and
    the summary says so.  (``--iris-sim`` on the command line, serially: the --iris-keep test.)"""
    (project / "pytest.ini").write_text("[pytest]\niris_sim = true\n")
    done = pytest_run(project, None, "--iris-report", "-n", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    instances = simulated_instances(done.stdout)
    assert 1 <= len(instances) <= 2
    assert "iris-ops: restores on simulated IRIS" in done.stdout
    assert "user: 2 restores" in done.stdout
    for instance in instances:
        assert_gone(instance)


def test_iris_keep_on_a_simulated_iris_says_nothing_was_kept(project):
    (project / "test_broken.py").write_text("def test_broken(accounts):\n    assert False\n")
    done = pytest_run(project, None, "--iris-sim", "--iris-keep", "test_broken.py")
    assert done.returncode == 1
    assert "iris-ops: --iris-keep kept nothing: the simulated IRIS is removed at the end of the run, with PYT_" in done.stdout
    assert "iris-ops: kept" not in done.stdout
    for instance in simulated_instances(done.stdout):
        assert_gone(instance)


def test_an_xdist_summary_says_what_a_serial_one_says(project, sim_host):
    """Swept, kept and --iris-report, gathered by the controller from its two workers."""
    dead = "PYT_DEADBEEF_GW0_1"  # a namespace of a run that died (it has no record)
    done = subprocess.run([sys.executable, "-m", "iris_ops", "restore", "user", "--ns", dead], cwd=project,
                          env=_env(sim_host), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (project / "test_broken.py").write_text("def test_broken(accounts):\n    assert False\n")
    done = pytest_run(project, sim_host, "-n", "2", "--iris-keep", "--iris-report")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 2 passed" in done.stdout
    kept = leftovers(sim_host)
    assert len(kept) == 1 and kept[0] != dead
    assert f"iris-ops: swept 1 namespace(s) left by runs that died: {dead}\n" in done.stdout
    assert "could not sweep" not in done.stdout
    assert f"iris-ops: kept {kept[0]} (failed test; fixture user): iris-ops run --ns {kept[0]}" in done.stdout
    assert "iris-ops: restores on the local instance\n" in done.stdout
    assert "user: 3 restores" in done.stdout
    assert SIMULATED not in done.stdout


USER_PROJECT = "def test_plain():\n    assert True\n"


def test_a_user_project_gets_no_test_bed_unless_it_asks(tmp_path):
    """iris-ops and iris-ops-sim installed: the test bed of iris-ops' own suite (its fixtures,
    its "N Docker tests ran against ..." line) stays out of a user's run; -p loads it."""
    (tmp_path / "test_plain.py").write_text(USER_PROJECT)
    done = pytest_run(tmp_path, None, "-n", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "Docker tests ran" not in done.stdout
    fixtures = pytest_run(tmp_path, None, "--fixtures")
    assert "iris_namespace" in fixtures.stdout
    assert "sim_container" not in fixtures.stdout and "docker_engine" not in fixtures.stdout
    asked = pytest_run(tmp_path, None, "-p", "iris_ops_sim.testbed", "--fixtures")
    assert "sim_container" in asked.stdout and "docker_engine" in asked.stdout


def test_failed_tests_keep_their_namespace_with_iris_keep(project, sim_host):
    (project / "test_broken.py").write_text(
        "def test_broken(accounts):\n    accounts.sql('DELETE FROM Demo.Account')\n    assert False\n")
    done = pytest_run(project, sim_host, "--iris-keep", "test_broken.py")
    assert done.returncode == 1
    kept = leftovers(sim_host)
    assert len(kept) == 1
    assert f"iris-ops run --ns {kept[0]}" in done.stdout
    assert SIMULATED not in done.stdout  # a configured instance: no simulator, and no line about one
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
def test_one_fixture_for_8_tests_costs_one_transfer(project, sim_host):
    (project / "conftest.py").write_text((project / "conftest.py").read_text() + TRANSFER_COUNTER)
    (project / "test_eight.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('n', range(8))\n"
        "def test_each(accounts, n):\n"
        "    assert accounts.sql('SELECT COUNT(*) FROM Demo.Account').rows == [[3]]\n"
        "    accounts.sql('DELETE FROM Demo.Account')\n")
    done = pytest_run(project, sim_host, "--iris-report", "test_eight.py", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 passed" in done.stdout
    assert "user: 8 restores" in done.stdout
    assert "databases from the cache: 7, streamed: 1" in done.stdout
    assert (project / "transfers.txt").read_text() == "1"
    assert leftovers(sim_host) == []


def test_xdist_workers_that_sweep_the_same_dead_run_report_it_once():
    """Both workers of a run sweep the same dead run at once: one sweeps, the other is refused (or
    finds it gone); the controller reports one sweep and no failure for it."""
    from iris_ops.pytest_report import RunReport

    gathered = RunReport()
    for worker in (RunReport(sweep_errors=[["PYT_DEAD_GW0_1", "locked by another iris-ops operation"]]),
                   RunReport(swept=["PYT_DEAD_GW0_1"]),
                   RunReport(swept=["PYT_DEAD_GW0_1"], sweep_errors=[["PYT_DEAD_GW0_2", "refused"]])):
        gathered.merge(RunReport.from_data(worker.to_data()))
    assert gathered.lines(report=False) == [
        "iris-ops: swept 1 namespace(s) left by runs that died: PYT_DEAD_GW0_1",
        "iris-ops: could not sweep PYT_DEAD_GW0_2: refused"]


# --- the warm pool (--iris-pool) ---------------------------------------------------------------

POOLED_TESTS = """
import json
import time

import pytest
from iris_ops import script_builders


def existing(iris_session):
    return iris_session.operation("pytest").runner.run(script_builders.namespace_names(), changes=False)["namespaces"]


def pool_full(iris_session):
    deadline = time.monotonic() + 600
    while iris_session.pool.ready("user") < {size}:
        # a failed restore stops the refills until the next request, which this loop never makes
        failed = [f.failure for f in iris_session.pool.fixtures() if f.failure is not None]
        assert not failed, f"a restore of the pool failed: {{failed[0]}}"
        assert time.monotonic() < deadline, "the pool never filled"
        time.sleep(0.1)


@pytest.mark.parametrize("n", range({count}))
def test_each(iris_session, iris_namespace, n):
    before = existing(iris_session)
    ns = iris_namespace("user")
    if n == 0:  # the first request (a miss); the others come once the pool is full
        pool_full(iris_session)
    with open("handed.jsonl", "a") as out:
        out.write(json.dumps({{"file": __name__, "n": n, "name": ns.name, "existed": ns.name in before}}) + "\\n")
    assert ns.sql("SELECT COUNT(*) FROM Demo.Account").rows == [[3]]  # nobody had it before
    ns.sql("DELETE FROM Demo.Account")
    if n == {hold}:  # held with the pool full again, until the run is stopped
        pool_full(iris_session)
        print("\\nheld:", ns.name, flush=True)
        time.sleep(600)
"""
POOL_LINE = re.compile(r"  user: pool of (\d)(?: in each of (\d) processes)?: (\d+) hits, (\d+) misses, "
                       r"[\d.]+ s waiting for a namespace in all; (\d+) restored in the background, (\d+) of them "
                       r"never used\n")


def project_processes(project: Path) -> list[int]:
    """Processes working in the project: pytest, and the iris-ops processes of its pool."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd") == str(project):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def wait_for(condition, what: str, seconds: float = 300) -> None:
    """A guard against a hang while waiting for ``condition``; never a measure of time."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def pytest_databases(sim_host) -> list[str]:
    return [db for db in sim_host.instance.read_config()["Databases"] if db.startswith(PREFIX)]


def handed_out(project: Path) -> list[dict]:
    """What each pooled test got, in the order the tests asked."""
    return [json.loads(line) for line in (project / "handed.jsonl").read_text().splitlines()]


def assert_nothing_left(project: Path, sim_host) -> None:
    assert leftovers(sim_host) == [] and pytest_databases(sim_host) == []
    assert project_processes(project) == []


def start_pytest(project, sim_host, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", *args], cwd=project,
                            env=_env(sim_host), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_everything(proc: subprocess.Popen, project: Path) -> None:
    """After a failed test: no pytest and no process of its pool outlives it."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pid in project_processes(project):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def catch_a_restore_in_flight(project: Path, pytest_pid: int, mgr: Path) -> tuple[int, str, Path] | None:
    """A restore of the pool between its first change and its end (its journal exists), stopped
    there with SIGSTOP: (pid, namespace, journal); None while there is none."""
    for pid in project_processes(project):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"restore" not in argv or pid == pytest_pid:
            continue
        ns = argv[argv.index(b"--ns") + 1].decode()
        journal = mgr / f"iris-ops-restore-{ns}.json"
        if ns.endswith("_1") or not journal.exists():  # the first restore of a fixture runs alone
            continue
        os.kill(pid, signal.SIGSTOP)
        if journal.exists():  # still between its first change and its end
            return pid, ns, journal
        os.kill(pid, signal.SIGCONT)
    return None


def test_a_pooled_test_gets_a_namespace_restored_before_it_asked_and_no_crash_leaves_one(project, sim_host):
    """--iris-pool 4 (issue 24's "done when"): after the fixture's first request (a miss), the next
    three tests get namespaces that existed before they asked, each handed out once, and every
    restore of the run is one of the pool's background restores.  Ctrl-C while a test holds one
    and four wait ready: the session's teardown deletes them all, stops the pool's processes, and
    the summary still counts the pool.  kill -9 while the pool restores: a restore caught between
    its first change and its end gets SIGTERM from the kernel and rolls back; what the pool had
    finished is swept by the next run, and only that."""
    (project / "test_pooled.py").write_text(POOLED_TESTS.format(count=4, size=4, hold=3))
    proc = start_pytest(project, sim_host, "--iris-pool", "4", "--iris-report", "test_pooled.py")
    try:
        shown = ""
        for line in proc.stdout:
            shown += line
            if line.startswith("held:"):
                break
        assert "held:" in shown, shown
        assert len(leftovers(sim_host)) >= 5  # the one held and four ready (and used ones not deleted yet)
        proc.send_signal(signal.SIGINT)
        shown += proc.communicate(timeout=600)[0]
    finally:
        stop_everything(proc, project)
    assert proc.returncode == 2 and "KeyboardInterrupt" in shown, shown  # interrupted
    handed = handed_out(project)
    assert len({h["name"] for h in handed}) == len(handed) == 4
    assert [h["existed"] for h in handed] == [False, True, True, True], handed
    pool = POOL_LINE.search(shown)
    assert pool and pool.groups()[:4] == ("4", None, "3", "1"), shown
    restored, unused = (int(n) for n in pool.groups()[4:])
    # every restore of the run was the pool's, in its processes: none in the tests' time
    assert restored == 4 + unused and re.search(rf"  user: {restored} restores, median", shown)
    assert "the pool could not" not in shown, shown
    assert_nothing_left(project, sim_host)

    (project / "test_held.py").write_text(POOLED_TESTS.format(count=1, size=4, hold=0))
    proc = start_pytest(project, sim_host, "--iris-pool", "4", "--iris-pool-fixtures", "user", "test_held.py")
    mgr = sim_host.install_dir / "mgr"
    held = None
    try:
        def caught() -> bool:
            nonlocal held
            held = catch_a_restore_in_flight(project, proc.pid, mgr)
            return held is not None

        wait_for(caught, "a restore of the pool in flight")
        proc.kill()
        proc.wait()
        os.kill(held[0], signal.SIGCONT)
        wait_for(lambda: project_processes(project) == [], "the pool's processes ended")
    finally:
        stop_everything(proc, project)
    pid, ns, journal = held
    left = leftovers(sim_host)
    assert ns not in left and not journal.exists()  # rolled back
    assert left and set(pytest_databases(sim_host)) == set(left)  # nothing half restored
    assert not list(mgr.glob("iris-ops-restore-*.json"))
    done = pytest_run(project, sim_host, "test_accounts.py")
    assert done.returncode == 0, done.stdout + done.stderr
    swept = re.search(r"iris-ops: swept (\d+) namespace\(s\) left by runs that died: (.*)\n", done.stdout)
    assert swept and sorted(swept.group(2).split(", ")) == sorted(left), done.stdout
    assert_nothing_left(project, sim_host)


BROKEN_FIXTURE_TEST = """

def test_broken(iris_namespace):
    iris_namespace("broken")
"""


def test_pools_under_xdist_hand_out_each_namespace_once_and_say_what_failed(project, sim_host):
    """-n 2: each worker has its pool (its own names), the controller sums their figures, and
    two pools deleting at once leave nothing and report nothing.  A background restore that
    fails (a fixture whose database file was cut short) fails the test that asked with iris-ops'
    message and fix, once; a fixture to warm that does not exist stops the session, saying which
    option named it, before the run changes anything."""
    done = pytest_run(project, sim_host, "--iris-pool", "2", "--iris-pool-fixtures", "user,nope", "test_accounts.py")
    assert done.returncode == 1 and "2 errors" in done.stdout, done.stdout
    assert "--iris-pool-fixtures names a fixture iris-ops cannot find: no fixture named 'nope' in " in done.stdout
    assert "During handling" not in done.stdout
    assert not list((sim_host.install_dir / "mgr").glob("iris-ops-pytest/*.json"))  # not even its record

    broken = project / "fixtures" / "broken"
    shutil.copytree(project / "fixtures" / "user", broken)
    dat = next(broken.rglob("*.DAT"))
    dat.write_bytes(dat.read_bytes()[:8192])
    (project / "test_a.py").write_text(POOLED_TESTS.format(count=2, size=2, hold=-1) + BROKEN_FIXTURE_TEST)
    (project / "test_b.py").write_text(POOLED_TESTS.format(count=2, size=2, hold=-1))
    done = pytest_run(project, sim_host, "--iris-pool", "2", "--iris-report", "-n", "2", "--dist", "loadfile",
                      "test_a.py", "test_b.py")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 4 passed" in done.stdout, done.stdout
    # the failure's section (the short summary repeats the message, whole where pytest sees CI set)
    failures = done.stdout.split("short test summary info")[0]
    failed = re.findall(r"(?s)iris-ops could not restore 'broken' into PYT_\w+: (.*?)\nfix: ", failures)
    assert len(failed) == 1 and "IRIS.DAT: size failed" in failed[0], done.stdout
    assert "recreate it with `iris-ops backup`" in done.stdout
    assert "During handling" not in done.stdout
    assert "Traceback" not in done.stdout and "pytest_pool.py" not in done.stdout
    handed = handed_out(project)
    assert len({h["name"] for h in handed}) == len(handed) == 4
    for name in ("test_a", "test_b"):
        mine = sorted((h for h in handed if h["file"] == name), key=lambda h: h["n"])
        assert [h["existed"] for h in mine] == [False, True], mine
        assert len({h["name"].rsplit("_", 1)[0] for h in mine}) == 1  # one worker's names
    assert len({h["name"].rsplit("_", 1)[0] for h in handed}) == 2  # each file on its own worker
    pool = POOL_LINE.search(done.stdout)
    assert pool, done.stdout
    size, processes, hits, misses, restored, unused = pool.groups()
    assert (size, processes, hits, misses) == ("2", "2", "2", "2")
    assert int(restored) == 4 + int(unused)
    assert "the pool could not" not in done.stdout, done.stdout
    assert_nothing_left(project, sim_host)


def test_the_controller_sums_the_workers_pools():
    from iris_ops.pytest_report import PoolRecord, RunReport

    gathered = RunReport()
    for worker in (RunReport(pools=[PoolRecord("user", 4, hits=5, misses=1, waited=1.25, restored=10, unused=4),
                                    PoolRecord("orders", 4, hits=0, misses=1, waited=2.0, restored=5, unused=4)]),
                   RunReport(pools=[PoolRecord("user", 4, hits=3, misses=2, waited=0.5, restored=9, unused=4)],
                             pool_errors=[["PYT_X_GW1_3", "refused"]])):
        gathered.merge(RunReport.from_data(worker.to_data()))
    assert gathered.lines(report=True) == [
        "iris-ops: the pool could not finish with PYT_X_GW1_3: refused; the next run sweeps it",
        "  user: pool of 4 in each of 2 processes: 8 hits, 3 misses, 1.75 s waiting for a namespace in all; "
        "19 restored in the background, 8 of them never used",
        "  orders: pool of 4: 0 hits, 1 misses, 2.00 s waiting for a namespace in all; "
        "5 restored in the background, 4 of them never used"]
    assert gathered.lines(report=False) == gathered.lines(report=True)[:1]
