"""Fault injection for the reliability tests and for anyone reproducing a failure by hand.

:class:`Fault` is a plugin of the test kit, never of an installed iris-ops: tests register it in
process (a throwaway plugin), and :func:`main` runs a whole ``iris-ops`` command with it in a
separate process, saying so on stderr every time::

    python -m iris_ops_sim.faults 'status@##class(Config.Databases).Create(' restore --src F --ns T

No environment variable or file makes ``iris-ops`` itself load it.

| kind | what happens | where |
|---|---|---|
| ``status`` | the step calling the named class method fails with an error status (before it changes anything) | text of the call, e.g. ``##class(Config.Databases).Create(`` |
| ``throw`` | the same step throws an ObjectScript error (``<DIVIDE>``) | same |
| ``false`` | a ``%Library.File`` method returns 0 (as when the instance's disk is full) | same |
| ``cut`` | the script runs in the instance, but its output is lost (exec stream cut) | any text of the script |
| ``deadline`` | the script runs, but the instance answers after the deadline (a slow instance) | same |
| ``unreachable`` | the engine stops answering before the script reaches the instance | same |
| ``sigterm`` | SIGTERM reaches iris-ops as the script is sent | same |
| ``slow`` | the step calling the named class method waits 3 s first (``Hang``), then runs: a slow copy | text of the call |
| ``transfer`` | the archive transfer fails after N bytes (``nbytes``, default 64 KiB) | ``read`` or ``write`` |
| ``host-disk-full`` | this host's disk fills while a file is written here (ENOSPC) | ``read`` |
| ``container-stop`` | ``docker stop`` of the instance's container just before the script is sent | any text of the script |
| ``container-kill`` | ``docker kill`` of the container: before the script is sent, or after N bytes of a transfer | script text, ``read`` or ``write`` |
| ``engine-gone`` | ``on_gone()`` is called after N bytes of a transfer (the tests close the socket proxy iris-ops talks to) | ``read`` or ``write`` |

The first matching call fires; later ones run normally (the cleanup must work).  The container
faults act on the real container through the engine (``docker stop``/``kill``), at the named
step, so that the case is deterministic; ``engine-gone`` needs the test's proxy (``on_gone``) and
does nothing through :func:`main`.
"""

from __future__ import annotations

import errno
import io
import os
import re
import signal

from iris_ops import hookimpl
from iris_ops.errors import DeadlineExceeded, UnreachableError

__all__ = [
    "STEP", "WARNING", "signal_self", "parse", "main", "Fault", "stop_container", "SCRIPT_FAULTS",
    "TRANSFER_FAULTS", "INJECT", "Limited",
]

STEP = re.compile(r"Try \{ If n=\d+ \{ ")
#: What :func:`main` prints before the command runs: a run with a fault is never mistaken for a real one.
WARNING = "iris-ops-sim: FAULT INJECTION ACTIVE ({spec}): this run fails on purpose, for a test"


def signal_self(signum: int) -> None:
    os.kill(os.getpid(), signum)


def parse(spec: str) -> "Fault":
    """``KIND@WHERE`` as a :class:`Fault`."""
    kind, _, where = spec.partition("@")
    if kind not in SCRIPT_FAULTS | TRANSFER_FAULTS:
        raise SystemExit(f"unknown fault kind {kind!r}; known: {', '.join(sorted(SCRIPT_FAULTS | TRANSFER_FAULTS))}")
    return Fault(kind, where)


def main(argv: list[str] | None = None) -> None:
    """``python -m iris_ops_sim.faults KIND@WHERE IRIS-OPS-ARGS...``: the ``iris-ops`` command
    with the fault registered as a plugin."""
    import sys

    from iris_ops import cli
    from iris_ops.manager import get_plugin_manager

    words = sys.argv[1:] if argv is None else argv
    if not words:
        raise SystemExit("usage: python -m iris_ops_sim.faults KIND@WHERE IRIS-OPS-ARGS...")
    fault = parse(words[0])
    print(WARNING.format(spec=words[0]), file=sys.stderr, flush=True)
    fault.pm = get_plugin_manager()
    fault.pm.register(fault, name="iris-ops-fault")
    cli.main(["iris-ops", *words[1:]])


class Fault:
    """One injected fault; ``pm`` is set when registered."""

    pm = None

    def __init__(self, kind: str, where: str, nbytes: int = 65536, on_gone=None) -> None:
        self.kind, self.where, self.nbytes, self.fired = kind, where, nbytes, 0
        self.on_gone = on_gone or (lambda: None)

    def _others(self, name):
        return self.pm.subset_hook_caller(name, remove_plugins=[self])

    @hookimpl(tryfirst=True)
    def run_objectscript(self, target, script, namespace, timeout):
        if self.fired or self.kind not in SCRIPT_FAULTS or self.where in ("read", "write") or self.where not in script:
            return None
        self.fired += 1
        others = self._others("run_objectscript")
        if self.kind in ("status", "throw", "false", "slow"):
            at = script.index(self.where)
            start = [m.end() for m in STEP.finditer(script, 0, at)][-1]
            script = script[:start] + INJECT[self.kind].replace("{what}", self.where.strip("#(.")) + script[start:]
            return others(target=target, script=script, namespace=namespace, timeout=timeout)
        if self.kind == "unreachable":  # the engine went away before the script reached it
            raise UnreachableError("injected: the Docker engine stopped answering")
        if self.kind == "sigterm":
            signal_self(signal.SIGTERM)
            return None
        if self.kind in ("container-stop", "container-kill"):
            stop_container(target, kill=self.kind == "container-kill")
            return None  # the script now meets a stopped container
        others(target=target, script=script, namespace=namespace, timeout=timeout)  # it ran...
        if self.kind == "cut":  # ...but its output was lost part-way
            raise UnreachableError("injected: the exec stream was cut after 512 bytes of output")
        raise DeadlineExceeded(f"injected: the instance did not answer within {timeout:.0f} s")

    def _at_limit(self, target):
        """What happens once ``nbytes`` of the transfer went through."""
        if self.kind == "host-disk-full":
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        if self.kind == "transfer":
            raise UnreachableError("injected: the archive transfer failed after the first bytes")
        if self.kind == "container-kill":
            return lambda: stop_container(target, kill=True)
        return self.on_gone  # engine-gone

    @hookimpl(tryfirst=True)
    def read_file(self, target, path, dest, timeout):
        if self.fired or self.kind not in TRANSFER_FAULTS or self.where != "read":
            return None
        self.fired += 1
        limited = Limited(dest, self.nbytes, lambda: self._at_limit(target))
        return self._others("read_file")(target=target, path=path, dest=limited, timeout=timeout)

    @hookimpl(tryfirst=True)
    def write_file(self, target, src, size, path, timeout):
        if self.fired or self.kind not in TRANSFER_FAULTS or self.where != "write" or not path.endswith("IRIS.DAT"):
            return None
        self.fired += 1
        return self._others("write_file")(target=target, src=Limited(src, self.nbytes, lambda: self._at_limit(target)),
                                          size=size, path=path, timeout=timeout)


def stop_container(target, kill: bool) -> None:
    """``docker stop`` (SIGTERM, then SIGKILL after 5 s) or ``docker kill`` of the target's container."""
    from iris_ops.transports import docker_exec

    api = docker_exec.connect(target.docker_host or None)
    api.kill(target.container) if kill else api.stop(target.container, timeout=5)


SCRIPT_FAULTS = {"slow", "status", "throw", "false", "cut", "deadline", "unreachable", "sigterm",
                 "container-stop", "container-kill"}
TRANSFER_FAULTS = {"transfer", "host-disk-full", "container-kill", "engine-gone"}
INJECT = {
    "slow": "Hang 3 ",
    "status": 'Set sc=$SYSTEM.Status.Error(5001,"injected: {what} returned an error status") '
              "Throw ##class(%Exception.StatusException).CreateFromStatus(sc) ",
    "throw": "Set injected=1/0 ",  # <DIVIDE>: the method threw
    "false": 'If 1 { Throw ##class(%Exception.General).%New("injected: {what} returned 0 (disk full in the instance)") } ',
}


class Limited(io.RawIOBase):
    """A stream that, once ``limit`` bytes went through, calls ``at_limit``: it raises (the
    transfer breaks, this host's disk fills) or returns an action run once (the container is
    killed, the engine goes away) while the transfer goes on and meets it."""

    def __init__(self, inner, limit: int, at_limit) -> None:
        self.inner, self.left, self.at_limit = inner, limit, at_limit

    def _spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0 and self.at_limit is not None:
            action, self.at_limit = self.at_limit(), None
            action()

    def write(self, data) -> int:
        self._spend(len(data))
        return self.inner.write(data)

    def read(self, n=-1) -> bytes:
        data = self.inner.read(n)
        self._spend(len(data))
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def __getattr__(self, name):
        return getattr(self.inner, name)




if __name__ == "__main__":
    main()
