"""Built-in plugin: `restore`, a fixture into a new namespace, all or nothing.

What needs no reading of the files is checked first (manifest, sizes, DAT labels, and any
plugin's ``validate`` findings); the sha256 of each file is verified while it streams, and a
mismatch rolls the restore back.  Then, for each database (IRIS.md §7): a directory under the
manager directory, and the file, copied inside the instance from the fixture cache
(:mod:`iris_ops.cache`) when it holds that digest, else streamed in (owner and mode set by the
transport) and then left in the cache; the label's resource created if missing,
Config.Databases.Create, MountDatabase with Mounted=1 and ReadOnlyMounted=0 required; then
Config.Namespaces.Create mapping Globals and Routines as in the source; then row counts are
verified.  Every step that changes the instance first records its undo; a failure anywhere
(Ctrl-C included) replays the undo log backwards (:mod:`iris_ops.operations.restore_journal`:
the journal, and the guard that stops a session the client gave up on).  Removing the journal
is the point of no return: a signal from there on leaves the restore done, and reported so.  A
verified cache entry is not the restore's output and may remain.  With ``--force`` over an
existing namespace, the new one is restored beside it and takes its place only once verified
(:mod:`iris_ops.operations.restore_replace`).

Sessions: one read-only session for every fact (:func:`restore_checks.preflight`), then one that
makes every change (:func:`iris_ops.script_builders.restore_databases`), run a second time only
when the cache did not serve every file; a rollback is one more.  The journal, the provenance markers and
streamed files move through the transport: the journal and the markers in one round trip where it
can (``write_files``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from iris_ops import __version__, hookimpl, names, script_builders
from iris_ops import flags
from iris_ops.task import task
from iris_ops.errors import ConflictError, IrisOpsError, ValidationError

if TYPE_CHECKING:
    from iris_ops.fixture import Fixture
    from iris_ops.operation import Operation
    from iris_ops.operations import restore_replace
    from iris_ops.operations.restore_checks import Facts, PlannedDatabase
    from iris_ops.operations.restore_journal import Journal, UndoLog
    from iris_ops.script_builders.restore import Guard

__all__ = ["plan", "check_targets", "restore_databases", "run_restore", "restore", "register_tasks", "rollback_incomplete"]


def plan(op: "Operation", loaded: "Fixture", namespace: str) -> list["PlannedDatabase"]:
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


def check_targets(op: "Operation", loaded: "Fixture", src: Path, namespace: str, planned: list["PlannedDatabase"],
                  facts: "Facts", force: bool,
                  confirm: Callable[[list[str]], None] | None = None) -> "restore_replace.Replacement | None":
    """Refuse a restore over an unfinished one (its journal) or over anything that exists,
    unless ``force``.  With ``force``, read what the replacement involves
    (:func:`~iris_ops.operations.restore_replace.prepare`), then ``confirm`` (asked with what
    would be replaced) may still refuse, then every file of the fixture is hashed: all before the
    first change.  Returns the replacement, or None when nothing is in the way."""
    from iris_ops.operations import restore_replace

    found = facts.found
    journals = [name for name, there in (found.get("journals") or {}).items() if str(there) == "1"]
    if journals:
        raise ConflictError(
            f"an earlier restore into {namespace} did not finish: its journal {facts.manager_directory}{journals[0]} "
            "is still in the instance",
            fix="Run `iris-ops doctor --fix`: it rolls that restore back (or finishes the namespace it was "
            "replacing), and nothing else; then restore again.")
    clash = [f"namespace {namespace}"] if str(found["namespace"]) == "1" else []
    clash += [f"database {name}" for name, there in found["databases"].items() if str(there) == "1"]
    clash += [f"directory {d}" for d in dict.fromkeys(p.directory for p in planned)
              if str((found.get("directories") or {}).get(d)) == "1"]
    if not clash:
        return None
    if not force:
        raise ConflictError(
            f"restore target already exists: {', '.join(clash)}",
            fix=("Choose another --ns, delete it with `iris-ops delete-ns`, or pass --force to replace it."
                 if str(found["namespace"]) == "1" else
                 f"No namespace {namespace} uses them: `iris-ops doctor` finds what an interrupted iris-ops run left "
                 "(and `--fix` removes it); or choose another --ns, or pass --force to replace them."),
        )
    replacement = restore_replace.prepare(op, loaded, namespace, planned, facts)
    if confirm is not None and not op.dry_run:
        confirm(clash)
    op.log.warning("restore.force_replace", existing=clash,
                   note="the old namespace stays as it is until the new one is restored and verified")
    restore_replace.check_every_file(op, loaded, src)
    return replacement


def restore_databases(op: "Operation", loaded: "Fixture", planned: list["PlannedDatabase"], namespace: str,
                      facts: "Facts", undo: "UndoLog", guard: "Guard | None" = None, *,
                      journal: "Journal") -> dict:
    """Every change of a restore, each undo recorded before the change it undoes: the
    ``journal`` and the directories (with provenance), written in that order in one round trip
    where the transport can, then the files and the rest
    (:func:`iris_ops.operations.restore_files.place_files`): one session that serves what the
    fixture cache holds and, when it held everything, creates the databases and the namespace
    and counts its rows (:func:`iris_ops.script_builders.restore_databases`).  Otherwise the missed
    files stream in (their sha256 verified as they go), and a second session leaves them in the
    cache and does the rest.  The fixture's files the cache serves are hashed here meanwhile
    (:class:`~iris_ops.operations.restore_checks.ServedFilesCheck`): a damaged fixture is
    refused, cache or not.  Returns the last session's result.  ``guard``: what each session
    checks first."""
    from iris_ops import cache
    from iris_ops.operations.restore_checks import ServedFilesCheck, fixture_check_always
    from iris_ops.operations.restore_files import place_files, write_small_files
    from iris_ops.operations.restore_journal import MARKER, remove_created_directory

    fixture_id, cache_dir = loaded.manifest.fixture_id, facts.cache_dir
    new_resources = dict(facts.new_resources)
    creations = []
    small = [(journal.encoded(), journal.path)]
    for item in planned:
        undo.add(f"directory {item.directory}", script_builders.remove_directory(item.directory),
                 fallback=lambda item=item: remove_created_directory(op, item.directory))
        # Provenance; writing it also creates the directory (owner and mode as for the file).
        small.append((json.dumps({"tool": f"iris-ops {__version__}", "fixture": fixture_id,
                                  "database": item.final}).encode(), item.directory + MARKER))
        # A resource created just before a failure (a lost reply included) must be deleted too,
        # but never one that existed before this restore, nor a system resource.
        if item.resource in new_resources and not names.is_system_resource(item.resource):
            with_role = new_resources.pop(item.resource)
            creations.append((f"resource {item.resource}",
                              script_builders.delete_resource(item.resource, with_role=with_role)))
        creations.append((f"database {item.name}", script_builders.delete_database(item.name, item.directory)))
    creations.append((f"namespace {namespace}", script_builders.delete_namespace(namespace)))
    write_small_files(op, small)  # the journal first: nothing exists yet that it does not name

    serve = [item for item in planned if cache_dir is not None and facts.in_cache.get(item.source.sha256)]
    for item in planned:
        if cache_dir is not None and item not in serve:
            op.log.info("restore.cache_miss", database=item.name, sha256=item.source.sha256,
                        reason=facts.cache_why.get(item.source.sha256) or "no entry that may be served")
    check = ServedFilesCheck(loaded, [item.source for item in serve], always=fixture_check_always(op)) if serve else None
    try:
        done = place_files(op, loaded, planned, serve, namespace, facts, undo, cache.new_token(), creations,
                           guard)
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
    from iris_ops import fixture, signals
    from iris_ops.operations import restore_replace
    from iris_ops.operations.restore_checks import check_fixture, fixture_check_always, preflight, warn_if_older
    from iris_ops.operations.restore_journal import Journal, UndoLog

    fixture_check_always(op)  # a bad setting stops the restore before it reads or changes anything
    loaded = fixture.load(src)
    check_fixture(op, loaded, src)
    op.hook.pre_restore(operation=op, fixture=loaded, namespace=namespace)
    for item in loaded.manifest.not_restored:
        op.log.warning("restore.not_restored", setting=item, note="the source had it; a restore does not recreate it")
    planned = plan(op, loaded, namespace)
    facts = preflight(op, namespace, planned, use_cache)
    warn_if_older(op, loaded.manifest.source, facts.version)
    replacement = check_targets(op, loaded, src, namespace, planned, facts, force, confirm)
    # Restored under its staging identity when it replaces a namespace, then swapped in.
    into = replacement.staging_namespace if replacement else namespace
    journal = Journal(op, facts.manager_directory, namespace, planned, facts.new_resources, creates=into,
                      replaces=replacement.journal_entry(planned) if replacement else None)
    swap = restore_replace.swap_script(journal, replacement, planned) if replacement else None  # names checked now
    if op.dry_run:
        _show(op, loaded, planned, into, facts)
        if swap is not None:
            op.runner.run(swap)
        return None, planned

    undo = UndoLog(op, journal)
    try:
        done = restore_databases(op, loaded, planned, into, facts, undo, journal.guard(), journal=journal)
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
        op.hook.post_restore(operation=op, fixture=loaded, namespace=into, databases=[p.name for p in planned])
        if swap is not None:
            restore_replace.swap_in(op, journal, replacement, planned, undo, swap)
        else:
            with signals.point_of_no_return(f"the restore into {namespace}"):
                journal.remove()
    except BaseException as exc:
        failed = undo.replay()  # and removes the journal unless something could not be undone
        if failed:
            rollback_incomplete(exc, failed)
        raise
    return tables, planned


def rollback_incomplete(exc: BaseException, failed: list[str]) -> None:
    """Say that the rollback did not finish, in the error the user sees (a signal's included)."""
    what = "rollback incomplete: " + "; ".join(failed)
    if isinstance(exc, IrisOpsError):
        exc.message += "; " + what
        exc.args = (exc.message,)
        exc.fix = "Run `iris-ops doctor --fix` to finish the rollback. " + (exc.fix or "")
    else:
        exc.unfinished = f"{what}; run `iris-ops doctor --fix` to finish it"  # type: ignore[attr-defined]


def _show(op: "Operation", loaded: "Fixture", planned: list["PlannedDatabase"], into: str, facts: "Facts") -> None:
    """Dry run: the scripts and transfers a restore would run."""
    from iris_ops import cache
    from iris_ops.operations.restore_files import new_database

    globals_db = next(p.name for p in planned if p.source.has_globals)
    routines_db = next(p.name for p in planned if p.source.has_routines)
    cache_dir = facts.cache_dir
    serve = [p for p in planned if cache_dir is not None and facts.in_cache.get(p.source.sha256)]
    if serve:
        op.runner.run(script_builders.restore_databases(into, [
            new_database(p, clone=(cache_dir, p.source.sha256, p.size, "0" * 12)) if p in serve
            else new_database(p) for p in planned], globals_db, routines_db))
    for item in planned:
        op.runner.show_command(f"{'unless the cache served it, ' if item in serve else ''}stream "
                               f"{loaded.path_of(item.source)} to {item.directory}IRIS.DAT "
                               f"(owner {op.target.owner}, mode 660, directory 770)")
    op.runner.run(script_builders.restore_databases(into, [
        new_database(p, fill=None if p in serve or cache_dir is None else (
            cache_dir, p.source.sha256, p.size, "0" * 12, cache.prepare_fill(
                cache_dir, p.source.sha256, p.size, loaded.manifest.fixture_id, "0" * 12, lambda *_: None)))
        for p in planned], globals_db, routines_db))


def _figure(doc: dict) -> str:
    """A restore's key figure: databases and rows it put in place."""
    rows = sum(int(table["row_count"]) for table in doc["tables"])
    cached = sum(1 for db in doc["databases"] if db.get("cached"))
    return f"{len(doc['databases'])} databases ({cached} from the cache), {rows:,} rows"


@task(
    target=True,
    required=("ns",),
    figure=_figure,
    help={
        "src": "the fixture: a name in fixtures_dir (as `backup` wrote it), or a directory",
        "ns": "new namespace to create",
        "force": "replace an existing namespace of that name (and its databases), kept until the new one is "
                 "verified; asks unless --yes",
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
    Where the storage shares blocks (XFS, Btrfs) the cache's copies are reflinks: `method`
    and `cache_fill` in the result say `reflink` or `copy`.

    With --force over an existing namespace, every file is hashed first, the new namespace is
    restored and verified beside the old one (under a staging name), and only then takes its
    place; until then any failure or signal leaves the old one exactly as it was.

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
            confirm(f"--force: replace {', '.join(clash)} with {source} (deleted once the new namespace is verified)?",
                    refused=f"refusing to replace namespace {namespace}")

    with op.bound(ns=namespace, fixture=str(source)), locks.holding(op, namespace, wait=lock_wait or 0):
        tables, planned = run_restore(op, source, namespace, force=force, verify=not no_verify, confirm=ask,
                                      use_cache=not no_cache)
    if tables is None:
        return None
    if json_:
        return {"fixture": str(source), "namespace": namespace,
                "databases": [{"name": item.name, "directory": item.directory, "cached": item.cached,
                               "method": item.method, "cache_fill": item.cache_fill} for item in planned],
                "tables": [{"name": t["name"], "row_count": int(t["row_count"])} for t in tables]}
    op.emit(f"restored {source} into namespace {namespace}")
    for item in planned:
        how = (f"copied from the fixture cache: {item.method}" if item.cached
               else f"streamed, left in the fixture cache: {item.cache_fill}" if item.cache_fill else "streamed")
        op.emit(f"  database {item.name:<24} {item.directory}  ({how})")
    for table in tables:
        op.emit(f"  table {table['name']:<40} {int(table['row_count']):>10,} rows")
    from iris_ops import fixture

    for item in fixture.load(source).manifest.not_restored:
        op.emit(f"  not restored: {item}")
    return None


@hookimpl
def register_tasks(registrar):
    registrar.add_task(restore)
