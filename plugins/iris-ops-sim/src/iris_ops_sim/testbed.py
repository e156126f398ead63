"""pytest fixtures of the testing kit: iris-ops' own test bed, loaded only when a run asks for
it (``-p iris_ops_sim.testbed``, as iris-ops' pyproject addopts do).  It has no pytest11 entry
point: users' projects with iris-ops-sim installed never get these fixtures or the summary line.

* ``docker_engine`` (session): a real Docker engine.  A reachable one (``DOCKER_HOST``, the docker
  context, the default socket), or else a private ``dockerd`` that this session starts under a
  temporary directory (root and Debian's docker.io needed) and stops by its pid at the end.
  Under pytest-xdist the controller starts that private engine once, before the workers, and
  every worker uses it (concurrent engines would only compete for the same two cores).
  Without either, tests that need it are skipped; with ``IRIS_OPS_REQUIRE_DOCKER=1`` they fail.
* ``sim_image`` (session): the ``iris-ops-sim`` image, built locally when its sources changed.
* ``sim_container`` (function): a fresh container of that image with a unique name, removed after
  the test; see :class:`~iris_ops_sim.simcontainer.SimContainer`.
* ``sim_host`` (function): a simulated instance installed on this host, for the local transport.
* ``engine_tap`` (function): a recording proxy on the engine's socket
  (:class:`~iris_ops_sim.secrettrace.EngineTap`): aim ``DOCKER_HOST`` at its ``url``; skipped on an
  engine that is not a unix socket.
* ``variant_host`` (module): a host install whose instance takes one variant's answer to an
  open IRIS question (``irissim/variants.py``), named by the test's parameter
  (``@pytest.mark.parametrize("variant_host", VARIANT_NAMES, indirect=True)``); one per module
  and variant, so the module's tests must leave it as they found it.  (A container with
  variants: ``run_container(..., variants=...)``.)
* ``xfs_volume`` (module): an XFS filesystem that shares blocks, in a loop file, mounted
  (:mod:`iris_ops_sim.xfs`; root and Debian's xfsprogs needed), unmounted and deleted at the end
  of the module even after a failure; skipped without them, failed with
  ``IRIS_OPS_REQUIRE_DOCKER=1``.
* ``xfs_container`` (module): a container like ``sim_container`` whose data directory (durable
  %SYS) is a directory of that volume; one per module (suite time), so the module's tests must
  leave it usable (thawed, names of their own).
* ``ssh_bed`` (module): an OpenSSH server on a loopback address (127.0.0.2, ...) with a
  simulated native instance on that "host" (this machine), for the ssh transport
  (:class:`~iris_ops_sim.sshd.SshSim`: ``bed``, ``host``, ``sim``, ``env``); more hosts with
  ``bed.add_host()``.  Everything is stopped by pid and removed at the end of the module;
  skipped without Debian's openssh-server (failed with ``IRIS_OPS_REQUIRE_DOCKER=1``).
* Tests marked ``real_iris`` are skipped unless ``IRIS_OPS_REAL_CONTAINER`` names a container.

Importing this module imports neither docker nor the simulator: every run of iris-ops' suite
loads it, and most tests need neither.
"""

from __future__ import annotations

import itertools
import os
import secrets
import tempfile
from dataclasses import dataclass
from typing import Any, Iterator

import pytest

__all__ = [
    "REAL_CONTAINER_ENV", "REQUIRE_DOCKER_ENV", "SHARED_ENGINE_ENV", "SHARED_PROBLEM_ENV",
    "DOCKER_FIXTURES", "DockerEngine", "docker_engine", "pytest_sessionstart", "pytest_sessionfinish",
    "sim_image", "sim_container", "sim_host", "xfs_volume", "xfs_container", "engine_tap", "ssh_bed",
    "pytest_configure", "pytest_collection_modifyitems", "pytest_runtest_logreport", "pytest_terminal_summary",
]

REAL_CONTAINER_ENV = "IRIS_OPS_REAL_CONTAINER"
REQUIRE_DOCKER_ENV = "IRIS_OPS_REQUIRE_DOCKER"
#: Set by a pytest-xdist controller for its workers: the directory of the private engine it
#: started (``DOCKER_HOST`` then names that engine's socket).
SHARED_ENGINE_ENV = "IRIS_OPS_TEST_PRIVATE_ENGINE"
#: Set by a pytest-xdist controller whose private engine could not start: why.
SHARED_PROBLEM_ENV = "IRIS_OPS_TEST_ENGINE_PROBLEM"
DOCKER_FIXTURES = {"docker_engine", "sim_image", "sim_container", "xfs_container"}
#: Every variant of the simulated instance, for ``parametrize("variant_host", ..., indirect=True)``.
VARIANT_NAMES = ("eof-keeps-session", "rename-replaces", "copy-takes-new-owner", "resource-creates-role",
                 "readonly-sql-fails", "password-change-prompt")
_counter = itertools.count(1)
_docker_tests: dict[str, Any] = {"ran": 0, "engine": None}
_shared: dict[str, Any] = {"engine": None}


@dataclass
class DockerEngine:
    """What ``docker_engine`` yields."""

    base_url: str
    client: Any  # docker.DockerClient
    lock_dir: Any = None  # the private engine's directory (image builds lock there), or None

    @property
    def private(self) -> bool:
        return self.lock_dir is not None


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    from iris_ops_sim import dockerd, engines

    if os.environ.get(SHARED_PROBLEM_ENV):
        _no_engine(os.environ[SHARED_PROBLEM_ENV])
    shared_dir = os.environ.get(SHARED_ENGINE_ENV)
    if shared_dir:  # an xdist worker: the controller's private engine
        url = os.environ.get("DOCKER_HOST", "")
        client = engines.client_for(url)
        _docker_tests["engine"] = f"a private dockerd ({url})"
        try:
            yield DockerEngine(base_url=url, client=client, lock_dir=shared_dir)
        finally:
            client.close()
        return
    url = engines.find_engine()
    private = None
    if url is None:
        blocker = dockerd.private_engine_blocker()
        if blocker:
            _no_engine(blocker)
        private = dockerd.PrivateEngine()
        try:
            private.start()
        except Exception as e:
            private.stop()
            _no_engine(f"a private dockerd could not start: {e}")
        url = private.url
        _stop_on_sigterm(private)
    client = engines.client_for(url)
    _docker_tests["engine"] = f"a private dockerd ({url})" if private else url
    try:
        yield DockerEngine(base_url=url, client=client, lock_dir=private.dir if private else None)
    finally:
        client.close()
        if private is not None:
            leftovers = private.stop()
            if leftovers:
                raise RuntimeError(f"the private dockerd left {leftovers}")


def _xdist_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin("dsession") and not hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist, start the private engine in the controller, before the workers (which
    inherit ``DOCKER_HOST`` and :data:`SHARED_ENGINE_ENV`), when no engine is reachable.  Which
    tests will need it is not known yet (collection happens in the workers): it starts whenever
    this machine allows it, and costs about a second."""
    if not _xdist_controller(session.config) or os.environ.get(SHARED_ENGINE_ENV):
        return
    from iris_ops_sim import dockerd, engines

    reachable = engines.find_engine()
    if reachable is not None:
        _docker_tests["engine"] = reachable  # the workers find it too
        return
    blocker = dockerd.private_engine_blocker()
    if blocker:
        return  # each worker skips (or fails) its Docker tests with the reason
    private = dockerd.PrivateEngine()
    try:
        private.start()
    except Exception as e:
        private.stop()
        os.environ[SHARED_PROBLEM_ENV] = f"a private dockerd could not start: {e}"
        return
    _stop_on_sigterm(private)
    _shared["engine"] = private
    os.environ["DOCKER_HOST"] = private.url
    os.environ[SHARED_ENGINE_ENV] = str(private.dir)
    _docker_tests["engine"] = f"a private dockerd ({private.url}) shared by the xdist workers"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    private = _shared["engine"]
    if private is None:
        return
    _shared["engine"] = None
    for name in (SHARED_ENGINE_ENV, SHARED_PROBLEM_ENV, "DOCKER_HOST"):
        os.environ.pop(name, None)
    leftovers = private.stop()
    if leftovers:
        session.config.get_terminal_writer().line(f"iris-ops: the private dockerd left {leftovers}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _stop_on_sigterm(private: Any) -> None:
    """A test run stopped with SIGTERM (a CI timeout, `kill`) runs no atexit handler: stop the
    private engine first, then die of the signal as before."""
    import signal

    previous = signal.getsignal(signal.SIGTERM)

    def stop_then_die(signum, frame):  # noqa: ARG001
        try:
            private.stop()
        finally:
            signal.signal(signal.SIGTERM, previous if callable(previous) else signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    if previous in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, stop_then_die)


def _no_engine(reason: str) -> None:
    _cannot("no Docker engine", reason)


def _cannot(what: str, reason: str) -> None:
    """Skip a test whose part of the bed cannot be had here; fail it under IRIS_OPS_REQUIRE_DOCKER=1."""
    if os.environ.get(REQUIRE_DOCKER_ENV) == "1":
        pytest.fail(f"{REQUIRE_DOCKER_ENV}=1 and {what}: {reason}", pytrace=False)
    pytest.skip(f"{what}: {reason}")


@pytest.fixture(scope="session")
def sim_image(docker_engine) -> str:
    from iris_ops_sim import image

    return image.ensure_image(docker_engine.client, lock_dir=docker_engine.lock_dir)


@pytest.fixture
def sim_container(docker_engine, sim_image) -> Iterator[Any]:
    from iris_ops_sim.simcontainer import run_container

    name = f"iris-t{next(_counter)}-{secrets.token_hex(3)}"
    sc = run_container(docker_engine.client, docker_engine.base_url, sim_image, name, control_socket=True)
    try:
        yield sc
    finally:
        sc.remove()


@pytest.fixture(scope="module")
def variant_host(request) -> Iterator[Any]:
    """A host install whose instance takes the variant named by the test's parameter."""
    from iris_ops_sim.simcontainer import HostSim

    import shutil

    variant = getattr(request, "param", None)
    if not variant:
        raise pytest.UsageError("variant_host needs a variant: parametrize it with indirect=True")
    home = tempfile.mkdtemp(prefix=f"iris-ops-{variant}-")
    sim = HostSim(home, variants=(variant,))
    try:
        yield sim.install().serve()
    finally:  # a session that outlived its input (eof-keeps-session) must not outlive the test
        sim.stop_serving()
        sim.end_sessions()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def sim_host() -> Iterator[Any]:
    from iris_ops_sim.simcontainer import HostSim

    import shutil

    home = tempfile.mkdtemp(prefix="iris-ops-host-")
    sim = HostSim(home)
    try:
        yield sim.install().serve()
    finally:  # also when the install itself failed
        sim.stop_serving()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def ssh_bed() -> Iterator[Any]:
    from iris_ops_sim import sshd

    why = sshd.blocker()
    if why:
        _cannot("no sshd can run", why)
    bed = sshd.SshSim.start()
    try:
        yield bed
    finally:
        bed.down()


@pytest.fixture(scope="module")
def xfs_volume() -> Iterator[Any]:
    from iris_ops_sim import xfs

    why = xfs.blocker()
    if why:
        _cannot("no XFS volume can be made", why)
    volume = xfs.XfsVolume().create()
    try:
        yield volume
    finally:
        left = volume.remove()
        if left:
            raise RuntimeError(f"the XFS volume left {', '.join(left)}")


@pytest.fixture(scope="module")
def xfs_container(docker_engine, sim_image, xfs_volume) -> Iterator[Any]:
    """A simulated instance whose data (manager directory, databases, cache) lives on XFS."""
    import shutil

    from iris_ops_sim.simcontainer import run_container

    name = f"iris-x{next(_counter)}-{secrets.token_hex(3)}"
    data = xfs_volume.new_directory(name)
    try:
        sc = run_container(docker_engine.client, docker_engine.base_url, sim_image, name, data_dir=data, control_socket=True)
        try:
            yield sc
        finally:
            sc.remove()
    finally:
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def engine_tap(docker_engine, tmp_path_factory) -> Iterator[Any]:
    from iris_ops_sim.secrettrace import EngineTap

    if not docker_engine.base_url.startswith("unix://"):
        pytest.skip(f"the recording tap needs a unix-socket engine, not {docker_engine.base_url}")
    tap = EngineTap(docker_engine.base_url, str(tmp_path_factory.mktemp("tap"))).start()
    try:
        yield tap
    finally:
        tap.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs a real Docker engine (one reachable, or a private dockerd)")
    config.addinivalue_line("markers", "real_iris: needs a real IRIS container (set IRIS_OPS_REAL_CONTAINER)")
    config.addinivalue_line("markers", "variants: runs under every variant of the simulated IRIS (-m variants)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = None if os.environ.get(REAL_CONTAINER_ENV) else pytest.mark.skip(
        reason=f"needs a real IRIS container: set {REAL_CONTAINER_ENV}")
    for item in items:
        if DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)
        if skip is not None and item.get_closest_marker("real_iris") is not None:
            item.add_marker(skip)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "docker" in report.keywords and report.outcome != "skipped":
        _docker_tests["ran"] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _docker_tests["ran"] or _docker_tests["engine"]:
        terminalreporter.write_line(
            f"iris-ops: {_docker_tests['ran']} Docker tests ran against {_docker_tests['engine'] or 'no engine'}")
