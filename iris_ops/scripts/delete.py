"""The delete-ns scripts: namespace and database removal, each step tolerating what is gone."""

from __future__ import annotations

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import Script, call, check_status, check_true, lit, op, prop, result, set_, var
from .common import FILE


def delete_namespace(namespace: str) -> Script:
    """Config.Namespaces.Delete if it exists.  Result: ``deleted`` (0 when absent)."""
    ns = lit(names.namespace(namespace))
    script = Script("%SYS", purpose=f"delete namespace {namespace}")
    script.step(
        "delete",
        result("deleted", 0),
        o.if_(
            call("Config.Namespaces", "Exists", ns),
            check_status(call("Config.Namespaces", "Delete", ns)),
            result("deleted", 1),
        ),
    )
    return script


def delete_database(name: str, directory: str, *, keep_files: bool = False) -> Script:
    """IRIS.md §7 delete order for one database: Config.Databases.Delete, DismountDatabase,
    DeleteDatabase and RemoveDirectoryTree (the last two skipped with ``keep_files``).
    Each step tolerates what is already gone.  Result: ``configured``, ``dismounted``,
    ``deleted_file``, ``removed_directory`` (1 for each action taken)."""
    db, path = lit(names.database(name)), lit(names.directory(directory))
    obj = var("obj")
    script = Script("%SYS", purpose=f"delete database {name}")
    script.step(
        "config",
        result("configured", 0),
        o.if_(
            call("Config.Databases", "Exists", db),
            check_status(call("Config.Databases", "Delete", db)),
            result("configured", 1),
        ),
    )
    script.step(
        "dismount",
        result("dismounted", 0),
        set_(obj, call("SYS.Database", "%OpenId", path)),
        o.if_(
            op(obj, "'=", lit("")),
            o.if_(prop(obj, "Mounted"), check_status(call("SYS.Database", "DismountDatabase", path)), result("dismounted", 1)),
        ),
        o.kill(obj),
    )
    if not keep_files:
        dat = lit(names.instance_path(names.directory(directory) + "IRIS.DAT"))
        script.step(
            "file",
            result("deleted_file", 0),
            o.if_(call(FILE, "Exists", dat), check_status(call("SYS.Database", "DeleteDatabase", path)), result("deleted_file", 1)),
        )
        script.step(
            "directory",
            result("removed_directory", 0),
            o.if_(
                call(FILE, "DirectoryExists", path),
                check_true(call(FILE, "RemoveDirectoryTree", path), f"cannot remove {directory}"),
                result("removed_directory", 1),
            ),
        )
    return script


def file_exists(path: str) -> Script:
    """Read-only.  Result: ``exists`` (%Library.File.Exists)."""
    script = Script("%SYS", purpose=f"check {path}")
    script.step("check", result("exists", call(FILE, "Exists", lit(names.instance_path(path)))))
    return script


def remove_file(path: str) -> Script:
    """Deletes a file iris-ops wrote, if it is there.  Result: ``removed``."""
    target = lit(names.instance_path(path))
    script = Script("%SYS", purpose=f"remove {path}")
    script.step(
        "remove",
        result("removed", 0),
        o.if_(call(FILE, "Exists", target), check_true(call(FILE, "Delete", target), f"cannot remove {path}"),
              result("removed", 1)),
    )
    return script
