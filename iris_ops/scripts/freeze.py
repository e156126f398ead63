"""The write daemon: IsWDSuspended, the command-line thaw, and the arguments ExternalFreeze has."""

from __future__ import annotations

import functools

from iris_ops import objectscript as o
from iris_ops.objectscript import Code, Script, call, func, lit, op, prop, result, set_, var

__all__ = [
    "wd_suspended", "thaw_entry", "FREEZE_ARGUMENTS", "FREEZE_ARGUMENTS_MISSING", "argument_checks",
    "freeze_arguments",
]


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


#: Thrown by the ``arguments`` step of the freeze script when ExternalFreeze lacks one of them.
FREEZE_ARGUMENTS_MISSING = "this version's Backup.General.ExternalFreeze lacks an argument the freeze passes"


def argument_checks(*, refuse: bool = False) -> list[Code]:
    """Statements that record whether ExternalFreeze has the arguments the freeze passes, at the
    positions it passes them: ``known`` (0 when its FormalSpec cannot be read), ``spec``, and for
    each name of :data:`FREEZE_ARGUMENTS` 1 or 0.  With ``refuse``, a known spec that lacks one
    of them throws :data:`FREEZE_ARGUMENTS_MISSING` (an unknown one does not: the caller says so)."""
    m, spec, ok = var("m"), var("spec"), var("argsok")
    checks = {name: op(func("$Piece", func("$Piece", spec, lit(","), position), lit(":"), 1), "=", lit(name))
              for name, position in FREEZE_ARGUMENTS.items()}
    code: list[Code] = [
        set_(spec, lit("")),
        o.try_(
            set_(m, call("%Dictionary.CompiledMethod", "%OpenId", lit("Backup.General||ExternalFreeze"))),
            o.if_(op(m, "'=", lit("")), set_(spec, prop(m, "FormalSpec"))),
        ),
        result("known", op(spec, "'=", lit(""))),
        result("spec", spec),
        *[result(name, check) for name, check in checks.items()],
    ]
    if refuse:
        code.append(set_(ok, functools.reduce(lambda a, b: op(a, "&", b), checks.values())))
        code.append(o.if_(op(op(spec, "'=", lit("")), "&", o.not_(ok)), o.throw(lit(FREEZE_ARGUMENTS_MISSING))))
    return code


def freeze_arguments() -> Script:
    """Read-only.  Whether this version's Backup.General.ExternalFreeze has the arguments the
    freeze script passes (:func:`argument_checks`; the freeze script checks them itself)."""
    script = Script("%SYS", purpose="check ExternalFreeze's arguments")
    script.step("spec", *argument_checks())
    return script
