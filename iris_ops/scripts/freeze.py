"""The write daemon: IsWDSuspended, the command-line thaw, and the arguments ExternalFreeze has."""

from __future__ import annotations

from iris_ops import objectscript as o
from iris_ops.objectscript import Script, call, func, lit, op, prop, result, set_, var


def wd_suspended() -> Script:
    """Read-only.  Result: ``suspended`` (Backup.General.IsWDSuspended)."""
    script = Script("%SYS", purpose="check the write daemon")
    script.step("check", result("suspended", call("Backup.General", "IsWDSuspended")))
    return script


def thaw_entry() -> str:
    """The command-line thaw (exit status 5 on success, 3 on failure: IRIS.md §4)."""
    return o.argument_call("Backup.General", "ExternalThaw")


#: The arguments the freeze script passes, by position in ExternalFreeze's FormalSpec (1-based).
FREEZE_ARGUMENTS = {"ExternalFreezeTimeOut": 7, "WDSuspendLimit": 10}


def freeze_arguments() -> Script:
    """Read-only.  Whether this version's Backup.General.ExternalFreeze has the arguments the
    freeze script passes, at the positions it passes them: ``known`` (0 when its FormalSpec
    cannot be read), ``spec``, and for each name of :data:`FREEZE_ARGUMENTS` 1 or 0."""
    script = Script("%SYS", purpose="check ExternalFreeze's arguments")
    m, spec = var("m"), var("spec")
    script.step(
        "spec",
        set_(spec, lit("")),
        o.try_(
            set_(m, call("%Dictionary.CompiledMethod", "%OpenId", lit("Backup.General||ExternalFreeze"))),
            o.if_(op(m, "'=", lit("")), set_(spec, prop(m, "FormalSpec"))),
        ),
        result("known", op(spec, "'=", lit(""))),
        result("spec", spec),
        *[result(name, op(func("$Piece", func("$Piece", spec, lit(","), position), lit(":"), 1), "=", lit(name)))
          for name, position in FREEZE_ARGUMENTS.items()],
    )
    return script
