"""What the script modules share: constants, SQL helpers, per-namespace loops."""

from __future__ import annotations

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import (Code, call, check_sql, check_status, check_true, func, lit, method, op, prop, result,
                                   set_, var)

__all__ = [
    "FILE", "NAMESPACE_PROPERTIES", "RESOURCE_DESCRIPTION", "RESOURCE_WITH_ROLE_DESCRIPTION", "TABLES_QUERY",
    "quoted_identifier", "table_counts", "database_facts", "MAP_CLASSES", "read_listed", "mappings_of",
    "resource_users", "for_each_namespace", "ROLE_DESCRIPTION", "SMALL_READ", "read_small_file",
    "delete_our_role", "for_each_database", "file_mode", "give_owner_and_mode",
]


FILE = "%Library.File"
NAMESPACE_PROPERTIES = ("Globals", "Routines", "TempGlobals", "Library", "SysGlobals", "SysRoutines", "Interop")
#: The Description of resources a restore creates: delete-ns removes only these.
RESOURCE_DESCRIPTION = "created by iris-ops restore"
#: The Description of a role a restore creates beside its resource: only such a role is removed
#: with the resource.  Whether the role is ours is known only after the resource exists (IRIS
#: may create a ``%DB_`` role with it), so it is marked on the role itself.
ROLE_DESCRIPTION = "created by iris-ops restore for the resource of the same name"
#: What earlier restores wrote on a resource created with its role, and on that role: still ours.
RESOURCE_WITH_ROLE_DESCRIPTION = "created by iris-ops restore, with the role of the same name"
TABLES_QUERY = "SELECT TABLE_SCHEMA,TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_TYPE='BASE TABLE'"


#: One Read of a small JSON file iris-ops wrote (records, markers: a few hundred bytes).
SMALL_READ = 32000


def read_small_file(path: Code, into: Code) -> list[Code]:
    """Statements reading the file at ``path`` (which must exist) into ``into``, in one Read of
    :data:`SMALL_READ` characters (%Stream.FileBinary)."""
    stream = var("sfstm")
    return [
        set_(stream, call("%Stream.FileBinary", "%New")),
        check_status(method(stream, "LinkToFile", path)),
        set_(into, method(stream, "Read", SMALL_READ)),
        o.kill(stream),
    ]


def quoted_identifier(name: Code) -> Code:
    """A delimited SQL identifier built at run time: ``"na""me"``."""
    return op(op(lit('"'), "_", func("$Replace", name, lit('"'), lit('""'))), "_", lit('"'))


def delete_our_role(res: Code, deleted: Code) -> list[Code]:
    """Statements that delete the role named ``res`` if iris-ops created it (its Description says
    so), setting ``deleted`` to 1 then, else 0; a role that is absent, or not ours (one IRIS made
    with the resource, or anyone else's), is left alone."""
    role = var("rl")
    ours = op(op(prop(role, "Description"), "=", lit(ROLE_DESCRIPTION)), "!",
              op(prop(role, "Description"), "=", lit(RESOURCE_WITH_ROLE_DESCRIPTION)))
    return [
        set_(deleted, 0),
        o.kill(role),
        o.if_(call("Security.Roles", "Exists", res, o.byref("rl")),
              o.if_(ours, check_status(call("Security.Roles", "Delete", res)), set_(deleted, 1))),
        o.kill(role),
    ]


def table_counts(namespace: str) -> list[Code]:
    """Statements that record ``tables``: [{name, row_count}] for every user table of
    ``namespace``, then switch back to %SYS.  Used by backup, restore verification and
    online validation, so all three count the same way."""
    ns = names.namespace(namespace)
    rs, q, sch, tn = var("rs"), var("q"), var("sch"), var("tn")
    count_sql = op(
        op(lit("SELECT COUNT(*) FROM "), "_", quoted_identifier(sch)),
        "_",
        op(lit("."), "_", quoted_identifier(tn)),
    )
    per_table = [
        set_(q, call("%SQL.Statement", "%ExecDirect", None, count_sql)),
        check_sql(q),
        o.do(method(q, "%Next")),
        o.push(var("tables"), o.dynamic_object(name=op(op(sch, "_", lit(".")), "_", tn), row_count=method(q, "%GetData", 1))),
    ]
    user_table = op(op(func("$Extract", sch), "'=", lit("%")), "&", op(sch, "'=", lit("INFORMATION_SCHEMA")))
    return [
        set_(o.SPECIAL["$Namespace"], lit(ns)),
        set_(var("tables"), o.new_array()),
        set_(rs, call("%SQL.Statement", "%ExecDirect", None, lit(TABLES_QUERY))),
        check_sql(rs),
        o.while_(
            method(rs, "%Next"),
            set_(sch, method(rs, "%GetData", 1)),
            set_(tn, method(rs, "%GetData", 2)),
            o.if_(user_table, *per_table),
        ),
        result("tables", var("tables")),
        set_(o.SPECIAL["$Namespace"], lit("%SYS")),
    ]


def database_facts(role: str, db_name: Code) -> list[Code]:
    """Statements describing the database called ``db_name`` into the ``dbs`` array: where it is,
    its label, its mount, and what a faithful copy depends on (EncryptedDB, Mirrored, BlockSize,
    MultiVolume, StreamLocation and a ``stream/`` directory beside IRIS.DAT).  A database whose
    file cannot be opened is described as ``missing`` (delete-ns must still be able to finish)."""
    d, obj, mv = var("d"), var("obj"), var("mv")
    directory = var("d", "Directory")
    return [
        check_status(call("Config.Databases", "Get", db_name, o.byref("d"))),
        set_(obj, call("SYS.Database", "%OpenId", directory)),
        o.if_(
            op(obj, "=", lit("")),
            o.push(var("dbs"), o.dynamic_object(name=db_name, role=lit(role), directory=directory, missing=1)),
            else_=[
                # MultiVolume is missing from older versions' SYS.Database: unknown there, not an error.
                set_(mv, lit("")),
                o.try_(set_(mv, prop(obj, "MultiVolume"))),
                o.push(
                    var("dbs"),
                    o.dynamic_object(
                        name=db_name,
                        role=lit(role),
                        directory=directory,
                        resource=prop(obj, "ResourceName"),
                        block_size=prop(obj, "BlockSize"),
                        size_mb=prop(obj, "Size"),
                        mounted=prop(obj, "Mounted"),
                        read_only_mounted=prop(obj, "ReadOnlyMounted"),
                        encrypted=prop(obj, "EncryptedDB"),
                        mirrored=prop(obj, "Mirrored"),
                        multi_volume=mv,
                        stream_location=func("$Get", var("d", "StreamLocation")),
                        stream_directory=call(FILE, "DirectoryExists", op(directory, "_", lit("stream/"))),
                    ),
                ),
            ],
        ),
        o.kill(d, obj),
    ]


MAP_CLASSES = {"globals": "Config.MapGlobals", "routines": "Config.MapRoutines", "packages": "Config.MapPackages"}


def read_listed(get: Code, still_there: Code, *then: Code) -> list[Code]:
    """``get`` (a ``Config.*.Get`` of an item a List query or ListAll just named), then ``then``.
    An item deleted since it was listed (another operation's delete-ns, running at the same
    time) is skipped: ``still_there`` (its ``Exists``) is false.  Any other error is thrown."""
    gs = var("gs")
    return [set_(gs, get),
            o.if_(o.system("Status.IsError", gs), o.if_(still_there, check_status(gs)), else_=then)]


def mappings_of(namespace: Code, kind: str, *body: Code) -> list[Code]:
    """Statements running ``body`` for each ``kind`` mapping of ``namespace`` (the List query of
    Config.Map*, the mapping's name first), with ``mn`` its name and ``mp`` its properties
    (``mp("Database")``).  A namespace deleted since it was listed (another delete-ns at the same
    time) has no mappings: its query's error is thrown only while the namespace exists."""
    st, rs, mn = var("st"), var("rs"), var("mn")
    cls = MAP_CLASSES[kind]
    return [
        set_(st, call("%SQL.Statement", "%New")),
        check_status(method(st, "%PrepareClassQuery", lit(cls), lit("List"))),
        set_(rs, method(st, "%Execute", namespace)),
        o.if_(op(prop(rs, "%SQLCODE"), "<", 0), o.if_(call("Config.Namespaces", "Exists", namespace), check_sql(rs)),
              else_=[o.while_(
                  method(rs, "%Next"),
                  set_(mn, method(rs, "%GetData", 1)),
                  o.kill(var("mp")),
                  *read_listed(call(cls, "Get", namespace, mn, o.byref("mp")), call(cls, "Exists", namespace, mn),
                               *body),
              )]),
        o.kill(st, rs),
    ]


def resource_users(res: Code, users: Code) -> list[Code]:
    """Statements pushing onto the array ``users`` the name of each database that some namespace
    uses as its Globals or Routines and whose label names the resource ``res``."""
    db, obj = var("db"), var("obj")
    per_role = []
    for role in ("Globals", "Routines"):
        per_role += [
            set_(db, func("$Get", var("p", role))),
            o.kill(var("d")),
            o.if_(
                op(db, "'=", lit("")),
                set_(var("dsc"), call("Config.Databases", "Get", db, o.byref("d"))),
                o.if_(
                    o.not_(o.system("Status.IsError", var("dsc"))),
                    set_(obj, call("SYS.Database", "%OpenId", var("d", "Directory"))),
                    o.if_(op(obj, "'=", lit("")), o.if_(op(prop(obj, "ResourceName"), "=", res), o.push(users, db))),
                    o.kill(obj),
                ),
            ),
        ]
    return for_each_namespace(*per_role)


def for_each_database(*body: Code) -> list[Code]:
    """Statements running ``body`` with ``dn`` set to each configured database (the List query of
    Config.Databases) and ``d`` holding its Config.Databases properties (``d("Directory")``);
    one deleted since it was listed is skipped (:func:`read_listed`)."""
    st, rs, dn = var("st"), var("rs"), var("dn")
    return [
        set_(st, call("%SQL.Statement", "%New")),
        check_status(method(st, "%PrepareClassQuery", lit("Config.Databases"), lit("List"))),
        set_(rs, method(st, "%Execute")),
        check_sql(rs),
        o.while_(
            method(rs, "%Next"),
            set_(dn, method(rs, "%GetData", 1)),
            o.kill(var("d")),
            *read_listed(call("Config.Databases", "Get", dn, o.byref("d")), call("Config.Databases", "Exists", dn),
                         *body),
        ),
    ]


def for_each_namespace(*body: Code) -> list[Code]:
    """Statements running ``body`` with ``ns`` set to each namespace that has a
    configuration (%SYS.Namespace.ListAll) and ``p`` holding its Config.Namespaces properties.
    ListAll also lists implicit namespaces (``^^directory``): they have no configuration."""
    ns = var("ns")
    explicit = op(func("$Extract", ns), "'=", lit("^"))
    return [
        check_status(call("%SYS.Namespace", "ListAll", o.byref("all"))),
        set_(ns, func("$Order", var("all", lit("")))),
        o.while_(
            op(ns, "'=", lit("")),
            o.kill(var("p")),
            o.if_(
                op(explicit, "&", call("Config.Namespaces", "Exists", ns)),
                *read_listed(call("Config.Namespaces", "Get", ns, o.byref("p")), call("Config.Namespaces", "Exists", ns),
                             *body),
            ),
            set_(ns, func("$Order", var("all", ns))),
        ),
    ]


def file_mode(path: Code) -> Code:
    """The permission bits of the file at ``path`` (``%File.Attributes`` modulo 4096)."""
    return op(call(FILE, "Attributes", path), "#", 4096)


def give_owner_and_mode(path: Code, mode: Code, owner: Code, *, what: str) -> list[Code]:
    """Statements giving the file at ``path`` the permission bits in ``mode`` and the
    ``owner:group`` in ``owner`` when it has others.  ``SetOwnerGroup`` is called only then: it
    needs a session allowed to chown (a local session run by root, whose copies are root's);
    a session whose copies already have the owner never calls it."""
    now = var("gonow")
    return [
        o.if_(op(file_mode(path), "'=", mode), check_true(call(FILE, "SetAttributes", path, mode),
                                                          f"cannot give {what} its mode")),
        set_(now, lit("")),
        o.do(call(FILE, "GetOwnerGroup", path, o.byref("gonow"))),
        o.if_(op(now, "'=", owner), check_status(call(FILE, "SetOwnerGroup", path, owner))),
    ]
