"""A long-lived ``iris session`` over SSH: a channel whose stdin stays open.

When iris-ops dies, even by ``kill -9``, its connection ends, the host's sshd closes the
session's stdin, and the session reads the end of its input and exits: whatever it held in the
instance (a LOCK) is released with it.  One that does not exit by the deadline :meth:`close`
gives it is ended by its pid (:meth:`iris_ops.transports.ssh_exec.RemoteProcess.end`).
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from iris_ops import errors
from iris_ops.transports.base import OpenSession
from iris_ops.transports.ssh_exec import RemoteProcess

if TYPE_CHECKING:  # pragma: no cover
    from iris_ops.transports.base import Target

__all__ = ["SshSession"]


class SshSession(OpenSession):
    def __init__(self, target: Target, argv: list[str], *, deadline: float, what: str, user: str | None,
                 on_end) -> None:
        self.what = what
        self.proc = RemoteProcess(target, argv, deadline=deadline, what=what, user=user, stdin=True)
        #: called with the process once the session's output ended: raises what an end that
        #: came too early means (the ssh plugin's check: it never started, no `iris` there)
        self._on_end = on_end

    @property
    def output(self) -> bytearray:
        return self.proc.output

    def _send(self, data: bytes) -> None:
        self.proc.send(data)

    def read(self, deadline: float, settle: float | None = None):
        return self.proc.read(deadline, settle)

    def close_input(self) -> None:
        self.proc.close_input()

    def read_until(self, markers: tuple[bytes, ...], deadline: float) -> bytes:
        while not any(m in self.proc.output for m in markers):
            if self.proc.read(deadline) is None:
                self._on_end(self.proc, deadline)
                break
        return bytes(self.proc.output)

    def close(self, deadline: float) -> int | None:
        try:
            self.close_input()
            with contextlib.suppress(errors.IrisOpsError):
                self.proc.drain(deadline)
            if not self.proc.ended:
                self.proc.end()  # past the deadline its input's end did not stop it: the host does
                return None
            try:
                return self.proc.exit_status(max(deadline, time.monotonic() + 1))
            except errors.IrisOpsError:
                return None
        finally:
            self.proc.close()
