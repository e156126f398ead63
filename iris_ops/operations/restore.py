"""Built-in plugin: `restore`, a fixture into a new namespace, all or nothing.

The fixture is validated offline first.  Then, for each database (IRIS.md §7): a directory
under the manager directory, the file streamed in (owner and mode set by the transport), the
label's resource created if missing, Config.Databases.Create, MountDatabase with Mounted=1 and
ReadOnlyMounted=0 required; then Config.Namespaces.Create mapping Globals and Routines as in
the source; then row counts are verified.  Every step that changes the instance first records
its undo; a failure anywhere (Ctrl-C included) replays the undo log backwards.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from iris_ops import __version__, hookimpl, names, scripts
from iris_ops import flags, locks
from iris_ops.cli import task
from iris_ops.errors import ConflictError, IrisOpsError, SystemTargetError, ValidationError

if TYPE_CHECKING:
    from iris_ops.fixture import Database, Fixture
    from iris_ops.operations.context import Operation


#: Provenance written by restore into each database directory it creates.
MARKER = "iris-ops-restore.json"
#: ``<mgr>/iris-ops-restore-<NS>.json`` exists while a restore into NS is unfinished.
JOURNAL_PREFIX = "iris-ops-restore-"


@dataclass
class PlannedDatabase:
    source: "Database"
    name: str
    directory: str
    resource: str


def plan(op: "Operation", loaded: "Fixture", namespace: str, manager_directory: str) -> list[PlannedDatabase]:
    """Names and directories for the new databases: ``<NS>`` for a one-database fixture,
    ``<NS>_DATA`` and ``<NS>_CODE`` when Globals and Routines were separate."""
    from iris_ops import datlabel

    dbs = loaded.databases
    planned = []
    for db in dbs:
        if len(dbs) == 1:
            name = names.database(namespace)
        else:
            name = names.derived_database(namespace, "DATA" if db.has_globals else "CODE")
        resource = names.resource(db.resource or datlabel.read_label(loaded.path_of(db)).resource)
        planned.append(PlannedDatabase(db, name, f"{manager_directory}{name.lower()}/", resource))
    return planned


def journal_path(manager_directory: str, namespace: str) -> str:
    return names.instance_path(f"{names.directory(manager_directory)}{JOURNAL_PREFIX}{namespace}.json")


class Journal:
    """``<mgr>/iris-ops-restore-<NS>.json``: what this restore may create, written before the
    first change and removed once the restore succeeded or was rolled back completely.  Left
    behind (``kill -9``, power loss), it tells ``iris-ops doctor`` exactly what to undo, and
    nothing else."""

    def __init__(self, op: "Operation", manager_directory: str, namespace: str, planned: list) -> None:
        self.op = op
        self.path = journal_path(manager_directory, namespace)
        self.doc = {"tool": f"iris-ops {__version__}", "namespace": namespace,
                    "databases": [{"name": p.name, "directory": p.directory} for p in planned],
                    "resources": []}

    def write(self) -> None:
        data = json.dumps(self.doc).encode()
        self.op.runner.write_file(io.BytesIO(data), len(data), self.path, timeout=self.op.settings.timeout)

    def created_resource(self, resource: str, with_role: bool) -> None:
        self.doc["resources"].append({"name": resource, "with_role": with_role})
        self.write()

    def remove(self) -> None:
        self.op.runner.run(scripts.remove_file(self.path))


class UndoLog:
    """Undo actions recorded before each change; replayed newest first on failure."""

    def __init__(self, op: "Operation", journal: Journal | None = None) -> None:
        self.op = op
        self.journal = journal
        self.actions: list[tuple[str, Callable[[], object]]] = []

    def add(self, what: str, action: Callable[[], object]) -> None:
        self.actions.append((what, action))

    def replay(self) -> list[str]:
        from iris_ops import signals

        with signals.shielded():  # a signal now must not leave the namespace half restored
            return self._replay()

    def _replay(self) -> list[str]:
        failed = []
        for what, action in reversed(self.actions):
            try:
                action()
                self.op.log.info("restore.rollback", undone=what)
            except BaseException as exc:  # keep undoing the rest
                failed.append(f"{what}: {exc}")
                self.op.log.error("restore.rollback_failed", undo=what, error=str(exc))
        self.actions.clear()
        return failed


def _remove_directory(op: "Operation", directory: str) -> None:
    try:
        op.runner.run(scripts.remove_directory(directory))
    except IrisOpsError:
        # A file the transport wrote may still be root-owned if chown failed: remove as root.
        op.runner.remove_path(directory)


def check_targets(op: "Operation", namespace: str, planned: list[PlannedDatabase], force: bool,
                  confirm: Callable[[list[str]], None] | None = None) -> None:
    """Refuse a restore over anything that exists, unless ``force``; then ``confirm`` (asked
    with what would be destroyed) may still refuse before anything is deleted."""
    from iris_ops.operations.delete import delete_namespace

    def existing() -> list[str]:
        found = op.runner.run(
            scripts.existing(namespace, [p.name for p in planned], [p.directory for p in planned]), changes=False
        )
        clash = [f"namespace {namespace}"] if found["namespace"] else []
        clash += [f"database {name}" for name, there in found["databases"].items() if there]
        clash += [f"directory {d}" for d, there in found["directories"].items() if there]
        return clash

    clash = existing()
    if not clash:
        return
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
        return
    remaining = existing()
    leftover_dirs = [c.split(" ", 1)[1] for c in remaining if c.startswith("directory ")]
    if any(not c.startswith("directory ") for c in remaining):
        raise ConflictError(
            f"--force removed namespace {namespace}, but these still exist and belong to something else: "
            f"{', '.join(c for c in remaining if not c.startswith('directory '))}",
            fix="Delete them yourself if they are yours, or restore under another --ns.",
        )
    for directory in leftover_dirs:  # orphan directories of an earlier, unconfigured database
        _remove_directory(op, directory)


def restore_database(op: "Operation", loaded: "Fixture", item: PlannedDatabase, undo: UndoLog, fixture_id: str) -> None:
    undo.add(f"directory {item.directory}", lambda: _remove_directory(op, item.directory))
    op.runner.run(scripts.make_directory(item.directory))

    t0 = time.monotonic()
    from iris_ops import fixture, progress

    # the database's uncompressed bytes (a compressed file is decompressed in the stream)
    with fixture.open_database(loaded, item.source) as (handle, size):
        bar = progress.ProgressReader(handle, size, item.name)
        try:
            digest = op.runner.write_file(bar, size, item.directory + "IRIS.DAT", timeout=op.settings.transfer_timeout)
        finally:
            bar.close()
    seconds = max(time.monotonic() - t0, 1e-9)
    op.step("restore.streamed", database=item.name, bytes=digest.bytes, sha256=digest.sha256,
            mib_per_s=round(digest.bytes / seconds / (1 << 20), 1))
    if digest.sha256 != item.source.sha256:
        raise ValidationError(
            f"{item.source.file}: changed while restoring (expected sha256 {item.source.sha256}, sent {digest.sha256})",
        )

    # Record the undo before the change: a resource created just before a failure (a lost
    # reply included) must be deleted too, but never one that existed before this restore, nor a
    # system resource (preflight proved it exists).
    if not names.is_system_resource(item.resource):
        found = op.runner.run(scripts.resource_exists(item.resource), changes=False)
        if not found.get("exists"):
            with_role = not found.get("role_exists")
            undo.add(f"resource {item.resource}",
                     lambda: op.runner.run(scripts.delete_resource(item.resource, with_role=with_role)))
            if undo.journal is not None:
                undo.journal.created_resource(item.resource, with_role)
        op.runner.run(scripts.ensure_resource(item.resource))
    marker = json.dumps({"tool": f"iris-ops {__version__}", "fixture": fixture_id, "database": item.name}).encode()
    op.runner.write_file(io.BytesIO(marker), len(marker), item.directory + MARKER, timeout=op.settings.timeout)

    undo.add(f"database {item.name}", lambda: op.runner.run(scripts.delete_database(item.name, item.directory)))
    op.runner.run(scripts.create_database(item.name, item.directory))


def warn_if_older(op: "Operation", source, target_zversion: str) -> None:
    """A database written by a newer IRIS is not guaranteed to mount on an older one (IRIS.md §7)."""
    from iris_ops import versions

    src = versions.parse(source.iris_version)
    dst = versions.parse(target_zversion)
    if src is None or dst is None:
        op.log.warning("restore.version_unknown", source=source.iris_version, target=target_zversion,
                       note="cannot compare the IRIS versions")
        return
    if dst.older_than(src):
        op.log.warning("restore.older_target", source=str(src), target=str(dst),
                       note="the fixture was written by a newer IRIS: its databases are not guaranteed "
                       "to mount on this one")


def preflight(op: "Operation", namespace: str, planned: list[PlannedDatabase]) -> None:
    """Everything that can be refused is refused here, before the first change: every name and
    path (building each script validates them), and a label naming a system resource the
    instance lacks (iris-ops never creates a system resource: exit 3)."""
    globals_db = next(p.name for p in planned if p.source.has_globals)
    routines_db = next(p.name for p in planned if p.source.has_routines)
    scripts.create_namespace(namespace, globals_db, routines_db)
    for item in planned:
        scripts.make_directory(item.directory)
        scripts.create_database(item.name, item.directory)
        if names.is_system_resource(item.resource):
            if not op.runner.run(scripts.resource_exists(item.resource), changes=False).get("exists"):
                raise SystemTargetError(
                    f"the label of {item.source.name} names system resource {item.resource}, which "
                    f"{op.target.describe()} lacks; iris-ops never creates system resources",
                    fix="Restore into an instance that has it (every IRIS has %DB_%DEFAULT).",
                )
        else:
            scripts.ensure_resource(item.resource)
            scripts.delete_resource(item.resource, with_role=True)


def run_restore(op: "Operation", src: Path, namespace: str, *, force: bool, verify: bool,
                confirm: Callable[[list[str]], None] | None = None):
    from iris_ops import fixture
    from iris_ops.operations.validate import collect, failure

    loaded = fixture.load(src)
    findings = collect(op, loaded, online=False, namespace=None)
    if not findings or not all(f.ok for f in findings):
        raise failure(findings, str(src))
    op.hook.pre_restore(operation=op, fixture=loaded, namespace=namespace)
    for item in loaded.manifest.not_restored:
        op.log.warning("restore.not_restored", setting=item, note="the source had it; a restore does not recreate it")
    facts = op.runner.run(scripts.manager_directory(), changes=False)
    manager_directory = names.directory(facts["manager_directory"])
    warn_if_older(op, loaded.manifest.source, facts.get("version", ""))
    planned = plan(op, loaded, namespace, manager_directory)
    preflight(op, namespace, planned)
    check_targets(op, namespace, planned, force, confirm)
    if op.dry_run:
        for item in planned:
            op.runner.run(scripts.make_directory(item.directory))
            op.runner.show_command(f"stream {loaded.path_of(item.source)} to {item.directory}IRIS.DAT "
                                   f"(owner {op.target.owner}, mode 660, directory 770)")
            if not names.is_system_resource(item.resource):
                op.runner.run(scripts.ensure_resource(item.resource))
            op.runner.run(scripts.create_database(item.name, item.directory))
        globals_db = next(p.name for p in planned if p.source.has_globals)
        routines_db = next(p.name for p in planned if p.source.has_routines)
        op.runner.run(scripts.create_namespace(namespace, globals_db, routines_db))
        return None, planned

    journal = Journal(op, manager_directory, namespace, planned)
    journal.write()
    undo = UndoLog(op, journal)
    try:
        for item in planned:
            restore_database(op, loaded, item, undo, loaded.manifest.fixture_id)
        globals_db = next(p.name for p in planned if p.source.has_globals)
        routines_db = next(p.name for p in planned if p.source.has_routines)
        undo.add(f"namespace {namespace}", lambda: op.runner.run(scripts.delete_namespace(namespace)))
        op.runner.run(scripts.create_namespace(namespace, globals_db, routines_db))
        tables = op.runner.run(scripts.counts(namespace), changes=False).get("tables", [])
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
    except BaseException as exc:
        failed = undo.replay()
        if failed and isinstance(exc, IrisOpsError):
            exc.message += "; rollback incomplete: " + "; ".join(failed)
            exc.args = (exc.message,)
            exc.fix = "Run `iris-ops doctor --fix` to finish the rollback. " + (exc.fix or "")
        if not failed:
            _remove_journal(journal)
        raise
    journal.remove()
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
        "dry_run": "print the scripts and transfers that would run, and change nothing",
        "json": "print the result (or the failure) as one JSON document",
        "lock_wait": flags.LOCK_WAIT_HELP,
    },
)
def restore(c, src, ns="", force=False, yes=False, no_verify=False, dry_run=False, json_=False, lock_wait=None,
            **target):
    """Restore a fixture into a new namespace: all or nothing.

    The fixture is validated first. A namespace with one database (<NS>), or with <NS>_DATA and
    <NS>_CODE when the fixture's Globals and Routines were separate, is created and its row
    counts are checked against the manifest. Any failure undoes every step taken.

    Examples:
        iris-ops restore USER --ns TEST1
        iris-ops restore --src fixtures/user --ns TEST1 --force --yes
        iris-ops restore USER --ns TEST1 --dry-run
    """
    from iris_ops import fixtures_dir
    from iris_ops.operations.context import Operation, confirm, refuse_json_dry_run

    refuse_json_dry_run(json_, dry_run)
    namespace = names.user_namespace(ns, action="restore into")
    op = Operation.from_flags("restore", target, dry_run=dry_run)
    source = fixtures_dir.locate(src, op.settings)

    def ask(clash: list[str]) -> None:
        if not yes:
            confirm(f"--force: delete {', '.join(clash)} and restore {source} in its place?",
                    refused=f"refusing to replace namespace {namespace}")

    with op.bound(ns=namespace, fixture=str(source)), locks.holding(op, namespace, wait=lock_wait or 0):
        tables, planned = run_restore(op, source, namespace, force=force, verify=not no_verify, confirm=ask)
    if tables is None:
        return None
    if json_:
        return {"fixture": str(source), "namespace": namespace,
                "databases": [{"name": item.name, "directory": item.directory} for item in planned],
                "tables": [{"name": t["name"], "row_count": int(t["row_count"])} for t in tables]}
    op.emit(f"restored {source} into namespace {namespace}")
    for item in planned:
        op.emit(f"  database {item.name:<24} {item.directory}")
    for table in tables:
        op.emit(f"  table {table['name']:<40} {int(table['row_count']):>10,} rows")
    from iris_ops import fixture

    for item in fixture.load(source).manifest.not_restored:
        op.emit(f"  not restored: {item}")
    return None


@hookimpl
def register_tasks(registrar):
    registrar.add_task(restore)
