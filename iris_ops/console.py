"""The ``iris-ops`` console script (and ``python -m iris_ops``).

It starts what may start before the program does, then hands over to :func:`iris_ops.cli.main`.
What starts here runs while invoke, the plugins and the rest of iris-ops are imported (about
0.25-0.3 s on a two-core machine); any other command imports nothing more than before.

The script's process then leaves without tearing the interpreter down (:func:`_leave`).
"""

from __future__ import annotations

import sys

__all__ = ["main", "script", "exit_status"]


def main(argv: list[str] | None = None) -> None:
    """The program, as a function: it returns, or raises :class:`SystemExit` with the exit code."""
    words = sys.argv[1:] if argv is None else argv
    if "validate" in words:
        from iris_ops import hashpass

        hashpass.prefetch_for(words)  # validate's hash pass, on the second core
    from iris_ops.cli import main as run

    run(argv)


def script() -> None:
    """The console script's entry point: :func:`main`, then :func:`_leave` with its exit code."""
    try:
        main()
    except SystemExit as exc:
        _leave(exc.code)
    _leave(0)


def _leave(code: object) -> None:
    """End the process with ``code`` as :class:`SystemExit` would, minus the teardown.

    Python's own exit frees every module and object one by one: for ``iris-ops --list`` that was
    a fifth of its run (about 50 ms of CPU on a two-core VM, docs/PERFORMANCE.md), spent on
    memory the kernel is about to take back anyway.  Everything a program may rely on at exit
    still happens, in Python's order: the ``atexit`` handlers (logging's flush, temporary-file
    finalizers), then stdout and stderr are flushed.  Not taken when another thread still runs
    (Python's exit waits for it), nor where ``atexit`` cannot run its handlers here."""
    import atexit
    import os
    import threading

    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if threading.active_count() > 1 or run_handlers is None:
        sys.exit(code)
    run_handlers()
    status = exit_status(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed by its reader, or by the program
            pass
    os._exit(status)


def exit_status(code: object) -> int:
    """The exit status :class:`SystemExit` gives ``code``: None is 0, an int itself, anything else
    is printed on stderr and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1
