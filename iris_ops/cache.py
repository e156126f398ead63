"""The fixture cache inside the instance: ``<mgr>/iris-ops-cache/``.

The first restore of a database file leaves a verified copy there, ``<sha256>.DAT``, keyed by
the sha256 of its uncompressed bytes (the manifest's digest), with a record ``<sha256>.json``
(digest, size, fixture id, time, and the DAT's identity).  A later restore of the same file
copies it inside the instance (``%Library.File.CopyFile``) instead of streaming it again.

Safety rests on these rules:

* files appear under their final names only by renaming a complete temporary file, the record
  last (:func:`iris_ops.script_builders.cache.fill_statements`);
* the record holds what identifies the DAT's bytes as it stood once in place: its size, its
  modification time and its change time (ctime), as the instance reads them;
* an entry is served only when its record parses and names the manifest's digest and size, and
  the DAT still has that size, mtime and ctime, checked in the session that copies it, before
  and after the copy; otherwise the restore streams the file and replaces the entry;
* every entry holds the same bytes for the same key, so concurrent fills, and a prune racing a
  restore, can only cost a miss (a copy already open keeps reading a deleted file).

Why these fields, and not the inode: IRIS reads the size, the mtime and, on Unix, the ctime
(``GetFileDateCreated`` is "the date of the last file status change"), in the very session that
serves the entry, at no extra cost, through any transport.  Every write, truncation, ``touch``,
``chmod`` or rename of the file sets its ctime to the current time (to the kernel's timestamp
granularity), and nothing in user space can set it back; a file put in the entry's place has the
ctime of its own making.  IRIS has no call that returns an inode, so reading one would cost every
clone another command in the container (``stat``), and it would catch nothing more than a file
replaced within the same millisecond as the fill.  What the identity cannot see (bytes changed
below the file system, a record rewritten to match a changed file) ``iris-ops cache verify``
finds: it hashes every entry inside the instance.

The cache is not a restore's output: a failed restore removes what it created, but a verified
entry it added may remain.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from iris_ops import __version__, names, script_builders
from iris_ops.errors import UsageError

if TYPE_CHECKING:
    from iris_ops.objectscript import Script
    from iris_ops.operation import Operation

# where the scripts and this module agree
from iris_ops.script_builders.cache import CHANGED, DIRECTORY, NO_IDENTITY  # noqa: E402

__all__ = [
    "location", "new_token", "prepare_fill", "Entry", "Survey", "survey", "remove_entry", "parse_size",
    "prune", "Verdict", "verify",
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
# (:func:`iris_ops.script_builders.restore_databases`, with
# :func:`iris_ops.script_builders.cache.clone_steps` and
# :func:`~iris_ops.script_builders.cache.fill_statements`); what comes first is here.


def prepare_fill(cache_dir: str, sha256: str, size: int, fixture_id: str, token: str,
                 on_failure: "Callable[[str, Script], None]") -> tuple[str, str, str]:
    """Before a verified file (``size`` bytes of ``sha256``) is left in the cache: register with
    the caller's undo log the removal of the temporary files the fill may leave if its session
    is cut short, and return its record's text (the session adds the DAT's mtime and ctime:
    :func:`iris_ops.script_builders.cache.record_text`)."""
    from iris_ops.script_builders.cache import record_text

    temps = [f"{sha256}.DAT.tmp-{token}", f"{sha256}.json.tmp-{token}"]
    on_failure(f"cache temporary files {cache_dir}{{{','.join(temps)}}}",
               script_builders.cache_remove(cache_dir, temps))
    return record_text({"tool": f"iris-ops {__version__}", "sha256": sha256, "size": size, "fixture": fixture_id,
                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


# --- what is in it -------------------------------------------------------------------------


@dataclass
class Entry:
    sha256: str
    size: int | None = None            # of <sha>.DAT; None when missing
    record: dict | None = None
    record_present: bool = False
    last_used: float | None = None     # epoch seconds: the record's modification time
    files: list[str] = field(default_factory=list)
    #: The DAT's mtime and ctime as the instance reports them ($H, UTC), for the identity check.
    modified: str | None = None
    changed: str | None = None

    @property
    def problem(self) -> str:
        """Why this entry would not be served ("" when it would): what the restore's probe
        (:mod:`iris_ops.script_builders.cache`) checks, read from a survey."""
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
        if not self.record.get("ctime"):
            return NO_IDENTITY
        if (self.record.get("mtime"), self.record.get("ctime")) != (self.modified, self.changed):
            return CHANGED
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


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _record(text: object) -> dict | None:
    try:
        loaded = json.loads(str(text))
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


def survey(op: "Operation", manager_directory: str | None = None) -> Survey:
    """Every entry and temporary file in the cache (files with other names are not ours)."""
    if manager_directory is None:
        manager_directory = op.runner.run(script_builders.manager_directory(), changes=False)["manager_directory"]
    cache_dir = location(manager_directory)
    listed = sorted(op.runner.list_directory(cache_dir))
    files = [f for f in listed if _ENTRY.match(f)]
    temps = [f for f in listed if _TEMP.match(f)]
    if not files:
        return Survey(cache_dir, [], temps)
    info = op.runner.run(script_builders.cache_describe(cache_dir, files), changes=False)
    sizes, modified, records = info.get("sizes", {}), info.get("modified", {}), info.get("records", {})
    changed = info.get("changed", {})
    entries: dict[str, Entry] = {}
    for name in files:
        m = _ENTRY.match(name)
        entry = entries.setdefault(m["sha"], Entry(m["sha"]))
        entry.files.append(name)
        size = sizes.get(name)
        if m["kind"] == "DAT":
            entry.size = int(size) if size is not None and int(size) >= 0 else None
            entry.modified, entry.changed = _text(modified.get(name)), _text(changed.get(name))
        else:
            entry.record_present = int(size if size is not None else -1) >= 0
            entry.record = _record(records.get(name, ""))
            entry.last_used = _horolog(modified.get(name))
    return Survey(cache_dir, list(entries.values()), temps)


def remove_entry(op: "Operation", cache_dir: str, entry: Entry) -> None:
    """Record first: from then on no restore serves it."""
    order = sorted(entry.files, key=lambda f: not f.endswith(".json"))
    op.runner.run(script_builders.cache_remove(cache_dir, order))


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


@dataclass
class Verdict:
    """What ``cache verify`` found of one entry."""

    entry: Entry
    #: Why it was removed ("" when it is sound).
    problem: str = ""
    removed: bool = False

    def row(self) -> dict:
        return {**self.entry.row(), "ok": not self.problem, "problem": self.problem, "removed": self.removed}


def _hash_problem(op: "Operation", cache_dir: str, entry: Entry) -> str:
    """Hash the entry's DAT inside the instance: why it is unsound, or ""."""
    done = op.runner.run(script_builders.cache_hash(cache_dir, entry.sha256), changes=False,
                         timeout=op.settings.transfer_timeout)
    try:
        raw = base64.b64decode(str(done.get("sha256") or ""), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        return f"its file cannot be hashed: {done.get('hash_error') or 'no digest came back'}"
    digest = raw.hex()
    if str(done.get("changed")) == "1":
        return "its file changed while it was hashed"
    if digest != entry.sha256:
        return f"its content differs from its digest (the file hashes to {digest})"
    return ""


def verify(op: "Operation") -> tuple[Survey, list[Verdict]]:
    """Hash every entry that would be served, inside the instance (nothing is transferred), and
    remove every entry that is unsound: one whose bytes do not hash to its digest, that changed
    while it was hashed, or that would never be served (:attr:`Entry.problem`: those are not
    hashed).  Temporary files are left alone, as :func:`prune` leaves them."""
    found = survey(op)
    verdicts = []
    for entry in sorted(found.entries, key=lambda e: e.sha256):
        verdict = Verdict(entry, entry.problem)
        if not verdict.problem:
            verdict.problem = _hash_problem(op, found.directory, entry)
        if verdict.problem:
            remove_entry(op, found.directory, entry)
            verdict.removed = True
            op.log.warning("cache.removed", sha256=entry.sha256, bytes=entry.size, problem=verdict.problem)
        else:
            op.log.info("cache.verified", sha256=entry.sha256, bytes=entry.size)
        verdicts.append(verdict)
    return found, verdicts
