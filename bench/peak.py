"""Run a console script and report its own peak RSS: ``python bench/peak.py OUT SCRIPT ARGS...``.

``wait4``'s ``ru_maxrss`` cannot be trusted for a child: Linux carries the parent's high-water
mark into it across fork and exec, so a benchmark that holds a large buffer would report its own
memory as the child's.  ``VmHWM`` in ``/proc/self/status`` belongs to this process's address
space, made new by exec; it is written to OUT (KiB) however the script ends: by an ``atexit``
handler, which Python's exit runs and so does the iris-ops console script's faster one
(:func:`iris_ops.console.script` leaves with ``os._exit`` after the handlers).
"""

from __future__ import annotations

import atexit
import runpy
import sys


def _peak_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    out, script, *args = sys.argv[1:]
    sys.argv = [script, *args]
    atexit.register(_write_peak, out)
    runpy.run_path(script, run_name="__main__")


def _write_peak(out: str) -> None:
    with open(out, "w") as f:
        f.write(str(_peak_kib()))


if __name__ == "__main__":
    main()
