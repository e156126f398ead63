"""The fixture cache inside the instance: ``<mgr>/iris-ops-cache/``.

The first restore of a database file leaves a verified copy there, ``<sha256>.DAT``, keyed by
the sha256 of its uncompressed bytes (the manifest's digest), with a record ``<sha256>.json``
(digest, size, fixture id, time).  A later restore of the same file copies it inside the instance
(``%Library.File.CopyFile``) instead of streaming it again.

Safety rests on three rules:

* files appear under their final names only by renaming a complete temporary file, the record
  last (:func:`iris_ops.scripts.cache.fill_statements`);
* an entry is served only when its record parses, names the manifest's digest and size, and the
  cached file has that size; otherwise the restore streams and replaces the entry;
* every entry holds the same bytes for the same key, so concurrent fills, and a prune racing a
  restore, can only cost a miss (a copy already open keeps reading a deleted file).

The cache is not a restore's output: a failed restore removes what it created, but a verified
entry it added may remain.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from iris_ops import __version__, names, scripts
from iris_ops.errors import IrisOpsError, UsageError

if TYPE_CHECKING:
    from iris_ops.objectscript import Script
    from iris_ops.operation import Operation

from iris_ops.scripts.cache import DIRECTORY  # noqa: E402  (where the scripts and this module agree)

__all__ = [
    "location", "new_token", "prepare_fill", "Entry", "Survey", "survey", "remove_entry", "parse_size",
    "prune",
]

_ENTRY = re.compile(r"^(?P<sha>[0-9a-f]{64})\.(?P<kind>DAT|json)$")
_TEMP = re.compile(r"^(?P<sha>[0-9a-f]{64})\.(DAT|json)\.(tmp|used)-[0-9a-f]{12}$")
#: $HOROLOG day 47117 is 1970-01-01.
_EPOCH_DAY = 47117


def location(manager_directory: str) -> str:
    """The cache directory under a manager directory."""
    return names.instance_path(names.directory(manager_directory) + DIRECTORY)


def new_token() -> str:
    """Names one restore's temporary files in the cache."""
    return secrets.token_hex(6)


# --- restore's side ------------------------------------------------------------------------
# Serving an entry and filling one are steps of restore's session
# (:func:`iris_ops.scripts.restore_databases`, with :func:`iris_ops.scripts.cache.clone_steps`
# and :func:`~iris_ops.scripts.cache.fill_statements`); what comes first is here.


def prepare_fill(op: "Operation", cache_dir: str, sha256: str, size: int, fixture_id: str, token: str,
                 on_failure: "Callable[[str, Script], None]") -> bool:
    """Before a verified file (``size`` bytes of ``sha256``) is left in the cache: write its
    record as ``<sha256>.json.tmp-<token>``, and register with the caller's undo log the removal
    of the temporary files the fill may leave if its session is cut short.  A cache that cannot
    be filled costs a warning, never the restore: False then."""
    temps = [f"{sha256}.DAT.tmp-{token}", f"{sha256}.json.tmp-{token}"]
    on_failure(f"cache temporary files {cache_dir}{{{','.join(temps)}}}", scripts.cache_remove(cache_dir, temps))
    record = json.dumps({"tool": f"iris-ops {__version__}", "sha256": sha256, "size": size,
                         "fixture": fixture_id, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode()
    try:
        op.runner.write_file(io.BytesIO(record), len(record), cache_dir + temps[1], timeout=op.settings.timeout)
    except IrisOpsError as exc:
        op.log.warning("cache.fill_failed", sha256=sha256, error=str(exc), note="the restore goes on without it")
        return False
    return True


# --- what is in it -------------------------------------------------------------------------


@dataclass
class Entry:
    sha256: str
    size: int | None = None            # of <sha>.DAT; None when missing
    record: dict | None = None
    record_present: bool = False
    last_used: float | None = None     # epoch seconds: the record's modification time
    files: list[str] = field(default_factory=list)

    @property
    def problem(self) -> str:
        """Why this entry would not be served ("" when it would)."""
        if not self.record_present:
            return "no record"
        if self.record is None:
            return "record unreadable"
        if self.record.get("sha256") != self.sha256:
            return "record names another digest"
        if self.size is None:
            return "record without its file"
        if self.record.get("size") != self.size:
            return f"file has {self.size} bytes, its record says {self.record.get('size')}"
        return ""

    def row(self) -> dict:
        record = self.record or {}
        return {"sha256": self.sha256, "bytes": self.size, "fixture": record.get("fixture"),
                "created": record.get("created"), "last_used": _iso(self.last_used),
                "ok": not self.problem, "problem": self.problem}


@dataclass
class Survey:
    directory: str
    entries: list[Entry]
    temps: list[str]


def _horolog(value: object) -> float | None:
    try:
        days, seconds = str(value).split(",")
        return (int(days) - _EPOCH_DAY) * 86400 + float(seconds)
    except (TypeError, ValueError):
        return None


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _record(text: object) -> dict | None:
    try:
        loaded = json.loads(str(text))
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


def survey(op: "Operation", manager_directory: str | None = None) -> Survey:
    """Every entry and temporary file in the cache (files with other names are not ours)."""
    if manager_directory is None:
        manager_directory = op.runner.run(scripts.manager_directory(), changes=False)["manager_directory"]
    cache_dir = location(manager_directory)
    listed = sorted(op.runner.list_directory(cache_dir))
    files = [f for f in listed if _ENTRY.match(f)]
    temps = [f for f in listed if _TEMP.match(f)]
    if not files:
        return Survey(cache_dir, [], temps)
    info = op.runner.run(scripts.cache_describe(cache_dir, files), changes=False)
    sizes, modified, records = info.get("sizes", {}), info.get("modified", {}), info.get("records", {})
    entries: dict[str, Entry] = {}
    for name in files:
        m = _ENTRY.match(name)
        entry = entries.setdefault(m["sha"], Entry(m["sha"]))
        entry.files.append(name)
        size = sizes.get(name)
        if m["kind"] == "DAT":
            entry.size = int(size) if size is not None and int(size) >= 0 else None
        else:
            entry.record_present = int(size if size is not None else -1) >= 0
            entry.record = _record(records.get(name, ""))
            entry.last_used = _horolog(modified.get(name))
    return Survey(cache_dir, list(entries.values()), temps)


def remove_entry(op: "Operation", cache_dir: str, entry: Entry) -> None:
    """Record first: from then on no restore serves it."""
    order = sorted(entry.files, key=lambda f: not f.endswith(".json"))
    op.runner.run(scripts.cache_remove(cache_dir, order))


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``1GiB``, ``100000``: bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(i?b)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise UsageError(f"cannot read size {text!r}", fix="Give bytes or a number with K, M, G or T: --max-size 2G")
    return int(m[1]) * 1024 ** " kmgt".index((m[2] or " ").lower())


def prune(op: "Operation", max_size: int | None, everything: bool) -> list[Entry]:
    """Remove entries, least recently used first, until the rest fit in ``max_size`` bytes;
    ``everything`` removes them all.  Entries that would not be served go first.  Temporary
    files are left alone (a restore may be writing them: ``doctor`` judges those)."""
    found = survey(op)
    ordered = sorted(found.entries, key=lambda e: (not e.problem, e.last_used or 0))
    total = sum(e.size or 0 for e in found.entries)
    removed = []
    for entry in ordered:
        if not everything and (max_size is None or total <= max_size) and not entry.problem:
            break
        remove_entry(op, found.directory, entry)
        total -= entry.size or 0
        removed.append(entry)
        op.log.info("cache.pruned", sha256=entry.sha256, bytes=entry.size, problem=entry.problem or None)
    return removed
