"""Apply's journal: what lets ``doctor --fix`` roll back an apply that ``kill -9`` (or a lost
host) stopped halfway, as it rolls back a restore.

``<mgr>/iris-ops-apply.json`` is written before each session of an apply that changes the
instance.  It lists, oldest first, the undo of every change made so far and of every change that
session may make, as data: the kind, the object's key, the builder (``remove``, ``modify`` or
``create``) and the fields it needs; for a namespace restored from a fixture, the namespace and
the databases the restore created.  ``doctor --fix`` builds each undo again through the kinds
(iris-ops' own and the installed plugins': a journal is data, never code doctor would run) and
runs them newest first.

Like a restore's journal it carries a token: each changing session of the apply first takes
``^IRISOPS.Session("*apply")``, held until it ends, and goes on only while the journal holds its
token (:class:`iris_ops.script_builders.restore.Guard`).  A rollback, in the apply or in doctor,
takes that lock (waiting for a session the client gave up on) and renames the journal aside,
``iris-ops-apply.rollback.json``, before it undoes anything.  The journal is removed once the
apply succeeded or was rolled back.  Only one apply runs at a time on an instance (the desired
state's lock), so there is one journal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iris_ops import __version__, names, script_builders
from iris_ops.errors import InstanceError
from iris_ops.operations.apply_unfinished import JOURNAL_NAMES
from iris_ops.operations.restore_journal import ROLLING_BACK, UNDER_WAY, JournalFile, UndoLog, guarded_revoke

if TYPE_CHECKING:
    from iris_ops.leftovers import Leftover
    from iris_ops.objectscript import Script
    from iris_ops.operation import Operation
    from iris_ops.script_builders.restore import Guard
    from iris_ops.state.changeset import Action

__all__ = ["JOURNAL_NAMES", "journal_path", "ApplyJournal", "JournaledUndo", "entry_of",
           "namespace_entry", "undo_script", "findings", "roll_back"]

#: Whose sessions the guard's lock is for (``^IRISOPS.Session("*apply")``).
OPERATION = "apply"


def journal_path(manager_directory: str, state: str = UNDER_WAY) -> str:
    return names.instance_path(f"{names.directory(manager_directory)}iris-ops-apply{state}.json")


def _guard(token: str, journals: tuple[str, ...], wait: float) -> "Guard":
    from iris_ops.script_builders.restore import Guard

    return Guard("", journals, token, wait, operation=OPERATION)


class ApplyJournal(JournalFile):
    """The journal of one apply (the interface :class:`UndoLog` replays with)."""

    operation = OPERATION

    def __init__(self, op: "Operation", manager_directory: str, source: str) -> None:
        import secrets  # here: its import is start-up time for every task

        self.op = op
        self.manager_directory = manager_directory
        self.path = journal_path(manager_directory)
        self.token = secrets.token_hex(16)
        self.doc: dict[str, Any] = {"tool": f"iris-ops {__version__}", "source": source, "token": self.token,
                                    "undo": []}

    def at(self, state: str) -> str:
        return journal_path(self.manager_directory, state)

    def guard(self, *, wait: float | None = None, states: tuple[str, ...] = (UNDER_WAY,)) -> "Guard":
        return _guard(self.token, tuple(self.at(s) for s in states),
                      self.op.settings.timeout if wait is None else wait)


class JournaledUndo(UndoLog):
    """Restore's :class:`UndoLog`, each action with its journal entry (:func:`entry_of`,
    :func:`namespace_entry`); :meth:`save` writes them all before a session that may change
    something."""

    def __init__(self, op: "Operation", journal: ApplyJournal) -> None:
        super().__init__(op, journal, name="apply")
        self.entries: list[dict] = []

    def note(self, items: list[tuple[str, "Script", dict]]) -> int:
        """Record undo actions with their entries; returns a mark for :meth:`forget`."""
        mark = self.record([(what, script) for what, script, _ in items])
        self.entries += [entry for _, _, entry in items]
        return mark

    def forget(self, mark: int) -> None:
        super().forget(mark)
        del self.entries[mark:]

    def save(self) -> None:
        assert len(self.entries) == len(self.actions), "an undo action was recorded without its journal entry"
        self.journal.doc["undo"] = self.entries
        self.journal.write()

    def finish(self) -> None:
        """The apply succeeded: nothing is to be undone, and the journal goes."""
        from iris_ops.operations.restore_journal import remove_journal

        journal, self.journal = self.journal, None
        self.disarm()
        remove_journal(journal)


def entry_of(action: "Action") -> dict:
    from iris_ops.state.changeset import UNDO_BUILDER

    return {"what": f"undo: {action.what}", "kind": action.kind, "key": list(action.key),
            "builder": UNDO_BUILDER[action.action], "fields": dict(action.undo_fields or {})}


def namespace_entry(what: str, namespace: str, databases: list | None = None) -> dict:
    """The undo of a namespace restored from a fixture: the namespace, and the databases (name,
    directory, resource) its restore created once it is known."""
    return {"what": f"undo: {what}", "namespace": namespace, "databases": [list(d) for d in databases or []]}


def undo_script(entry: dict, kinds: tuple, ctx) -> "Script":
    """The undo an entry describes, built again through its kind; ValueError when it cannot be
    (an unknown kind, a malformed entry), and the kinds' own errors for values they refuse."""
    from iris_ops.objectscript import Script
    from iris_ops.state.kinds import kind_named

    if "namespace" in entry:
        databases = [tuple(str(part) for part in d) for d in entry.get("databases") or []]
        if databases and any(len(d) != 3 for d in databases):
            raise ValueError("a database of the namespace's undo is not (name, directory, resource)")
        return (script_builders.delete_all(str(entry["namespace"]), databases) if databases
                else script_builders.delete_namespace(str(entry["namespace"])))
    kind = kind_named(str(entry.get("kind")), kinds)
    if kind is None:
        raise ValueError(f"its kind {entry.get('kind')!r} is not installed (a plugin's kind: install the plugin)")
    builder = getattr(kind, str(entry.get("builder")), None) if entry.get("builder") in ("remove", "modify", "create") \
        else None
    key, fields = entry.get("key"), entry.get("fields")
    if builder is None or not isinstance(key, list) or len(key) != len(kind.schema.key) \
            or not all(isinstance(part, str) for part in key) or not isinstance(fields, dict):
        raise ValueError(f"an entry iris-ops did not write: {entry!r}")
    script = Script("%SYS", purpose=str(entry.get("what", "undo")))
    script.step("undo", *builder(tuple(key), fields, ctx))
    return script


def read(op: "Operation", path: str) -> dict:
    doc = op.runner.read_json(path, timeout=op.settings.timeout)
    if not isinstance(doc.get("undo"), list) \
            or not all(isinstance(e, dict) for e in doc["undo"]):
        raise ValueError("it lists no undo steps")
    return doc


def findings(op: "Operation", manager_directory: str, entries: list[str]) -> list["Leftover"]:
    """Doctor's finding for an apply's journal left in the manager directory."""
    from iris_ops.errors import IrisOpsError
    from iris_ops.leftovers import Leftover

    found = []
    for entry in entries:
        state = JOURNAL_NAMES.get(entry)
        if state is None:
            continue
        path = journal_path(manager_directory, state)
        try:
            doc = read(op, path)
        except (IrisOpsError, ValueError) as exc:
            found.append(Leftover("apply", path, f"an unreadable apply journal ({exc})",
                                  "none: read it and undo its changes by hand"))
            continue
        steps = [str(e.get("what", "?")).removeprefix("undo: ") for e in doc["undo"]]
        began = " (its rollback began)" if state == ROLLING_BACK else ""
        found.append(Leftover(
            "apply", path,
            f"an apply of {doc.get('source', '?')} never finished{began}; it may have made {len(steps)} changes: "
            + "; ".join(steps),
            "roll it back: each change undone, newest first",
            lambda s=state, d=doc: roll_back(op, manager_directory, s, d)))
    return found


def roll_back(op: "Operation", manager_directory: str, state: str, doc: dict) -> None:
    """Undo the apply a journal describes (``doctor --fix``).  Every undo is built first (one that
    cannot be: nothing is done, exit 5); then, unless a rollback already began, the journal is
    renamed aside once no session of the apply runs; then each undo runs, newest first (each
    tolerates what is already undone; the undo of a removal is skipped when the object exists),
    and the journal goes."""
    from iris_ops.manager import state_kinds
    from iris_ops.operations.plan import read_objects
    from iris_ops.state.kinds import ChangeContext

    kinds = state_kinds(op.pm)
    ctx = ChangeContext(manager_directory, op)
    path = journal_path(manager_directory, state)
    try:
        try:
            undos = [(entry, undo_script(entry, kinds, ctx)) for entry in doc["undo"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise InstanceError(f"the apply journal {path} cannot be rolled back: {exc}",
                                fix="Install what the apply used (a plugin's kind), or undo its changes by hand "
                                    "and remove the journal.") from None
        if state == UNDER_WAY:
            aside = journal_path(manager_directory, ROLLING_BACK)
            op.runner.run(guarded_revoke(path, aside, _guard(str(doc.get("token", "")), (), op.settings.timeout)),
                          timeout=2 * op.settings.timeout)
            path = aside
        # The undo of a removal creates the object again: only where the removal happened.
        recreate = [(e["kind"], tuple(e["key"])) for e, _ in undos if e.get("builder") == "create"]
        exists = {found: entry.get("exists") for found, entry in read_objects(op, kinds, recreate)} if recreate else {}
        for entry, script in reversed(undos):
            if entry.get("builder") == "create" and exists.get((entry["kind"], tuple(entry["key"]))):
                continue
            op.runner.run(script)
            op.log.info("doctor.apply_undone", undone=entry.get("what"))
        op.runner.run(script_builders.remove_file(path))
    finally:
        for end in reversed(ctx.ends):
            end()
