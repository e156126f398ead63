"""Fault injection for the reliability tests and for anyone reproducing a failure by hand.

:class:`Fault` is a plugin.  Tests register it in process; ``IRIS_OPS_FAULT=KIND@WHERE`` (for
example ``status@##class(Config.Databases).Create(``) makes the plugin manager register it for a
whole ``iris-ops`` run, so the same faults reach a subprocess.  Never set it outside a test.

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

The first matching call fires; later ones run normally (the cleanup must work).
"""

from __future__ import annotations

import errno
import io
import os
import re
import signal

from iris_ops import hookimpl
from iris_ops.errors import DeadlineExceeded, UnreachableError

ENV = "IRIS_OPS_FAULT"
STEP = re.compile(r"Try \{ If n=\d+ \{ ")


def signal_self(signum: int) -> None:
    os.kill(os.getpid(), signum)


def from_environment() -> "Fault | None":
    spec = os.environ.get(ENV, "")
    if not spec:
        return None
    kind, _, where = spec.partition("@")
    return Fault(kind, where)


class Fault:
    """One injected fault; ``pm`` is set when registered."""

    pm = None

    def __init__(self, kind: str, where: str, nbytes: int = 65536) -> None:
        self.kind, self.where, self.nbytes, self.fired = kind, where, nbytes, 0

    def _others(self, name):
        return self.pm.subset_hook_caller(name, remove_plugins=[self])

    @hookimpl(tryfirst=True)
    def run_objectscript(self, target, script, namespace, timeout):
        if self.fired or self.kind not in SCRIPT_FAULTS or self.where not in script:
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
        others(target=target, script=script, namespace=namespace, timeout=timeout)  # it ran...
        if self.kind == "cut":  # ...but its output was lost part-way
            raise UnreachableError("injected: the exec stream was cut after 512 bytes of output")
        raise DeadlineExceeded(f"injected: the instance did not answer within {timeout:.0f} s")

    @hookimpl(tryfirst=True)
    def read_file(self, target, path, dest, timeout):
        if self.fired or self.kind not in ("transfer", "host-disk-full") or self.where != "read":
            return None
        self.fired += 1
        limited = Limited(dest, self.nbytes, self.kind)
        return self._others("read_file")(target=target, path=path, dest=limited, timeout=timeout)

    @hookimpl(tryfirst=True)
    def write_file(self, target, src, size, path, timeout):
        if self.fired or self.kind != "transfer" or self.where != "write" or not path.endswith("IRIS.DAT"):
            return None
        self.fired += 1
        return self._others("write_file")(target=target, src=Limited(src, self.nbytes, self.kind), size=size,
                                          path=path, timeout=timeout)


SCRIPT_FAULTS = {"slow", "status", "throw", "false", "cut", "deadline", "unreachable", "sigterm"}
INJECT = {
    "slow": "Hang 3 ",
    "status": 'Set sc=$SYSTEM.Status.Error(5001,"injected: {what} returned an error status") '
              "Throw ##class(%Exception.StatusException).CreateFromStatus(sc) ",
    "throw": "Set injected=1/0 ",  # <DIVIDE>: the method threw
    "false": 'If 1 { Throw ##class(%Exception.General).%New("injected: {what} returned 0 (disk full in the instance)") } ',
}


class Limited(io.RawIOBase):
    """A stream that fails after ``limit`` bytes: the transfer breaks, or this host's disk fills."""

    def __init__(self, inner, limit: int, kind: str) -> None:
        self.inner, self.left, self.kind = inner, limit, kind

    def _spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            if self.kind == "host-disk-full":
                raise OSError(errno.ENOSPC, "No space left on device (injected)")
            raise UnreachableError("injected: the archive transfer failed after the first bytes")

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


