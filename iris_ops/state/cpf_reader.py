"""Reading a CPF merge file (``iris merge``, ``ISC_CPF_MERGE_FILE``) as a desired state: its
``[Actions]`` section and the ``[Databases]``, ``[Namespaces]`` and ``[Map.<NS>]`` sections.

Headers, action names and property names are read exactly as written, case included: IRIS
reads ``[Actions]`` with its case, and a merge file with ``[actions]`` changes nothing while
``iris merge`` still reports success.  So anything iris-ops would read differently from IRIS, or
does not model, is refused (exit 2), every line of it listed; nothing is skipped.
docs/STATE.md gives the sources of each rule.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from iris_ops import names
from iris_ops.errors import UsageError
from iris_ops.state.kinds import Kind, assemble, core_kinds, plugin_of
from iris_ops.state.model import DesiredState, Origin, Problems, StateObject, read_text

__all__ = ["ACTIONS", "SECURITY_ACTIONS", "read_cpf", "cpf_from_text", "split_properties"]

ACTIONS = "Actions"
#: The sections of a CPF that hold objects of the model, as the CPF spells them.
_SECTIONS = (ACTIONS, "Databases", "Namespaces")
_MAP = "Map."
#: Actions of the security plugin's kinds (action -> kind): refused, naming the plugin, when it is
#: not installed.
SECURITY_ACTIONS = {"CreateRole": "roles", "ModifyRole": "roles", "CreateUser": "users", "ModifyUser": "users",
                    "ModifyService": "services"}
_MAP_PREFIXES = {"Global_": "global_mappings", "Routine_": "routine_mappings", "Package_": "package_mappings"}
_HEADER = re.compile(r"^\[(.*)\]\s*$")
_ACTION = re.compile(r"^([A-Za-z]+):(.*)$")
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
FIX = ("Each line named above is one iris-ops would read differently from IRIS, or does not model; fix it, "
       "or leave it to `iris merge`. docs/STATE.md lists what a merge file may hold.")


def read_cpf(path: Path, kinds: tuple[Kind, ...] | None = None) -> DesiredState:
    """The desired state of the merge file at ``path`` (``--cpf``)."""
    # `iris merge` reports success for a file that is not there; this does not.
    return cpf_from_text(read_text(path, "merge file", "--cpf"), str(path), kinds)


def cpf_from_text(text: str, source: str, kinds: tuple[Kind, ...] | None = None) -> DesiredState:
    kinds = core_kinds() if kinds is None else kinds
    problems = Problems(source)
    objects: list[StateObject] = []
    section: str | None = None
    if text.startswith("\ufeff"):
        # Whether IRIS skips a byte order mark before the first header is not documented.
        problems.add(Origin(source, 1), "the file starts with a byte order mark: save it as UTF-8 without one")
        text = text[1:]
    for number, line in enumerate(text.splitlines(), start=1):
        where = Origin(source, number)
        stripped = line.strip()
        if not stripped or stripped[0] in ";#":
            continue
        header = _HEADER.match(stripped)
        if header:
            section = header.group(1)
            _check_section(section, where, problems, kinds)
            continue
        if section is None:
            problems.add(where, "a line outside any [section]")
        elif section == ACTIONS:
            objects += _action(stripped, where, kinds, problems)
        elif section in ("Databases", "Namespaces"):
            objects += _entry(section, stripped, where, kinds, problems)
        elif section.startswith(_MAP):
            objects += _mapping(section[len(_MAP):], stripped, where, kinds, problems)
    state = assemble(source, objects, kinds, problems)
    problems.raise_if_any("the merge file", FIX)
    return state


def _check_section(section: str, where: Origin, problems: Problems, kinds: tuple[Kind, ...]) -> None:
    if section in _SECTIONS or section.startswith(_MAP):
        return
    spelled = next((known for known in _SECTIONS if known.lower() == section.lower()), None)
    if spelled is None and section.lower().startswith(_MAP.lower()):
        spelled = _MAP + section[len(_MAP):]
    if spelled == ACTIONS:
        problems.add(where, f"[{section}]: IRIS reads section headers with their case and ignores [{section}] "
                            f"(`iris merge` still reports success): write [{ACTIONS}]")
    elif spelled:
        problems.add(where, f"[{section}]: write [{spelled}], as the CPF spells it (iris-ops reads headers with "
                            "their case, as IRIS reads [Actions])")
    else:
        problems.add(where, f"[{section}]: not part of iris-ops' desired state (its kinds: "
                            f"{', '.join(kind.name for kind in kinds)}); apply it with `iris merge`")


def split_properties(text: str) -> list[str]:
    """``Key=Value`` pieces of an action, split at commas outside double quotes."""
    pieces, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(ch)
    pieces.append("".join(current))
    if quoted:
        raise UsageError("a double quote is not closed")
    return pieces


def _properties(text: str, where: Origin, problems: Problems,
                macros: frozenset[str] = frozenset()) -> dict[str, str] | None:
    """``Key=Value`` of an action; ``macros`` names the properties whose value may hold ``$$$``
    macros (read by their field's ``from_cpf``)."""
    try:
        pieces = split_properties(text)
    except UsageError as exc:
        problems.add(where, exc.message)
        return None
    out: dict[str, str] = {}
    ok = True
    for piece in pieces:
        key, sep, value = piece.partition("=")
        key = key.strip()
        if not sep:
            problems.add(where, f"{names.shown(piece)} is not Property=Value: quote a value that holds commas "
                                "(Resources=\"%DB_A:RW,%DB_B:R\"), as InterSystems' examples do; how IRIS reads an "
                                "unquoted comma is not documented")
            ok = False
            continue
        if not _KEY.match(key):
            problems.add(where, f"{names.shown(key)} is not a property name")
            ok = False
            continue
        if key in out:
            problems.add(where, f"property {key} is given twice")
            ok = False
            continue
        value = value.strip()
        if value.startswith('"'):
            if len(value) < 2 or not value.endswith('"') or '"' in value[1:-1]:
                problems.add(where, f"{key}: a quoted value must be one \"...\" string, got {names.shown(value)}")
                ok = False
                continue
            value = value[1:-1]
        elif "$$$" in value and key not in macros:
            problems.add(where, f"{key}: $$$ macros are for the security kinds' AutheEnabled and LDAPFlags, not here")
            ok = False
            continue
        out[key] = value
    return out if ok else None


def _action(line: str, where: Origin, kinds: tuple[Kind, ...], problems: Problems) -> list[StateObject]:
    match = _ACTION.match(line)
    if not match:
        problems.add(where, f"{names.shown(line, 60)} is not an action (Action:Property=Value,...)")
        return []
    verb, rest = match.groups()
    by_verb = {f"{op}{kind.cpf_noun}": kind for kind in kinds if kind.cpf_noun for op in ("Create", "Modify")
               if op == "Modify" or not kind.must_exist}
    kind = by_verb.get(verb)
    if kind is None:
        problems.add(where, f"{verb}: {_refusal(verb, by_verb)}")
        return []
    props = _properties(rest, where, problems, frozenset(f.prop for f in kind.schema.fields if f.from_cpf))
    if props is None:
        return []
    raw = _fields(kind, verb, props, where, problems)
    if raw is None:
        return []
    creating = verb.startswith("Create")
    if creating and kind.name == "namespaces" and "globals" in raw:
        raw.setdefault("routines", raw["globals"])  # CreateNamespace: "If unspecified, ... same database as Globals"
    obj = kind.build(raw, where, problems, partial=not creating)
    return [obj] if obj is not None else []


def _refusal(verb: str, supported: dict[str, Kind]) -> str:
    spelled = next((known for known in supported if known.lower() == verb.lower()), None)
    if spelled:
        return f"write {spelled}: iris-ops reads action names with their case, as IRIS reads [Actions]"
    security = next((kind for action, kind in SECURITY_ACTIONS.items() if action.lower() == verb.lower()), None)
    if security is not None:
        return plugin_of(security)
    if verb.startswith("Delete"):
        return "not supported: a desired state names what exists; iris-ops never deletes what a file does not name"
    return "not supported by iris-ops' desired state; apply it with `iris merge`"


def _fields(kind: Kind, verb: str, props: dict[str, str], where: Origin, problems: Problems) -> dict[str, Any] | None:
    raw: dict[str, Any] = {}
    ok = True
    for prop, value in props.items():
        refused = kind.schema.refusal(prop)
        if refused:
            problems.add(where, f"{verb}: {prop}: {refused}")
            ok = False
            continue
        item = kind.schema.by_prop(prop) if prop else None
        if item is None:
            known = [f.prop for f in kind.schema.fields if f.prop and not kind.schema.refusal(f.prop)]
            spelled = next((name for name in known if name.lower() == prop.lower()), None)
            if spelled:
                problems.add(where, f"{verb}: write {spelled}, not {prop}: IRIS property names are case-sensitive")
            else:
                problems.add(where, f"{verb}: property {prop} is not part of iris-ops' {kind.schema.title} "
                                    f"(known: {', '.join(known)})")
            ok = False
            continue
        try:
            raw[item.name] = item.from_cpf(value) if item.from_cpf else _typed(item.toml_type, value)
        except UsageError as exc:
            problems.add(where, f"{verb}: {prop}: {exc.message}")
            ok = False
    return raw if ok else None


def _typed(kind: type, value: str) -> Any:
    """A CPF value (text) as the TOML type of its field (a table has no plain form: a field of
    that type reads with its own ``from_cpf``)."""
    if kind is int:
        if not re.fullmatch(r"[0-9]+", value):
            raise UsageError(f"expected a whole number, got {names.shown(value)}")
        return int(value)
    if kind is bool:
        if value not in ("0", "1"):
            raise UsageError(f"expected 1 or 0, got {names.shown(value)}")
        return value == "1"
    if kind is list:
        return [part for part in value.split(",")] if value else []
    return value


def _entry(section: str, line: str, where: Origin, kinds: tuple[Kind, ...], problems: Problems) -> list[StateObject]:
    """``[Databases] NAME=directory,...`` or ``[Namespaces] NAME=globals,routines,temp``."""
    name, sep, value = line.partition("=")
    if not sep:
        problems.add(where, f"{names.shown(line, 60)} is not Name=Value")
        return []
    fields = value.split(",")
    kind = next(k for k in kinds if k.name == section.lower())
    if section == "Databases":
        # a: directory, b: remote server, c: mount required at startup, d and e: ignored, f: stream location
        extra = [(label, fields[i]) for i, label in ((1, "remote server"), (2, "mount at startup"),
                                                     (5, "stream location")) if i < len(fields) and fields[i]]
        if len(fields) > 6 or extra:
            shown = ", ".join(f"{label} {names.shown(val)}" for label, val in extra) or "more than six fields"
            problems.add(where, f"[Databases] {name.strip()}: only the directory is part of iris-ops' model ({shown})")
            return []
        raw: dict[str, Any] = {"name": name.strip(), "directory": fields[0].strip()}
    else:
        if len(fields) > 3:
            problems.add(where, f"[Namespaces] {name.strip()}: expected globals[,routines[,temporary]]")
            return []
        globals_db, routines, temp = (*[f.strip() for f in fields], "", "")[:3]
        raw = {"name": name.strip(), "globals": globals_db, "routines": routines or globals_db}
        if temp:
            raw["temp_globals"] = temp
    obj = kind.build(raw, where, problems)
    return [obj] if obj is not None else []


def _mapping(namespace: str, line: str, where: Origin, kinds: tuple[Kind, ...],
             problems: Problems) -> list[StateObject]:
    """``[Map.<NS>] Global_<name>=DB`` (and ``Routine_``, ``Package_``)."""
    key, sep, database = line.partition("=")
    prefix = next((p for p in _MAP_PREFIXES if key.startswith(p)), None)
    if not sep or prefix is None:
        problems.add(where, f"[{_MAP}{namespace}] {names.shown(key.strip(), 60)}: expected Global_<name>=DATABASE, "
                            "Routine_<name>=DATABASE or Package_<name>=DATABASE")
        return []
    if "," in database:
        problems.add(where, f"[{_MAP}{namespace}] {key}: only the database of a mapping is part of iris-ops' model")
        return []
    kind = next(k for k in kinds if k.name == _MAP_PREFIXES[prefix])
    obj = kind.build({"namespace": namespace, "name": key[len(prefix):].strip(), "database": database.strip()},
                     where, problems)
    return [obj] if obj is not None else []
