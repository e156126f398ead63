"""A simulated IRIS where a real one would run: a container of the ``iris-ops-sim`` image on a
real Docker engine, or a native install on this host.

Both are reached the way a real IRIS is reached (``docker exec … iris session``, or ``iris`` on
the host) and seeded through ``iris-sim`` (:mod:`iris_ops_sim.control`).  Used by the
pytest fixtures, ``iris-ops sim``, the demo and the benchmark.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from iris_ops.errors import UnreachableError
from iris_ops_sim.control import SimControl, docker_exec, fork_server_exec, host_exec

__all__ = [
    "LABEL", "READY_TIMEOUT", "DURABLE_MOUNT", "DURABLE_DATA", "data_directory", "SimContainer", "run_container",
    "wait_ready", "host_owner", "HostSim",
]

#: Every container the kit starts carries this label (``docker ps --filter label=iris-ops.sim=1``).
LABEL = "iris-ops.sim"
READY_TIMEOUT = 30.0
#: Where a data directory is mounted in the container, and the durable %SYS directory in it
#: (``ISC_DATA_DIRECTORY``), as InterSystems' durable %SYS examples have them.
DURABLE_MOUNT = "/durable"
DURABLE_DATA = DURABLE_MOUNT + "/iris"


@dataclass
class SimContainer:
    """A simulated instance in a container; ``env`` aims a subprocess (``iris-ops``, ``docker``) at it."""

    name: str
    base_url: str
    instance: SimControl
    client: Any = None  # docker.DockerClient
    #: The host directory mounted where the container's fork server listens (``control_socket``).
    control_dir: str | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.base_url, "IRIS_OPS_CONTAINER": self.name, "IRIS_OPS_TRANSPORT": "docker"}

    def exec(self, argv: list[str], user: str | None = None, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        """Run ``argv`` in the container (e.g. ``["sh", "-c", "test -e /x"]``)."""
        from iris_ops.transports import docker_exec as primitives

        api = primitives.connect(self.base_url, timeout=60)
        result = primitives.exec_command(api, self.name, argv, user=user, stdin=stdin, deadline=time.monotonic() + 60)
        return result.exit_code, result.stdout, result.stderr

    def exists(self, path: str) -> bool:
        return self.exec(["test", "-e", path])[0] == 0

    def stop(self, kill: bool = False) -> None:
        c = self.client.containers.get(self.name)
        c.kill() if kill else c.stop(timeout=5)

    def start(self) -> None:
        self.client.containers.get(self.name).start()
        wait_ready(self)

    def remove(self) -> None:
        import docker

        try:
            self.client.containers.get(self.name).remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        if self.control_dir is not None:
            import shutil

            shutil.rmtree(self.control_dir, ignore_errors=True)


def run_container(client: Any, base_url: str, image: str, name: str, variants: "Iterable[str]" = (),
                  data_dir: str | os.PathLike | None = None, control_socket: bool = False) -> SimContainer:
    """Start a fresh simulated instance (no network, labelled) and wait until a session answers.
    ``variants`` (``irissim/variants.py``) are fixed in the container's environment.

    ``data_dir``: a directory on the engine's host, mounted at :data:`DURABLE_MOUNT`, where the
    instance keeps its data (manager directory, databases, CPF) in :data:`DURABLE_DATA`, as a
    real IRIS container keeps durable %SYS on a volume; it must be writable by the instance
    owner (uid 51773), and outlives the container.

    ``control_socket`` (the test kit's containers): mount a directory of this host where the
    container's fork server listens, so that the kit's ``iris-sim`` calls reach it without a
    ``docker exec`` (:func:`iris_ops_sim.control.fork_server_exec`).  Only for a local engine
    (``unix://``) and as root, who can give the directory to the instance owner; elsewhere the
    calls go through ``docker exec`` as always.  :meth:`SimContainer.remove` removes it."""
    from iris_ops_sim.irissim import variants as known

    environment = known.environment(tuple(variants))
    volumes = {}
    if data_dir is not None:
        environment = {**environment, "ISC_DATA_DIRECTORY": DURABLE_DATA}
        volumes = {str(data_dir): {"bind": DURABLE_MOUNT, "mode": "rw"}}
    control = docker_exec(base_url, name)
    control_dir = _control_dir(base_url) if control_socket else None
    if control_dir is not None:
        from iris_ops_sim.irissim.forkserver import SOCKET

        volumes = {**volumes, control_dir: {"bind": os.path.dirname(SOCKET), "mode": "rw"}}
        control = fork_server_exec(os.path.join(control_dir, os.path.basename(SOCKET)), control)
    try:
        client.containers.run(image, name=name, detach=True, network_mode="none", labels={LABEL: "1"},
                              hostname=name[:63], environment=environment, volumes=volumes)
    except BaseException:
        if control_dir is not None:
            os.rmdir(control_dir)
        raise
    sc = SimContainer(name=name, base_url=base_url, instance=SimControl(control), client=client,
                      control_dir=control_dir)
    try:
        wait_ready(sc, data_dir=DURABLE_DATA if data_dir is not None else None)
    except BaseException:
        sc.remove()
        raise
    return sc


def _control_dir(base_url: str) -> str | None:
    """A fresh directory for a container's fork server socket, the instance owner's (None where
    this host's directories are not the engine's, or where this process cannot give it away)."""
    import tempfile

    from iris_ops_sim.rootfs import IRISOWNER_ID

    if not base_url.startswith("unix://") or os.geteuid() != 0:
        return None
    directory = tempfile.mkdtemp(prefix="iris-sim-ctl-", dir="/tmp")
    os.chown(directory, IRISOWNER_ID, IRISOWNER_ID)
    return directory


def data_directory(client: Any, name: str) -> str | None:
    """The host directory a container of the kit keeps its data in (None: in the container)."""
    for mount in client.containers.get(name).attrs.get("Mounts") or []:
        if mount.get("Destination") == DURABLE_MOUNT:
            return mount.get("Source")
    return None


def wait_ready(sc: SimContainer, timeout: float = READY_TIMEOUT, data_dir: str | None = None) -> None:
    """``iris qlist`` says "running" before logins work: wait for a real session round trip
    (and, with ``data_dir``, for the instance to run on it: ``iris qlist``'s data directory)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            if data_dir is not None and not _runs_on(sc, data_dir):
                last = f"it does not run on its data directory {data_dir} yet"
            else:
                code, out, err = sc.exec(["iris", "session", "IRIS", "-U", "%SYS"], stdin=b'Write "ready",!\nHalt\n')
                if (code == 0 and b"ready" in out) or b"Username:" in out:
                    return  # a login prompt answers too (OS authentication off: iris-sim os-auth off)
                last = (out + err).decode(errors="replace")[-300:]
        except Exception as e:  # the container may still be starting
            last = str(e)
        if data_dir is not None:
            _raise_if_exited(sc)
        time.sleep(0.1)
    raise UnreachableError(f"the simulated instance in {sc.name} did not answer within {timeout:.0f} s: {last}")


def _runs_on(sc: SimContainer, data_dir: str) -> bool:
    """``iris qlist``'s last field is the instance's data directory."""
    code, out, _ = sc.exec(["iris", "qlist"])
    return code == 0 and out.decode(errors="replace").strip().split("^")[-1] == data_dir


def _raise_if_exited(sc: SimContainer) -> None:
    """A container whose main process failed (durable %SYS it could not set up) says why."""
    container = sc.client.containers.get(sc.name)
    if container.status in ("exited", "dead"):
        logs = container.logs(tail=5).decode(errors="replace").strip()
        raise UnreachableError(f"the simulated instance in {sc.name} stopped: {logs}",
                               fix="A data directory must be writable by the instance owner (uid 51773).")


def _check_reachable(home: Path) -> None:
    """The instance runs as irisowner, which must be able to search every directory above its
    install directory (a private one such as pytest's basetemp, mode 0700, is not)."""
    from iris_ops.errors import UsageError

    for parent in home.absolute().parents:
        if not parent.stat().st_mode & 0o001:
            raise UsageError(
                f"{home} cannot hold a simulated IRIS: irisowner, which the instance runs as, cannot "
                f"enter {parent} (mode {oct(parent.stat().st_mode & 0o777)})",
                fix="Pass a --dir that every user can reach, e.g. under /tmp.",
            )


def host_owner() -> str:
    """Who owns restored files on a host install: irisowner, as on a native IRIS install; by
    its id (51773) on a host that has no user of that name, as a container's files show there."""
    import pwd

    from iris_ops_sim.irissim.instance.fs import USERS

    try:
        return pwd.getpwnam("irisowner").pw_name
    except KeyError:
        return str(USERS["irisowner"][0])


# --- a native install on this host ---------------------------------------------------------------

@dataclass
class HostSim:
    """A simulated instance installed on this host (``<home>/irissys``), for the local transport."""

    home: Path
    #: The instance's variants (``irissim/variants.py``), pinned in its launchers at install.
    variants: tuple[str, ...] = ()
    instance: SimControl = field(init=False)
    #: The fork server's process while :meth:`serve` runs one.
    server: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        self.instance = SimControl(host_exec(str(self.ctl_command)))

    @property
    def install_dir(self) -> Path:
        return self.home / "irissys"

    @property
    def iris_command(self) -> Path:
        return self.home / "bin" / "iris"

    @property
    def ctl_command(self) -> Path:
        return self.home / "bin" / "iris-sim"

    @property
    def registry(self) -> Path:
        return self.home / "simregistry.json"

    @property
    def fork_socket(self) -> Path:
        """Where :meth:`serve`'s fork server listens; the launchers ask it first."""
        return self.home / "run" / "fork.sock"

    def serve(self) -> "HostSim":
        """Start a fork server for this install (``irissim/forkserver.py``): its ``iris`` and
        ``iris-sim`` processes are then forked from a warm copy of the simulator, as in a
        container, for the user running this, once it listens (this waits for that, ten seconds
        at most; until then the launchers run the programs themselves).  It ends with
        :meth:`stop_serving`, or by itself within a second of this process's end."""
        import subprocess
        import sys

        if self.server is not None:
            return self
        package_parent = Path(__file__).resolve().parent
        code = (f"import sys; sys.path.insert(0, {str(package_parent)!r}); "
                f"sys.pycache_prefix = {str(self.home / 'pycache')!r}; sys.dont_write_bytecode = False; "
                f"from irissim.forkserver import standalone; sys.exit(standalone({str(self.fork_socket)!r}, {os.getpid()}))")
        self.fork_socket.unlink(missing_ok=True)  # one a killed server left would look ready
        # no environment of ours: each child takes its launcher's
        self.server = subprocess.Popen([sys.executable, "-S", "-c", code], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       env={"PATH": os.defpath}, start_new_session=True)
        deadline = time.monotonic() + 10
        while not self.fork_socket.exists() and self.server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)  # listening from here on (a caller waits while it imports)
        return self

    def stop_serving(self) -> None:
        """End the fork server.  A session it forked goes on; its launcher waits for it and then
        ends with status 1 and says on stderr that the session's own was lost with the server."""
        if self.server is None:
            return
        self.server.terminate()
        self.server.wait()
        self.server = None
        self.fork_socket.unlink(missing_ok=True)

    @property
    def env(self) -> dict[str, str]:
        return {"IRIS_OPS_TRANSPORT": "local", "IRIS_OPS_IRIS_COMMAND": str(self.iris_command),
                "IRIS_OPS_OWNER": host_owner()}

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def installed(self) -> bool:
        return self.registry.exists() and self.iris_command.exists()

    def end_sessions(self) -> list[int]:
        """Kill every ``iris session`` of this install that still runs (one that never saw the
        end of its input, as with the variant ``eof-keeps-session``); their pids."""
        import signal

        from iris_ops_sim.irissim.instance import jobtable

        pids = jobtable.live(self.install_dir / "mgr" / ".sim" / "jobs")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids

    def install(self) -> "HostSim":
        """Launchers in ``<home>/bin`` and the default instance (idempotent)."""
        from iris_ops_sim import launchers

        if self.installed():
            return self
        self.home.mkdir(parents=True, exist_ok=True)
        _check_reachable(self.home)
        # The instance's owner (irisowner) must reach its install directory, as on a native
        # install; mkdtemp makes 0700 directories.
        self.home.chmod(0o755)
        package_parent = Path(__file__).resolve().parent  # holds the irissim package
        from iris_ops_sim.irissim import variants

        # Everything that makes this instance what it is, pinned: the local transport hands a
        # session the caller's environment, and a test variable there (another registry, a
        # delay) must not change which instance answers or how.
        launchers.write_launchers(self.home / "bin", str(package_parent), pycache=self.home / "pycache",
                                  fork_server=self.fork_socket, pinned={"IRISSIM_REGISTRY": str(self.registry), "IRISSIM_DELAY": "",
                                          variants.ENV: variants.environment(self.variants).get(variants.ENV, "")})
        self.instance.call("init", "--install-dir", str(self.install_dir))
        return self
