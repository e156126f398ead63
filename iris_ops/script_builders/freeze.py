"""The write daemon: IsWDSuspended, the command-line thaw, and the arguments ExternalFreeze has."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from iris_ops import objectscript as o
from iris_ops.objectscript import Code, Script, call, check_status, check_true, func, lit, method, op, prop, result, set_, var
from .common import FILE, read_small_file

__all__ = [
    "wd_suspended", "thaw_entry", "FREEZE_ARGUMENTS", "FREEZE_ARGUMENTS_MISSING", "argument_checks",
    "freeze_arguments", "FREEZE_RECORD", "FREEZE_LOCK", "FreezeOwner", "record_freeze", "release_record",
    "release_freeze", "freeze_state",
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


# --- who froze: the record a freezing backup keeps in the manager directory ------------------

#: ``<mgr>/iris-ops-freeze.json``: written by the freezing session right after its
#: ExternalFreeze succeeded, removed by whoever thaws that freeze, just before the thaw.
FREEZE_RECORD = "iris-ops-freeze.json"
#: The lock every freezing backup holds for its whole run (see :mod:`iris_ops.locks`).
FREEZE_LOCK = o.global_ref("IRISOPS.Lock", "*freeze")


@dataclass(frozen=True)
class FreezeOwner:
    """Who freezes: a random ``token`` (one per backup) and this iris-ops process."""

    token: str
    host: str
    pid: int

    @classmethod
    def new(cls) -> "FreezeOwner":
        import os
        import secrets
        import socket

        return cls(secrets.token_hex(8), socket.gethostname(), os.getpid())


def _record_path() -> Code:
    return op(call(FILE, "ManagerDirectory"), "_", lit(FREEZE_RECORD))


def record_freeze(owner: FreezeOwner, limit: int) -> list[Code]:
    """Statements writing the record of a freeze that just succeeded: the token, the freezing
    session's ``$JOB``, this iris-ops process (host, pid), when (``$ZTimeStamp``, UTC) and the
    WDSuspendLimit that ends the freeze at the latest.  Set ``recorded`` to 1 (and the result
    ``recorded``) once the file is complete."""
    rec, file = var("frec"), var("ffile")
    return [
        set_(rec, o.dynamic_object(tool=lit("iris-ops"), token=lit(owner.token), job=o.SPECIAL["$JOB"],
                                   host=lit(owner.host), pid=int(owner.pid), operation=lit("backup"),
                                   since=o.SPECIAL["$ZTimeStamp"], limit=int(limit))),
        set_(file, call(FILE, "%New", _record_path())),
        check_status(method(file, "Open", lit("WSN"))),
        check_status(method(file, "Write", method(rec, "%ToJSON"))),
        o.do(method(file, "Close")),
        o.kill(file, rec),
        set_(var("recorded"), 1),
        result("recorded", 1),
    ]


def _read_record(into: Code) -> list[Code]:
    """Statements setting ``fhas`` to 1 when a record file is there, leaving its parsed object in
    ``into`` ("" when there is none or it does not parse) and its text in the result ``record``."""
    text = var("ftxt")
    return [
        set_(into, lit("")),
        set_(var("fhas"), call(FILE, "Exists", _record_path())),
        o.if_(var("fhas"),
              *read_small_file(_record_path(), text),
              result("record", text),
              o.try_(set_(into, call("%Library.DynamicObject", "%FromJSON", text)))),
    ]


def release_record(token: str) -> list[Code]:
    """Statements removing the record if it is ``token``'s: ``released`` is 1 when they removed
    it (also a result), and the result ``foreign`` is 1 when a record of another freeze (or one
    that does not parse) is there.  The record goes *before* the thaw: a thaw cut short then
    leaves a freeze with no record (never thawed by doctor, ended by WDSuspendLimit), never a
    record that would make a later freeze look like iris-ops'."""
    rec, mine = var("frel"), var("fmine")
    return [
        set_(var("released"), 0),
        set_(mine, 0),
        *_read_record(rec),
        o.if_(op(rec, "'=", lit("")), o.try_(set_(mine, op(method(rec, "%Get", lit("token")), "=", lit(token))))),
        o.if_(var("fhas"), o.if_(
            mine,
            check_true(call(FILE, "Delete", _record_path()), f"cannot remove the freeze record {FREEZE_RECORD}"),
            set_(var("released"), 1),
            result("released", 1),
            else_=[result("foreign", 1)])),
        o.kill(rec),
    ]


def release_freeze(token: str) -> Script:
    """Removes ``token``'s freeze record (see :func:`release_record`) and reads the write daemon.
    Result: ``released``, ``foreign``, ``record`` (the text found), ``suspended``."""
    script = Script("%SYS", purpose="release the freeze record")
    script.step("record", *release_record(token))
    script.step("check", result("suspended", call("Backup.General", "IsWDSuspended")))
    return script


def freeze_state() -> Script:
    """Read-only.  Who froze the instance, for doctor.  Result: ``suspended``; ``record`` (the
    record's text, when there is one); ``job`` and ``job_alive`` (``$Data(^$JOB(job))``) when it
    parses and names a job; ``lock_owner`` (the ``$JOB`` holding iris-ops' freeze lock, "" when
    no freezing backup runs); ``now`` (``$ZTimeStamp``, to compare with the record's ``since``)."""
    rec, job = var("fst"), var("fjob")
    script = Script("%SYS", purpose="find who froze the instance")
    script.step(
        "state",
        result("suspended", call("Backup.General", "IsWDSuspended")),
        result("now", o.SPECIAL["$ZTimeStamp"]),
        result("lock_owner", o.lock_owner(FREEZE_LOCK)),
        *_read_record(rec),
        o.if_(op(rec, "'=", lit("")), o.try_(
            set_(job, method(rec, "%Get", lit("job"))),
            o.if_(op(job, "'=", lit("")), result("job", job), result("job_alive", o.job_exists(job))))),
    )
    return script
