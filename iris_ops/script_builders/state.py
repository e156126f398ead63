"""Read-only: the current state of the objects a desired state names (``iris-ops plan``), kind by
kind, in one session.

Each reader returns one script step per object: an entry ``{key fields..., "exists": 0|1, ...}``
pushed onto the result array of its kind.  Only what the class reference documents is read;
docs/STATE.md lists each source.
"""

from __future__ import annotations

from typing import Sequence

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import Code, Script, call, check_status, func, lit, method, op, prop, result, set_, var
from .common import FILE, MAP_CLASSES

__all__ = ["Reader", "read_databases", "read_namespaces", "read_mappings", "read_resources", "current_state",
           "start_entry", "put", "if_exists", "push_entry"]

#: One object's statements: the kind's reader for one key.
Reader = list[Code]

_ENTRY, _PROPS, _OBJ = var("sten"), var("stp"), var("stobj")


def _entry(found: Code, **key: str) -> list[Code]:
    """Start the entry of one object: its key, and ``exists``."""
    return [o.kill(_PROPS), set_(_ENTRY, o.dynamic_object(**{k: lit(v) for k, v in key.items()}, exists=found))]


def _put(name: str, value: o.Value) -> Code:
    return o.do(method(_ENTRY, "%Set", lit(name), value))


def _if_exists(*body: Code) -> Code:
    return o.if_(method(_ENTRY, "%Get", lit("exists")), *body)


def _push(kind: str) -> Code:
    return o.push(method(var("stall"), "%Get", lit(kind)), _ENTRY)


def read_databases(keys: Sequence[str]) -> list[Reader]:
    """Per database: ``directory`` (Config.Databases), and from its file (SYS.Database, opened by
    directory) ``size`` (MB), ``resource`` (ResourceName) and ``mounted``; ``file`` is 0 when the
    file cannot be opened (then those three are absent)."""
    out = []
    for key in keys:
        name = names.database(key)
        directory = var("stp", "Directory")
        out.append([
            *_entry(call("Config.Databases", "Exists", lit(name)), name=name),
            _if_exists(
                check_status(call("Config.Databases", "Get", lit(name), o.byref("stp"))),
                _put("directory", func("$Get", directory)),
                set_(_OBJ, call("SYS.Database", "%OpenId", directory)),
                _put("file", op(_OBJ, "'=", lit(""))),
                o.if_(op(_OBJ, "'=", lit("")), _put("size", prop(_OBJ, "Size")),
                      _put("resource", prop(_OBJ, "ResourceName")), _put("mounted", prop(_OBJ, "Mounted"))),
                o.kill(_OBJ),
            ),
            _push("databases"),
        ])
    return out


def read_namespaces(keys: Sequence[str]) -> list[Reader]:
    """Per namespace: ``globals``, ``routines``, ``temp_globals``, ``interop`` (Config.Namespaces)."""
    out = []
    for key in keys:
        name = names.namespace(key)
        fields = {"globals": "Globals", "routines": "Routines", "temp_globals": "TempGlobals", "interop": "Interop"}
        out.append([
            *_entry(call("Config.Namespaces", "Exists", lit(name)), name=name),
            _if_exists(check_status(call("Config.Namespaces", "Get", lit(name), o.byref("stp"))),
                       *[_put(field, func("$Get", var("stp", prop_name))) for field, prop_name in fields.items()]),
            _push("namespaces"),
        ])
    return out


_MAPPING_CHECKS = {"globals": names.global_mapping, "routines": names.routine_mapping, "packages": names.package}


def read_mappings(kind: str, keys: Sequence[tuple[str, str]]) -> list[Reader]:
    """Per ``(namespace, name)`` mapping of ``kind`` (globals, routines, packages): ``database``
    (Config.Map*.Get)."""
    cls = MAP_CLASSES[kind]
    out = []
    for namespace, name in keys:
        ns, mapped = names.namespace(namespace), _MAPPING_CHECKS[kind](name)
        out.append([
            *_entry(call(cls, "Exists", lit(ns), lit(mapped)), namespace=ns, name=mapped),
            _if_exists(check_status(call(cls, "Get", lit(ns), lit(mapped), o.byref("stp"))),
                       _put("database", func("$Get", var("stp", "Database")))),
            _push(f"{kind[:-1]}_mappings"),
        ])
    return out


def read_resources(keys: Sequence[str]) -> list[Reader]:
    """Per resource: ``description`` and ``public_permission`` (Security.Resources.Get)."""
    out = []
    for key in keys:
        name = names.resource(key)
        out.append([
            *_entry(call("Security.Resources", "Exists", lit(name)), name=name),
            _if_exists(check_status(call("Security.Resources", "Get", lit(name), o.byref("stp"))),
                       _put("description", func("$Get", var("stp", "Description"))),
                       _put("public_permission", func("$Get", var("stp", "PublicPermission")))),
            _push("resources"),
        ])
    return out


def current_state(readers: Sequence[tuple[str, list[Reader]]]) -> Script:
    """Read-only, one session.  Result: ``manager_directory``, and per kind of ``readers``
    (``(kind, its readers)``) an array of entries, one per object, in order."""
    script = Script("%SYS", purpose="read the current state")
    kinds = [kind for kind, _ in readers]
    script.step("start", set_(var("stall"), o.dynamic_object()),
                *[o.do(method(var("stall"), "%Set", lit(kind), o.new_array())) for kind in kinds],
                result("manager_directory", call(FILE, "ManagerDirectory")))
    for kind, steps in readers:
        for index, statements in enumerate(steps):
            script.step(f"{kind}_{index}", *statements)
    script.step("done", *[result(kind, method(var("stall"), "%Get", lit(kind))) for kind in kinds])
    return script


# --- the same entry, for the readers of plugins' kinds (the state_kinds hook) -----------------------


def start_entry(found: Code, **key: str) -> list[Code]:
    """Start the entry of one object: its key fields and ``exists`` (``found``: true when the
    object exists).  Then :func:`put` its fields (inside :func:`if_exists`) and
    :func:`push_entry` it onto its kind's array."""
    return _entry(found, **key)


def put(name: str, value: o.Value) -> Code:
    """Set the field ``name`` of the entry."""
    return _put(name, value)


def if_exists(*body: Code) -> Code:
    """Run ``body`` when the entry's object exists."""
    return _if_exists(*body)


def push_entry(kind: str) -> Code:
    """Push the entry onto the result array of ``kind``."""
    return _push(kind)
