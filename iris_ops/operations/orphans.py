"""Doctor's findings about databases a restore created that nothing uses any more.

delete-ns keeps a database another namespace needs (a mapping, say); once that need goes, no
command would remove it.  Doctor reports each configured database that

* an iris-ops restore created: its directory holds the provenance file restore writes there
  (:data:`iris_ops.operations.restore_journal.MARKER`), and that file names this very database;
* no namespace names (Globals, Routines or another database property), no global, routine or
  package mapping uses (``%ALL`` included), and no other database configuration shares the
  directory of (the test delete-ns makes, :func:`iris_ops.script_builders.database_users`);
* no unfinished restore or delete-ns lists (their own findings cover those).

``--fix`` removes it as delete-ns would (configuration, mount, IRIS.DAT, directory, and its
label's resource when a restore created it and nothing else names it), after looking once more
that nothing took it into use meanwhile.  A database without the provenance file is never
reported, whatever uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iris_ops import names, script_builders
from iris_ops.errors import InvalidNameError
from iris_ops.leftovers import Leftover

if TYPE_CHECKING:
    from iris_ops.operation import Operation

__all__ = ["findings"]


def findings(op: "Operation", pending: set[str]) -> list[Leftover]:
    """``pending``: database names an unfinished restore or delete-ns lists."""
    from iris_ops.operations.restore_journal import MARKER

    restored = op.runner.run(script_builders.restored_databases(MARKER), changes=False).get("restored") or []
    candidates = []
    for name, directory, marked, resource in restored:
        name = str(name).upper()
        if str(marked).upper() != name or name in pending or names.is_system_database(name):
            continue
        try:
            candidates.append((names.database(name), names.directory(str(directory)), str(resource or "")))
        except InvalidNameError:
            continue
    if not candidates:
        return []
    users = _users(op, candidates)
    return [Leftover("orphan-db", f"{name} ({directory})",
                     "a database an iris-ops restore created, which no namespace, mapping or other database uses any more",
                     "remove it as delete-ns would: configuration, mount, IRIS.DAT and directory"
                     + (f", and resource {resource} if a restore created it and nothing else names it" if resource else ""),
                     lambda item=(name, directory, resource): _remove(op, item))
            for name, directory, resource in candidates if not users.get(name)]


def _users(op: "Operation", dbs: list[tuple[str, str, str]]) -> dict:
    return op.runner.run(script_builders.database_users(None, [(n, d) for n, d, _ in dbs]), changes=False)["users"]


def _remove(op: "Operation", item: tuple[str, str, str]) -> None:
    name = item[0]
    now = _users(op, [item]).get(name)
    if now:  # taken into use since doctor looked: it is no orphan any more
        op.log.warning("doctor.kept_database", database=name, users=now)
        return
    op.runner.run(script_builders.delete_all(None, [item]))
