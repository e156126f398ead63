"""Where a backup may write: ``--out``, checked before any instance work.

A fixture is written into a hidden sibling of ``--out`` and renamed into place; with
``--force`` whatever stood there is removed.  So, before anything is frozen or copied:

* ``--force`` replaces only a fixture with nothing of the user's beside it
  (:func:`iris_ops.fixture.writer.replaceable`): anything else is a conflict (exit 3, naming
  what is there), checked first;
* ``--out`` is never the working directory, the project root (the directory of the project
  file, or of the ``tasks.py`` that ``inv`` would load), the home directory or the fixtures
  directory, nor a directory above one of them (exit 2): such a place is never where a fixture
  belongs, even when one sits there;
* an ``--out`` that exists is a conflict (exit 3) unless ``--force``;
* the fixture can be written there: the nearest existing directory on the way is a directory
  in which a directory can be created (exit 2, saying what is wrong).  This is tried by
  creating and removing the very directory the writer would create, so a read-only
  filesystem, a full disk or a path through a file shows here and not after the freeze.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from iris_ops.errors import ConflictError, UsageError

if TYPE_CHECKING:
    from iris_ops.config import Settings
    from iris_ops.fixture import Fixture

__all__ = ["TASKS_FILE", "vet", "protected", "refuse_protected", "require_writable"]

TASKS_FILE = "tasks.py"


def vet(out: Path, settings: "Settings", *, force: bool) -> "Fixture | None":
    """Refuse an ``--out`` a backup must not or cannot write; return the fixture that
    ``--force`` would replace there (None when nothing stands there)."""
    from iris_ops import names
    from iris_ops.fixture.writer import replaceable

    if "\0" in str(out):
        raise UsageError(f"--out {names.shown(out)} holds a NUL character, which no path can",
                         fix="Pass --out a path without NUL characters.")
    exists = os.path.lexists(out)
    # With --force, what stands there is examined first: anything but a fixture is a conflict
    # (exit 3) naming what is there -- the project directory a mistyped `--out . --force` names
    # included.  A fixture that sits at a protected place is still refused below (exit 2).
    replaced = replaceable(out) if exists and force else None
    refuse_protected(out, settings)
    if exists and not force:
        raise ConflictError(f"{out} already exists",
                            fix="Choose another --out, or pass --force to replace it (a fixture only).")
    require_writable(out)
    return replaced


def protected(settings: "Settings") -> list[tuple[Path, str]]:
    """The directories no fixture may be written to, nor any directory above them, each with
    what it is; resolved (a symbolic link to the home directory is the home directory)."""
    from iris_ops import fixtures_dir

    cwd = Path.cwd()
    places = [(cwd, "the working directory")]
    if settings.project_file is not None:
        places.append((settings.project_file.parent, f"the project root (where {settings.project_file.name} is)"))
    tasks = next((d for d in (cwd, *cwd.parents) if (d / TASKS_FILE).is_file()), None)
    if tasks is not None:
        places.append((tasks, f"the project root (where {TASKS_FILE} is)"))
    try:
        places.append((Path.home(), "the home directory"))
    except (RuntimeError, KeyError):  # no HOME and no passwd entry: there is no home to protect
        pass
    places.append((fixtures_dir.path(settings), "the fixtures directory (setting fixtures_dir)"))
    return [(_resolved(place), what) for place, what in places]


def refuse_protected(out: Path, settings: "Settings") -> None:
    where = _resolved(out)
    places = protected(settings)
    # the place itself first: the project root is also above the working directory
    found = next(((p, f"it is {what}") for p, what in places if where == p), None) or next(
        ((p, f"it is above {what}, {p}") for p, what in places if where in p.parents), None)
    if found is None:
        return
    place, why = found
    raise UsageError(
        f"refusing to write a fixture at {out}: {why}",
        fix="Give --out a directory of its own, such as fixtures/NAME (without --out, backup writes "
        "<fixtures_dir>/<NS>): a fixture replaces what stands at --out.",
        details={"out": str(out), "protected": str(place)},
    )


def require_writable(out: Path) -> None:
    """The fixture's directory can be created: try it where the writer will (the nearest
    directory on the way that exists), then remove it again."""
    from iris_ops.fixture.writer import unwritable

    out = Path(os.path.abspath(out))
    existing, below = out.parent, out
    while not os.path.lexists(existing):
        existing, below = existing.parent, existing
    if not existing.is_dir():
        kind = "a file" if existing.is_file() else "a broken symbolic link" if existing.is_symlink() else "not a directory"
        raise UsageError(f"cannot write a fixture at {out}: {existing} is {kind}, not a directory",
                         fix=f"Choose an --out that is not under {existing}.",
                         details={"out": str(out), "path": str(existing)})
    probe = existing / f".{below.name}.iris-ops-tmp-{secrets.token_hex(6)}"
    try:
        probe.mkdir(mode=0o700)
        probe.rmdir()
    except OSError as exc:
        raise unwritable(out, exc) from None


def _resolved(path: Path) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):  # a symbolic link loop: compare what was given
        return Path(os.path.abspath(path))
