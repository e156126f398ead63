"""The local transport's open session: ``iris session`` as a child process with pipes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time

from iris_ops import redact
from iris_ops.errors import DeadlineExceeded, UnreachableError
from iris_ops.transports.base import OpenSession, Target
from iris_ops.transports.waits import readable

__all__ = ["LocalSession", "read_pipe", "PipeExchange"]


def read_pipe(fd: int, deadline: float, settle: float | None = None):
    """The next output on the pipe ``fd``: bytes, None at its end, or ``login.QUIET`` when
    ``settle`` seconds passed without any (the exchange :func:`iris_ops.transports.login.converse` reads)."""
    from iris_ops.transports.login import QUIET

    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("iris session did not answer in time")
    if not readable(fd, left if settle is None else min(settle, left)):
        if settle is not None and settle < left:
            return QUIET
        raise DeadlineExceeded("iris session did not answer in time")
    return os.read(fd, 65536) or None


class PipeExchange:
    """A child's stdin and stdout as :func:`iris_ops.transports.login.converse` sees them."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.output = bytearray()
        self.ended = False

    def send(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.ended = True

    def read(self, deadline: float, settle: float | None = None):
        chunk = read_pipe(self.proc.stdout.fileno(), deadline, settle)
        if isinstance(chunk, bytes):
            self.output += chunk
        self.ended = self.ended or chunk is None
        return chunk


class LocalSession(OpenSession):
    """``iris session`` as a child process with pipes.  It runs in a session of its own, so a
    Ctrl-C at the terminal reaches iris-ops (which cleans up, then closes this) and not the
    child; if iris-ops dies, the pipe closes and the child reads the end of its input."""

    def __init__(self, target: Target, namespace: str) -> None:
        try:
            self.proc = subprocess.Popen(
                [target.iris_command, "session", target.instance, "-U", namespace],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                env=redact.child_environment(),
            )
        except FileNotFoundError:
            raise UnreachableError(
                f"the `{target.iris_command}` command was not found on this host",
                fix="Install IRIS here, run iris-ops inside the container, or set iris_command / use --transport docker.",
            ) from None
        self.pipe = PipeExchange(self.proc)

    @property
    def output(self) -> bytearray:
        return self.pipe.output

    def _send(self, data: bytes) -> None:
        self.pipe.send(data)

    def read(self, deadline: float, settle: float | None = None):
        return None if self.pipe.ended else self.pipe.read(deadline, settle)

    def close_input(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def read_until(self, markers: tuple[bytes, ...], deadline: float) -> bytes:
        while not self.pipe.ended and not any(m in self.pipe.output for m in markers):
            self.pipe.read(deadline)
        return bytes(self.pipe.output)

    def close(self, deadline: float) -> int | None:
        self.close_input()
        with contextlib.suppress(DeadlineExceeded):
            self.read_until((), deadline)
        try:
            return self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return None
        finally:
            with contextlib.suppress(OSError):
                self.proc.stdout.close()
