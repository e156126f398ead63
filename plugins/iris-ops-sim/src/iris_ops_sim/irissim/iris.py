"""The simulated ``iris`` command as a program: ``iris session``, ``iris terminal``, ``iris qlist``
and ``iris list``.

Each ``iris session`` is its own OS process, as on IRIS: everything instance-wide (the freeze,
mounts, configuration) is shared through the instance's files under its install directory,
guarded by ``flock``.  Standard library only, so that it runs in a minimal container; the same
program runs on a host as a native install (its launcher sets ``IRISSIM_REGISTRY``).

``IRISSIM_DELAY=SECONDS`` (a test switch, in the container's environment) makes every ``iris
session`` wait that long before it reads its input: a slow, overloaded instance that overruns
every deadline.  The session then runs what it was sent, as a late IRIS process would.
"""

from __future__ import annotations

import os
import sys
import time

from .instance import SimInstance
from .instance.fs import NativeFS, current_user
from .objectscript.terminal import Instances, iris_main

__all__ = ["main", "slow_down"]


def _write(data: bytes) -> None:
    """Unbuffered, so that the banner and prompts leave at once, as IRIS writes them."""
    view = memoryview(data)
    while view:
        written = os.write(1, view)
        view = view[written:]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["session"]:
        slow_down(os.environ.get("IRISSIM_DELAY", ""))
    fs = NativeFS()

    def find(name: str):
        try:
            return SimInstance.open(fs, name)
        except LookupError:
            return None

    def every() -> list:
        return [SimInstance(fs, name, directory) for name, directory in SimInstance.registered(fs).items()]

    try:
        return iris_main(Instances(find, every), argv, sys.stdin.buffer, _write, user=current_user(), job=os.getpid())
    except BrokenPipeError:
        return 1


def slow_down(delay: str) -> None:
    """The ``IRISSIM_DELAY`` switch: wait ``delay`` seconds (empty or 0: not at all)."""
    seconds = float(delay) if delay else 0.0
    if seconds > 0:
        time.sleep(seconds)


if __name__ == "__main__":
    sys.exit(main())
