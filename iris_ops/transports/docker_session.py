"""A long-lived ``iris session`` in a container: a docker exec whose stdin stays open.

The engine closes the exec's stdin when the client's connection ends ([CODE] moby
``daemon/exec.go`` attaches exec stdin with ``CloseStdin``), so when iris-ops dies, even by
``kill -9``, the session reads the end of its input and exits: whatever it held in the
instance (a LOCK) is released with it.
"""

from __future__ import annotations

import contextlib
import time

from iris_ops import errors
from iris_ops.transports.base import OpenSession
from iris_ops.transports.docker_errors import engine_address, engine_unreachable, translate_errors
from iris_ops.transports.docker_exec import no_iris_command
from iris_ops.transports.exec_stream import (
    FrameReader,
    buffered_reader,
    exec_exit_code,
    half_close,
    raw_socket,
    remaining,
)

__all__ = ["DockerSession"]


class DockerSession(OpenSession):
    def __init__(self, api, container: str, argv: list[str], deadline: float) -> None:
        self.api = api
        self.container = container
        self.what = f"`{' '.join(argv[:2])}` in container '{container}'"
        remaining(deadline, self.what)
        with translate_errors(api, container, self.what):
            self.exec_id = api.exec_create(container, argv, stdout=True, stderr=True, stdin=True, tty=False)["Id"]
            self.sock = api.exec_start(self.exec_id, socket=True)
        try:
            self.response, self.reader = buffered_reader(self.sock)
            self.raw = raw_socket(self.sock)
        except BaseException:  # no session object for the caller to close: the session ends here
            with contextlib.suppress(Exception):
                self.sock.close()
            raise
        self.output = bytearray()
        self.ended = False

    def _send(self, data: bytes) -> None:
        try:
            self.raw.settimeout(None)
            self.raw.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.ended = True  # the session is gone; its output says why
        except OSError as exc:
            raise engine_unreachable(engine_address(self.api), exc) from exc

    def read(self, deadline: float, settle: float | None = None):
        from iris_ops.transports.login import QUIET

        if self.ended:
            return None
        frames = FrameReader(self.reader, self.raw, deadline, self.what)
        try:
            if settle is not None and frames.quiet(settle):
                return QUIET
            frame = next(frames.frames(), None)
        except OSError as exc:
            raise engine_unreachable(engine_address(self.api), exc) from exc
        if frame is None:
            self.ended = True
            return None
        self.output += frame[1]
        return frame[1]

    def close_input(self) -> None:
        with contextlib.suppress(OSError):
            half_close(self.raw)

    def read_until(self, markers: tuple[bytes, ...], deadline: float) -> bytes:
        if any(m in self.output for m in markers):
            return bytes(self.output)
        if not self.ended:  # (the login may have read to the end already)
            frames = FrameReader(self.reader, self.raw, deadline, self.what).frames()
            try:
                for _stream, payload in frames:
                    self.output += payload
                    if any(m in self.output for m in markers):
                        return bytes(self.output)
            except OSError as exc:
                raise engine_unreachable(engine_address(self.api), exc) from exc
            self.ended = True
        missing = no_iris_command(self.container, bytes(self.output))
        if missing is not None:
            raise missing
        return bytes(self.output)

    def close(self, deadline: float) -> int | None:
        try:
            self.close_input()
            with contextlib.suppress(errors.IrisOpsError):
                self.read_until((), deadline)
        finally:
            for part in (self.sock, self.response, self.raw):
                with contextlib.suppress(Exception):
                    part.close()
        if not self.ended:
            return None
        try:
            return exec_exit_code(self.api, self.container, self.exec_id, max(deadline, time.monotonic() + 1), self.what)
        except errors.IrisOpsError:
            return None
