"""Built-in plugin: ``iris-ops cache list|prune|verify``, the fixture cache inside the instance
(:mod:`iris_ops.cache`)."""

from __future__ import annotations

from invoke import Collection

from iris_ops import hookimpl
from iris_ops.task import task

__all__ = ["list_", "prune", "register_tasks", "verify"]


def _mib(size: int | None) -> str:
    return "-" if size is None else f"{size / (1 << 20):.1f}"


@task(name="list", target=True, help={"json": "print the entries as one JSON document"})
def list_(c, json_=False, **target):
    """List the fixture cache of the instance: each entry, its size, fixture and last use.

    An entry is a verified database file that `restore` left in <mgr>/iris-ops-cache/, keyed
    by its sha256; `problem` names why an entry would not be served (`doctor --fix` removes it).

    Examples:
        iris-ops cache list
        iris-ops cache list --json
    """
    from iris_ops import cache
    from iris_ops.operations.context import operation_from_flags

    op = operation_from_flags("cache", target)
    with op.bound():
        found = cache.survey(op)
    rows = sorted((e.row() for e in found.entries), key=lambda r: r["last_used"] or "", reverse=True)
    if json_:
        return {"directory": found.directory, "entries": rows, "temporary_files": found.temps,
                "bytes": sum(r["bytes"] or 0 for r in rows)}
    if not rows:
        op.emit(f"the fixture cache {found.directory} is empty")
        return None
    op.emit(f"{'sha256':<16} {'MiB':>9}  {'last used':<20}  fixture / problem")
    for r in rows:
        op.emit(f"{r['sha256'][:16]} {_mib(r['bytes']):>9}  {r['last_used'] or '-':<20}  "
                + (r["problem"] and f"NOT SERVED: {r['problem']}" or str(r["fixture"] or "-")))
    op.emit(f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'}, {_mib(sum(r['bytes'] or 0 for r in rows))} MiB "
            f"in {found.directory}")
    return None


@task(target=True, help={
    "max_size": "remove entries, least recently used first, until the rest fit (bytes, or 500M, 2G ...)",
    "all": "remove every entry",
    "json": "print what was removed as one JSON document",
})
def prune(c, max_size="", all=False, json_=False, **target):  # noqa: A002 - the flag is --all
    """Remove fixture cache entries: those never served, then the least recently used.

    Without options only entries that would never be served go. Temporary files of a restore
    that is filling the cache are left alone (`doctor` reports those left by a crash).

    Examples:
        iris-ops cache prune --max-size 2G
        iris-ops cache prune --all
    """
    from iris_ops import cache
    from iris_ops.operations.context import operation_from_flags

    limit = cache.parse_size(max_size) if max_size else None
    op = operation_from_flags("cache", target)
    with op.bound():
        removed = cache.prune(op, limit, bool(all))
    if json_:
        return {"removed": [e.row() for e in removed], "bytes": sum(e.size or 0 for e in removed)}
    for entry in removed:
        op.emit(f"removed {entry.sha256[:16]} {_mib(entry.size)} MiB" + (f" ({entry.problem})" if entry.problem else ""))
    op.emit(f"removed {len(removed)} entr{'y' if len(removed) == 1 else 'ies'}, "
            f"{_mib(sum(e.size or 0 for e in removed))} MiB")
    return None


@task(target=True, help={"json": "print every entry's verdict as one JSON document"})
def verify(c, json_=False, **target):
    """Hash every fixture cache entry inside the instance, and remove the unsound ones.

    Each entry's file is hashed where it lies (nothing is transferred) and compared with the
    digest it is kept under; an entry that differs, changed while it was hashed, or would never
    be served (`cache list` says why) is removed, and the next restore of that file streams it
    again. A restore checks only each entry's size, mtime and ctime before it serves it: this
    finds what those miss. Exits 4 when it removed any entry (each row says why), 0 when every
    entry is sound.

    Examples:
        iris-ops cache verify
        iris-ops cache verify --json
    """
    from iris_ops import cache
    from iris_ops.errors import ValidationError
    from iris_ops.operations.context import operation_from_flags

    op = operation_from_flags("cache", target)
    with op.bound():
        found, verdicts = cache.verify(op)
    rows = [v.row() for v in verdicts]
    removed = [r for r in rows if r["removed"]]
    doc = {"directory": found.directory, "entries": rows, "removed": len(removed)}
    if not json_:
        for r in rows:
            op.emit(f"{r['sha256'][:16]} {_mib(r['bytes']):>9}  " + (f"REMOVED: {r['problem']}" if r["removed"] else "ok"))
        op.emit(f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'} verified, {len(removed)} removed, in {found.directory}")
    if removed:
        error = ValidationError(
            f"the fixture cache held {len(removed)} unsound entr{'y' if len(removed) == 1 else 'ies'}, now removed: "
            + "; ".join(f"{r['sha256'][:16]}: {r['problem']}" for r in removed),
            fix="Nothing more to do: the next restore of those files streams them again. Entries that changed "
            "on their own point at the instance's storage.")
        if json_:
            error.details.update(doc)
        raise error
    return doc if json_ else None


@hookimpl
def register_tasks(registrar):
    registrar.add_collection(Collection("cache", list_, prune, verify))
