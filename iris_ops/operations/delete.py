"""Built-in plugin: `delete-ns`, a namespace and the databases only it uses.

Order (IRIS.md §7): Config.Namespaces.Delete, then for each of its databases that no other
namespace uses: Config.Databases.Delete, DismountDatabase, DeleteDatabase, RemoveDirectoryTree,
and its label's resource when a restore created it (its Description says so) and no database
of another namespace still names it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iris_ops import hookimpl, names, scripts
from iris_ops.cli import task

if TYPE_CHECKING:
    from iris_ops.operations.context import Operation

def delete_namespace(op: "Operation", namespace: str, *, keep_files: bool = False) -> list[dict]:
    """Delete ``namespace`` and its exclusive databases; returns the steps taken."""
    info = op.runner.run(scripts.describe_namespace(namespace), changes=False)
    if not info.get("exists"):
        return []
    op.hook.pre_delete(operation=op, namespace=namespace)
    dbs = info["dbs"]
    users = op.runner.run(scripts.namespace_users([db["name"] for db in dbs]), changes=False)["users"]
    steps: list[dict] = []

    def record(step: str, target: str, outcome: str) -> None:
        steps.append({"step": step, "target": target, "result": outcome})
        op.step("delete.step", step=step, target=target, result=outcome)

    op.runner.run(scripts.delete_namespace(namespace))
    record("namespace", namespace, "deleted" if not op.dry_run else "would delete")
    for db in dbs:
        name = db["name"]
        others = sorted(n for n in users.get(name, []) if n.upper() != namespace)
        if names.is_system_database(name) or others:
            why = "system database" if names.is_system_database(name) else "used by " + ", ".join(others)
            record("database", name, f"kept ({why})")
            continue
        outcome = op.runner.run(scripts.delete_database(name, db["directory"], keep_files=keep_files))
        if op.dry_run:
            record("database", name, "would delete")
            continue
        record("database-config", name, "deleted" if outcome.get("configured") else "absent")
        record("dismount", db["directory"], "dismounted" if outcome.get("dismounted") else "was not mounted")
        if keep_files:
            record("files", db["directory"], "kept (--keep-files)")
        else:
            record("database-file", db["directory"] + "IRIS.DAT", "deleted" if outcome.get("deleted_file") else "absent")
            record("directory", db["directory"], "removed" if outcome.get("removed_directory") else "absent")
        if db.get("resource"):
            record("resource", db["resource"], _delete_resource_if_ours(op, db["resource"]))
    if not op.dry_run:
        op.hook.post_delete(operation=op, namespace=namespace, steps=steps)
    return steps


def _delete_resource_if_ours(op: "Operation", resource: str) -> str:
    status = op.runner.run(scripts.resource_status(resource), changes=False)
    if not status.get("exists"):
        return "absent"
    if status.get("description") != scripts.RESOURCE_DESCRIPTION:
        return "kept (not created by iris-ops restore)"
    if status.get("users"):
        return "kept (still named by " + ", ".join(sorted(set(status["users"]))) + ")"
    op.runner.run(scripts.delete_resource(resource))
    return "deleted (created by restore, no longer used)"


@task(
    target=True,
    required=("ns",),
    help={
        "ns": "namespace to delete",
        "yes": "do not ask for confirmation (needed when stdin is not a terminal)",
        "keep_files": "leave the IRIS.DAT files and directories on disk",
        "dry_run": "print the scripts that would run, and change nothing",
        "json": "print the steps taken (or the failure) as one JSON document",
    },
)
def delete_ns(c, ns="", yes=False, keep_files=False, dry_run=False, json_=False, **target):
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
