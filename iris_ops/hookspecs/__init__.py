"""Hook specifications: every extension point of iris-ops.

Plugins implement these with the :data:`iris_ops.hookimpl` marker, by name.  Built-in plugins
(backup, restore, delete-ns, validate, the transports) use exactly the same hooks and are
registered through the same call as installed plugins; built-in implementations of
``firstresult`` hooks are ``trylast`` so an installed plugin can take over.

Hooks are always called with keyword arguments; an implementation may accept any subset of
the parameters documented below.

One module per phase, in the order they come into play: :mod:`.startup`, :mod:`.transports`,
:mod:`.operations`, :mod:`.state`, :mod:`.doctor` and :mod:`.simulator`.  This package holds them all, so
``pm.add_hookspecs(iris_ops.hookspecs)`` registers every one.
"""

from iris_ops.hookspecs import doctor, operations, simulator, startup, state, transports
from iris_ops.hookspecs.startup import config_defaults, register_tasks
from iris_ops.hookspecs.transports import (
    run_objectscript,
    exec_argument_call,
    open_session,
    read_file,
    write_file,
    write_files,
    remove_path,
    list_directory,
    reflink_files,
    probe_reflink,
)
from iris_ops.hookspecs.operations import (
    pre_backup,
    post_backup,
    pre_restore,
    post_restore,
    pre_delete,
    post_delete,
    validate,
)
from iris_ops.hookspecs.doctor import doctor_findings
from iris_ops.hookspecs.state import state_kinds
from iris_ops.hookspecs.simulator import start_simulated_instance
from iris_ops.hookspecs.marker import hookspec

#: the modules, in the order of the phases (docs/hooks.md follows it)
PHASES = (startup, transports, operations, state, doctor, simulator)

__all__ = [
    "PHASES", "hookspec", "config_defaults", "register_tasks", "run_objectscript",
    "exec_argument_call", "open_session", "read_file", "write_file", "write_files", "remove_path",
    "list_directory", "reflink_files", "probe_reflink", "pre_backup", "post_backup", "pre_restore",
    "post_restore", "pre_delete", "post_delete", "validate", "state_kinds", "doctor_findings",
    "start_simulated_instance",
]
