"""The delete-ns scripts: namespace and database removal, each step tolerating what is gone."""

from __future__ import annotations

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import Code, Script, call, check_status, check_true, func, lit, method, op, prop, result, set_, var
from .common import FILE

__all__ = [
    "RESOURCE_ABSENT", "RESOURCE_NOT_OURS", "RESOURCE_IN_USE", "RESOURCE_DELETED", "RESOURCE_DELETED_WITH_ROLE",
    "delete_namespace", "delete_database", "delete_all", "database_steps", "resource_steps", "file_exists", "remove_file",
]


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
    script = Script("%SYS", purpose=f"delete database {name}")
    for step, statements in database_steps(name, directory, keep_files, None):
        script.step(step, *statements)
    return script


def _record(into: Code | None, key: str, value) -> Code:
    """``result(key, value)``, or into the dynamic object ``into``."""
    return result(key, value) if into is None else o.do(method(into, "%Set", lit(key), value))


def database_steps(name: str, directory: str, keep_files: bool, into: Code | None) -> list[tuple[str, list[Code]]]:
    """The (step name, statements) that delete database ``name``, each tolerating what is
    already gone; outcomes go to results (``into`` None) or into the dynamic object ``into``."""
    db, path = lit(names.database(name)), lit(names.directory(directory))
    obj = var("obj")
    steps = [
        ("config", [
            _record(into, "configured", 0),
            o.if_(call("Config.Databases", "Exists", db), check_status(call("Config.Databases", "Delete", db)),
                  _record(into, "configured", 1)),
        ]),
        ("dismount", [
            _record(into, "dismounted", 0),
            set_(obj, call("SYS.Database", "%OpenId", path)),
            o.if_(op(obj, "'=", lit("")), o.if_(prop(obj, "Mounted"), check_status(
                call("SYS.Database", "DismountDatabase", path)), _record(into, "dismounted", 1))),
            o.kill(obj),
        ]),
    ]
    if not keep_files:
        dat = lit(names.instance_path(names.directory(directory) + "IRIS.DAT"))
        steps += [
            ("file", [
                _record(into, "deleted_file", 0),
                o.if_(call(FILE, "Exists", dat), check_status(call("SYS.Database", "DeleteDatabase", path)),
                      _record(into, "deleted_file", 1)),
            ]),
            ("directory", [
                _record(into, "removed_directory", 0),
                o.if_(call(FILE, "DirectoryExists", path),
                      check_true(call(FILE, "RemoveDirectoryTree", path), f"cannot remove {directory}"),
                      _record(into, "removed_directory", 1)),
            ]),
        ]
    return steps


#: What :func:`delete_all` reports for a resource it looked at.
RESOURCE_ABSENT, RESOURCE_NOT_OURS, RESOURCE_IN_USE, RESOURCE_DELETED, RESOURCE_DELETED_WITH_ROLE = (
    "absent", "not-ours", "in-use", "deleted", "deleted-with-role")


def delete_all(namespace: str | None, databases: list[tuple[str, str, str]], *, keep_files: bool = False,
               wait: float | None = None) -> Script:
    """A delete-ns in one session, each part tolerating what is already gone: the namespace
    (none when it is None: ``doctor`` removing databases nothing uses any more); then each
    database (as :func:`delete_database`; a failure stops the script there); then each
    database's resource (``databases``: (name, directory, resource or "")), if it is a user
    resource that iris-ops restore created (its Description says so) and no database of any
    namespace still names it (as :func:`iris_ops.script_builders.describe.resource_status` finds
    them), with its role when restore created that too (the role's Description says so; a role that
    is absent, or that IRIS made with the resource, is left alone).  Result: ``namespace_deleted``
    (0/1), ``databases`` {NAME: what :func:`delete_database` returns}, ``resources`` {NAME:
    {"outcome": one of ``RESOURCE_*``, "users": [database names]}}.  With ``wait`` (and a
    namespace), the script first waits that long for any session of an earlier operation on the
    namespace still running in the instance (:func:`iris_ops.script_builders.restore.guard_step`,
    without a journal)."""
    from .restore import Guard, guard_step

    dbs, one, res_out = var("dbs"), var("one"), var("ress")
    start = [set_(dbs, o.dynamic_object()), set_(res_out, o.dynamic_object()),
             result("databases", dbs), result("resources", res_out)]
    if namespace is None:
        script = Script("%SYS", purpose="delete databases nothing uses")
        script.step("start", *start)
    else:
        ns = lit(names.namespace(namespace))
        script = Script("%SYS", purpose=f"delete namespace {names.namespace(namespace)} and its databases")
        if wait is not None:
            guard_step(script, Guard(namespace, (), "", wait), check_journal=False)
        script.step("namespace", result("namespace_deleted", 0), *start,
                    o.if_(call("Config.Namespaces", "Exists", ns), check_status(call("Config.Namespaces", "Delete", ns)),
                          result("namespace_deleted", 1)))
    for i, (name, directory, _) in enumerate(databases):
        statements = [set_(one, o.dynamic_object()), o.do(method(dbs, "%Set", lit(names.database(name)), one))]
        for _, part in database_steps(name, directory, keep_files, one):
            statements += part
        script.step(f"db{i}", *statements)
    return resource_steps(script, [r for _, _, r in databases], res_out)


def resource_steps(script: Script, resources: list[str], res_out: Code) -> Script:
    """Adds a step per user resource of ``resources`` (duplicates, "" and system resources are
    skipped): delete it if iris-ops restore created it (its Description says so) and no database
    of any namespace still names it, with its role when restore created that too (the role's
    Description says so).  Each outcome goes into the dynamic object ``res_out`` as
    {"outcome": one of ``RESOURCE_*``, "users": [...]}."""
    from .common import RESOURCE_DESCRIPTION, RESOURCE_WITH_ROLE_DESCRIPTION, delete_our_role, resource_users

    users, desc, outcome, role_deleted = var("users"), var("desc"), var("out"), var("rd")
    for i, resource in enumerate(dict.fromkeys(r for r in resources if r and not names.is_system_resource(r))):
        res = lit(names.user_resource(resource))
        ours = op(op(desc, "=", lit(RESOURCE_DESCRIPTION)), "!", op(desc, "=", lit(RESOURCE_WITH_ROLE_DESCRIPTION)))
        script.step(
            f"resource{i}",
            set_(users, o.new_array()),
            set_(outcome, lit(RESOURCE_ABSENT)),
            o.if_(call("Security.Resources", "Exists", res),
                  o.kill(var("rp")),
                  check_status(call("Security.Resources", "Get", res, o.byref("rp"))),
                  set_(desc, func("$Get", var("rp", "Description"))),
                  set_(outcome, lit(RESOURCE_NOT_OURS)),
                  o.if_(ours, *resource_users(res, users), set_(outcome, lit(RESOURCE_IN_USE)),
                        o.if_(op(method(users, "%Size"), "=", 0),
                              *delete_our_role(res, role_deleted),
                              check_status(call("Security.Resources", "Delete", res)),
                              set_(outcome, lit(RESOURCE_DELETED)),
                              o.if_(role_deleted, set_(outcome, lit(RESOURCE_DELETED_WITH_ROLE)))))),
            o.do(method(res_out, "%Set", res, o.dynamic_object(outcome=outcome, users=users))),
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
