"""The builders of every ObjectScript script this plugin runs, made only of iris-ops' public
ObjectScript helpers (:mod:`iris_ops.objectscript`).  APIs: IRIS 2024.1 class reference, ``Security/Users.cls``,
``Security/Services.cls``, ``Security/Roles.cls``, ``%Library/SQLCatalogPriv.cls``,
``%Stream/FileBinary.cls``, ``%SYSTEM/Encryption.cls``.

Names and values reach the scripts as literals (:func:`iris_ops.objectscript.lit`); a password
never does: :func:`read_secret` reads it inside the instance from a one-time file, unmasked with
a pad that is useless without the file (see the README, "How a password reaches the instance").
"""

from __future__ import annotations

from dataclasses import dataclass

from iris_ops import objectscript as o
from iris_ops.objectscript import Code, Script, byref, call, check_sql, check_status, func, lit, method, op, prop, result, set_, system, var

__all__ = [
    "USERS", "SERVICES", "FILE", "DOCUMENTED_SERVICES", "HASH_BITS", "Secret", "describe", "modify_users",
    "set_service", "read_secret", "password_matches", "set_password",
]

USERS = "Security.Users"
SERVICES = "Security.Services"
FILE = "%Library.File"
#: The services InterSystems documents (GSA_manage_services); the report shows those that exist.
DOCUMENTED_SERVICES = (
    "%Service_Bindings", "%Service_CacheDirect", "%Service_CallIn", "%Service_ComPort", "%Service_Console",
    "%Service_DataCheck", "%Service_DocDB", "%Service_ECP", "%Service_Login", "%Service_Mirror",
    "%Service_Monitor", "%Service_Shadow", "%Service_Sharding", "%Service_Telnet", "%Service_Terminal",
    "%Service_WebGateway", "%Service_Weblink",
)
#: PBKDF2 bit lengths of Security.Datatype.PBKDF2Alg's values.
HASH_BITS = (("SHA1", 160), ("SHA224", 224), ("SHA256", 256), ("SHA384", 384), ("SHA512", 512))


@dataclass(frozen=True)
class Secret:
    """Where a staged password waits inside the instance, and the pad that unmasks it."""

    directory: str
    path: str
    pad: str  # Base64 of the pad: useless without the file
    size: int  # bytes of the file (Base64 of the masked password)


# --- reading -------------------------------------------------------------------------------------

def _user_facts(name: Code) -> list[Code]:
    """Push one entry for the user called ``name`` onto ``users``: its Get() properties, or
    ``exists`` 0."""
    p, u = var("p"), var("u")
    facts = o.dynamic_object(
        name=prop(u, "Name"), exists=1,
        full_name=func("$Get", var("p", "FullName")),
        enabled=func("$Get", var("p", "Enabled")),
        roles=func("$Get", var("p", "Roles")),
        change_password=func("$Get", var("p", "ChangePassword")),
        password_never_expires=func("$Get", var("p", "PasswordNeverExpires")),
        account_never_expires=func("$Get", var("p", "AccountNeverExpires")),
        expiration_date=func("$Get", var("p", "ExpirationDate")),
        flags=func("$Get", var("p", "Flags")),
    )
    return [
        o.kill(p, u),
        o.if_(
            call(USERS, "Exists", name, byref("u")),
            check_status(call(USERS, "Get", name, byref("p"))),
            o.push(var("users"), facts),
            else_=[o.push(var("users"), o.dynamic_object(name=name, exists=0))],
        ),
        o.kill(p, u),
    ]


def describe(users: list[str] | None = None, services: list[str] = (), roles: list[str] = ()) -> Script:
    """Read-only.  Result: ``users`` [{name, exists, full_name, enabled, roles, change_password,
    password_never_expires, account_never_expires, expiration_date, flags}] for ``users`` (every
    user, from the SQLUsers catalog query, when None); ``services`` [{name, exists, enabled,
    authe_enabled}]; ``roles`` {ROLE: 0/1} (Security.Roles.Exists); ``manager_directory``."""
    script = Script("%SYS", purpose="describe security")
    script.step("setup", set_(var("users"), o.new_array()), set_(var("services"), o.new_array()),
                result("manager_directory", call(FILE, "ManagerDirectory")))
    if users is None:
        st, rs, nm = var("st"), var("rs"), var("nm")
        script.step(
            "users",
            set_(st, call("%SQL.Statement", "%New")),
            check_status(method(st, "%PrepareClassQuery", lit("%Library.SQLCatalogPriv"), lit("SQLUsers"))),
            set_(rs, method(st, "%Execute")),
            check_sql(rs),
            o.while_(method(rs, "%Next"), set_(nm, method(rs, "%GetData", 1)), *_user_facts(nm)),
        )
    else:
        for index, name in enumerate(users):
            script.step(f"user{index}", *_user_facts(lit(name)))
    q = var("q")
    for index, name in enumerate(services):
        facts = o.dynamic_object(name=lit(name), exists=1, enabled=func("$Get", var("q", "Enabled")),
                                 authe_enabled=func("$Get", var("q", "AutheEnabled")))
        script.step(
            f"service{index}",
            o.kill(q),
            o.if_(
                call(SERVICES, "Exists", lit(name)),
                check_status(call(SERVICES, "Get", lit(name), byref("q"))),
                o.push(var("services"), facts),
                else_=[o.push(var("services"), o.dynamic_object(name=lit(name), exists=0))],
            ),
        )
    if roles:
        found = var("found")
        script.step(
            "roles",
            set_(found, o.dynamic_object()),
            *[o.do(method(found, "%Set", lit(role), call("Security.Roles", "Exists", lit(role)))) for role in roles],
            result("roles", found),
        )
    script.step("report", result("users", var("users")), result("services", var("services")))
    return script


# --- changing ------------------------------------------------------------------------------------

def _set_properties(properties: dict[str, str | int]) -> list[Code]:
    return [o.kill(var("p")), *[set_(var("p", key), lit(value)) for key, value in properties.items()]]


def modify_users(changes: dict[str, dict[str, str | int]]) -> Script:
    """Security.Users.Modify for each user with exactly the properties given, then Get() again.
    Result: ``users`` [the same entries as :func:`describe`, read after the change]."""
    script = Script("%SYS", purpose="modify users")
    script.step("setup", set_(var("users"), o.new_array()))
    for index, (user, properties) in enumerate(changes.items()):
        script.step(
            f"user{index}",
            *_set_properties(properties),
            check_status(call(USERS, "Modify", lit(user), byref("p"))),
            *_user_facts(lit(user)),
        )
    script.step("report", result("users", var("users")))
    return script


def set_service(name: str, enabled: bool) -> Script:
    """Security.Services.Modify with Enabled, then Get() again.  Result: ``enabled`` (after)."""
    script = Script("%SYS", purpose=f"{'enable' if enabled else 'disable'} {name}")
    q = var("q")
    script.step(
        "modify",
        *_set_properties({"Enabled": int(enabled)}),
        check_status(call(SERVICES, "Modify", lit(name), byref("p"))),
        o.kill(q),
        check_status(call(SERVICES, "Get", lit(name), byref("q"))),
        result("enabled", func("$Get", var("q", "Enabled"))),
    )
    return script


# --- passwords -----------------------------------------------------------------------------------

def read_secret(secret: Secret) -> list[Code]:
    """Statements leaving the password in ``pw``: read the one-time file with %Stream.FileBinary,
    Base64-decode it and the pad, subtract the pad byte by byte, decode the UTF-8."""
    f, m, k, pw, i = var("f"), var("m"), var("k"), var("pw"), var("i")
    byte = op(op(op(func("$Ascii", m, i), "-", func("$Ascii", k, i)), "+", 256), "#", 256)
    return [
        set_(f, call("%Stream.FileBinary", "%New")),
        check_status(method(f, "LinkToFile", lit(secret.path))),
        set_(m, system("Encryption.Base64Decode", method(f, "Read", secret.size))),
        o.kill(f),
        set_(k, system("Encryption.Base64Decode", lit(secret.pad))),
        o.if_(op(func("$Length", m), "'=", func("$Length", k)), o.throw(lit("the one-time secret file could not be read"))),
        set_(pw, lit("")),
        o.for_(i, 1, func("$Length", m), set_(pw, op(pw, "_", func("$Char", byte)))),
        set_(pw, func("$ZConvert", pw, "I", "UTF8")),
        o.kill(m, k),
    ]


def password_matches(user: Code) -> list[Code]:
    """Set ``same`` to 1 when ``pw`` is already the user's password: PBKDF2 of ``pw`` with the
    user's salt, work factor and algorithm, compared with the stored hash (all documented
    Security.Users properties).  [UNV] how IRIS feeds a non-ASCII password to PBKDF2: a wrong
    guess can only say "different", and the password is then set again."""
    u, bits, same = var("u"), var("bits"), var("same")
    algorithm = prop(u, "PasswordHashAlgorithm")
    digest = system("Encryption.PBKDF2", func("$ZConvert", var("pw"), "O", "UTF8"), prop(u, "PasswordHashWorkFactor"),
                    prop(u, "Salt"), func("$Length", prop(u, "Password")), bits)
    return [
        set_(same, 0),
        o.kill(u),
        o.if_(o.not_(call(USERS, "Exists", user, byref("u"))), o.throw(op(lit("no such user: "), "_", user))),
        set_(bits, o.select(*[(op(algorithm, "=", lit(name)), width) for name, width in HASH_BITS], default=0)),
        o.if_(op(bits, "&", op(prop(u, "Salt"), "'=", lit(""))), set_(same, op(digest, "=", prop(u, "Password")))),
        o.kill(u),
    ]


def set_password(user: str, secret: Secret, *, create: tuple[str, str] | None = None,
                 properties: dict[str, str | int] | None = None) -> Script:
    """Read the staged password, then either create the user (``create`` = (roles, full name):
    Security.Users.Create with ChangePassword 0 and Enabled 1) or set the password with Modify
    unless it already is the user's (and Modify ``properties`` first, when given).  The one-time
    file's directory is removed whatever happened.  Result: ``created``, ``password_changed``,
    ``secret_removed``, ``users`` (the user read afterwards, as :func:`describe` has it)."""
    name = lit(user)
    pw, same = var("pw"), var("same")
    script = Script("%SYS", purpose=f"{'create user' if create else 'set the password of'} {user}")
    script.step("setup", set_(var("users"), o.new_array()), result("created", 0), result("password_changed", 0))
    script.step("secret", *read_secret(secret))
    if create is not None:
        roles, full_name = create
        script.step(
            "create",
            # Create(Username, UserRoles, Password, FullName, NameSpace, Routine, ExpirationDate,
            #        ChangePassword, Enabled)
            check_status(call(USERS, "Create", name, lit(roles), pw, lit(full_name), None, None, None, 0, 1)),
            result("created", 1),
            result("password_changed", 1),
        )
    else:
        if properties:
            script.step("modify", *_set_properties(properties), check_status(call(USERS, "Modify", name, byref("p"))))
        script.step(
            "password",
            *password_matches(name),
            o.if_(
                o.not_(same),
                *_set_properties({}),
                set_(var("p", "Password"), pw),
                check_status(call(USERS, "Modify", name, byref("p"))),
                result("password_changed", 1),
            ),
        )
    script.step("report", *_user_facts(name), result("users", var("users")))
    directory = lit(secret.directory)
    script.step(
        "forget",
        o.kill(pw, var("p"), var("m"), var("k")),
        o.if_(call(FILE, "DirectoryExists", directory),
              o.check_true(call(FILE, "RemoveDirectoryTree", directory), "cannot remove the one-time secret directory")),
        result("secret_removed", 1),
        always=True,
    )
    return script
