"""Read-only scripts that describe the instance: namespaces, databases, resources, counts."""

from __future__ import annotations

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import (
    Script,
    call,
    check_status,
    func,
    lit,
    method,
    op,
    prop,
    result,
    set_,
    system,
    var,
)
from .common import FILE, NAMESPACE_PROPERTIES, database_facts, for_each_namespace, table_counts


def describe_namespace(namespace: str, *, with_tables: bool = False) -> Script:
    """Read-only.  Result: ``exists`` (0/1); when 1: ``properties`` {Globals, Routines, …},
    ``dbs`` [{name, role, directory, resource, block_size, size_mb, mounted,
    read_only_mounted}] (one entry when Globals and Routines are the same database),
    ``manager_directory``, ``version`` ($ZVERSION) and, with ``with_tables``, ``tables``."""
    ns = names.namespace(namespace)
    script = Script("%SYS", purpose=f"describe namespace {ns}")
    exists = var("exists")
    script.step(
        "exists",
        set_(exists, call("Config.Namespaces", "Exists", lit(ns))),
        result("exists", exists),
        result("manager_directory", call(FILE, "ManagerDirectory")),
        result("version", o.SPECIAL["$ZVersion"]),
    )
    props = [o.do(method(var("props"), "%Set", lit(key), func("$Get", var("p", key)))) for key in NAMESPACE_PROPERTIES]
    script.step(
        "properties",
        o.if_(
            exists,
            check_status(call("Config.Namespaces", "Get", lit(ns), o.byref("p"))),
            set_(var("props"), o.dynamic_object()),
            *props,
            result("properties", var("props")),
        ),
    )
    globals_db, routines_db = var("p", "Globals"), var("p", "Routines")
    script.step(
        "databases",
        o.if_(
            exists,
            set_(var("dbs"), o.new_array()),
            o.if_(
                op(globals_db, "=", routines_db),
                *database_facts("globals+routines", globals_db),
                else_=[*database_facts("globals", globals_db), *database_facts("routines", routines_db)],
            ),
            result("dbs", var("dbs")),
        ),
    )
    if with_tables:
        script.step("tables", o.if_(exists, *table_counts(ns)))
    return script


def namespace_users(database_names: list[str]) -> Script:
    """Read-only.  Result: ``users`` {DB: [namespaces whose Globals or Routines is DB]} for
    each of ``database_names``, over every namespace of the instance."""
    dbs = [names.database(name) for name in database_names]
    script = Script("%SYS", purpose="find namespaces using databases")
    users = var("users")
    per_db = []
    for db in dbs:
        uses = op(op(func("$Get", var("p", "Globals")), "=", lit(db)), "!", op(func("$Get", var("p", "Routines")), "=", lit(db)))
        per_db.append(o.if_(uses, o.push(method(users, "%Get", lit(db)), var("ns"))))
    script.step(
        "list",
        set_(users, o.dynamic_object()),
        *[o.do(method(users, "%Set", lit(db), o.new_array())) for db in dbs],
        *for_each_namespace(*per_db),
        result("users", users),
    )
    return script


def resource_status(resource: str) -> Script:
    """Read-only.  Result: ``exists``; ``description`` (Security.Resources.Get); ``users``
    [database names, as Globals or Routines of some namespace, whose label names the resource]."""
    res = lit(names.namespace(resource, what="resource"))
    users, db, obj = var("users"), var("db"), var("obj")
    per_role = []
    for role in ("Globals", "Routines"):
        per_role += [
            set_(db, func("$Get", var("p", role))),
            o.kill(var("d")),
            o.if_(
                op(db, "'=", lit("")),
                set_(var("dsc"), call("Config.Databases", "Get", db, o.byref("d"))),
                o.if_(
                    o.not_(system("Status.IsError", var("dsc"))),
                    set_(obj, call("SYS.Database", "%OpenId", var("d", "Directory"))),
                    o.if_(op(obj, "'=", lit("")), o.if_(op(prop(obj, "ResourceName"), "=", res), o.push(users, db))),
                    o.kill(obj),
                ),
            ),
        ]
    script = Script("%SYS", purpose=f"check resource {resource}")
    script.step(
        "resource",
        set_(var("exists"), call("Security.Resources", "Exists", res)),
        result("exists", var("exists")),
        o.if_(
            var("exists"),
            o.kill(var("rp")),
            check_status(call("Security.Resources", "Get", res, o.byref("rp"))),
            result("description", func("$Get", var("rp", "Description"))),
        ),
        set_(users, o.new_array()),
        *for_each_namespace(*per_role),
        result("users", users),
    )
    return script


def counts(namespace: str) -> Script:
    """Read-only.  Result: ``tables`` [{name, row_count}] of ``namespace``."""
    script = Script("%SYS", purpose=f"count rows in {names.namespace(namespace)}")
    script.step("tables", *table_counts(namespace))
    return script
