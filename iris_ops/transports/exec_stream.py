"""What every docker exec stream shares: its frames read under a deadline, its socket, its end.

A one-shot exec (:mod:`iris_ops.transports.docker_exec`) and a long-lived session
(:mod:`iris_ops.transports.docker_session`) both read the engine's multiplexed output frames
from the response's buffered reader (output that arrived with the ``101`` headers waits there:
docker_exec's docstring says why), write to the socket behind it, half-close it for end of
input, and ask the engine for the exit code once the stream ended.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from typing import Iterator

from iris_ops import errors
from iris_ops.transports.docker_errors import translate_errors
from iris_ops.transports.waits import readable

__all__ = [
    "STDOUT", "STDERR", "remaining", "FrameReader", "buffered_reader", "raw_socket", "half_close", "exec_exit_code",
]

_FRAME_HEADER = struct.Struct(">BxxxL")
#: The stream numbers of the frames' headers.
STDOUT, STDERR = 1, 2
#: How long exec_inspect may keep saying "Running" after the stream ended (the engine records the
#: exit status a moment after closing the stream); bounded by the deadline as well.
_EXIT_CODE_POLL = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
#: How long an exec may go on running after its output stream ended before iris-ops calls the
#: connection cut: the engine ends the stream when the command's output closes, which the commands
#: iris-ops runs do only by exiting, and records the exit status a moment later (milliseconds;
#: this leaves room for a loaded machine).
_CUT_AFTER = 5.0


def remaining(deadline: float, what: str) -> float:
    """Seconds left before ``deadline`` (a :func:`time.monotonic` value); raise
    :class:`errors.DeadlineExceeded` naming ``what`` when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise errors.DeadlineExceeded(f"{what}: deadline exceeded")
    return left


def raw_socket(sock):
    """The object with ``sendall``/``shutdown``/``settimeout`` behind what exec_start returned."""
    # unix and tcp: a SocketIO around the socket; TLS: the SSLSocket; ssh: a paramiko channel
    return getattr(sock, "_sock", sock)


def half_close(raw) -> None:
    """End the exec's input: shut the write side of ``raw`` (a :func:`raw_socket`), keep reading."""
    import ssl

    if isinstance(raw, ssl.SSLSocket):
        # SSLSocket.shutdown drops the TLS state and with it our read side: send a bare FIN
        socket.socket.shutdown(raw, socket.SHUT_WR)
    elif hasattr(raw, "shutdown_write"):  # paramiko channel
        raw.shutdown_write()
    else:
        raw.shutdown(socket.SHUT_WR)


def buffered_reader(sock):
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


class FrameReader:
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
            # waited for in slices (iris_ops.transports.waits): a signal meanwhile is handled at once
            if self.quiet(remaining(self.deadline, self.what)):
                raise errors.DeadlineExceeded(f"{self.what}: deadline exceeded")
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
        return not readable(self.raw, max(0.0, min(seconds, self.deadline - time.monotonic())))

    def frames(self) -> Iterator[tuple[int, bytes]]:
        """(stream, payload) per frame (``STDOUT`` or ``STDERR``), until the stream ends."""
        while True:
            header = self._read(8, at_boundary=True)
            if not header:
                return
            stream, length = _FRAME_HEADER.unpack(header)
            yield stream, (self._read(length, at_boundary=False) if length else b"")


def exec_exit_code(api, container: str, exec_id: str, deadline: float, what: str) -> int:
    """The exit code of an exec whose stream ended, as soon as the engine records it.  An exec
    still running :data:`_CUT_AFTER` seconds later lost its connection, not its output: that is
    said at once rather than after the deadline (up to freeze_limit more for a backup's copy)."""
    delays = iter(_EXIT_CODE_POLL)
    cut_after = time.monotonic() + _CUT_AFTER
    while True:
        with translate_errors(api, container, what):
            info = api.exec_inspect(exec_id)
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        delay = next(delays, _EXIT_CODE_POLL[-1])
        if info.get("Running") and time.monotonic() + delay > cut_after:
            raise errors.UnreachableError(
                f"{what}: the connection to the Docker engine ended while the command was still running; "
                "it may still be running in the container",
                fix="The connection to the engine broke (a proxy or tunnel in between, a restarted engine); check "
                "`docker ps` and retry. `iris-ops doctor` finds what a command left behind if it went on alone.",
            )
        if time.monotonic() + delay > deadline:
            raise errors.DeadlineExceeded(f"{what}: output ended but the engine reports no exit code yet")
        time.sleep(delay)
