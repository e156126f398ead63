"""The tasks: unexpire-passwords, set-password, create-user, enable-service, disable-service and
security-report.

Each reads the instance first (a read-only script, which also runs in a dry run), works out what
would change, says so line by line, and changes only that; a second run finds nothing to change
and says so.  A changing script reads its result back, and a change that did not take is an
instance error (exit 5).
"""

from __future__ import annotations

import re
from typing import Any

from iris_ops.task import task
from iris_ops.errors import ConflictError, InstanceError, ScriptError, UsageError

from . import secret  # `script_builders` is imported in the bodies that use it: a listing needs none

__all__ = [
    "USER_MAX", "ROLE_MAX", "PASSWORD_HELP", "user_name", "role_names", "service_name",
    "unexpire_passwords", "set_password", "create_user", "SERVICE_HELP", "enable_service",
    "disable_service", "report_rows", "security_report",
]

_SERVICE = re.compile(r"^%Service_[A-Za-z]+$")
USER_MAX = 160  # Security.Users: "Maximum length of a user name is 160 characters"
ROLE_MAX = 64  # Security.Roles: "Maximum length of a role name is 64 characters"

PASSWORD_HELP = {
    "password_env": f"environment variable holding the password (default {secret.PASSWORD_ENV})",
    "password_stdin": "read the password from the first line of stdin instead",
}


# --- names ---------------------------------------------------------------------------------------

def _control(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def user_name(value: str) -> str:
    """A user name as Security.Users allows it: 1-160 characters, no ``*`` or ``@``; iris-ops also
    refuses commas (they separate names in IRIS's lists) and control characters."""
    if not value:
        raise UsageError("--user is required", fix="Name the IRIS user, e.g. --user _SYSTEM.")
    if len(value) > USER_MAX or value != value.strip() or _control(value) or any(c in value for c in "*@,"):
        raise UsageError(f"invalid IRIS user name {value!r}",
                         fix=f"User names are 1-{USER_MAX} characters without '*', '@', ',' or surrounding blanks.")
    return value


def role_names(value: str) -> list[str]:
    """Comma-separated role names: each 1-64 characters, without ':' (Security.Roles)."""
    roles = [part.strip() for part in value.split(",") if part.strip()]
    for role in roles:
        if len(role) > ROLE_MAX or ":" in role or _control(role):
            raise UsageError(f"invalid role name {role!r}", fix="Role names are 1-64 characters without ',' or ':'.")
    if len({role.lower() for role in roles}) != len(roles):
        raise UsageError(f"a role is listed twice in {value!r}")
    return roles


def service_name(value: str) -> str:
    if not _SERVICE.match(value or ""):
        raise UsageError(f"invalid service name {value!r}", fix="Services are named like %Service_Bindings.")
    return value


# --- the common steps ----------------------------------------------------------------------------

def _operation(name: str, target: dict, dry_run: bool):
    from iris_ops.operations.context import operation_from_flags

    return operation_from_flags(name, target, dry_run=dry_run)


def _describe(op, *, users: list[str] | None = None, services: tuple[str, ...] | list[str] = (),
              roles: list[str] = ()) -> dict:
    from . import script_builders

    return op.runner.run(script_builders.describe(users, list(services), list(roles)), changes=False)


def _require_user(op, found: dict, name: str) -> dict:
    """A user the describe script found; a missing one is a usage error."""
    if not found.get("exists"):
        raise UsageError(f"there is no IRIS user {name!r} on {op.target.describe()}",
                         fix="Check the name (`iris-ops security-report`), or create it with `iris-ops create-user`.")
    return found


def _emit(op, subject: str, text: str, width: int = 16) -> None:
    op.emit(f"{subject:<{width}}  {text}")


#: Security.Users property -> key of the describe script's entries.
_FIELD = {"ChangePassword": "change_password", "PasswordNeverExpires": "password_never_expires",
          "FullName": "full_name", "Roles": "roles"}


def _same(key: str, now: Any, wanted: Any) -> bool:
    if key == "Roles":  # a set of case-insensitive names
        return sorted(r.lower() for r in str(now or "").split(",") if r) == sorted(
            r.lower() for r in str(wanted).split(",") if r)
    return str(now) == str(wanted)


def _verify(wanted: dict[str, dict[str, Any]], after: list[dict]) -> None:
    """Each wanted property now has its value, or the instance did not do what it said."""
    by_name = {entry["name"].lower(): entry for entry in after}
    for user, properties in wanted.items():
        entry = by_name.get(user.lower(), {})
        for key, value in properties.items():
            now = entry.get(_FIELD.get(key, key), "")
            if not _same(key, now, value):
                raise InstanceError(f"{key} of IRIS user {user} is {now!r} after Modify, not {value!r}")


def _run_with_secret(op, script, staged) -> dict:
    """Run a script that reads a staged password; make sure its directory is gone afterwards."""
    removed = False
    try:
        payload = op.runner.run(script)
        removed = bool(payload.get("secret_removed"))
        return payload
    except ScriptError as exc:
        removed = bool((exc.details.get("result") or {}).get("secret_removed"))
        raise
    finally:
        secret.discard(op, staged, removed)


# --- unexpire-passwords --------------------------------------------------------------------------

def _unexpire_changes(user: dict) -> dict[str, int]:
    wanted = {}
    if int(user.get("change_password") or 0):
        wanted["ChangePassword"] = 0
    if not int(user.get("password_never_expires") or 0):
        wanted["PasswordNeverExpires"] = 1
    return wanted


@task(target=True, help={
    "user": "only this IRIS user (default: every user with an IRIS password)",
    "dry_run": "say what would change and print the script, change nothing",
})
def unexpire_passwords(c, user="", dry_run=False, **target):
    """No forced password change and no password expiry, for one IRIS user or all of them."""
    from . import script_builders

    name = user_name(user) if user else ""
    op = _operation("unexpire-passwords", target, dry_run)
    with op.bound(user=name or "*"):
        users = _describe(op, users=[name] if name else None)["users"]
        if name:
            _require_user(op, users[0], name)
        # Every user when none is named: those with an IRIS password (Flags bit 0), as
        # UnExpireUserPasswords leaves LDAP and delegated accounts alone.
        candidates = [u for u in users if u.get("exists") and (name or int(u.get("flags") or 0) & 1)]
        changes = {u["name"]: _unexpire_changes(u) for u in candidates}
        changes = {who: props for who, props in changes.items() if props}
        if changes:
            payload = op.runner.run(script_builders.modify_users(changes))  # a dry run prints it
            if not dry_run:
                _verify(changes, payload["users"])
            op.log.info("unexpire.done", changed=sorted(changes), dry_run=dry_run)
        width = max([16, *(len(u["name"]) for u in candidates)])
        verb = "would change" if dry_run else "changed"
        for u in candidates:
            props = changes.get(u["name"])
            if props:
                shown = ", ".join(f"{key} {1 - value} -> {value}" for key, value in props.items())
                _emit(op, u["name"], f"{verb}: {shown}", width)
            else:
                _emit(op, u["name"], "unchanged: no forced password change, password never expires", width)
        if changes:
            op.emit(f"{len(changes)} of {len(candidates)} users {verb}")
        else:
            op.emit(f"nothing to change: {len(candidates)} users already have no forced change and no expiry")


# --- set-password and create-user ----------------------------------------------------------------

@task(target=True, help={
    "user": "the IRIS user whose password to set",
    **PASSWORD_HELP,
    "dry_run": "say what would change and print the script, change nothing (the password is not shown)",
})
def set_password(c, user="", password_env="", password_stdin=False, dry_run=False, **target):
    """Set an IRIS user's password, taken from an environment variable or stdin, never argv."""
    from . import script_builders

    name = user_name(user)
    password = secret.read_password(password_env, password_stdin)
    op = _operation("set-password", target, dry_run)
    with op.bound(user=name):
        state = _describe(op, users=[name])
        found = _require_user(op, state["users"][0], name)
        staged = secret.stage(op, password, state["manager_directory"])
        del password
        payload = _run_with_secret(op, script_builders.set_password(found["name"], staged), staged)
        if dry_run:
            _emit(op, found["name"], "would set the password (unless it already is this one)")
        elif payload.get("password_changed"):
            _emit(op, found["name"], "changed: password set")
        else:
            _emit(op, found["name"], "unchanged: the password already is this one")


@task(target=True, help={
    "user": "the IRIS user to create",
    "roles": "comma-separated roles, e.g. %Developer,%SQL (with --update: replace the user's roles)",
    "full_name": "the user's full name",
    "update": "if the user exists, bring its roles, full name and password in line instead of failing",
    **PASSWORD_HELP,
    "dry_run": "say what would change and print the script, change nothing (the password is not shown)",
})
def create_user(c, user="", roles=None, full_name=None, update=False, password_env="", password_stdin=False,
                dry_run=False, **target):
    """Create an IRIS user with a password from an environment variable or stdin; exit 3 if it
    exists, unless --update."""
    from . import script_builders

    name = user_name(user)
    wanted_roles = role_names(roles) if roles else []
    if full_name is not None and (_control(full_name) or len(full_name) > 2048):
        raise UsageError("invalid --full-name", fix="A full name is one line of up to 2048 characters.")
    password = secret.read_password(password_env, password_stdin)
    op = _operation("create-user", target, dry_run)
    with op.bound(user=name):
        state = _describe(op, users=[name], roles=wanted_roles)
        missing = [role for role, exists in state.get("roles", {}).items() if not exists]
        if missing:
            raise UsageError(f"no such role: {', '.join(missing)}", fix="Roles must exist before a user can hold them.")
        found = state["users"][0]
        if found.get("exists") and not update:
            raise ConflictError(f"IRIS user {found['name']!r} already exists",
                                fix="Pass --update to bring it in line, or use `iris-ops set-password`.")
        staged = secret.stage(op, password, state["manager_directory"])
        del password
        if not found.get("exists"):
            script = script_builders.set_password(name, staged, create=(",".join(wanted_roles), full_name or ""))
            _run_with_secret(op, script, staged)
            _emit(op, name, f"{'would create' if dry_run else 'created'}: roles {','.join(wanted_roles) or '(none)'}")
            return
        properties: dict[str, Any] = {}
        current_roles = [r for r in str(found.get("roles") or "").split(",") if r]
        if roles is not None and sorted(r.lower() for r in current_roles) != sorted(r.lower() for r in wanted_roles):
            properties["Roles"] = ",".join(wanted_roles)
        if full_name is not None and full_name != found.get("full_name", ""):
            properties["FullName"] = full_name
        script = script_builders.set_password(found["name"], staged, properties=properties)
        payload = _run_with_secret(op, script, staged)
        if dry_run:
            what = ", ".join(properties) + (" and " if properties else "") + "the password unless it already is this one"
            _emit(op, found["name"], f"would update {what}")
            return
        _verify({found["name"]: properties}, payload["users"])
        changed = list(properties) + (["password"] if payload.get("password_changed") else [])
        _emit(op, found["name"], f"changed: {', '.join(changed)}" if changed else "unchanged: roles, full name and password already match")


# --- services ------------------------------------------------------------------------------------

def _set_service(name: str, service: str, enabled: bool, dry_run: bool, target: dict) -> None:
    from . import script_builders

    service = service_name(service)
    op = _operation(name, target, dry_run)
    with op.bound(service=service):
        found = _describe(op, services=[service])["services"][0]
        if not found.get("exists"):
            raise UsageError(f"there is no service {service!r} on {op.target.describe()}",
                             fix="`iris-ops security-report` lists the services of the instance.")
        state = "enabled" if enabled else "disabled"
        if bool(int(found.get("enabled") or 0)) == enabled:
            _emit(op, service, f"unchanged: already {state}", 20)
            return
        payload = op.runner.run(script_builders.set_service(service, enabled))
        if dry_run:
            _emit(op, service, f"would be {state} (it is {'disabled' if enabled else 'enabled'})", 20)
            return
        if bool(int(payload.get("enabled") or 0)) != enabled:
            raise InstanceError(f"{service} is still {'disabled' if enabled else 'enabled'} after Modify")
        op.log.info("service.changed", enabled=enabled)
        _emit(op, service, f"changed: {state} (was {'disabled' if enabled else 'enabled'})", 20)


SERVICE_HELP = {"service": "the service, e.g. %Service_Bindings (the external Python driver, "
                           "intersystems-irispython) or %Service_CallIn (embedded Python, callin programs)",
                "dry_run": "say what would change, change nothing"}


@task(target=True, help=SERVICE_HELP)
def enable_service(c, service="", dry_run=False, **target):
    """Enable a service, e.g. %Service_Bindings, which the external Python driver connects through."""
    _set_service("enable-service", service, True, dry_run, target)


@task(target=True, help=SERVICE_HELP)
def disable_service(c, service="", dry_run=False, **target):
    """Disable a service."""
    _set_service("disable-service", service, False, dry_run, target)


# --- security-report -----------------------------------------------------------------------------

def report_rows(state: dict) -> dict:
    """The report as JSON: users (roles as a list, flags as booleans) and existing services."""
    users = [{
        "name": u["name"],
        "full_name": u.get("full_name", ""),
        "enabled": bool(int(u.get("enabled") or 0)),
        "roles": [r for r in str(u.get("roles") or "").split(",") if r],
        "change_password": bool(int(u.get("change_password") or 0)),
        "password_never_expires": bool(int(u.get("password_never_expires") or 0)),
        "account_never_expires": bool(int(u.get("account_never_expires") or 0)),
        "expiration_date": u.get("expiration_date") or None,
    } for u in state["users"] if u.get("exists")]
    services = [{"name": s["name"], "enabled": bool(int(s.get("enabled") or 0)), "authe_enabled": s.get("authe_enabled")}
                for s in state["services"] if s.get("exists")]
    return {"users": users, "services": services}


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


@task(target=True, help={"json": "print JSON instead of tables",
                         "dry_run": "accepted for uniformity: the report changes nothing"})
def security_report(c, json_=False, dry_run=False, **target):
    """Users with their roles, password expiry and forced-change state; services, enabled or not."""
    from . import script_builders

    op = _operation("security-report", target, dry_run)
    with op.bound():
        report = report_rows(_describe(op, users=None, services=script_builders.DOCUMENTED_SERVICES))
    if json_:
        return report  # the program prints it as one JSON document, {"ok": true, ...}
    users = [["USER", "ENABLED", "ROLES", "CHANGE-PASSWORD", "PASSWORD-NEVER-EXPIRES", "EXPIRATION-DATE"]]
    for u in report["users"]:
        users.append([u["name"], _yes(u["enabled"]), ",".join(u["roles"]) or "-", _yes(u["change_password"]),
                      _yes(u["password_never_expires"]), u["expiration_date"] or "-"])
    services = [["SERVICE", "ENABLED"]] + [[s["name"], _yes(s["enabled"])] for s in report["services"]]
    for line in [*_table(users), "", *_table(services)]:
        op.emit(line)
