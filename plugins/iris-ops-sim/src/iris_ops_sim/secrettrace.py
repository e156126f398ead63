"""Where a secret could leak while iris-ops runs, watched from outside: for the secret tests.

* :class:`EngineTap`: a unix-socket proxy in front of a Docker engine's socket that records every
  byte both ways, per connection: API requests (an exec's ``Cmd`` and ``Env``), exec stdin (the
  session transcript iris-ops types), uploaded and downloaded archives, exec output.  Point
  iris-ops at :attr:`EngineTap.url`.  Half-closes are forwarded: ``docker exec`` with stdin ends
  its input with a shutdown of the write side, and the process must see that end of input.
* :class:`HostProcesses`: every command line on this host while it runs, and the environment of
  every process but iris-ops' own (its children's, whose environment iris-ops chose).
* :class:`ContainerSampler`: the same inside a container (every process's command line and
  environment), by a shell loop that runs there as root.
* :func:`watching`: both, for the duration of a ``with`` block.
* :func:`transcript_problems`: a secret typed into a session must be the answer to the login's
  password prompt (the line after the username) and nothing else: not a line of a script, not an
  exec's environment or argv, never in what the engine sends back.
* :func:`leaks`: a secret in any of the encodings it could leak in.
* :func:`asking_for_a_login`: a fresh simulated instance with OS authentication off, reached
  through a tap.
* :func:`iris_ops`, :func:`record`, :func:`once_per_session` and :func:`recorded_once`: iris-ops
  run as a user runs it, the same recorded (a :class:`Run`: exit code, stdout, stderr, its engine
  traffic), and a recording made once per test session however many pytest-xdist workers run
  the tests that read it.

Nothing here imports docker at module level.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import itertools
import json
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["encodings", "leaks", "Stream", "EngineTap", "transcript_problems", "HostProcesses", "SAMPLER",
           "ContainerSampler", "watching", "inspected", "Run", "iris_ops", "record",
           "once_per_session", "recorded_once", "asking_for_a_login"]

CHUNK = 1 << 16


# --- encodings -----------------------------------------------------------------------------------

def encodings(secret: str) -> dict[str, bytes]:
    """The secret as bytes in every form a leak could take."""
    raw = secret.encode("utf-8")
    forms = {
        "utf-8": raw, "hex": raw.hex().encode(), "HEX": raw.hex().upper().encode(),
        "base64": base64.b64encode(raw).rstrip(b"="), "json": json.dumps(secret)[1:-1].encode(),
        "url": urllib.parse.quote(secret).encode(), "utf-16": secret.encode("utf-16-le"),
        "repr": repr(secret)[1:-1].encode(),
    }
    try:
        forms["latin-1"] = secret.encode("latin-1")
    except UnicodeEncodeError:
        pass
    return forms


def leaks(secrets: dict[str, str], where: dict[str, bytes | str]) -> list[str]:
    """``"NAME (FORM) in PLACE"`` for every secret found in any place, in any form."""
    found = []
    for name, secret in secrets.items():
        for form, needle in encodings(secret).items():
            for place, data in where.items():
                if needle in (data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data):
                    found.append(f"{name} ({form}) in {place}")
    return found


# --- the engine's socket -------------------------------------------------------------------------

@dataclass
class Stream:
    """What one connection to the engine carried: ``sent`` by the client, ``received`` from it."""

    number: int
    sent: bytearray = field(default_factory=bytearray)
    received: bytearray = field(default_factory=bytearray)


class EngineTap:
    def __init__(self, upstream: str, directory: str) -> None:
        if not upstream.startswith("unix://"):
            raise ValueError(f"the tap needs a unix socket engine, not {upstream}")
        self.upstream = upstream[len("unix://"):]
        self.path = os.path.join(directory, "tap.sock")
        self._chunks: list[tuple[int, bool, bytes]] = []  # (connection, sent, data) in the order they passed
        self._connections = itertools.count(1)
        self._lock = threading.Lock()
        self._server: socket.socket | None = None

    @property
    def url(self) -> str:
        return "unix://" + self.path

    @property
    def captured(self) -> bytes:
        """Every byte both ways, in the order it passed."""
        with self._lock:
            return b"".join(data for _, _, data in self._chunks)

    def mark(self) -> int:
        """A point in the recording: :meth:`streams` ``(since=mark)`` returns what passed after it."""
        with self._lock:
            return len(self._chunks)

    def streams(self, since: int = 0) -> list[Stream]:
        """What passed after ``since``, per connection (a kept-alive connection is one stream)."""
        with self._lock:
            chunks = self._chunks[since:]
        by_connection: dict[int, Stream] = {}
        for number, sent, data in chunks:
            stream = by_connection.setdefault(number, Stream(number))
            (stream.sent if sent else stream.received).extend(data)
        return list(by_connection.values())

    def start(self) -> "EngineTap":
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None

    def _accept(self) -> None:
        while self._server is not None:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(self.upstream)
            number = next(self._connections)
            done = threading.Barrier(2, action=lambda c=client, e=engine: (c.close(), e.close()))
            for source, sink, sent in ((client, engine, True), (engine, client, False)):
                threading.Thread(target=self._pump, args=(source, sink, number, sent, done), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, number: int, sent: bool,
              done: threading.Barrier) -> None:
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    break
                with self._lock:
                    self._chunks.append((number, sent, data))
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            with contextlib.suppress(threading.BrokenBarrierError):
                done.wait(timeout=600)


def transcript_problems(streams: list[Stream], username: str, secret: str) -> tuple[int, list[str]]:
    """How many times ``secret`` was typed as a login's password, and every other place the
    engine traffic holds it.  A password line is the secret as a whole line right after the
    username's line on an exec's stdin; each stream holds at most one login, and the engine
    never sends the secret back (the terminal does not echo a password)."""
    raw, user_line = secret.encode("utf-8"), username.encode("utf-8")
    logins, problems = 0, []
    for stream in streams:
        sent = bytes(stream.sent)
        typed = [at for at in _find_all(sent, raw) if _is_password_line(sent, at, raw, user_line)]
        if len(typed) > 1:
            problems.append(f"connection {stream.number}: the password typed {len(typed)} times")
        logins += len(typed)
        rest = sent
        for at in reversed(typed):
            rest = rest[:at] + b"<login>" + rest[at + len(raw):]
        problems += leaks({"secret": secret}, {f"connection {stream.number}, sent": rest,
                                               f"connection {stream.number}, received": bytes(stream.received)})
    return logins, problems


def _find_all(data: bytes, needle: bytes) -> list[int]:
    found, at = [], data.find(needle)
    while at >= 0:
        found.append(at)
        at = data.find(needle, at + 1)
    return found


def _is_password_line(data: bytes, at: int, raw: bytes, user_line: bytes) -> bool:
    end = at + len(raw)
    ends_line = data[end:end + 1] == b"\n" or data[end:end + 2] == b"\r\n"
    before = data[:at]
    after_user = before.endswith(user_line + b"\n") or before.endswith(user_line + b"\r\n")
    return ends_line and after_user


# --- processes -----------------------------------------------------------------------------------

#: How long after a process first shows in /proc its command line and environment are read again:
#: a fork shows its parent's until it execs.  Older processes are not read again, so a watch costs
#: little CPU on a busy host.
YOUNG = 0.5


class HostProcesses(threading.Thread):
    """Every distinct command line on this host while it runs, and the environments of every
    process whose command line is not ``iris-ops`` itself (iris-ops holds its settings in its own
    environment; what it starts must not inherit the secret ones).  ``own`` tells iris-ops'
    command lines (argv NUL-separated) from others."""

    def __init__(self, own=lambda cmdline: b"-m\x00iris_ops\x00" in cmdline or b"/iris-ops\x00" in cmdline) -> None:
        super().__init__(daemon=True)
        self.own = own
        self.command_lines: set[bytes] = set()
        self.environments: dict[tuple[str, bytes], bytes] = {}
        self.running = True

    def run(self) -> None:
        first_seen: dict[str, float] = {}
        while self.running:
            now = time.monotonic()
            try:
                pids = {name for name in os.listdir("/proc") if name.isdigit()}
            except OSError:  # a process ended while /proc was being listed: list it again
                continue
            for gone in first_seen.keys() - pids:  # its pid may come back as another process
                del first_seen[gone]
            for pid in pids:
                if now - first_seen.setdefault(pid, now) <= YOUNG:
                    self._read(pid)
            time.sleep(0.02)

    def _read(self, pid: str) -> None:
        try:
            cmdline = Path("/proc", pid, "cmdline").read_bytes()
            self.command_lines.add(cmdline)
            key = (pid, cmdline)
            if cmdline and key not in self.environments and not self.own(cmdline):
                environ = Path("/proc", pid, "environ").read_bytes()
                # The same program both times, or the environment may be the next one's: a child
                # of this test's worker, forked to start iris-ops, that execs between the two
                # reads shows the worker's command line and iris-ops' environment (its password).
                # The next look reads it again under its new command line.
                if Path("/proc", pid, "cmdline").read_bytes() == cmdline:
                    self.environments[key] = environ
        except OSError:
            pass

    def stop(self) -> dict[str, bytes]:
        """What was seen: ``{"host command lines": ..., "host environments": ...}``."""
        assert self.is_alive(), "the process watcher died: it saw only part of the run"
        self.running = False
        self.join(10)
        return {"host command lines": b"\n".join(sorted(self.command_lines)),
                "host environments": b"\n".join(sorted(self.environments.values()))}


#: One sampling loop (``python3 -S -c SAMPLER NAME``; NAME tells the loops apart): every 20 ms,
#: every process's command line and environment appended to ``/tmp/NAME.out``, as long as
#: ``/tmp/NAME.pid`` exists.  In-process reads, not a `cat` and a `sleep` started per round: a
#: fifth of the CPU, on a machine the sampled runs share.
SAMPLER = """\
import os, sys, time
name = sys.argv[1]
marker = "/tmp/" + name + ".pid"
with open("/tmp/" + name + ".out", "ab", buffering=0) as out:
    with open(marker, "w") as pid_file:
        pid_file.write(str(os.getpid()))
    while os.path.exists(marker):
        chunks = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                for part in ("cmdline", "environ"):
                    try:
                        with open("/proc/" + pid + "/" + part, "rb") as f:
                            chunks.append(f.read())
                    except OSError:
                        pass
        out.write(b"".join(chunks) + b"\\n")
        time.sleep(0.02)
"""


class ContainerSampler:
    """Every process's command line and environment in a container (``sc``, a SimContainer),
    sampled every 20 ms from :meth:`start` to :meth:`stop`.  A loop as root and one as the
    image's user: root in a container may not read another user's /proc/PID/environ (no
    CAP_SYS_PTRACE), and the sessions run as the image's user."""

    USERS = {"sampler-root": "root", "sampler-user": ""}

    def __init__(self, sc) -> None:
        self.sc = sc

    def start(self) -> "ContainerSampler":
        api = self.sc.client.api
        for name, user in self.USERS.items():
            api.exec_start(api.exec_create(self.sc.name, ["python3", "-S", "-c", SAMPLER, name], user=user)["Id"],
                           detach=True)
        deadline = time.monotonic() + 30
        while not all(self.sc.exists(f"/tmp/{name}.out") for name in self.USERS):
            assert time.monotonic() < deadline, "the sampler did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> bytes:
        for name, user in self.USERS.items():
            ended = self.sc.exec(["sh", "-c", f"kill -0 $(cat /tmp/{name}.pid) && rm /tmp/{name}.pid"], user=user)[0]
            assert ended == 0, f"the container's {name} died: it saw only part of the run"
        time.sleep(0.1)
        return b"".join(self.sc.exec(["cat", f"/tmp/{name}.out"], user="root")[1] for name in self.USERS)


@contextlib.contextmanager
def watching(sc=None) -> Iterator[dict[str, bytes]]:
    """Watch this host's processes (and, given a SimContainer ``sc``, the container's) while the
    block runs; the dict it yields is filled when the block ends: ``host command lines``, ``host
    environments`` and ``container command lines and environments``."""
    seen: dict[str, bytes] = {}
    host = HostProcesses()
    host.start()
    sampler = ContainerSampler(sc).start() if sc is not None else None
    try:
        yield seen
    finally:
        seen.update(host.stop())
        if sampler is not None:
            seen["container command lines and environments"] = sampler.stop()


def inspected(sc) -> bytes:
    """``docker inspect`` of the container and of every exec it ran (the engine's view of their
    command lines and users)."""
    api = sc.client.api
    container = api.inspect_container(sc.name)
    execs = []
    for exec_id in container.get("ExecIDs") or []:
        with contextlib.suppress(Exception):  # an exec the engine already forgot
            execs.append(api.exec_inspect(exec_id))
    return json.dumps([container, execs]).encode()


# --- recorded runs -------------------------------------------------------------------------------

@dataclass
class Run:
    """One run of iris-ops, recorded: its arguments, exit code, stdout, stderr and what it
    exchanged with the engine (one stream per connection)."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    streams: list[Stream] = field(default_factory=list)

    def report(self) -> str:
        """What a failed assertion about this run shows."""
        return f"iris-ops {' '.join(self.args)}: exit {self.code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"

    def events(self, name: str) -> list[dict]:
        """The JSON log events called ``name`` on stderr."""
        found = []
        for line in self.stderr.splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if event.get("event") == name:
                        found.append(event)
        return found


@contextlib.contextmanager
def asking_for_a_login(docker_engine: Any, sim_image: str, directory: Path, username: str,
                       password: str) -> Iterator[tuple[Any, EngineTap, dict[str, str]]]:
    """A fresh simulated instance (a SimContainer) whose ``iris session`` asks for a login (OS
    authentication off; ``username`` has ``password`` and %All), a tap on the engine's socket in
    ``directory``, and the environment that aims iris-ops at the instance through the tap with
    that login and JSON logs; both are gone when the block ends."""
    import secrets

    from iris_ops_sim.simcontainer import run_container

    tap = EngineTap(docker_engine.base_url, str(directory)).start()
    try:
        sc = run_container(docker_engine.client, docker_engine.base_url, sim_image,
                           f"iris-login-{secrets.token_hex(4)}", control_socket=True)
        try:
            sc.instance.seed_user(username, roles="%All", change_password=0, password=password)
            sc.instance.set_os_authentication(False)
            yield sc, tap, {**sc.env, "DOCKER_HOST": tap.url, "IRIS_OPS_DOCKER_HOST": tap.url,
                            "IRIS_OPS_USERNAME": username, "IRIS_OPS_PASSWORD": password,
                            "IRIS_OPS_LOG_FORMAT": "json"}
        finally:
            sc.remove()
    finally:
        tap.stop()


def iris_ops(env: dict[str, str], args: list[str], *, stdin: str | None = None,
             cwd: Any = None) -> subprocess.CompletedProcess:
    """``iris-ops ARGS`` as a process of its own (its command line and environment are what the
    watchers see), with ``env`` over this environment less its ``IRIS_OPS_*`` settings;
    ``stdin`` is the text piped in (nothing otherwise)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "iris_ops", *args], env=full, cwd=cwd, capture_output=True,
                          text=True, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                          timeout=300)


def record(tap: EngineTap, env: dict[str, str], args: list[str], **kwargs: Any) -> Run:
    """:func:`iris_ops` through ``tap`` (``env`` aims it there), recorded."""
    mark = tap.mark()
    done = iris_ops(env, args, **kwargs)
    return Run(tuple(args), done.returncode, done.stdout, done.stderr, tap.streams(mark))


def once_per_session(tmp_path_factory: Any, key: str, produce: Callable[[], Any]) -> Any:
    """``produce()``, made once per test session and shared: under pytest-xdist a module's tests
    may be spread over several workers, and each would otherwise make its own (a module fixture is
    per worker).  The first worker to ask makes it under a lock and pickles it for the others;
    what it returns must pickle."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return produce()
    shared = Path(tmp_path_factory.getbasetemp()).parent  # every worker's parent
    # named by the run as well: a --basetemp of one's own is the same directory run after run
    name = f"{key}-{os.environ.get('PYTEST_XDIST_TESTRUNUID', '')}"
    path = shared / f"{name}.pickle"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return pickle.loads(path.read_bytes())
        made = produce()
        path.write_bytes(pickle.dumps(made))
        return made


def recorded_once(docker_engine: Any, sim_image: str, tmp_path_factory: Any, key: str,
                  produce: Callable[[Any, str, Path], Any]) -> Any:
    """``produce(docker_engine, sim_image, directory)`` (a fresh directory, for the tap's socket
    and the run's files) once per test session (:func:`once_per_session`); the test is skipped on
    an engine the tap cannot stand in front of."""
    import pytest

    if not docker_engine.base_url.startswith("unix://"):
        pytest.skip(f"the recording tap needs a unix-socket engine, not {docker_engine.base_url}")
    return once_per_session(tmp_path_factory, key,
                            lambda: produce(docker_engine, sim_image, Path(tmp_path_factory.mktemp(key))))
