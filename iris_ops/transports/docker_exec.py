"""Client-side Docker primitives: connecting, and exec with stdin, output and exit code.

Everything here talks to the engine through the low-level :class:`docker.APIClient`; the docker
transport plugin (:mod:`iris_ops.transports.docker`) builds on it.  ``docker`` is imported
inside the functions, never at module level: importing iris_ops must stay cheap.

Why not ``container.exec_run``: it takes no stdin, returns no exit code when streaming, and loses
output (docker-py #3332/#2042, fix PR #3438 still open).  Exec start is an HTTP upgrade; the
engine's first output frames often arrive in the same ``recv()`` as the ``101`` response, and
``http.client`` parks them in the response's buffered reader while docker-py reads the raw socket
afterwards.  ``iris session`` prints its banner at once, so this bites every script.  Here frames
are read through that buffered reader (:mod:`iris_ops.transports.exec_stream`), so nothing that
arrived with the headers is lost.  The engine's failures become iris-ops errors in
:mod:`iris_ops.transports.docker_errors`.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from typing import TYPE_CHECKING

from iris_ops import errors
from iris_ops.transports.base import ExecResult  # what exec_command returns, as every transport does
from iris_ops.transports.docker_errors import (
    container_missing,
    container_not_running,
    engine_address,
    engine_unreachable,
    translate_errors,
)
from iris_ops.transports.exec_stream import (
    STDERR,
    FrameReader,
    buffered_reader,
    exec_exit_code,
    half_close,
    raw_socket,
    remaining,
)

if TYPE_CHECKING:  # pragma: no cover
    import docker

__all__ = ["ExecResult", "connect", "exec_command", "supports_stdin_half_close", "no_iris_command"]

_TAIL = 2000


# --------------------------------------------------------------------------------------------
# connecting


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
        raise engine_unreachable(docker_host, exc) from exc


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
            half_close(self.raw)
        except OSError as exc:
            self.error = exc


class _Exchange:
    """The exec as :func:`iris_ops.transports.login.converse` sees it (stdout only; stderr kept)."""

    def __init__(self, raw, frames: FrameReader, out: list[bytes], err: list[bytes]) -> None:
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
            (self.err if stream == STDERR else self.out).append(payload)
            if stream != STDERR:
                return payload


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

    # From here the connection is closed whatever stops this (a signal included): its end is the
    # end of the process's input, so nothing it runs waits for a client that has gone.
    response = raw = None
    feeder = None
    out: list[bytes] = []
    err: list[bytes] = []
    try:
        response, reader = buffered_reader(sock)
        raw = raw_socket(sock)
        frames = FrameReader(reader, raw, deadline, what)
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
                (err if stream == STDERR else out).append(payload)
        except errors.DeadlineExceeded as exc:
            elapsed = time.monotonic() - started
            stdout_tail = b"".join(out)[-_TAIL:].decode("utf-8", "replace")
            raise errors.DeadlineExceeded(
                f"{what} did not finish within {elapsed:.1f} s; it may still be running in the container",
                details={"stdout_tail": stdout_tail, "stderr_tail": b"".join(err)[-_TAIL:].decode("utf-8", "replace")},
            ) from exc
        except OSError as exc:
            raise engine_unreachable(engine_address(api), exc) from exc
        if feeder is not None:
            feeder.join(max(0.0, deadline - time.monotonic()))
            if feeder.error is not None:
                raise errors.UnreachableError(
                    f"{what}: writing stdin failed: {feeder.error}",
                    fix="The Docker engine dropped the connection; check `docker ps` and retry.",
                ) from feeder.error
    finally:
        for part in (sock, response, raw):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close()

    exit_code = exec_exit_code(api, container, exec_id, deadline, what)
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
            raise container_missing(container) from None
        except Exception:  # noqa: BLE001 - no answer about the state: the command's failure stands
            return
        if state.get("Running") is False or state.get("Paused") or state.get("Restarting"):
            raise container_not_running(container, str(state.get("Status") or "not running"))
