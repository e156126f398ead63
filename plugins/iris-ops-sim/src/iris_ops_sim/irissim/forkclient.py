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

__all__ = ["through", "start", "wait_status"]

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
        request = (program, argv, dict(os.environb), os.getcwd(), umask)
    except (OSError, ValueError):
        return None
    # Taken before the request goes: a signal may come as soon as the child runs, before its
    # pid is here (the child writes at once); it reaches the child then, or this process itself
    # when no child runs, as it would have reached a launcher running the program itself.
    child: list[int] = []
    pending: list[int] = []

    def forward(signum, frame):  # noqa: ARG001
        if not child:
            pending.append(signum)
            return
        try:
            os.kill(child[0], signum)
        except OSError:
            pass

    signals = [getattr(_signal, name) for name in _FORWARDED]
    previous = {signum: _signal.signal(signum, forward) for signum in signals}
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
        pid = start(sock, request, (0, 1, 2))
    except OSError:
        pid = None
    if pid is None:
        sock.close()
        for signum, handler in previous.items():
            _signal.signal(signum, handler)
        for signum in pending:
            os.kill(os.getpid(), signum)
        return None
    child.append(pid)
    for signum in pending:
        forward(signum, None)
    try:
        status = wait_status(sock)
    except OSError:
        status = None
    return _lost(pid) if status is None else _as_own(status)


def start(sock, request: tuple, fds: tuple[int, int, int]) -> int | None:
    """Send ``request`` (program, argv, then environment, directory and umask, or three Nones
    for the container's own) with ``fds`` as the program's stdin, stdout and stderr over the
    connected ``sock``; the child's pid once the server has started it, None when it did not
    (refused, or failed before it forked: nothing runs)."""
    body = marshal.dumps(request)
    message = _struct.pack("!I", len(body)) + body
    sent = sock.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _struct.pack("3i", *fds))])
    if sent < len(message):  # never an empty send: the server may have run the program and
        sock.sendall(message[sent:])  # closed by then, and the send would fail with EPIPE
    started = _read_exactly(sock, 5)
    if started[:1] != b"P" or len(started) != 5:
        return None
    return _struct.unpack("!I", started[1:])[0]


#: Seconds between two looks at the signals while waiting for the child's end (see wait_status).
_SIGNAL_LOOK = 0.25


def wait_status(sock) -> int | None:
    """The child's wait status once it ended (as ``os.waitpid`` gives it); None when the server
    went away first.

    The wait is cut into short ones: Python runs a signal's handler only between bytecodes, so a
    signal that came just before a blocking ``recv`` began would not be passed on until the
    child ended by itself, which a session waiting for input never does."""
    sock.settimeout(_SIGNAL_LOOK)
    ended = _read_exactly(sock, 5)
    if ended[:1] != b"X" or len(ended) != 5:
        return None
    return _struct.unpack("!I", ended[1:])[0]


def _read_exactly(sock, size: int) -> bytes:
    """``size`` bytes from ``sock``, or fewer where it ends first."""
    data = b""
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except TimeoutError:  # a look at the signals (wait_status); the wait goes on
            continue
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
        except OSError:  # gone
            break
        time.sleep(0.05)
    os.write(2, b"irissim: the fork server ended before the program did; its exit status is lost\n")
    return 1
