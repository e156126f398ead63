"""Structured logging: configured once at the entry point, written to stderr.

Modules only call ``structlog.get_logger()``.  stdout carries results and nothing else.
Records of the standard ``logging`` module (invoke, docker, urllib3) are rendered by the same
processors, so one stream has one format.  ``level`` applies to iris-ops' own events; library
records below INFO show only with ``libraries=True`` (``-vv``).
"""

from __future__ import annotations

import logging
import sys

from iris_ops import progress, redact

__all__ = ["LEVELS", "OWN_LOGGER", "is_configured", "console", "configure", "verbose"]

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
#: The logger every iris-ops event goes through (``structlog.get_logger("iris_ops.<module>")``).
OWN_LOGGER = "iris_ops"

_configured = False
_console = False


def is_configured() -> bool:
    return _configured


def console() -> bool:
    """Logs are rendered for people (console), not machines (JSON)."""
    return _console


def configure(level: str = "info", fmt: str = "auto", *, stream=None, force: bool = False,
              libraries: bool = False) -> None:
    """Configure structlog and stdlib logging.  Later calls are no-ops unless ``force``."""
    global _configured, _console
    if _configured and not force:
        return
    import structlog  # here, not at the top: `--list`, `--help` and completion never log

    stream = stream or sys.stderr
    numeric = LEVELS.get(str(level).lower())
    if numeric is None:
        from iris_ops.errors import ConfigError

        raise ConfigError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    tty = bool(getattr(stream, "isatty", lambda: False)())
    if fmt == "auto":
        fmt = "console" if tty else "json"
    if fmt not in ("console", "json"):
        from iris_ops.errors import ConfigError

        raise ConfigError(f"log format must be auto, console or json, got {fmt!r}")

    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = (
        structlog.dev.ConsoleRenderer(colors=tty)
        if fmt == "console"
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    handler = _Handler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info if fmt == "json" else _identity,
                redact.processor,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _Handler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric if libraries else max(numeric, logging.INFO))
    logging.getLogger(OWN_LOGGER).setLevel(numeric)

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            # masked before the record leaves structlog: every handler of the root logger (a
            # user's, pytest's log capture) gets it, not only ours
            redact.processor,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    _console = fmt == "console"
    progress.allow(_console and tty, stream)
    _configured = True


def verbose() -> bool:
    """iris-ops' debug events are shown (``-v``): tracebacks are shown too."""
    return logging.getLogger(OWN_LOGGER).getEffectiveLevel() <= logging.DEBUG


class _Handler(logging.StreamHandler):
    """Clears a progress line before writing, so a log line never lands inside a bar."""

    def emit(self, record: logging.LogRecord) -> None:
        progress.clear_line()
        super().emit(record)


def _identity(logger, name, event_dict):
    return event_dict
