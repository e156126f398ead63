"""What iris-ops relies on in IRIS, as facts ``iris-ops conformance`` checks on a user's instance.

Every operation is proven against the simulated IRIS, which follows the class reference and,
where the sources are silent, the strictest reading (IRIS.md §4b).  Each :data:`FACTS` entry is
one behaviour iris-ops depends on: what it expects (the simulator's default answer), which
operations depend on it, and, where the sources leave it open, the simulator variant that gives
the other answer (iris-ops is tested under both; a difference is still worth a report).

:func:`evaluate` turns what the probes saw (:class:`Observations`) into one :class:`Assessment` per
fact: ``ok``, ``differs`` or ``not probed`` (with the reason).  The probes themselves run in
:mod:`iris_ops.operations.conformance`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from iris_ops import versions
from iris_ops.script_builders.conformance import PROBE_MODE

__all__ = ["OK", "DIFFERS", "NOT_PROBED", "END_WAIT", "Observations", "Assessment", "Fact", "FACTS", "evaluate"]

OK, DIFFERS, NOT_PROBED = "ok", "differs", "not probed"
#: Seconds a session may take to end after its input closed, and a lock to be free again.
END_WAIT = 5.0


@dataclass
class Observations:
    """What the probes saw: the two probing scripts' results, the sessions' outcomes, the login."""

    #: what is read before anything is created: $ZVERSION, ExternalFreeze's spec, IsWDSuspended
    facts: dict = field(default_factory=dict)
    setup: dict = field(default_factory=dict)
    #: the transaction probe's result, or {"tx_error": text} when its script failed
    transaction: dict = field(default_factory=dict)
    checks: dict = field(default_factory=dict)
    #: end of input: {"ended": bool, "exit_code": int | None, "pid": ...} or {"problem": text}
    eof: dict = field(default_factory=dict)
    #: the lock probe's session (``pid``) and conformance_end_session's result, or {"problem": text}
    lock: dict = field(default_factory=dict)
    #: {"asked": bool, "prompts": bool, "refused": bool, "asked_new": bool, "shown": text} or {"skipped": reason}
    login: dict = field(default_factory=dict)
    #: why a phase could not run, by phase name
    missing: dict = field(default_factory=dict)


@dataclass
class Assessment:
    fact: Fact
    status: str
    observed: str

    def row(self) -> dict[str, Any]:
        return {"fact": self.fact.key, "title": self.fact.title, "status": self.status, "expects": self.fact.expects,
                "observed": self.observed, "operations": list(self.fact.operations),
                "variant": self.fact.variant or None}


def _flag(value: Any) -> bool:
    return str(value).strip() in ("1", "True", "true")


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _zversion(o: Observations):
    text = str(o.facts.get("zversion", ""))
    parsed = versions.parse(text)
    return (OK, f"{parsed}") if parsed else (DIFFERS, f"unreadable: {text!r}")


def _freeze(o: Observations):
    if not _flag(o.facts.get("known")):
        return DIFFERS, "the FormalSpec of Backup.General.ExternalFreeze could not be read"
    spec = str(o.facts.get("spec", ""))
    missing = [name for name in ("ExternalFreezeTimeOut", "WDSuspendLimit") if not _flag(o.facts.get(name))]
    if missing:
        return DIFFERS, f"{' and '.join(missing)} not where the freeze passes them: {spec}"
    return OK, "as expected"


def _wd(o: Observations):
    if "wd_error" in o.facts:
        return DIFFERS, f"IsWDSuspended failed: {o.facts['wd_error']}"
    value = str(o.facts.get("wd_suspended", ""))
    return (OK, "0") if value == "0" else (DIFFERS, f"returns {value!r}: the instance is frozen (ExternalFreeze)")


def _transaction(o: Observations):
    if "tx_error" in o.transaction:
        return DIFFERS, f"TSTART and the query failed: {o.transaction['tx_error']}"
    count, own = _int(o.transaction.get("tx_count")), str(o.transaction.get("tx_own", ""))
    shown = f"counted {count}; this session's InTransaction {own or 'not found'}"
    if own == "1":
        shown += " (exactly 1: a flag, not a journal offset)"
    return (OK, shown) if count and count >= 1 else (DIFFERS, shown)


def _copy(o: Observations):
    s = o.setup
    if not _flag(s.get("copy_ok")):
        return DIFFERS, "CopyFile returned 0"
    if str(s.get("copy_size")) != str(s.get("source_size")):
        return DIFFERS, f"the target has {s.get('copy_size')} bytes, the source {s.get('source_size')}"
    return OK, "replaced"


def _copy_owner(o: Observations):
    s = o.setup
    if not _flag(s.get("copy_ok")):
        return NOT_PROBED, "the copy failed"
    before, after = _int(s.get("mode_before")), _int(s.get("mode_after"))
    if before != PROBE_MODE:
        return NOT_PROBED, f"the probe could not give the file mode {PROBE_MODE:o} (it has {before})"
    shown = f"mode {after:o}" if after is not None else "mode unknown"
    shown += f", owner {s.get('owner_after') or '?'} (was {PROBE_MODE:o}, {s.get('owner_before') or '?'})"
    same = after == before and s.get("owner_after") == s.get("owner_before")
    return (OK, "kept: " + shown) if same else (DIFFERS, "changed: " + shown)


def _rename(o: Observations):
    s = o.setup
    if _flag(s.get("rename_ok")):
        return DIFFERS, "the existing file was replaced" if not _flag(s.get("rename_source_left")) else "Rename returned 1"
    if not _flag(s.get("rename_source_left")) or str(s.get("rename_target_size")) != "0":
        return DIFFERS, "Rename returned 0 but a file changed"
    return OK, f"refused (return {s.get('rename_rc')})"


def _ro_mount(o: Observations):
    c = o.checks
    if _flag(c.get("ro_mounted")) and _flag(c.get("ro_readonly")):
        return OK, f"mounted read-only ({c.get('ro_reason') or 'no reason given'})"
    if not _flag(c.get("ro_mounted")):
        return DIFFERS, f"not mounted: {c.get('ro_mount_text') or 'no error'}"
    return DIFFERS, "mounted read-write"


def _ro_sql(o: Observations):
    c = o.checks
    if not (_flag(c.get("ro_mounted")) and _flag(c.get("ro_readonly"))):
        return NOT_PROBED, "the read-only mount failed"
    return (OK, "queries ran") if _flag(c.get("ro_sql_ok")) else (DIFFERS, f"failed: {c.get('ro_sql_error', '')}")


def _mount_mounted(o: Observations):
    s = o.setup
    if not _flag(s.get("mount_mounted_error")):
        return DIFFERS, "returned success"
    return OK, f"error: {s.get('mount_mounted_text', '')}"


def _dismount(o: Observations):
    if _flag(o.setup.get("dismount_error")):
        return DIFFERS, f"DismountDatabase failed: {o.setup.get('dismount_text', '')}"
    c = o.checks
    if not _flag(c.get("still_dismounted")):
        return DIFFERS, "mounted again in another process"
    if not _flag(c.get("dismounted_after_use")):
        return DIFFERS, "mounted again after SQL in its namespace"
    return OK, "stayed dismounted"


def _role(o: Observations):
    made = _flag(o.checks.get("role_with_resource"))
    return (DIFFERS, "a role of that name was created with it") if made else (OK, "no role")


def _eof(o: Observations):
    if "problem" in o.eof:
        return NOT_PROBED, o.eof["problem"]
    if o.eof.get("ended"):
        return OK, f"ended (exit status {o.eof.get('exit_code')})"
    return DIFFERS, f"still running {END_WAIT:g} s after its input closed (ended by Terminate)"


def _lock(o: Observations):
    if "problem" in o.lock:
        return NOT_PROBED, o.lock["problem"]
    r = o.lock
    if str(r.get("owner")) != str(r.get("pid")) or _flag(r.get("free_before")):
        return DIFFERS, f"the lock was not held by its session (owner {r.get('owner')!r}, session {r.get('pid')})"
    if str(r.get("terminated")) != "1":
        return NOT_PROBED, f"Terminate answered {r.get('terminated')!r}"
    return (OK, "free at once") if _flag(r.get("released")) else (DIFFERS, f"still held {END_WAIT:g} s after its process ended")


def _login(o: Observations):
    login = o.login
    if "skipped" in login:
        return NOT_PROBED, login["skipped"]
    if not login.get("prompts"):
        return DIFFERS, f"other prompts: {login.get('shown', '')!r}"
    if login.get("asked_new"):
        return DIFFERS, f"asks for a new password: {login.get('shown', '')!r}"
    if not login.get("refused"):
        return DIFFERS, f"neither refused nor asked: {login.get('shown', '')!r}"
    return OK, "as expected"


@dataclass(frozen=True)
class Fact:
    key: str
    title: str
    expects: str
    operations: tuple[str, ...]
    #: The simulator variant (iris-ops-sim) that takes the other answer, when the sources leave it open.
    variant: str = ""
    #: Which observations answer it (an :class:`Observations` field), and how.
    phase: str = field(default="setup", compare=False)
    judge: "Callable[[Observations], tuple[str, str]] | None" = field(default=None, compare=False, repr=False)


FACTS: tuple[Fact, ...] = (
    Fact("zversion", "$ZVERSION format", "reads as '<product> for <platform> <version> (Build <build>)'",
         ("backup (the manifest's version)", "restore (refuses a newer database)"), phase="facts", judge=_zversion),
    Fact("freeze-signature", "ExternalFreeze signature",
         "ExternalFreezeTimeOut is argument 7 and WDSuspendLimit argument 10 (its FormalSpec; never called)",
         ("backup (freeze)",), phase="facts", judge=_freeze),
    Fact("wd-suspended", "IsWDSuspended", "exists and returns 0: the instance is not frozen",
         ("backup (freeze)", "doctor"), phase="facts", judge=_wd),
    Fact("in-transaction", "InTransaction in a transaction",
         "after TSTART the backup's query counts this session (%SYS.ProcessQuery InTransaction > 0, a journal offset)",
         ("backup (the manifest's open transactions)",),
         phase="transaction", judge=_transaction),
    Fact("copy-onto-existing", "CopyFile onto an existing file", "succeeds and replaces the contents",
         ("restore (the fixture cache)",), judge=_copy),
    Fact("copy-owner-mode", "owner and mode after such a copy", "the existing file's owner and mode are kept",
         ("restore (the fixture cache, local transport: iris-ops sets them again)",), "copy-takes-new-owner",
         judge=_copy_owner),
    Fact("rename-onto-existing", "Rename onto an existing file", "fails; both files stay as they were",
         ("restore (filling the fixture cache)",), "rename-replaces", judge=_rename),
    Fact("readonly-mount", "read-only mount of a copy", "MountDatabase(dir,1) mounts it read-only",
         ("backup (row counts)",),
         phase="checks", judge=_ro_mount),
    Fact("readonly-sql", "SQL on a read-only routines database", "queries run (the row counts of a read-only copy)",
         ("backup (row counts)",), "readonly-sql-fails",
         phase="checks", judge=_ro_sql),
    Fact("mount-mounted", "MountDatabase of a mounted database", "returns an error (AlreadyMounted)",
         ("backup --dismount", "restore", "backup (row counts)"), judge=_mount_mounted),
    Fact("dismount-persists", "a dismount persists",
         "stays dismounted in another process, also after SQL in its namespace", ("backup --dismount", "delete-ns"),
         phase="checks", judge=_dismount),
    Fact("db-role", "%DB_ role on resource creation", "Security.Resources.Create makes no role of that name",
         ("restore (resources and roles)", "delete-ns"), "resource-creates-role",
         phase="checks", judge=_role),
    Fact("end-of-input", "end of input in a session", f"the session ends within {END_WAIT:g} s of its input closing",
         ("backup, restore, delete-ns (the lock-holding session)",), "eof-keeps-session",
         phase="eof", judge=_eof),
    Fact("lock-release", "a lock released when its process ends",
         f"another process takes it within {END_WAIT:g} s of Terminate", ("backup, restore, delete-ns (locks)",),
         phase="lock", judge=_lock),
    Fact("login-prompts", "the login prompts",
         "'Username:' then 'Password:'; a login that needs a password change is refused (Access Denied), "
         "no new password asked", ("every task when a username and password are set",), "password-change-prompt",
         phase="login", judge=_login),
)


def evaluate(observations: Observations) -> list[Assessment]:
    """One finding per fact, in :data:`FACTS` order.  A fact whose probe never ran (an earlier
    phase failed) is ``not probed``, with the reason."""
    findings = []
    for fact in FACTS:
        if fact.phase in observations.missing or not getattr(observations, fact.phase):
            reason = observations.missing.get(fact.phase, "its probe did not run")
            findings.append(Assessment(fact, NOT_PROBED, reason))
            continue
        status, observed = fact.judge(observations)
        findings.append(Assessment(fact, status, observed))
    return findings
