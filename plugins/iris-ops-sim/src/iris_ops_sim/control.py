"""Seeding and inspection of a simulated instance from the host: ``iris-sim`` run where the
instance runs (``docker exec`` into its container, or the host install's own launcher).

:class:`SimControl` keeps the shape of the instance API that tests use (``sql``,
``check_integrity``, ``read_config``, ...), but every call is a separate ``iris-sim`` process,
as every ``iris session`` is: nothing reaches into the instance's files from outside.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from typing import Any, Callable

from iris_ops.errors import InstanceError

__all__ = ["Exec", "SqlResult", "SimWriter", "SimControl", "docker_exec", "host_exec", "fork_server_exec"]

#: ``run(argv, user, stdin=None)`` -> (exit status, stdout, stderr) of ``iris-sim argv...``
Exec = Callable[..., "tuple[int, bytes, bytes]"]


@dataclass
class SqlResult:
    columns: list[str]
    rows: list[tuple]
    rowcount: int


class SimWriter:
    """A background writer process inside the instance (``iris-sim writer``)."""

    def __init__(self, control: "SimControl", writer_id: str) -> None:
        self.control = control
        self.id = writer_id
        self.updates: int | None = None
        self.errors: list[str] = []

    def stop(self) -> int:
        if self.updates is None:
            done = self.control.call("writer", "stop", self.id)
            self.updates, self.errors = int(done["updates"]), list(done["errors"])
        return self.updates


class SimControl:
    """``iris-sim`` of one instance; ``exec`` runs the command where the instance is."""

    def __init__(self, exec: Exec, instance: str = "IRIS") -> None:  # noqa: A002
        self._exec = exec
        self.name = instance

    def call(self, *argv: str, user: str | None = None, stdin: bytes | None = None) -> Any:
        code, out, err = self._exec(["--name", self.name, *map(str, argv)], user, stdin=stdin)
        if code != 0:
            raise InstanceError(f"iris-sim {argv[0]} failed (exit {code}): {err.decode(errors='replace').strip()}")
        text = out.decode("utf-8")
        return json.loads(text) if text.strip() else None

    # --- the instance API tests use -----------------------------------------------------------

    def sql(self, namespace: str, statement: str) -> SqlResult:
        doc = self.call("sql", "--ns", namespace, statement)
        return SqlResult(doc["columns"], [tuple(r) for r in doc["rows"]], doc["rowcount"])

    def check_integrity(self, directory: str) -> list[str]:
        return self.call("integrity", directory)["problems"]

    def state(self) -> dict:
        return self.call("state")

    def read_config(self) -> dict:
        return self.state()["config"]

    def is_frozen(self) -> bool:
        return bool(self.state()["frozen"])

    def resources(self) -> dict:
        return self.state()["resources"]

    def mount_info(self, directory: str) -> dict | None:
        mounted = self.state()["mounted"]
        key = directory if directory.endswith("/") else directory + "/"
        return mounted.get(key)

    @property
    def version(self) -> str:
        return self.state()["version"]

    def manager_directory(self) -> str:
        return self.state()["manager_directory"]

    def create_database(self, name: str, directory: str | None = None, size_mb: int = 1,
                        namespace: str | None = None, *, resource: str | None = None, block_size: int | None = None,
                        encrypted: bool = False, mirrored: bool = False, volumes: int = 0,
                        stream_files: bool = False, fill: bool = False) -> str:
        argv = ["create-db", "--name", name, "--size-mb", str(size_mb)]
        argv += ["--directory", directory] if directory else []
        argv += ["--namespace", namespace] if namespace else []
        argv += ["--resource", resource] if resource else []
        argv += ["--block-size", str(block_size)] if block_size else []
        argv += ["--volumes", str(volumes)] if volumes else []
        argv += [flag for flag, on in (("--encrypted", encrypted), ("--mirrored", mirrored),
                                       ("--stream-files", stream_files), ("--fill", fill)) if on]
        return self.call(*argv)["directory"]

    def create_namespace(self, name: str, globals_db: str, routines_db: str | None = None) -> None:
        self.call("create-ns", "--name", name, "--globals", globals_db, *(["--routines", routines_db] if routines_db else []))

    def delete_resource(self, name: str) -> bool:
        return bool(self.call("delete-resource", name)["removed"])

    def start_writer(self, namespace: str, table: str, column: str, interval: float = 0.01,
                     mode: str = "update") -> SimWriter:
        """A process that keeps updating ``column`` of every row (or inserting rows, ``mode="insert"``)."""
        doc = self.call("writer", "start", "--ns", namespace, "--table", table, "--column", column,
                        "--interval", str(interval), "--mode", mode)
        return SimWriter(self, doc["id"])

    def open_transaction(self, namespace: str) -> str:
        """A process that holds a transaction open in ``namespace``; returns its id."""
        return self.call("transaction", "open", "--ns", namespace)["id"]

    def close_transaction(self, transaction_id: str) -> None:
        self.call("transaction", "close", transaction_id)

    def set_version(self, zversion: str, freeze_args: list[str] | None = None) -> None:
        """Make the instance report another ``$ZVERSION`` (and ExternalFreeze's arguments on it)."""
        self.call("set-version", zversion, *(["--freeze-args", ",".join(freeze_args)] if freeze_args else []))

    def listing(self) -> dict:
        return self.call("listing")

    # --- stop points (irissim/instance/stops.py) ---------------------------------------------------

    def arm_stop(self, call: str, fail: bool = False) -> None:
        """The next session calling ``call`` (``Class.Method``) holds there (``fail``: the call
        returns an error status instead)."""
        self.call("stop", "arm", call, *(["--fail"] if fail else []))

    def wait_stop(self, timeout: float = 60.0) -> int:
        """Block until a session holds at the armed call; its pid inside the instance."""
        return int(self.call("stop", "wait", "--timeout", timeout)["pid"])

    def release_stop(self) -> None:
        self.call("stop", "release")

    def clear_stops(self) -> None:
        self.call("stop", "clear")

    # --- security --------------------------------------------------------------------------------

    def set_os_authentication(self, on: bool) -> None:
        self.call("os-auth", "on" if on else "off")

    def security(self) -> dict:
        """Users (without hashes), services, roles and settings."""
        return self.call("security")

    def check_password(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s; it travels on stdin, never in argv."""
        return bool(self.call("check-password", user, stdin=password.encode("utf-8") + b"\n")["ok"])

    def seed_user(self, user: str, *, roles: str | None = None, change_password: int | None = None,
                  password_never_expires: int | None = None, enabled: int | None = None,
                  password: str | None = None) -> dict:
        argv = ["user", user]
        for flag, value in (("--roles", roles), ("--change-password", change_password),
                            ("--password-never-expires", password_never_expires), ("--enabled", enabled)):
            if value is not None:
                argv += [flag, str(value)]
        if password is None:
            return self.call(*argv)
        return self.call(*argv, "--password-stdin", stdin=password.encode("utf-8") + b"\n")


# --- where iris-sim runs ------------------------------------------------------------------------

def docker_exec(base_url: str, container: str, timeout: float = 120.0) -> Exec:
    """``docker exec <container> iris-sim ...`` through the lost-output-safe exec primitive."""
    from iris_ops.transports import docker_exec as primitives

    api = primitives.connect(base_url, timeout=timeout)

    def run(argv: list[str], user: str | None, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        result = primitives.exec_command(api, container, ["iris-sim", *argv], user=user, stdin=stdin,
                                         deadline=time.monotonic() + timeout)
        return result.exit_code, result.stdout, result.stderr

    return run


def fork_server_exec(socket_path: str, fallback: Exec, timeout: float = 120.0) -> Exec:
    """``iris-sim`` through the container's fork server (``irissim/forkserver.py``), whose socket
    the test kit mounts from this host (:func:`iris_ops_sim.simcontainer.run_container`,
    ``control_socket=True``): the process the server forks gets the container's environment and
    directory and the instance owner's user, as ``docker exec`` gives it, without an exec
    (about 50 ms of the engine's CPU a call, and the launcher's).  Where the server cannot take
    the call (none listening, the container restarting, another user asked for) it goes
    through ``fallback``."""
    import os
    import selectors
    import socket

    from iris_ops_sim.irissim import forkclient

    def run(argv: list[str], user: str | None, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        if user is not None:
            return fallback(argv, user, stdin)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(socket_path)
            except OSError:
                return fallback(argv, user, stdin)
            in_read, in_write = os.pipe()
            out_read, out_write = os.pipe()
            err_read, err_write = os.pipe()
            ours = [in_write, out_read, err_read]
            try:
                try:
                    started = forkclient.start(sock, ("iris-sim", list(argv), None, None, None),
                                               (in_read, out_write, err_write))
                except OSError:  # the server went before it took the call: nothing runs
                    started = None
                finally:  # the child has its own copies now, or there is no child
                    for fd in (in_read, out_write, err_write):
                        os.close(fd)
                if started is None:
                    return fallback(argv, user, stdin)
                ours.remove(in_write)
                with open(in_write, "wb") as child_stdin:  # closed: the child's end of input
                    child_stdin.write(stdin or b"")  # a password or a line: far below a pipe's buffer
                out, err = _drain(out_read, err_read, time.monotonic() + timeout, argv)
                status = forkclient.wait_status(sock)
            finally:
                for fd in ours:
                    os.close(fd)
            if status is None:
                raise ConnectionError(f"iris-sim {' '.join(argv)}: the fork server went away")
            code = os.waitstatus_to_exitcode(status)
            return (code if code >= 0 else 128 - code), out, err  # a signal, as docker reports it

    def _drain(out_read: int, err_read: int, deadline: float, argv: list[str]) -> tuple[bytes, bytes]:
        """Both pipes read to their end (the child's, and any process it left holding them)."""
        found = {out_read: bytearray(), err_read: bytearray()}
        with selectors.DefaultSelector() as selector:
            for fd in found:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                ready = selector.select(max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise TimeoutError(f"iris-sim {' '.join(argv)}: no end within {timeout} s")
                for key, _ in ready:
                    chunk = os.read(key.fd, 65536)
                    if chunk:
                        found[key.fd] += chunk
                    else:
                        selector.unregister(key.fd)
        return bytes(found[out_read]), bytes(found[err_read])

    return run


def host_exec(command: str, timeout: float = 120.0) -> Exec:
    """The host install's ``iris-sim`` launcher."""

    def run(argv: list[str], user: str | None, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        done = subprocess.run([command, *argv], input=stdin, capture_output=True, timeout=timeout, check=False)
        return done.returncode, done.stdout, done.stderr

    return run
