"""Fixture files this host has read whole and found to be what their manifest says, so that a
restore need not read them again while they are provably the same files.

When the instance's fixture cache serves a restore, the instance copies its cached file, not the
fixture's: the fixture's own file is checked against its manifest so that a damaged fixture is
refused all the same.  On storage that shares blocks the copy takes milliseconds, while reading
a 4 GiB file takes seconds.  So the first check of a file reads it whole, and when its sha256 is
the manifest's this module records the file's identity: device, inode, size, modification and
change times (:func:`iris_ops.hashpass.signature`; the fixture cache judges its own entries
inside the instance by their size and times too).  A later check reads the file again only
when any of them differ, or when the setting ``fixture_check`` is ``always``.

Any write to the file changes its change time, which no process can set back short of changing
the system's clock: an edit in place, a copy over it, a truncation, a ``touch -d``, another file
renamed into its place (another inode).  What a record cannot see is a change below the
filesystem (a disk that flips a bit under it): ``validate`` reads every byte every time.

A record is made only when nothing about the file changed while it was read, and when its change
time is at least :data:`RACY_NS` older than the start of the read; otherwise a write in the same
tick of the filesystem's clock, after the read, could leave the same times (git's "racily clean"
entries).  Records live in ``$XDG_CACHE_HOME/iris-ops/checked.json`` (``~/.cache`` by default),
private to the user; one that cannot be read or written is no record, and the file is read whole.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

from iris_ops.hashpass import PathLike, hash_stable, signature

__all__ = ["RACY_NS", "MAX_FILES", "record_path", "unchanged", "sha256_of"]

#: How much older than the read a file's change time must be for the read to be recorded.
RACY_NS = 2_000_000_000
#: Records kept; the oldest go first.
MAX_FILES = 512
_VERSION = 1


def record_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    home = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return home / "iris-ops" / "checked.json"


def _load() -> dict:
    try:
        data = json.loads(record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) and data.get("version") == _VERSION else None
    return files if isinstance(files, dict) else {}


def unchanged(path: PathLike, sha256: str) -> bool:
    """Whether ``path`` is the very file a recorded read found to have ``sha256``."""
    entry = _load().get(os.path.realpath(path))
    if not isinstance(entry, dict) or entry.get("sha256") != sha256:
        return False
    try:
        return entry.get("signature") == signature(os.stat(path))
    except OSError:
        return False


def sha256_of(path: PathLike, sha256: str, *, always: bool = False, abandon=None) -> tuple[str, bool]:
    """``(digest, read)``: ``sha256`` without reading when a record says the file is unchanged
    (and not ``always``), else the digest of a whole read, recorded when it is ``sha256`` and
    the file held still."""
    if not always and unchanged(path, sha256):
        return sha256, False
    started = time.time_ns()
    digest, stable = hash_stable(path, abandon=abandon)
    if digest == sha256 and stable is not None and stable.st_ctime_ns < started - RACY_NS:
        _remember(os.path.realpath(path), sha256, signature(stable))
    return digest, True


def _remember(key: str, sha256: str, identity: list) -> None:
    files = _load()
    files[key] = {"sha256": sha256, "signature": identity, "at": time.time()}
    if len(files) > MAX_FILES:
        kept = sorted(files.items(), key=lambda kv: kv[1].get("at", 0) if isinstance(kv[1], dict) else 0)
        files = dict(kept[-MAX_FILES:])
    target = record_path()
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"version": _VERSION, "files": files}, out)
        os.replace(temporary, target)  # whole or not at all; a concurrent writer's entry may be lost
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
