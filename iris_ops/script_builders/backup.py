"""The backup scripts: freeze (or dismount) and copy inside the instance, count the copies."""

from __future__ import annotations

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import (
    Code,
    Script,
    call,
    check_status,
    check_true,
    func,
    lit,
    method,
    op,
    prop,
    result,
    set_,
    var,
)
from .common import FILE, file_mode, give_owner_and_mode, table_counts
from .freeze import FreezeOwner, argument_checks, record_freeze, release_record

__all__ = [
    "ALREADY_FROZEN", "FREEZE_EXPIRED", "OPEN_TRANSACTIONS_QUERY", "freeze_and_copy", "copy_and_thaw", "count_staged",
    "dismount_and_copy", "remove_directory",
]


def _copy_steps(script: Script, copies: list[tuple[str, str]]) -> None:
    for index, (source, target) in enumerate(copies):
        src, dst = lit(names.instance_path(source)), lit(names.instance_path(target))
        script.step(
            f"copy{index}",
            check_true(call(FILE, "CopyFile", src, dst), f"copying {source} to {target} failed"),
            o.push(var("copied"), o.dynamic_object(file=dst, bytes=call(FILE, "GetFileSize", dst))),
        )


#: Thrown by the freeze step when someone else's freeze holds (the backup must not thaw it).
ALREADY_FROZEN = "the instance is already frozen: the write daemon is suspended by someone else's ExternalFreeze"
#: Thrown by the ``held`` step when WDSuspendLimit passed during the copy.
FREEZE_EXPIRED = "the write daemon resumed before the copy finished (WDSuspendLimit passed): the copy is not consistent"
#: Open transactions right now.  %SYS.ProcessQuery's InTransaction is an %Integer: 0 outside a
#: transaction, above 0 the journal offset where it began (ref %SYS/ProcessQuery.cls), so a
#: transaction is ``> 0``, never ``= 1``.  The step tolerates the query failing and reports the
#: count as unknown.
OPEN_TRANSACTIONS_QUERY = "SELECT COUNT(*) FROM %SYS.ProcessQuery WHERE InTransaction>0"


def _stage_steps(script: Script, stage: str, copies: list[tuple[str, str]]) -> None:
    """Create the staging directory and each copy's own directory (``<stage>/<NAME>/IRIS.DAT``)."""
    dirs = sorted({names.directory(target.rsplit("/", 1)[0] + "/") for _, target in copies})
    script.step(
        "stage",
        set_(var("frozen"), 0),
        set_(var("copied"), o.new_array()),
        check_true(call(FILE, "CreateDirectoryChain", lit(names.directory(stage, what="staging directory"))),
                   f"cannot create staging directory {stage}"),
        *[check_true(call(FILE, "CreateDirectoryChain", lit(d)), f"cannot create staging directory {d}") for d in dirs],
    )


def _refuse_if_frozen() -> Code:
    return o.if_(call("Backup.General", "IsWDSuspended"), o.throw(lit(ALREADY_FROZEN)))


def _open_transactions() -> list[Code]:
    """Record ``open_transactions`` (a count, or "" with ``open_transactions_error``)."""
    q = var("q")
    return [
        set_(q, call("%SQL.Statement", "%ExecDirect", None, lit(OPEN_TRANSACTIONS_QUERY))),
        o.if_(
            op(prop(q, "%SQLCODE"), "<", 0),
            result("open_transactions", lit("")),
            result("open_transactions_error", prop(q, "%Message")),
            else_=[o.do(method(q, "%Next")), result("open_transactions", method(q, "%GetData", 1))],
        ),
        o.kill(q),
    ]


def freeze_and_copy(stage: str, copies: list[tuple[str, str]], *, freeze_timeout: int, freeze_limit: int,
                    owner: FreezeOwner | None = None, reflink: bool = False) -> Script:
    """Creates ``stage``; refuses if the instance is already frozen; freezes it
    (Backup.General.ExternalFreeze with ExternalFreezeTimeOut and a WDSuspendLimit dead-man switch)
    and records who froze (``owner``: :func:`~iris_ops.script_builders.freeze.record_freeze`);
    records the open transactions; copies each (source, target) inside the instance; proves the
    freeze still held (IsWDSuspended) before thawing; and thaws whatever happened (an ``always``
    step; not when the write daemon already resumed by itself, nor when the record is no longer
    ``owner``'s: someone else thawed this freeze, and the freeze there now is another's).  First of
    all, before anything changes, it checks that ExternalFreeze takes the arguments it passes and
    throws :data:`~iris_ops.script_builders.freeze.FREEZE_ARGUMENTS_MISSING` (step ``arguments``)
    when not: one session fewer than a separate check.  Result: ``copied`` [{file, bytes}],
    ``frozen``, ``recorded``, ``open_transactions``, ``held``, ``released``, ``thawed``, and
    ``known``/``spec``/one flag per argument
    (:func:`~iris_ops.script_builders.freeze.argument_checks`).

    With ``reflink`` it stops once the instance is frozen and recorded (result ``kept``), and
    leaves it frozen: the transport then reflinks the files and :func:`copy_and_thaw`, sent to
    the same session, finishes.  A failure before ``kept`` thaws as above."""
    owner = owner or FreezeOwner.new()
    script = Script("%SYS", purpose="freeze" + ("" if reflink else " and copy"))
    script.step("arguments", *argument_checks(refuse=True))
    _stage_steps(script, stage, copies)
    script.step(
        "freeze",
        _refuse_if_frozen(),
        # When this freeze began, at the latest, by the instance's own clock (see _young).
        set_(var("fsince"), o.SPECIAL["$ZHorolog"]),
        set_(var("flimit"), int(freeze_limit)),
        # ExternalFreeze(LogFile, Text, SwitchJournalFile, TimeOut, Hibernate, Verbose,
        #                ExternalFreezeTimeOut, Username, Password, WDSuspendLimit)
        check_status(
            call("Backup.General", "ExternalFreeze", None, lit("iris-ops backup"), None, None,
                 None, None, int(freeze_timeout), None, None, int(freeze_limit))
        ),
        set_(var("frozen"), 1),
        result("frozen", 1),
    )
    script.step("record", *record_freeze(owner, int(freeze_limit)))
    script.step("transactions", *_open_transactions())
    if reflink:
        script.step("kept", set_(var("kept"), 1), result("kept", 1))
        _thaw_step(script, owner)
        return script
    _copy_steps(script, copies)
    _held_and_thaw(script, owner)
    return script


def copy_and_thaw(copies: list[tuple[str, str]], reflinked: list[bool], *, owner: FreezeOwner) -> Script:
    """The end of a reflinking backup, sent to the session :func:`freeze_and_copy` (``reflink``)
    froze and left waiting: copies each (source, target) the transport could not reflink, as
    :func:`freeze_and_copy` does; checks every reflinked target is there; then, like it, proves
    the freeze held and thaws (always).  Same results."""
    script = Script("%SYS", purpose="copy and thaw")
    # what the freezing part of this session did before (its variables are still set)
    script.step("frozen", set_(var("frozen"), 1), set_(var("recorded"), 1), set_(var("kept"), 0),
                set_(var("copied"), o.new_array()), result("frozen", 1), result("recorded", 1))
    _copy_steps(script, [pair for pair, done in zip(copies, reflinked) if not done])
    for index, (_, target) in enumerate(pair for pair, done in zip(copies, reflinked) if done):
        dst = lit(names.instance_path(target))
        script.step(
            f"reflinked{index}",
            o.if_(op(call(FILE, "GetFileSize", dst), "<", 0), o.throw(lit(f"the reflinked copy {target} is missing"))),
            o.push(var("copied"), o.dynamic_object(file=dst, bytes=call(FILE, "GetFileSize", dst))),
        )
    _held_and_thaw(script, owner)
    return script


def _young() -> Code:
    """Whether this session's freeze can still be the one in force: less than its WDSuspendLimit
    (``flimit``) has passed since just before it was asked for (``fsince``, ``$ZHorolog``).  Past
    that the write daemon has resumed by itself (IRIS.md §4), and a suspended write daemon is
    someone else's freeze, made since: IsWDSuspended alone cannot tell the two apart."""
    return op(op(o.SPECIAL["$ZHorolog"], "-", func("$Get", var("fsince"))), "<", func("$Get", var("flimit")))


def _held_and_thaw(script: Script, owner: FreezeOwner) -> None:
    held = var("held")
    script.step(
        "held",
        set_(held, call("Backup.General", "IsWDSuspended")),
        o.if_(o.not_(_young()), set_(held, 0)),
        result("held", held),
        o.if_(o.not_(held), o.throw(lit(FREEZE_EXPIRED))),
    )
    script.step("report", result("copied", var("copied")))
    _thaw_step(script, owner)


def _thaw_step(script: Script, owner: FreezeOwner) -> None:
    """Thaw (always) what this session froze, unless it is ``kept`` frozen for the reflinks."""
    ours = var("fours")
    script.step(
        "thaw",
        set_(o.SPECIAL["$Namespace"], lit("%SYS")),
        o.if_(
            op(func("$Get", var("frozen")), "&", o.not_(func("$Get", var("kept")))),
            # A freeze whose record was never written is this script's own; a recorded one is
            # only while the record is still ours.
            set_(ours, o.not_(func("$Get", var("recorded")))),
            o.if_(func("$Get", var("recorded")), *release_record(owner.token), set_(ours, var("released"))),
            # and only while WDSuspendLimit has not ended it: a freeze there after that is another's
            o.if_(o.not_(_young()), set_(ours, 0), result("expired", 1)),
            o.if_(ours,
                  o.if_(call("Backup.General", "IsWDSuspended"), check_status(call("Backup.General", "ExternalThaw"))),
                  result("thawed", 1)),
        ),
        always=True,
    )


def count_staged(namespace: str, databases: list[tuple[str, str, str, str]], *, remove: str = "") -> Script:
    """Counts the rows the copied files hold: each ``(name, role, directory, source)`` of a staged
    copy (``directory`` holds the copy of ``source``'s IRIS.DAT) is given the source file's owner
    and mode, configured under the temporary database ``name`` and mounted read-write, a
    temporary ``namespace`` maps them as the source did, the rows are counted, and everything is
    removed again whatever happened.

    The owner and mode first: a copy made by a session that is not the instance's owner (a local
    session run by root) belongs to that session, 0644, and the instance would mount it
    read-only however it is asked; whether CopyFile gives the copy the source's owner and mode is
    not documented either way.
    With ``remove`` (the staging directory), a last ``always`` step removes that tree too, as
    :func:`remove_directory` does: one session for both.
    Result: ``tables`` [{name, row_count}] (and ``removed``)."""
    ns = lit(names.namespace(namespace))
    dbs = [(names.database(n), role, names.directory(d), names.directory(src)) for n, role, d, src in databases]
    globals_db = next(n for n, role, _, _ in dbs if role in ("globals", "globals+routines"))
    routines_db = next(n for n, role, _, _ in dbs if role in ("routines", "globals+routines"))
    obj, mode, owner = var("obj"), var("smode"), var("sown")
    script = Script("%SYS", purpose="count rows in the copies")
    for index, (name, _, directory, source) in enumerate(dbs):
        copy, original = lit(directory + "IRIS.DAT"), lit(source + "IRIS.DAT")
        script.step(
            f"attach{index}",
            set_(mode, file_mode(original)),
            set_(owner, lit("")),
            o.do(call(FILE, "GetOwnerGroup", original, o.byref("sown"))),
            *give_owner_and_mode(copy, mode, owner, what=f"the copy of {source}IRIS.DAT"),
            o.kill(var("props")),
            set_(var("props", "Directory"), lit(directory)),
            check_status(call("Config.Databases", "Create", lit(name), o.byref("props"))),
            set_(obj, call("SYS.Database", "%OpenId", lit(directory))),
            o.if_(op(obj, "=", lit("")), o.throw(lit(f"cannot open the copy in {directory}"))),
            # Read-write, not read-only: whether dynamic SQL runs on a database mounted read-only
            # is not documented (each prepare writes a cached query somewhere), and the count
            # runs after the copies were streamed and hashed, so nothing it could write changes
            # the fixture; the staging copies are ours and are deleted right after.  A read-only
            # mount would buy nothing and could make every count fail.
            o.if_(o.not_(prop(obj, "Mounted")), check_status(call("SYS.Database", "MountDatabase", lit(directory)))),
            o.kill(obj),
        )
    script.step(
        "namespace",
        o.kill(var("props")),
        set_(var("props", "Globals"), lit(globals_db)),
        set_(var("props", "Routines"), lit(routines_db)),
        check_status(call("Config.Namespaces", "Create", ns, o.byref("props"))),
    )
    script.step("tables", *table_counts(namespace))
    script.step(
        "detach_namespace",
        set_(o.SPECIAL["$Namespace"], lit("%SYS")),
        o.if_(call("Config.Namespaces", "Exists", ns), check_status(call("Config.Namespaces", "Delete", ns))),
        always=True,
    )
    for index, (name, _, directory, _) in enumerate(dbs):
        script.step(
            f"detach{index}",
            o.if_(call("Config.Databases", "Exists", lit(name)), check_status(call("Config.Databases", "Delete", lit(name)))),
            set_(obj, call("SYS.Database", "%OpenId", lit(directory))),
            o.if_(op(obj, "'=", lit("")),
                  o.if_(prop(obj, "Mounted"), check_status(call("SYS.Database", "DismountDatabase", lit(directory))))),
            o.kill(obj),
            always=True,
        )
    if remove:
        script.step("remove", *_remove_tree(remove), always=True)
    return script


def dismount_and_copy(stage: str, directories: list[str], copies: list[tuple[str, str]]) -> Script:
    """For quiet databases: refuses if the instance is frozen, dismounts each directory that is
    mounted (MountDatabase of a mounted database is an error, and a database nothing has used
    yet is not mounted), copies, and mounts again exactly what it dismounted, whatever happened.
    Result: ``copied``, ``dismounted`` [directories it dismounted], ``remounted``."""
    dirs = [lit(names.directory(d)) for d in directories]
    obj = var("obj")
    script = Script("%SYS", purpose="dismount and copy")
    _stage_steps(script, stage, copies)
    script.step("check", set_(var("dism"), o.new_array()), _refuse_if_frozen())
    for index, directory in enumerate(dirs):
        script.step(
            f"dismount{index}",
            set_(obj, call("SYS.Database", "%OpenId", directory)),
            o.if_(op(obj, "=", lit("")), o.throw(op(lit("cannot open database "), "_", directory))),
            o.if_(
                prop(obj, "Mounted"),
                check_status(call("SYS.Database", "DismountDatabase", directory)),
                set_(var("did", index), 1),
                o.push(var("dism"), directory),
            ),
            o.kill(obj),
        )
    _copy_steps(script, copies)
    script.step("report", result("copied", var("copied")))
    for index, directory in enumerate(dirs):
        script.step(
            f"mount{index}",
            set_(o.SPECIAL["$Namespace"], lit("%SYS")),
            o.if_(func("$Get", var("did", index)), check_status(call("SYS.Database", "MountDatabase", directory))),
            always=True,
        )
    script.step("remounted", result("dismounted", var("dism")), result("remounted", 1), always=True)
    return script


def remove_directory(directory: str) -> Script:
    """Removes a directory tree iris-ops created (%Library.File.RemoveDirectoryTree).
    A directory that does not exist is not an error.  Result: ``removed``."""
    script = Script("%SYS", purpose=f"remove {directory}")
    script.step("remove", *_remove_tree(directory))
    return script


def _remove_tree(directory: str) -> list[Code]:
    path = lit(names.directory(directory))
    return [
        set_(o.SPECIAL["$Namespace"], lit("%SYS")),
        o.if_(
            call(FILE, "DirectoryExists", path),
            check_true(call(FILE, "RemoveDirectoryTree", path), f"cannot remove {directory}"),
        ),
        result("removed", 1),
    ]
