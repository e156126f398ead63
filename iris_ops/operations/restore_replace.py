"""`restore --force`: the old namespace stays exactly as it was until the new one is proven.

Before anything changes: what the old namespace is made of is read (the databases no other
namespace uses go with it, as with delete-ns), anything in the way that is not the old
namespace's is refused (exit 3), and every file of the fixture is hashed (exit 4 when one
differs).  Then the new databases are restored beside the old ones, under a staging identity:
databases ``IRISOPS-NEW-<8 hex>-<n>`` in directories of their own (``<mgr>/<name>/``, or
``<mgr>/<name>-<8 hex>/`` when the old database holds that one), and a namespace
``IRISOPS-NEW-<8 hex>`` through which their rows are counted and ``post_restore`` runs.  Any
failure or signal until then rolls back only what was staged: the old namespace was never
touched.

Then one session (:func:`iris_ops.script_builders.replace.swap`) renames the journal to its
committed name, the point of no return, and puts the new namespace in the old one's place: the
new databases take their final names (``<NS>``, or ``<NS>_DATA`` and ``<NS>_CODE``), the old
databases, their files and the directories in the way are deleted.  A signal during that session
waits for it, and the restore then completes and says so.  If the instance dies in the middle,
the committed journal tells ``doctor --fix`` to finish it: the outcome is always either the old
namespace whole or the new one whole.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iris_ops import names, script_builders
from iris_ops.errors import ConflictError, IrisOpsError, ScriptError

if TYPE_CHECKING:
    from iris_ops.fixture import Fixture
    from iris_ops.leftovers import Leftover
    from iris_ops.objectscript import Script
    from iris_ops.operation import Operation
    from iris_ops.operations.delete import Doomed
    from iris_ops.operations.restore_checks import Facts, PlannedDatabase
    from iris_ops.operations.restore_journal import Journal, UndoLog

__all__ = ["STAGING_PREFIX", "Replacement", "prepare", "check_every_file", "swap_script", "swap_in", "roll_forward",
           "recover"]

#: The staging identity: namespace ``IRISOPS-NEW-<8 hex>``, databases ``IRISOPS-NEW-<8 hex>-<n>``.
STAGING_PREFIX = "IRISOPS-NEW-"


@dataclass
class Replacement:
    """What a forced restore replaces, and the staging identity it restores under."""

    namespace: str
    token: str
    old_namespace: bool
    #: The old namespace's databases that no other namespace uses: deleted after the swap.
    old_databases: list["Doomed"] = field(default_factory=list)
    #: Directories no database uses, where a new database would have gone: removed after the swap.
    orphans: list[str] = field(default_factory=list)

    @property
    def staging_namespace(self) -> str:
        return f"{STAGING_PREFIX}{self.token}"

    def journal_entry(self, planned: list["PlannedDatabase"]) -> dict:
        """What the journal records for ``doctor --fix`` to finish the swap."""
        return {"namespace": self.old_namespace,
                "globals": next(p.final for p in planned if p.source.has_globals),
                "routines": next(p.final for p in planned if p.source.has_routines),
                "databases": [{"name": d.name, "directory": d.directory, "resource": d.resource}
                              for d in self.old_databases],
                "directories": self.orphans}


def prepare(op: "Operation", loaded: "Fixture", namespace: str, planned: list["PlannedDatabase"],
            facts: "Facts") -> Replacement:
    """Read-only: what the old namespace is made of, and a staging name and a free directory for
    each new database (set on ``planned``; ``final`` keeps the name it will have).  Refuses
    (exit 3) a database of the final name that is not the old namespace's to delete."""
    from iris_ops.operations.delete import plan as delete_plan

    info = op.runner.run(script_builders.describe_namespace(namespace), changes=False)
    doomed, kept = delete_plan(op, namespace, info, keep_files=False) if info.get("exists") else ([], [])
    configured = op.runner.run(script_builders.configured_names(), changes=False).get("databases", [])
    databases = {str(name).upper() for name, _ in configured}
    used = {names.directory(str(directory)) for _, directory in configured}  # directories a database has
    going, why_kept = {d.name for d in doomed}, dict(kept)
    foreign = [f"database {p.final} ({why_kept.get(p.final) or f'not a database of namespace {namespace}'})"
               for p in planned if p.final in databases and p.final not in going]
    if foreign:
        raise ConflictError(
            f"--force would replace namespace {namespace}, but these are not its to delete: {', '.join(foreign)}",
            fix="Restore under another --ns; or, if they are left over from an interrupted iris-ops run, "
            "`iris-ops doctor --fix` removes them; otherwise delete them yourself.")
    token = secrets.token_hex(4).upper()
    replacement = Replacement(namespace, token, bool(info.get("exists")), doomed)
    found = facts.found.get("directories") or {}
    for i, item in enumerate(planned, 1):
        if str(found.get(item.directory)) == "1":
            if item.directory not in used:
                replacement.orphans.append(item.directory)
            item.directory = f"{facts.manager_directory}{item.final.lower()}-{token.lower()}/"
        item.name = names.database(f"{replacement.staging_namespace}-{i}")
    there = op.runner.run(script_builders.existing(replacement.staging_namespace, [p.name for p in planned],
                                                   [p.directory for p in planned]), changes=False)
    taken = [k for k, v in {**there["databases"], **there["directories"]}.items() if str(v) == "1"]
    if str(there["namespace"]) == "1" or taken:  # 32 random bits met a leftover of the same draw
        raise ConflictError(f"the staging names of this restore are taken: {', '.join(taken) or replacement.staging_namespace}",
                            fix="Run the restore again (it draws new names), or `iris-ops doctor --fix`.")
    return replacement


def check_every_file(op: "Operation", loaded: "Fixture", src) -> None:
    """Hash every file of the fixture (and check everything ``validate`` checks) before the
    first change: exit 4 when anything differs from the manifest."""
    from iris_ops import fixture
    from iris_ops.operations import validate

    findings = fixture.check(loaded.root).findings
    if any(not f.ok for f in findings):
        raise validate.failure(findings, str(src))


def swap_script(journal: "Journal", replacement: Replacement, planned: list["PlannedDatabase"]) -> "Script":
    from iris_ops.operations.restore_journal import COMMITTED, UNDER_WAY
    from iris_ops.script_builders.replace import swap

    entry = replacement.journal_entry(planned)
    return swap(replacement.namespace, journal.guard(states=(UNDER_WAY, COMMITTED)), journal.path,
                journal.at(COMMITTED), replacement.staging_namespace,
                [(p.name, p.final, p.directory) for p in planned], entry["globals"], entry["routines"],
                [(d.name, d.directory, d.resource) for d in replacement.old_databases], replacement.orphans)


def swap_in(op: "Operation", journal: "Journal", replacement: Replacement, planned: list["PlannedDatabase"],
            undo: "UndoLog", script: "Script") -> None:
    """Run the swap.  It fails at its guard or its commit having changed nothing: the caller
    rolls the staged namespace back.  Past the commit, or when the instance's answer was lost,
    nothing may be undone any more: the error says that ``doctor --fix`` finishes it."""
    from iris_ops import signals
    from iris_ops.operations.restore_journal import COMMITTED, remove_journal

    try:
        with signals.point_of_no_return(f"the restore into {replacement.namespace}"):
            op.runner.run(script, timeout=op.settings.transfer_timeout)
    except ScriptError as exc:
        if exc.details.get("step") in ("guard", "commit"):
            raise
        undo.disarm()
        _finish_later(exc, f"; the new namespace {replacement.namespace} is verified and was taking the place of "
                      "the old one")
        raise
    except IrisOpsError as exc:
        undo.disarm()
        _finish_later(exc, f"; it is not known how far the new namespace {replacement.namespace} got in taking "
                      "the place of the old one")
        raise
    undo.disarm()
    for item in planned:
        item.name = item.final
    remove_journal(journal, COMMITTED)


def _finish_later(exc: IrisOpsError, what: str) -> None:
    exc.message += what
    exc.args = (exc.message,)
    exc.fix = ("Run `iris-ops doctor --fix` once the instance answers: it finishes the replacement, or, if it "
               "never began, rolls the new namespace back and keeps the old one.")


def roll_forward(op: "Operation", mgr: str, namespace: str, doc: dict) -> None:
    """Finish a replacement whose journal is committed (``doctor --fix``): run the swap again
    (each step tolerates what is done), then remove the journal."""
    from iris_ops.operations.restore_journal import COMMITTED, UNDER_WAY, journal_path
    from iris_ops.script_builders.replace import swap
    from iris_ops.script_builders.restore import Guard

    old = doc["replaces"]
    path = journal_path(mgr, namespace, COMMITTED)
    guard = Guard(namespace, (journal_path(mgr, namespace, UNDER_WAY), path), doc["token"], op.settings.timeout)
    op.runner.run(swap(namespace, guard, journal_path(mgr, namespace, UNDER_WAY), path, doc["creates"],
                       [(d["name"], d["final"], d["directory"]) for d in doc["databases"]],
                       old["globals"], old["routines"],
                       [(d["name"], d["directory"], d.get("resource") or "") for d in old["databases"]],
                       [names.directory(d) for d in old.get("directories", [])]),
                  timeout=op.settings.transfer_timeout)
    op.runner.run(script_builders.remove_file(path))


def recover(op: "Operation", mgr: str, entry: str, pending: set[str]) -> "Leftover | None":
    """Doctor's view of ``<mgr>/<entry>`` when it is a restore journal, else None; the databases
    it lists are added to ``pending`` (this finding covers them)."""
    from iris_ops.leftovers import Leftover
    from iris_ops.operations import restore_journal as rj

    found = rj.recognise(entry)
    if found is None:
        return None
    namespace, state = found
    path = rj.journal_path(mgr, namespace, state)
    try:
        doc = rj.read(op, path, namespace)
        if state == rj.COMMITTED and not (doc.get("replaces") and doc.get("token")):
            raise ValueError("a committed journal without what it replaces")
        pending |= rj.listed_databases(doc)
    except (IrisOpsError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return Leftover("restore", path, f"an unreadable restore journal ({exc})", "none: read it and clean up by hand")
    what = ", ".join(rj.what_it_created(doc))
    if state == rj.COMMITTED:
        final = ", ".join(d["final"] for d in doc["databases"])
        return Leftover("restore", path,
                        f"a restore --force into {namespace} stopped while the new namespace (verified) took the "
                        "place of the old one",
                        f"finish it: namespace {namespace} with databases {final}; the old databases removed",
                        lambda: roll_forward(op, mgr, namespace, doc))
    began = " (its rollback began)" if state == rj.ROLLING_BACK else ""
    kept = f"; namespace {namespace} as it was is kept" if doc.get("replaces") else ""
    return Leftover("restore", path, f"a restore into {namespace} never finished{began}; it may have created {what}",
                    f"roll it back: {what} removed{kept}",
                    lambda: rj.roll_back(op, mgr, namespace, state, doc))
