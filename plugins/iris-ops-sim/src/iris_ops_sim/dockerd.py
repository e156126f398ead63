"""A private ``dockerd`` for the test bed when no engine answers, and :func:`engine`: the engine
:mod:`iris_ops_sim.engines` finds, else a private one.

:class:`PrivateEngine` starts Debian's ``dockerd`` (20.10, API 1.41) when none answers and the
machine allows it (root, ``dockerd`` on PATH).  Everything it writes lives under one short
temporary directory: data root, exec root, pidfile, socket, log, daemon config, trust key.  The
host network is left alone (no bridge, no iptables, no forwarding; containers get loopback only).
Its containers live in a cgroup parent and a containerd namespace of their own, so that
:meth:`PrivateEngine.stop` can find and end every process it caused, however it died.

What a running dockerd 20.10 still writes outside its directories (measured): the empty
directories ``/run/docker/plugins`` and ``/run/containerd/s`` (a path compiled into containerd)
and the cgroup parent.  ``stop`` removes those it created.  Known limit: when a system containerd
listens on ``/run/containerd/containerd.sock``, dockerd uses it instead of starting its own, and
our (unique, empty) containerd namespace stays registered there.

``IRIS_OPS_REQUIRE_DOCKER=1`` (fail rather than skip) is the pytest plugin's business; this
module says why no engine can be had (:func:`unavailable_reason`, :class:`EngineUnavailableError`).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import structlog

from iris_ops_sim.engines import API_VERSION, EngineUnavailableError, client_for, ping, probe

if TYPE_CHECKING:
    import docker

__all__ = [
    "MAX_SOCKET_PATH", "private_engine_blocker", "unavailable_reason", "Engine", "engine", "PrivateEngine",
]

log = structlog.get_logger(__name__)

#: sun_path is 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107
#: Where root's binaries live even when PATH (a venv, a CI runner) leaves them out.
_SYSTEM_BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
#: Host directories dockerd 20.10 and its containerd create whatever their roots are, deepest first.
_HOST_RUNTIME_DIRS = ("/run/docker/plugins", "/run/docker", "/run/containerd/s", "/run/containerd")
#: Programs of a private engine: a process we end must be one of these (and name our directory).
_ENGINE_PROGRAMS = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc", "docker-init", "docker-proxy")
_LOG_TAIL_LINES = 25


# --- reachable, or private ------------------------------------------------------------------

def private_engine_blocker() -> str | None:
    """Why this machine cannot start a :class:`PrivateEngine`, or None when it can."""
    if not sys.platform.startswith("linux"):
        return f"a private dockerd needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "a private dockerd needs root (this process runs as uid %d)" % os.geteuid()
    missing = [name for name in ("dockerd", "containerd", "runc") if _which(name) is None]
    if missing:
        return f"a private dockerd needs {', '.join(missing)} (Debian: apt-get install docker.io)"
    return None


def _no_engine_reason(failures: list[str]) -> str | None:
    blocker = private_engine_blocker()
    return None if blocker is None else "no Docker engine: " + "; ".join(failures + [blocker])


def unavailable_reason(timeout: float = 2.0) -> str | None:
    """None when an engine can be had (one answers, or a private one may start); else why not."""
    url, failures = probe(timeout)
    return None if url is not None else _no_engine_reason(failures)


@dataclass
class Engine:
    """What :func:`engine` yields: the URL, and the private engine when we started one."""

    url: str
    private: PrivateEngine | None = None

    @property
    def lock_dir(self) -> Path | None:
        """Where locks about this engine's images belong (None: the default, shared one)."""
        return self.private.dir if self.private is not None else None

    def client(self, timeout: float = 120.0) -> docker.DockerClient:
        return client_for(self.url, timeout)


@contextmanager
def engine(timeout: float = 2.0) -> Iterator[Engine]:
    """An engine for the duration of the block: a reachable one, else a private one (stopped after)."""
    url, failures = probe(timeout)
    if url is not None:
        yield Engine(url)
        return
    reason = _no_engine_reason(failures)
    if reason is not None:
        raise EngineUnavailableError(reason)
    with PrivateEngine() as private:
        yield Engine(private.url, private)


# --- the private engine -------------------------------------------------------------------------

def _which(name: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SYSTEM_BIN_DIRS])
    return shutil.which(name, path=path)


def _short_tempdir(prefix: str) -> Path:
    """A fresh directory whose socket path fits in sun_path (TMPDIR can be long on CI runners)."""
    base = tempfile.gettempdir()
    if len(base) > 40:
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def _dockerd_major(dockerd: str) -> int:
    try:
        out = subprocess.run([dockerd, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    match = re.search(r"version (\d+)\.", out)
    return int(match.group(1)) if match else 0


def _unescape_mount_path(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount this process sees."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            before, _, after = line.partition(" - ")
            found.append((_unescape_mount_path(before.split()[4]), after.split()[0]))
    return found


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


class PrivateEngine:
    """A ``dockerd`` of our own, in a short temporary directory; leaves nothing behind.

    ``with PrivateEngine() as e: docker.DockerClient(base_url=e.url, version="1.41")``.  Both
    ``start()`` and ``stop()`` may be called directly; ``stop()`` is idempotent, works after a
    failed start, and is registered with :mod:`atexit` as a last resort.
    """

    def __init__(
        self,
        *,
        storage_driver: str = "overlay2",
        ready_timeout: float = 30.0,
        shutdown_timeout: int = 5,
    ) -> None:
        self.storage_driver = storage_driver
        self.ready_timeout = ready_timeout
        #: dockerd's own grace for containers at shutdown, before it kills them.
        self.shutdown_timeout = shutdown_timeout
        self.dir: Path | None = None
        self.url: str | None = None
        self.driver: str | None = None
        self.pid: int | None = None
        self._proc: subprocess.Popen | None = None
        self._token = ""
        self._host_dirs_created: list[str] = []
        self._atexit_registered = False

    # -- paths --
    @property
    def cgroup_parent(self) -> str:
        return f"/iris-ops-{self._token}"

    def _path(self, name: str) -> Path:
        assert self.dir is not None
        return self.dir / name

    @property
    def log_path(self) -> Path | None:
        return self._path("dockerd.log") if self.dir else None

    # -- life cycle --
    def __enter__(self) -> PrivateEngine:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> PrivateEngine:
        if self._proc is not None:
            return self
        blocker = private_engine_blocker()
        if blocker is not None:
            raise EngineUnavailableError(blocker)
        drivers = [self.storage_driver] + (["vfs"] if self.storage_driver != "vfs" else [])
        problems = []
        for driver in drivers:
            began = time.monotonic()
            try:
                self._launch(driver)
            except BaseException:
                self.stop()
                raise
            problem, exited = self._wait_ready()
            if problem is None:
                self.driver = driver
                log.info("private dockerd ready", url=self.url, driver=driver, pid=self.pid,
                         seconds=round(time.monotonic() - began, 2))
                return self
            problems.append(f"--storage-driver {driver}: {problem}")
            self.stop()
            if not exited:  # it hung rather than refused the driver: another one will not help
                break
        raise EngineUnavailableError("private dockerd did not start: " + "\n".join(problems))

    def _launch(self, driver: str) -> None:
        dockerd = _which("dockerd")
        assert dockerd is not None
        self._token = secrets.token_hex(4)
        self.dir = _short_tempdir("iris-ops-dockerd-")
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        socket_path = str(self._path("d.sock"))
        if len(socket_path.encode()) > MAX_SOCKET_PATH:
            raise EngineUnavailableError(f"socket path too long for a unix socket: {socket_path}")
        self.url = f"unix://{socket_path}"
        self._host_dirs_created = [d for d in _HOST_RUNTIME_DIRS if not os.path.lexists(d)]
        # An empty config of our own: the host's /etc/docker/daemon.json must not apply (it may
        # name hosts, a driver or a bridge), and dockerd < 23 would write /etc/docker/key.json.
        config: dict[str, object] = {}
        if _dockerd_major(dockerd) < 23:
            config["deprecated-key-path"] = str(self._path("key.json"))
        self._path("daemon.json").write_text(json.dumps(config))
        argv = [
            dockerd,
            "--config-file", str(self._path("daemon.json")),
            "--data-root", str(self._path("data")),
            "--exec-root", str(self._path("exec")),
            "--pidfile", str(self._path("dockerd.pid")),
            "--host", self.url,
            "--storage-driver", driver,
            "--bridge=none", "--iptables=false", "--ip-forward=false", "--ip-masq=false",
            "--userland-proxy=false",
            "--cgroup-parent", self.cgroup_parent,
            "--containerd-namespace", f"iris-ops-{self._token}",
            "--containerd-plugins-namespace", f"iris-ops-{self._token}-plugins",
            "--shutdown-timeout", str(self.shutdown_timeout),
        ]
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([env.get("PATH", ""), *_SYSTEM_BIN_DIRS])
        with open(self._path("dockerd.log"), "ab") as logfile:
            # A session of its own: a Ctrl-C meant for the test run must not reach dockerd
            # before our stop() does, in an order we do not control.
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile,
                                          env=env, start_new_session=True)
        self.pid = self._proc.pid

    def _wait_ready(self) -> tuple[str | None, bool]:
        """(None, _) once ``/_ping`` answers; else (why not with the log's tail, whether it exited)."""
        assert self._proc is not None and self.url is not None
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self._proc.poll() is not None:
                return f"dockerd exited with status {self._proc.returncode}\n{self.log_tail()}", True
            if ping(self.url, timeout=1.0) is None:
                return None, False
            if time.monotonic() > deadline:
                return f"no answer on {self.url} after {self.ready_timeout:.0f} s\n{self.log_tail()}", False
            time.sleep(0.05)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return "(no dockerd log)"
        return "\n".join("    " + line for line in text.splitlines()[-lines:])

    def client(self, timeout: float = 120.0) -> docker.DockerClient:
        if self.url is None:
            raise EngineUnavailableError("the private dockerd is not running")
        return client_for(self.url, timeout)

    def stop(self) -> list[str]:
        """End every process, mount, cgroup and directory of this engine.

        Returns what could not be removed (empty when all is gone); never raises, so that it can
        run from ``finally`` blocks and atexit after any failure.
        """
        if self.dir is None:
            return []
        try:
            self._stop_dockerd()
            self._end_processes()
            self._unmount()
            self._remove_cgroups()
            for path in self._host_dirs_created:
                try:
                    os.rmdir(path)  # only when empty: another engine may have started since
                except OSError:
                    pass
            shutil.rmtree(self.dir, ignore_errors=True)
        except Exception as exc:  # a last resort must not raise; leftovers() says what stays
            log.warning("private dockerd stop failed", error=repr(exc))
        left = self.leftovers()
        if left:
            log.warning("private dockerd left things behind", leftovers=left)
        else:
            self.dir = None
            self.url = None
            self._proc = None
            self.pid = None
            if self._atexit_registered:
                atexit.unregister(self.stop)
                self._atexit_registered = False
        return left

    def _kill_containers(self) -> None:
        """SIGKILL every running container: dockerd would give each its own stop timeout (10 s)
        whatever --shutdown-timeout says, and a test bed's containers have nothing to save."""
        import docker

        try:
            client = docker.APIClient(base_url=self.url, version=API_VERSION, timeout=5)
        except Exception:
            return
        try:
            for summary in client.containers():
                try:
                    client.kill(summary["Id"])
                except Exception as exc:  # already gone, or the engine is failing: TERM follows
                    log.debug("kill before stop failed", container=summary["Id"][:12], error=str(exc))
        except Exception as exc:
            log.debug("listing containers before stop failed", error=str(exc))
        finally:
            client.close()

    def _stop_dockerd(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self._kill_containers()
        proc.send_signal(signal.SIGTERM)
        # An engine someone stopped (SIGSTOP, a debugger) would keep the TERM pending until the
        # kill below: resumed, it shuts down as it should (what systemd does too).
        proc.send_signal(signal.SIGCONT)
        try:
            proc.wait(timeout=self.shutdown_timeout + 10)
        except subprocess.TimeoutExpired:
            log.warning("private dockerd ignored TERM; killing it", pid=proc.pid)
            proc.kill()
            proc.wait(timeout=10)

    def _processes(self) -> list[int]:
        """Engine programs that name our directory, plus every process in our cgroup parent."""
        assert self.dir is not None
        marker = str(self.dir).encode()
        found = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if os.path.basename(argv[0]).decode(errors="replace") in _ENGINE_PROGRAMS and any(marker in a for a in argv):
                found.add(int(entry))
        for cgroup in self._cgroup_dirs():
            for root, _dirs, files in os.walk(cgroup):
                if "cgroup.procs" in files:
                    try:
                        found.update(int(p) for p in Path(root, "cgroup.procs").read_text().split())
                    except OSError:
                        pass
        return sorted(pid for pid in found if _pid_alive(pid))

    def _end_processes(self) -> None:
        """What survived dockerd (a killed dockerd leaves containerd, shims and containers)."""
        # Their state is about to be deleted with the directory: a short grace is enough.
        for sig, grace in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 5.0)):
            pids = self._processes()
            if not pids:
                return
            log.warning("ending private engine processes", pids=pids, signal=sig.name)
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
                time.sleep(0.05)

    def _mounts_under_dir(self) -> list[str]:
        assert self.dir is not None
        root = os.path.realpath(self.dir)
        return [point for point, _ in _mounts() if _is_under(point, root) or _is_under(point, str(self.dir))]

    def _unmount(self) -> None:
        # Deepest first; lazily, so a busy mount (a stray open file) still leaves the tree.
        for point in sorted(set(self._mounts_under_dir()), key=len, reverse=True):
            result = subprocess.run(["umount", "-l", point], capture_output=True, text=True)
            if result.returncode != 0:
                log.warning("umount failed", mount=point, error=result.stderr.strip())

    def _cgroup_dirs(self) -> list[str]:
        if not self._token:
            return []
        dirs = []
        for point, fstype in _mounts():
            if fstype in ("cgroup", "cgroup2"):
                candidate = point.rstrip("/") + self.cgroup_parent
                if os.path.isdir(candidate):
                    dirs.append(candidate)
        return dirs

    def _remove_cgroups(self) -> None:
        for cgroup in self._cgroup_dirs():
            # A cgroup directory holds only kernel files: rmdir, children first, removes it.
            for root, _dirs, _files in sorted(os.walk(cgroup), key=lambda w: len(w[0]), reverse=True):
                for attempt in range(20):
                    try:
                        os.rmdir(root)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:  # EBUSY while the last exited process is being reaped
                        time.sleep(0.05)

    def leftovers(self) -> list[str]:
        """Anything of this engine still present: processes, mounts, cgroups, its directory."""
        if self.dir is None:
            return []
        left = [f"process {pid}" for pid in self._processes()]
        left += [f"mount {point}" for point in self._mounts_under_dir()]
        left += [f"cgroup {path}" for path in self._cgroup_dirs()]
        if os.path.lexists(self.dir):
            left.append(f"directory {self.dir}")
        return left
