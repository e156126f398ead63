"""A fleet on one machine: N OpenSSH servers on loopback addresses, each a "host" with its own
simulated IRIS, and a project file naming them as targets (``iris-ops sim fleet ...``).

The fleet lives in one directory:

* ``iris-ops.toml``: a ``[targets.<host>]`` per host and ``[groups] fleet = [...]``, with
  ``ssh_config`` and ``known_hosts`` pointing into the directory;
* ``ssh/``: the :class:`~iris_ops_sim.sshd.SshBed` (client key, ``ssh_config``, ``known_hosts``,
  and each host's sshd files, its host key among them), mode 0700;
* ``hosts/<host>/``: a native instance (:class:`~iris_ops_sim.simcontainer.HostSim`), reached
  over SSH by its ``iris`` (``iris_command``); or else the host's instance is a container of this
  machine's Docker engine, reached through ``docker exec`` over SSH;
* ``fleet.json``: what runs, by pid (each host's sshd, each native instance's ``iris-sim
  daemon``) and by name (the containers), so that another ``iris-ops`` process stops and removes
  exactly that.

The processes are detached (a session of their own): they outlive the command that started
them.  Every address is in 127.0.0.0/8, which Linux answers on ``lo`` as a whole: no interface,
route or mount is ever made.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from iris_ops.errors import ConflictError, UnreachableError, UsageError
from iris_ops_sim import sshd

__all__ = ["STATE_FILE", "PROJECT_FILE", "GROUP", "MAX_HOSTS", "FleetHost", "SimFleet", "start_fleet", "open_fleet"]

STATE_FILE = "fleet.json"
PROJECT_FILE = "iris-ops.toml"
#: The group every host of the fleet is in.
GROUP = "fleet"
#: 127.0.0.2 to 127.0.0.65: plenty for trying, and far from the end of 127.0.0.0/8.
MAX_HOSTS = 64
_DOWN_FIX = "iris-ops sim fleet down --dir {dir}"


@dataclass
class FleetHost:
    """One host of the fleet: its sshd and where its instance runs."""

    name: str
    address: str
    port: int
    sshd_pid: int | None = None
    #: "native" (``home`` holds the install, ``daemon_pid`` its ``iris-sim daemon``) or "container".
    kind: str = "native"
    home: str = ""
    daemon_pid: int | None = None
    container: str = ""
    docker_host: str = ""

    def target_table(self, owner: str) -> list[str]:
        lines = [f"[targets.{self.name}]", f"host = {_toml(self.name)}"]
        if self.kind == "container":
            lines += [f"container = {_toml(self.container)}", f"docker_host = {_toml(self.docker_host)}"]
        else:
            lines += [f"iris_command = {_toml(str(Path(self.home) / 'bin' / 'iris'))}", f"owner = {_toml(owner)}"]
        return lines

    def where(self) -> str:
        return (f"container {self.container} on {self.docker_host}" if self.kind == "container"
                else f"native, {self.home}")


def _toml(text: str) -> str:
    return json.dumps(text)  # a TOML basic string is a JSON string for these paths and names


@dataclass
class SimFleet:
    """A fleet directory and what runs for it (``fleet.json``)."""

    dir: Path
    hosts: list[FleetHost] = field(default_factory=list)

    @property
    def bed(self) -> sshd.SshBed:
        return sshd.SshBed(self.dir / "ssh")

    @property
    def project_file(self) -> Path:
        return self.dir / PROJECT_FILE

    def host(self, name: str) -> FleetHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise UsageError(f"the fleet in {self.dir} has no host {name!r}",
                         fix=f"Hosts: {', '.join(h.name for h in self.hosts)} (`iris-ops sim fleet status`).")

    def save(self) -> None:
        partial = self.dir / f".{STATE_FILE}.tmp"
        partial.write_text(json.dumps({"hosts": [asdict(h) for h in self.hosts]}, indent=2) + "\n")
        os.replace(partial, self.dir / STATE_FILE)

    def ssh_host(self, host: FleetHost) -> sshd.SshHost:
        """The bed's view of ``host`` (its sshd started or stopped by pid, not as a child)."""
        bed = self.bed
        return sshd.SshHost(bed.home / host.name, host.name, host.address, host.port,
                            authorized_keys=bed.client_key.with_suffix(".pub").read_text())

    def sshd_marker(self, host: FleetHost) -> str:
        return str(self.dir / "ssh" / host.name / "sshd_config")

    def daemon_marker(self, host: FleetHost) -> str:
        return str(Path(host.home) / "bin" / "iris-sim")

    def sshd_running(self, host: FleetHost) -> bool:
        return sshd.running(host.sshd_pid, self.sshd_marker(host))

    def instance(self, host: FleetHost):
        """``SimControl`` of ``host``'s instance (``iris-sim`` where it runs), for seeding and looking."""
        from iris_ops_sim.control import SimControl, docker_exec
        from iris_ops_sim.simcontainer import HostSim

        if host.kind == "container":
            return SimControl(docker_exec(host.docker_host, host.container))
        return HostSim(Path(host.home)).instance

    # -- one host's sshd -------------------------------------------------------------------------

    def stop(self, name: str) -> FleetHost:
        """Stop ``name``'s sshd by its pid (and the connections it serves): the host is down."""
        host = self.host(name)
        sshd.stop_pid(host.sshd_pid, self.sshd_marker(host))
        host.sshd_pid = None
        self.save()
        return host

    def start(self, name: str) -> FleetHost:
        """Start ``name``'s sshd again, detached, with the key it had (on its port when free)."""
        host = self.host(name)
        if self.sshd_running(host):
            return host
        ssh_host = self.ssh_host(host)
        recorded_as = ssh_host.known_hosts_name
        ssh_host.start()
        host.sshd_pid = ssh_host.proc.pid
        if ssh_host.port != host.port:  # the old port was taken meanwhile: the client files follow
            host.port = ssh_host.port
            self._write_client_files(replace_known=(recorded_as, ssh_host.known_hosts_line()))
        self.save()
        return host

    def _write_client_files(self, replace_known: tuple[str, str] | None = None) -> None:
        bed = self.bed
        bed.hosts = [self.ssh_host(h) for h in self.hosts]
        bed.write_ssh_config()
        if replace_known:
            old, line = replace_known
            kept = [x for x in bed.known_hosts.read_text().splitlines(True) if x.split(" ", 1)[0] != old]
            bed.known_hosts.write_text("".join(kept) + line)

    # -- everything ------------------------------------------------------------------------------

    def down(self, say: Callable[[str], None]) -> None:
        """Stop every sshd and native instance by pid, remove the containers, then the directory."""
        client = None
        for host in self.hosts:
            if sshd.stop_pid(host.sshd_pid, self.sshd_marker(host)):
                say(f"{host.name}: sshd on {host.address}:{host.port} stopped (pid {host.sshd_pid})")
            if host.kind == "container":
                client = client or _client(host.docker_host)
                if _remove_container(client, host.container):
                    say(f"{host.name}: container {host.container} removed")
                continue
            if sshd.stop_pid(host.daemon_pid, self.daemon_marker(host)):
                say(f"{host.name}: instance daemon stopped (pid {host.daemon_pid})")
            from iris_ops_sim.simcontainer import HostSim

            ended = HostSim(Path(host.home)).end_sessions() if host.home and Path(host.home).exists() else []
            if ended:
                say(f"{host.name}: {len(ended)} iris session(s) ended (pids {', '.join(map(str, ended))})")
        for pid, marker in self._strays():
            if sshd.stop_pid(pid, marker):
                say(f"stopped pid {pid}, which fleet.json did not record ({marker})")
        shutil.rmtree(self.dir)
        say(f"{self.dir} removed")


    def _strays(self) -> list[tuple[int, str]]:
        """Processes still running one of this fleet's sshd configurations or instance daemons
        that the state file lost track of (a start interrupted before it recorded the pid)."""
        markers = [self.sshd_marker(h) for h in self.hosts]
        markers += [self.daemon_marker(h) + " daemon" for h in self.hosts if h.kind == "native" and h.home]
        found = []
        for entry in filter(str.isdigit, os.listdir("/proc")):
            line = sshd.command_line(int(entry))
            found += [(int(entry), m) for m in markers if m in line]
        return found


def _client(url: str):
    from iris_ops_sim import engines

    return engines.client_for(url)


def _remove_container(client: Any, name: str) -> bool:
    """Remove the fleet's container ``name``, only when it is the kit's (labelled)."""
    import docker

    from iris_ops_sim.simcontainer import LABEL

    try:
        found = client.containers.get(name)
    except docker.errors.NotFound:
        return False
    if found.labels.get(LABEL) != "1":
        return False
    found.remove(force=True, v=True)
    return True


def open_fleet(dir: str | os.PathLike) -> SimFleet:  # noqa: A002
    """The fleet in ``dir``, as ``fleet.json`` records it."""
    where = Path(dir).expanduser().absolute()
    state = where / STATE_FILE
    try:
        recorded = json.loads(state.read_text())
        hosts = [FleetHost(**h) for h in recorded["hosts"]]
    except FileNotFoundError:
        raise UsageError(f"no simulated fleet in {where} (no {STATE_FILE})",
                         fix="cd into the directory `iris-ops sim fleet up` printed, or pass --dir DIR.") from None
    except (ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{state} is not a fleet's state file ({e})",
                         fix=f"Remove the directory by hand (stop its processes first: {state} lists them).") from None
    return SimFleet(where, hosts)


def _fleet_dir(dir: str | os.PathLike | None) -> Path:  # noqa: A002
    if dir is None:
        made = Path(tempfile.mkdtemp(prefix="iris-ops-fleet-"))
    else:
        made = Path(dir).expanduser().absolute()
        if (made / STATE_FILE).exists():
            raise ConflictError(f"{made} already holds a simulated fleet", fix=_DOWN_FIX.format(dir=made))
        if made.exists() and (not made.is_dir() or any(made.iterdir())):
            raise ConflictError(f"--dir {made} exists and is not an empty directory",
                                fix="Give a new or empty directory, or leave --dir out for a new one.")
        made.mkdir(parents=True, exist_ok=True)
    made.chmod(0o755)  # the instances run as irisowner, which must enter it (mkdtemp makes it 0700)
    return made


def start_fleet(hosts: int, dir: str | os.PathLike | None, containers: int,  # noqa: A002
                engine: tuple[str, Any] | None) -> SimFleet:
    """N hosts, the last ``containers`` of them with their instance in a container of ``engine``
    ((url, client), or None), the others native; the project file.  All or nothing."""
    if containers and engine is None:
        raise UnreachableError(f"--containers {containers} needs a Docker engine, and none is reachable",
                               fix="Start Docker (or set DOCKER_HOST), or pass --containers 0.")
    fleet = SimFleet(_fleet_dir(dir))
    try:
        bed = sshd.SshBed(fleet.dir / "ssh")
        for i in range(hosts):
            host = bed.add_host(f"host-{i + 1}")
            fleet.hosts.append(FleetHost(host.alias, host.address, host.port, sshd_pid=host.proc.pid))
            fleet.save()  # each pid recorded as soon as it runs: a failure later still finds it
        token = secrets.token_hex(3)
        for host in fleet.hosts[hosts - containers:]:
            host.kind, host.docker_host, host.container = "container", engine[0], f"iris-fleet-{token}-{host.name}"
        image = _image(engine[1]) if containers else ""
        with ThreadPoolExecutor(max(1, hosts)) as pool:  # a container waits for its instance: meanwhile, the rest
            list(pool.map(lambda h: _start_instance(fleet, h, engine, image), fleet.hosts))
        fleet.save()
        _write_project(fleet)
    except BaseException:
        fleet.save()
        fleet.down(lambda _line: None)
        raise
    return fleet


def _image(client: Any) -> str:
    from iris_ops_sim import image

    return image.ensure_image(client)


def _start_instance(fleet: SimFleet, host: FleetHost, engine: tuple[str, Any] | None, image: str) -> None:
    if host.kind == "container":
        from iris_ops_sim.simcontainer import run_container

        run_container(engine[1], engine[0], image, host.container)
        return
    from iris_ops_sim.simcontainer import HostSim

    sim = HostSim(fleet.dir / "hosts" / host.name)
    host.home = str(sim.home)
    sim.install()
    with open(sim.home / "daemon.log", "ab") as log:
        # the instance's own process, as a native IRIS runs one: its write daemon's clock ends a
        # freeze at WDSuspendLimit whether or not a session looks
        host.daemon_pid = subprocess.Popen([str(sim.ctl_command), "daemon"], stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=log, start_new_session=True).pid


def _write_project(fleet: SimFleet) -> None:
    from iris_ops_sim.simcontainer import host_owner

    bed = fleet.bed
    owner = host_owner()
    lines = ["# A fleet on one machine: `iris-ops sim fleet up` wrote this; `iris-ops sim fleet down` removes it.",
             f"ssh_config = {_toml(str(bed.ssh_config))}", f"known_hosts = {_toml(str(bed.known_hosts))}", ""]
    for host in fleet.hosts:
        lines += [*host.target_table(owner), ""]
    lines += ["[groups]", f"{GROUP} = [{', '.join(_toml(h.name) for h in fleet.hosts)}]", ""]
    fleet.project_file.write_text("\n".join(lines))
