"""The command line: the task collection, and the ``iris-ops`` entry point.

``iris-ops`` is :class:`iris_ops.program.IrisOpsProgram` serving the collection that
:func:`build_collection` assembles from every plugin's ``register_tasks``; a project's
``tasks.py`` exposes the very same collection to ``inv``.  Tasks are made with
:func:`iris_ops.task.task`, which turns errors into exit codes and messages under both.
"""

from __future__ import annotations

import sys

import invoke
from invoke import Collection

from iris_ops import __version__, flags, outcome
from iris_ops.errors import IrisOpsError
# Public since 0.1 (docs/plugins.md): plugins and projects' tasks.py import the decorator and the
# flags `target=True` adds from here too.
from iris_ops.task import TARGET_FLAGS, task

__all__ = ["build_collection", "make_program", "main", "task", "TARGET_FLAGS", "PROGRAM_NAME"]

PROGRAM_NAME = outcome.PROGRAM_NAME


def build_collection(disabled: list[str] | None = None, *, pm=None) -> Collection:
    """The task collection of every registered plugin (or of ``pm``'s).  No I/O beyond reading
    plugin metadata and the project config file; imports neither docker nor iris."""
    from iris_ops.manager import BUILTIN_PLUGINS, get_plugin_manager, warn_once
    from iris_ops.registrar import TaskRegistrar

    pm = pm or get_plugin_manager(disabled)
    registrar = TaskRegistrar()

    # Built-ins claim their names first: a plugin reusing one loses its task, not the tool.
    impls = sorted(pm.hook.register_tasks.get_hookimpls(), key=lambda i: i.plugin_name not in BUILTIN_PLUGINS)
    for impl in impls:
        try:
            impl.function(registrar=registrar.for_plugin(impl.plugin_name))
        except IrisOpsError as exc:  # one plugin's tasks are lost, never the tool
            if impl.plugin_name in BUILTIN_PLUGINS:
                raise
            warn_once(impl.plugin_name, "register_tasks", exc)
    collection = registrar.populate(Collection())
    for name in collection.task_names:
        flags.remember_help(collection[name])
        collection[name].typed_name = name  # `delete-ns`, `sim.create-db`: not the function's name
    return collection


def make_program() -> invoke.Program:
    from iris_ops.program import IrisOpsProgram

    return IrisOpsProgram(
        name=PROGRAM_NAME,
        binary=PROGRAM_NAME,
        binary_names=[PROGRAM_NAME],
        version=__version__,
        namespace=build_collection(),
    )


def main(argv: list[str] | None = None) -> None:
    try:
        program = make_program()
    except IrisOpsError as exc:  # a broken plugin or config file, before any task
        outcome.print_plain_error(exc)
        if "--json" in (argv or sys.argv)[1:]:
            outcome.write_json(outcome.failure_document(exc))
        sys.exit(exc.exit_code)
    program.run(argv)
