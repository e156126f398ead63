"""Security.Users, Security.Roles and the SQLUsers catalog query, simulated over the security
store (:mod:`.security`).

Signatures and documented behaviour: ``ref/2024.1/Security/Users.cls``, ``Security/Roles.cls``
and ``%Library/SQLCatalogPriv.cls`` (IRIS 2024.1 class reference, caretdev/docs-intersystems).
The reference gives no error numbers or texts for these classes: every failure is a #5001
status with a text of the simulator's own [UNV], and the checks are the stricter reading of
what the reference says.  No error text ever contains a password.
"""

from __future__ import annotations

import datetime as _dt

from ..objectscript import runtime
from ..objectscript.runtime import (
    ByRef,
    IrisError,
    Process,
    SimClass,
    SimObject,
    arg,
    error_status,
    ok_status,
    register_class,
    set_ref,
)
from . import security
from .classes.common import E_GENERAL, props_in

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "NAME_MAX", "GET_KEYS", "WRITABLE", "BOOLEANS", "PASSWORD_KEYS", "CREATE_PARAMETERS",
    "SecurityUserObject", "SecurityUsers", "sql_users",
]

_HOROLOG_EPOCH = _dt.date(1840, 12, 31).toordinal()
NAME_MAX = 160  # "Maximum length of a user name is 160 characters"

#: Get() keys, as the reference lists them (Attributes, LegacyPassword and the Invalid*/Login*
#: bookkeeping included where simulated).
GET_KEYS = (
    "AccountNeverExpires", "ChangePassword", "Comment", "EmailAddress", "Enabled", "ExpirationDate", "Flags",
    "FullName", "InvalidLoginAttempts", "LoginDateTime", "NameSpace", "PasswordHashAlgorithm",
    "PasswordHashWorkFactor", "PasswordNeverExpires", "PhoneNumber", "PhoneProvider", "Roles", "Routine", "Salt",
    "SuperUser",
)
#: What Modify() and the Properties form of Create() accept.  [UNV] any other key (the read-only
#: ones Get() returns included) is refused rather than ignored.
WRITABLE = (
    "AccountNeverExpires", "ChangePassword", "Comment", "EmailAddress", "Enabled", "ExpirationDate", "FullName",
    "NameSpace", "PasswordNeverExpires", "PhoneNumber", "PhoneProvider", "Roles", "Routine",
)
BOOLEANS = ("AccountNeverExpires", "ChangePassword", "Enabled", "PasswordNeverExpires")
#: Modify(): 'you can either set Properties("Password")=NewPassword, or
#: Properties("ExternalPassword")=NewPassword'; PasswordExternal is the property's own name.
PASSWORD_KEYS = ("Password", "ExternalPassword", "PasswordExternal")
#: Create()'s positional parameters, in order.
CREATE_PARAMETERS = (
    "Name", "Roles", "Password", "FullName", "NameSpace", "Routine", "ExpirationDate", "ChangePassword", "Enabled",
    "Comment", "Flags", "PhoneNumber", "PhoneProvider", "Attributes", "AccountNeverExpires", "PasswordNeverExpires",
    "PasswordHashAlgorithm", "PasswordHashWorkFactor", "EscalationRoles",
)


def _fail(text: str) -> Any:
    return error_status(E_GENERAL, text)


def _odbc_to_h(value: str) -> Any:
    if not value:
        return ""
    return _dt.date.fromisoformat(value).toordinal() - _HOROLOG_EPOCH


def _superuser(record: dict) -> int:
    return 1 if any(role.lower() == "%all" for role in record["Roles"]) else 0


def _get_value(record: dict, key: str) -> Any:
    if key == "Roles":
        return ",".join(record["Roles"])
    if key == "Salt":
        return bytes.fromhex(record.get("Salt", "")).decode("latin-1")
    if key == "SuperUser":
        return _superuser(record)
    return record.get(key, "")


def _holds_all(roles: list[str]) -> bool:
    return any(role.lower() == "%all" for role in roles)


def _last_superuser(security_db: dict, record: dict) -> bool:
    """Whether ``record`` is the only user holding %All ("At least one user must hold the %All role")."""
    holders = [r for r in security_db["users"].values() if _superuser(r)]
    return holders == [record]


class _Changes:
    """Validated property changes for one user (Create or Modify): all checks first, then apply."""

    def __init__(self, security_db: dict, props: dict) -> None:
        self.security_db = security_db
        self.values: dict[str, Any] = {}
        self.password: str | None = None
        self.error: Any = None
        for key, value in props.items():
            if self.error is None:
                self.error = self._take(key, value)

    def _take(self, key: str, value: Any) -> Any:
        if key in PASSWORD_KEYS:
            return self._take_password(str(value))
        if key not in WRITABLE:
            return _fail(f"Property '{key}' of Security.Users cannot be set")  # [UNV]
        if key in BOOLEANS:
            if str(value) not in ("0", "1"):
                return _fail(f"{key} must be 0 or 1")  # [UNV]
            self.values[key] = int(value)
        elif key == "Roles":
            return self._take_roles(str(value))
        elif key == "ExpirationDate":
            try:
                self.values[key] = _dt.date.fromisoformat(str(value)).isoformat() if str(value) else ""
            except ValueError:
                return _fail(f"ExpirationDate {value} is not an ODBC date (YYYY-MM-DD)")  # [UNV]
        else:
            self.values[key] = str(value)
        return None

    def _take_password(self, value: str) -> Any:
        # "If the input argument is prefixed with $c(0), don't validate the password pattern."
        if value.startswith("\x00"):
            self.password = value[1:]
            return None
        if not security.pattern_ok(value, self.security_db["system"]["PasswordPattern"]):
            return _fail("Password does not match length or pattern requirements")  # [UNV] text; never the password
        self.password = value
        return None

    def _take_roles(self, text: str) -> Any:
        names = [part.strip() for part in text.split(",")] if text.strip() else []
        roles: list[str] = []
        for name in names:
            role = security.find_role(self.security_db, name)
            if role is None:
                return _fail(f"Role {name} does not exist")  # "All the roles granted to a user must exist"
            if role in roles:
                return _fail(f"Role {role} is listed twice")  # "A user cannot have duplicate roles"
            roles.append(role)
        self.values["Roles"] = roles
        return None

    def refuse_for(self, record: dict) -> Any:
        """Checks that need the user: the last %All holder keeps %All."""
        roles = self.values.get("Roles")
        if roles is not None and _superuser(record) and not _holds_all(roles) \
                and _last_superuser(self.security_db, record):
            return _fail("At least one user must hold the %All role")
        return None

    def apply(self, record: dict) -> None:
        record.update(self.values)
        if self.password is not None:
            security.set_password(self.security_db, record, self.password)


def _name_error(security_db: dict, name: str) -> Any:
    if not name or len(name) > NAME_MAX:
        return _fail(f"User name must be 1 to {NAME_MAX} characters")
    if "*" in name or "@" in name:  # "@" only with multiple domains, which the simulator does not have
        return _fail(f"User name {name} may not contain * or @")
    if any(ord(ch) < 32 for ch in name):
        return _fail("User name may not contain control characters")  # [UNV]
    if security.find_role(security_db, name) is not None:
        return _fail(f"User name {name} is the name of a role")  # "cannot be the same as a role name"
    return None


class SecurityUserObject(SimObject):
    """The object handle Exists() returns: the documented scalar properties, read-only here."""

    class_name = "Security.Users"

    def __init__(self, record: dict) -> None:
        self.record = dict(record)

    def get_property(self, proc: Process, name: str) -> Any:
        record = self.record
        if name == "Password":
            return bytes.fromhex(record.get("Password", "")).decode("latin-1")
        if name == "ExpirationDate":
            return _odbc_to_h(record.get("ExpirationDate", ""))
        if name in ("Roles", "Attributes", "EscalationRoles"):
            raise IrisError("UNIMPLEMENTED", f"*simulator has no list collections ({name}); use Get()")
        if name in ("Salt", "SuperUser"):
            return _get_value(record, name)
        if name in record:
            return record[name]
        return super().get_property(proc, name)

    def set_property(self, proc: Process, name: str, value: Any) -> None:
        raise IrisError("UNIMPLEMENTED", "*simulator does not save Security.Users objects; use Modify()")


@register_class
class SecurityUsers(SimClass):
    """Security.Users (ref/2024.1/Security/Users.cls).  User names are not case-sensitive."""

    name = "Security.Users"
    namespace = "%SYS"

    @staticmethod
    def _find(proc: Process, name: str) -> dict | None:
        """A copy of the user's record, or None."""
        with proc.instance.locked() as st:
            record = security.find_user(security.of(st), name)
            return dict(record) if record else None

    def Exists(self, proc: Process, *args: Any) -> Any:
        """Exists(Username, ByRef User, ByRef Status, Flag=0) As %Boolean.  Exists: User is the
        object handle and Status is 'User "x" already exists'; else User is null and Status
        'User "x" does not exist'."""
        args = list(args)
        name = str(arg(args, 0))
        record = self._find(proc, name)
        if record is None:
            set_ref(args, 1, "")
            set_ref(args, 2, _fail(f'User "{name}" does not exist'))
            return 0
        set_ref(args, 1, SecurityUserObject(record))
        set_ref(args, 2, _fail(f'User "{record["Name"]}" already exists'))
        return 1

    def Get(self, proc: Process, *args: Any) -> Any:
        """Get(Username, ByRef Properties) As %Status."""
        args = list(args)
        name = str(arg(args, 0))
        record = self._find(proc, name)
        if record is None:
            return _fail(f'User "{name}" does not exist')
        if len(args) > 1 and isinstance(args[1], ByRef):
            for key in GET_KEYS:
                args[1].set_sub(key, _get_value(record, key))
        return ok_status()

    def Modify(self, proc: Process, *args: Any) -> Any:
        """Modify(Username, ByRef Properties) As %Status: only the keys passed change."""
        args = list(args)
        name = str(arg(args, 0))
        props = props_in(args, 1)
        with proc.instance.locked() as st:
            security_db = security.of(st)
            record = security.find_user(security_db, name)
            if record is None:
                return _fail(f'User "{name}" does not exist')
            changes = _Changes(security_db, props)
            refused = changes.error or changes.refuse_for(record)
            if refused is not None:
                return refused
            changes.apply(record)
        return ok_status()

    def Create(self, proc: Process, *args: Any) -> Any:
        """Create(Username, UserRoles, Password, FullName, NameSpace, Routine, ExpirationDate,
        ChangePassword, Enabled, Comment, Flags=1, ...) As %Status, or Create(Username, .Properties).
        [UNV] omitted positional values take the properties' InitialExpression (Enabled 1,
        ChangePassword 0); an empty password fails the password pattern."""
        args = list(args)
        name = str(arg(args, 0))
        if len(args) == 2 and isinstance(args[1], ByRef) and args[1].subscripts:
            props = props_in(args, 1)
            props.setdefault("Password", "")
        else:
            props = {}
            for index, key in enumerate(CREATE_PARAMETERS[1:], start=1):
                if key in ("Attributes", "Flags", "PasswordHashAlgorithm", "PasswordHashWorkFactor", "EscalationRoles"):
                    continue  # internal or not simulated; ignored as "other values are ignored"
                value = arg(args, index, None)
                if value is not None:
                    props[key] = value
            props.setdefault("Password", "")
        with proc.instance.locked() as st:
            security_db = security.of(st)
            if security.find_user(security_db, name) is not None:
                return _fail(f'User "{name}" already exists')
            if (bad := _name_error(security_db, name)) is not None:
                return bad
            changes = _Changes(security_db, props)
            if changes.error is not None:
                return changes.error
            record = security.new_user(security_db, name, [], None)
            changes.apply(record)
        return ok_status()

    def Delete(self, proc: Process, *args: Any) -> Any:
        """Delete(Username) As %Status.  [UNV] the last holder of %All cannot be deleted."""
        name = str(arg(list(args), 0))
        with proc.instance.locked() as st:
            security_db = security.of(st)
            record = security.find_user(security_db, name)
            if record is None:
                return _fail(f'User "{name}" does not exist')
            if _superuser(record) and _last_superuser(security_db, record):
                return _fail("At least one user must hold the %All role")
            del security_db["users"][name.lower()]
        return ok_status()


@runtime.register_query("%Library.SQLCatalogPriv", "SQLUsers")
def sql_users(proc: Process, *args: Any) -> tuple[list[str], list[tuple]]:
    """%Library.SQLCatalogPriv:SQLUsers() (ref/2024.1/%Library/SQLCatalogPriv.cls): every user.
    ROWSPEC USERNAME, DESCRIPTION, ENABLED (Yes/No), NAMESPACE, ROUTINE.  [UNV] DESCRIPTION is the
    full name and rows come in name order."""
    if args:
        raise IrisError("PARAMETER")
    with proc.instance.locked() as st:
        users = sorted(security.of(st)["users"].values(), key=lambda r: r["Name"].lower())
    rows = [(r["Name"], r.get("FullName", ""), "Yes" if r.get("Enabled") else "No", r.get("NameSpace", ""),
             r.get("Routine", "")) for r in users]
    return ["USERNAME", "DESCRIPTION", "ENABLED", "NAMESPACE", "ROUTINE"], rows
