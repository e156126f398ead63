"""The scripts of ``iris-ops conformance``: probes of what iris-ops relies on, on scratch objects.

Everything they create is named from one token ``c<10 hex>`` (:class:`ConformanceScratch`), so that they
never touch anything they did not create: a directory ``<mgr>/iris-ops-conformance-<token>/``
(beside iris-ops' own staging directories) with a 1 MB database and a few files in it, a copy of
that database in ``<mgr>/iris-ops-conformance-<token>-ro/``,
two namespaces and configured databases ``IRISOPS-CONF-<TOKEN>`` (``-RO``: the read-only copy),
a resource ``%DB_IRISOPS-CONF-<TOKEN>`` and, when the instance asks for logins, a user
``IRISOPSCONF<TOKEN>``.  Nothing here freezes the instance: ExternalFreeze's signature is read
from ``%Dictionary.CompiledMethod``, never called.

Each probing script takes ``^IRISOPS.Conformance(<token>)`` first and holds it until it halts,
and :func:`conformance_cleanup` takes it before it removes anything: a script still running in the instance
when iris-ops was interrupted finishes before the cleanup starts, so nothing it creates late is
left behind.  The sessions that probe the end of input and the release of a lock hold
``^IRISOPS.Probe(<token>,"eof"|"lock")``; the cleanup ends whoever still holds them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import (Code, Script, call, check_status, check_true, global_ref, lit, method, op, prop,
                                   result, set_, system, var)

from .backup import OPEN_TRANSACTIONS_QUERY
from .common import FILE, table_counts
from .freeze import argument_checks

__all__ = ["OWN_TRANSACTION_QUERY", "PROBE_MODE", "RELEASE_POLLS", "PROBE_KEYS", "ConformanceScratch",
           "conformance_facts", "conformance_transaction", "conformance_setup", "conformance_checks",
           "conformance_session_lines", "conformance_end_session", "conformance_cleanup"]

#: The per-transaction row of the process itself (Pid: the OS pid, ``$JOB``; the row's ID).
OWN_TRANSACTION_QUERY = "SELECT InTransaction FROM %SYS.ProcessQuery WHERE Pid=?"
#: The mode a probe gives the file it copies onto: a mode no new file gets by default.
PROBE_MODE = 0o600
#: How many times (a tenth of a second apart) a released lock is looked for.
RELEASE_POLLS = 50
PROBE_KEYS = ("eof", "lock")


@dataclass(frozen=True)
class ConformanceScratch:
    """The names of everything one conformance run creates."""

    token: str
    manager_dir: str

    @classmethod
    def new(cls, manager_dir: str) -> "ConformanceScratch":
        # A letter first: a subscript of digits only would read as a number in ^$LOCK.
        return cls("c" + secrets.token_hex(5), names.directory(manager_dir))

    @property
    def db_dir(self) -> str:
        """The scratch database's directory, beside iris-ops' own staging directories; the file
        probes work there too."""
        return f"{self.manager_dir}iris-ops-conformance-{self.token}/"

    @property
    def marker(self) -> str:
        """What the transport writes first: it makes :attr:`db_dir`, owned by the instance's
        owner as a restore's directories are."""
        return self.db_dir + "iris-ops-conformance.txt"

    @property
    def copy_dir(self) -> str:
        return f"{self.manager_dir}iris-ops-conformance-{self.token}-ro/"

    @property
    def directories(self) -> tuple[str, str]:
        return self.db_dir, self.copy_dir

    @property
    def database(self) -> str:
        return names.database(f"IRISOPS-CONF-{self.token.upper()}")

    @property
    def copy_database(self) -> str:
        return names.database(self.database + "-RO")

    @property
    def namespace(self) -> str:
        return names.namespace(self.database)

    @property
    def copy_namespace(self) -> str:
        return names.namespace(self.copy_database)

    @property
    def resource(self) -> str:
        return "%DB_" + self.database

    @property
    def user(self) -> str:
        return f"IRISOPSCONF{self.token.upper()}"

    def serial_lock(self) -> Code:
        return global_ref("IRISOPS.Conformance", self.token)

    def probe_lock(self, key: str) -> Code:
        if key not in PROBE_KEYS:
            raise ValueError(f"no probe session {key!r}")
        return global_ref("IRISOPS.Probe", self.token, key)


def _serial(scratch: ConformanceScratch, wait: float) -> list[Code]:
    return [o.lock(scratch.serial_lock(), timeout=wait),
            o.if_(o.not_(o.TEST), o.throw(lit("another step of this conformance run still holds the instance")))]


def _error_text(sc: Code) -> Code:
    return o.select((system("Status.IsError", sc), system("Status.GetErrorText", sc)), default=lit(""))


def _transaction_probe() -> list[Code]:
    """Inside a transaction: ``$TLevel``, the backup's own open-transaction count, and this
    process's InTransaction (``""`` when no row answers); rolled back whatever happened."""
    rs, row = var("rs"), var("row")
    count = [set_(rs, call("%SQL.Statement", "%ExecDirect", None, lit(OPEN_TRANSACTIONS_QUERY))), o.check_sql(rs),
             o.do(method(rs, "%Next")), result("tx_count", method(rs, "%GetData", 1))]
    own = [set_(row, call("%SQL.Statement", "%ExecDirect", None, lit(OWN_TRANSACTION_QUERY), o.SPECIAL["$JOB"])),
           o.check_sql(row),
           result("tx_own", o.select((method(row, "%Next"), method(row, "%GetData", 1)), default=lit("")))]
    return [
        o.try_(
            o.TSTART,
            result("tx_level", o.SPECIAL["$TLevel"]),
            *count,
            o.try_(*own, catch=[result("tx_own_error", method(var("ex"), "DisplayString"))]),
            o.TROLLBACK,
            catch=[o.if_(o.SPECIAL["$TLevel"], o.TROLLBACK), result("tx_error", method(var("ex"), "DisplayString"))],
        ),
    ]


def conformance_facts() -> Script:
    """Read-only, before anything is created: ``manager_directory``, ``zversion``; ExternalFreeze's
    ``known``, ``spec`` and one flag per argument (:func:`~iris_ops.script_builders.freeze.argument_checks`);
    ``wd_suspended`` (or ``wd_error``)."""
    script = Script("%SYS", purpose="read the instance's facts (conformance)")
    script.step("facts", result("manager_directory", call(FILE, "ManagerDirectory")),
                result("zversion", o.SPECIAL["$ZVersion"]))
    script.step("freeze_spec", *argument_checks())
    script.step("write_daemon", o.try_(result("wd_suspended", call("Backup.General", "IsWDSuspended")),
                                      catch=[result("wd_error", method(var("ex"), "DisplayString"))]))
    return script


def conformance_transaction() -> Script:
    """A transaction of its own process, rolled back whatever happens: what the backup's query
    sees of it.  Result: ``tx_level``, ``tx_count``, ``tx_own`` (or ``tx_error``, ``tx_own_error``)."""
    script = Script("%SYS", purpose="probe InTransaction (conformance)")
    script.step("transaction", *_transaction_probe())
    return script


def _file_probes(scratch: ConformanceScratch) -> list[Code]:
    """CopyFile and Rename onto existing files of the scratch directory, and the owner and mode
    a copy leaves: ``a`` is a copy of the (dismounted) database file, ``b`` and ``c`` empty files."""
    a, b, c = (lit(scratch.db_dir + name) for name in ("a.dat", "b.dat", "c.dat"))
    rc, ob, oa = var("frc"), var("fob"), var("foa")
    mode = lambda path: op(call(FILE, "Attributes", path), "#", 4096)  # noqa: E731 - the permission bits
    return [
        check_true(call(FILE, "CopyFile", lit(scratch.db_dir + "IRIS.DAT"), a), "cannot copy the scratch database"),
        result("source_size", call(FILE, "GetFileSize", a)),
        check_true(call(FILE, "Truncate", b), "cannot create a scratch file"),
        check_true(call(FILE, "SetAttributes", b, PROBE_MODE), "cannot set the mode of a scratch file"),
        set_(ob, lit("")), set_(oa, lit("")),
        o.do(call(FILE, "GetOwnerGroup", b, o.byref("fob"))),
        result("mode_before", mode(b)),
        result("owner_before", ob),
        result("copy_ok", call(FILE, "CopyFile", a, b)),
        result("copy_size", call(FILE, "GetFileSize", b)),
        result("mode_after", mode(b)),
        o.do(call(FILE, "GetOwnerGroup", b, o.byref("foa"))),
        result("owner_after", oa),
        check_true(call(FILE, "Truncate", c), "cannot create a scratch file"),
        set_(rc, 0),
        result("rename_ok", call(FILE, "Rename", a, c, o.byref("frc"))),
        result("rename_rc", rc),
        result("rename_source_left", call(FILE, "Exists", a)),
        result("rename_target_size", call(FILE, "GetFileSize", c)),
    ]


def conformance_setup(scratch: ConformanceScratch, *, wait: float) -> Script:
    """The first probing script (the transport has made :attr:`ConformanceScratch.db_dir`, owned
    by the instance's owner as a restore's are).  Result: ``db_mounted``, ``mount_mounted_error`` and its text ``mount_mounted_text``;
    ``dismount_error`` and ``dismount_text``; the file probes (``copy_ok``, ``copy_size``,
    ``source_size``, ``mode_before``/``mode_after``, ``owner_before``/``owner_after``,
    ``rename_ok``, ``rename_rc``, ``rename_source_left``, ``rename_target_size``)."""
    db, ns, path = lit(scratch.database), lit(scratch.namespace), lit(scratch.db_dir)
    obj, sc = var("obj"), var("psc")
    script = Script("%SYS", purpose="probe the instance (conformance, part 1)")
    script.step("serial", *_serial(scratch, wait))
    script.step("directories", check_true(call(FILE, "CreateDirectoryChain", lit(scratch.copy_dir)),
                                          f"cannot create {scratch.copy_dir}"))
    script.step(
        "database",
        check_status(call("SYS.Database", "CreateDatabase", path, 1)),
        o.kill(var("props")),
        set_(var("props", "Directory"), path),
        check_status(call("Config.Databases", "Create", db, o.byref("props"))),
        o.kill(var("props")),
        set_(var("props", "Globals"), db),
        set_(var("props", "Routines"), db),
        check_status(call("Config.Namespaces", "Create", ns, o.byref("props"))),
    )
    script.step(
        "mount_mounted",
        set_(obj, call("SYS.Database", "%OpenId", path)),
        o.if_(op(obj, "=", lit("")), o.throw(lit("cannot open the scratch database"))),
        result("db_mounted", prop(obj, "Mounted")),
        o.if_(o.not_(prop(obj, "Mounted")), check_status(call("SYS.Database", "MountDatabase", path))),
        set_(sc, call("SYS.Database", "MountDatabase", path)),
        result("mount_mounted_error", system("Status.IsError", sc)),
        result("mount_mounted_text", _error_text(sc)),
        o.kill(obj),
    )
    script.step(
        "dismount",
        set_(sc, call("SYS.Database", "DismountDatabase", path)),
        result("dismount_error", system("Status.IsError", sc)),
        result("dismount_text", _error_text(sc)),
    )
    script.step("files", *_file_probes(scratch))
    script.step("copy", check_true(call(FILE, "CopyFile", lit(scratch.db_dir + "IRIS.DAT"),
                                        lit(scratch.copy_dir + "IRIS.DAT")), "cannot copy the scratch database"))
    return script


def conformance_checks(scratch: ConformanceScratch, *, wait: float, login: tuple[str, str] | None = None) -> Script:
    """The second probing script, in another process than the dismount.  Result:
    ``still_dismounted`` and ``dismounted_after_use`` (after SQL in its namespace);
    ``ro_mount_text`` (MountDatabase's error, or ""), ``ro_mounted``, ``ro_readonly``,
    ``ro_reason``; ``ro_sql_ok`` (and ``ro_sql_error``, or ``tables``); ``role_with_resource``.
    With ``login`` (password, full name) it also creates the scratch user, who must change its
    password at the next login: ``user_created``."""
    path, copy = lit(scratch.db_dir), lit(scratch.copy_dir)
    obj, sc = var("obj"), var("psc")
    script = Script("%SYS", purpose="probe the instance (conformance, part 2)")
    script.step("serial", *_serial(scratch, wait))
    mounted_now = [set_(obj, call("SYS.Database", "%OpenId", path)),
                   o.if_(op(obj, "=", lit("")), o.throw(lit("cannot open the scratch database")))]
    script.step(
        "dismounted",
        *mounted_now,
        result("still_dismounted", o.not_(prop(obj, "Mounted"))),
        o.kill(obj),
        o.try_(set_(o.SPECIAL["$Namespace"], lit(scratch.namespace)),
               set_(var("rs"), call("%SQL.Statement", "%ExecDirect", None, lit("SELECT 1"))),
               catch=[]),
        set_(o.SPECIAL["$Namespace"], lit("%SYS")),
        *mounted_now,
        result("dismounted_after_use", o.not_(prop(obj, "Mounted"))),
        o.kill(obj),
    )
    script.step(
        "readonly",
        o.kill(var("props")),
        set_(var("props", "Directory"), copy),
        check_status(call("Config.Databases", "Create", lit(scratch.copy_database), o.byref("props"))),
        set_(obj, call("SYS.Database", "%OpenId", copy)),
        o.if_(op(obj, "=", lit("")), o.throw(lit("cannot open the copy of the scratch database"))),
        result("ro_mount_text", lit("")),
        o.if_(o.not_(prop(obj, "Mounted")),
              set_(sc, call("SYS.Database", "MountDatabase", copy, 1)),
              result("ro_mount_text", _error_text(sc))),
        set_(obj, call("SYS.Database", "%OpenId", copy)),
        result("ro_mounted", prop(obj, "Mounted")),
        result("ro_readonly", prop(obj, "ReadOnlyMounted")),
        result("ro_reason", prop(obj, "ROReasonText")),
        o.kill(obj),
        o.kill(var("props")),
        set_(var("props", "Globals"), lit(scratch.copy_database)),
        set_(var("props", "Routines"), lit(scratch.copy_database)),
        check_status(call("Config.Namespaces", "Create", lit(scratch.copy_namespace), o.byref("props"))),
    )
    script.step(
        "readonly_sql",
        o.try_(*table_counts(scratch.copy_namespace), result("ro_sql_ok", 1),
               catch=[set_(o.SPECIAL["$Namespace"], lit("%SYS")), result("ro_sql_ok", 0),
                      result("ro_sql_error", method(var("ex"), "DisplayString"))]),
    )
    resource = lit(scratch.resource)
    script.step(
        "role",
        check_status(call("Security.Resources", "Create", resource, lit("created by iris-ops conformance"), lit(""))),
        result("role_with_resource", call("Security.Roles", "Exists", resource)),
    )
    if login is not None:
        password, full_name = login
        script.step(
            "user",
            # Create(Username, UserRoles, Password, FullName, NameSpace, Routine, ExpirationDate,
            #        ChangePassword, Enabled): no roles, and a password to change at the next login.
            check_status(call("Security.Users", "Create", lit(scratch.user), lit(""), lit(password), lit(full_name),
                              None, None, None, 1, 1)),
            result("user_created", 1),
        )
    return script


def conformance_session_lines(scratch: ConformanceScratch, key: str, token: str) -> str:
    """What a probe session runs: take its probe lock, then write ``<<<token:HELD>>>$JOB|$Test``
    and ``<<<token:END>>>``, and wait at the prompt (no Halt).

    A session that starts late (iris-ops gave up on it, or was interrupted, before it took its
    lock) must not outlive the run: once its lock wait ends, it halts when the scratch namespace
    is gone.  :func:`conformance_cleanup` deletes that namespace before it ends the lock holders, so
    whichever comes first, the session either is found holding its lock or finds no namespace.
    The check does not need the lock: a late session whose wait ran out while the cleanup ended
    the holder (a loaded machine) would otherwise wait at its prompt for good."""
    tok, got = var("ptok"), var("pgot")
    return "\n".join([
        o.set_(tok, o.split_token(token)),
        o.sequence(o.lock(scratch.probe_lock(key), timeout=5), o.set_(got, o.TEST)),
        o.if_(o.not_(call("Config.Namespaces", "Exists", lit(scratch.namespace))), o.HALT),
        o.sequence(o.write_marker(tok, "HELD", o.SPECIAL["$JOB"], "|", got), o.write_marker(tok, "END")),
    ]) + "\n"


def conformance_end_session(scratch: ConformanceScratch, key: str) -> Script:
    """Ends the session holding the probe lock ``key`` (``$SYSTEM.Process.Terminate``) and waits
    for the lock to be free.  Result: ``owner`` (its pid, or ""), ``free_before`` (1 when this
    process could take the lock before ending anyone), ``terminated`` (Terminate's answer, or ""),
    ``released`` (1 when it could take the lock afterwards)."""
    name, owner, i = scratch.probe_lock(key), var("pown"), var("pi")
    script = Script("%SYS", purpose=f"end the {key} probe session (conformance)")
    script.step(
        "owner",
        set_(owner, o.lock_owner(name)),
        result("owner", owner),
        o.lock(name, timeout=0),
        result("free_before", o.TEST),
        o.if_(o.TEST, o.lock(name, release=True)),
    )
    script.step(
        "terminate",
        result("terminated", lit("")),
        o.if_(op(owner, "'=", lit("")), result("terminated", call("%SYSTEM.Process", "Terminate", owner))),
    )
    script.step(
        "wait",
        o.for_(i, 1, RELEASE_POLLS, o.lock(name, timeout=0.1), o.quit_if(o.TEST)),
        set_(var("pgot"), o.TEST),
        result("released", var("pgot")),
        o.if_(var("pgot"), o.lock(name, release=True)),
    )
    return script


def conformance_cleanup(scratch: ConformanceScratch, *, wait: float) -> Script:
    """Removes whatever of :class:`ConformanceScratch` exists, each kind in an ``always`` step: the probe
    namespaces, the probe sessions still holding their locks, the configured and mounted databases,
    the directory, the resource and a role of its name, the scratch user.  Result: ``serialized``
    (0 when the probing scripts' lock was not free within ``wait`` seconds; the cleanup ran anyway)."""
    obj = var("obj")
    script = Script("%SYS", purpose="remove the conformance probes' scratch objects")
    script.step("serial", o.lock(scratch.serial_lock(), timeout=wait), result("serialized", o.TEST), always=True)
    for index, ns in enumerate((scratch.copy_namespace, scratch.namespace)):
        script.step(f"namespace{index}",
                    o.if_(call("Config.Namespaces", "Exists", lit(ns)), check_status(call("Config.Namespaces", "Delete", lit(ns)))),
                    always=True)
    # After the namespaces: a probe session that takes its lock later finds no namespace and halts
    # (conformance_session_lines).
    for key in PROBE_KEYS:
        owner = var("pown")
        script.step(f"session{key}", set_(owner, o.lock_owner(scratch.probe_lock(key))),
                    o.if_(op(owner, "'=", lit("")), o.do(call("%SYSTEM.Process", "Terminate", owner))), always=True)
    for index, (db, directory) in enumerate(((scratch.copy_database, scratch.copy_dir), (scratch.database, scratch.db_dir))):
        path = lit(directory)
        script.step(
            f"database{index}",
            o.if_(call("Config.Databases", "Exists", lit(db)), check_status(call("Config.Databases", "Delete", lit(db)))),
            set_(obj, call("SYS.Database", "%OpenId", path)),
            o.if_(op(obj, "'=", lit("")),
                  o.if_(prop(obj, "Mounted"), check_status(call("SYS.Database", "DismountDatabase", path)))),
            o.kill(obj),
            always=True,
        )
    for index, directory in enumerate(scratch.directories):
        path = lit(directory)
        script.step(f"directory{index}", o.if_(call(FILE, "DirectoryExists", path),
                                               check_true(call(FILE, "RemoveDirectoryTree", path), f"cannot remove {directory}")),
                    always=True)
    resource = lit(scratch.resource)
    script.step("resource",
                o.if_(call("Security.Resources", "Exists", resource), check_status(call("Security.Resources", "Delete", resource))),
                o.if_(call("Security.Roles", "Exists", resource), check_status(call("Security.Roles", "Delete", resource))),
                always=True)
    user = lit(scratch.user)
    script.step("user", o.if_(call("Security.Users", "Exists", user), check_status(call("Security.Users", "Delete", user))),
                always=True)
    script.step("done", o.lock(scratch.serial_lock(), release=True), always=True)
    return script


