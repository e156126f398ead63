"""Validation of everything a user names: namespaces, databases, paths.

Runs before any container work, so a bad name fails fast with exit code 2 and a message that
says what is allowed.  Rules: IRIS.md §2 ("Rules for Namespace Names", GSA_config_namespace).
"""

from __future__ import annotations

import re

from iris_ops.errors import InvalidNameError, SystemTargetError, UsageError

__all__ = [
    "MAX_NAME", "SHOWN_CHARS", "SYSTEM_DATABASES", "SYSTEM_NAMESPACES", "shown", "namespace", "database",
    "DEFAULT_RESOURCE", "resource", "is_system_resource", "user_resource", "user_namespace",
    "is_system_namespace", "is_system_database", "derived_database", "instance_path", "directory",
    "role", "global_mapping", "routine_mapping", "package", "fixture_name", "relative_directory",
]

MAX_NAME = 64
#: How much of a rejected name an error message repeats.
SHOWN_CHARS = 40
_NAMESPACE = re.compile(r"^[A-Za-z%][A-Za-z0-9_-]{0,63}\Z")
_DATABASE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
# Paths we generate or accept for the instance side: absolute POSIX paths of plain characters.
_PATH = re.compile(r"^/(?:[A-Za-z0-9._-]+/)*[A-Za-z0-9._-]*\Z")

#: Databases that are never part of a namespace backup (Config.Namespaces SYSTEMDATABASES).
SYSTEM_DATABASES = frozenset(
    {"IRISSYS", "IRISLIB", "IRISTEMP", "IRISLOCALDATA", "IRISAUDIT", "ENSLIB", "IRISMETRICS",
     "HSLIB", "HSSYS", "HSCUSTOM", "HSAUDIT"}
)
#: Namespaces that are never backed up, restored over or deleted.
SYSTEM_NAMESPACES = frozenset({"%SYS", "%ALL", "HSLIB", "HSSYS", "HSCUSTOM", "HSAUDIT", "ENSLIB"})


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """A user-given name for a message: quoted, as given (non-ASCII stays readable), control
    characters escaped so they cannot drive the terminal, and shortened when over-long."""
    text = str(value)
    cut = text if len(text) <= limit else text[:limit]
    body = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in cut)
    if len(text) > limit:
        return f"'{body}…' ({len(text)} characters)"
    return f"'{body}'"


def namespace(name: str, *, what: str = "namespace") -> str:
    """Validate a namespace name and return it in upper case, as IRIS stores it."""
    if not isinstance(name, str) or not _NAMESPACE.match(name):
        raise InvalidNameError(
            f"invalid {what} name {shown(name)}: use 1-{MAX_NAME} characters, a letter or % first, "
            "then letters, digits, - or _",
        )
    return name.upper()


def database(name: str) -> str:
    """Validate a database name (the namespace rule without %) and return it upper-cased."""
    if not isinstance(name, str) or not _DATABASE.match(name):
        raise InvalidNameError(
            f"invalid database name {shown(name)}: use 1-{MAX_NAME} characters, a letter first, "
            "then letters, digits, - or _",
        )
    return name.upper()


#: The system default resource: what CreateDatabase puts in a label when none is named.  Valid in
#: a label, never created or deleted by a tool (IRIS.md §3).
DEFAULT_RESOURCE = "%DB_%DEFAULT"


def _security_name(name: object) -> bool:
    """Security.Resources' rule: 1-64 characters, no ``,`` or ``:``, and no control characters
    (which cannot be sent)."""
    return (isinstance(name, str) and 1 <= len(name) <= MAX_NAME and "," not in name and ":" not in name
            and not any(ord(ch) < 32 or ord(ch) == 127 for ch in name))


def resource(name: str) -> str:
    """Validate a resource name by IRIS's own rules (Security.Resources): 1-64 characters, no
    ``,`` or ``:`` (and no control characters, which cannot be sent).  Case is kept: IRIS
    compares resource names without case.  System names such as ``%DB_%DEFAULT`` are valid."""
    if not _security_name(name):
        raise InvalidNameError(
            f"invalid resource name {name!r}: IRIS resource names are 1-{MAX_NAME} characters without ',' or ':'",
            fix="Check the resource named in the database label (the fixture's manifest shows it).",
        )
    return name


def is_system_resource(name: str) -> bool:
    """A name only IRIS itself may create: '%' right after the first '_' ("First Character after
    the '_' cannot be a % for user-defined resources", Security.Resources)."""
    return "_" in name and name.split("_", 1)[1].startswith("%")


def user_resource(name: str) -> str:
    """A resource iris-ops may create or delete: valid, and not a system resource (exit 3)."""
    checked = resource(name)
    if is_system_resource(checked):
        raise SystemTargetError(f"refusing to create or delete system resource {checked}")
    return checked


def user_namespace(name: str, *, action: str) -> str:
    """A namespace that may be changed: validated and not a system namespace (exit 3)."""
    upper = namespace(name)
    if is_system_namespace(upper):
        raise SystemTargetError(f"refusing to {action} system namespace {upper}")
    return upper


def is_system_namespace(name: str) -> bool:
    return name.upper() in SYSTEM_NAMESPACES or name.startswith("%")


def is_system_database(name: str) -> bool:
    return name.upper() in SYSTEM_DATABASES


def derived_database(namespace_name: str, suffix: str) -> str:
    """``<NS>_<SUFFIX>`` for a restore, checked against the 64-character limit."""
    name = f"{namespace_name}_{suffix}".upper()
    if len(name) > MAX_NAME:
        raise InvalidNameError(
            f"namespace {shown(namespace_name)} is too long: the database name {shown(name, MAX_NAME + 8)} it needs "
            f"exceeds {MAX_NAME} characters",
            fix=f"Use a namespace name of at most {MAX_NAME - len(suffix) - 1} characters.",
        )
    return database(name)


def instance_path(path: str, *, what: str = "path") -> str:
    """An absolute path on the instance side, made of plain characters only, without ``..``."""
    if (
        not isinstance(path, str)
        or not _PATH.match(path)
        or "//" in path
        or any(part in (".", "..") for part in path.split("/"))
    ):
        raise UsageError(
            f"unsafe {what} {shown(path, 120)}: instance paths must be absolute and use only letters, "
            "digits, '.', '_', '-' and '/' (no '..')",
            fix="Check the directory reported by the instance or the one you passed.",
        )
    return path


def directory(path: str, *, what: str = "directory") -> str:
    """:func:`instance_path` for a directory, normalised to end with ``/`` as IRIS reports them."""
    checked = instance_path(path, what=what)
    return checked if checked.endswith("/") else checked + "/"


def role(name: str) -> str:
    """Validate a role name.  The class reference states no rule for role names; iris-ops applies
    the resource rule (1-64 characters, no ``,`` or ``:``), which every role IRIS itself defines
    satisfies, and which a role's ``Resources`` list (``res:RW,...``) needs.  Case is kept."""
    if not _security_name(name):
        raise InvalidNameError(
            f"invalid role name {shown(name)}: use 1-{MAX_NAME} characters without ',' or ':'",
            fix="Name the role as the Management Portal shows it (e.g. %Developer, APP_READER).",
        )
    return name


# An ObjectScript global name (without the caret): a letter or % first, then letters, digits and
# periods (ObjectScript: "Global Names").  A mapping may end it with * (every global starting so),
# or give subscripts "(...)" and a range "(...):(...)" (Config.MapGlobals: subscript-level mapping).
_GLOBAL_NAME = re.compile(r"^%?[A-Za-z][A-Za-z0-9.]{0,62}(\*|\(.+\)(:\(.+\))?)?\Z")
# Routine names follow the same rule; the CPF form adds the type after an underscore
# (``Routine_TEST_OBJ``: MAC, INT, INC or OBJ, RACS "Routine").
_ROUTINE_NAME = re.compile(r"^%?[A-Za-z][A-Za-z0-9.]{0,62}\*?(_(MAC|INT|INC|OBJ))?\Z")
# Package names: dotted identifiers, a % allowed first (RACS "Package").
_PACKAGE_NAME = re.compile(r"^%?[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*\Z")


def _printable(text: str) -> bool:
    return all(32 <= ord(ch) != 127 for ch in text)


def _matching(name: object, pattern: re.Pattern, limit: int, what: str, rule: str, fix: str) -> str:
    """``name`` when it is printable text of at most ``limit`` characters that ``pattern``
    matches; else exit 2 saying ``rule``."""
    if not isinstance(name, str) or len(name) > limit or not _printable(name) or not pattern.match(name):
        raise InvalidNameError(f"invalid {what} {shown(name)}: {rule}", fix=fix)
    return name


def global_mapping(name: str) -> str:
    """Validate what a global mapping maps: ``Name``, ``Name*``, ``Name(subscripts)`` or
    ``Name(from):(to)``; returned as given (global names are case-sensitive)."""
    return _matching(name, _GLOBAL_NAME, 511, "global mapping",
                     "give a global name without ^ (a letter or % first, then letters, digits or .), optionally "
                     "ending in * or followed by subscripts such as (1):(100)",
                     "For example Orders, Orders*, or Orders(2020):(2024).")


def routine_mapping(name: str) -> str:
    """Validate what a routine mapping maps: a routine name, optionally ending in ``*``, with an
    optional type ``_MAC``, ``_INT``, ``_INC`` or ``_OBJ``; returned as given."""
    return _matching(name, _ROUTINE_NAME, 80, "routine mapping",
                     "give a routine name (a letter or % first, then letters, digits or .), optionally ending in *, "
                     "optionally followed by _MAC, _INT, _INC or _OBJ", "For example ACC*, or TEST_OBJ.")


def package(name: str) -> str:
    """Validate a class package name (``App``, ``App.Model``); returned as given."""
    return _matching(name, _PACKAGE_NAME, 189, "package name",
                     "use dotted names of letters and digits, a letter or % first", "For example App.Model.")


_FIXTURE_NAME = re.compile(r"^[A-Za-z0-9%_-][A-Za-z0-9%._-]{0,254}\Z")


def fixture_name(name: str) -> str:
    """A fixture by name (a directory in ``fixtures_dir``): one plain path component."""
    return _matching(name, _FIXTURE_NAME, 255, "fixture name",
                     "a fixture is named by its directory in fixtures_dir (letters, digits, %, ., _ or -; no /)",
                     "Name a fixture that `iris-ops backup --ns NS` wrote (fixtures/NS).")


def relative_directory(path: str, *, what: str = "directory") -> str:
    """A directory given relative to the manager directory (``app-data`` or ``apps/data``), made of
    plain characters and without ``.`` or ``..`` parts; returned ending with ``/``."""
    checked = instance_path("/" + path if isinstance(path, str) else path, what=what)[1:]  # "//" is refused there
    if not checked:
        raise UsageError(f"empty {what}: name a directory under the manager directory",
                         fix="For example directory = \"app-data\".")
    return checked if checked.endswith("/") else checked + "/"
