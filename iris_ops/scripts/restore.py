"""The restore scripts: directories, resources, database and namespace configuration."""

from __future__ import annotations

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import Script, call, check_status, check_true, lit, method, op, prop, result, set_, var
from .common import FILE, RESOURCE_DESCRIPTION, RESOURCE_WITH_ROLE_DESCRIPTION


def existing(namespace: str, databases: list[str], directories: list[str]) -> Script:
    """Read-only.  Result: ``namespace`` (0/1), ``databases`` {NAME: 0/1},
    ``directories`` {DIR: 0/1}, ``manager_directory``."""
    return _existing_step(Script("%SYS", purpose="check restore targets"), namespace, databases, directories)


def _existing_step(script: Script, namespace: str, databases: list[str], directories: list[str]) -> Script:
    ns = names.namespace(namespace)
    dbs, dirs = var("dbs"), var("dirs")
    script.step(
        "check",
        result("namespace", call("Config.Namespaces", "Exists", lit(ns))),
        set_(dbs, o.dynamic_object()),
        *[o.do(method(dbs, "%Set", lit(names.database(db)), call("Config.Databases", "Exists", lit(db)))) for db in databases],
        set_(dirs, o.dynamic_object()),
        *[o.do(method(dirs, "%Set", lit(names.directory(d)), call(FILE, "DirectoryExists", lit(names.directory(d))))) for d in directories],
        result("databases", dbs),
        result("directories", dirs),
        result("manager_directory", call(FILE, "ManagerDirectory")),
    )
    return script


def manager_directory() -> Script:
    """Read-only.  Result: ``manager_directory`` and ``version`` ($ZVERSION)."""
    script = Script("%SYS", purpose="find the manager directory")
    script.step("mgr", result("manager_directory", call(FILE, "ManagerDirectory")),
                result("version", o.SPECIAL["$ZVersion"]))
    return script


def make_directory(directory: str) -> Script:
    """Creates ``directory`` (and parents).  Result: ``created``."""
    path = lit(names.directory(directory))
    script = Script("%SYS", purpose=f"create {directory}")
    script.step(
        "mkdir",
        check_true(call(FILE, "CreateDirectoryChain", path), f"cannot create {directory}"),
        result("created", 1),
    )
    return script


def ensure_resource(resource: str) -> Script:
    """Creates the resource named in a DAT label if the instance lacks it, with no public
    permission, and then, if no role of that name exists, the role ``<resource>`` granting
    ``<resource>:RW`` (what the Management Portal and IPM create beside a database resource), so
    that users holding that role can use the restored database.  The resource's Description says
    whether the role is ours too.  Never for a system resource (exit 3 when built).  Result:
    ``created`` and ``role_created`` (1 when this call created them)."""
    return _resource_step(Script("%SYS", purpose=f"ensure resource {resource}"), resource)


def _resource_step(script: Script, resource: str) -> Script:
    res = lit(names.user_resource(resource))
    script.step(
        "resource",
        result("created", 0),
        result("role_created", 0),
        o.if_(
            o.not_(call("Security.Resources", "Exists", res)),
            o.if_(
                call("Security.Roles", "Exists", res),
                check_status(call("Security.Resources", "Create", res, lit(RESOURCE_DESCRIPTION), lit(""))),
                else_=[
                    check_status(call("Security.Resources", "Create", res, lit(RESOURCE_WITH_ROLE_DESCRIPTION), lit(""))),
                    check_status(call("Security.Roles", "Create", res, lit(RESOURCE_WITH_ROLE_DESCRIPTION),
                                      lit(f"{resource}:RW"), lit(""))),
                    result("role_created", 1),
                ],
            ),
            result("created", 1),
        ),
    )
    return script


def restore_facts(namespace: str, databases: list[str], directories: list[str], resources: list[str],
                  cache_dir: str | None = None, cached: list[tuple[str, int]] = ()) -> Script:
    """Read-only: what a restore must know before its first change, in one session.  Result:
    what :func:`existing` and :func:`resources_exist` return, and with ``cache_dir`` ``cache``
    {sha256: 0/1}: whether the fixture cache may serve each (sha256, size) of ``cached``
    (:func:`iris_ops.scripts.cache.probe_step`)."""
    from .cache import probe_step

    script = _existing_step(Script("%SYS", purpose="check restore targets, resources and cache"), namespace,
                            databases, directories)
    _resources_step(script, resources)
    if cache_dir is not None:
        probe_step(script, cache_dir, list(cached))
    return script


def resources_exist(resources: list[str]) -> Script:
    """Read-only.  Result: ``resources`` {NAME: {"exists": 0/1, "role_exists": 0/1}}
    (Security.Resources.Exists, and Security.Roles.Exists of the same name)."""
    return _resources_step(Script("%SYS", purpose="check resources"), resources)


def _resources_step(script: Script, resources: list[str]) -> Script:
    found, one = var("found"), var("one")
    statements = [set_(found, o.dynamic_object())]
    for resource in dict.fromkeys(resources):
        res = lit(names.resource(resource))
        statements += [
            set_(one, o.dynamic_object(exists=call("Security.Resources", "Exists", res),
                                       role_exists=call("Security.Roles", "Exists", res))),
            o.do(method(found, "%Set", res, one)),
        ]
    script.step("resources", *statements, result("resources", found))
    return script


def resource_exists(resource: str) -> Script:
    """Read-only.  Result: ``exists`` (Security.Resources.Exists) and ``role_exists``
    (Security.Roles.Exists of the same name)."""
    res = lit(names.resource(resource))
    script = Script("%SYS", purpose=f"check resource {resource}")
    script.step(
        "resource",
        result("exists", call("Security.Resources", "Exists", res)),
        result("role_exists", call("Security.Roles", "Exists", res)),
    )
    return script


def delete_resource(resource: str, *, with_role: bool = False) -> Script:
    """Deletes a resource iris-ops created (never a system resource: exit 3 when built), and with
    ``with_role`` the role of the same name.  Result: ``deleted``."""
    res = lit(names.user_resource(resource))
    script = Script("%SYS", purpose=f"delete resource {resource}")
    role = [o.if_(call("Security.Roles", "Exists", res), check_status(call("Security.Roles", "Delete", res)))]
    script.step(
        "resource",
        *(role if with_role else []),
        o.if_(call("Security.Resources", "Exists", res), check_status(call("Security.Resources", "Delete", res))),
        result("deleted", 1),
    )
    return script


def create_database(name: str, directory: str, resource: str | None = None) -> Script:
    """Config.Databases.Create, then MountDatabase; fails unless Mounted=1 and
    ReadOnlyMounted=0 (reporting ROReasonText).  With ``resource`` (a user resource), first what
    :func:`ensure_resource` does, in the same session.  Result: ``mounted`` (and ``created``,
    ``role_created`` with ``resource``)."""
    db, path = lit(names.database(name)), lit(names.directory(directory))
    obj = var("obj")
    script = Script("%SYS", purpose=f"create database {name}")
    if resource is not None:
        _resource_step(script, resource)
    script.step(
        "config",
        o.kill(var("props")),
        set_(var("props", "Directory"), path),
        check_status(call("Config.Databases", "Create", db, o.byref("props"))),
        result("configured", 1),
    )
    script.step(
        "mount",
        set_(obj, call("SYS.Database", "%OpenId", path)),
        o.if_(op(obj, "=", lit("")), o.throw(lit(f"cannot open database {directory}"))),
        o.if_(o.not_(prop(obj, "Mounted")), check_status(call("SYS.Database", "MountDatabase", path))),
        o.kill(obj),
        set_(obj, call("SYS.Database", "%OpenId", path)),
        o.if_(o.not_(prop(obj, "Mounted")), o.throw(lit(f"database {directory} did not mount"))),
        o.if_(
            prop(obj, "ReadOnlyMounted"),
            o.throw(op(lit(f"database {directory} mounted read-only: "), "_", prop(obj, "ROReasonText"))),
        ),
        result("mounted", 1),
    )
    return script


def create_namespace(namespace: str, globals_db: str, routines_db: str) -> Script:
    """Config.Namespaces.Create with Globals and Routines.  Result: ``created``."""
    ns = lit(names.namespace(namespace))
    script = Script("%SYS", purpose=f"create namespace {namespace}")
    script.step(
        "create",
        o.kill(var("props")),
        set_(var("props", "Globals"), lit(names.database(globals_db))),
        set_(var("props", "Routines"), lit(names.database(routines_db))),
        check_status(call("Config.Namespaces", "Create", ns, o.byref("props"))),
        result("created", 1),
    )
    return script
