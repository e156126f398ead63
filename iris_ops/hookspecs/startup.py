"""Hook specifications of start-up: the settings plugins add, and their tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iris_ops.hookspecs.marker import hookspec

if TYPE_CHECKING:
    from iris_ops.registrar import TaskRegistrar

__all__ = ["config_defaults", "register_tasks"]


# -------------------------------------------------------------------------------------------
# Start-up: configuration and tasks
# -------------------------------------------------------------------------------------------


@hookspec
def config_defaults() -> dict[str, Any]:
    """Return default values for settings this plugin adds (or changes).

    Called once when settings are loaded, before the project file, the ``IRIS_OPS_*``
    environment variables and task flags are applied on top.  Keys are setting names
    (``snake_case``); each becomes configurable as ``IRIS_OPS_<NAME>`` and in the project file.

    Takes no parameters.

    Example::

        @hookimpl
        def config_defaults():
            # now settable as IRIS_OPS_PROTECTED_NAMESPACES=PROD,BILLING or in iris-ops.toml
            return {"protected_namespaces": []}
    """


@hookspec
def register_tasks(registrar: "TaskRegistrar") -> None:
    """Contribute invoke tasks to the ``iris-ops`` / ``inv`` collection.

    Called once while the task collection is built, which must do no I/O and import neither
    ``docker`` nor ``iris`` (keep heavy imports inside task bodies).

    :param registrar: call ``registrar.add_task(task)`` or ``registrar.add_collection(coll)``.
        Two plugins registering the same task name is an error naming both.

    Example::

        from iris_ops.task import task

        @task(required=("ns",), help={"ns": "namespace to greet"})
        def hello(c, ns=""):
            "Say hello to a namespace."
            print(f"hello {ns}")

        @hookimpl
        def register_tasks(registrar):
            registrar.add_task(hello)
    """
