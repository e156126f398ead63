"""The restore scripts: directories, resources, database and namespace configuration."""

from __future__ import annotations

import re
from dataclasses import dataclass

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import Code, Script, call, check_status, check_true, lit, method, op, prop, result, set_, var
from .common import FILE, RESOURCE_DESCRIPTION, ROLE_DESCRIPTION, delete_our_role, read_small_file

__all__ = [
    "existing", "manager_directory", "make_directory", "ensure_resource", "restore_facts", "NewDatabase",
    "restore_databases", "delete_resource", "create_database",
    "create_namespace", "GUARD_LOCK", "Guard", "guard_step", "revoke_step",
    "database_statements", "namespace_statements",
]

#: Held by every session that changes namespace ``<NS>`` for a restore or a delete-ns, while it
#: runs (``^IRISOPS.Session(<NS>)``), and by every changing session of an apply
#: (``^IRISOPS.Session("*apply")``).
GUARD_LOCK = "IRISOPS.Session"


@dataclass(frozen=True)
class Guard:
    """What each session of one restore (or apply) checks before it changes anything.

    A session the client gave up on (a signal, a deadline, ``kill -9``) still runs in the
    instance, and would otherwise create its part after the rollback removed everything (a
    namespace left with its rows, its journal gone).  So each changing session first takes
    ``^IRISOPS.Session(<NS>)`` (within ``wait`` seconds), which it holds until it ends, and then
    goes on only while one of ``journals`` (the restore's journal, under the names it may have)
    holds ``token``, this restore's own.  A rollback takes the same lock, waiting for such a
    session to end, and renames the journal aside (:func:`revoke_step`) before it undoes
    anything: a session starting later finds no journal with its token, and stops."""

    namespace: str
    journals: tuple[str, ...]
    token: str
    wait: float
    #: Whose sessions these are when not a restore's (or a delete-ns') into ``namespace``:
    #: ``apply`` guards its sessions with ``^IRISOPS.Session("*apply")`` (``namespace`` is then
    #: ``""``; no namespace name begins with ``*``).
    operation: str = ""

    @property
    def subject(self) -> str:
        """The lock's subscript."""
        if not self.operation:
            return names.namespace(self.namespace)
        if not _OPERATION.match(self.operation):
            raise ValueError(f"invalid operation name {self.operation!r}")
        return f"*{self.operation}"

    @property
    def whose(self) -> str:
        return f"the {self.operation}" if self.operation else f"an operation on namespace {self.namespace}"


_OPERATION = re.compile(r"^[a-z][a-z-]{0,31}$")


def guard_step(script: Script, guard: Guard, *, check_journal: bool = True) -> Script:
    """Adds step ``guard``: take the lock, then (with ``check_journal``) require the token in the
    first of ``guard.journals`` that exists (read with ``%Stream.FileBinary``).  Fails the script
    (step ``guard``) when either is missing."""
    text, found = var("gtxt"), var("gfile")
    statements = [o.lock(o.global_ref(GUARD_LOCK, guard.subject), timeout=guard.wait),
                  o.if_(o.not_(o.TEST), o.throw(lit(f"an earlier session of {guard.whose} "
                                                    f"still runs in the instance (waited {guard.wait:g} s)")))]
    if check_journal:
        statements += [set_(text, lit("")), set_(found, 0)]
        for path in guard.journals:
            journal = lit(names.instance_path(path))
            statements.append(o.if_(op(o.not_(found), "&", call(FILE, "Exists", journal)), set_(found, 1),
                                    *read_small_file(journal, text)))
        statements.append(o.if_(op(text, "'[", lit(guard.token)),
                                o.throw(lit(f"this {guard.operation} was rolled back: its journal is gone"
                                            if guard.operation else f"this restore into {guard.namespace} was "
                                            "rolled back or replaced: its journal is gone"))))
    script.step("guard", *statements)
    return script


def revoke_step(script: Script, journal: str, aside: str) -> Script:
    """Adds step ``revoke``: rename the journal to ``aside`` if it is there (a session of the
    restore that starts later finds no journal with its token).  Result: ``revoked`` (0/1)."""
    src, dst = lit(names.instance_path(journal)), lit(names.instance_path(aside))
    script.step("revoke", result("revoked", 0),
                o.if_(call(FILE, "Exists", src), check_true(call(FILE, "Rename", src, dst), f"cannot rename {journal}"),
                      result("revoked", 1)))
    return script


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
    that users holding that role can use the restored database.  Resource first, then the role
    check, as IPM's ``Build.cls`` does: IRIS may create the ``%DB_`` role with the resource
    itself, and then there is nothing to create (never a failure because the role exists).  The
    role's Description says whether it is ours.  Never for a system resource (exit 3 when
    built).  Result: ``created`` and ``role_created`` (1 when this call created them)."""
    return _resource_step(Script("%SYS", purpose=f"ensure resource {resource}"), resource)


def _resource_step(script: Script, resource: str) -> Script:
    script.step("resource", *_resource_statements(resource))
    return script


def _resource_statements(resource: str) -> list[Code]:
    res = lit(names.user_resource(resource))
    return [
        result("created", 0),
        result("role_created", 0),
        o.if_(
            o.not_(call("Security.Resources", "Exists", res)),
            check_status(call("Security.Resources", "Create", res, lit(RESOURCE_DESCRIPTION), lit(""))),
            result("created", 1),
            o.if_(
                o.not_(call("Security.Roles", "Exists", res)),
                check_status(call("Security.Roles", "Create", res, lit(ROLE_DESCRIPTION), lit(f"{resource}:RW"), lit(""))),
                result("role_created", 1),
            ),
        ),
    ]


def restore_facts(namespace: str, databases: list[str], resources: list[str],
                  cached: "list[tuple[str, int]] | None" = None, journals: "list[str] | None" = None) -> Script:
    """Read-only: what a restore must know before its first change, in one session.  The
    databases' directories are ``<mgr><name in lower case>/``, computed in the script from
    ``ManagerDirectory`` (``NormalizeDirectory`` relative to it), as is the fixture cache
    ``<mgr>iris-ops-cache/``.  Result: ``manager_directory`` and ``version`` (as
    :func:`manager_directory`), what :func:`existing` returns (``directories`` keyed by the
    computed paths), ``resources`` as :func:`_resources_step` reads them, and with ``cached`` (a list of (sha256,
    size)) ``cache_dir``, ``cache`` {sha256: 0/1}: whether the fixture cache may serve each, and
    ``cache_why`` {sha256: why not} (:func:`iris_ops.script_builders.cache.probe_step`), and with
    ``journals`` (file names in the manager directory) ``journals`` {name: 0/1}: whether each
    exists."""
    from .cache import DIRECTORY, probe_step

    ns = names.namespace(namespace)
    mgr, dbs, dirs, path = var("mgr"), var("dbs"), var("dirs"), var("dir")
    script = Script("%SYS", purpose="check restore targets, resources and cache")
    statements = [set_(mgr, call(FILE, "ManagerDirectory")),
                  result("manager_directory", mgr),
                  result("version", o.SPECIAL["$ZVersion"]),
                  result("namespace", call("Config.Namespaces", "Exists", lit(ns))),
                  set_(dbs, o.dynamic_object()), set_(dirs, o.dynamic_object())]
    for db in databases:
        name = names.database(db)
        statements += [
            o.do(method(dbs, "%Set", lit(name), call("Config.Databases", "Exists", lit(name)))),
            set_(path, call(FILE, "NormalizeDirectory", lit(name.lower()), mgr)),
            o.do(method(dirs, "%Set", path, call(FILE, "DirectoryExists", path))),
        ]
    script.step("check", *statements, result("databases", dbs), result("directories", dirs))
    if journals:
        found = var("jnl")
        script.step("journals", set_(found, o.dynamic_object()),
                    *[o.do(method(found, "%Set", lit(name), call(FILE, "Exists", op(mgr, "_", lit(_file_name(name))))))
                      for name in journals],
                    result("journals", found))
    _resources_step(script, resources)
    if cached is not None:
        cache_dir = var("cdir")
        script.step("cachedir", set_(cache_dir, call(FILE, "NormalizeDirectory", lit(DIRECTORY.rstrip("/")), mgr)),
                    result("cache_dir", cache_dir))
        probe_step(script, cache_dir, list(cached))
    return script


def _file_name(name: str) -> str:
    names.instance_path("/" + name)
    if "/" in name:
        raise ValueError(f"not a file name: {name!r}")
    return name


@dataclass(frozen=True)
class NewDatabase:
    """One database a restore creates, for :func:`restore_databases`."""

    name: str
    directory: str
    #: A user resource to create if missing (:func:`ensure_resource`); None for a system one.
    resource: str | None
    #: (cache_dir, sha256, size, token): serve the file from the fixture cache.
    clone: tuple[str, str, int, str] | None = None
    #: (cache_dir, sha256, size, token, record): leave the streamed file in the fixture cache,
    #: with its record (:func:`iris_ops.script_builders.cache.record_text`).
    fill: tuple[str, str, int, str, tuple[str, str, str]] | None = None
    #: The transport already reflinked the cached file into place (``clone``), or the streamed
    #: one to the cache's temporary name (``fill``): the session checks it instead of copying.
    clone_reflinked: bool = False
    fill_reflinked: bool = False


def restore_databases(namespace: str, databases: list[NewDatabase], globals_db: str, routines_db: str,
                      guard: Guard | None = None) -> Script:
    """A restore's changes in one session, for databases whose files are in place or served by
    the fixture cache.

    0. With ``guard``: :func:`guard_step` (the session stops there, having changed nothing, when
       its restore was rolled back).
    1. For each database with ``clone``: copy the file from the cache
       (:func:`iris_ops.script_builders.cache.clone_steps`).  When every database has ``clone`` and
       every copy succeeded, the script goes on; otherwise it stops here, successfully, with
       ``finished`` 0 (the client streams the missed files, then runs this again without them).
    2. For each database with ``fill``: leave its verified file in the cache (never fails the
       script: ``filled`` {NAME: 0/1} and ``fill_errors`` {NAME: why}).
    3. For each database: :func:`ensure_resource` of its resource, ``Config.Databases.Create``
       and the mount (as :func:`create_database`).
    4. ``Config.Namespaces.Create`` (as :func:`create_namespace`), then the row counts of the new
       namespace (``tables``, as :func:`iris_ops.script_builders.describe.counts`).

    Result: ``cloned`` {NAME: 0/1}, ``reasons`` {NAME: why not}, ``filled``, ``fill_errors``,
    ``finished`` (1 once step 4 ran) and ``tables``."""
    from .cache import clone_steps, fill_statements
    from .common import table_counts

    go, cloned, reasons, filled, errors = var("go"), var("cloned"), var("reasons"), var("filled"), var("fillerr")
    script = Script("%SYS", purpose=f"restore into namespace {names.namespace(namespace)}")
    if guard is not None:
        guard_step(script, guard)
    clones = [d for d in databases if d.clone is not None]
    script.step("start", set_(go, 1 if len(clones) == len(databases) or not clones else 0),
                set_(cloned, o.dynamic_object()), set_(reasons, o.dynamic_object()),
                set_(filled, o.dynamic_object()), set_(errors, o.dynamic_object()),
                result("cloned", cloned), result("reasons", reasons), result("filled", filled),
                result("fill_errors", errors), result("finished", 0))
    for i, db in enumerate(clones):
        cache_dir, sha256, size, token = db.clone
        clone_steps(script, cache_dir, sha256, size, db.directory, token, key=str(i), reflinked=db.clone_reflinked)
        script.step(f"served{i}", o.do(method(cloned, "%Set", lit(names.database(db.name)), var("hit"))),
                    o.do(method(reasons, "%Set", lit(names.database(db.name)), var("why"))),
                    set_(go, op(go, "&", var("hit"))))

    def guarded(*statements: Code) -> tuple[Code, ...]:
        return (o.if_(go, *statements),) if clones else statements

    for i, db in enumerate(databases):
        if db.fill is not None:
            cache_dir, sha256, size, token, record = db.fill
            ok, why = var("fok"), var("fwhy")
            script.step(f"fill{i}", *guarded(
                *fill_statements(cache_dir, sha256, size, db.directory + "IRIS.DAT", token, record, ok, why,
                                 reflinked=db.fill_reflinked),
                o.do(method(filled, "%Set", lit(names.database(db.name)), ok)),
                o.do(method(errors, "%Set", lit(names.database(db.name)), why))))
        if db.resource is not None:
            script.step(f"resource{i}", *guarded(*_resource_statements(db.resource)))
        config, mount = database_statements(db.name, db.directory)
        script.step(f"config{i}", *guarded(*config))
        script.step(f"mount{i}", *guarded(*mount))
    script.step("namespace", *guarded(*namespace_statements(namespace, globals_db, routines_db)))
    script.step("tables", *guarded(*table_counts(namespace), result("finished", 1)))
    return script


def _resources_step(script: Script, resources: list[str]) -> Script:
    """Adds step ``resources``: {NAME: {"exists": 0/1, "role_exists": 0/1}} (Security.Resources.Exists,
    and Security.Roles.Exists of the same name).  Read-only."""
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


def delete_resource(resource: str, *, with_role: bool = False) -> Script:
    """Deletes a resource iris-ops created (never a system resource: exit 3 when built), and with
    ``with_role`` the role of the same name if iris-ops created it too (its Description says so;
    an absent role, or one IRIS made with the resource, is left alone).  Result: ``deleted``."""
    res = lit(names.user_resource(resource))
    script = Script("%SYS", purpose=f"delete resource {resource}")
    script.step(
        "resource",
        *(delete_our_role(res, var("rd")) if with_role else []),
        o.if_(call("Security.Resources", "Exists", res), check_status(call("Security.Resources", "Delete", res))),
        result("deleted", 1),
    )
    return script


def create_database(name: str, directory: str, resource: str | None = None) -> Script:
    """Config.Databases.Create, then MountDatabase; fails unless Mounted=1 and
    ReadOnlyMounted=0 (reporting ROReasonText).  With ``resource`` (a user resource), first what
    :func:`ensure_resource` does, in the same session.  Result: ``mounted`` (and ``created``,
    ``role_created`` with ``resource``)."""
    script = Script("%SYS", purpose=f"create database {name}")
    if resource is not None:
        _resource_step(script, resource)
    config, mount = database_statements(name, directory)
    script.step("config", *config)
    script.step("mount", *mount)
    return script


def database_statements(name: str, directory: str) -> tuple[list[Code], list[Code]]:
    """The configuration and the mount of :func:`create_database`, as two statement lists."""
    db, path = lit(names.database(name)), lit(names.directory(directory))
    obj = var("obj")
    config = [
        o.kill(var("props")),
        set_(var("props", "Directory"), path),
        check_status(call("Config.Databases", "Create", db, o.byref("props"))),
        result("configured", 1),
    ]
    mount = [
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
        o.kill(obj),
        result("mounted", 1),
    ]
    return config, mount


def create_namespace(namespace: str, globals_db: str, routines_db: str) -> Script:
    """Config.Namespaces.Create with Globals and Routines.  Result: ``created``."""
    script = Script("%SYS", purpose=f"create namespace {namespace}")
    script.step("create", *namespace_statements(namespace, globals_db, routines_db))
    return script


def namespace_statements(namespace: str, globals_db: str, routines_db: str) -> list[Code]:
    """The statements of :func:`create_namespace`."""
    return [
        o.kill(var("props")),
        set_(var("props", "Globals"), lit(names.database(globals_db))),
        set_(var("props", "Routines"), lit(names.database(routines_db))),
        check_status(call("Config.Namespaces", "Create", lit(names.namespace(namespace)), o.byref("props"))),
        result("created", 1),
    ]
