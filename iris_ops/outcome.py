"""How an outcome reaches the user: errors on stderr, JSON documents on stdout, exit codes.

Used only by the command-line layers (:mod:`iris_ops.task`, :mod:`iris_ops.cli`,
:mod:`iris_ops.program`).  An expected failure is logged with its fix line; with ``--json`` it is also the one JSON document
on stdout (``{"ok": false, "error": ..., "exit_code": ...}``), so CI can always parse stdout.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

from iris_ops import logs, progress, redact
from iris_ops.errors import IrisOpsError, repair

__all__ = [
    "PROGRAM_NAME", "INTERNAL_FIX", "report_error", "report_internal_error", "print_plain_error",
    "report_interrupt", "failure_document", "write_json", "silence_stdout",
]

PROGRAM_NAME = "iris-ops"
INTERNAL_FIX = "This is a bug in iris-ops or a plugin; rerun with -v for the traceback and report it."


def report_error(exc: IrisOpsError) -> None:
    """An expected failure: what went wrong and how to fix it, on stderr.  Tolerates an error
    a plugin built wrongly (a subclass that skipped ``__init__``, details that are not a dict):
    the error handler itself must never crash."""
    repair(exc)
    if not logs.is_configured():
        print_plain_error(exc)
        return
    import structlog

    details = {k: v for k, v in exc.details.items() if v not in (None, "", [], {})}
    structlog.get_logger("iris_ops").error(
        exc.message, exit_code=exc.exit_code, error=type(exc).__name__, fix=exc.fix or None, **details
    )
    if logs.verbose():
        _print_traceback(exc)


def report_internal_error(exc: BaseException) -> None:
    message = redact.text(f"unexpected internal error: {type(exc).__name__}: {exc}")
    if not logs.is_configured():
        print(f"{PROGRAM_NAME}: {message}\n  fix: {INTERNAL_FIX}", file=sys.stderr)
    else:
        import structlog

        structlog.get_logger("iris_ops").error(message, exit_code=1, fix=INTERNAL_FIX)
    if logs.verbose():
        _print_traceback(exc)


def _print_traceback(exc: BaseException) -> None:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    sys.stderr.write(redact.text("".join(lines)))


def print_plain_error(exc: IrisOpsError) -> None:
    """Before logging is configured (bad config file, broken plugin, bad global flag)."""
    repair(exc)
    lines = [f"{PROGRAM_NAME}: {exc.message}"]
    if exc.details.get("usage"):
        lines.append(f"  usage: {exc.details['usage']}")
    if exc.fix:
        lines.append(f"  fix: {exc.fix}")
    print(redact.text("\n".join(lines)), file=sys.stderr)


def report_interrupt(exc: BaseException | None = None) -> None:
    """One line: which signal stopped the task (Ctrl-C says just "interrupted"), and that its
    cleanup ran, or what it left unfinished when it could not (``exc.unfinished``)."""
    progress.end_line()
    print(f"{PROGRAM_NAME}: {_interrupted(exc)}; {_cleanup(exc)}.", file=sys.stderr)


def _cleanup(exc: BaseException | None) -> str:
    return getattr(exc, "unfinished", None) or "cleanup ran"


def _interrupted(exc: BaseException | None) -> str:
    from iris_ops import signals

    if isinstance(exc, signals.Interrupted) and exc.signum != signals.signal.SIGINT:
        return f"stopped by {signals.signal_name(exc.signum)}"
    return "interrupted"


def failure_document(exc: BaseException) -> dict[str, Any]:
    """``{"ok": false, "error": ..., "exit_code": ..., "fix": ...}`` plus the error's details
    (a failed validation's findings, an IRIS error's text and output tail)."""
    if isinstance(exc, IrisOpsError):
        repair(exc)
        details = {k: v for k, v in exc.details.items() if v not in (None, "", [], {})}
        doc = {"ok": False, "error": exc.message, "exit_code": exc.exit_code,
               "error_type": type(exc).__name__, "fix": exc.fix or None}
        return {**doc, **{k: v for k, v in details.items() if k not in doc}}
    if isinstance(exc, KeyboardInterrupt):
        from iris_ops import signals

        return {"ok": False, "error": f"{_interrupted(exc)}; {_cleanup(exc)}", "exit_code": signals.exit_code_of(exc),
                "error_type": "KeyboardInterrupt", "fix": None}
    return {"ok": False, "error": f"unexpected internal error: {type(exc).__name__}: {exc}", "exit_code": 1,
            "error_type": "InternalError", "fix": INTERNAL_FIX}


def write_json(doc: Any) -> None:
    """The one JSON document of a ``--json`` run, on stdout."""
    sys.stdout.write(redact.text(json.dumps(redact.value(doc), indent=2, ensure_ascii=False, default=str)) + "\n")
    sys.stdout.flush()


def silence_stdout() -> None:
    """stdout's reader went away (``| head``): stop quietly.  Later writes, including the
    interpreter's final flush, go to /dev/null instead of raising again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
