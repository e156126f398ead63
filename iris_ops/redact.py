"""Secrets never reach logs, ``--dry-run`` output, ``config`` output or error messages.

A setting is secret when its name says so (ending in ``password``, ``secret`` or ``token``) or
when it is declared with :func:`declare` (a plugin's ``config_defaults`` may call it for its own
settings).  Every secret value seen while loading settings, and the value of every environment
variable whose name says it is secret, is remembered; :func:`text` and :func:`value` replace each
occurrence with ``***``.  The log pipeline, error output, ``--json`` documents, dry-run scripts
and result lines all pass through here, so a new secret setting is covered with no other change.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

__all__ = ["MASK", "declare", "is_secret", "remember", "remember_environment", "child_environment", "text", "value",
           "processor"]

MASK = "***"
_SUFFIXES = ("password", "passwd", "secret", "token")
_declared: set[str] = set()
_values: set[str] = set()


def declare(*setting_names: str) -> None:
    """Mark settings as secret whatever their names."""
    _declared.update(name.lower() for name in setting_names)


def is_secret(name: str) -> bool:
    lowered = name.lower()
    if lowered.startswith("iris_ops_"):
        lowered = lowered[len("iris_ops_"):]
    return lowered in _declared or lowered.endswith(_SUFFIXES)


def remember(secret: Any) -> None:
    # Very short values would mask ordinary text everywhere; they are weak secrets anyway.
    if isinstance(secret, str) and len(secret) >= 4:
        _values.add(secret)


def remember_environment(environ: Mapping[str, str] | None = None) -> None:
    for name, secret in (os.environ if environ is None else environ).items():
        if is_secret(name):
            remember(secret)


def child_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a process iris-ops starts on this host (a local ``iris session``):
    this one's, without iris-ops' own secret settings (``IRIS_OPS_PASSWORD`` and any other
    secret ``IRIS_OPS_*``).  The session gets its login on stdin, and whatever runs in it could
    read its environment.  Other variables pass, for the user's own code to read."""
    environ = os.environ if environ is None else environ
    return {name: held for name, held in environ.items()
            if not (name.upper().startswith("IRIS_OPS_") and is_secret(name))}


def text(s: str) -> str:
    if not _values or not isinstance(s, str):
        return s
    for secret in sorted(_values, key=len, reverse=True):
        if secret in s:
            s = s.replace(secret, MASK)
    return s


def value(obj: Any) -> Any:
    """``obj`` with every secret masked, recursively through dicts, lists and tuples."""
    if not _values:
        return obj
    if isinstance(obj, str):
        return text(obj)
    if isinstance(obj, dict):
        return {k: value(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(value(v) for v in obj)
    if isinstance(obj, BaseException):
        return text(str(obj))
    return obj


def processor(logger, method_name, event_dict):  # noqa: ARG001 - structlog processor signature
    """The structlog processor: every field of every event, ours and the libraries'.  An event's
    ``exc_info`` is left for the formatter to render (and this processor, run again after it,
    to mask): made a string here, the traceback would be lost."""
    return {key: held if key == "exc_info" else value(held) for key, held in event_dict.items()}
