"""Exec instances: ``POST /containers/{id}/exec``, ``/exec/{id}/start``, ``/exec/{id}/json``."""

from __future__ import annotations

import io
import secrets
import socket
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from iris_ops.testing.engine.containers import DEFAULT_USER, Conflict, Container, NotFound
from iris_ops.testing.engine.process import ExecStartError, Proc, lookup, resolve_user, start_error

#: How long the engine holds the 101 response back waiting for the first output, so that an
#: immediately printing command arrives in the same write as the response (as from a fast engine).
FIRST_OUTPUT_WINDOW = 0.05


@dataclass
class Exec:
    id: str
    container: Container
    cmd: list[str]
    user: str = ""
    tty: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = True
    attach_stderr: bool = True
    working_dir: str = ""
    env: list[str] = field(default_factory=list)
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def inspect(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.tty,
                "entrypoint": self.cmd[0],
                "arguments": self.cmd[1:],
                "privileged": False,
                "user": self.user,
            },
            "OpenStdin": self.attach_stdin,
            "OpenStderr": self.attach_stderr,
            "OpenStdout": self.attach_stdout,
            "CanRemove": False,
            "ContainerID": self.container.id,
            "DetachKeys": "",
            "Pid": self.pid,
        }

    def claim(self) -> None:
        """Mark as started, refusing a second start as moby does."""
        with self.lock:
            if self.exit_code is not None:
                raise Conflict(f"exec command {self.id} has already run")
            if self.running:
                raise Conflict(f"exec command {self.id} is already running")
            self.running = True

    def run(self, stdin: BinaryIO, out, err) -> int:
        """Run the command to completion; start failures are written to ``out`` like moby does."""
        try:
            try:
                users = self.container.backend.users()
                user, uid, gid = resolve_user(self.user, users, DEFAULT_USER)
                program = lookup(self.cmd[0])
                if program is None:
                    raise start_error(self.cmd[0])
            except ExecStartError as exc:
                out(f"{exc}\r\n".encode())
                code = exc.exit_code
            else:
                env = dict(e.split("=", 1) for e in self.env if "=" in e)
                env.setdefault("HOME", "/root" if uid == 0 else f"/home/{user}")
                env.setdefault("PATH", "/usr/irissys/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
                proc = Proc(self.container, user, uid, gid, self.working_dir or "/", env)
                self.pid = 1000 + secrets.randbelow(30000)
                try:
                    code = int(program(proc, list(self.cmd), stdin, out, err) or 0)
                except (BrokenPipeError, ConnectionResetError):
                    code = 141
        except BaseException:
            with self.lock:
                self.running, self.exit_code = False, 126
            raise
        with self.lock:
            self.running, self.exit_code = False, code
        return code


class ExecStore:
    def __init__(self, limit: int = 10000) -> None:
        self._execs: OrderedDict[str, Exec] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def create(self, container: Container, config: dict[str, Any]) -> Exec:
        cmd = config.get("Cmd") or []
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            from iris_ops.testing.engine.containers import BadRequest

            raise BadRequest("No exec command specified")
        if not container.running:
            raise Conflict(f"Container {container.id} is not running")
        record = Exec(
            id=secrets.token_hex(32),
            container=container,
            cmd=[str(c) for c in cmd],
            user=config.get("User") or "",
            tty=bool(config.get("Tty")),
            attach_stdin=bool(config.get("AttachStdin")),
            attach_stdout=bool(config.get("AttachStdout", True)),
            attach_stderr=bool(config.get("AttachStderr", True)),
            working_dir=config.get("WorkingDir") or "",
            env=list(config.get("Env") or []),
        )
        with self._lock:
            self._execs[record.id] = record
            while len(self._execs) > self._limit:
                self._execs.popitem(last=False)
        return record

    def get(self, exec_id: str) -> Exec:
        with self._lock:
            record = self._execs.get(exec_id)
        if record is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return record


class StreamOut:
    """The hijacked connection's output side: multiplexed frames (or raw bytes with a TTY).

    The upgrade response is held back until the first output, the end of the command, or
    :data:`FIRST_OUTPUT_WINDOW`, whichever comes first, and then goes out in the same
    ``sendall`` as that output: what a fast engine does when the process prints at once.
    """

    def __init__(self, sock: socket.socket, head: bytes, tty: bool) -> None:
        self.sock = sock
        self.head: bytes | None = head
        self.tty = tty
        self.lock = threading.Lock()
        self.broken = False
        self._timer = threading.Timer(FIRST_OUTPUT_WINDOW, self.flush_head)
        self._timer.daemon = True
        self._timer.start()

    def _send(self, data: bytes) -> None:
        with self.lock:
            if self.head is not None:
                data, self.head = self.head + data, None
                self._timer.cancel()
            if data and not self.broken:
                try:
                    self.sock.sendall(data)
                except OSError:
                    self.broken = True
                    raise BrokenPipeError("client went away") from None

    def flush_head(self) -> None:
        try:
            self._send(b"")
        except BrokenPipeError:
            pass

    def frame(self, stream: int, data: bytes) -> None:
        if not data:
            return
        if self.tty:
            self._send(bytes(data))
        else:
            self._send(struct.pack(">BxxxL", stream, len(data)) + bytes(data))

    def stdout(self, data: bytes) -> None:
        self.frame(1, data)

    def stderr(self, data: bytes) -> None:
        self.frame(2, data)

    def close(self) -> None:
        self.flush_head()
        self._timer.cancel()


class SocketStdin(io.RawIOBase):
    """The attached stdin: the connection's buffered reader, until the client half-closes."""

    def __init__(self, rfile) -> None:
        self.rfile = rfile
        self.eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.eof:
            return 0
        try:
            data = self.rfile.read1(len(buf))
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return 0
        buf[: len(data)] = data
        return len(data)

    def readline(self, size: int = -1) -> bytes:
        if self.eof:
            return b""
        try:
            line = self.rfile.readline(size)
        except OSError:
            line = b""
        if not line:
            self.eof = True
        return line
