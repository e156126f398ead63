"""The simulated Docker engine: the Docker Engine HTTP API (the subset iris-ops, the docker SDK
and the docker CLI use) plus the simulator's own control API under ``/_sim/``, served on a unix
socket by a threaded HTTP/1.1 server.

Error bodies are ``{"message": ...}`` with moby's texts and status codes; exec start is an HTTP
upgrade with multiplexed frames; archives stream in bounded memory.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from iris_ops.testing.engine import archive
from iris_ops.testing.engine.backend import Backend
from iris_ops.testing.engine.containers import BadRequest, Conflict, Container, ContainerStore, NotFound
from iris_ops.testing.engine.execs import ExecStore, SocketStdin, StreamOut
from iris_ops.testing.engine.httpio import BodyReader, ChunkedWriter, UnixHTTPServer

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"
ENGINE_VERSION = "28.0.0-sim"
SERVER_HEADER = f"Docker/{ENGINE_VERSION} (linux)"

log = logging.getLogger("iris_ops.testing.engine")

_VERSION_PREFIX = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")


def _vtuple(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SimEngine:
    """One simulator home: its containers, exec instances and API server.

    ``start()`` serves in a background thread (tests); ``serve_forever()`` in the foreground
    (``python -m iris_ops.testing.engine``).  ``base_url`` is ``unix://HOME/engine.sock``.
    """

    def __init__(self, home: str | os.PathLike, backend: Backend | None = None) -> None:
        self.home = Path(home).resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        self.socket_path = self.home / "engine.sock"
        if len(str(self.socket_path).encode()) > 107:
            raise ValueError(
                f"unix socket path {self.socket_path} is longer than 107 bytes; choose a shorter home directory"
            )
        self.backend = backend or Backend()
        self.containers = ContainerStore(self.home, self.backend)
        self.execs = ExecStore()
        self.writers: dict[str, tuple[str, Any]] = {}
        self._writers_lock = threading.Lock()
        self._server: UnixHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket_path}"

    # --- lifecycle ----------------------------------------------------------------------------

    def _bind(self) -> UnixHTTPServer:
        if self._server is None:
            self._server = UnixHTTPServer(self.socket_path, EngineHandler, self)
        return self._server

    def start(self) -> "SimEngine":
        server = self._bind()
        self._thread = threading.Thread(target=server.serve_forever, args=(0.1,), name="sim-engine", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._bind().serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        server, self._server = self._server, None
        with self._writers_lock:
            writers, self.writers = list(self.writers.values()), {}
        for _name, writer in writers:
            try:
                writer.stop()
            except Exception:  # a writer failing to stop must not keep the engine up
                log.exception("stopping a background writer failed")
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass

    def request_shutdown(self) -> None:
        """Stop serving from inside a request (the control API's shutdown)."""
        server = self._server
        if server is not None:
            threading.Thread(target=server.shutdown, daemon=True).start()

    def __enter__(self) -> "SimEngine":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- containers ---------------------------------------------------------------------------

    def add_container(self, name: str = "iris", instance: str = "IRIS") -> Container:
        return self.containers.add(name, instance)

    def container(self, ref: str) -> Container:
        return self.containers.get(ref)

    def stop_container(self, name: str) -> Container:
        return self.containers.set_state(name, running=False)

    def start_container(self, name: str) -> Container:
        return self.containers.set_state(name, running=True)

    def remove_container(self, name: str) -> None:
        container = self.containers.get(name)
        with self._writers_lock:
            mine = [wid for wid, (cname, _w) in self.writers.items() if cname == container.name]
            stopping = [self.writers.pop(wid)[1] for wid in mine]
        for writer in stopping:
            writer.stop()
        self.containers.remove(name)


# --- the request handler ----------------------------------------------------------------------


class EngineHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Docker/" + ENGINE_VERSION
    sys_version = ""
    server: UnixHTTPServer

    @property
    def engine(self) -> SimEngine:
        return self.server.engine

    def address_string(self) -> str:  # unix sockets have no peer address
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # --- plumbing -----------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self.body = BodyReader(self.rfile, self.headers)
        self.hijacked = False
        path = unquote(url.path)
        try:
            if path.startswith("/_sim/"):
                self._route_control(method, path[len("/_sim"):])
            else:
                self._route_docker(method, path)
        except HTTPError as exc:
            self._error(exc.status, exc.message, method)
        except NotFound as exc:
            self._error(404, str(exc), method)
        except Conflict as exc:
            self._error(409, str(exc), method)
        except BadRequest as exc:
            self._error(400, str(exc), method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # the engine answers 500 as dockerd does, and keeps serving
            log.exception("internal error on %s %s", method, self.path)
            self._error(500, f"{type(exc).__name__}: {exc}", method)
        if self.hijacked:
            self.close_connection = True

    def _common_headers(self) -> None:
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")

    def _send(self, status: int, body: bytes = b"", content_type: str | None = "application/json",
              headers: dict[str, str] | None = None, head_only: bool = False) -> None:
        if not self.body.done:
            try:
                self.body.drain()
            except (ConnectionError, ValueError):
                self.close_connection = True
        self.send_response(status)
        self._common_headers()
        if content_type and (body or status not in (204, 304)):
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head_only:
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, head_only: bool = False) -> None:
        self._send(status, (json.dumps(obj, default=str) + "\n").encode(), head_only=head_only)

    def _error(self, status: int, message: str, method: str) -> None:
        if self.hijacked:
            return
        try:
            self._json(status, {"message": message}, head_only=method == "HEAD")
        except OSError:
            self.close_connection = True

    def _read_json(self) -> Any:
        raw = self.body.read_all()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"invalid JSON: {exc}") from None

    def _flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("1", "true", "yes")

    # --- Docker API ---------------------------------------------------------------------------

    def _route_docker(self, method: str, path: str) -> None:
        m = _VERSION_PREFIX.match(path)
        self.api_version = API_VERSION
        if m:
            version = (int(m.group(1)), int(m.group(2)))
            path = m.group(3)
            shown = f"{m.group(1)}.{m.group(2)}"
            if version > _vtuple(API_VERSION):
                raise BadRequest(f"client version {shown} is too new. Maximum supported API version is {API_VERSION}")
            if version < _vtuple(MIN_API_VERSION):
                raise BadRequest(
                    f"client version {shown} is too old. Minimum supported API version is {MIN_API_VERSION}, "
                    "please upgrade your client to a newer version"
                )
            self.api_version = shown
        parts = [p for p in path.split("/") if p]
        route = (method, *parts)
        if parts == ["_ping"] and method in ("GET", "HEAD"):
            return self._ping(method)
        if route == ("GET", "version"):
            return self._json(200, self._version())
        if route == ("GET", "info"):
            return self._json(200, self._info())
        if route == ("GET", "containers", "json"):
            return self._json(200, self._list_containers())
        if len(parts) == 3 and parts[0] == "containers":
            ref, action = parts[1], parts[2]
            if (method, action) == ("GET", "json"):
                return self._json(200, self.engine.container(ref).inspect())
            if (method, action) == ("POST", "exec"):
                return self._exec_create(ref)
            if action == "archive" and method in ("GET", "HEAD", "PUT"):
                return self._archive(method, ref)
        if len(parts) == 3 and parts[0] == "exec":
            exec_id, action = parts[1], parts[2]
            if (method, action) == ("POST", "start"):
                return self._exec_start(exec_id)
            if (method, action) == ("GET", "json"):
                return self._json(200, self.engine.execs.get(exec_id).inspect())
            if (method, action) == ("POST", "resize"):
                self.engine.execs.get(exec_id)
                return self._send(200, b"", content_type=None)
        raise HTTPError(404, "page not found")

    def _ping(self, method: str) -> None:
        self._send(
            200,
            b"OK",
            content_type="text/plain; charset=utf-8",
            headers={"Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate",
                     "Pragma": "no-cache"},
            head_only=method == "HEAD",
        )

    def _version(self) -> dict[str, Any]:
        return {
            "Platform": {"Name": "iris-ops simulated engine"},
            "Components": [{"Name": "Engine", "Version": ENGINE_VERSION,
                            "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                        "Os": "linux", "Arch": "amd64", "Experimental": "false"}}],
            "Version": ENGINE_VERSION,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "iris-ops",
            "GoVersion": "none",
            "Os": "linux",
            "Arch": "amd64",
            "KernelVersion": os.uname().release,
            "BuildTime": "2025-01-01T00:00:00.000000000+00:00",
        }

    def _info(self) -> dict[str, Any]:
        containers = self.engine.containers.all()
        running = sum(1 for c in containers if c.running)
        return {
            "ID": "SIM", "Containers": len(containers), "ContainersRunning": running, "ContainersPaused": 0,
            "ContainersStopped": len(containers) - running, "Images": 1, "Driver": "sim",
            "DockerRootDir": str(self.engine.home), "OperatingSystem": "iris-ops simulated engine",
            "OSType": "linux", "Architecture": "x86_64", "NCPU": os.cpu_count() or 1, "MemTotal": 0,
            "Name": "sim", "ServerVersion": ENGINE_VERSION, "KernelVersion": os.uname().release,
            "Labels": [], "ExperimentalBuild": False, "Warnings": None,
        }

    def _list_containers(self) -> list[dict[str, Any]]:
        show_all = self._flag("all")
        filters: dict[str, Any] = {}
        if self.query.get("filters"):
            try:
                filters = json.loads(self.query["filters"])
            except json.JSONDecodeError as exc:
                raise BadRequest(f"invalid filter: {exc}") from None

        def values(key: str) -> list[str]:
            v = filters.get(key) or []
            return list(v.keys()) if isinstance(v, dict) else list(v)

        names, ids, statuses = values("name"), values("id"), values("status")
        result = []
        for container in self.engine.containers.all():
            summary = container.summary()
            if not show_all and not container.running and not statuses:
                continue
            if names and not any(re.search(n, "/" + container.name) for n in names):
                continue
            if ids and not any(container.id.startswith(i) for i in ids):
                continue
            if statuses and summary["State"] not in statuses:
                continue
            result.append(summary)
        return result

    # exec

    def _exec_create(self, ref: str) -> None:
        config = self._read_json()
        container = self.engine.container(ref)
        record = self.engine.execs.create(container, config)
        self._json(201, {"Id": record.id})

    def _exec_start(self, exec_id: str) -> None:
        options = self._read_json()
        record = self.engine.execs.get(exec_id)
        record.claim()
        tty = bool(options.get("Tty", record.tty))
        if options.get("Detach"):
            threading.Thread(target=record.run, args=(io.BytesIO(), _discard, _discard), daemon=True).start()
            return self._send(200, b"", content_type=None)
        upgrade = "Upgrade" in self.headers
        common = (f"Api-Version: {API_VERSION}\r\nDocker-Experimental: false\r\nOstype: linux\r\n"
                  f"Server: {SERVER_HEADER}\r\n")
        if upgrade:
            multiplexed = not tty and _vtuple(self.api_version) >= (1, 42)
            ctype = "application/vnd.docker.multiplexed-stream" if multiplexed else "application/vnd.docker.raw-stream"
            head = f"HTTP/1.1 101 UPGRADED\r\nContent-Type: {ctype}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        else:
            head = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
        self.hijacked = True
        self.close_connection = True
        out = StreamOut(self.connection, (head + common + "\r\n").encode("latin-1"), tty)
        stdin = SocketStdin(self.rfile) if record.attach_stdin else io.BytesIO()
        stdout = out.stdout if record.attach_stdout else _discard
        stderr = out.stderr if record.attach_stderr else _discard
        try:
            record.run(stdin, stdout, stderr)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            out.close()

    # archive

    def _archive(self, method: str, ref: str) -> None:
        container = self.engine.container(ref)
        path = self.query.get("path")
        if not path:
            raise BadRequest("path must not be empty")
        fs = container.fs
        if method == "PUT":
            if self._flag("copyUIDGID"):
                from iris_ops.testing.engine.containers import DEFAULT_USER

                chown_to = tuple(container.backend.users()[DEFAULT_USER])
            else:
                chown_to = None
            source = io.BufferedReader(self.body, buffer_size=archive.CHUNK)
            archive.extract_tar(fs, path, ref, source, chown_to)  # type: ignore[arg-type]
            return self._send(200, b"", content_type=None)
        info = archive.path_stat(fs, path, ref)
        headers = {"X-Docker-Container-Path-Stat": archive.stat_header(info)}
        if method == "HEAD":
            return self._send(200, b"", content_type="application/x-tar", headers=headers, head_only=True)
        self.send_response(200)
        self._common_headers()
        self.send_header("Content-Type", "application/x-tar")
        self.send_header("X-Docker-Container-Path-Stat", headers["X-Docker-Container-Path-Stat"])
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunked = ChunkedWriter(self.wfile)
        buffered = io.BufferedWriter(chunked, buffer_size=archive.CHUNK)
        try:
            archive.write_tar(fs, path, ref, buffered)
            buffered.flush()
            chunked.finish()
        except Exception:
            # headers are gone: all we can do is cut the stream so the client sees it broken
            self.close_connection = True
            self.hijacked = True
            raise

    # --- control API --------------------------------------------------------------------------

    def _route_control(self, method: str, path: str) -> None:
        engine = self.engine
        parts = [p for p in path.split("/") if p]
        if (method, *parts) == ("POST", "shutdown"):
            self._json(200, {"stopping": True})
            engine.request_shutdown()
            return
        if (method, *parts) == ("GET", "ping"):
            return self._json(200, {"ok": True, "pid": os.getpid(), "home": str(engine.home)})
        if parts[:1] != ["containers"]:
            raise HTTPError(404, "page not found")
        if len(parts) == 1:
            if method == "GET":
                return self._json(200, [_container_view(c) for c in engine.containers.all()])
            if method == "POST":
                spec = self._read_json()
                container = engine.add_container(spec.get("name", "iris"), spec.get("instance", "IRIS"))
                return self._json(201, _container_view(container))
        if len(parts) < 2:
            raise HTTPError(404, "page not found")
        name = parts[1]
        if len(parts) == 2:
            if method == "GET":
                return self._json(200, _container_view(engine.container(name)))
            if method == "DELETE":
                engine.remove_container(name)
                return self._send(204, b"", content_type=None)
        action = parts[2] if len(parts) > 2 else ""
        if method == "POST" and action in ("stop", "start") and len(parts) == 3:
            container = engine.stop_container(name) if action == "stop" else engine.start_container(name)
            return self._json(200, _container_view(container))
        if method == "POST" and len(parts) == 3:
            spec = self._read_json()
            container = engine.container(name)
            return self._control_action(container, action, spec)
        if method == "DELETE" and action == "writers" and len(parts) == 4:
            with engine._writers_lock:
                entry = engine.writers.pop(parts[3], None)
            if entry is None or entry[0] != engine.container(name).name:
                raise NotFound(f"No such writer: {parts[3]}")
            writer = entry[1]
            writer.stop()
            return self._json(200, {"id": parts[3], "updates": getattr(writer, "updates", None)})
        raise HTTPError(404, "page not found")

    def _control_action(self, container: Container, action: str, spec: dict[str, Any]) -> None:
        instance = container.instance
        try:
            if action == "sql":
                result = instance.sql(spec.get("namespace", "USER"), spec["statement"])
                return self._json(200, {"columns": list(result.columns), "rows": [list(r) for r in result.rows],
                                        "rowcount": result.rowcount})
            if action == "writers":
                writer = instance.start_writer(spec["namespace"], spec["table"], spec["column"],
                                               interval=float(spec.get("interval", 0.01)))
                wid = f"w{int(time.time() * 1000) % 10**9}-{id(writer) % 10**6}"
                with self.engine._writers_lock:
                    self.engine.writers[wid] = (container.name, writer)
                return self._json(201, {"id": wid})
            if action == "integrity":
                return self._json(200, {"problems": list(instance.check_integrity(spec["directory"]))})
            if action == "namespaces":
                instance.create_namespace(spec["name"], spec["globals_db"], spec.get("routines_db"))
                return self._json(201, {"name": spec["name"]})
            if action == "databases":
                created = instance.create_database(spec["name"], spec.get("directory"), spec.get("size_mb", 1))
                return self._json(201, {"name": spec["name"], "result": created})
        except KeyError as exc:
            raise BadRequest(f"missing field {exc}") from None
        except (NotFound, Conflict, BadRequest, HTTPError):
            raise
        except Exception as exc:
            raise HTTPError(422, f"{type(exc).__name__}: {exc}") from None
        raise HTTPError(404, "page not found")


def _discard(data: bytes) -> None:
    pass


def _container_view(container: Container) -> dict[str, Any]:
    return {**container.config, "dir": str(container.dir)}


def main_log_to_stderr(verbose: bool) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
