"""Fixtures by name: the ``fixtures_dir`` setting, where ``backup`` writes ``<NS>`` by default
and where ``validate`` and ``restore`` look a fixture name up."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from iris_ops import names
from iris_ops.errors import FixtureError

if TYPE_CHECKING:
    from iris_ops.config import Settings

__all__ = ["path", "default_out", "locate"]


def path(settings: "Settings") -> Path:
    return settings.path("fixtures_dir")


def default_out(settings: "Settings", namespace: str) -> Path:
    """Where ``backup --ns NS`` writes without ``--out``: ``<fixtures_dir>/<NS>``."""
    return path(settings) / namespace


def locate(value: str, settings: "Settings") -> Path:
    """The fixture directory ``value`` names: a plain name is looked up in ``fixtures_dir``
    (as given, then upper-cased as ``backup`` writes it), then in the current directory;
    anything with a ``/`` is a path."""
    given = Path(value).expanduser()
    if len(given.parts) != 1 or value in (".", ".."):
        return given
    base = path(settings)
    for candidate in (base / value, base / value.upper(), given):
        if candidate.is_dir():
            return candidate
    known = sorted(p.name for p in base.iterdir() if (p / "manifest.json").is_file()) if base.is_dir() else []
    raise FixtureError(
        f"no fixture named {names.shown(value)} in {base}",
        fix=(f"Fixtures there: {', '.join(known)}. " if known else "")
        + "Write one with `iris-ops backup --ns NS`, or give a directory with --src DIR.",
    )
