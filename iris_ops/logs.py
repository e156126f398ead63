"""Structured logging: configured once at the entry point, written to stderr.

Modules only call ``structlog.get_logger()``.  stdout carries results and nothing else.
Records of the standard ``logging`` module (docker, urllib3) are rendered by the same
processors, so one stream has one format.
"""

from __future__ import annotations

import logging
import sys

import structlog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

_configured = False


def configure(level: str = "info", fmt: str = "auto", *, stream=None, force: bool = False) -> None:
    """Configure structlog and stdlib logging.  Later calls are no-ops unless ``force``."""
    global _configured
    if _configured and not force:
        return
    stream = stream or sys.stderr
    numeric = LEVELS.get(str(level).lower())
    if numeric is None:
        from iris_ops.errors import ConfigError

        raise ConfigError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    if fmt == "auto":
        fmt = "console" if getattr(stream, "isatty", lambda: False)() else "json"
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
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info if fmt == "json" else _identity,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_iris_ops", False):
            root.removeHandler(old)
    handler._iris_ops = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    _configured = True


def _identity(logger, name, event_dict):
    return event_dict
