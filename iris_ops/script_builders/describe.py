"""Read-only scripts that describe the instance: namespaces, databases, resources, counts."""

from __future__ import annotations

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import (
    Script,
    call,
    check_sql,
    check_status,
    func,
    lit,
    method,
    op,
    prop,
    result,
    set_,
    var,
)
from .common import (
    FILE,
    MAP_CLASSES,
    NAMESPACE_PROPERTIES,
    database_facts,
    for_each_database,
    for_each_namespace,
    mappings_of,
    read_small_file,
    resource_users,
    table_counts,
)

__all__ = [
    "describe_namespace", "DATABASE_ROLES", "database_users", "resource_status", "counts", "namespace_names",
    "configured_names", "sql_statement", "restored_databases", "namespace_exists",
]


def describe_namespace(namespace: str, *, with_tables: bool = False) -> Script:
    """Read-only.  Result: ``exists`` (0/1); when 1: ``properties`` {Globals, Routines, …},
    ``dbs`` (see :func:`~.common.database_facts`; one entry when Globals and Routines are the
    same database), ``mappings`` {globals, routines, packages: [{name, database}]},
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
    maps = var("maps")
    per_kind = []
    for kind in MAP_CLASSES:
        entry = o.dynamic_object(name=var("mn"), database=func("$Get", var("mp", "Database")))
        per_kind += [o.do(method(maps, "%Set", lit(kind), o.new_array())),
                     *mappings_of(lit(ns), kind, o.push(method(maps, "%Get", lit(kind)), entry))]
    script.step(
        "mappings",
        o.if_(exists, set_(maps, o.dynamic_object()), *per_kind, result("mappings", maps)),
    )
    if with_tables:
        script.step("tables", o.if_(exists, *table_counts(ns)))
    return script


DATABASE_ROLES = ("Globals", "Routines", "TempGlobals", "Library", "SysGlobals", "SysRoutines")


def database_users(namespace: str | None, databases: list[tuple[str, str]]) -> Script:
    """Read-only.  Who else needs each ``(name, directory)`` database: ``users`` {DB: [reasons]},
    a reason for each namespace other than ``namespace`` (every namespace when it is None) that
    maps to it directly (Globals, Routines, ...) or through a global, routine or package mapping
    (``%ALL`` included), and for each other database configuration naming the same directory."""
    ns = names.namespace(namespace) if namespace is not None else None
    dbs = [(names.database(n), names.directory(d)) for n, d in databases]
    script = Script("%SYS", purpose="find who uses databases")
    users, cur = var("users"), var("ns")

    def reason(db: str, text) -> o.Code:
        return o.push(method(users, "%Get", lit(db)), text)

    direct = []
    for db, _ in dbs:
        for role in DATABASE_ROLES:
            direct.append(o.if_(op(func("$Get", var("p", role)), "=", lit(db)),
                                reason(db, op(op(lit("namespace "), "_", cur), "_", lit(f" ({role})")))))
    other = op(cur, "'=", lit(ns)) if ns is not None else lit(1)
    script.step(
        "direct",
        set_(users, o.dynamic_object()),
        *[o.do(method(users, "%Set", lit(db), o.new_array())) for db, _ in dbs],
        *for_each_namespace(o.if_(other, *direct)),
    )
    mapped = []
    for kind in MAP_CLASSES:
        checks = [o.if_(op(func("$Get", var("mp", "Database")), "=", lit(db)),
                        reason(db, op(op(op(lit(f"{kind[:-1]} mapping "), "_", var("mn")), "_", lit(" in namespace ")), "_", cur)))
                  for db, _ in dbs]
        mapped += mappings_of(cur, kind, *checks)
    script.step("mapped", *for_each_namespace(o.if_(other, *mapped)))
    script.step(
        "all",
        o.if_(call("Config.Namespaces", "Exists", lit("%ALL")), set_(cur, lit("%ALL")), *mapped),
    )
    dn = var("dn")
    same_dir = [o.if_(op(op(dn, "'=", lit(db)), "&", op(func("$Get", var("d", "Directory")), "=", lit(directory))),
                      reason(db, op(op(lit("database "), "_", dn), "_", lit(" (same directory)"))))
                for db, directory in dbs]
    script.step("directories", *for_each_database(*same_dir), result("users", users))
    return script


def restored_databases(marker: str) -> Script:
    """Read-only.  Result: ``restored`` [[name, directory, marked, resource]]: each configured
    database whose directory holds the file ``marker`` (the provenance a restore writes), with
    the ``database`` that file names ("" when it does not parse) and the resource in the
    database's label ("" when its file cannot be opened)."""
    name, obj, text, mark, entry = var("dn"), var("obj"), var("mtxt"), var("mrk"), var("entry")
    directory = var("d", "Directory")
    path = op(directory, "_", lit(marker))
    script = Script("%SYS", purpose="find the databases a restore created")
    script.step(
        "list",
        set_(var("found"), o.new_array()),
        *for_each_database(o.if_(
            call(FILE, "Exists", path),
            *read_small_file(path, text),
            set_(mark, lit("")),
            o.try_(set_(var("mjs"), call("%Library.DynamicObject", "%FromJSON", text)),
                   set_(mark, method(var("mjs"), "%Get", lit("database")))),
            set_(obj, call("SYS.Database", "%OpenId", directory)),
            set_(entry, o.new_array()),
            *[o.push(entry, value) for value in (name, directory, mark)],
            o.push(entry, o.select((op(obj, "=", lit("")), lit("")), default=prop(obj, "ResourceName"))),
            o.push(var("found"), entry),
            o.kill(obj))),
        result("restored", var("found")),
    )
    return script


def resource_status(resource: str) -> Script:
    """Read-only.  Result: ``exists``; ``description`` (Security.Resources.Get); ``users``
    [database names, as Globals or Routines of some namespace, whose label names the resource]."""
    res = lit(names.resource(resource))
    users = var("users")
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
        *resource_users(res, users),
        result("users", users),
    )
    return script


def counts(namespace: str) -> Script:
    """Read-only.  Result: ``tables`` [{name, row_count}] of ``namespace``."""
    script = Script("%SYS", purpose=f"count rows in {names.namespace(namespace)}")
    script.step("tables", *table_counts(namespace))
    return script


def namespace_exists(namespace: str) -> Script:
    """Read-only.  Result: ``exists`` (0/1), whether ``namespace`` is configured."""
    ns = names.namespace(namespace)
    script = Script("%SYS", purpose=f"check that namespace {ns} exists")
    script.step("check", result("exists", call("Config.Namespaces", "Exists", lit(ns))))
    return script


def namespace_names() -> Script:
    """Read-only.  Result: ``namespaces``, the name of every configured namespace."""
    script = Script("%SYS", purpose="list namespaces")
    script.step(
        "list",
        set_(var("found"), o.new_array()),
        *for_each_namespace(o.push(var("found"), var("ns"))),
        result("namespaces", var("found")),
    )
    return script


def configured_names() -> Script:
    """Read-only.  Result: ``namespaces`` [name] and ``databases`` [[name, directory]], every
    entry of the [Namespaces] and [Databases] configuration (the List queries of
    Config.Namespaces and Config.Databases, the name first)."""
    st, rs, name, pair = var("st"), var("rs"), var("dn"), var("pair")
    database = [
        o.kill(var("d")),
        check_status(call("Config.Databases", "Get", name, o.byref("d"))),
        set_(pair, o.new_array()),
        o.push(pair, name),
        o.push(pair, func("$Get", var("d", "Directory"))),
    ]
    script = Script("%SYS", purpose="list configured namespaces and databases")
    for key, cls, each in (("namespaces", "Config.Namespaces", [o.push(var("found"), name)]),
                           ("databases", "Config.Databases", [*database, o.push(var("found"), pair)])):
        script.step(
            key,
            set_(var("found"), o.new_array()),
            set_(st, call("%SQL.Statement", "%New")),
            check_status(method(st, "%PrepareClassQuery", lit(cls), lit("List"))),
            set_(rs, method(st, "%Execute")),
            check_sql(rs),
            o.while_(method(rs, "%Next"), set_(name, method(rs, "%GetData", 1)), *each),
            o.kill(st, rs),
            result(key, var("found")),
        )
    return script


def sql_statement(namespace: str, statement: str) -> Script:
    """Runs one SQL statement in ``namespace``.  Result: ``columns`` and ``rows`` (a query), and
    ``rowcount`` (rows read, or rows a change affected).  Not read-only: the statement may change
    data; it is the caller's."""
    ns = names.namespace(namespace)
    rs, row, i, columns = var("rs"), var("row"), var("i"), var("cols")
    script = Script(ns, purpose=f"run SQL in {ns}")
    count = prop(rs, "%ResultColumnCount")
    script.step(
        "sql",
        set_(rs, call("%SQL.Statement", "%ExecDirect", None, lit(statement))),
        check_sql(rs),
        set_(columns, o.new_array()),
        set_(var("rows"), o.new_array()),
        set_(i, lit(1)),
        o.while_(
            op(i, "<", op(count, "+", lit(1))),
            o.push(columns, prop(method(prop(method(rs, "%GetMetadata"), "columns"), "GetAt", i), "colName")),
            set_(i, op(i, "+", lit(1))),
        ),
        o.while_(
            method(rs, "%Next"),
            set_(row, o.new_array()),
            set_(i, lit(1)),
            o.while_(op(i, "<", op(count, "+", lit(1))), o.push(row, method(rs, "%GetData", i)), set_(i, op(i, "+", lit(1)))),
            o.push(var("rows"), row),
        ),
        result("columns", columns),
        result("rows", var("rows")),
        result("rowcount", prop(rs, "%ROWCOUNT")),
    )
    return script
