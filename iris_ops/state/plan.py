"""The plan: each object of a desired state next to what the instance holds, as ``create``,
``change`` (field by field, old -> new) or ``ok``.

Pure logic around one read-only script: :func:`read_script` asks each kind's reader for the
objects the state names, :func:`compare` decides from its result.  A field the state does not
give is not compared; nothing the state does not name is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from iris_ops.errors import InstanceError, UsageError
from iris_ops.objectscript import Script
from iris_ops.script_builders.state import current_state
from iris_ops.state.kinds import ChangeContext, Kind, core_kinds, kind_named
from iris_ops.state.model import DesiredState, StateObject

__all__ = ["Change", "Step", "read_script", "compare", "as_data", "lines", "shown", "CREATE", "CHANGE", "OK"]

CREATE, CHANGE, OK = "create", "change", "ok"


@dataclass(frozen=True)
class Change:
    field: str
    old: Any
    new: Any
    #: A secret field (``Field.secret``): shown only as changed, never its values.
    secret: bool = False


@dataclass(frozen=True)
class Step:
    """What the plan says of one object: ``action`` and, for a change, each field's old and new
    value; for a create, ``fields`` holds what the object will have."""

    kind: str
    label: str
    action: str
    changes: tuple[Change, ...] = ()
    fields: Mapping[str, Any] | None = None
    key: tuple[str, ...] = ()


def read_script(state: DesiredState, kinds: tuple[Kind, ...] | None = None, ctx: ChangeContext | None = None) -> Script:
    """The one read-only session that reads the current state of every object ``state`` names.
    ``ctx`` reaches the kinds whose reader needs one (``Kind.read_objects``); run its ends after
    the session, whatever happened."""
    kinds = core_kinds() if kinds is None else kinds
    readers = []
    for kind in kinds:
        objects = state.of(kind.name)
        if objects and kind.read_objects is not None:
            readers.append((kind.name, kind.read_objects(objects, ctx or ChangeContext(""))))
        elif objects:
            readers.append((kind.name, kind.reader([obj.key for obj in objects])))
    return current_state(readers)


def compare(state: DesiredState, result: Mapping[str, Any], kinds: tuple[Kind, ...] | None = None) -> list[Step]:
    """The plan, from the result of :func:`read_script` (the objects in the state's order)."""
    kinds = core_kinds() if kinds is None else kinds
    manager_directory = str(result.get("manager_directory", ""))
    steps = []
    missing = []
    for kind in kinds:
        objects = state.of(kind.name)
        entries = list(result.get(kind.name) or [])
        if len(entries) != len(objects):
            raise InstanceError(f"the reader of {kind.name} answered for {len(entries)} objects, not {len(objects)}")
        steps += [_step(kind, obj, entry, manager_directory) for obj, entry in zip(objects, entries)]
        missing += [f"{kind.schema.title} {obj.label} ({obj.origin})" for obj, entry in zip(objects, entries)
                    if kind.must_exist and not entry.get("exists")]
    if missing:
        raise UsageError(f"the instance has no {', '.join(missing)}",
                         fix="iris-ops never creates objects of that kind: check the names against the instance.")
    return steps


def _step(kind: Kind, obj: StateObject, entry: Mapping[str, Any], manager_directory: str) -> Step:
    wanted = {name: kind.schema.field(name).in_instance(value, manager_directory) for name, value in obj.values.items()}
    if not entry.get("exists"):
        return Step(kind.name, obj.label, CREATE, fields=wanted, key=obj.key)
    changes = []
    for item in kind.schema.fields:
        if item.name in kind.schema.key or item.name not in wanted or not item.prop:
            continue
        current = item.from_iris(entry[item.name]) if item.name in entry else None
        if current is None or not item.same(wanted[item.name], current):
            changes.append(Change(item.name, current, wanted[item.name], item.secret))
    return Step(kind.name, obj.label, CHANGE if changes else OK, tuple(changes), key=obj.key)


def as_data(steps: list[Step]) -> dict[str, Any]:
    """The plan as one JSON document's content (``--json``)."""
    out = []
    for step in steps:
        item: dict[str, Any] = {"kind": step.kind, "name": step.label, "action": step.action}
        if step.action == CREATE:
            item["fields"] = dict(step.fields or {})
        if step.action == CHANGE:
            item["changes"] = {c.field: {"changed": True} if c.secret else {"old": c.old, "new": c.new}
                               for c in step.changes}
        out.append(item)
    counts = {action: sum(1 for s in steps if s.action == action) for action in (CREATE, CHANGE, OK)}
    return {"plan": out, "summary": counts}


def shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items()) or '""'
    if isinstance(value, list):
        return ",".join(value) or '""'
    return str(value) if value != "" else '""'


def lines(steps: list[Step], kinds: tuple[Kind, ...] | None = None) -> list[str]:
    """The plan as the console shows it: each object with create, change (old -> new) or ok."""
    kinds = core_kinds() if kinds is None else kinds
    out = []
    for step in steps:
        kind = kind_named(step.kind, kinds)
        title = kind.schema.title if kind else step.kind
        head = f"{step.action:<7} {title} {step.label}"
        if step.action == CREATE:
            given = ", ".join(f"{k}={shown(v)}" for k, v in (step.fields or {}).items()
                              if not kind or k not in kind.schema.key)
            out.append(head + (f" ({given})" if given else ""))
        else:
            out.append(head)
            out += [f"          {c.field}: " + ("changed" if c.secret else f"{shown(c.old)} -> {shown(c.new)}")
                    for c in step.changes]
    counts = {action: sum(1 for s in steps if s.action == action) for action in (CREATE, CHANGE, OK)}
    out.append(f"plan: {counts[CREATE]} to create, {counts[CHANGE]} to change, {counts[OK]} ok")
    return out
