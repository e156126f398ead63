"""A simulated instance in this process, for tests of what a generated script *means*.

The scripts iris-ops builds run through the same :class:`~iris_ops.runner.Runner` the operations
use (markers, ``ok``, exit status, error text), but the ``iris session`` they are sent to is the
simulator's interpreter called in this process on a fresh instance in a temporary directory: a
script runs in milliseconds, so a test can run dozens of them (and mutation testing can run
such a test for every mutant of a builder).  The transports themselves are tested elsewhere,
against the same simulator as a process and in Docker.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from iris_ops import hookimpl
from iris_ops.errors import ScriptError
from iris_ops.manager import new_plugin_manager
from iris_ops.objectscript import Script
from iris_ops.runner import Runner
from iris_ops.transports.base import ExecResult, Target
from iris_ops_sim.inprocess import TRANSPORT, FileHooks, snapshot


class _Transport(FileHooks):
    """Answers ``run_objectscript`` for :data:`TRANSPORT` with the simulator's ``iris session``."""

    def __init__(self, instance: Any) -> None:
        self.instance = instance
        #: who the session runs as: the instance's owner (docker exec), or root (the local transport)
        self.user = "irisowner"

    @hookimpl
    def run_objectscript(self, target, script, namespace, timeout):  # noqa: ARG002 - hook signature
        if target.transport != TRANSPORT:
            return None
        from iris_ops_sim.irissim.objectscript.terminal import iris_main

        # The simulated instance has OS authentication on and the target no credentials: the
        # session shows its prompt at once, so there is no login to answer before the script.
        out: list[bytes] = []
        stdin = io.BytesIO(script.encode("utf-8"))
        status = iris_main(self.instance, ["session", target.instance, "-U", namespace], stdin, out.append,
                           user=self.user, job=os.getpid())
        return ExecResult(exit_code=status, stdout=b"".join(out))

    # Files as the docker transport moves them: written as the instance's owner, read whole.
    @hookimpl
    def write_file(self, target, src, size, path, timeout):  # noqa: ARG002 - hook signature
        if target.transport != TRANSPORT:
            return None
        import hashlib

        from iris_ops.transports.base import FileDigest
        from iris_ops_sim.irissim.instance.state import IRISOWNER

        data = src.read(size)
        self.instance._mkdirs(path.rsplit("/", 1)[0] + "/", owner=IRISOWNER, mode=0o775)
        self.instance.fs.host_path(path).write_bytes(data)
        self.instance.fs.created(path, *IRISOWNER)
        return FileDigest(len(data), hashlib.sha256(data).hexdigest())


class InProcessIris:
    """A fresh simulated instance (namespaces %SYS, USER and APP, databases under
    ``/usr/irissys/mgr/``) and a runner aimed at it."""

    def __init__(self, root: Path) -> None:
        from iris_ops_sim.irissim.instance import SimInstance
        from iris_ops_sim.irissim.instance.fs import ContainerFS

        self.instance = SimInstance.create(ContainerFS(root / "rootfs", root / "fsmeta.json"))
        pm = new_plugin_manager(load_entry_points=False)
        self.transport = _Transport(self.instance)
        pm.register(self.transport)
        self.pm = pm
        self.runner = Runner(pm, Target(transport=TRANSPORT), timeout=30)
        self.mgr = self.instance.manager_directory()

    def operation(self, name: str, root: Path, **environ: str):
        """A real :class:`~iris_ops.operation.Operation` aimed at this instance (settings from
        ``environ``, ``IRIS_OPS_<SETTING>`` as a user sets them; no project file above ``root``)."""
        from iris_ops import config
        from iris_ops.operation import Operation

        settings = config.load(environ={"IRIS_OPS_TRANSPORT": TRANSPORT, **environ}, start=root)
        return Operation(name, settings, self.pm)

    def snapshot(self) -> dict[str, Any]:
        """Everything the instance holds, to compare before and after (:func:`iris_ops_sim.inprocess.snapshot`)."""
        return snapshot(self.instance)

    def run(self, script: Script) -> dict[str, Any]:
        """The script's result object; :class:`~iris_ops.errors.ScriptError` when it failed."""
        return self.runner.run(script)

    def host(self, path: str) -> Path:
        """Where the instance's ``path`` is in this test's temporary directory."""
        return self.instance.fs.host_path(path)

    def config(self) -> dict:
        """The instance's [Databases] and [Namespaces] configuration."""
        return self.instance.read_config()

    def resources(self) -> dict:
        with self.instance.locked() as state:
            return {name: dict(props) for name, props in state["resources"].items()}

    def roles(self) -> set[str]:
        with self.instance.locked() as state:
            return {name.upper() for name in state["security"].get("roles", {})}

    def mounted(self, directory: str) -> bool:
        with self.instance.locked() as state:
            return directory in state["mounted"]

    def session(self, text: str, namespace: str = "%SYS") -> str:
        """Raw ObjectScript lines in a session: what the terminal printed (to set a scene up)."""
        from iris_ops_sim.irissim.objectscript.terminal import iris_main

        out: list[bytes] = []
        iris_main(self.instance, ["session", "IRIS", "-U", namespace], io.BytesIO(text.encode() + b"\nHalt\n"),
                  out.append, job=os.getpid())
        return b"".join(out).decode()

    def put(self, path: str, data: bytes) -> None:
        """Write a file (and its directories) as the instance's owner would have written it."""
        from iris_ops_sim.irissim.instance.state import IRISOWNER

        self.instance._mkdirs(path.rsplit("/", 1)[0] + "/", owner=IRISOWNER, mode=0o775)
        host = self.host(path)
        host.write_bytes(data)
        self.instance.fs.created(path, *IRISOWNER)

    def database_bytes(self, name: str = "APP_DATA") -> bytes:
        """An IRIS.DAT of this instance, as a fixture would carry it."""
        return self.host(self.mgr + name.lower() + "/IRIS.DAT").read_bytes()


@pytest.fixture
def sim(tmp_path) -> InProcessIris:
    """A fresh in-process simulated instance for one test (import it into the test module)."""
    return InProcessIris(tmp_path)


def fails(sim: InProcessIris, script: Script) -> ScriptError:
    """The ScriptError ``script`` fails with on ``sim``."""
    with pytest.raises(ScriptError) as caught:
        sim.run(script)
    return caught.value
