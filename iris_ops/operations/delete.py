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
System resources (``%DB_%DEFAULT``) are never deleted.  All the deleting is one session
(:func:`iris_ops.script_builders.delete_all`); a failure stops it where it happened.  That
session first waits for one of an earlier operation on the namespace that its client gave up on
(it still runs in the instance).  A signal once the plan is written leaves the plan, and the
message says to run delete-ns again; once the plan is removed the delete is done, and a signal
changes nothing.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iris_ops import hookimpl, names, script_builders, signals
from iris_ops import flags
from iris_ops.task import task
from iris_ops.errors import InstanceError, InternalError, UsageError

if TYPE_CHECKING:
    from iris_ops.operation import Operation

__all__ = [
    "RECORD_VERSION", "Doomed", "record_path", "plan", "delete_namespace", "delete_ns", "register_tasks",
]

RECORD_VERSION = 1


@dataclass
class Doomed:
    """A database delete-ns will remove (names validated)."""

    name: str
    directory: str
    resource: str


def record_path(manager_directory: str, namespace: str) -> str:
    return names.instance_path(f"{names.directory(manager_directory)}iris-ops-delete-{namespace}.json")


def plan(op: "Operation", namespace: str, info: dict, keep_files: bool) -> tuple[list[Doomed], list[tuple[str, str]]]:
    """Which databases go and which stay (and why), read-only; every script built up front."""
    dbs = info["dbs"]
    users = op.runner.run(
        script_builders.database_users(namespace, [(db["name"], db["directory"]) for db in dbs]), changes=False
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
    if resource:
        names.resource(resource)
    return Doomed(names.database(name), names.directory(directory), resource)


def delete_namespace(op: "Operation", namespace: str, *, keep_files: bool = False, last: bool = False) -> list[dict]:
    """Delete ``namespace`` and the databases no one else needs; returns the steps taken.
    ``last``: this ends the task (delete-ns), so removing the plan is its point of no return.

    Read-only first (the namespace, then which of its databases another namespace needs), then
    the plan is recorded on the instance, then one session deletes the namespace, each doomed
    database and the resources restore created that nothing names any more
    (:func:`iris_ops.script_builders.delete_all`), and the plan is removed."""
    info = op.runner.run(script_builders.describe_namespace(namespace), changes=False)
    mgr = info["manager_directory"]
    record = record_path(mgr, namespace)
    steps: list[dict] = []

    def note(step: str, target: str, outcome: str) -> None:
        steps.append({"step": step, "target": target, "result": outcome})
        op.step("delete.step", step=step, target=target, result=outcome)

    planned = False  # the plan is in the instance: a rerun finishes the delete
    try:
        if info.get("exists"):
            doomed, kept = plan(op, namespace, info, keep_files)
            script = _script(namespace, doomed, keep_files, op.settings.timeout)  # names validated before the first change
            op.hook.pre_delete(operation=op, namespace=namespace)
            with signals.shielded():  # written whole or not at all: a signal after it finds it there
                _write_record(op, record, namespace, doomed, keep_files)
                planned = True
            for name, why in kept:
                note("database", name, f"kept ({why})")
        else:
            doomed = _read_record(op, record, keep_files)
            if doomed is None:
                return []
            planned = True
            script = _script(namespace, doomed, keep_files, op.settings.timeout)
        done = op.runner.run(script)
        if op.dry_run:
            note("namespace", namespace, "would delete")
            for item in doomed:
                note("database", item.name, "would delete")
            return steps
        if info.get("exists"):
            note("namespace", namespace, "deleted" if str(done.get("namespace_deleted")) == "1" else "absent")
        else:
            note("namespace", namespace, "absent (finishing an earlier delete)")
        for item in doomed:
            outcome = (done.get("databases") or {}).get(item.name) or {}
            note("database-config", item.name, "deleted" if str(outcome.get("configured")) == "1" else "absent")
            note("dismount", item.directory, "dismounted" if str(outcome.get("dismounted")) == "1" else "was not mounted")
            if keep_files:
                note("files", item.directory, "kept (--keep-files)")
            else:
                note("database-file", item.directory + "IRIS.DAT",
                     "deleted" if str(outcome.get("deleted_file")) == "1" else "absent")
                note("directory", item.directory, "removed" if str(outcome.get("removed_directory")) == "1" else "absent")
        for resource in dict.fromkeys(d.resource for d in doomed if d.resource):
            note("resource", resource, _resource_outcome(resource, (done.get("resources") or {}).get(resource)))
        # Written by the transport, removed by it: one exec, no `iris session`.  Once it is gone the
        # delete is done: a signal from there on is noted and the steps are reported.
        with signals.point_of_no_return(f"the delete of namespace {namespace}") if last else signals.shielded():
            if not op.runner.remove_path(record, timeout=op.settings.timeout):
                raise InstanceError(f"could not remove the delete plan {record}",
                                    fix="Run `iris-ops doctor --fix`, or remove the file yourself.")
    except KeyboardInterrupt as exc:  # a signal: once the plan is there, it says how to go on
        if planned and not op.dry_run:
            exc.unfinished = (f"namespace {namespace} may be partly deleted: run `iris-ops delete-ns --ns {namespace} "  # type: ignore[attr-defined]
                              "--yes` again to finish it (or `iris-ops doctor --fix`)")
        raise
    op.hook.post_delete(operation=op, namespace=namespace, steps=steps)
    return steps


def _script(namespace: str, doomed: list[Doomed], keep_files: bool, wait: float | None = None):
    # ``wait``: for a session of an earlier operation on the namespace that a client gave up on
    return script_builders.delete_all(namespace, [(d.name, d.directory, d.resource) for d in doomed],
                                      keep_files=keep_files, wait=wait)


def _resource_outcome(resource: str, found: dict | None) -> str:
    if names.is_system_resource(resource):
        return "kept (system resource)"
    outcome = (found or {}).get("outcome")
    if outcome == script_builders.RESOURCE_ABSENT:
        return "absent"
    if outcome == script_builders.RESOURCE_NOT_OURS:
        return "kept (not created by iris-ops restore)"
    if outcome == script_builders.RESOURCE_IN_USE:
        return "kept (still named by " + ", ".join(sorted(set(found.get("users") or []))) + ")"
    if outcome == script_builders.RESOURCE_DELETED_WITH_ROLE:
        return "deleted with its role (created by restore, no longer used)"
    if outcome == script_builders.RESOURCE_DELETED:
        return "deleted (created by restore, no longer used)"
    raise InternalError(f"delete-ns: no outcome for resource {resource}: {found!r}")


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
    if not op.runner.run(script_builders.file_exists(path), changes=False).get("exists"):
        return None
    try:
        doc = op.runner.read_json(path, timeout=op.settings.timeout)
        entries = doc["databases"]
        keep_files = keep_files or bool(doc.get("keep_files"))
        return [_doomed(e["name"], e["directory"], e.get("resource") or "", keep_files) for e in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is not a delete-ns plan: {exc}",
                         fix=f"Remove {path} if no delete-ns is unfinished.") from None


def _figure(doc: dict) -> str:
    """A deletion's key figure: how many steps it took, or that there was nothing to delete."""
    return f"{len(doc['steps'])} steps" if doc.get("existed") else "did not exist: nothing to delete"


@task(
    target=True,
    required=("ns",),
    figure=_figure,
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
    from iris_ops import locks
    from iris_ops.operations.context import confirm, operation_from_flags, refuse_json_dry_run

    refuse_json_dry_run(json_, dry_run)
    namespace = names.user_namespace(ns, action="delete")
    op = operation_from_flags("delete-ns", target, dry_run=dry_run)
    with op.bound(ns=namespace):
        if not yes and not dry_run:
            confirm(f"Delete namespace {namespace} and the databases only it uses?",
                    refused=f"refusing to delete namespace {namespace}")
        with locks.holding(op, namespace, wait=lock_wait or 0):
            steps = delete_namespace(op, namespace, keep_files=keep_files, last=True)
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
