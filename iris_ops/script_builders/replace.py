"""The script that puts a verified namespace in the place of an old one (``restore --force``).

It runs once the new databases are restored, mounted and counted under staging names beside the
old ones (:mod:`iris_ops.operations.restore_replace`).  Every step tolerates what an earlier run
of the same script already did, so that ``doctor --fix`` can run it again from wherever a dead
instance stopped it: a step decides by what the configuration says now, databases by their
directories (the new databases take names the old ones had).
"""

from __future__ import annotations

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import Code, Script, call, check_status, check_true, func, lit, op, result, set_, var
from .common import FILE
from .restore import Guard, guard_step

__all__ = ["swap"]


def _same_directory(configured: Code, directory: str) -> Code:
    """Whether a configured Directory is ``directory`` (both normalised by the instance)."""
    return op(call(FILE, "NormalizeDirectory", configured), "=",
              call(FILE, "NormalizeDirectory", lit(names.directory(directory))))


def _directory_of(name: Code) -> list[Code]:
    """Statements leaving in ``dd`` the Directory configured for database ``name`` ("" when none)."""
    return [set_(var("dd"), lit("")), o.kill(var("d")),
            o.if_(call("Config.Databases", "Exists", name),
                  check_status(call("Config.Databases", "Get", name, o.byref("d"))),
                  set_(var("dd"), func("$Get", var("d", "Directory"))))]


def swap(namespace: str, guard: Guard, journal: str, committed: str, staging_namespace: str,
         databases: list[tuple[str, str, str]], globals_db: str, routines_db: str,
         old_databases: list[tuple[str, str, str]], orphans: list[str]) -> Script:
    """Replace ``namespace`` by the staged one, in one session.

    ``databases``: (staging name, final name, directory) of each new database; ``globals_db`` and
    ``routines_db``: final names; ``old_databases``: (name, directory, resource) of each old
    database no other namespace uses; ``orphans``: directories no database uses that stood where
    a new database would have gone.

    0. :func:`~iris_ops.script_builders.restore.guard_step` (the journal, or the renamed one).
    1. ``commit``: rename ``journal`` to ``committed`` (from here on the replacement is finished,
       never undone).
    2. Delete the staging namespace; delete ``namespace`` unless its Globals database is already
       the new one; delete the configuration of each old database (only where its name still
       has the old directory).
    3. Give each new database its final name (configuration only: the file stays mounted where
       it is), and check that name now has the new directory; create ``namespace``.
    4. Dismount each old database, delete its file and directory; remove each orphan directory;
       delete each old database's resource if restore created it and no database names it
       (as delete-ns does).

    Result: ``committed`` 1 after step 1, ``resources`` (as
    :func:`iris_ops.script_builders.delete_all`), ``finished`` 1 at the end."""
    from .delete import database_steps, resource_steps
    from .restore import database_statements, namespace_statements

    ns = lit(names.namespace(namespace))
    src, dst = lit(names.instance_path(journal)), lit(names.instance_path(committed))
    new_globals = next(d for _, final, d in databases if final == names.database(globals_db))
    script = Script("%SYS", purpose=f"put the restored namespace in the place of {names.namespace(namespace)}")
    guard_step(script, guard)
    script.step("commit", o.if_(call(FILE, "Exists", src), check_true(call(FILE, "Rename", src, dst),
                                                                     f"cannot rename {journal}")),
                result("committed", 1))
    staging = lit(names.namespace(staging_namespace))
    script.step("staging", o.if_(call("Config.Namespaces", "Exists", staging),
                                 check_status(call("Config.Namespaces", "Delete", staging))))
    script.step("old", o.if_(
        call("Config.Namespaces", "Exists", ns),
        o.kill(var("p")),
        check_status(call("Config.Namespaces", "Get", ns, o.byref("p"))),
        *_directory_of(func("$Get", var("p", "Globals"))),
        o.if_(o.not_(_same_directory(var("dd"), new_globals)), check_status(call("Config.Namespaces", "Delete", ns)))))
    for i, (name, directory, _) in enumerate(old_databases):
        db = lit(names.database(name))
        script.step(f"oldconfig{i}", *_directory_of(db),
                    o.if_(op(op(var("dd"), "'=", lit("")), "&", _same_directory(var("dd"), directory)),
                          check_status(call("Config.Databases", "Delete", db))))
    for i, (staged, final, directory) in enumerate(databases):
        old, new = lit(names.database(staged)), lit(names.database(final))
        config, mount = database_statements(final, directory)
        script.step(f"rename{i}",
                    o.if_(call("Config.Databases", "Exists", old), check_status(call("Config.Databases", "Delete", old))),
                    o.if_(o.not_(call("Config.Databases", "Exists", new)), *config),
                    *_directory_of(new),
                    o.if_(o.not_(_same_directory(var("dd"), directory)),
                          o.throw(lit(f"database {final} exists with another directory than {directory}"))),
                    *mount)
    script.step("namespace", o.if_(o.not_(call("Config.Namespaces", "Exists", ns)),
                                   *namespace_statements(namespace, globals_db, routines_db)))
    for i, (name, directory, _) in enumerate(old_databases):
        statements: list[Code] = []
        for _, part in database_steps(name, directory, False, None)[1:]:  # its configuration went above
            statements += part
        script.step(f"oldfiles{i}", *statements)
    if orphans:
        script.step("orphans", *[o.if_(call(FILE, "DirectoryExists", lit(names.directory(d))),
                                       check_true(call(FILE, "RemoveDirectoryTree", lit(names.directory(d))),
                                                  f"cannot remove {d}")) for d in orphans])
    res_out = var("ress")
    script.step("resources", set_(res_out, o.dynamic_object()), result("resources", res_out))
    resource_steps(script, [r for _, _, r in old_databases], res_out)
    script.step("finished", result("finished", 1))
    return script
