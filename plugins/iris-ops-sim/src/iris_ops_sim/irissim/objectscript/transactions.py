"""``TSTART``, ``TCOMMIT``, ``TROLLBACK`` and ``$TLEVEL`` for the simulated interpreter.

[DOC] ObjectScript Reference (TSTART, TCOMMIT, TROLLBACK, HALT) and ``%SYS.ProcessQuery``:

* ``TSTART`` increments ``$TLEVEL`` (at most 255 levels: ``<TRANSACTION LEVEL>`` beyond); the
  outermost one writes a begin record to the journal, and ``%SYS.ProcessQuery.InTransaction``
  is from then on the journal offset where the transaction began (above 0), 0 outside one.
* ``TCOMMIT`` decrements ``$TLEVEL``; the transaction is committed when it reaches 0.
  ``TCOMMIT`` outside a transaction is ``<COMMAND>``.
* ``TROLLBACK`` undoes every level and sets ``$TLEVEL`` to 0; ``TROLLBACK 1`` undoes the
  innermost level.  Outside a transaction it does nothing.
* A process that ends inside a transaction (``Halt`` of a non-interactive process, the end of
  its input) has it rolled back.

What the simulator does, and where it is stricter or simpler [SIM]:

* Updates are SQL statements (globals are not simulated).  Each one made inside a transaction
  keeps the database image it replaced; a rollback puts it back.  IRIS undoes logically, record
  by record, so other processes' updates to the same database survive; the simulator cannot:
  when another process wrote that database since, the rollback is ``<UNIMPLEMENTED>``.
* [UNV] IRIS asks an interactive process that halts in a transaction whether to commit; an
  ``iris session`` fed by a pipe is treated as a background job here (rolled back).
* A process killed by a signal leaves its updates in place (IRIS's clean-up daemon would roll
  them back from the journal); its transaction disappears from ``%SYS.ProcessQuery`` with it.
"""

from __future__ import annotations

from .runtime import IrisError

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from .runtime import Process

__all__ = ["MAX_LEVEL", "tstart", "tcommit", "trollback", "journal", "end_of_process"]

MAX_LEVEL = 255


def _digest(image: bytes) -> str:
    import hashlib  # lazily: most sessions open no transaction, and OpenSSL's hashes cost each one a load

    return hashlib.sha1(image).hexdigest()


def tstart(proc: "Process") -> None:
    if proc.in_transaction >= MAX_LEVEL:
        raise IrisError("TRANSACTION LEVEL")
    if proc.in_transaction == 0:
        begin = getattr(proc.instance, "begin_transaction", None)
        if begin is None:  # a test double without an instance state
            raise IrisError("UNIMPLEMENTED", "*TSTART needs a simulated instance")
        begin(proc.job, proc.namespace)
        proc.undo = []
    proc.undo.append([])
    proc.in_transaction += 1


def tcommit(proc: "Process") -> None:
    if proc.in_transaction == 0:
        raise IrisError("COMMAND")
    done = proc.undo.pop()
    proc.in_transaction -= 1
    if proc.in_transaction:
        proc.undo[-1].extend(done)  # an outer TROLLBACK still undoes what this level committed
    else:
        proc.instance.end_transaction(proc.job)


def trollback(proc: "Process", one: bool = False) -> None:
    if proc.in_transaction == 0:
        return
    try:
        for _ in range(1 if one else proc.in_transaction):
            entries = proc.undo.pop()
            proc.in_transaction -= 1
            for directory, before, after in reversed(entries):
                _undo(proc, directory, before, after)
    finally:
        if proc.in_transaction == 0:
            proc.instance.end_transaction(proc.job)


def _undo(proc: "Process", directory: str, before: bytes, after: str) -> None:
    with proc.instance.writing([directory]) as boxes:
        box = boxes[directory]
        if _digest(box["image"]) != after:
            raise IrisError("UNIMPLEMENTED",
                            f"*simulator cannot roll back: another process updated {directory} since")
        box["image"] = before


def journal(proc: "Process", images: dict[str, tuple[bytes, bytes]]) -> None:
    """Record an update made inside a transaction: ``{directory: (before, after)}``."""
    if proc.in_transaction:
        proc.undo[-1].extend((d, before, _digest(after)) for d, (before, after) in images.items() if before != after)


def end_of_process(proc: "Process") -> None:
    """The process ends (Halt, end of input): an open transaction is rolled back (a rollback the
    simulator cannot do is shown, as an error at the end of the output)."""
    if proc.in_transaction:
        try:
            trollback(proc)
        except IrisError as e:
            proc.write(f"\n{e.zerror}\n")
