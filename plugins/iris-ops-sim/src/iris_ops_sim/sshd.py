"""OpenSSH servers on loopback addresses, for trying and testing the ssh transport on one machine.

An :class:`SshBed` is a directory holding the client's side: a key (``client_key``), an
``ssh_config`` with one ``Host`` entry per host, and a ``known_hosts`` file.  Each
:class:`SshHost` added to it is Debian's ``sshd`` (``openssh-server``) listening on an address
of 127.0.0.0/8 (127.0.0.2, 127.0.0.3, ...; Linux answers the whole block on ``lo``, so no
interface or route is ever changed) with a host key of its own, run in the foreground as a child
of this process and stopped by its pid.  Nothing outside the bed's directory is written, but
``/run/sshd``, the privilege separation directory sshd requires (the Debian package's systemd
unit makes it at boot).

A host logs in the user running this process (root here) with the bed's key only: no password,
no PAM, no environment accepted.  ``iris-ops`` reaches it as ``ssh_host = <alias>`` with
``ssh_config`` and ``known_hosts`` pointing into the bed (:meth:`SshBed.env`).
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SSHD", "LOOPBACK", "FIRST_ADDRESS", "blocker", "command_line", "running", "stop_pid", "SshHost", "SshBed",
           "SshSim"]

SSHD = "/usr/sbin/sshd"
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
FIRST_ADDRESS = "127.0.0.2"
#: Seconds a starting sshd may take to answer with its banner.
_READY_TIMEOUT = 10.0
_PRIVSEP_DIR = Path("/run/sshd")


def blocker() -> str:
    """Why no sshd can run here, or "" when one can."""
    if not os.path.exists(SSHD):
        return f"{SSHD} is missing (Debian: apt-get install openssh-server)"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen is missing (Debian: apt-get install openssh-client)"
    if os.geteuid() != 0 and not _PRIVSEP_DIR.is_dir():
        return f"{_PRIVSEP_DIR} is missing and only root can make it"
    return ""


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


@dataclass
class SshHost:
    """One sshd on ``address``:``port``, its files in ``home``, named ``alias`` in the bed's ssh_config."""

    home: Path
    alias: str
    address: str
    port: int = 0
    authorized_keys: str = ""
    #: sshd's ``Ciphers`` line when set (a host that offers only some, as an older or hardened one)
    ciphers: str = ""
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if ipaddress.ip_address(self.address) not in LOOPBACK:
            raise ValueError(f"{self.address} is outside 127.0.0.0/8: the test bed never uses another address")
        self.home = Path(self.home)

    @property
    def host_key(self) -> Path:
        return self.home / "ssh_host_ed25519_key"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def known_hosts_name(self) -> str:
        """How known_hosts names this host (as OpenSSH and Paramiko look it up)."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    def known_hosts_line(self) -> str:
        kind, key = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"{self.known_hosts_name} {kind} {key}\n"

    def new_host_key(self) -> None:
        """Replace the host key (as a reinstalled host, or one in the middle, presents another);
        a running sshd takes it at its next :meth:`start`."""
        for path in (self.host_key, self.host_key.with_suffix(".pub")):
            path.unlink(missing_ok=True)
        _keygen(self.host_key, f"iris-ops-sim host {self.alias}")

    def _write_config(self) -> Path:
        (self.home / "authorized_keys").write_text(self.authorized_keys)
        config = self.home / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress {self.address}:{self.port}",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.home / 'authorized_keys'}",
            "PidFile none",
            "StrictModes no",  # the bed's directory is the test's, not a home directory
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "Subsystem sftp internal-sftp",
            "MaxStartups 64",
            # bash sources ~/.bashrc for a command sshd runs (Debian builds it so), unless it
            # runs nested: the bed's commands skip whatever the login user's rc file starts
            # (a developer's pyenv init costs each command 0.2 s)
            "SetEnv SHLVL=1",
            "LogLevel INFO",  # a line per login: how many connections a client made (logins())
            *([f"Ciphers {self.ciphers}"] if self.ciphers else []),
            "",
        ]))
        return config

    def start(self) -> "SshHost":
        """Start sshd in the foreground (``-D``), as a child of this process; wait for its banner."""
        if self.pid is not None:
            return self
        if not self.host_key.exists():
            self.new_host_key()
        _PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        for attempt in range(3):  # a port taken between the probe and sshd's bind: another one
            if not self.port or attempt:
                self.port = _free_port(self.address)
            log = open(self.home / "sshd.log", "ab")
            try:
                self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self._write_config())], stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=log, start_new_session=True)
            finally:
                log.close()
            if self._wait_ready():
                return self
        raise RuntimeError(f"sshd on {self.address} did not start: {self.log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.address, self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"SSH-"):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        return False

    def logins(self) -> int:
        """How many logins this host accepted so far (one per SSH connection)."""
        try:
            return (self.home / "sshd.log").read_text(errors="replace").count("Accepted publickey for ")
        except OSError:
            return 0

    def log_tail(self) -> str:
        try:
            return (self.home / "sshd.log").read_text(errors="replace")[-1000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop sshd by its pid, and the connections it serves (sshd leaves those running when it
        stops, as a host going down would not): the host is unreachable from then on."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        children = _descendants(proc.pid)
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _terminate(children)


def command_line(pid: int) -> str:
    """``pid``'s command line, its words joined by spaces ("" when it is gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def running(pid: int | None, marker: str) -> bool:
    """Whether ``pid`` still runs the command whose line names ``marker`` (a path of its own):
    a pid the kernel gave to another process since is not it."""
    return bool(pid) and marker in command_line(pid)


def stop_pid(pid: int | None, marker: str, wait: float = 5.0) -> bool:
    """Stop a process that need not be a child of this one (a detached sshd, a simulated
    instance's daemon) by its pid, and the processes it started (sshd's connections), when it
    still runs ``marker`` (:func:`running`); SIGKILL after ``wait`` seconds.  Whether it ran."""
    if not running(pid, marker):
        return False
    children = _descendants(pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while running(pid, marker):
        try:  # our own child (started by this process): reaped here, or it stays a zombie
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.02)
    _reap(pid)
    _terminate(children)
    return True


def _reap(pid: int, wait: float = 2.0) -> None:
    """A child of ours that has ended is reaped: no zombie left behind.  Its command line reads
    empty as soon as it releases its memory, a moment before it becomes a zombie that can be
    reaped, so this waits (``wait`` seconds at most) rather than trying once."""
    deadline = time.monotonic() + wait
    while True:
        try:
            reaped, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child, or reaped already
            return
        if reaped or time.monotonic() > deadline:
            return
        time.sleep(0.005)


def _terminate(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``: sshd's per-connection monitors and, below them, their
    unprivileged children (``sshd: [net]``), collected before any of them is stopped; a child
    whose monitor dies first is given to init and would otherwise stay."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(parents.get(child, []))
    return found


class SshBed:
    """A client key, an ssh_config and a known_hosts file in ``home``, and the hosts they reach."""

    def __init__(self, home: str | os.PathLike | None = None) -> None:
        self.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="iris-ops-ssh-"))
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        self.hosts: list[SshHost] = []
        self.user = getpass.getuser()
        if not self.client_key.exists():
            _keygen(self.client_key, "iris-ops-sim client")
        self.known_hosts.touch(mode=0o600)
        if not self.ssh_config.exists():  # a bed opened again keeps its hosts' entries
            self.write_ssh_config()

    @property
    def client_key(self) -> Path:
        return self.home / "client_ed25519_key"

    @property
    def ssh_config(self) -> Path:
        return self.home / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.home / "known_hosts"

    def add_host(self, alias: str | None = None, *, address: str | None = None, known: bool = True,
                 ciphers: str = "") -> SshHost:
        """Start one more host on the next loopback address (127.0.0.2 first) and enter it in the
        ssh_config; with ``known``, its host key in known_hosts too; ``ciphers``: the only ones its
        sshd offers (sshd_config's ``Ciphers``)."""
        address = address or str(ipaddress.ip_address(FIRST_ADDRESS) + len(self.hosts))
        alias = alias or f"sim-host-{len(self.hosts) + 1}"
        home = self.home / alias
        home.mkdir(exist_ok=True)
        host = SshHost(home, alias, address, authorized_keys=self.client_key.with_suffix(".pub").read_text(),
                       ciphers=ciphers)
        host.start()
        self.hosts.append(host)
        self.write_ssh_config()
        if known:
            self.know(host)
        return host

    def know(self, host: SshHost) -> None:
        """Record ``host``'s current key in known_hosts (appended, as OpenSSH adds one)."""
        with open(self.known_hosts, "a") as out:
            out.write(host.known_hosts_line())

    def forget_all(self) -> None:
        self.known_hosts.write_text("")

    def write_ssh_config(self) -> None:
        blocks = []
        for host in self.hosts:
            blocks += [f"Host {host.alias}", f"    HostName {host.address}", f"    Port {host.port}",
                       f"    User {self.user}", f"    IdentityFile {self.client_key}", "    IdentitiesOnly yes",
                       f"    UserKnownHostsFile {self.known_hosts}", "    StrictHostKeyChecking yes",
                       "    ConnectTimeout 5", ""]
        self.ssh_config.write_text("\n".join(blocks))

    def env(self, host: SshHost) -> dict[str, str]:
        """The settings that aim ``iris-ops`` at ``host`` (a native instance there still needs
        IRIS_OPS_IRIS_COMMAND and IRIS_OPS_OWNER)."""
        return {"IRIS_OPS_TRANSPORT": "ssh", "IRIS_OPS_SSH_HOST": host.alias,
                "IRIS_OPS_SSH_CONFIG": str(self.ssh_config), "IRIS_OPS_KNOWN_HOSTS": str(self.known_hosts)}

    def down(self) -> None:
        """Stop every host by its pid and remove the directory."""
        for host in self.hosts:
            host.stop()
        shutil.rmtree(self.home, ignore_errors=True)


@dataclass
class SshSim:
    """A host of an :class:`SshBed` with a simulated native instance on it (installed on this
    machine, which the host's sshd serves); ``env`` aims ``iris-ops`` at it over SSH."""

    bed: SshBed
    host: SshHost
    sim: object  # iris_ops_sim.simcontainer.HostSim

    @classmethod
    def start(cls, home: str | os.PathLike | None = None) -> "SshSim":
        from iris_ops_sim.simcontainer import HostSim

        bed = SshBed(home)
        try:
            host = bed.add_host()
            # the instance's owner must reach its install directory: not under the bed's 0700 one
            sim = HostSim(tempfile.mkdtemp(prefix="iris-ops-sshsim-")).install()
        except BaseException:
            bed.down()
            raise
        return cls(bed, host, sim)

    @property
    def env(self) -> dict[str, str]:
        from iris_ops_sim.simcontainer import host_owner

        return {**self.bed.env(self.host), "IRIS_OPS_IRIS_COMMAND": str(self.sim.iris_command),
                "IRIS_OPS_OWNER": host_owner()}

    def down(self) -> None:
        """Stop the hosts, end the instance's sessions, remove both directories."""
        try:
            self.bed.down()
        finally:
            self.sim.end_sessions()
            shutil.rmtree(self.sim.home, ignore_errors=True)
