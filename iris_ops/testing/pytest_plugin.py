"""pytest fixtures of the testing kit (registered as the ``iris_ops`` pytest11 entry point).

* ``sim_engine`` (session): a :class:`~iris_ops.testing.engine.SimEngine` in a short temporary
  directory, served in a background thread, stopped at the end of the session;
* ``sim_container`` (function): a fresh container with a default instance and a unique name,
  removed after the test; see :class:`SimContainer`;
* tests marked ``real_iris`` are skipped unless ``IRIS_OPS_REAL_CONTAINER`` names a container.

Importing this module imports neither docker nor the engine: every pytest run of a project
that has iris-ops installed loads it.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Iterator

import pytest

REAL_CONTAINER_ENV = "IRIS_OPS_REAL_CONTAINER"
_counter = itertools.count(1)


@dataclass
class SimContainer:
    """What ``sim_container`` yields."""

    name: str
    base_url: str
    engine: Any  # SimEngine
    instance: Any  # SimInstance
    client: Any  # SimClient

    @property
    def env(self) -> dict[str, str]:
        """Environment for a subprocess (``iris-ops``, ``docker``) aimed at this container."""
        return {"DOCKER_HOST": self.base_url, "IRIS_OPS_CONTAINER": self.name}

    @property
    def container(self) -> Any:
        """The engine's record of the container (its ``fs``, ``rootfs``, ``config``)."""
        return self.engine.container(self.name)


def _short_tempdir() -> str:
    """A directory whose ``engine.sock`` fits in a unix socket path (107 bytes)."""
    base = tempfile.gettempdir()
    if len(base) > 60:
        base = "/tmp"
    return tempfile.mkdtemp(prefix="iris-ops-sim-", dir=base)


@pytest.fixture(scope="session")
def sim_engine() -> Iterator[Any]:
    from iris_ops.testing.engine import SimEngine

    home = _short_tempdir()
    engine = SimEngine(home).start()
    try:
        yield engine
    finally:
        engine.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def sim_container(sim_engine) -> Iterator[SimContainer]:
    from iris_ops.testing.client import SimClient

    name = f"iris-t{next(_counter)}-{secrets.token_hex(3)}"
    record = sim_engine.add_container(name)
    try:
        yield SimContainer(name=name, base_url=sim_engine.base_url, engine=sim_engine,
                           instance=record.instance, client=SimClient(sim_engine.base_url))
    finally:
        try:
            sim_engine.remove_container(name)
        except Exception:  # the test may have removed it itself
            pass


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(REAL_CONTAINER_ENV):
        return
    skip = pytest.mark.skip(reason=f"needs a real IRIS container: set {REAL_CONTAINER_ENV}")
    for item in items:
        if item.get_closest_marker("real_iris") is not None:
            item.add_marker(skip)
