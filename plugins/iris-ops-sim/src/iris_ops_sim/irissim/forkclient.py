"""A launcher's side of the fork server (:mod:`irissim.forkserver`): ask it to run the program
on this process's standard streams, pass on signals, and end as the program ended.

This module runs in every ``iris`` and ``iris-sim`` process of a container before anything else,
so it imports only what the interpreter has already loaded or builds in (``_socket``,
``_signal``, ``_struct``, ``marshal``): the point of the server is a process that imports nothing.
"""

from __future__ import annotations

import _signal
import _socket
import _struct
import marshal
import os

__all__ = ["through", "read_exactly"]

_FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def through(path: str, program: str, argv: list[str]) -> int | None:
    """Run ``program`` with ``argv`` through the server listening at ``path``; its exit status.
    None when the server cannot take it (none there, another user's, an error before the child
    started): the caller then runs the program itself."""
    try:
        if os.stat(path).st_uid != os.geteuid():
            return None
        for fd in (0, 1, 2):
            os.fstat(fd)  # a closed standard stream cannot be passed
        umask = os.umask(0)
        os.umask(umask)
        body = marshal.dumps((program, argv, dict(os.environb), os.getcwd(), umask))
    except (OSError, ValueError):
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
        message = _struct.pack("!I", len(body)) + body
        sent = sock.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _struct.pack("3i", 0, 1, 2))])
        if sent < len(message):  # never an empty send: the server may have run the program and
            sock.sendall(message[sent:])  # closed by then, and the send would fail with EPIPE
        started = read_exactly(sock, 5)
    except OSError:
        sock.close()
        return None
    if started[:1] != b"P" or len(started) != 5:
        sock.close()
        return None  # refused, or the server failed before it forked
    pid = _struct.unpack("!I", started[1:])[0]

    def forward(signum, frame):  # noqa: ARG001
        try:
            os.kill(pid, signum)
        except OSError:
            pass

    for name in _FORWARDED:
        _signal.signal(getattr(_signal, name), forward)
    try:
        ended = read_exactly(sock, 5)
    except OSError:
        ended = b""
    if ended[:1] != b"X" or len(ended) != 5:
        return _lost(pid)
    return _as_own(_struct.unpack("!I", ended[1:])[0])


def read_exactly(sock, size: int) -> bytes:
    """``size`` bytes from ``sock``, or fewer where it ends first."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _as_own(status: int) -> int:
    """End as the child ended: its exit code, or death by its signal."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return code
    signum = -code
    if signum not in (_signal.SIGKILL, _signal.SIGSTOP):  # no handler to take back on those two
        _signal.signal(signum, _signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum  # a signal that does not end a process by default


def _lost(pid: int) -> int:
    """The server went away while the child ran (its container is stopping): wait for the
    child, whose status nobody can tell any more."""
    import time

    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        except OSError:
            break
        time.sleep(0.05)
    os.write(2, b"irissim: the fork server ended before the program did; its exit status is lost\n")
    return 1
