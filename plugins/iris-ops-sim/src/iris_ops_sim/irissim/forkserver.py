"""The simulator's fork server: ``iris`` and ``iris-sim`` processes started from a warm copy of
the simulator instead of a cold Python.

A simulated ``iris session`` spent about two thirds of its CPU importing the simulator, every
time (docs/PERFORMANCE.md, "A simulated iris process").  In a container, the main process
(``iris-sim daemon``) starts this server once (:func:`start`); the test kit starts one for a host
install (:func:`standalone`, ``HostSim.serve``): a process that has imported every module of the
simulator and waits on a Unix socket.  The launchers (:mod:`irissim.forkclient`) connect to it,
pass their standard input, output and error (``SCM_RIGHTS``), their arguments, environment,
working directory and umask; the server forks, and the child runs the program on those
descriptors, as the launcher would have.

What a caller sees is what the launcher alone gives:
- the same exit status, or death by the same signal (the launcher re-raises it on itself);
- the same end of input: the child reads the exec's own stdin, and the exec's output ends when
  both the launcher and the child have closed theirs;
- signals sent to the launcher (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2) reach the
  child; a launcher that dies without a word (``kill -9``) takes the child with it (SIGKILL),
  as the death of the process itself would.

The one difference: the simulated job's pid (``$JOB``, what ``$SYSTEM.Process.Terminate``
signals, what ``iris-sim stop wait`` reports) is the child's, not the launcher's; ``ps`` still
shows the launcher's ``iris session ...`` for as long as the session runs.

The server serves only callers of its own user (``SO_PEERCRED``); any other caller, a server
that is gone or still starting, or any error before the child starts, and the launcher runs the
program itself, as it always did.  One exception: the test kit's ``iris-sim`` calls from the
host, through a socket directory it mounts (``iris_ops_sim.control.fork_server_exec``), come as
root and leave environment, directory and umask to the server, which gives the child the
container's own, as ``docker exec`` gives a process.  Standard library only, like the rest of
the simulator.
"""

from __future__ import annotations

import contextlib
import gc
import io
import marshal
import os
import select
import signal
import socket
import struct
import sys

__all__ = ["SOCKET", "PROGRAMS", "start", "standalone", "serve"]

#: Where the server listens in the container (its directory is made by the server, mode 0700).
SOCKET = "/tmp/irissim/fork.sock"
#: The programs a launcher may ask for: name -> "module:function" (iris_ops_sim.launchers.LAUNCHERS).
PROGRAMS = {"iris": "irissim.iris:main", "iris-sim": "irissim.ctl:main"}
#: Modules a child may need that the programs import only when a call needs them.
_LAZY = ("sqlite3", "hashlib", "hmac", "pwd", "grp", "shutil", "json", "re", "importlib")
_HEADER = struct.Struct("!I")
_MAX_REQUEST = 1 << 20


def start(path: str = SOCKET) -> int | None:
    """Fork the server (from the container's main process); its pid, or None when it cannot
    listen (the launchers then run the programs themselves)."""
    listener = _listen(path)
    if listener is None:
        return None
    pid = os.fork()
    if pid:
        listener.close()
        return pid
    try:
        for name in ("SIGTERM", "SIGINT"):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        _warm_up()
        serve(listener)
    finally:
        os._exit(0)


def standalone(path: str, parent: int) -> int:
    """A host install's server, in a process of its own (``HostSim.serve``): it serves until
    SIGTERM, or until ``parent`` (the process that started it) is gone, within a second."""
    listener = _listen(path)
    if listener is None:
        return 1
    _warm_up()
    try:
        serve(listener, parent)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return 0


def _warm_up() -> None:
    gc.disable()  # no collection moves what the children share
    _preload()
    gc.freeze()  # and theirs never touch it: copy-on-write copies only what a child writes


def _listen(path: str) -> socket.socket | None:
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.stat(directory)
        if info.st_uid != os.geteuid() or info.st_mode & 0o077:
            return None  # someone else's directory: no server rather than one others can reach
        partial = f"{path}.{os.getpid()}"
        if os.path.lexists(partial):
            os.unlink(partial)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(partial)
        listener.listen(64)
        os.replace(partial, path)  # a launcher finds a socket that already listens, or none
    except OSError:
        return None
    return listener


def _preload() -> None:
    """Import what any call may need, so that no child imports anything."""
    import importlib
    import pkgutil

    package = os.path.dirname(os.path.abspath(__file__))
    # every module, the system classes' too (the programs load those when a script names one)
    for info in pkgutil.walk_packages([package], prefix=f"{__package__}."):
        importlib.import_module(info.name)
    for name in _LAZY:
        importlib.import_module(name)


class _Server:
    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.poll = select.poll()
        self.poll.register(listener.fileno(), select.POLLIN)
        self.children: dict[int, socket.socket] = {}  # child pid -> its launcher's connection
        self.by_fd: dict[int, int] = {}  # connection fd -> child pid
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        self.poll.register(self.wake_read, select.POLLIN)
        # what ``docker exec`` gives a process: the container's environment and directory
        self.environ, self.cwd = dict(os.environb), os.getcwd()
        self.umask = os.umask(0o022)
        os.umask(self.umask)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wake_write)

    def run(self, parent: int | None = None) -> None:
        while parent is None or os.getppid() == parent:
            for fd, events in self.poll.poll(None if parent is None else 1000):
                if fd == self.listener.fileno():
                    self.accept()
                elif fd == self.wake_read:
                    while True:
                        try:
                            if not os.read(self.wake_read, 512):
                                break
                        except BlockingIOError:
                            break
                elif fd in self.by_fd:
                    self.launcher_gone(fd)
            self.reap()

    def accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        try:
            request = self.receive(conn)
        except (OSError, ValueError, EOFError, TypeError):
            conn.close()  # the launcher runs the program itself
            return
        fds, (program, argv, environ, cwd, umask) = request
        try:
            pid = os.fork()
        except OSError:
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        if pid == 0:
            self.become_child(conn, fds, program, argv, environ, cwd, umask)
        for fd in fds:
            os.close(fd)
        try:
            conn.sendall(b"P" + _HEADER.pack(pid))
        except OSError:
            os.kill(pid, signal.SIGKILL)  # its launcher is gone before it knew the child
        self.children[pid] = conn
        self.by_fd[conn.fileno()] = pid
        self.poll.register(conn.fileno(), select.POLLIN)

    def receive(self, conn: socket.socket):
        """The descriptors and the request, or None when this caller may not have it.  A
        request that leaves the environment, directory and umask to the server (None: a test
        kit's control call from the host, through the mounted socket, as ``docker exec`` runs
        one with the container's own) is taken from root too; any other only from the
        server's own user, whose process the child becomes."""
        conn.settimeout(5.0)
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        data, ancillary, _flags, _addr = conn.recvmsg(65536, socket.CMSG_SPACE(3 * 4))
        fds: list[int] = []
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += struct.unpack(f"{len(payload) // 4}i", payload[: len(payload) - len(payload) % 4])
        try:
            if len(fds) != 3 or len(data) < _HEADER.size:
                raise ValueError("a request is three descriptors and a header")
            size = _HEADER.unpack_from(data)[0]
            if size > _MAX_REQUEST:
                raise ValueError("request too large")
            body = bytearray(data[_HEADER.size:])
            while len(body) < size:
                chunk = conn.recv(size - len(body))
                if not chunk:
                    raise EOFError("the launcher left mid-request")
                body += chunk
            program, argv, environ, cwd, umask = marshal.loads(bytes(body))
            if program not in PROGRAMS:
                raise ValueError(f"unknown program {program!r}")
            own = environ is None and cwd is None and umask is None
            if uid != os.geteuid() and not (uid == 0 and own):
                conn.sendall(b"N")
                raise PermissionError(f"uid {uid}")
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        conn.settimeout(None)
        if own:
            environ, cwd, umask = self.environ, self.cwd, self.umask
        return fds, (program, list(argv), dict(environ), cwd, int(umask))

    def become_child(self, conn, fds, program, argv, environ, cwd, umask) -> None:
        """In the forked child: take the launcher's descriptors, environment and directory,
        and run the program; never returns."""
        status = 1
        try:  # whatever happens, this process ends here: never back in the server's loop
            try:
                signal.set_wakeup_fd(-1)
                for name in ("SIGCHLD", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"):
                    signal.signal(getattr(signal, name), signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                os.setpgid(0, 0)
                gc.enable()
                for other in self.children.values():
                    other.close()
                self.listener.close()
                conn.close()
                os.close(self.wake_read)
                os.close(self.wake_write)
                for target, fd in enumerate(fds):
                    os.dup2(fd, target)
                for fd in fds:
                    if fd > 2:
                        os.close(fd)
                os.environb.clear()
                os.environb.update(environ)
                try:
                    os.chdir(cwd)
                except OSError:
                    os.chdir("/")
                os.umask(umask)
                _fresh_stdio()
                sys.argv = [program, *argv]
                module, function = PROGRAMS[program].split(":")
                entry = getattr(sys.modules[module], function)
                from .leave import leave

                leave(entry(argv))
            except SystemExit as stop:
                code = stop.code
                if code is None:
                    status = 0
                elif isinstance(code, int):
                    status = code & 0xFF
                else:
                    sys.stderr.write(f"{code}\n")
                    status = 1
            except BaseException as exc:  # what Python does with an uncaught exception
                import traceback

                traceback.print_exc()
                status = 1
                if isinstance(exc, KeyboardInterrupt):  # Python ends by SIGINT, so its parent knows
                    _flush()
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    os.kill(os.getpid(), signal.SIGINT)
            _flush()
        finally:
            os._exit(status)

    def launcher_gone(self, fd: int) -> None:
        """The launcher's end of the connection spoke or closed: it died (it never writes after
        its request).  The child dies with it, as the process itself would."""
        pid = self.by_fd.pop(fd)
        self.poll.unregister(fd)
        self.children.pop(pid).close()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            self.by_fd.pop(conn.fileno(), None)
            self.poll.unregister(conn.fileno())
            try:
                conn.sendall(b"X" + _HEADER.pack(status & 0xFFFFFFFF))
            except OSError:
                pass
            conn.close()


def serve(listener: socket.socket, parent: int | None = None) -> None:
    _Server(listener).run(parent)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed by its reader, or by the program
            pass


def _fresh_stdio() -> None:
    """Standard streams for the new descriptors, made as Python makes them at start: line
    buffered on a terminal (stderr always), the encoding and error handler of the original."""
    for name, fd, mode in (("stdin", 0, "rb"), ("stdout", 1, "wb"), ("stderr", 2, "wb")):
        old = getattr(sys, name)
        try:
            interactive = os.isatty(fd)
            raw = io.open(fd, mode, closefd=False)
        except OSError:
            continue
        stream = io.TextIOWrapper(raw, encoding=old.encoding, errors=old.errors, newline="\n",
                                  line_buffering=interactive or name == "stderr")
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
