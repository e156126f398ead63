"""The ObjectScript of the roles, users and services kinds (``iris-ops plan`` and ``apply``): their
readers and change builders, made of iris-ops' public ObjectScript helpers and reader entries
(:mod:`iris_ops.state.entries`).  APIs: ``ref/2024.1/Security/Roles.cls``, ``Security/Users.cls``
and ``Security/Services.cls``.

A password never reaches a script: it is staged in a one-time file (:mod:`.secret`) that the
step reads with :func:`~.script_builders.read_secret` and removes at once, before it uses it.
Whether a password differs is decided inside the instance (:func:`~.script_builders.password_matches`):
the entry says only 1 (the same) or 0, never a hash.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import Code, byref, call, check_status, func, lit, result, set_, var
from iris_ops.state.entries import if_exists, push_entry, put, start_entry

from .script_builders import FILE, SERVICES, USERS, Secret, password_matches, read_secret

__all__ = ["ROLES", "ROLE_PROPERTIES", "USER_PROPERTIES", "SERVICE_PROPERTIES", "removed_key", "read_roles",
           "read_users", "read_services", "forget", "grants_text", "roles_text", "create_role", "modify_role",
           "remove_role", "create_user", "modify_user", "remove_user", "modify_service"]

ROLES = "Security.Roles"
#: Field -> Security.Roles property (Get, Create and Modify).
ROLE_PROPERTIES = {"description": "Description", "resources": "Resources", "granted_roles": "GrantedRoles"}

#: Field -> Security.Users property (Get and Modify), for the fields a user's entry holds.
USER_PROPERTIES = {
    "roles": "Roles", "full_name": "FullName", "comment": "Comment", "enabled": "Enabled",
    "change_password": "ChangePassword", "password_never_expires": "PasswordNeverExpires",
    "account_never_expires": "AccountNeverExpires",
}
#: Field -> Security.Services property.
SERVICE_PROPERTIES = {"enabled": "Enabled", "authentication": "AutheEnabled"}

_GOT, _PROPS = var("sgot"), var("p")


def removed_key(staged: Secret) -> str:
    """The result key a step sets once it removed ``staged``'s directory: an end of the
    ChangeContext that finds it knows there is nothing left to remove."""
    return "secret_removed_" + staged.directory.rstrip("/").rsplit("-", 1)[-1]


def forget(staged: Secret) -> list[Code]:
    """Read the staged password into ``pw``, then remove its directory at once (and say so), so
    that nothing after this can leave it behind."""
    directory = lit(staged.directory)
    return [
        *read_secret(staged),
        o.if_(call(FILE, "DirectoryExists", directory),
              o.check_true(call(FILE, "RemoveDirectoryTree", directory), "cannot remove the one-time secret directory")),
        result(removed_key(staged), 1),
    ]


def read_roles(keys: Sequence[str]) -> list[list[Code]]:
    """Per role: ``exists``, ``description``, ``resources`` (``res:RW,...``) and ``granted_roles``
    (``a,b``), as Security.Roles.Get gives them."""
    out = []
    for key in keys:
        name = names.role(key)
        out.append([
            *start_entry(call(ROLES, "Exists", lit(name)), name=name),
            if_exists(o.kill(_GOT), check_status(call(ROLES, "Get", lit(name), byref("sgot"))),
                      *[put(field, func("$Get", var("sgot", prop))) for field, prop in ROLE_PROPERTIES.items()],
                      o.kill(_GOT)),
            push_entry("roles"),
        ])
    return out


def read_users(users: list[tuple[str, Secret | None]]) -> list[list[Code]]:
    """Per user (name, its staged password or None): ``exists`` and the fields of
    :data:`USER_PROPERTIES` (Security.Users.Get); with a staged password also ``password_env``,
    1 when it already is the user's password and 0 when not."""
    out = []
    for name, staged in users:
        statements = [
            *start_entry(call(USERS, "Exists", lit(name)), name=name),
            if_exists(o.kill(_GOT), check_status(call(USERS, "Get", lit(name), byref("sgot"))),
                      *[put(field, func("$Get", var("sgot", prop))) for field, prop in USER_PROPERTIES.items()],
                      o.kill(_GOT)),
        ]
        if staged is not None:
            statements += [*forget(staged), if_exists(*password_matches(lit(name)), put("password_env", var("same"))),
                           o.kill(var("pw"), var("same"))]
        out.append([*statements, push_entry("users")])
    return out


def read_services(names: list[str]) -> list[list[Code]]:
    """Per service: ``exists``, ``enabled`` and ``authentication`` (the AutheEnabled bitmap), as
    Security.Services.Get gives them."""
    return [[
        *start_entry(call(SERVICES, "Exists", lit(name)), name=name),
        if_exists(o.kill(_GOT), check_status(call(SERVICES, "Get", lit(name), byref("sgot"))),
                  *[put(field, func("$Get", var("sgot", prop))) for field, prop in SERVICE_PROPERTIES.items()],
                  o.kill(_GOT)),
        push_entry("services"),
    ] for name in names]


def _iris_value(value: Any) -> str | int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list):
        return ",".join(value)
    return value


def grants_text(grants: Mapping[str, str]) -> str:
    """A role's resources as Security.Roles takes them: ``res:RW,res2:R``."""
    return ",".join(f"{names.resource(resource)}:{perm}" for resource, perm in grants.items())


def roles_text(roles: Sequence[str]) -> str:
    return ",".join(names.role(role) for role in roles)


def _role_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The Security.Roles properties of the fields given: a role's resources as ``{resource:
    permission}``, its granted roles as a list."""
    convert = {"description": str, "resources": grants_text, "granted_roles": roles_text}
    return {ROLE_PROPERTIES[key]: convert[key](value) for key, value in fields.items() if key in ROLE_PROPERTIES}


def create_role(name: str, fields: Mapping[str, Any]) -> list[Code]:
    """Security.Roles.Create(Name, Description, Resources, GrantedRoles)."""
    values = _role_values(fields)
    return [check_status(call(ROLES, "Create", lit(names.role(name)), lit(values.get("Description", "")),
                              lit(values.get("Resources", "")), lit(values.get("GrantedRoles", ""))))]


def modify_role(name: str, fields: Mapping[str, Any]) -> list[Code]:
    """Security.Roles.Modify(Name, .Properties): only the fields given (``Resources`` "" removes
    every resource, as the class reference says)."""
    return [o.kill(_PROPS), *[set_(var("p", prop), lit(value)) for prop, value in _role_values(fields).items()],
            check_status(call(ROLES, "Modify", lit(names.role(name)), byref("p"))), o.kill(_PROPS)]


def remove_role(name: str) -> list[Code]:
    """Security.Roles.Delete when the role exists; nothing when it does not."""
    role = lit(names.role(name))
    return [o.if_(call(ROLES, "Exists", role), check_status(call(ROLES, "Delete", role)))]


def create_user(name: str, fields: Mapping[str, Any], staged: Secret) -> list[Code]:
    """Security.Users.Create with the staged password and the fields given; ChangePassword and
    Enabled are always passed (0 and 1 when not given, their InitialExpression), as create-user
    does.  Create(Username, UserRoles, Password, FullName, NameSpace, Routine, ExpirationDate,
    ChangePassword, Enabled, Comment, Flags, PhoneNumber, PhoneProvider, Attributes,
    AccountNeverExpires, PasswordNeverExpires)."""
    given = {key: _iris_value(value) for key, value in fields.items()}

    def at(key: str) -> Any:
        return lit(given[key]) if key in given else None

    return [
        *forget(staged),
        check_status(call(USERS, "Create", lit(name), lit(given.get("roles", "")), var("pw"), at("full_name"), None,
                          None, None, given.get("change_password", 0), given.get("enabled", 1), at("comment"), None,
                          None, None, None, at("account_never_expires"), at("password_never_expires"))),
        o.kill(var("pw")),
    ]


def modify_user(name: str, fields: Mapping[str, Any], staged: Secret | None) -> list[Code]:
    """Security.Users.Modify with exactly the fields given (and the staged password as
    ``Password``, when given): only the keys passed change."""
    statements = [o.kill(_PROPS), *[set_(var("p", USER_PROPERTIES[key]), lit(_iris_value(value)))
                                    for key, value in fields.items() if key in USER_PROPERTIES]]
    if staged is not None:
        statements += [*forget(staged), set_(var("p", "Password"), var("pw"))]
    return [*statements, check_status(call(USERS, "Modify", lit(name), byref("p"))), o.kill(_PROPS, var("pw"))]


def remove_user(name: str) -> list[Code]:
    """Security.Users.Delete when the user exists; nothing when it does not."""
    return [o.if_(call(USERS, "Exists", lit(name)), check_status(call(USERS, "Delete", lit(name))))]


def modify_service(name: str, fields: Mapping[str, Any]) -> list[Code]:
    """Security.Services.Modify with ``Enabled`` and ``AutheEnabled`` (a bitmap) as given."""
    return [o.kill(_PROPS), *[set_(var("p", SERVICE_PROPERTIES[key]), lit(_iris_value(value)))
                              for key, value in fields.items() if key in SERVICE_PROPERTIES],
            check_status(call(SERVICES, "Modify", lit(name), byref("p"))), o.kill(_PROPS)]
