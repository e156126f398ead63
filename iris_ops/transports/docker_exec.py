"""Client-side Docker primitives: connecting, exec with stdin, and error mapping.

Everything here talks to the engine through the low-level :class:`docker.APIClient`; the docker
transport plugin (:mod:`iris_ops.transports.docker`) builds on it.  ``docker`` is imported
inside the functions, never at module level: importing iris_ops must stay cheap.

Why not ``container.exec_run``: it takes no stdin, returns no exit code when streaming, and loses
output (docker-py #3332/#2042, fix PR #3438 still open).  Exec start is an HTTP upgrade; the
engine's first output frames often arrive in the same ``recv()`` as the ``101`` response, and
``http.client`` parks them in the response's buffered reader while docker-py reads the raw socket
afterwards.  ``iris session`` prints its banner at once, so this bites every script.  Here frames
are read through that buffered reader, so nothing that arrived with the headers is lost.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from iris_ops import errors

if TYPE_CHECKING:  # pragma: no cover
    import docker

__all__ = [
    "ExecResult", "connect", "exec_command", "supports_stdin_half_close", "remaining", "translate_errors",
    "no_iris_command",
]

_FRAME_HEADER = struct.Struct(">BxxxL")
_STDOUT, _STDERR = 1, 2
#: How long exec_inspect may keep saying "Running" after the stream ended (the engine records the
#: exit status a moment after closing the stream); bounded by the deadline as well.
_EXIT_CODE_POLL = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
_TAIL = 2000

ENGINE_FIX = (
    "Start Docker (or `iris-ops sim up` for the simulator), or point DOCKER_HOST at a running "
    "engine (e.g. unix:///var/run/docker.sock); `docker version` shows whether the engine answers."
)


@dataclass(frozen=True)
class ExecResult:
    """Outcome of :func:`exec_command`."""

    exit_code: int
    stdout: bytes
    stderr: bytes


def remaining(deadline: float, what: str) -> float:
    """Seconds left before ``deadline`` (a :func:`time.monotonic` value); raise
    :class:`errors.DeadlineExceeded` naming ``what`` when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise errors.DeadlineExceeded(f"{what}: deadline exceeded")
    return left


# --------------------------------------------------------------------------------------------
# connecting and error mapping


def _engine_unreachable(where: str | None, exc: BaseException) -> errors.UnreachableError:
    address = where or _default_address()
    return errors.UnreachableError(
        f"cannot reach the Docker engine at {address}: {_reason(exc)}",
        fix=f"Nothing answered at {address}. " + ENGINE_FIX,
        details={"cause": repr(exc), "address": address},
    )


def _address(api) -> str | None:
    """The engine address a client talks to: docker-py shows ``http+docker://localhost`` for a
    unix socket, so take the socket's path from its adapter."""
    socket_path = getattr(getattr(api, "_custom_adapter", None), "socket_path", None)
    if socket_path:
        return "unix://" + socket_path
    return getattr(api, "base_url", None)


def _default_address() -> str:
    """The address docker-py uses when none is configured: DOCKER_HOST, else its default socket."""
    import os

    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock (the default; DOCKER_HOST is not set)"


def _reason(exc: BaseException) -> str:
    # requests wraps urllib3 wraps the OSError: the innermost message says what happened
    seen = exc
    for _ in range(8):
        reason = getattr(seen, "reason", None)
        nested = [a for a in getattr(seen, "args", ()) if isinstance(a, BaseException)]
        inner = reason if isinstance(reason, BaseException) else (nested[-1] if nested else seen.__cause__)
        if inner is None or inner is seen:
            break
        seen = inner
    return str(seen) or type(seen).__name__


def connect(docker_host: str | None = None, timeout: float = 60.0) -> "docker.APIClient":
    """A low-level client for ``docker_host`` (``unix://…``, ``tcp://…``, ``ssh://…``), or for
    the environment (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``, the active CLI context) when None.

    ``timeout`` bounds each request's connect and each socket read.  The engine is asked for its
    API version here, so an unreachable engine fails now, as :class:`errors.UnreachableError`.
    """
    import docker
    import requests

    try:
        if docker_host:
            return docker.APIClient(base_url=docker_host, timeout=timeout)
        return docker.from_env(timeout=timeout).api
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise _engine_unreachable(docker_host, exc) from exc


def _container_missing(container: str) -> errors.UnreachableError:
    return errors.UnreachableError(
        f"container '{container}' not found",
        fix=(
            "List running containers with `docker ps` and pass the right name with --container "
            "(or set IRIS_OPS_CONTAINER)."
        ),
    )


#: The runtime's answer when a command does not exist in the container: runc's `exec: "iris":
#: executable file not found in $PATH` (for a path: `stat /x/iris: no such file or directory`),
#: crun's "executable file `iris` not found in $PATH".
_NO_COMMAND = re.compile(r"executable file\b[^\n]*\bnot found|\bexec: [^\n]*: no such file or directory", re.I)


def no_iris_command(container: str, output: bytes) -> errors.UnreachableError | None:
    """The error for an ``iris`` exec that the runtime could not start because the container has
    no such command (its answer is in ``output``), else None.  Exit 6, as for a missing
    instance: the container answers, but there is no IRIS in it to reach."""
    text = output.decode("utf-8", "replace")
    if "iris" not in text or not _NO_COMMAND.search(text):
        return None
    return errors.UnreachableError(
        f"container '{container}' has no `iris` command: is it an IRIS container?",
        fix="Point --container (IRIS_OPS_CONTAINER, or `container` in iris-ops.toml) at the container that runs "
        "IRIS; `docker ps --format '{{.Names}}  {{.Image}}'` lists each container with its image.",
        details={"output_tail": text[-_TAIL:].strip()},
    )


def _conflict(container: str, explanation: str) -> errors.UnreachableError:
    text = explanation.lower()
    if "paused" in text:
        return errors.UnreachableError(
            f"container '{container}' is paused", fix=f"Unpause it: `docker unpause {container}`."
        )
    if "restarting" in text:
        return errors.UnreachableError(
            f"container '{container}' is restarting",
            fix=f"Wait until `docker ps` shows it up, and look at `docker logs {container}` if it keeps restarting.",
        )
    return errors.UnreachableError(
        f"container '{container}' is not running",
        fix=f"Start it: `docker start {container}` (and wait until IRIS is up).",
        details={"engine_message": explanation},
    )


@contextlib.contextmanager
def translate_errors(api: "docker.APIClient", container: str, what: str) -> Iterator[None]:
    """Turn docker/requests failures inside the block into iris-ops errors.

    404 means the container is missing (callers that can get a 404 for a *path* catch
    ``docker.errors.NotFound`` themselves, inside the block); 409 means it is not running.
    """
    import docker
    import requests

    try:
        yield
    except errors.IrisOpsError:
        raise
    except docker.errors.NotFound as exc:
        raise _container_missing(container) from exc
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            raise _conflict(container, str(exc.explanation or exc)) from exc
        if "no space left on device" in str(exc.explanation or exc).lower():
            # The engine reached the container; its filesystem is full: the instance's side failed.
            raise errors.InstanceError(
                f"{what}: the container's disk is full ({exc.explanation or exc})",
                fix=f"Free space in the instance's filesystem (`docker exec {container} df -h`), then retry.",
            ) from exc
        raise errors.UnreachableError(
            f"{what}: the Docker engine answered {exc.status_code}: {exc.explanation or exc}",
            fix=f"Read the engine's message; `docker ps` and `docker logs {container}` show the container's state.",
        ) from exc
    except requests.exceptions.Timeout as exc:
        raise errors.DeadlineExceeded(
            f"{what}: the Docker engine did not answer in time ({_reason(exc)})"
        ) from exc
    except (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError) as exc:
        raise _engine_unreachable(_address(api), exc) from exc
    except docker.errors.DockerException as exc:
        raise _engine_unreachable(_address(api), exc) from exc


# --------------------------------------------------------------------------------------------
# exec


def supports_stdin_half_close(api: "docker.APIClient") -> bool:
    """Whether :func:`exec_command` can signal end of stdin on this transport.

    True for ``unix://`` and plain ``tcp://``/``http://`` engines (a real TCP/unix half-close).
    False for TLS (closing the write side of a TLS socket in Python tears the TLS session down;
    writing only the TCP FIN without close_notify is what we do, and engines are known to
    differ on it: docker-py #1507, moby #36516, unverified here), ssh and Windows named pipes
    (docker-py #983, #1752).  Where it is False, upload the script with ``put_archive`` and run
    ``sh -c 'iris session IRIS -U %SYS < /path'`` instead of feeding stdin.
    """
    # docker-py spells unix sockets "http+docker://localhost" and tcp "http://host:port"
    return str(getattr(api, "base_url", "")).startswith(("http+docker://localhost", "http://"))


def _raw_socket(sock):
    """The object with ``sendall``/``shutdown``/``settimeout`` behind what exec_start returned."""
    # unix and tcp: a SocketIO around the socket; TLS: the SSLSocket; ssh: a paramiko channel
    return getattr(sock, "_sock", sock)


def _half_close(raw) -> None:
    import ssl

    if isinstance(raw, ssl.SSLSocket):
        # SSLSocket.shutdown drops the TLS state and with it our read side: send a bare FIN
        socket.socket.shutdown(raw, socket.SHUT_WR)
    elif hasattr(raw, "shutdown_write"):  # paramiko channel
        raw.shutdown_write()
    else:
        raw.shutdown(socket.SHUT_WR)


class _StdinFeeder(threading.Thread):
    """Writes stdin and half-closes, while the caller reads output: a process that answers
    while still reading (``iris session`` prints a prompt per line) would otherwise fill both
    socket buffers and deadlock against a client that has not started reading yet."""

    def __init__(self, raw, data: bytes) -> None:
        super().__init__(name="iris-ops-exec-stdin", daemon=True)
        self.raw = raw
        self.data = data
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            if self.data:
                self.raw.sendall(self.data)
        except (BrokenPipeError, ConnectionResetError):
            # The process ended without reading all of its input; its output and exit code
            # say what happened, and the reader reports a broken stream if there is one.
            return
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
            self.error = exc
            return
        try:
            _half_close(self.raw)
        except OSError as exc:
            self.error = exc


class _FrameReader:
    """Reads multiplexed exec frames from the response's buffered reader, under a deadline."""

    def __init__(self, reader, raw, deadline: float, what: str) -> None:
        self.reader = reader
        self.raw = raw
        self.deadline = deadline
        self.what = what

    def _read(self, n: int, at_boundary: bool) -> bytes:
        parts: list[bytes] = []
        got = 0
        while got < n:
            self.raw.settimeout(remaining(self.deadline, self.what))
            try:
                piece = self.reader.read1(n - got)
            except (TimeoutError, socket.timeout):
                raise errors.DeadlineExceeded(f"{self.what}: deadline exceeded") from None
            if not piece:
                if at_boundary and got == 0:
                    return b""
                raise errors.UnreachableError(
                    f"{self.what}: the output stream ended inside a frame ({got} of {n} bytes)",
                    fix="The Docker engine closed the connection mid-stream; check `docker ps` and retry.",
                )
            parts.append(piece)
            got += len(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def quiet(self, seconds: float) -> bool:
        """Whether no output arrives for ``seconds``.  Neither waits on the buffered reader with a
        timeout (a socket file that timed out cannot be read again): a non-blocking peek finds
        what is buffered already, then ``select`` waits on the socket."""
        try:
            self.raw.settimeout(0.0)
            if self.reader.peek(1) or getattr(self.raw, "pending", lambda: 0)():
                return False
        except OSError:
            return False  # the next read says what happened
        finally:
            self.raw.settimeout(remaining(self.deadline, self.what))
        ready, _, _ = select.select([self.raw], [], [], max(0.0, min(seconds, self.deadline - time.monotonic())))
        return not ready

    def frames(self) -> Iterator[tuple[int, bytes]]:
        while True:
            header = self._read(8, at_boundary=True)
            if not header:
                return
            stream, length = _FRAME_HEADER.unpack(header)
            yield stream, (self._read(length, at_boundary=False) if length else b"")


class _Exchange:
    """The exec as :func:`iris_ops.transports.login.converse` sees it (stdout only; stderr kept)."""

    def __init__(self, raw, frames: _FrameReader, out: list[bytes], err: list[bytes]) -> None:
        self.raw, self.frames, self.out, self.err = raw, frames, out, err
        self.ended = False
        self._iter = frames.frames()

    def send(self, data: bytes) -> None:
        try:
            self.raw.settimeout(remaining(self.frames.deadline, self.frames.what))
            self.raw.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.ended = True  # the process ended; its output says why

    def read(self, deadline: float, settle: float | None = None):
        from iris_ops.transports.login import QUIET

        while True:
            if settle is not None and self.frames.quiet(settle):
                return QUIET
            frame = next(self._iter, None)
            if frame is None:
                self.ended = True
                return None
            stream, payload = frame
            (self.err if stream == _STDERR else self.out).append(payload)
            if stream != _STDERR:
                return payload


def _buffered_reader(sock):
    """The response's buffered reader: where output that arrived with the 101 headers waits."""
    response = getattr(sock, "_response", None)
    reader = None
    with contextlib.suppress(AttributeError):
        reader = response.raw._fp.fp
    if reader is None or not hasattr(reader, "read1"):
        raise errors.InternalError(
            "cannot find the buffered reader of the exec stream (docker SDK internals changed?)",
            details={"socket": repr(sock)},
        )
    return response, reader


def exec_command(
    api: "docker.APIClient",
    container: str,
    argv: list[str],
    *,
    stdin: bytes | None = None,
    user: str | None = None,
    deadline: float,
    converse=None,
) -> ExecResult:
    """Run ``argv`` in ``container`` (no shell, no TTY) and return its exit code and output.

    ``stdin`` (when not None) is written to the process and then the write side is half-closed,
    so the process sees end of input (``iris session`` ends on EOF as well as on ``Halt``).
    ``user`` defaults to the container's user (``irisowner`` in IRIS images); pass ``"root"``
    for file ownership work.  ``deadline`` is a :func:`time.monotonic` value bounding the whole
    call, socket reads included; past it :class:`errors.DeadlineExceeded` is raised (the SDK
    has no exec timeout, docker-py #2651).  Docker cannot kill an exec'd process: after a
    deadline it may still be running inside the container.

    ``converse`` (for ``iris session``): called first with an exchange (``send``, ``read``) and
    the deadline, it answers a login (:func:`iris_ops.transports.login.converse`) and returns
    whether ``stdin`` may be sent; when not, the process gets only the end of its input.

    Works on ``unix://`` and ``tcp://`` engines.  On TLS, ssh and named-pipe transports the
    stdin half-close is unreliable (see :func:`supports_stdin_half_close`): there, pass no stdin
    and upload the script instead.
    """
    if isinstance(stdin, str):
        raise TypeError("stdin must be bytes")
    started = time.monotonic()
    what = f"`{' '.join(argv[:2])}` in container '{container}'"
    remaining(deadline, what)

    with translate_errors(api, container, what):
        exec_id = api.exec_create(
            container, argv, stdout=True, stderr=True, stdin=stdin is not None, tty=False, user=user or ""
        )["Id"]
        remaining(deadline, what)
        sock = api.exec_start(exec_id, socket=True)

    response, reader = _buffered_reader(sock)
    raw = _raw_socket(sock)
    feeder = None
    out: list[bytes] = []
    err: list[bytes] = []
    try:
        frames = _FrameReader(reader, raw, deadline, what)
        try:
            ended = False
            if converse is not None:
                exchange = _Exchange(raw, frames, out, err)
                if not converse(exchange, deadline):
                    stdin = b""
                ended = exchange.ended
            if stdin is not None and not ended:
                raw.settimeout(remaining(deadline, what))
                feeder = _StdinFeeder(raw, stdin)
                feeder.start()
            for stream, payload in ([] if ended else frames.frames()):
                (err if stream == _STDERR else out).append(payload)
        except errors.DeadlineExceeded as exc:
            elapsed = time.monotonic() - started
            stdout_tail = b"".join(out)[-_TAIL:].decode("utf-8", "replace")
            raise errors.DeadlineExceeded(
                f"{what} did not finish within {elapsed:.1f} s; it may still be running in the container",
                details={"stdout_tail": stdout_tail, "stderr_tail": b"".join(err)[-_TAIL:].decode("utf-8", "replace")},
            ) from exc
        except OSError as exc:
            raise _engine_unreachable(_address(api), exc) from exc
        if feeder is not None:
            feeder.join(max(0.0, deadline - time.monotonic()))
            if feeder.error is not None:
                raise errors.UnreachableError(
                    f"{what}: writing stdin failed: {feeder.error}",
                    fix="The Docker engine dropped the connection; check `docker ps` and retry.",
                ) from feeder.error
    finally:
        with contextlib.suppress(Exception):
            sock.close()
        with contextlib.suppress(Exception):
            response.close()
        with contextlib.suppress(Exception):
            raw.close()

    exit_code = _exit_code(api, container, exec_id, deadline, what)
    if exit_code != 0:
        _raise_if_stopped(api, container, exit_code)
    return ExecResult(exit_code=exit_code, stdout=b"".join(out), stderr=b"".join(err))


#: How long to look for a container's stop after a command ended by a signal (status 128+n) or
#: refused by the runtime (126): the engine records the container's exit a moment after the exec's.
_STOP_POLLS = (0.0, 0.05, 0.1, 0.2, 0.4)


def _raise_if_stopped(api, container: str, exit_code: int) -> None:
    """A command that failed because its container stopped (killed, or stopped while it ran, or
    just before it started: the runtime then answers exit status 126, "cannot exec in a stopped
    container") is the container being unreachable, not the command failing: raise that.  A
    failure in a container that still runs is the command's own: return."""
    import docker

    for delay in _STOP_POLLS if exit_code >= 126 else (0.0,):
        time.sleep(delay)
        try:
            state = (api.inspect_container(container).get("State") or {})
        except docker.errors.NotFound:
            raise _container_missing(container) from None
        except Exception:  # noqa: BLE001 - no answer about the state: the command's failure stands
            return
        if state.get("Running") is False or state.get("Paused") or state.get("Restarting"):
            raise _conflict(container, str(state.get("Status") or "not running"))


def _exit_code(api, container: str, exec_id: str, deadline: float, what: str) -> int:
    delays = iter(_EXIT_CODE_POLL)
    while True:
        with translate_errors(api, container, what):
            info = api.exec_inspect(exec_id)
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        delay = next(delays, _EXIT_CODE_POLL[-1])
        if time.monotonic() + delay > deadline:
            raise errors.DeadlineExceeded(f"{what}: output ended but the engine reports no exit code yet")
        time.sleep(delay)
