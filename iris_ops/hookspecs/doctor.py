"""Hook specifications of the doctor: what an interrupted run left behind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iris_ops.hookspecs.marker import hookspec

if TYPE_CHECKING:
    from iris_ops.leftovers import Leftover
    from iris_ops.operation import Operation

__all__ = ["doctor_findings"]


# -------------------------------------------------------------------------------------------
# Doctor: what an interrupted run left behind.
# -------------------------------------------------------------------------------------------


@hookspec
def doctor_findings(operation: "Operation", manager_directory: str, entries: list[str]) -> "list[Leftover] | None":
    """Report what an interrupted run of this plugin's tasks (``kill -9``, a lost container) left
    in the instance, for ``iris-ops doctor``.

    Every implementation runs; the findings are shown with doctor's own, doctor exits 4 while any
    remains, and ``doctor --fix`` calls each finding's ``action`` after confirmation (``--yes``:
    without asking), then looks again.  Report only what the plugin itself creates, recognised by
    a name only it gives, and repair only that: doctor never touches anything iris-ops did not
    create.  Called after doctor's own checks of the manager directory; not in a dry run.

    :param operation: the running ``doctor`` operation (``operation.runner`` reaches the instance).
    :param manager_directory: the instance's manager directory, ending in ``/``.
    :param entries: the names in it (a directory's ends in ``/``), listed once by doctor.
    :returns: a list of :class:`iris_ops.leftovers.Leftover` (``kind``, ``where``,
        ``problem``, ``repair``, ``action``; ``action=None`` reports what iris-ops must not
        repair), or None.

    Example::

        import re
        from iris_ops.leftovers import Leftover

        @hookimpl
        def doctor_findings(operation, manager_directory, entries):
            found = []
            for entry in entries:
                if re.fullmatch(r"my-plugin-tmp-[0-9a-f]{16}/", entry):
                    path = manager_directory + entry
                    found.append(Leftover("my-plugin", path, "a temporary directory of an interrupted run",
                                          "remove the directory", lambda p=path: operation.runner.remove_path(p)))
            return found
    """
