"""Built-in plugin: `delete-ns`, a namespace and the databases only it uses.

A database stays when another namespace needs it: as its Globals, Routines (or another database
property), through a global, routine or package mapping (``%ALL`` included), or when another
database configuration names the same directory.  The output says why.

Every name is validated (each script is built) before the first change.  The plan is written
to ``<mgr>/iris-ops-delete-<NS>.json`` before anything is deleted and removed when all is done,
so a delete that fails halfway is finished by running delete-ns again.  Order (IRIS.md §7):
Config.Namespaces.Delete, then for each database no one else needs: Config.Databases.Delete,
DismountDatabase, DeleteDatabase, RemoveDirectoryTree, and its label's resource when a restore
created it (its Description says so) and no database of another namespace still names it.
System resources (``%DB_%DEFAULT``) are never deleted.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iris_ops import hookimpl, names, scripts
from iris_ops import flags, locks
from iris_ops.cli import task
from iris_ops.errors import UsageError

if TYPE_CHECKING:
    from iris_ops.operations.context import Operation

RECORD_VERSION = 1


@dataclass
class Doomed:
    """A database delete-ns will remove, with every script it needs built (names validated)."""

    name: str
    directory: str
    resource: str
    scripts: dict


def record_path(manager_directory: str, namespace: str) -> str:
    return names.instance_path(f"{names.directory(manager_directory)}iris-ops-delete-{namespace}.json")


def plan(op: "Operation", namespace: str, info: dict, keep_files: bool) -> tuple[list[Doomed], list[tuple[str, str]]]:
    """Which databases go and which stay (and why), read-only; every script built up front."""
    dbs = info["dbs"]
    users = op.runner.run(
        scripts.database_users(namespace, [(db["name"], db["directory"]) for db in dbs]), changes=False
    )["users"]
    doomed, kept = [], []
    for db in dbs:
        name = db["name"]
        if names.is_system_database(name):
            kept.append((name, "system database"))
            continue
        if users.get(name):
            kept.append((name, "needed by " + "; ".join(sorted(set(users[name])))))
            continue
        doomed.append(_doomed(name, db["directory"], db.get("resource") or "", keep_files))
    return doomed, kept


def _doomed(name: str, directory: str, resource: str, keep_files: bool) -> Doomed:
    built = {"database": scripts.delete_database(name, directory, keep_files=keep_files)}
    if resource:
        names.resource(resource)
        if not names.is_system_resource(resource):
            built["resource_status"] = scripts.resource_status(resource)
            built["delete_resource"] = scripts.delete_resource(resource, with_role=True)
            built["delete_resource_only"] = scripts.delete_resource(resource)
    return Doomed(names.database(name), names.directory(directory), resource, built)


def delete_namespace(op: "Operation", namespace: str, *, keep_files: bool = False) -> list[dict]:
    """Delete ``namespace`` and the databases no one else needs; returns the steps taken."""
    info = op.runner.run(scripts.describe_namespace(namespace), changes=False)
    mgr = info["manager_directory"]
    record = record_path(mgr, namespace)
    steps: list[dict] = []

    def note(step: str, target: str, outcome: str) -> None:
        steps.append({"step": step, "target": target, "result": outcome})
        op.step("delete.step", step=step, target=target, result=outcome)

    if info.get("exists"):
        doomed, kept = plan(op, namespace, info, keep_files)
        delete_ns_script = scripts.delete_namespace(namespace)
        op.hook.pre_delete(operation=op, namespace=namespace)
        _write_record(op, record, namespace, doomed, keep_files)
        for name, why in kept:
            note("database", name, f"kept ({why})")
        op.runner.run(delete_ns_script)
        note("namespace", namespace, "deleted" if not op.dry_run else "would delete")
    else:
        doomed = _read_record(op, record, keep_files)
        if doomed is None:
            return []
        note("namespace", namespace, "absent (finishing an earlier delete)")
    for item in doomed:
        _delete_database(op, item, keep_files, note)
    if not op.dry_run:
        op.runner.run(scripts.remove_file(record))
        op.hook.post_delete(operation=op, namespace=namespace, steps=steps)
    return steps


def _delete_database(op: "Operation", item: Doomed, keep_files: bool, note) -> None:
    outcome = op.runner.run(item.scripts["database"])
    if op.dry_run:
        note("database", item.name, "would delete")
        return
    note("database-config", item.name, "deleted" if outcome.get("configured") else "absent")
    note("dismount", item.directory, "dismounted" if outcome.get("dismounted") else "was not mounted")
    if keep_files:
        note("files", item.directory, "kept (--keep-files)")
    else:
        note("database-file", item.directory + "IRIS.DAT", "deleted" if outcome.get("deleted_file") else "absent")
        note("directory", item.directory, "removed" if outcome.get("removed_directory") else "absent")
    if item.resource:
        note("resource", item.resource, _delete_resource_if_ours(op, item))


def _delete_resource_if_ours(op: "Operation", item: Doomed) -> str:
    if names.is_system_resource(item.resource):
        return "kept (system resource)"
    status = op.runner.run(item.scripts["resource_status"], changes=False)
    if not status.get("exists"):
        return "absent"
    description = status.get("description")
    if description not in (scripts.RESOURCE_DESCRIPTION, scripts.RESOURCE_WITH_ROLE_DESCRIPTION):
        return "kept (not created by iris-ops restore)"
    if status.get("users"):
        return "kept (still named by " + ", ".join(sorted(set(status["users"]))) + ")"
    if description == scripts.RESOURCE_WITH_ROLE_DESCRIPTION:
        op.runner.run(item.scripts["delete_resource"])
        return "deleted with its role (created by restore, no longer used)"
    op.runner.run(item.scripts["delete_resource_only"])
    return "deleted (created by restore, no longer used)"


def _write_record(op: "Operation", path: str, namespace: str, doomed: list[Doomed], keep_files: bool) -> None:
    """What remains to be deleted, on the instance, before the first change."""
    if op.dry_run:
        op.runner.show_command(f"write the delete plan to {path}")
        return
    doc = {"version": RECORD_VERSION, "namespace": namespace, "keep_files": keep_files,
           "databases": [{"name": d.name, "directory": d.directory, "resource": d.resource} for d in doomed]}
    data = json.dumps(doc).encode()
    op.runner.write_file(io.BytesIO(data), len(data), path, timeout=op.settings.timeout)


def _read_record(op: "Operation", path: str, keep_files: bool) -> list[Doomed] | None:
    """The plan of an earlier delete that did not finish, or None."""
    if not op.runner.run(scripts.file_exists(path), changes=False).get("exists"):
        return None
    buffer = io.BytesIO()
    op.runner.read_file(path, buffer, timeout=op.settings.timeout)
    try:
        doc = json.loads(buffer.getvalue())
        entries = doc["databases"]
        keep_files = keep_files or bool(doc.get("keep_files"))
        return [_doomed(e["name"], e["directory"], e.get("resource") or "", keep_files) for e in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is not a delete-ns plan: {exc}",
                         fix=f"Remove {path} if no delete-ns is unfinished.") from None


@task(
    target=True,
    required=("ns",),
    help={
        "ns": "namespace to delete",
        "yes": "do not ask for confirmation (needed when stdin is not a terminal)",
        "keep_files": "leave the IRIS.DAT files and directories on disk",
        "dry_run": "print the scripts that would run, and change nothing",
        "json": "print the steps taken (or the failure) as one JSON document",
        "lock_wait": flags.LOCK_WAIT_HELP,
    },
)
def delete_ns(c, ns="", yes=False, keep_files=False, dry_run=False, json_=False, lock_wait=None, **target):
    """Delete a namespace and the databases no other namespace uses, step by step.

    Removes the namespace, then for each of its databases that no other namespace uses: the
    database configuration, the mount, the IRIS.DAT file and directory, and the resource a
    restore created. Asks first unless --yes is given.

    Examples:
        iris-ops delete-ns --ns TEST1 --yes
        iris-ops delete-ns --ns TEST1 --keep-files
        iris-ops delete-ns --ns TEST1 --dry-run
    """
    from iris_ops.operations.context import Operation, confirm, refuse_json_dry_run

    refuse_json_dry_run(json_, dry_run)
    namespace = names.user_namespace(ns, action="delete")
    op = Operation.from_flags("delete-ns", target, dry_run=dry_run)
    with op.bound(ns=namespace):
        if not yes and not dry_run:
            confirm(f"Delete namespace {namespace} and the databases only it uses?",
                    refused=f"refusing to delete namespace {namespace}")
        with locks.holding(op, namespace, wait=lock_wait or 0):
            steps = delete_namespace(op, namespace, keep_files=keep_files)
    if json_:
        return {"namespace": namespace, "existed": bool(steps), "steps": steps}
    if not steps:
        op.emit(f"namespace {namespace} does not exist: nothing to delete")
        return None
    for step in steps:
        op.emit(f"{step['step']:<16} {step['target']:<40} {step['result']}")
    return None


@hookimpl
def register_tasks(registrar):
    registrar.add_task(delete_ns, name="delete-ns")
