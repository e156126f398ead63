"""How a restore puts its database files in place (:mod:`iris_ops.operations.restore`): copied
inside the instance from the fixture cache (:mod:`iris_ops.cache`) when it may serve them, else
streamed from the fixture with their sha256 checked as they go, and then left in the cache; then
the session that creates the databases and the namespace.

Sessions: one that serves what the cache holds and, when it held everything, does the rest; or,
when it did not, the streams and then one session that fills the cache and does the rest
(:func:`iris_ops.script_builders.restore_databases`).
"""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Callable, Protocol

from iris_ops import names, script_builders

if TYPE_CHECKING:
    from iris_ops.fixture import Fixture
    from iris_ops.objectscript import Script
    from iris_ops.operation import Operation
    from iris_ops.operations.restore_checks import Facts, PlannedDatabase
    from iris_ops.script_builders.restore import Guard

__all__ = ["Undo", "write_small", "write_small_files", "stream_source", "new_database", "place_files"]


class Undo(Protocol):
    """What :func:`place_files` needs of the restore's undo log
    (:class:`iris_ops.operations.restore.UndoLog`, which imports this module)."""

    def add(self, what: str, script: "Script", fallback: Callable[[], object] | None = None) -> None: ...

    def record(self, actions: list[tuple[str, "Script"]]) -> int: ...

    def forget(self, mark: int) -> None: ...


def write_small(op: "Operation", data: bytes, path: str) -> None:
    """A marker or an empty file, written whole or not at all: a write cut short by a signal
    could still land in the instance after the rollback."""
    from iris_ops import signals

    with signals.shielded():
        op.runner.write_file(io.BytesIO(data), len(data), path, timeout=op.settings.timeout)


def write_small_files(op: "Operation", files: "list[tuple[bytes, str]]") -> None:
    """Markers and journals, each written whole or not at all and in order, in one round trip
    where the transport can (:meth:`~iris_ops.runner.Runner.write_files`); a signal waits for
    the end of the call, as for :func:`write_small`."""
    from iris_ops import signals

    with signals.shielded():
        op.runner.write_files(files, timeout=op.settings.timeout)


def stream_source(op: "Operation", loaded: "Fixture", item: "PlannedDatabase", path: str):
    """Send the fixture's file for ``item`` to ``path`` in the instance; return the transport's
    digest of the bytes sent (what the manifest's sha256 is checked against)."""
    from iris_ops import fixture, progress

    # the database's uncompressed bytes (a compressed file is decompressed in the stream)
    with fixture.open_database(loaded, item.source) as (handle, size):
        bar = progress.ProgressReader(handle, size, item.name)
        try:
            return op.runner.write_file(bar, size, path, timeout=op.settings.transfer_timeout)
        finally:
            bar.close()


def new_database(item: "PlannedDatabase", **cache) -> "script_builders.NewDatabase":
    from iris_ops.script_builders.restore import NewDatabase

    return NewDatabase(item.name, item.directory, None if names.is_system_resource(item.resource) else item.resource,
                       **cache)


def place_files(op: "Operation", loaded: "Fixture", planned: list["PlannedDatabase"], serve: list, namespace: str,
                facts: "Facts", undo: Undo, token: str, creations: list, guard: "Guard | None" = None) -> dict:
    """Serve ``serve`` from the fixture cache, stream the rest, and run the session that creates
    everything (``creations``: the undo of each, recorded with ``undo`` before the session that
    may make them).  Sets ``cached`` on each item the cache served; returns the last session's
    result.  ``guard``: what each changing session checks first."""
    from iris_ops import cache, storage
    from iris_ops.operations.restore_checks import content_differs

    fixture_id, cache_dir = loaded.manifest.fixture_id, facts.cache_dir
    globals_db = next(p.name for p in planned if p.source.has_globals)
    routines_db = next(p.name for p in planned if p.source.has_routines)
    done: dict = {}
    if serve:
        t0 = time.monotonic()
        reflinked = set()
        if cache_dir is not None:
            pairs = [(cache_dir + f"{item.source.sha256}.DAT", item.directory + "IRIS.DAT") for item in serve]
            methods = storage.share(op, facts.manager_directory, pairs, "clone")
            reflinked = {item.name for item, m in zip(serve, methods) if m == storage.REFLINK}
        if not op.target.copies_keep_owner:
            for item in serve:
                if item.name not in reflinked:
                    write_small(op, b"", item.directory + "IRIS.DAT")
        mark = undo.record(creations)  # the session below may create all of them
        done = op.runner.run(script_builders.restore_databases(namespace, [
            new_database(item, clone=(cache_dir, item.source.sha256, item.size, token),
                         clone_reflinked=item.name in reflinked) if item in serve
            else new_database(item) for item in planned], globals_db, routines_db, guard),
            timeout=op.settings.transfer_timeout)
        for item in serve:
            item.cached = str((done.get("cloned") or {}).get(item.name)) == "1"
            if item.cached:
                item.method = storage.REFLINK if item.name in reflinked else storage.COPY
                op.step("restore.cloned", database=item.name, bytes=item.size, sha256=item.source.sha256,
                        seconds=round(time.monotonic() - t0, 3), method=item.method)
            else:
                op.log.info("restore.cache_miss", database=item.name, sha256=item.source.sha256,
                            reason=str((done.get("reasons") or {}).get(item.name) or ""))
        if str(done.get("finished")) == "1":
            return done
        undo.forget(mark)  # it stopped after the copies: it created none of them

    fills = {}
    for item in planned:
        if item.cached:
            continue
        t0 = time.monotonic()
        digest = stream_source(op, loaded, item, item.directory + "IRIS.DAT")
        seconds = max(time.monotonic() - t0, 1e-9)
        op.step("restore.streamed", database=item.name, bytes=digest.bytes, sha256=digest.sha256,
                mib_per_s=round(digest.bytes / seconds / (1 << 20), 1))
        if digest.sha256 != item.source.sha256:
            raise content_differs(item.source.file, item.source.sha256, digest.sha256)
        if cache_dir is not None and all(f[1] != item.source.sha256 for f in fills.values()):
            # the entry replaces any other of that digest (one that changed, for instance)
            record = cache.prepare_fill(cache_dir, item.source.sha256, digest.bytes, fixture_id, token, undo.add)
            fills[item.name] = (cache_dir, item.source.sha256, digest.bytes, token, record)
    filled_by = {name: storage.COPY for name in fills}
    if cache_dir is not None and fills:
        items = {item.name: item for item in planned}
        # the temporary name the fill renames into place (script_builders.cache.fill_statements)
        pairs = [(items[name].directory + "IRIS.DAT", f"{cache_dir}{fill[1]}.DAT.tmp-{token}")
                 for name, fill in fills.items()]
        filled_by = dict(zip(fills, storage.share(op, facts.manager_directory, pairs, "cache fill")))
    undo.record(creations)
    done = op.runner.run(script_builders.restore_databases(namespace, [
        new_database(item, fill=fills.get(item.name), fill_reflinked=filled_by.get(item.name) == storage.REFLINK)
        for item in planned], globals_db, routines_db, guard),
        timeout=op.settings.transfer_timeout)
    for item in planned:
        if item.name in fills and str((done.get("filled") or {}).get(item.name)) == "1":
            item.cache_fill = filled_by[item.name]
    for name, (_, sha256, size, _, _) in fills.items():
        if str((done.get("filled") or {}).get(name)) == "1":
            op.log.info("cache.filled", sha256=sha256, bytes=size, method=filled_by[name])
        else:
            op.log.warning("cache.fill_failed", sha256=sha256, error=str((done.get("fill_errors") or {}).get(name)),
                           note="the restore goes on without it")
    return done
