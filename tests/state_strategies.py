"""Hypothesis strategies for desired states of the core kinds, and a TOML writer for them (the round
trip's other half).  The security plugin's kinds (roles, users, services) have tests of their own
in plugins/iris-ops-security/tests."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

_PRINTABLE = "".join(ch for ch in string.printable if ch not in "\t\n\r\x0b\x0c")

db_names = st.from_regex(r"[A-Z][A-Z0-9_-]{0,20}", fullmatch=True)
ns_names = st.from_regex(r"[A-Z%][A-Z0-9_-]{0,15}", fullmatch=True)
directories = st.one_of(
    st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}(/[a-z0-9][a-z0-9._-]{0,8})?/", fullmatch=True),
    st.from_regex(r"/[a-z][a-z0-9_-]{0,8}/[a-z0-9][a-z0-9._-]{0,8}/", fullmatch=True),
)
resource_names = st.text(alphabet=[ch for ch in _PRINTABLE if ch not in ",:"], min_size=1, max_size=64)
descriptions = st.text(alphabet=_PRINTABLE, max_size=40)
permissions = st.sampled_from(["", "R", "W", "U", "RW", "RU", "WU", "RWU"])
global_specs = st.from_regex(r"%?[A-Za-z][A-Za-z0-9.]{0,10}(\*|\([0-9]{1,3}\)(:\([0-9]{1,3}\))?)?", fullmatch=True)
routine_specs = st.from_regex(r"%?[A-Za-z][A-Za-z0-9.]{0,10}\*?(_(MAC|INT|INC|OBJ))?", fullmatch=True)
package_specs = st.from_regex(r"%?[A-Za-z][A-Za-z0-9]{0,6}(\.[A-Za-z][A-Za-z0-9]{0,6}){0,2}", fullmatch=True)


def _optional(**fields: st.SearchStrategy) -> st.SearchStrategy[dict[str, Any]]:
    """A dict holding any subset of ``fields``."""
    return st.fixed_dictionaries({}, optional=fields)


def _named(values: st.SearchStrategy[dict], names_: st.SearchStrategy[str]) -> st.SearchStrategy[list[dict]]:
    return st.lists(st.tuples(names_, values), max_size=3, unique_by=lambda pair: pair[0].upper()).map(
        lambda pairs: [{"name": name, **rest} for name, rest in pairs])


databases = _named(_optional(directory=directories, size=st.integers(1, 100000),
                             resource=resource_names.map(lambda name: ("%DB_" + name)[:64])), db_names)
namespaces = _named(st.one_of(
    st.fixed_dictionaries({"globals": db_names}, optional={"routines": db_names, "temp_globals": db_names,
                                                           "interop": st.booleans()}),
    st.fixed_dictionaries({"fixture": st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)},
                          optional={"interop": st.booleans()}),
), ns_names)
resources = _named(_optional(description=descriptions, public_permission=permissions), resource_names)


def _mappings(specs: st.SearchStrategy[str]) -> st.SearchStrategy[list[dict]]:
    return st.lists(st.fixed_dictionaries({"namespace": ns_names, "name": specs, "database": db_names}), max_size=3,
                    unique_by=lambda m: (m["namespace"], m["name"]))


#: A desired state as the reader gives it back (``DesiredState.as_data()``): kinds in dependency order.
states = st.fixed_dictionaries({
    "resources": resources, "databases": databases, "namespaces": namespaces,
    "global_mappings": _mappings(global_specs), "routine_mappings": _mappings(routine_specs),
    "package_mappings": _mappings(package_specs),
}).map(lambda state: {kind: objects for kind, objects in state.items() if objects})


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _string(value)


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(state: dict[str, list[dict]], prefix: str = "state") -> str:
    """``state`` (as :data:`states` draws it) as the ``[state]`` of a TOML file."""
    out: list[str] = []
    for kind, objects in state.items():
        for obj in objects:
            if "namespace" in obj:
                out.append(f"[[{prefix}.{kind}]]")
                body = obj
            else:
                out.append(f"[{prefix}.{kind}.{_string(obj['name'])}]")
                body = {k: v for k, v in obj.items() if k != "name"}
            out += [f"{key} = {_value(value)}" for key, value in body.items()]
            out.append("")
    return "\n".join(out) + "\n"


def _no_quote(state: dict[str, list[dict]]) -> bool:
    return all('"' not in str(value) for objects in state.values() for obj in objects for value in obj.values())


#: States a CPF merge file can say: no fixture (a CPF has none), no double quote in a value.
cpf_states = states.map(lambda state: {
    kind: [obj for obj in objects if "fixture" not in obj] for kind, objects in state.items()}).map(
    lambda state: {kind: objects for kind, objects in state.items() if objects}).filter(_no_quote)

_NOUNS = {"databases": "Database", "namespaces": "Namespace", "resources": "Resource", "global_mappings": "MapGlobal",
          "routine_mappings": "MapRoutine", "package_mappings": "MapPackage"}
_PROPS = {"name": "Name", "directory": "Directory", "size": "Size", "resource": "ResourceName", "globals": "Globals",
          "routines": "Routines", "temp_globals": "TempGlobals", "interop": "Interop", "description": "Description",
          "public_permission": "PublicPermission", "namespace": "Namespace", "database": "Database"}


def _cpf_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return f'"{value}"'


def to_cpf(state: dict[str, list[dict]]) -> str:
    """``state`` (as :data:`cpf_states` draws it) as the ``[Actions]`` of a merge file, each value quoted."""
    lines = ["[Actions]"]
    for kind, objects in state.items():
        for obj in objects:
            props = ",".join(f"{_PROPS[key]}={_cpf_value(value)}" for key, value in obj.items())
            lines.append(f"Create{_NOUNS[kind]}:{props}")
    return "\n".join(lines) + "\n"
