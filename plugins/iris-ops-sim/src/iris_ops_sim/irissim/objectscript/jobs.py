"""``^$JOB`` for the simulated interpreter (ObjectScript Reference: ^$JOB).

[DOC] ``$DATA(^$JOB(job_number))`` is 1 when the job exists, 0 when it does not; job_number
"must be specified as an integer".  The table itself is :mod:`..instance.jobtable`.

[UNV] what is not simulated: ``$ORDER`` and ``$QUERY`` of ``^$JOB`` (``<UNIMPLEMENTED>``), and
``^$JOB`` anywhere but as the argument of ``$DATA`` (``<UNIMPLEMENTED>``); a job number that is
not an integer is ``<ILLEGAL VALUE>``; the table covers the instance's ``iris session`` processes.
"""

from __future__ import annotations

from .runtime import IrisError
from .values import to_num

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from .locking import InterpreterView  # what LOCK needs of the interpreter is what this needs

__all__ = ["job_data"]


def job_data(interp: "InterpreterView", args: list) -> int:
    """``$DATA(^$JOB(job))``."""
    from ..instance import jobtable

    if len(args) != 1:
        raise IrisError("SYNTAX")
    number = to_num(interp.eval(args[0]))
    if not isinstance(number, int) and not (isinstance(number, float) and number.is_integer()):
        raise IrisError("ILLEGAL VALUE")
    job = int(number)
    if job == interp.proc.job:
        return 1
    return 1 if jobtable.exists(jobtable.location(interp.proc.instance), job) else 0
