"""The simulated security database: users, roles and services, kept in the instance state
(``state.json`` key ``security``) under the instance lock, as IRIS keeps them in IRISSYS.

Passwords are never stored: a user record holds a PBKDF2 hash and its salt, computed with the
system's target algorithm and work factor (Security.System ``PasswordHashAlgorithm`` "SHA512",
``PasswordHashWorkFactor`` 10000) as Security.Users documents.  The hash and the salt are as
long as the algorithm's output, as Config.Startup ``ChangePasswordHash`` documents.

What a fresh community container holds (docs "Predefined User Accounts" and "Authentication and
Passwords" for containers, ADOCK_iris_images_password_auth): the predefined accounts with the
password ``SYS``, each flagged to change it at the next login, and ``irisowner``, whose password
login is disabled.  Which accounts are enabled, the roles beyond the documented ones and the
services' initial states are [UNV]; see :data:`DEFAULT_USERS` and :data:`DEFAULT_SERVICES`.
"""

from __future__ import annotations

import string
import time

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "SYSTEM_DEFAULTS", "ALGORITHM_BITS", "DEFAULT_PASSWORD", "DEFAULT_USERS", "DEFAULT_ROLES",
    "DEFAULT_SERVICES", "SERVICE_AUTHE_CAPABILITIES", "LoginRefused", "hash_password", "check_password",
    "pattern_ok", "default_state", "of", "find_user", "find_role", "new_user", "set_password",
    "password_expired", "authenticate", "public_user",
]

#: Security.System defaults (ref/2024.1/Security/System.cls, InitialExpression of each property).
SYSTEM_DEFAULTS = {
    "PasswordPattern": "3.128ANP",
    "PasswordHashAlgorithm": "SHA512",
    "PasswordHashWorkFactor": 10000,
    "PasswordExpirationDays": 0,
}
#: Security.Datatype.PBKDF2Alg values and their bit lengths.
ALGORITHM_BITS = {"SHA1": 160, "SHA224": 224, "SHA256": 256, "SHA384": 384, "SHA512": 512}
DEFAULT_PASSWORD = "SYS"

# name -> (roles, enabled, has the password SYS).  Roles: docs "Predefined User Accounts";
# UnknownUser has no roles under Normal security.  [UNV] enabled states: IAM must be enabled
# before use (documented); _PUBLIC is "not a login account"; _Ensemble is disabled here
# (stricter); the others are enabled.
DEFAULT_USERS: dict[str, tuple[tuple[str, ...], bool, bool]] = {
    "Admin": (("%Manager",), True, True),
    "CSPSystem": ((), True, True),
    "IAM": (("IAM_API",), False, True),
    "SuperUser": (("%All",), True, True),
    "UnknownUser": ((), True, True),
    "_PUBLIC": ((), False, False),
    "_SYSTEM": (("%All",), True, True),
    "_Ensemble": (("%All",), False, True),
    # The container's owner: OS authentication only ("password authentication is disabled for
    # the owner", ADOCK_iris_images_password_auth).
    "irisowner": (("%All",), True, False),
}

# [UNV] role list: the documented predefined roles plus a %DB_<name> role per default database.
DEFAULT_ROLES = (
    "%All", "%Developer", "%Manager", "%Operator", "%SQL", "%SecureBreak", "IAM_API",
    "%DB_%DEFAULT", "%DB_IRISSYS", "%DB_IRISLIB", "%DB_IRISTEMP", "%DB_IRISLOCALDATA", "%DB_IRISAUDIT",
    "%DB_USER", "%DB_APP_DATA", "%DB_APP_CODE",
)

# Services of a Linux instance (docs "Services", GSA_manage_services): name -> (enabled,
# AutheEnabled).  %Service_ComPort, %Service_Console and %Service_Telnet are Windows services and
# do not exist here [UNV].  %Service_CallIn is disabled in the community container (the reason
# iris-ops-security exists); the other initial states and the AutheEnabled bits (16 = OS,
# 32 = password, 64 = unauthenticated) are [UNV].
DEFAULT_SERVICES: dict[str, tuple[bool, int]] = {
    "%Service_Bindings": (True, 32),
    "%Service_CacheDirect": (False, 32),
    "%Service_CallIn": (False, 16),
    "%Service_DataCheck": (False, 0),
    "%Service_DocDB": (False, 32),
    "%Service_ECP": (False, 0),
    "%Service_Login": (False, 32),
    "%Service_Mirror": (False, 0),
    "%Service_Monitor": (False, 0),
    "%Service_Shadow": (False, 0),
    "%Service_Sharding": (False, 0),
    "%Service_Terminal": (True, 48),
    "%Service_WebGateway": (True, 32),
    "%Service_Weblink": (False, 0),
}
SERVICE_AUTHE_CAPABILITIES = 16 | 32 | 64  # [UNV] OS, password and unauthenticated everywhere


class LoginRefused(PermissionError):
    """A password login failed; ``str()`` is what the terminal prints (never the password)."""


class PasswordChangeRequired(LoginRefused):
    """The password was right but must be changed first; ``user`` is the user's name."""

    def __init__(self, user: str) -> None:
        super().__init__("Password change required\nAccess Denied")
        self.user = user


# --- hashing ------------------------------------------------------------------------------------

def _password_bytes(password: str) -> str:
    """[UNV] IRIS hashes the password as UTF-8; identical for ASCII passwords either way."""
    return password.encode("utf-8").decode("latin-1")


def hash_password(password: str, system: dict) -> dict:
    """The stored form of ``password``: PBKDF2 hash, salt, algorithm and work factor."""
    from ..objectscript import encryption  # lazily, as in check_password

    algorithm = system.get("PasswordHashAlgorithm", "SHA512")
    work = int(system.get("PasswordHashWorkFactor", 10000))
    width = ALGORITHM_BITS[algorithm] // 8
    salt = encryption.random_binary(width)
    digest = encryption.pbkdf2(_password_bytes(password), work, salt, width, ALGORITHM_BITS[algorithm])
    return {"Password": digest.encode("latin-1").hex(), "Salt": salt.encode("latin-1").hex(),
            "PasswordHashAlgorithm": algorithm, "PasswordHashWorkFactor": work,
            "PasswordChangedDateTime": _zts()}


def check_password(record: dict, password: str) -> bool:
    if not record.get("Password"):
        return False
    # lazily: a session that only creates a resource or a role never hashes (OpenSSL, secrets)
    import hmac

    from ..objectscript import encryption

    algorithm = record["PasswordHashAlgorithm"]
    stored = bytes.fromhex(record["Password"])
    digest = encryption.pbkdf2(_password_bytes(password), int(record["PasswordHashWorkFactor"]),
                               bytes.fromhex(record["Salt"]).decode("latin-1"), len(stored), ALGORITHM_BITS[algorithm])
    return hmac.compare_digest(digest.encode("latin-1"), stored)


_PUNCTUATION = set(string.punctuation + " ")


def pattern_ok(password: str, pattern: str) -> bool:
    """Match the password against Security.System ``PasswordPattern``.  Only the ``min.maxCODES``
    form with the codes A (letters), N (digits) and P (punctuation, space included) is simulated,
    which covers the default "3.128ANP"; [UNV] non-ASCII letters count as A."""
    if pattern == "":
        return True
    counts, codes = pattern.rstrip("ANP"), pattern[len(pattern.rstrip("ANP")):]
    low, _, high = counts.partition(".")
    if not codes or not low.isdigit() or not high.isdigit():
        raise NotImplementedError(f"password pattern {pattern!r} is not simulated")
    if not int(low) <= len(password) <= int(high):
        return False
    for ch in password:
        if not (("A" in codes and ch.isalpha()) or ("N" in codes and ch in string.digits)
                or ("P" in codes and ch in _PUNCTUATION)):
            return False
    return True


def _zts() -> str:
    """$ZTIMESTAMP-like UTC time ($H format, as Security.Users keeps its date-times)."""
    now = time.time()
    days = int(now // 86400) + 47117  # 1970-01-01 is $H day 47117
    return f"{days},{now % 86400:.3f}"


# --- the store ----------------------------------------------------------------------------------

def _user_record(name: str, roles: tuple[str, ...], enabled: bool, password: str | None, system: dict) -> dict:
    record = {
        "Name": name, "FullName": "", "Comment": "", "Roles": list(roles), "Enabled": int(enabled),
        "ChangePassword": 0, "PasswordNeverExpires": 0, "AccountNeverExpires": 0, "ExpirationDate": "",
        "Flags": 1, "NameSpace": "", "Routine": "", "EmailAddress": "", "PhoneNumber": "", "PhoneProvider": "",
        "Password": "", "Salt": "", "PasswordHashAlgorithm": "N/A", "PasswordHashWorkFactor": 1024,
        "CreateDateTime": _zts(), "PasswordChangedDateTime": _zts(), "InvalidLoginAttempts": 0,
        "LoginDateTime": 0,
    }
    if password is not None:
        record.update(hash_password(password, system))
    return record


def default_state() -> dict:
    system = dict(SYSTEM_DEFAULTS)
    users = {}
    for name, (roles, enabled, has_password) in DEFAULT_USERS.items():
        record = _user_record(name, roles, enabled, DEFAULT_PASSWORD if has_password else None, system)
        record["ChangePassword"] = 1 if has_password else 0
        users[name.lower()] = record
    return {
        "system": system,
        "users": users,
        "roles": {role: {"Name": role, "Description": ""} for role in DEFAULT_ROLES},
        "services": {
            name: {"Name": name, "Enabled": int(enabled), "AutheEnabled": authe,
                   "AutheEnabledCapabilities": SERVICE_AUTHE_CAPABILITIES, "Capabilities": 1,
                   "ClientSystems": "", "Description": name.replace("%Service_", "") + " service"}
            for name, (enabled, authe) in DEFAULT_SERVICES.items()
        },
    }


def of(state: dict) -> dict:
    """The security part of a locked instance state (seeded on first use)."""
    if "security" not in state:
        state["security"] = default_state()
    return state["security"]


def find_user(security: dict, name: str) -> dict | None:
    return security["users"].get(str(name).lower())


def find_role(security: dict, name: str) -> str | None:
    """The role's stored name; role names are case-insensitive (Security.Roles)."""
    wanted = str(name).lower()
    return next((role for role in security["roles"] if role.lower() == wanted), None)


def new_user(security: dict, name: str, roles: list[str], password: str | None) -> dict:
    record = _user_record(name, tuple(roles), True, password, security["system"])
    security["users"][name.lower()] = record
    return record


def set_password(security: dict, record: dict, password: str) -> None:
    record.update(hash_password(password, security["system"]))


def password_expired(security: dict, record: dict) -> bool:
    days = int(security["system"].get("PasswordExpirationDays", 0))
    if not days or record.get("PasswordNeverExpires"):
        return False
    changed = float(str(record.get("PasswordChangedDateTime", "0,0")).split(",")[0] or 0)
    return _today() - changed >= days


def _today() -> float:
    return float(_zts().split(",")[0])


def authenticate(inst: Any, username: str, password: str) -> str:
    """A terminal password login: the user's name, or :class:`LoginRefused`.  The user must exist,
    be enabled, hold a password, match it, and need no password change; [UNV] IRIS then prompts
    for a new password, the simulator refuses the login (stricter)."""
    with inst.locked() as st:
        security = of(st)
        record = find_user(security, username)
        if record is None or not record.get("Enabled") or not check_password(record, password):
            if record is not None:
                record["InvalidLoginAttempts"] = int(record.get("InvalidLoginAttempts", 0)) + 1
            raise LoginRefused("Access Denied")
        if record.get("ChangePassword") or password_expired(security, record):
            raise PasswordChangeRequired(record["Name"])
        record["InvalidLoginAttempts"] = 0
        record["LoginDateTime"] = _zts()
        return record["Name"]


def change_password_at_login(inst: Any, username: str, password: str) -> str:
    """The variant ``password-change-prompt``: the new password the login asked for.  It must
    match the pattern; then it is the user's, the forced change is over, and the login goes on.
    The user's name, or :class:`LoginRefused` (what the terminal prints; never the password)."""
    with inst.locked() as st:
        security = of(st)
        record = find_user(security, username)
        if record is None:
            raise LoginRefused("Access Denied")
        if not pattern_ok(password, str(security["system"].get("PasswordPattern", ""))):
            raise LoginRefused("Password does not match length or pattern requirements\nAccess Denied")
        set_password(security, record, password)
        record["ChangePassword"] = 0
        record["InvalidLoginAttempts"] = 0
        record["LoginDateTime"] = _zts()
        return record["Name"]


def public_user(record: dict) -> dict:
    """A user as ``iris-sim security`` shows it: no hash, no salt."""
    shown = {k: v for k, v in record.items() if k not in ("Password", "Salt")}
    shown["HasPassword"] = bool(record.get("Password"))
    return shown
