"""``LOCK`` and ``^$LOCK`` for the simulated interpreter (ObjectScript Reference: LOCK, ^$LOCK).

[DOC] what is simulated:

* ``Lock +^name:t`` adds an increment of an exclusive lock; ``#"S"`` makes it shared.
  ``Lock -^name`` removes one increment (``#"S"`` the shared one).  ``Lock ^name`` (no sign)
  first releases every lock the process holds.  Argumentless ``Lock`` releases them all.
* Without a timeout a LOCK waits for ever.  With one (seconds, fractions allowed; negative is 0;
  0 is one attempt) it sets ``$TEST`` to 1 when the lock was applied and to 0 when it timed out.
  An untimed LOCK leaves ``$TEST`` alone.
* Locks die with the process (see :mod:`..instance.locktable`).
* ``^$LOCK(name,"OWNER")`` is the pid of the owner, ``^$LOCK(name,"MODE")`` is ``X`` or ``S``
  (``""`` for a name nobody holds); ``$ORDER(^$LOCK(name))`` is the next held lock name.

[UNV] what is not verified, and the stricter or simpler choice made:

* ``#"E"``, ``#"I"``, ``#"D"`` types, local lock names, ``LOCK (a,b)`` lists, extended
  references and ``^$LOCK`` info types other than OWNER and MODE: ``<UNIMPLEMENTED>``.
* Lock names in ``^$LOCK`` are ordered as strings, not by subscript collation; a name held
  shared by several processes shows one owner.
* ``^$LOCK(name)`` without an info type outside ``$ORDER``: ``<FUNCTION>``.
* Unlocking a name the process does not hold does nothing.
* Inside a transaction IRIS defers the release of a lock until the transaction ends; the
  simulator does not defer: a release inside one (``Lock -``, ``Lock ^name``, argumentless
  ``Lock``) is ``<UNIMPLEMENTED>``.
"""

from __future__ import annotations

from .runtime import IrisError, Process
from .values import format_ref, subscript, to_num, to_str

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any, Protocol

    from ..instance.locktable import LockTable
else:
    Protocol = object  # InterpreterView is a Protocol for type checkers only

__all__ = ["InterpreterView", "release_everything", "run_lock", "lock_info", "lock_order"]


class InterpreterView(Protocol):
    """What LOCK needs of :class:`.interpreter.Interpreter` (whose modules import this one): its
    process, expression evaluation, and ``$TEST``."""

    proc: Process
    test: int

    def eval(self, node: Any) -> Any: ...


def _table(interp: "InterpreterView") -> "LockTable":
    """This process's table for its namespace's globals database."""
    from ..instance.locktable import LockTable

    proc = interp.proc
    tables: dict = proc.__dict__.setdefault("lock_tables", {})
    instance = proc.instance
    try:
        database = instance.read_config()["Namespaces"][proc.namespace]["Globals"]
        directory = instance.fs.host_path(instance.sim_directory + "/locks")
    except (AttributeError, KeyError) as exc:  # a test double without a configuration
        raise IrisError("UNIMPLEMENTED", "*LOCK needs a simulated instance") from exc
    if database not in tables:
        tables[database] = LockTable(directory, database)
    return tables[database]


def release_everything(interp: "InterpreterView") -> None:
    for table in interp.proc.__dict__.get("lock_tables", {}).values():
        table.release_all()


def run_lock(interp: "InterpreterView", items: list[dict] | None) -> None:
    """One LOCK command (parsed by ``parser.cmd_lock``)."""
    if interp.proc.in_transaction and (items is None or any(item["op"] != "+" for item in items)):
        raise IrisError("UNIMPLEMENTED", "*simulator does not defer lock releases inside a transaction")
    if items is None:
        release_everything(interp)
        return
    for item in items:
        name = format_ref(item["name"], [subscript(interp.eval(s)) for s in item["subs"]])
        shared = False
        if item["type"] is not None:
            letters = to_str(interp.eval(item["type"])).upper()
            if letters not in ("", "S"):
                raise IrisError("UNIMPLEMENTED", f'*simulator does not run lock type "{letters}"')
            shared = letters == "S"
        timeout = None
        if item["timeout"] is not None:
            seconds = float(to_num(interp.eval(item["timeout"])))
            timeout = 0.0 if seconds < 0.01 else seconds
        table = _table(interp)
        if item["op"] == "-":
            table.release(name, shared)
            continue
        if item["op"] == "":
            release_everything(interp)
        got = table.acquire(name, shared, timeout)
        if timeout is not None:
            interp.test = 1 if got else 0


def lock_info(interp: "InterpreterView", args: list) -> Any:
    """``^$LOCK(name,info_type)``."""
    if len(args) < 2:
        raise IrisError("FUNCTION")
    name = to_str(interp.eval(args[0]))
    info = to_str(interp.eval(args[1]))
    owner = next((o for o in _table(interp).owners() if o.name == name), None)
    if info == "OWNER":
        return owner.pid if owner else ""
    if info == "MODE":
        return owner.mode if owner else ""
    raise IrisError("UNIMPLEMENTED", f"*simulator does not answer ^$LOCK info type {info}")


def lock_order(interp: "InterpreterView", args: list, direction: int) -> str:
    """``$ORDER(^$LOCK(name),direction)``: the next (or previous) held lock name, or ``""``."""
    if len(args) != 1:
        raise IrisError("SYNTAX")
    after = to_str(interp.eval(args[0]))
    names = [o.name for o in _table(interp).owners()]
    if direction == -1:
        names.reverse()
    for name in names:
        if after == "" or (name > after if direction == 1 else name < after):
            return name
    return ""
