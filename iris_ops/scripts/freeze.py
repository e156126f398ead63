"""The write daemon: IsWDSuspended and the command-line thaw."""

from __future__ import annotations

from iris_ops import objectscript as o
from iris_ops.objectscript import Script, call, result


def wd_suspended() -> Script:
    """Read-only.  Result: ``suspended`` (Backup.General.IsWDSuspended)."""
    script = Script("%SYS", purpose="check the write daemon")
    script.step("check", result("suspended", call("Backup.General", "IsWDSuspended")))
    return script


def thaw_entry() -> str:
    """The command-line thaw (exit status 5 on success, 3 on failure: IRIS.md §4)."""
    return o.argument_call("Backup.General", "ExternalThaw")
