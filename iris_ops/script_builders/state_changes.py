"""``apply``'s change builders for the core kinds of the desired state: create, modify and remove,
each the statements of one script step in %SYS.

Values come in the model's terms (:mod:`iris_ops.state.kinds`): a permission as letters, a
database directory absolute.  A ``remove`` tolerates an object already gone: it is the undo of a create, which a
rollback may run after the create failed half-way.  The APIs and their sources are in
docs/STATE.md ("IRIS facts").
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import Code, Script, call, check_status, check_true, lit, method, op, prop, set_, var
from .common import FILE, MAP_CLASSES
from .delete import database_steps

__all__ = [
    "create_resource", "modify_resource", "remove_resource", "create_database", "modify_database", "remove_database",
    "create_namespace", "modify_namespace", "remove_namespace", "create_mapping", "modify_mapping", "remove_mapping",
    "directories_in_use",
]

_PROPS = var("chp")


def _properties(values: Mapping[str, Any]) -> list[Code]:
    """``chp`` holding ``values`` (IRIS property -> value), nothing else."""
    return [o.kill(_PROPS), *[set_(var("chp", name), lit(value)) for name, value in values.items()]]


def _flag(value: bool) -> int:
    return 1 if value else 0


# --- resources ------------------------------------------------------------------------------------


_RESOURCE_PROPS = {"description": "Description", "public_permission": "PublicPermission"}


def create_resource(name: str, fields: Mapping[str, Any]) -> list[Code]:
    """Security.Resources.Create(Name, Description, PublicPermission)."""
    return [check_status(call("Security.Resources", "Create", lit(names.resource(name)),
                              lit(fields.get("description", "")), lit(fields.get("public_permission", ""))))]


def modify_resource(name: str, fields: Mapping[str, Any]) -> list[Code]:
    """Security.Resources.Modify(Name, .Properties): only the fields given."""
    values = {_RESOURCE_PROPS[k]: v for k, v in fields.items() if k in _RESOURCE_PROPS}
    return [*_properties(values), check_status(call("Security.Resources", "Modify", lit(names.resource(name)),
                                                    o.byref("chp")))]


def remove_resource(name: str) -> list[Code]:
    res = lit(names.resource(name))
    return [o.if_(call("Security.Resources", "Exists", res), check_status(call("Security.Resources", "Delete", res)))]


# --- databases ----------------------------------------------------------------------------------------


def create_database(name: str, directory: str, fields: Mapping[str, Any]) -> list[Code]:
    """The directory (which must not exist: apply checks first), the database file in it
    (SYS.Database.CreateDatabase, with the size and resource the state gives) and its
    configuration (Config.Databases.Create).  A failure part-way removes what the step made
    before the error goes on, so that the step is done or not done."""
    db, path = lit(names.database(name)), lit(names.directory(directory))
    size = fields.get("size")
    args: list[Any] = [path, lit(size) if size else lit(1)]
    if fields.get("resource"):
        args += [None, None, lit(names.resource(fields["resource"]))]
    undo: list[Code] = []
    for _, part in database_steps(name, directory, False, var("chund")):
        undo += part
    return [
        check_true(call(FILE, "CreateDirectoryChain", path), f"cannot create the directory {directory}"),
        o.try_(
            check_status(call("SYS.Database", "CreateDatabase", *args)),
            *_properties({"Directory": names.directory(directory)}),
            check_status(call("Config.Databases", "Create", db, o.byref("chp"))),
            # The error's text first: the undo's own Try reuses ``ex``.
            catch=[set_(var("cherr"), method(var("ex"), "DisplayString")), set_(var("chund"), o.dynamic_object()),
                   o.try_(*undo), o.kill(var("chund")), o.throw(var("cherr"))],
        ),
    ]


def modify_database(name: str, fields: Mapping[str, Any]) -> list[Code]:
    """Size and resource, on the database file (SYS.Database opened by the directory its
    configuration names, then %Save)."""
    db, obj = lit(names.database(name)), var("chdb")
    sets = []
    if "size" in fields:
        sets.append(set_(prop(obj, "Size"), lit(int(fields["size"]))))
    if "resource" in fields:
        sets.append(set_(prop(obj, "ResourceName"), lit(names.resource(fields["resource"]))))
    return [
        o.kill(_PROPS),
        check_status(call("Config.Databases", "Get", db, o.byref("chp"))),
        set_(obj, call("SYS.Database", "%OpenId", var("chp", "Directory"))),
        o.if_(op(obj, "=", lit("")), o.throw(op(lit(f"cannot open the database file of {names.database(name)} in "), "_",
                                                 var("chp", "Directory")))),
        # %Save changes a mounted database only (the simulator's strict reading, docs/STATE.md):
        # said as such rather than as whatever %Save would answer.
        o.if_(o.not_(prop(obj, "Mounted")), o.throw(lit(f"database {names.database(name)} is not mounted: mount it, "
                                                          "then apply again"))),
        *sets,
        check_status(method(obj, "%Save")),
        o.kill(obj),
    ]


def remove_database(name: str, directory: str) -> list[Code]:
    """Configuration, mount, file and directory, each tolerating what is gone
    (:func:`iris_ops.script_builders.delete.database_steps`)."""
    out: list[Code] = [set_(var("chund"), o.dynamic_object())]
    for _, part in database_steps(name, directory, False, var("chund")):
        out += part
    return [*out, o.kill(var("chund"))]


def directories_in_use(directories: Sequence[str]) -> Script:
    """Read-only, apply's check before creating databases.  Result: ``taken``, each of
    ``directories`` that exists already."""
    taken = var("chtaken")
    script = Script("%SYS", purpose="check the new databases' directories")
    return script.step("check", set_(taken, o.new_array()),
                       *[o.if_(call(FILE, "DirectoryExists", lit(names.directory(d))),
                               o.push(taken, lit(names.directory(d)))) for d in directories],
                       o.result("taken", taken))


# --- namespaces -----------------------------------------------------------------------------------------


_NAMESPACE_PROPS = {"globals": "Globals", "routines": "Routines", "temp_globals": "TempGlobals", "interop": "Interop"}


def _namespace_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {_NAMESPACE_PROPS[k]: (_flag(v) if k == "interop" else names.database(v))
            for k, v in fields.items() if k in _NAMESPACE_PROPS}


def create_namespace(name: str, fields: Mapping[str, Any]) -> list[Code]:
    """Config.Namespaces.Create(Name, .Properties); Routines is the globals database unless the
    state names one, as ``CreateNamespace`` of a merge file does."""
    values = _namespace_values(fields)
    values.setdefault("Routines", values["Globals"])
    return [*_properties(values), check_status(call("Config.Namespaces", "Create", lit(names.namespace(name)),
                                                    o.byref("chp")))]


def modify_namespace(name: str, fields: Mapping[str, Any]) -> list[Code]:
    return [*_properties(_namespace_values(fields)),
            check_status(call("Config.Namespaces", "Modify", lit(names.namespace(name)), o.byref("chp")))]


def remove_namespace(name: str) -> list[Code]:
    ns = lit(names.namespace(name))
    return [o.if_(call("Config.Namespaces", "Exists", ns), check_status(call("Config.Namespaces", "Delete", ns)))]


# --- mappings ---------------------------------------------------------------------------------------------


def create_mapping(of: str, namespace: str, name: str, fields: Mapping[str, Any]) -> list[Code]:
    """Config.MapGlobals (MapRoutines, MapPackages).Create(Namespace, Name, .Properties)."""
    return [*_properties({"Database": names.database(fields["database"])}),
            check_status(call(MAP_CLASSES[of], "Create", lit(names.namespace(namespace)), lit(name), o.byref("chp")))]


def modify_mapping(of: str, namespace: str, name: str, fields: Mapping[str, Any]) -> list[Code]:
    return [*_properties({"Database": names.database(fields["database"])}),
            check_status(call(MAP_CLASSES[of], "Modify", lit(names.namespace(namespace)), lit(name), o.byref("chp")))]


def remove_mapping(of: str, namespace: str, name: str) -> list[Code]:
    cls, ns = MAP_CLASSES[of], lit(names.namespace(namespace))
    return [o.if_(call(cls, "Exists", ns, lit(name)), check_status(call(cls, "Delete", ns, lit(name))))]
