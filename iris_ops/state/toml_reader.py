"""Reading a desired state from TOML: the ``[state]`` table of ``iris-ops.toml`` (``[tool.iris-ops.state]``
in ``pyproject.toml``), or of a file given with ``--state``.

Every key is known or the file is refused (exit 2) with the file, the line and the key; every
name is checked with :mod:`iris_ops.names`.  Objects named by a single name are tables keyed by
it (``[state.databases.APP_DATA]``); mappings are arrays of tables (``[[state.global_mappings]]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iris_ops import names
from iris_ops.config import STATE_TABLE, find_project_file
from iris_ops.errors import StateFileError
from iris_ops.state.kinds import Kind, assemble, core_kinds, kind_named, plugin_of
from iris_ops.state.model import DesiredState, Origin, Problems, StateObject, read_text
from iris_ops.state.tomllines import key_lines, line_of

__all__ = ["STATE_TABLE", "read_state_file", "read_project_state", "state_from_text"]

FIX = "Each problem names its file and line; docs/STATE.md lists every kind and key."


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StateFileError(f"{source}: not valid TOML: {exc}", fix="Fix the TOML syntax at the line named.") from None


def read_state_file(path: Path, kinds: tuple[Kind, ...] | None = None) -> DesiredState:
    """The ``[state]`` of the file ``path`` (``--state``): it holds nothing else."""
    text = read_text(path, "state file", "--state")
    document = _parse(text, str(path))
    lines = key_lines(text)
    problems = Problems(str(path))
    for key in document:
        if key != STATE_TABLE:
            problems.add(Origin(str(path), line_of(lines, (key,))),
                         f"unknown key {key!r}: a state file holds a [{STATE_TABLE}] table only")
    if STATE_TABLE not in document:
        problems.add(Origin(str(path)), f"no [{STATE_TABLE}] table")
    problems.raise_if_any("the state file", FIX)
    return state_from_text(text, str(path), (STATE_TABLE,), kinds, document=document)


def read_project_state(start: Path | None = None, kinds: tuple[Kind, ...] | None = None) -> DesiredState | None:
    """The ``[state]`` of the project file (``iris-ops.toml``, or ``[tool.iris-ops.state]`` in
    ``pyproject.toml``), found as settings are; None when there is no project file or it has none."""
    found = find_project_file(start)
    if found is None or STATE_TABLE not in found[1]:
        return None
    path = found[0]
    prefix = (STATE_TABLE,) if path.name != "pyproject.toml" else ("tool", "iris-ops", STATE_TABLE)
    return state_from_text(read_text(path, "project file", "iris-ops.toml"), str(path), prefix, kinds)


def state_from_text(text: str, source: str, prefix: tuple[str, ...] = (STATE_TABLE,),
                    kinds: tuple[Kind, ...] | None = None, *, document: dict[str, Any] | None = None) -> DesiredState:
    """The desired state in the table at ``prefix`` of the TOML ``text`` read from ``source``
    (with ``kinds``, default :func:`~iris_ops.state.kinds.core_kinds`)."""
    kinds = core_kinds() if kinds is None else kinds
    document = _parse(text, source) if document is None else document
    table: Any = document
    for part in prefix:
        table = table.get(part, {}) if isinstance(table, dict) else {}
    lines = key_lines(text)
    problems = Problems(source)

    def at(*path: Any) -> Origin:
        return Origin(source, line_of(lines, (*prefix, *path)))

    header = "[" + ".".join(prefix) + "]"
    if not isinstance(table, dict):
        problems.add(at(), f"{header} must be a table")
        problems.raise_if_any("the desired state", FIX)
    objects: list[StateObject] = []
    known = ", ".join(kind.name for kind in kinds)
    for kind_key, entries in table.items():
        kind = kind_named(kind_key, kinds)
        if kind is None:
            missing = plugin_of(kind_key)
            problems.add(at(kind_key), f"unknown key {kind_key!r} in {header}: {missing}" if missing else
                         f"unknown key {kind_key!r} in {header} (known kinds: {known})")
            continue
        objects += _objects(kind, entries, prefix, at, problems)
    state = assemble(source, objects, kinds, problems)
    problems.raise_if_any("the desired state", FIX)
    return state


def _objects(kind: Kind, entries: Any, prefix: tuple[str, ...], at, problems: Problems) -> list[StateObject]:
    table = ".".join((*prefix, kind.name))
    out: list[StateObject] = []
    if kind.keyed_by_name:
        if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
            problems.add(at(kind.name), f"[{table}] holds one table per {kind.schema.title}: [{table}.<NAME>]")
            return out
        seen: dict[tuple[str, ...], str] = {}
        for name, raw in entries.items():
            if "name" in raw:
                problems.add(at(kind.name, name, "name"),
                             f"unknown key 'name' in [{table}.{name}]: the name is the table's own key")
            _unknown(kind, raw, f"[{table}.{_shown_key(name)}]", lambda key, n=name: at(kind.name, n, key), problems)
            obj = kind.build({**raw, "name": name}, at(kind.name, name), problems,
                             lambda key, n=name: at(kind.name, n, key))
            if obj is not None:
                ident = kind.identity(obj.key)
                if ident in seen:
                    problems.add(at(kind.name, name), f"{kind.schema.title} {names.shown(name)} is declared twice "
                                                      f"(also as {names.shown(seen[ident])}: IRIS "
                                                      "does not tell them apart)")
                    continue
                seen[ident] = name
                out.append(obj)
        return out
    if not isinstance(entries, list) or not all(isinstance(v, dict) for v in entries):
        problems.add(at(kind.name), f"{kind.name} is an array of tables: [[{table}]]")
        return out
    for index, raw in enumerate(entries):
        _unknown(kind, raw, f"[[{table}]] (entry {index + 1})", lambda key, i=index: at(kind.name, i, key), problems)
        obj = kind.build(raw, at(kind.name, index), problems, lambda key, i=index: at(kind.name, i, key))
        if obj is not None:
            out.append(obj)
    return out


def _unknown(kind: Kind, raw: dict[str, Any], where: str, at, problems: Problems) -> None:
    allowed = [name for name in kind.schema.names if not (kind.keyed_by_name and name == "name")]
    for key in raw:
        refused = kind.schema.refusal(key)
        if refused:
            problems.add(at(key), f"{key!r} in {where}: {refused}")
        elif key not in kind.schema.names:
            problems.add(at(key), f"unknown key {key!r} in {where} (known: {', '.join(allowed)})")


def _shown_key(name: str) -> str:
    plain = all(ch.isalnum() or ch in "_-" for ch in name) and name
    return name if plain else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
