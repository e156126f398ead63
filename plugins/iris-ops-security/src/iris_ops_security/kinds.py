"""The kinds this plugin adds to the desired state (the ``state_kinds`` hook): ``roles``, ``users``
and ``services``, read, planned and applied like iris-ops' own kinds (docs/STATE.md).  Roles
come right after resources (a role grants them), users and services after every core kind.

A user's password is never in a state file: ``password_env`` names the environment variable that
holds it.  The plan reads it from there, stages it in the instance (:mod:`.secret`) and lets the
instance say whether it already is the user's password; the plan shows a password only as
"changed", and a password change cannot be undone (the old one cannot be read back).

A service exists or not: it is never created or removed, and a state naming one the instance
lacks is refused.  Its ``authentication`` is the ``AutheEnabled`` bitmap as a list of the
method names ``Security.Services`` documents for its bits.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Mapping

from iris_ops import names
from iris_ops.errors import InternalError, SystemTargetError, UsageError
from iris_ops.state.kinds import ChangeContext, Kind, flag, iris_permission, permission, role_list, text
from iris_ops.state.model import Field, Schema, StateObject

from . import secret, state_scripts, tasks

if TYPE_CHECKING:
    from .script_builders import Secret

__all__ = ["AUTHENTICATION", "MACROS", "PREDEFINED_USERS", "ROLES", "USERS", "SERVICES", "grants", "grants_from_cpf",
           "methods", "methods_of_bits", "bits_of", "authentication_from_cpf"]

#: Security.Services ``AutheEnabled`` (ref/2024.1/Security/Services.cls): each documented bit by
#: the name the reference gives it ("Bit 5 - AuthePassword"), without the ``Authe``.
AUTHENTICATION: tuple[tuple[str, int], ...] = (
    ("K5CCache", 0), ("K5Prompt", 1), ("K5API", 2), ("K5KeyTab", 3), ("OS", 4), ("Password", 5),
    ("Unauthenticated", 6), ("KB", 7), ("KBEncryption", 8), ("KBIntegrity", 9), ("System", 10), ("LDAP", 11),
    ("Delegated", 13), ("LoginToken", 14), ("TwoFactorSMS", 20), ("TwoFactorPW", 21), ("MutualTLS", 25),
)
_BIT = {name.upper(): (name, bit) for name, bit in AUTHENTICATION}
#: The ``$$$`` macros a merge file's AutheEnabled may sum: those of the "Security Macros" list
#: (GCMF) whose name is the name Security.Services gives a bit (the list gives no values; its
#: example sums them, ``$$$AuthePassword+$$$AutheUnauthenticated``, so each is its bit's value).
#: The others (AutheLDAPCache, AutheTwoFactorSMS, AutheMutualTLS, ...) name no documented bit.
MACROS = {f"Authe{name}": 1 << bit for name, bit in AUTHENTICATION
          if name not in ("System", "TwoFactorSMS", "TwoFactorPW", "MutualTLS")}
_UNDOCUMENTED = re.compile(r"^bit([0-9]|[12][0-9]|3[01])$")

#: Users every instance has, and the container's owner (docs "Predefined User Accounts";
#: ADOCK_iris_images_password_owner): never removed, not even by an undo or --prune.
PREDEFINED_USERS = ("Admin", "CSPSystem", "IAM", "SuperUser", "UnknownUser", "_Ensemble", "_PUBLIC", "_SYSTEM",
                    "irisowner")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SERVICE = re.compile(r"^%service_[a-z]+$", re.IGNORECASE)


# --- authentication methods ---------------------------------------------------------------------

def methods(value: Any) -> list[str]:
    """A service's authentication methods: names of :data:`AUTHENTICATION` (any case), each once,
    given back as the reference spells them, in bit order."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError("expected a list of authentication methods, e.g. [\"Password\"]")
    found: dict[int, str] = {}
    for item in value:
        name, bit = _BIT.get(item.upper(), ("", -1))
        if not name:
            raise UsageError(f"unknown authentication method {item!r} "
                             f"(known: {', '.join(n for n, _ in AUTHENTICATION)})")
        if bit in found:
            raise UsageError(f"authentication method {name} is named twice")
        found[bit] = name
    return [found[bit] for bit in sorted(found)]


def methods_of_bits(value: Any) -> Any:
    """``AutheEnabled`` as the instance gives it (a number) in this field's terms, in bit order
    as :func:`methods` gives them (so equal lists are equal methods); a bit the reference does
    not document reads ``bit<N>``, so that an undo can set it back."""
    if not str(value).isdigit():
        return value
    bits = int(value)
    named = {bit: name for name, bit in AUTHENTICATION}
    return [named.get(bit, f"bit{bit}") for bit in range(bits.bit_length()) if bits & (1 << bit)]


def bits_of(value: list[str]) -> int:
    """The ``AutheEnabled`` bitmap of method names (and ``bit<N>`` of :func:`methods_of_bits`)."""
    bits = 0
    for item in value:
        undocumented = _UNDOCUMENTED.match(item)
        bits |= 1 << (int(undocumented.group(1)) if undocumented else _BIT[item.upper()][1])
    return bits


def authentication_from_cpf(value: str) -> list[str]:
    """A merge file's ``AutheEnabled``: a number, or documented macros summed with ``+``."""
    if value.isdigit():
        methods_named = methods_of_bits(value)
        unknown = [item for item in methods_named if _UNDOCUMENTED.match(item)]
        if unknown:
            raise UsageError(f"{value} sets {', '.join(unknown)}, which Security.Services does not document")
        return methods_named
    out = []
    for part in value.split("+"):
        macro = part.strip()[3:] if part.strip().startswith("$$$") else ""
        if macro not in MACROS:
            raise UsageError(f"{part.strip()!r} is not a macro whose value is documented: write a number "
                             f"or a sum of {', '.join('$$$' + m for m in MACROS)}")
        out.append(methods_of_bits(MACROS[macro])[0])
    return out


# --- value checks -------------------------------------------------------------------------------

def _user_name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise UsageError("a user name cannot be empty")
    return tasks.user_name(value)


def _service_name(value: Any) -> str:
    # any case: InterSystems' own merge example writes %service_ecp; the instance says whether
    # it knows the name as written (the reference does not say whether it matches without case)
    if not isinstance(value, str) or not _SERVICE.match(value):
        raise UsageError(f"invalid service name {value!r}: services are named like %Service_Bindings")
    return value


def _env_name(value: Any) -> str:
    # never quoted: someone may have written the password itself here
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise UsageError("is not the name of an environment variable (letters, digits, _): it names the variable "
                         "that holds the password, never the password")
    return value


def _long_text(value: Any) -> str:
    return text(value, limit=2048)  # FullName and Comment: MAXLEN 2048


def _iris_flag(value: Any) -> Any:
    return {"0": False, "1": True, "": False}.get(str(value), value)


def _iris_roles(value: Any) -> list[str]:
    return [part for part in str(value).split(",") if part]


def _same_roles(wanted: list[str], current: Any) -> bool:
    return isinstance(current, list) and sorted(r.upper() for r in wanted) == sorted(r.upper() for r in current)


def grants(value: Any) -> dict[str, str]:
    """A role's resources: ``{resource: permission}``, each resource once (compared without case)."""
    if not isinstance(value, dict):
        raise UsageError("expected a table of resource = permission, e.g. {\"%DB_APP\" = \"RW\"}")
    out: dict[str, str] = {}
    for resource, perm in value.items():
        name = names.resource(resource)
        if name.upper() in {known.upper() for known in out}:
            raise UsageError(f"resource {name} is granted twice (IRIS compares resource names without case)")
        out[name] = permission(perm, empty=False)
    return out


def grants_from_cpf(value: str) -> dict[str, str]:
    """A merge file's ``Resources``: ``res:RW,res2:R`` (checked as :func:`grants` then)."""
    if "$$$" in value:
        raise UsageError("$$$ macros are for the security kinds' AutheEnabled and LDAPFlags, not here")
    out: dict[str, str] = {}
    for part in value.split(",") if value else []:
        resource, sep, perm = part.partition(":")
        if not sep:
            raise UsageError(f"grant {names.shown(part)} names no permission: write Resource:RW")
        if resource in out:
            raise UsageError(f"resource {names.shown(resource)} is granted twice")
        out[resource] = perm
    return out


def _iris_grants(value: Any) -> dict[str, str]:
    """``Resources`` of Security.Roles.Get: ``res:RWU,res2:R``."""
    out: dict[str, str] = {}
    for part in str(value).split(","):
        if part:
            resource, _, perm = part.partition(":")
            out[resource] = iris_permission(perm)
    return out


def _same_grants(wanted: dict[str, str], current: Any) -> bool:
    return isinstance(current, dict) and {k.upper(): v for k, v in wanted.items()} == \
        {k.upper(): v for k, v in current.items()}


def _flag_field(name: str, prop: str, meaning: str) -> Field:
    return Field(name, prop, bool, flag, meaning, from_iris=_iris_flag)


NO_PASSWORD = ("a state never holds a password: set password_env = \"VAR\", the name of an environment variable "
               "that holds it")

# --- roles ---------------------------------------------------------------------------------------

ROLES = Kind(
    Schema(
        kind="roles", title="role", key=("name",),
        fields=(
            Field("name", "Name", str, names.role, "the role name", required=True),
            Field("description", "Description", str, text, "its description"),
            Field("resources", "Resources", dict, grants, "the resources it grants: {resource = permission}",
                  from_iris=_iris_grants, same=_same_grants, from_cpf=grants_from_cpf),
            Field("granted_roles", "GrantedRoles", list, role_list, "the roles it grants in turn",
                  from_iris=_iris_roles, same=_same_roles),
        ),
    ),
    reader=lambda keys: state_scripts.read_roles([key[0] for key in keys]),
    cpf_noun="Role",
    caseless_key=("name",),
    create=lambda key, fields, ctx: state_scripts.create_role(key[0], fields),
    modify=lambda key, fields, ctx: state_scripts.modify_role(key[0], fields),
    remove=lambda key, fields, ctx: state_scripts.remove_role(key[0]),
    after=("resources",),  # a role grants resources: created after them, removed before them
)

# --- users ---------------------------------------------------------------------------------------

USER_SCHEMA = Schema(
    kind="users", title="user", key=("name",),
    fields=(
        Field("name", "Name", str, _user_name, "the user name (compared without case)", required=True),
        Field("roles", "Roles", list, role_list, "its roles, exactly these", from_iris=_iris_roles, same=_same_roles),
        Field("full_name", "FullName", str, _long_text, "its full name"),
        Field("comment", "Comment", str, _long_text, "a comment"),
        _flag_field("enabled", "Enabled", "whether it may log in"),
        _flag_field("change_password", "ChangePassword", "whether it must change its password at the next login"),
        _flag_field("password_never_expires", "PasswordNeverExpires", "whether its password never expires"),
        _flag_field("account_never_expires", "AccountNeverExpires", "whether its account never expires"),
        Field("password_env", "Password", str, _env_name,
              "the name of the environment variable holding its password (never the password)",
              from_iris=lambda same: str(same) == "1", same=lambda wanted, same: same is True, secret=True),
    ),
    refused=(
        ("password", NO_PASSWORD),
        ("Password", "a desired state never holds a password: describe the user in a TOML state file with "
                     "password_env (the name of an environment variable holding it), or leave this line to `iris merge`"),
        ("PasswordHash", "not modelled: IRIS documents setting a PasswordHash only through a merge (Config.Startup "
                         "PasswordHash), so iris-ops can neither set it nor compare it exactly; use password_env in a "
                         "TOML state file, or leave this line to `iris merge`"),
    ),
)


def _password(obj: StateObject) -> str:
    return secret.password_from_env(obj.values["password_env"], f"user {obj.label} ({obj.origin})")


def _stage(ctx: ChangeContext, password: str, *, for_read: bool) -> "Secret":
    """Put ``password`` in the instance for one script; its removal is an end of ``ctx`` (done
    by the transport unless the script's result says the script removed it)."""
    op = ctx.operation
    if op is None:
        raise InternalError("a user's password can only be staged by an operation (ChangeContext.operation)")
    if not ctx.manager_directory:  # a plan's read: the directory is not known before the session
        from .script_builders import describe

        ctx.manager_directory = op.runner.run(describe([]), changes=False)["manager_directory"]
    staged = secret.stage(op, password, ctx.manager_directory, for_read=for_read)
    key = state_scripts.removed_key(staged)
    ctx.on_end(lambda: secret.discard(op, staged, bool((ctx.result or {}).get(key)), for_read=for_read))
    return staged


def _read_users(objects: list[StateObject], ctx: ChangeContext) -> list[list]:
    passwords = {obj.key: _password(obj) for obj in objects if "password_env" in obj.values}  # every one first
    staged = {key: _stage(ctx, password, for_read=True) for key, password in passwords.items()}
    del passwords
    return state_scripts.read_users([(obj.key[0], staged.get(obj.key)) for obj in objects])


def _create_user(key: tuple[str, ...], fields: Mapping[str, Any], ctx: ChangeContext) -> list:
    if "password_env" not in fields:
        raise UsageError(f"user {key[0]} does not exist, and a new user needs a password",
                         fix="Give it password_env = \"VAR\" in the state file, VAR holding its password.")
    password = secret.password_from_env(fields["password_env"], f"user {key[0]}")
    return state_scripts.create_user(key[0], fields, _stage(ctx, password, for_read=False))


def _modify_user(key: tuple[str, ...], fields: Mapping[str, Any], ctx: ChangeContext) -> list:
    staged = None
    if "password_env" in fields:
        staged = _stage(ctx, secret.password_from_env(fields["password_env"], f"user {key[0]}"), for_read=False)
    return state_scripts.modify_user(key[0], fields, staged)


def _remove_user(key: tuple[str, ...], fields: Mapping[str, Any], ctx: ChangeContext) -> list:
    if key[0].upper() in {name.upper() for name in PREDEFINED_USERS}:
        raise SystemTargetError(f"user {key[0]} is predefined: iris-ops never removes it",
                                fix="Disable it instead (enabled = false).")
    return state_scripts.remove_user(key[0])


USERS = Kind(
    USER_SCHEMA,
    reader=lambda keys: state_scripts.read_users([(key[0], None) for key in keys]),
    read_objects=_read_users,
    cpf_noun="User",
    caseless_key=("name",),
    create=_create_user,
    modify=_modify_user,
    remove=_remove_user,
    one_way=("password_env",),
)

# --- services ------------------------------------------------------------------------------------


def _modify_service(key: tuple[str, ...], fields: Mapping[str, Any], ctx: ChangeContext) -> list:
    given = {name: bits_of(value) if name == "authentication" else value for name, value in fields.items()}
    return state_scripts.modify_service(key[0], given)


SERVICES = Kind(
    Schema(
        kind="services", title="service", key=("name",),
        fields=(
            Field("name", "Name", str, _service_name, "the service, e.g. %Service_Bindings", required=True),
            _flag_field("enabled", "Enabled", "whether it is enabled"),
            Field("authentication", "AutheEnabled", list, methods,
                  "the authentication methods it allows, e.g. [\"Password\"]: exactly these",
                  from_iris=methods_of_bits, from_cpf=authentication_from_cpf),
        ),
    ),
    reader=lambda keys: state_scripts.read_services([key[0] for key in keys]),
    cpf_noun="Service",
    # two spellings of one name are refused: right whether or not IRIS matches names without case
    caseless_key=("name",),
    modify=_modify_service,
    must_exist=True,
)
