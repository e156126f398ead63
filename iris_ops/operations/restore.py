"""Built-in plugin: `restore`, a fixture into a new namespace, all or nothing.

What needs no reading of the files is checked first (manifest, sizes, DAT labels, and any
plugin's ``validate`` findings); the sha256 of each file is verified while it streams, or, for a
file the fixture cache serves, hashed here while the instance copies the cached one; a mismatch
rolls the restore back.  Then, for each database (IRIS.md §7): a directory under the
manager directory, and the file, copied inside the instance from the fixture cache
(:mod:`iris_ops.cache`) when it holds that digest, else streamed in (owner and mode set by the
transport) and then left in the cache; the label's resource created if missing,
Config.Databases.Create, MountDatabase with Mounted=1 and ReadOnlyMounted=0 required; then
Config.Namespaces.Create mapping Globals and Routines as in the source; then row counts are
verified.  Every step that changes the instance first records its undo; a failure anywhere
(Ctrl-C included) replays the undo log backwards.  A verified cache entry is not the restore's
output and may remain.

Sessions: one read-only session for every fact (:func:`restore_checks.preflight`), then one that
makes every change (:func:`iris_ops.scripts.restore_databases`), run a second time only when the
cache did not serve every file; a rollback is one more.  The journal, the provenance markers and
streamed files move through the transport.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from iris_ops import __version__, hookimpl, names, scripts
from iris_ops import flags
from iris_ops.task import task
from iris_ops.errors import ConflictError, InstanceError, IrisOpsError, ValidationError

if TYPE_CHECKING:
    from iris_ops.fixture import Fixture
    from iris_ops.operation import Operation
    from iris_ops.objectscript import Script
    from iris_ops.operations.restore_checks import Facts, PlannedDatabase

__all__ = [
    "MARKER", "JOURNAL_PREFIX", "plan", "journal_path", "Journal", "UndoLog", "remove_created_directory",
    "check_targets", "restore_databases", "run_restore", "restore", "register_tasks",
]


#: Provenance written by restore into each database directory it creates.
MARKER = "iris-ops-restore.json"
#: ``<mgr>/iris-ops-restore-<NS>.json`` exists while a restore into NS is unfinished.
JOURNAL_PREFIX = "iris-ops-restore-"


def plan(op: "Operation", loaded: "Fixture", namespace: str) -> list[PlannedDatabase]:
    """Names for the new databases: ``<NS>`` for a one-database fixture, ``<NS>_DATA`` and
    ``<NS>_CODE`` when Globals and Routines were separate.  Their directories, under the
    manager directory, are set by :func:`~iris_ops.operations.restore_checks.preflight`."""
    from iris_ops import datlabel
    from iris_ops.operations.restore_checks import PlannedDatabase

    dbs = loaded.databases
    planned = []
    for db in dbs:
        if len(dbs) == 1:
            name = names.database(namespace)
        else:
            name = names.derived_database(namespace, "DATA" if db.has_globals else "CODE")
        resource = names.resource(db.resource or datlabel.read_label(loaded.path_of(db)).resource)
        size = db.bytes if db.bytes is not None else loaded.path_of(db).stat().st_size
        planned.append(PlannedDatabase(db, name, "", resource, size))
    return planned


def journal_path(manager_directory: str, namespace: str) -> str:
    return names.instance_path(f"{names.directory(manager_directory)}{JOURNAL_PREFIX}{namespace}.json")


class Journal:
    """``<mgr>/iris-ops-restore-<NS>.json``: what this restore may create, written before the
    first change and removed once the restore succeeded or was rolled back completely.  Left
    behind (``kill -9``, power loss), it tells ``iris-ops doctor`` exactly what to undo, and
    nothing else."""

    def __init__(self, op: "Operation", manager_directory: str, namespace: str, planned: list,
                 new_resources: dict[str, bool] | None = None) -> None:
        self.op = op
        self.path = journal_path(manager_directory, namespace)
        # Resources this restore may create (none of them existed when it started): listed up
        # front, so that creating one costs no second journal write.
        self.doc = {"tool": f"iris-ops {__version__}", "namespace": namespace,
                    "databases": [{"name": p.name, "directory": p.directory} for p in planned],
                    "resources": [{"name": r, "with_role": w} for r, w in (new_resources or {}).items()]}

    def write(self) -> None:
        data = json.dumps(self.doc).encode()
        self.op.runner.write_file(io.BytesIO(data), len(data), self.path, timeout=self.op.settings.timeout)

    def remove(self) -> None:
        # Written by the transport, removed by it: one exec, no `iris session`.
        if not self.op.runner.remove_path(self.path, timeout=self.op.settings.timeout):
            raise InstanceError(f"could not remove the restore journal {self.path}",
                                fix="Run `iris-ops doctor --fix`: it finishes what a restore left behind.")


class UndoLog:
    """Undo actions recorded before each change; replayed newest first on failure.

    Each action is a script, optionally with a ``fallback`` (what to do instead when run on its
    own: removing a directory falls back to the transport's root removal).  A replay first runs
    them all, and then the removal of the journal, as one session, each action a step that
    runs only when every earlier one completed; if that session fails anywhere, every action
    is replayed on its own (each tolerates what is already undone), and the journal stays
    unless all of them succeeded."""

    def __init__(self, op: "Operation", journal: Journal | None = None) -> None:
        self.op = op
        self.journal = journal
        self.actions: list[tuple[str, "Script", Callable[[], object] | None]] = []

    def add(self, what: str, script: "Script", fallback: Callable[[], object] | None = None) -> None:
        self.actions.append((what, script, fallback))

    def record(self, actions: list[tuple[str, "Script"]]) -> int:
        """Add several undo actions at once (a session that may make all those changes is about
        to run); returns a mark for :meth:`forget`."""
        mark = len(self.actions)
        self.actions.extend((what, script, None) for what, script in actions)
        return mark

    def forget(self, mark: int) -> None:
        """Drop the actions recorded since ``mark``: the session that might have made those
        changes proved it made none."""
        del self.actions[mark:]

    def replay(self) -> list[str]:
        """Undo everything; returns what could not be undone (the journal is then kept)."""
        from iris_ops import signals

        with signals.shielded():  # a signal now must not leave the namespace half restored
            try:
                return self._replay()
            finally:
                self.actions.clear()

    def _replay(self) -> list[str]:
        from iris_ops.objectscript import Script

        if self.actions or self.journal is not None:
            whole = Script("%SYS", purpose="roll back the restore")
            for i, (_, script, _) in enumerate(reversed(self.actions)):
                whole.step(f"undo{i}", *script.folded())
            if self.journal is not None:
                whole.step("journal", *scripts.remove_file(self.journal.path).folded())
            try:
                self.op.runner.run(whole)
            except Exception as exc:  # undo one by one: each tolerates what is already undone
                self.op.log.warning("restore.rollback_retry", error=str(exc), note="undoing each change on its own")
            else:
                for what, _, _ in reversed(self.actions):
                    self.op.log.info("restore.rollback", undone=what)
                return []
        failed = []
        for what, script, fallback in reversed(self.actions):
            try:
                fallback() if fallback is not None else self.op.runner.run(script)
                self.op.log.info("restore.rollback", undone=what)
            except BaseException as exc:  # keep undoing the rest
                failed.append(f"{what}: {exc}")
                self.op.log.error("restore.rollback_failed", undo=what, error=str(exc))
        if not failed and self.journal is not None:
            _remove_journal(self.journal)
        return failed


def remove_created_directory(op: "Operation", directory: str) -> None:
    """Remove a database directory a restore created (as root when the instance cannot)."""
    try:
        op.runner.run(scripts.remove_directory(directory))
    except IrisOpsError:
        # A file the transport wrote may still be root-owned if chown failed: remove as root.
        op.runner.remove_path(directory)


def check_targets(op: "Operation", namespace: str, planned: list[PlannedDatabase], force: bool,
                  confirm: Callable[[list[str]], None] | None = None, found: dict | None = None) -> bool:
    """Refuse a restore over anything that exists, unless ``force``; then ``confirm`` (asked
    with what would be destroyed) may still refuse before anything is deleted.  ``found``: what
    :func:`iris_ops.scripts.existing` already answered.  True when ``force`` deleted something."""
    from iris_ops.operations.delete import delete_namespace

    def existing() -> list[str]:
        nonlocal found
        found = found or op.runner.run(
            scripts.existing(namespace, [p.name for p in planned], [p.directory for p in planned]), changes=False
        )
        clash = [f"namespace {namespace}"] if found["namespace"] else []
        clash += [f"database {name}" for name, there in found["databases"].items() if there]
        clash += [f"directory {d}" for d, there in found["directories"].items() if there]
        found = None  # asked again after a --force delete
        return clash

    clash = existing()
    if not clash:
        return False
    if not force:
        raise ConflictError(
            f"restore target already exists: {', '.join(clash)}",
            fix="Choose another --ns, delete it with `iris-ops delete-ns`, or pass --force to replace it.",
        )
    if confirm is not None and not op.dry_run:
        confirm(clash)
    op.log.warning("restore.force_delete", existing=clash)
    delete_namespace(op, namespace)
    if op.dry_run:
        return True
    remaining = existing()
    leftover_dirs = [c.split(" ", 1)[1] for c in remaining if c.startswith("directory ")]
    if any(not c.startswith("directory ") for c in remaining):
        raise ConflictError(
            f"--force removed namespace {namespace}, but these still exist and belong to something else: "
            f"{', '.join(c for c in remaining if not c.startswith('directory '))}",
            fix="Delete them yourself if they are yours, or restore under another --ns.",
        )
    for directory in leftover_dirs:  # orphan directories of an earlier, unconfigured database
        remove_created_directory(op, directory)
    return True


def restore_databases(op: "Operation", loaded: "Fixture", planned: list[PlannedDatabase], namespace: str,
                      facts: "Facts", undo: UndoLog) -> dict:
    """Every change of a restore, each undo recorded before the change it undoes: the
    directories (with provenance), then the files and the rest
    (:func:`iris_ops.operations.restore_files.place_files`): one session that serves what the
    fixture cache holds and, when it held everything, creates the databases and the namespace
    and counts its rows (:func:`iris_ops.scripts.restore_databases`).  Otherwise the missed
    files stream in (their sha256 verified as they go), and a second session leaves them in the
    cache and does the rest.  The fixture's files the cache serves are hashed here meanwhile
    (:class:`~iris_ops.operations.restore_checks.ServedFilesCheck`): a damaged fixture is
    refused, cache or not.  Returns the last session's result."""
    from iris_ops import cache
    from iris_ops.operations.restore_checks import ServedFilesCheck
    from iris_ops.operations.restore_files import place_files

    fixture_id, cache_dir = loaded.manifest.fixture_id, facts.cache_dir
    new_resources = dict(facts.new_resources)
    creations = []
    for item in planned:
        undo.add(f"directory {item.directory}", scripts.remove_directory(item.directory),
                 fallback=lambda item=item: remove_created_directory(op, item.directory))
        # Provenance; writing it also creates the directory (owner and mode as for the file).
        marker = json.dumps({"tool": f"iris-ops {__version__}", "fixture": fixture_id, "database": item.name}).encode()
        op.runner.write_file(io.BytesIO(marker), len(marker), item.directory + MARKER, timeout=op.settings.timeout)
        # A resource created just before a failure (a lost reply included) must be deleted too,
        # but never one that existed before this restore, nor a system resource.
        if item.resource in new_resources and not names.is_system_resource(item.resource):
            with_role = new_resources.pop(item.resource)
            creations.append((f"resource {item.resource}", scripts.delete_resource(item.resource, with_role=with_role)))
        creations.append((f"database {item.name}", scripts.delete_database(item.name, item.directory)))
    creations.append((f"namespace {namespace}", scripts.delete_namespace(namespace)))

    serve = [item for item in planned if cache_dir is not None and facts.in_cache.get(item.source.sha256)]
    for item in planned:
        if cache_dir is not None and item not in serve:
            op.log.info("restore.cache_miss", database=item.name, sha256=item.source.sha256,
                        reason=facts.cache_why.get(item.source.sha256) or "no entry that may be served")
    check = ServedFilesCheck(loaded, [item.source for item in serve]) if serve else None
    try:
        done = place_files(op, loaded, planned, serve, namespace, facts, undo, cache.new_token(), creations)
        if check is not None:
            check.result(op.log)
    except BaseException:
        if check is not None:
            check.abandon()
        raise
    return done


def run_restore(op: "Operation", src: Path, namespace: str, *, force: bool, verify: bool,
                confirm: Callable[[list[str]], None] | None = None, use_cache: bool = True):
    """Restore ``src`` into ``namespace``; returns (tables, planned databases), or (None,
    planned) in a dry run.  ``use_cache=False`` neither reads nor fills the fixture cache."""
    from iris_ops import cache, fixture
    from iris_ops.operations.restore_checks import check_fixture, preflight, warn_if_older
    from iris_ops.operations.restore_files import new_database

    loaded = fixture.load(src)
    check_fixture(op, loaded, src)
    op.hook.pre_restore(operation=op, fixture=loaded, namespace=namespace)
    for item in loaded.manifest.not_restored:
        op.log.warning("restore.not_restored", setting=item, note="the source had it; a restore does not recreate it")
    planned = plan(op, loaded, namespace)
    facts = preflight(op, namespace, planned, use_cache)
    warn_if_older(op, loaded.manifest.source, facts.version)
    if check_targets(op, namespace, planned, force, confirm, facts.found) and not op.dry_run:
        # --force deleted the old namespace, and with it perhaps resources a restore had made
        facts = preflight(op, namespace, planned, use_cache)
    globals_db = next(p.name for p in planned if p.source.has_globals)
    routines_db = next(p.name for p in planned if p.source.has_routines)
    if op.dry_run:
        cache_dir = facts.cache_dir
        serve = [p for p in planned if cache_dir is not None and facts.in_cache.get(p.source.sha256)]
        if serve:
            op.runner.run(scripts.restore_databases(namespace, [
                new_database(p, clone=(cache_dir, p.source.sha256, p.size, "0" * 12)) if p in serve
                else new_database(p) for p in planned], globals_db, routines_db))
        for item in planned:
            op.runner.show_command(f"{'unless the cache served it, ' if item in serve else ''}stream "
                                   f"{loaded.path_of(item.source)} to {item.directory}IRIS.DAT "
                                   f"(owner {op.target.owner}, mode 660, directory 770)")
        op.runner.run(scripts.restore_databases(namespace, [
            new_database(p, fill=None if p in serve or cache_dir is None else (
                cache_dir, p.source.sha256, p.size, "0" * 12, cache.prepare_fill(
                    cache_dir, p.source.sha256, p.size, loaded.manifest.fixture_id, "0" * 12, lambda *_: None)))
            for p in planned], globals_db, routines_db))
        return None, planned

    journal = Journal(op, facts.manager_directory, namespace, planned, facts.new_resources)
    journal.write()
    undo = UndoLog(op, journal)
    try:
        done = restore_databases(op, loaded, planned, namespace, facts, undo)
        tables = done.get("tables") or []
        if verify and not loaded.manifest.counts_are_exact:
            op.log.warning("restore.counts_not_verified", reason=loaded.manifest.row_counts.note,
                           note="the fixture records that its row counts could not be fixed")
        elif verify:
            from iris_ops.operations.validate import compare_counts

            bad = [f for f in compare_counts(loaded.manifest.tables, tables) if not f.ok]
            if bad:
                raise ValidationError(
                    f"restored namespace {namespace} does not match the manifest's row counts: "
                    + "; ".join(f"{f.file}: expected {f.expected}, found {f.actual}" for f in bad),
                    fix="The fixture's databases and manifest disagree: recreate it with `iris-ops backup`.",
                )
        op.hook.post_restore(operation=op, fixture=loaded, namespace=namespace, databases=[p.name for p in planned])
        journal.remove()  # inside: a signal before it is gone still rolls everything back
    except BaseException as exc:
        failed = undo.replay()  # and removes the journal unless something could not be undone
        if failed and isinstance(exc, IrisOpsError):
            exc.message += "; rollback incomplete: " + "; ".join(failed)
            exc.args = (exc.message,)
            exc.fix = "Run `iris-ops doctor --fix` to finish the rollback. " + (exc.fix or "")
        raise
    return tables, planned


def _remove_journal(journal: Journal) -> None:
    from iris_ops import signals

    with signals.shielded():
        try:
            journal.remove()
        except IrisOpsError as exc:
            journal.op.log.warning("restore.journal_left", path=journal.path, error=str(exc),
                                   fix="`iris-ops doctor --fix` removes it")


@task(
    target=True,
    required=("ns",),
    help={
        "src": "the fixture: a name in fixtures_dir (as `backup` wrote it), or a directory",
        "ns": "new namespace to create",
        "force": "delete an existing namespace of that name (and its databases) first; asks unless --yes",
        "yes": "do not ask before --force deletes (needed when stdin is not a terminal)",
        "no_verify": "skip the row-count check against the manifest",
        "no_cache": "neither copy from the instance's fixture cache nor leave the files in it",
        "dry_run": "print the scripts and transfers that would run, and change nothing",
        "json": "print the result (or the failure) as one JSON document",
        "lock_wait": flags.LOCK_WAIT_HELP,
    },
)
def restore(c, src, ns="", force=False, yes=False, no_verify=False, no_cache=False, dry_run=False, json_=False,
            lock_wait=None,
            **target):
    """Restore a fixture into a new namespace: all or nothing.

    The fixture is validated first. A namespace with one database (<NS>), or with <NS>_DATA and
    <NS>_CODE when the fixture's Globals and Routines were separate, is created and its row
    counts are checked against the manifest. Any failure undoes every step taken.

    Each file's sha256 is verified while it streams, and the verified file is left in the
    instance's fixture cache (<mgr>/iris-ops-cache/): a later restore of the same file copies
    it inside the instance instead (`cached` in the result). --no-cache bypasses the cache.

    Examples:
        iris-ops restore USER --ns TEST1
        iris-ops restore --src fixtures/user --ns TEST1 --force --yes
        iris-ops restore USER --ns TEST1 --dry-run
        iris-ops restore USER --ns TEST1 --no-cache
    """
    from iris_ops import fixtures_dir, locks
    from iris_ops.operations.context import confirm, operation_from_flags, refuse_json_dry_run

    refuse_json_dry_run(json_, dry_run)
    namespace = names.user_namespace(ns, action="restore into")
    op = operation_from_flags("restore", target, dry_run=dry_run)
    source = fixtures_dir.locate(src, op.settings)

    def ask(clash: list[str]) -> None:
        if not yes:
            confirm(f"--force: delete {', '.join(clash)} and restore {source} in its place?",
                    refused=f"refusing to replace namespace {namespace}")

    with op.bound(ns=namespace, fixture=str(source)), locks.holding(op, namespace, wait=lock_wait or 0):
        tables, planned = run_restore(op, source, namespace, force=force, verify=not no_verify, confirm=ask,
                                      use_cache=not no_cache)
    if tables is None:
        return None
    if json_:
        return {"fixture": str(source), "namespace": namespace,
                "databases": [{"name": item.name, "directory": item.directory, "cached": item.cached}
                              for item in planned],
                "tables": [{"name": t["name"], "row_count": int(t["row_count"])} for t in tables]}
    op.emit(f"restored {source} into namespace {namespace}")
    for item in planned:
        op.emit(f"  database {item.name:<24} {item.directory}" + ("  (copied from the fixture cache)" if item.cached else ""))
    for table in tables:
        op.emit(f"  table {table['name']:<40} {int(table['row_count']):>10,} rows")
    from iris_ops import fixture

    for item in fixture.load(source).manifest.not_restored:
        op.emit(f"  not restored: {item}")
    return None


@hookimpl
def register_tasks(registrar):
    registrar.add_task(restore)
