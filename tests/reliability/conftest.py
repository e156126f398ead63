"""The reliability suite's test bed: one simulated instance per module (every case asserts it
leaves the instance as it found it, so the next case can use it), the in-process CLI aimed at
it, and fault injectors registered as throwaway plugins."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from pathlib import Path

import pytest

from iris_ops import hookimpl


@pytest.fixture(scope="module")
def shared_sim(docker_engine, sim_image):
    from iris_ops_sim.simcontainer import run_container

    sc = run_container(docker_engine.client, docker_engine.base_url, sim_image, f"iris-rel-{secrets.token_hex(4)}",
                       control_socket=True)
    try:
        yield sc
    finally:
        sc.remove()


@pytest.fixture
def rel_cli(shared_sim, monkeypatch, tmp_path, capsys):
    """``iris-ops ARGS`` in this process against the module's instance, with fault plugins
    registered for the call: (exit code, stdout, stderr)."""
    from cli_helpers import make_inproc, plugin

    inproc = make_inproc(shared_sim.env, monkeypatch, tmp_path, capsys)

    def run(*args, plugins=()):
        with contextlib.ExitStack() as stack:
            for p in plugins:
                p.pm = stack.enter_context(plugin(p))
            return inproc(*args)

    return run


def signal_self(signum: int, after: float = 0.0) -> None:
    """Deliver ``signum`` to this process now, or from a timer thread after ``after`` seconds
    (the main thread is then blocked in the transport, as a real ``kill`` would find it)."""
    if after <= 0:
        os.kill(os.getpid(), signum)
        return
    timer = threading.Timer(after, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


class Hang:
    """Inserts ``Hang seconds`` before the script step holding ``marker`` in the first script
    containing ``among``: an in-instance step that takes that long, as a large copy would."""

    def __init__(self, among: str, marker: str, seconds: float, then=None) -> None:
        self.among, self.marker, self.seconds, self.fired, self.pm = among, marker, seconds, 0, None
        self.then = then  # called as the script is sent

    @hookimpl(tryfirst=True)
    def run_objectscript(self, target, script, namespace, timeout):
        import re

        if self.fired or self.among not in script or self.marker not in script:
            return None
        self.fired += 1
        at = script.index(self.marker)
        start = [m.end() for m in re.finditer(r"Try \{ If n=\d+ \{ ", script[:at])][-1]
        script = script[:start] + f"Hang {self.seconds} " + script[start:]
        others = self.pm.subset_hook_caller("run_objectscript", remove_plugins=[self])
        if self.then:
            self.then()
        return others(target=target, script=script, namespace=namespace, timeout=timeout)


class At:
    """Sends ``signum`` when the hook ``hook`` fires (optionally only for scripts holding ``among``)."""

    def __init__(self, signum, hook, among=None, nth=1):
        self.signum, self.hook, self.among, self.nth, self.seen, self.pm = signum, hook, among, nth, 0, None

    def _maybe(self, hook, text=""):
        if hook != self.hook or (self.among and self.among not in text):
            return
        self.seen += 1
        if self.seen == self.nth:
            signal_self(self.signum)

    @hookimpl(tryfirst=True)
    def pre_backup(self, operation, namespace, out):
        self._maybe("pre_backup")

    @hookimpl(tryfirst=True)
    def post_restore(self, operation, fixture, namespace, databases):
        self._maybe("post_restore")

    @hookimpl(tryfirst=True)
    def run_objectscript(self, target, script, namespace, timeout):
        self._maybe("run_objectscript", script)

    @hookimpl(tryfirst=True)
    def read_file(self, target, path, dest, timeout):
        dest.write(b"\0" * 8192)  # some bytes reached the fixture already
        self._maybe("read_file", path)

    @hookimpl(tryfirst=True)
    def write_file(self, target, src, size, path, timeout):
        self._maybe("write_file", path)

    @hookimpl(tryfirst=True)
    def write_files(self, target, files, timeout):  # a restore's journal and markers: its "write_file" too
        self._maybe("write_file", " ".join(path for _, path in files))

    @hookimpl(tryfirst=True)
    def exec_argument_call(self, target, entry, namespace, timeout):
        self._maybe("exec_argument_call", entry)

    @hookimpl(tryfirst=True)
    def remove_path(self, target, path, timeout):
        self._maybe("remove_path", path)


def popen_cli(sc, cwd, *args, fault=None, **extra):
    """``iris-ops ARGS`` as a process of its own aimed at ``sc`` (to be killed for real), JSON logs;
    with ``fault`` (``KIND@WHERE``), through the fault launcher (:func:`clihelp.command`)."""
    import subprocess

    from clihelp import command

    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sc.env, IRIS_OPS_LOG_FORMAT="json", **extra)
    return subprocess.Popen(command(*args, fault=fault), env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, proc, what, timeout=30.0):
    """Poll ``predicate`` until true; fail if ``proc`` ends first or ``timeout`` passes."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"finished before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)


def staging_leftovers(sc) -> list[str]:
    """Files and directories iris-ops stages in the instance (backup copies, delete plans, counting namespaces)."""
    return leftovers_in(sc.instance.listing())


def leftovers_in(listing: dict) -> list[str]:
    return sorted(p for p in listing["files"] if "/iris-ops-backup-" in p or "/iris-ops-delete-" in p
                  or "IRISOPS" in p.upper())


def comparable(listing: dict) -> dict:
    """A listing without what a read-only session changes anyway (journal/log files' sizes), nor
    the fixture cache (not an operation's output: a failed restore may leave a verified entry)."""
    files = {p: e for p, e in listing["files"].items() if not p.endswith((".log", "messages.log")) and "/iris-ops-cache" not in p}
    return {**listing, "files": files}


def host_leftovers(root: Path) -> list[str]:
    return sorted(str(p) for p in Path(root).rglob("*") if ".iris-ops" in p.name or "iris-ops-tmp" in p.name)


SIGNALS = {"TERM": signal.SIGTERM, "HUP": signal.SIGHUP}
