"""iris-ops-security: the first pains of a fresh IRIS container (expired passwords, a disabled
service: %Service_Bindings for the external Python driver, %Service_CallIn for embedded Python
and callin programs), solved with nothing but iris-ops' public hooks, its task registrar and its
ObjectScript helpers; and the roles, users and services of iris-ops' desired state (``plan``,
``apply``), through the ``state_kinds`` hook.  See README.md.

Importing this module stays cheap: no docker, no iris, no script is built until a task runs.
"""

from __future__ import annotations

from iris_ops import hookimpl

__all__ = ["TASKS", "register_tasks", "doctor_findings", "state_kinds"]

__version__ = "0.1.0"

#: Task name -> function name in :mod:`iris_ops_security.tasks`.
TASKS = {
    "unexpire-passwords": "unexpire_passwords",
    "set-password": "set_password",
    "create-user": "create_user",
    "enable-service": "enable_service",
    "disable-service": "disable_service",
    "security-report": "security_report",
}


@hookimpl
def register_tasks(registrar):
    from . import tasks

    for name, function in TASKS.items():
        registrar.add_task(getattr(tasks, function), name=name)


@hookimpl
def doctor_findings(operation, manager_directory, entries):
    from . import secret

    return secret.leftovers(operation, manager_directory, entries)


@hookimpl
def state_kinds():
    from .kinds import ROLES, SERVICES, USERS

    return [ROLES, USERS, SERVICES]
