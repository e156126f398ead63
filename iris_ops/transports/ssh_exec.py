"""Commands on an instance's host over SSH: one channel each on the target's one connection, the
command line built from argv, and the remote process ended by its pid once past its deadline.

The command line is :func:`shlex.join` of an argv, for the SSH user's login shell (a POSIX one:
sh, bash, dash, zsh); no value is ever pasted into shell text.  With ``Target.container`` the
argv runs through ``docker exec`` on the host's engine (``docker --host`` ``Target.docker_host``
when set), as ``user`` there.

Without a pty nothing signals a remote process when its channel closes: it reads the end of its
input, and a session stuck in a ``Hang`` goes on.  So every command starts as
``sh -c 'echo iris-ops-pid $$; exec "$@"'``: its first line of output is its pid (in the
container's pid namespace under ``docker exec``), and past the deadline :meth:`RemoteProcess.end`
kills that pid on the host, or inside the container.  A command whose pid line never came never
started: ``docker exec`` refused it (no such container, one that is stopped, no engine), and its
error output says why.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import threading
import time
from typing import TYPE_CHECKING, Iterator

from iris_ops import errors
from iris_ops.transports.base import ExecResult
from iris_ops.transports.ssh_connect import connection, lost
from iris_ops.transports.waits import readable

if TYPE_CHECKING:  # pragma: no cover
    from iris_ops.transports.base import Target

__all__ = [
    "PID_LINE", "KILL_GRACE", "command_line", "where", "RemoteProcess", "ending", "run", "not_started", "checked",
]

#: The first line every command prints: its pid.  Anything before it (a login shell's rc file
#: that prints) is dropped.
PID_LINE = b"iris-ops-pid "
_PROLOGUE = 'echo "iris-ops-pid $$"; exec "$@"'
#: Seconds the kill of a process past its deadline may take, whatever time the call had left.
KILL_GRACE = 10.0
_CHUNK = 1 << 20
_TAIL = 2000
#: Bytes of output before the pid line that are taken for a noisy login shell; more is no such shell.
_HEAD_LIMIT = 1 << 16


def where(target: Target) -> str:
    """Where a command runs, for messages: ``host 'h'``, or ``container 'c' on host 'h'``."""
    host = f"host {target.ssh_host!r}"
    return f"container {target.container!r} on {host}" if target.container else host


def command_line(target: Target, argv: list[str], *, user: str | None = None, stdin: bool = False) -> str:
    """The shell line that runs ``argv`` on the host (or in its container), pid line first."""
    line = ["sh", "-c", _PROLOGUE, "sh", *argv]
    if target.container:
        engine = [f"--host={target.docker_host}"] if target.docker_host else []
        line = ["docker", *engine, "exec", *(["-i"] if stdin else []), *(["-u", user] if user else []),
                target.container, *line]
    return shlex.join(line)


class RemoteProcess:
    """One command on a channel of its own: stdin, stdout (as it comes) and stderr, its pid, its
    exit status.  ``read`` and ``send`` make it the exchange :func:`iris_ops.transports.login.converse`
    reads."""

    def __init__(self, target: Target, argv: list[str], *, deadline: float, what: str, user: str | None = None,
                 stdin: bool = False) -> None:
        self.started = time.monotonic()
        self.target = target
        self.what = what
        self.user = user
        self.pid: int | None = None
        self.output = bytearray()  # stdout after the pid line
        #: False for a file's bytes, which go elsewhere: memory stays bounded
        self.keep_output = True
        self.stderr = bytearray()
        self.ended = False  # stdout reached its end
        self.input_gone = False  # its stdin cannot take more
        self._head = bytearray()
        conn = connection(target, deadline)
        try:
            self.channel = conn.transport.open_session(timeout=_left(deadline, what))
        except Exception as exc:  # noqa: BLE001 - Paramiko's and the socket's
            raise _failed(target, what, exc) from exc
        try:
            self.channel.exec_command(command_line(target, argv, user=user, stdin=stdin))
        except BaseException as exc:
            self.channel.close()
            if isinstance(exc, Exception):
                raise _failed(target, what, exc) from exc
            raise

    # -- the exchange ---------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        try:
            self.channel.sendall(data)
        except socket.timeout:
            raise errors.DeadlineExceeded(f"{self.what}: the host took no more input before the deadline") from None
        except OSError:
            self.input_gone = True  # it ended, or its channel did; its output says why

    def read(self, deadline: float, settle: float | None = None):
        """The next output (bytes after the pid line), None at its end, or ``login.QUIET`` when
        ``settle`` seconds passed without any.  Error output is kept in :attr:`stderr`."""
        from iris_ops.transports.login import QUIET

        while not self.ended:
            left = _left(deadline, self.what)
            if not readable(self.channel, left if settle is None else min(settle, left)):
                if settle is not None and settle < left:
                    return QUIET
                raise errors.DeadlineExceeded(f"{self.what}: deadline exceeded")
            while self.channel.recv_stderr_ready():
                self.stderr += self.channel.recv_stderr(_CHUNK)
            if self.channel.recv_ready():
                piece = self._past_pid(self.channel.recv(_CHUNK))
                if piece:
                    if self.keep_output:
                        self.output += piece
                    return piece
            elif self.channel.eof_received or self.channel.closed:
                self.ended = True
                self.output += self._head  # a command that never started: what it said, if anything
        return None

    def _past_pid(self, data: bytes) -> bytes:
        if self.pid is not None:
            return data
        self._head += data
        at = self._head.find(PID_LINE)
        end = self._head.find(b"\n", at) if at >= 0 else -1
        if end < 0:
            if len(self._head) > _HEAD_LIMIT:  # started, but no pid line: what came is output
                self.pid, data = -1, bytes(self._head)
                self._head.clear()
                return data
            return b""
        digits = bytes(self._head[at + len(PID_LINE):end]).strip()
        self.pid = int(digits) if digits.isdigit() else -1
        rest = bytes(self._head[end + 1:])
        self._head.clear()
        return rest

    # -- its end --------------------------------------------------------------------------------

    def close_input(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self.channel.shutdown_write()

    def drain(self, deadline: float) -> None:
        """Read to the end of its output."""
        while self.read(deadline) is not None:
            pass

    def exit_status(self, deadline: float) -> int:
        """Its exit status, once the host sends it; a connection that broke first is said so."""
        if not self.channel.status_event.wait(max(0.0, deadline - time.monotonic())):
            raise errors.DeadlineExceeded(f"{self.what}: output ended but the host sent no exit status yet")
        status = self.channel.exit_status
        if status < 0 and not self.channel.get_transport().is_active():
            # the channel closed without one: the connection broke, not the command
            raise lost(self.target, self.what, EOFError("the channel closed without an exit status"))
        return status  # -1: a signal ended it (sshd says which in an exit-signal Paramiko ignores)

    def exited(self) -> bool:
        return self.channel.exit_status_ready()

    def end(self) -> None:
        """Kill it on the host (or in its container) by its pid, unless it exited: closing the
        channel alone would leave it running."""
        if self.pid is None or self.pid <= 0 or self.exited():
            return
        # its process group too when it leads one (sshd starts each command in a session of its
        # own, and a login shell execs a single command): what it started ends with it.  `kill -9
        # -PGID` is the one spelling dash, bash and busybox all take.
        kill = ["sh", "-c", 'kill -9 -"$1" 2>/dev/null; kill -9 "$1" 2>/dev/null; true', "sh", str(self.pid)]
        with contextlib.suppress(errors.IrisOpsError):
            run(self.target, kill, deadline=time.monotonic() + KILL_GRACE, what=f"ending {self.what}",
                user="root" if self.target.container else None)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.channel.close()

    def result(self, deadline: float) -> ExecResult:
        """Its exit status and output, once it ended; one that never started is said so."""
        result = ExecResult(exit_code=self.exit_status(deadline), stdout=bytes(self.output), stderr=bytes(self.stderr))
        if self.pid is None:
            raise not_started(self.target, self.what, result)
        return result


@contextlib.contextmanager
def ending(proc: RemoteProcess) -> Iterator[RemoteProcess]:
    """``proc``'s channel is closed whatever happens; past its deadline, ``proc`` is ended on the
    host first, and the error says so."""
    try:
        yield proc
    except errors.DeadlineExceeded as exc:
        proc.end()
        raise errors.DeadlineExceeded(
            f"{proc.what} did not finish within {time.monotonic() - proc.started:.1f} s; it was ended on "
            f"{where(proc.target)}",
            details={"stdout_tail": bytes(proc.output)[-_TAIL:].decode("utf-8", "replace"),
                     "stderr_tail": bytes(proc.stderr)[-_TAIL:].decode("utf-8", "replace")},
        ) from exc
    finally:
        proc.close()


def _left(deadline: float, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise errors.DeadlineExceeded(f"{what}: deadline exceeded")
    return left


def _failed(target: Target, what: str, exc: Exception) -> errors.IrisOpsError:
    if isinstance(exc, errors.IrisOpsError):
        return exc
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return errors.DeadlineExceeded(f"{what}: host {target.ssh_host!r} did not open a channel in time")
    import paramiko

    if isinstance(exc, paramiko.ChannelException):  # e.g. sshd's MaxSessions reached
        return errors.UnreachableError(f"{what}: host {target.ssh_host!r} refused a new channel: {exc}",
                                       fix="Raise MaxSessions in the host's sshd_config, or run fewer at once.")
    return lost(target, what, exc)


class _Feeder(threading.Thread):
    """Sends stdin and then its end while the caller reads: a process that answers while it reads
    (``iris session`` prints a prompt per line) would otherwise fill both windows and wait on us."""

    def __init__(self, proc: RemoteProcess, data: bytes) -> None:
        super().__init__(name="iris-ops-ssh-stdin", daemon=True)
        self.proc = proc
        self.data = data

    def run(self) -> None:
        if self.data:
            self.proc.send(self.data)
        self.proc.close_input()


def run(target: Target, argv: list[str], *, deadline: float, what: str, user: str | None = None,
        stdin: bytes | None = None, login=None) -> ExecResult:
    """Run ``argv`` on the host (or in its container) to its end: exit status and output.

    ``login`` (for ``iris session``): called with the process and the deadline before ``stdin`` is
    sent, it answers a login and returns whether ``stdin`` may be sent.  Past ``deadline`` the
    process is ended on the host and :class:`iris_ops.errors.DeadlineExceeded` raised."""
    proc = RemoteProcess(target, argv, deadline=deadline, what=what, user=user, stdin=stdin is not None)
    with ending(proc):
        ready = login(proc, deadline) if login is not None else True
        if stdin is not None:
            _Feeder(proc, stdin if ready and not (proc.ended or proc.input_gone) else b"").start()
        proc.drain(deadline)
        return proc.result(deadline)


def not_started(target: Target, what: str, result: ExecResult) -> errors.UnreachableError:
    """The error for a command that never started (no pid line): ``docker exec`` refused it, or the
    host could not run ``sh``; its error output says which."""
    message = (result.stderr or result.stdout).decode("utf-8", "replace").strip()[-_TAIL:]
    if target.container:
        fix = (f"Check the container on that host (`docker ps -a --filter name={target.container}` there): it must "
               "exist and run, and the SSH user must be allowed to use the engine (the docker group).")
    else:
        fix = "Check the SSH user's login shell on that host: it must be a POSIX shell that runs `sh`."
    return errors.UnreachableError(f"{what} could not start on {where(target)} (exit status {result.exit_code}): "
                                   f"{message or 'no output'}", fix=fix, details={"exit_code": result.exit_code})


def checked(target: Target, argv: list[str], *, deadline: float, what: str, user: str | None = None,
            stdin: bytes | None = None) -> bytes:
    """:func:`run`, where any exit status but 0 is the instance's host refusing: its stdout."""
    result = run(target, argv, deadline=deadline, what=what, user=user, stdin=stdin)
    if result.exit_code != 0:
        message = (result.stderr or result.stdout).decode("utf-8", "replace").strip()[-_TAIL:]
        raise errors.InstanceError(f"{what}: `{argv[0]}` failed on {where(target)} with exit status "
                                   f"{result.exit_code}: {message}",
                                   details={"exit_code": result.exit_code, "output": message})
    return result.stdout
