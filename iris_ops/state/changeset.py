"""What ``apply`` does, as a list of actions: each change of the plan with the statements that
make it and the statements that undo it.

Pure logic: the kinds' change builders (:class:`iris_ops.state.kinds.Kind`) make the statements;
the operation (:mod:`iris_ops.operations.apply`) runs them, records each undo before the change
and replays the undos newest first on any failure.

The order is the plan's: the kinds' dependency order (:func:`iris_ops.manager.state_kinds`:
resources, databases, namespaces, mappings, each plugin's kind after the kinds it needs, e.g. the
security plugin's roles after resources), with two exceptions:

* a change that cannot be undone (a kind's ``one_way`` fields: a database's size, a password)
  comes after every other action, so that nothing earlier can fail after it was made;
* ``--prune`` removals come after the changes, newest kind first (mappings before namespaces
  before databases); a removal's undo creates the object again from what the instance held,
  except for a database, whose files cannot be brought back: those come last of all.

A namespace to be created from a fixture is an action of its own (:attr:`Action.fixture`): the
operation restores the fixture into it, with restore's own all-or-nothing, and its undo removes
the namespace and what the restore created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from iris_ops.errors import UsageError
from iris_ops.objectscript import Code
from iris_ops.state.kinds import ChangeContext, Kind, kind_named
from iris_ops.state.plan import CHANGE, CREATE, Step

__all__ = ["Action", "actions", "prune_actions", "REMOVE", "UNDO_BUILDER"]

#: The action of a ``--prune`` removal (besides the plan's create and change).
REMOVE = "remove"
#: Action -> the kind's builder its undo comes from: a create is undone by removing the object,
#: a change by setting the old values again, a removal by creating the object again.
UNDO_BUILDER = {CREATE: "remove", CHANGE: "modify", REMOVE: "create"}


@dataclass(frozen=True)
class Action:
    """One change: ``statements`` make it, ``undo`` (None: it cannot be undone) reverts it."""

    kind: str
    key: tuple[str, ...]
    label: str
    action: str  # create, change, remove
    statements: tuple[Code, ...]
    undo: tuple[Code, ...] | None
    #: The fields the action sets (create: every field; change: the changed ones, new values;
    #: remove: what the instance held).
    fields: Mapping[str, Any] = field(default_factory=dict)
    #: A namespace to create by restoring this fixture (``statements`` and ``undo`` are empty:
    #: the operation runs the restore).
    fixture: str = ""
    #: What ``undo`` was built from: the kind's builder (:data:`UNDO_BUILDER` of ``action``) and
    #: these fields.  Enough to build the undo again elsewhere (``doctor --fix`` after a
    #: ``kill -9``, from apply's journal); None when there is no undo.
    undo_fields: Mapping[str, Any] | None = None

    @property
    def what(self) -> str:
        return f"{self.action} {self.kind} {self.label}"


def _builder(kind: Kind, part: str, undo_of: str = ""):
    """The kind's ``part`` builder; exit 2 when it has none (``undo_of``: the builder is needed to
    undo that change, which the state asks for)."""
    found = getattr(kind, part)
    if found is None:
        verb = undo_of or {"create": "create", "modify": "change", "remove": "remove"}[part]
        need = f"no {part} builder to undo that" if undo_of else f"no {part} builder"
        raise UsageError(f"the state asks to {verb} {kind.schema.title} objects, and the kind {kind.name} has "
                         f"{need}: apply cannot do it",
                         fix=f"Make that change yourself, or leave it out of the state; the plugin that adds "
                             f"{kind.name} may support it in a later version.")
    return found


def actions(steps: list[Step], kinds: tuple[Kind, ...], ctx: ChangeContext) -> list[Action]:
    """The actions that carry out ``steps`` (the plan), in the order described above.  Raises
    before anything changes when a kind cannot make a change (exit 2) or refuses it."""
    regular: list[Action] = []
    last: list[Action] = []
    for step in steps:
        if step.action not in (CREATE, CHANGE):
            continue
        kind = kind_named(step.kind, kinds)
        key = step.key
        if step.action == CREATE:
            fields = dict(step.fields or {})
            if fields.get("fixture"):
                regular.append(Action(step.kind, key, step.label, CREATE, (), (), fields, fixture=fields["fixture"]))
                continue
            create, remove = _builder(kind, "create"), _builder(kind, "remove", undo_of="create")
            regular.append(Action(step.kind, key, step.label, CREATE, tuple(create(key, fields, ctx)),
                                  tuple(remove(key, fields, ctx)), fields, undo_fields=fields))
            continue
        modify = _builder(kind, "modify")
        for one_way in (False, True):
            part = [c for c in step.changes if (c.field in kind.one_way) == one_way]
            if not part:
                continue
            new = {c.field: c.new for c in part}
            old = {c.field: c.old for c in part}
            undo = None if one_way else tuple(modify(key, old, ctx))
            (last if one_way else regular).append(
                Action(step.kind, key, step.label, CHANGE, tuple(modify(key, new, ctx)), undo, new,
                       undo_fields=None if one_way else old))
    return regular + last


def _recreate(kind: Kind, key: tuple[str, ...], fields: Mapping[str, Any], ctx: ChangeContext) -> tuple[Code, ...] | None:
    """The undo of a removal: the object created again from what the instance held; None when the
    kind cannot (no create builder, or one that needs what no instance gives back: a password)."""
    if kind.create is None:
        return None
    try:
        return tuple(kind.create(key, fields, ctx))
    except UsageError:
        return None


def prune_actions(found: list[tuple[Kind, tuple[str, ...], str, Mapping[str, Any]]], ctx: ChangeContext,
                  removals: Mapping[tuple[str, tuple[str, ...]], tuple[tuple[Code, ...], bool]] | None = None
                  ) -> list[Action]:
    """Removals of objects an earlier apply created that the state no longer names: ``found``
    lists (kind, key, label, the fields the instance holds), in the kinds' order.  ``removals``
    gives, for a (kind name, key), statements of its own instead of the kind's ``remove`` and
    whether they can be undone (a namespace restored from a fixture: its databases go with it)."""
    removals = removals or {}
    undoable: list[Action] = []
    final: list[Action] = []
    for kind, key, label, fields in reversed(found):
        own = removals.get((kind.name, key))
        if own is not None:
            statements, reversible = own
        else:
            # A database's files cannot be brought back: its removal comes last, never undone.
            statements, reversible = tuple(_builder(kind, "remove")(key, fields, ctx)), kind.name != "databases"
        undo = _recreate(kind, key, fields, ctx) if reversible else None
        (undoable if undo is not None else final).append(
            Action(kind.name, key, label, REMOVE, tuple(statements), undo, dict(fields),
                   undo_fields=dict(fields) if undo is not None else None))
    return undoable + final
