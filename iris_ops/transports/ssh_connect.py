"""One SSH connection per target for the whole process: Fabric's, with the host key checked as
OpenSSH checks it.

Fabric reads the SSH options (``HostName``, ``User``, ``Port``, ``IdentityFile``,
``ProxyJump``, ``ConnectTimeout``, ...) from the target's ssh_config file (``Target.ssh_config``,
in place of ``~/.ssh/config``) and then ``/etc/ssh/ssh_config``, as it does for its own users.
Fabric's own connection accepts any host key it does not know (Paramiko's ``AutoAddPolicy``,
in memory): here the key is checked against ``Target.known_hosts`` instead.  An unknown key is
refused unless the target says ``accept_new_host_key``, which then appends it to that file, as
OpenSSH's ``StrictHostKeyChecking=accept-new`` does; a key that differs from the one on record
is refused always (Paramiko's ``BadHostKeyException``).

The cipher: AES-GCM first where the server offers it (OpenSSH does), then Paramiko's own order.
GCM encrypts and authenticates in one pass; Paramiko's first choice, AES-CTR with HMAC-SHA-256,
takes two, on both ends.  Reading 64 MiB over SFTP from this machine's sshd cost the machine
0.40-0.44 s of CPU with GCM against 0.58-0.63 s (2026-12-05, docs/PERFORMANCE.md), and a fleet's
targets share this machine's CPU.

Every way a connection can fail (nothing listening, a connect that times out, a name that does
not resolve, a refused login, an unknown or changed host key) is an
:class:`iris_ops.errors.UnreachableError` (exit 6) with its own message and fix.  Fabric and
Paramiko are imported only when a connection is made: without them (``iris-ops[fleet]`` not
installed) using the ssh transport is a usage error (exit 2) naming the install line.
"""

from __future__ import annotations

import atexit
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import structlog

from iris_ops import errors

if TYPE_CHECKING:  # pragma: no cover
    from iris_ops.transports.base import Target

__all__ = [
    "FLEET_INSTALL", "CONNECT_TIMEOUT", "DEFAULT_SSH_CONFIG", "DEFAULT_KNOWN_HOSTS", "connection", "lost",
    "close_all",
]

FLEET_INSTALL = "pip install 'iris-ops[fleet]'"
#: Seconds a connection may take when ssh_config sets no ``ConnectTimeout`` (and the call's own
#: deadline is further away): OpenSSH's default is the system's TCP timeout, minutes long.
CONNECT_TIMEOUT = 15.0
#: A connection that carried nothing for this long is probed, so a host that died is noticed.
KEEPALIVE = 15
DEFAULT_SSH_CONFIG = "~/.ssh/config"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
#: Tried first, in this order, when the server offers them; every other cipher as Paramiko orders it.
AEAD_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")

_lock = threading.Lock()
#: (host, ssh_config, known_hosts, accept_new) -> open Fabric connection
_open: dict[tuple, Any] = {}
#: the same key -> the lock its connection is made under
_making: dict[tuple, threading.Lock] = {}


def _log():
    return structlog.get_logger("iris_ops.transports.ssh")


def _fabric():
    try:
        import fabric
    except ImportError as exc:
        raise errors.UsageError(
            "the ssh transport needs Fabric, which is not installed",
            fix=f"Install it with the fleet extra: {FLEET_INSTALL}",
        ) from exc
    return fabric


def _key(target: Target) -> tuple:
    return (target.ssh_host, target.ssh_config, target.known_hosts, target.accept_new_host_key)


def connection(target: Target, deadline: float):
    """The open Fabric ``Connection`` to ``target.ssh_host``, made on first use and reused by every
    later call of this process (one made again only when the last one broke)."""
    key = _key(target)
    with _lock:
        making = _making.setdefault(key, threading.Lock())
    with making:
        conn = _open.get(key)
        if conn is not None and conn.is_connected:
            return conn
        if conn is not None:  # it broke: the host went away, or the network in between
            _close(conn)
        conn = _connect(target, deadline)
        _open[key] = conn
        return conn


def close_all() -> None:
    """Close every connection this process opened (at exit: the host's sshd sees a clean end)."""
    with _lock:
        conns = list(_open.values())
        _open.clear()
    for conn in conns:
        _close(conn)


atexit.register(close_all)


def _close(conn) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - a connection that is gone is closed enough
        pass


def _quiet_paramiko() -> None:
    """Paramiko logs each connect and login at info, and a failed one at error, from its own
    thread and sometimes after iris-ops has reported it in its own words: its records are for
    ``-v`` (debug) only."""
    import logging

    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)


def _connect(target: Target, deadline: float):
    fabric = _fabric()
    _quiet_paramiko()
    started = time.monotonic()
    left = deadline - started
    if left <= 0:
        raise errors.DeadlineExceeded(f"no time left to connect to host {target.ssh_host!r}")
    path = _ssh_config_path(target)
    try:
        config = fabric.Config(user_ssh_path=path)
    except Exception as exc:  # noqa: BLE001 - Paramiko's parser raises several kinds
        raise errors.ConfigError(f"cannot read the ssh_config file {path} (or /etc/ssh/ssh_config): {exc}",
                                 fix="Fix the line it names, or point ssh_config (IRIS_OPS_SSH_CONFIG) at another "
                                 "file.") from exc
    try:
        conn = fabric.Connection(target.ssh_host, config=config)
    except ValueError as exc:  # Fabric's refusal of the destination's shape, or of its Port in ssh_config
        raise errors.UsageError(f"invalid ssh_host {target.ssh_host!r}, or its entry in {path}: {exc}",
                                fix="Give a host name, an ssh_config alias or user@host:port, and a numeric "
                                "Port.") from exc
    client = conn.client
    known_hosts = os.path.expanduser(target.known_hosts or DEFAULT_KNOWN_HOSTS)
    hop = conn
    while isinstance(hop, fabric.Connection):  # a ProxyJump host's key is checked the same way
        _load_known_hosts(hop.client, known_hosts)
        hop.client.set_missing_host_key_policy(_HostKeyPolicy(known_hosts, target.accept_new_host_key))
        hop = hop.gateway
    timeout = min(left, float(conn.connect_timeout or CONNECT_TIMEOUT))
    conn.connect_timeout = timeout
    conn.connect_kwargs.setdefault("banner_timeout", timeout)
    conn.connect_kwargs.setdefault("auth_timeout", timeout)
    conn.connect_kwargs.setdefault("transport_factory", _transport)
    try:
        conn.open()
    except BaseException as exc:
        client.close()  # Paramiko's transport thread outlives a failed connect otherwise
        if isinstance(exc, Exception):
            timed_out = time.monotonic() - started >= timeout
            raise _refused(target, conn, known_hosts, timeout, exc, timed_out) from exc
        raise
    conn.transport.set_keepalive(KEEPALIVE)
    _log().debug("ssh.connected", host=target.ssh_host, address=f"{conn.user}@{conn.host}:{conn.port}",
                 cipher=conn.transport.remote_cipher, seconds=round(time.monotonic() - started, 3))
    return conn


def _transport(sock, **kwargs):
    """Paramiko's transport with :data:`AEAD_CIPHERS` first (``transport_factory`` of
    ``SSHClient.connect``, Paramiko 3.2 on)."""
    import paramiko

    transport = paramiko.Transport(sock, **kwargs)
    options = transport.get_security_options()
    known = options.ciphers
    options.ciphers = tuple(c for c in AEAD_CIPHERS if c in known) + tuple(c for c in known if c not in AEAD_CIPHERS)
    return transport


def _ssh_config_path(target: Target) -> str:
    """The ssh_config file Fabric reads in place of the user's: a missing one is no error when it
    is the default (many users have none), and a usage error when it was named."""
    path = os.path.expanduser(target.ssh_config or DEFAULT_SSH_CONFIG)
    if not os.path.exists(path) and path != os.path.expanduser(DEFAULT_SSH_CONFIG):
        raise errors.ConfigError(f"the ssh_config file {path} does not exist",
                                 fix="Set ssh_config (IRIS_OPS_SSH_CONFIG) to an existing file, or leave it unset "
                                 f"for {DEFAULT_SSH_CONFIG}.")
    return path


def _load_known_hosts(client, path: str) -> None:
    if not os.path.exists(path):
        return  # every key is unknown: refused, or accepted into a new file
    try:
        client.load_host_keys(path)
    except Exception as exc:  # noqa: BLE001 - Paramiko raises several kinds for one bad file
        raise errors.ConfigError(f"cannot read the known_hosts file {path}: {exc}",
                                 fix="Fix or remove the line it names (`ssh-keygen -l -f FILE` lists what it "
                                 "reads), or point known_hosts (IRIS_OPS_KNOWN_HOSTS) at another file.") from exc


class UnknownHostKey(Exception):
    """A host key known_hosts has no entry for, refused (not :mod:`iris_ops.errors`: Paramiko
    raises it out of its connect, and :func:`_refused` words it)."""

    def __init__(self, hostname: str, key) -> None:
        super().__init__(hostname)
        self.hostname = hostname
        self.key = key


class _HostKeyPolicy:
    """Paramiko's ``MissingHostKeyPolicy`` for a key known_hosts lacks: refuse it, or (accept-new)
    record it there and go on."""

    def __init__(self, known_hosts: str, accept_new: bool) -> None:
        self.known_hosts = known_hosts
        self.accept_new = accept_new

    def missing_host_key(self, client, hostname: str, key) -> None:
        if not self.accept_new:
            raise UnknownHostKey(hostname, key)
        _append_known_host(self.known_hosts, hostname, key)
        client.get_host_keys().add(hostname, key.get_name(), key)
        _log().warning("ssh.host_key_added", host=hostname, key=f"{key.get_name()} {key.fingerprint}",
                       known_hosts=self.known_hosts)


def _append_known_host(path: str, hostname: str, key) -> None:
    """One line appended, as OpenSSH adds one: the rest of the file is left as it was (another
    process may be adding its own host at the same time)."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    line = f"{hostname} {key.get_name()} {key.get_base64()}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _refused(target: Target, conn, known_hosts: str, timeout: float, exc: Exception,
             timed_out: bool) -> errors.IrisOpsError:
    """The error a failed connect means, worded for the user: each cause its own message and fix."""
    import paramiko

    host = target.ssh_host
    address = f"{conn.host}:{conn.port}"
    details = {"host": host, "address": address, "user": conn.user, "cause": repr(exc)}
    if isinstance(exc, errors.IrisOpsError):
        return exc
    if isinstance(exc, UnknownHostKey):
        return errors.UnreachableError(
            f"the host key of {host!r} ({exc.hostname}: {exc.key.get_name()} {exc.key.fingerprint}) is unknown: "
            f"{known_hosts} has no key for it",
            fix=f"Check that fingerprint with the host's administrator, then add the key to {known_hosts} "
            f"(`ssh-keyscan -p {conn.port} {conn.host} >> {known_hosts}`), or set accept_new_host_key = true "
            "for this target (like OpenSSH's StrictHostKeyChecking=accept-new).",
            details=details,
        )
    if isinstance(exc, paramiko.BadHostKeyException):
        return errors.UnreachableError(
            f"the host key of {host!r} ({address}) has CHANGED: it presents {exc.key.get_name()} "
            f"{exc.key.fingerprint}, {known_hosts} holds {exc.expected_key.get_name()} "
            f"{exc.expected_key.fingerprint}; someone may be intercepting the connection",
            fix="If the host was reinstalled and its administrator confirms the new key, remove the old one "
            f"(`ssh-keygen -R '[{conn.host}]:{conn.port}' -f {known_hosts}`, or without brackets and port for "
            "port 22) and connect again. accept_new_host_key never replaces a key.",
            details=details,
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return errors.UnreachableError(
            f"host {host!r} ({address}) refused to authenticate user {conn.user!r}: {exc}",
            fix=f"Check the user and the key: `ssh -F {_ssh_config_path(target)} {host} true` must log in without "
            "a password (IdentityFile in ssh_config, or a key in ssh-agent that the host's authorized_keys holds).",
            details=details,
        )
    # Paramiko says a handshake that ran out of time in several ways ("No existing session", a
    # banner it could not read): the clock says it plainly
    if isinstance(exc, (socket.timeout, TimeoutError)) or timed_out:
        return errors.UnreachableError(
            f"connecting to host {host!r} ({address}) timed out after {timeout:.0f} s",
            fix="Check that the host is up and that nothing in between drops the connection (a firewall); "
            "ConnectTimeout in ssh_config gives a slow host longer.",
            details=details,
        )
    if isinstance(exc, socket.gaierror):
        return errors.UnreachableError(
            f"the name of host {host!r} does not resolve ({conn.host}: {exc.strerror or exc})",
            fix="Check the host name, or give it a `Host` entry with its `HostName` in ssh_config.",
            details=details,
        )
    if isinstance(exc, (paramiko.ssh_exception.NoValidConnectionsError, ConnectionError, OSError)):
        return errors.UnreachableError(
            f"nothing answers SSH on host {host!r} at {address} ({_reason(exc)}): the host or its sshd is down",
            fix="Start the host's SSH server, or correct HostName/Port for it in ssh_config.",
            details=details,
        )
    if isinstance(exc, paramiko.SSHException):
        return errors.UnreachableError(f"SSH to host {host!r} ({address}) failed: {exc}",
                                       fix="Check the host's SSH server (`ssh -v` to it shows where it stops).",
                                       details=details)
    return errors.InternalError(f"connecting to host {host!r} ({address}) failed: {exc!r}")


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "errors", None)  # NoValidConnectionsError: one error per address tried
    if isinstance(inner, dict) and inner:
        exc = next(iter(inner.values()))
    return getattr(exc, "strerror", None) or str(exc)


def lost(target: Target, what: str, exc: BaseException) -> errors.UnreachableError:
    """The error for a connection that broke once made (the host went down, the network in
    between): ``what`` may still be running on the host."""
    return errors.UnreachableError(
        f"{what}: the SSH connection to host {target.ssh_host!r} broke ({exc or type(exc).__name__}); "
        "it may still be running there",
        fix="Check that the host is up and its sshd runs; `iris-ops doctor` finds what a command left behind "
        "if it went on alone.",
        details={"host": target.ssh_host, "cause": repr(exc)},
    )
