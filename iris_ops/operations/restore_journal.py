"""A restore's journal and its undo: what lets a restore be all or nothing, whatever stops it.

The journal ``<mgr>/iris-ops-restore-<NS>.json`` lists what the restore may create; it is
written before the first change, and it carries a random token that every changing session of
the restore checks first (:class:`iris_ops.script_builders.restore.Guard`).  It goes by three
names, one per state, each reached by a rename inside the instance:

* ``iris-ops-restore-<NS>.json``: the restore is under way; undoing it means removing what it
  lists (``doctor --fix`` rolls it back);
* ``iris-ops-restore-<NS>.rollback.json``: a rollback has begun (the rename told any session of
  the restore still starting to stop); ``doctor --fix`` finishes it;
* ``iris-ops-restore-<NS>.committed.json``: a ``--force`` restore has begun putting the new
  namespace in the place of the old one (:mod:`iris_ops.operations.restore_replace`); from there
  on it is finished, never undone.

The journal is removed when the restore succeeded or was rolled back completely.
"""

from __future__ import annotations

import io
import json
import re
from typing import TYPE_CHECKING, Callable

from iris_ops import __version__, names, script_builders
from iris_ops.errors import InstanceError, IrisOpsError, ScriptError

if TYPE_CHECKING:
    from iris_ops.objectscript import Script
    from iris_ops.operation import Operation
    from iris_ops.script_builders.restore import Guard

__all__ = [
    "JOURNAL_PREFIX", "UNDER_WAY", "ROLLING_BACK", "COMMITTED", "MARKER", "journal_path", "journal_names",
    "recognise", "JournalFile", "Journal", "guarded_revoke", "UndoLog", "remove_journal", "remove_created_directory", "read",
    "what_it_created", "listed_databases", "roll_back",
]

#: ``<mgr>/iris-ops-restore-<NS>.json`` exists while a restore into NS is unfinished.
JOURNAL_PREFIX = "iris-ops-restore-"
#: The journal's states (see the module docstring): the suffix of each name before ``.json``.
UNDER_WAY, ROLLING_BACK, COMMITTED = "", ".rollback", ".committed"
_NAME = re.compile(r"^iris-ops-restore-(?P<ns>[%A-Za-z0-9_-]{1,64})(?P<state>\.rollback|\.committed)?\.json$")
#: Provenance written by restore into each database directory it creates.
MARKER = "iris-ops-restore.json"


def journal_path(manager_directory: str, namespace: str, state: str = UNDER_WAY) -> str:
    return names.instance_path(f"{names.directory(manager_directory)}{JOURNAL_PREFIX}{namespace}{state}.json")


def journal_names(namespace: str) -> list[str]:
    """The file names (in the manager directory) a journal of a restore into ``namespace`` may have."""
    return [f"{JOURNAL_PREFIX}{namespace}{state}.json" for state in (UNDER_WAY, ROLLING_BACK, COMMITTED)]


def recognise(entry: str) -> tuple[str, str] | None:
    """(namespace, state) when ``entry`` (a file name in the manager directory) is a journal."""
    m = _NAME.match(entry)
    return (m["ns"], m["state"] or UNDER_WAY) if m else None


class JournalFile:
    """A journal in the instance, as restore and apply keep one: ``doc`` written whole by the
    transport (:meth:`write`), and removed by it (:meth:`remove`: one exec, no ``iris
    session``), under the names :meth:`at` gives for each state.  ``operation`` names whose it
    is, in messages and log events (``restore.journal_left``)."""

    operation = "restore"
    op: "Operation"
    path: str
    doc: dict

    def at(self, state: str) -> str:
        raise NotImplementedError

    def encoded(self) -> bytes:
        """The journal's file, as :meth:`write` writes it."""
        return json.dumps(self.doc).encode()

    def write(self) -> None:
        from iris_ops import signals

        data = self.encoded()
        with signals.shielded():  # done or not done: a write cut short could still land after the rollback
            self.op.runner.write_file(io.BytesIO(data), len(data), self.path, timeout=self.op.settings.timeout)

    def remove(self, state: str = UNDER_WAY) -> None:
        path = self.at(state)
        if not self.op.runner.remove_path(path, timeout=self.op.settings.timeout):
            raise InstanceError(f"could not remove the {self.operation} journal {path}",
                                fix=f"Run `iris-ops doctor --fix`: it finishes what an interrupted {self.operation} "
                                    "left behind.")


class Journal(JournalFile):
    """The journal of one restore: written before the first change (:meth:`write`), removed at
    the end (:meth:`remove`).  Left behind (``kill -9``, power loss), it tells ``iris-ops
    doctor`` exactly what to undo or finish, and nothing else."""

    def __init__(self, op: "Operation", manager_directory: str, namespace: str, planned: list,
                 new_resources: dict[str, bool] | None = None, *, creates: str | None = None,
                 replaces: dict | None = None) -> None:
        import secrets  # here: its import is start-up time for every task (docs/PERFORMANCE.md)

        self.op = op
        self.manager_directory = manager_directory
        self.namespace = namespace
        self.path = journal_path(manager_directory, namespace)
        self.token = secrets.token_hex(16)
        # Resources this restore may create (none of them existed when it started): listed up
        # front, so that creating one costs no second journal write.
        self.doc = {"tool": f"iris-ops {__version__}", "namespace": namespace, "token": self.token,
                    "creates": creates or namespace,
                    "databases": [{"name": p.name, "directory": p.directory, "final": p.final} for p in planned],
                    "resources": [{"name": r, "with_role": w} for r, w in (new_resources or {}).items()],
                    "replaces": replaces}

    def at(self, state: str) -> str:
        return journal_path(self.manager_directory, self.namespace, state)

    def guard(self, *, wait: float | None = None, states: tuple[str, ...] = (UNDER_WAY,)) -> "Guard":
        from iris_ops.script_builders.restore import Guard

        return Guard(self.namespace, tuple(self.at(s) for s in states), self.token,
                     self.op.settings.timeout if wait is None else wait)



def guarded_revoke(journal_file: str, aside: str, guard: "Guard") -> "Script":
    """Wait for any session of the restore to end, then rename its journal aside (see
    :class:`~iris_ops.script_builders.restore.Guard`)."""
    from iris_ops.objectscript import Script
    from iris_ops.script_builders.restore import guard_step, revoke_step

    script = Script("%SYS", purpose=f"stop {guard.whose}")
    guard_step(script, guard, check_journal=False)
    return revoke_step(script, journal_file, aside)


class UndoLog:
    """Undo actions recorded before each change; replayed newest first on failure.

    Each action is a script, optionally with a ``fallback`` (what to do instead when run on its
    own: removing a directory falls back to the transport's root removal).  A replay runs as one
    session: it waits for any session of the restore still running in the instance (one the
    client gave up on), renames the journal aside so that none starting later goes on, runs every
    action, each a step that runs only when every earlier one completed, and removes the
    journal.  If that session fails after it got that far, the journal is renamed aside again
    (if need be) and every action is replayed on its own (each tolerates what is already undone);
    the journal stays unless all of them succeeded.  If a session of the restore still runs when
    the wait ends, nothing is undone: ``doctor --fix`` does it once that session has ended."""

    def __init__(self, op: "Operation", journal: Journal | None = None, *, name: str = "restore") -> None:
        self.op = op
        self.journal = journal
        #: Whose undo this is, in its script's purpose and its log events (``restore.rollback``).
        self.name = name
        self.actions: list[tuple[str, "Script", Callable[[], object] | None]] = []

    def add(self, what: str, script: "Script", fallback: Callable[[], object] | None = None) -> None:
        self.actions.append((what, script, fallback))

    def record(self, actions: list[tuple[str, "Script"]]) -> int:
        """Add several undo actions at once (a session that may make all those changes is about
        to run); returns a mark for :meth:`forget`."""
        mark = len(self.actions)
        self.actions.extend((what, script, None) for what, script in actions)
        return mark

    def forget(self, mark: int) -> None:
        """Drop the actions recorded since ``mark``: the session that might have made those
        changes proved it made none."""
        del self.actions[mark:]

    def disarm(self) -> None:
        """Nothing is to be undone any more (a replacement committed: it is finished, not undone)."""
        self.actions.clear()
        self.journal = None

    def replay(self) -> list[str]:
        """Undo everything; returns what could not be undone (the journal is then kept)."""
        from iris_ops import signals

        with signals.shielded():  # a signal now must not leave the namespace half restored
            try:
                return self._replay()
            finally:
                self.actions.clear()

    def _replay(self) -> list[str]:
        from iris_ops.objectscript import Script
        from iris_ops.script_builders.restore import guard_step, revoke_step

        if not self.actions and self.journal is None:
            return []
        journal = self.journal
        whole = Script("%SYS", purpose=f"roll back the {self.name}")
        if journal is not None:
            guard_step(whole, journal.guard(), check_journal=False)
            revoke_step(whole, journal.path, journal.at(ROLLING_BACK))
        for i, (_, script, _) in enumerate(reversed(self.actions)):
            whole.step(f"undo{i}", *script.folded())
        if journal is not None:
            whole.step("journal", *script_builders.remove_file(journal.at(ROLLING_BACK)).folded())
        try:
            self.op.runner.run(whole, timeout=2 * self.op.settings.timeout)
        except Exception as exc:  # undo one by one: each tolerates what is already undone
            if journal is not None and _failed_at(exc, "guard"):
                return [f"nothing was undone: {exc}; `iris-ops doctor --fix` rolls it back once that session has ended"]
            self.op.log.warning(f"{self.name}.rollback_retry", error=str(exc), note="undoing each change on its own")
        else:
            for what, _, _ in reversed(self.actions):
                self.op.log.info(f"{self.name}.rollback", undone=what)
            return []
        if journal is not None:
            try:
                self.op.runner.run(guarded_revoke(journal.path, journal.at(ROLLING_BACK), journal.guard()))
            except BaseException as exc:
                return [f"nothing more was undone: {exc}"]
        failed = []
        for what, script, fallback in reversed(self.actions):
            try:
                fallback() if fallback is not None else self.op.runner.run(script)
                self.op.log.info(f"{self.name}.rollback", undone=what)
            except BaseException as exc:  # keep undoing the rest
                failed.append(f"{what}: {exc}")
                self.op.log.error(f"{self.name}.rollback_failed", undo=what, error=str(exc))
        if not failed and journal is not None:
            remove_journal(journal, ROLLING_BACK)
        return failed


def _failed_at(exc: BaseException, step: str) -> bool:
    return isinstance(exc, ScriptError) and exc.details.get("step") == step


def remove_journal(journal: JournalFile, state: str = UNDER_WAY) -> None:
    """Remove the journal, shielded; a journal that stays is only worth a warning (doctor removes it)."""
    from iris_ops import signals

    with signals.shielded():
        try:
            journal.remove(state)
        except IrisOpsError as exc:
            journal.op.log.warning(f"{journal.operation}.journal_left", path=journal.at(state), error=str(exc),
                                   fix="`iris-ops doctor --fix` removes it")


def remove_created_directory(op: "Operation", directory: str) -> None:
    """Remove a database directory a restore created (as root when the instance cannot)."""
    try:
        op.runner.run(script_builders.remove_directory(directory))
    except IrisOpsError:
        # A file the transport wrote may still be root-owned if chown failed: remove as root.
        op.runner.remove_path(directory)


# --- what doctor does with a journal left behind ----------------------------------------------------


def read(op: "Operation", path: str, namespace: str) -> dict:
    """The journal at ``path``, checked: ValueError (or an instance error) when it is not one."""
    doc = op.runner.read_json(path, timeout=op.settings.timeout)
    if doc.get("namespace") != namespace:
        raise ValueError("its namespace does not match its name")
    doc["databases"] = [dict(d, name=names.database(d["name"]), directory=names.directory(d["directory"]))
                        for d in doc.get("databases", [])]
    doc["resources"] = [(r["name"], bool(r.get("with_role"))) for r in doc.get("resources", [])]
    return doc


def listed_databases(doc: dict) -> set[str]:
    """Every database name a journal (as :func:`read` returns it) lists: staged, final and, for a
    replacement, the old ones (doctor's orphan check leaves them to the journal's finding)."""
    found = {d["name"] for d in doc["databases"]} | {names.database(d["final"]) for d in doc["databases"] if d.get("final")}
    found |= {names.database(d["name"]) for d in (doc.get("replaces") or {}).get("databases", [])}
    return found


def what_it_created(doc: dict) -> list[str]:
    return ([f"namespace {doc.get('creates') or doc['namespace']}"]
            + [f"database {d['name']} ({d['directory']})" for d in doc["databases"]]
            + [f"resource {r}" for r, _ in doc["resources"]])


def roll_back(op: "Operation", mgr: str, namespace: str, state: str, doc: dict) -> None:
    """Undo the restore a journal describes (``doctor --fix``): first, unless a rollback already
    began, wait for its sessions and rename the journal aside; then remove the namespace it
    created, each database (a directory holding anything but what the restore put there keeps
    its files) and each resource it created; then the journal."""
    from iris_ops.script_builders.restore import Guard

    path = journal_path(mgr, namespace, state)
    if state == UNDER_WAY and doc.get("token"):
        aside = journal_path(mgr, namespace, ROLLING_BACK)
        op.runner.run(guarded_revoke(path, aside, Guard(namespace, (), doc["token"], op.settings.timeout)),
                      timeout=2 * op.settings.timeout)
        path = aside
    op.runner.run(script_builders.delete_namespace(doc.get("creates") or namespace))
    for db in doc["databases"]:
        name, directory = db["name"], db["directory"]
        # Only a directory holding nothing but what the restore put there.
        content = set(op.runner.list_directory(directory))
        if content - {"IRIS.DAT", MARKER, "iris.lck"}:
            op.log.warning("doctor.kept_directory", directory=directory, extra=sorted(content))
            op.runner.run(script_builders.delete_database(name, directory, keep_files=True))
            continue
        try:
            op.runner.run(script_builders.delete_database(name, directory))
        except IrisOpsError as exc:
            # A file the instance cannot open (an upload cut short leaves it root-owned): drop the
            # configuration, then remove the directory (as root if need be).
            op.log.warning("doctor.unreadable_database", directory=directory, error=str(exc))
            op.runner.run(script_builders.delete_database(name, directory, keep_files=True))
        remove_created_directory(op, directory)
    for resource, with_role in doc["resources"]:
        op.runner.run(script_builders.delete_resource(resource, with_role=with_role))
    op.runner.run(script_builders.remove_file(path))
