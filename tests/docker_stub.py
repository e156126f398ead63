"""A tiny stand-in Docker engine for the exec/archive primitives' tests.

It serves just enough of the Engine API on a unix socket for docker-py's low-level client:
``/version``, exec create/start/inspect, container inspect, and the archive endpoints.  Its one
important trait: exec start answers ``101`` and writes the command's first output **in the same
``sendall``**, the timing that makes docker-py lose output (#3332/#2042).

Commands are Python functions (see ``COMMANDS``) over a host directory standing in for the
container's root, so tests need no Docker and do not depend on the simulated engine.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import socketserver
import struct
import tarfile
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

API_VERSION = "1.44"


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


class _Exec:
    def __init__(self, container: "StubContainer", argv: list[str], user: str, stdin: bool) -> None:
        self.container = container
        self.argv = argv
        self.user = user or "irisowner"
        self.stdin = stdin
        self.running = False
        self.exit_code: int | None = None


class StubContainer:
    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root
        self.running = True
        self.owners: dict[str, tuple[str, str]] = {}

    def host(self, path: str) -> Path:
        return self.root / path.lstrip("/")


class ExecIO:
    """What a stub command sees: argv, stdin, output writers."""

    def __init__(self, handler: "_Handler", ex: _Exec, first_output: bytes) -> None:
        self.handler = handler
        self.ex = ex
        self.pending = first_output

    def write(self, data: bytes, stream: int = 1) -> None:
        if data:
            self.handler.wfile.write(frame(stream, data))
            self.handler.wfile.flush()

    def read_stdin(self) -> bytes:
        if not self.ex.stdin:
            return b""
        return self.handler.rfile.read()  # until the client half-closes


def _cmd_banner(io_: ExecIO, args: list[str]) -> int:
    # the banner was already sent together with the 101 response (see _exec_start)
    data = io_.read_stdin()
    for line in data.splitlines():
        if line.startswith(b'Write "'):
            io_.write(line[7:].split(b'"')[0] + b"\n")
        io_.write(b"%SYS>")
    return 0


def _cmd_cat(io_: ExecIO, args: list[str]) -> int:
    io_.write(io_.read_stdin())
    return 0


def _cmd_sleep(io_: ExecIO, args: list[str]) -> int:
    time.sleep(float(args[0]))
    return 0


def _cmd_exit(io_: ExecIO, args: list[str]) -> int:
    io_.write(b"to stderr\n", 2)
    return int(args[0])


def _cmd_mkdir(io_: ExecIO, args: list[str]) -> int:
    io_.ex.container.host(args[-1]).mkdir(parents=True, exist_ok=True)
    return 0


def _cmd_chown(io_: ExecIO, args: list[str]) -> int:
    owner, group = args[0].split(":")
    if owner not in ("root", "irisowner") or group not in ("root", "irisowner"):
        io_.write(f"chown: invalid user: '{args[0]}'\n".encode(), 2)
        return 1
    for path in args[1:]:
        if not io_.ex.container.host(path).exists():
            io_.write(f"chown: cannot access '{path}'\n".encode(), 2)
            return 1
        io_.ex.container.owners[path] = (owner, group)
    return 0


def _cmd_chmod(io_: ExecIO, args: list[str]) -> int:
    for path in args[1:]:
        os.chmod(io_.ex.container.host(path), int(args[0], 8))
    return 0


def _cmd_mv(io_: ExecIO, args: list[str]) -> int:
    src, dst = args[-2], args[-1]
    c = io_.ex.container
    os.replace(c.host(src), c.host(dst))
    if src in c.owners:
        c.owners[dst] = c.owners.pop(src)
    return 0


def _cmd_rm(io_: ExecIO, args: list[str]) -> int:
    for path in args:
        if not path.startswith("-"):
            try:
                io_.ex.container.host(path).unlink()
            except FileNotFoundError:
                pass
    return 0


COMMANDS = {
    "banner": _cmd_banner,
    "cat": _cmd_cat,
    "sleep": _cmd_sleep,
    "exit": _cmd_exit,
    "mkdir": _cmd_mkdir,
    "chown": _cmd_chown,
    "chmod": _cmd_chmod,
    "mv": _cmd_mv,
    "rm": _cmd_rm,
}
BANNER = b"Node: stub, Instance: IRIS\n\n"


class _ChunkedBody(io.RawIOBase):
    def __init__(self, rfile) -> None:
        self.rfile = rfile
        self.left = 0
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.done:
            return 0
        if self.left == 0:
            line = self.rfile.readline()
            self.left = int(line.split(b";")[0], 16)
            if self.left == 0:
                while self.rfile.readline() not in (b"\r\n", b""):
                    pass
                self.done = True
                return 0
        n = min(len(buf), self.left)
        data = self.rfile.read(n)
        if not data:
            raise ConnectionError("client went away inside the body")
        buf[: len(data)] = data
        self.left -= len(data)
        if self.left == 0:
            self.rfile.readline()
        return len(data)


class _Handler(socketserver.StreamRequestHandler):
    server: "StubEngine._Server"

    def handle(self) -> None:
        while True:
            line = self.rfile.readline()
            if not line:
                return
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while True:
                h = self.rfile.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            url = urllib.parse.urlsplit(target)
            query = dict(urllib.parse.parse_qsl(url.query))
            path = url.path
            if path.startswith("/v1."):
                path = "/" + path.split("/", 2)[2]
            if headers.get("transfer-encoding", "").lower() == "chunked":
                body: io.RawIOBase | bytes = _ChunkedBody(self.rfile)
            else:
                body = self.rfile.read(int(headers.get("content-length", "0") or 0))
            keep = self.route(method, path, query, body)
            if not keep:
                return

    # -- responses
    def send_json(self, status: int, obj, extra: dict | None = None) -> bool:
        data = json.dumps(obj).encode()
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        for k, v in (extra or {}).items():
            head += f"{k}: {v}\r\n"
        self.wfile.write(head.encode() + b"\r\n" + data)
        self.wfile.flush()
        return True

    def route(self, method: str, path: str, query: dict, body) -> bool:
        engine = self.server.engine
        parts = path.strip("/").split("/")
        if path == "/version" or path == "/_ping":
            return self.send_json(200, {"ApiVersion": API_VERSION, "Version": "stub", "MinAPIVersion": "1.24"})
        if parts[0] == "containers" and len(parts) >= 3:
            c = engine.containers.get(parts[1])
            if c is None:
                return self.send_json(404, {"message": f"No such container: {parts[1]}"})
            if parts[2] == "json":
                return self.send_json(200, {"Id": c.name, "Name": "/" + c.name, "State": {"Running": c.running}})
            if parts[2] == "exec" and method == "POST":
                if not c.running:
                    return self.send_json(409, {"message": f"Container {c.name} is not running"})
                spec = json.loads(body or b"{}")
                ex = _Exec(c, spec["Cmd"], spec.get("User", ""), bool(spec.get("AttachStdin")))
                exec_id = f"exec{len(engine.execs)}"
                engine.execs[exec_id] = ex
                return self.send_json(201, {"Id": exec_id})
            if parts[2] == "archive" and method == "GET":
                return self.get_archive(c, query["path"])
            if parts[2] == "archive" and method == "PUT":
                return self.put_archive(c, query["path"], body)
        if parts[0] == "exec" and len(parts) == 3:
            ex = engine.execs.get(parts[1])
            if ex is None:
                return self.send_json(404, {"message": "No such exec instance"})
            if parts[2] == "json":
                return self.send_json(
                    200, {"Running": ex.running, "ExitCode": ex.exit_code, "ProcessConfig": {"arguments": ex.argv}}
                )
            if parts[2] == "start":
                self.exec_start(ex)
                return False
        return self.send_json(404, {"message": f"page not found: {method} {path}"})

    def exec_start(self, ex: _Exec) -> None:
        ex.running = True
        cmd = COMMANDS.get(ex.argv[0])
        head = b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        first = frame(1, BANNER) if ex.argv[0] == "banner" else b""
        if cmd is None:
            first = frame(2, f"exec: {ex.argv[0]!r}: executable file not found\n".encode())
        # the point of this stub: headers and the first output leave in one write
        self.connection.sendall(head + first)
        io_ = ExecIO(self, ex, first)
        try:
            code = 127 if cmd is None else cmd(io_, ex.argv[1:])
        except Exception as exc:  # noqa: BLE001
            io_.write(f"{type(exc).__name__}: {exc}\n".encode(), 2)
            code = 1
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        # a real engine records the exit status a moment after closing the stream
        if self.server.engine.exit_delay:
            time.sleep(self.server.engine.exit_delay)
        ex.exit_code = code
        ex.running = False

    def get_archive(self, c: StubContainer, path: str) -> bool:
        host = c.host(path)
        if not host.exists() and not host.is_symlink():
            return self.send_json(404, {"message": f"Could not find the file {path} in container {c.name}"})
        st = host.lstat()
        mode = st.st_mode & 0o777
        if host.is_dir():
            mode |= 1 << 31
        import base64

        stat = base64.b64encode(
            json.dumps({"name": host.name, "size": st.st_size, "mode": mode, "mtime": "", "linkTarget": ""}).encode()
        ).decode()
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nConnection: close\r\n"
            + f"X-Docker-Container-Path-Stat: {stat}\r\n\r\n".encode()
        )
        try:
            with tarfile.open(fileobj=self.wfile, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                tf.add(host, arcname=host.name)
        except OSError:
            pass  # the client stopped reading (it refused a directory, say)
        return False

    def put_archive(self, c: StubContainer, path: str, body) -> bool:
        host = c.host(path)
        if not host.is_dir():
            return self.send_json(404, {"message": f"Could not find the file {path} in container {c.name}"})
        reader = io.BufferedReader(body, 1 << 20) if isinstance(body, io.RawIOBase) else io.BytesIO(body)
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tf:
                for member in tf:
                    self.server.engine.put_members.append(member.name)
                    tf.extract(member, host, filter="fully_trusted")
        except (tarfile.TarError, ConnectionError, ValueError, OSError) as exc:
            # like the real engine: what was extracted so far stays
            try:
                return self.send_json(500, {"message": f"extraction failed: {exc}"})
            except OSError:
                return False
        return self.send_json(200, {})


class StubEngine:
    class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True
        engine: "StubEngine"

    def __init__(self, directory: Path | None = None) -> None:
        self._tmp = None
        if directory is None:
            self._tmp = tempfile.mkdtemp(prefix="stub-engine-")
            directory = Path(self._tmp)
        self.dir = Path(directory)
        self.sock_path = str(self.dir / "engine.sock")
        self.containers: dict[str, StubContainer] = {}
        self.execs: dict[str, _Exec] = {}
        self.put_members: list[str] = []
        self.exit_delay = 0.0
        self.server = self._Server(self.sock_path, _Handler)
        self.server.engine = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"unix://{self.sock_path}"

    def add_container(self, name: str) -> StubContainer:
        root = self.dir / "containers" / name
        root.mkdir(parents=True)
        c = self.containers[name] = StubContainer(name, root)
        return c

    def start(self) -> "StubEngine":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
