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


def resource(name: str) -> str:
    """Validate a resource name by IRIS's own rules (Security.Resources): 1-64 characters, no
    ``,`` or ``:`` (and no control characters, which cannot be sent).  Case is kept: IRIS
    compares resource names without case.  System names such as ``%DB_%DEFAULT`` are valid."""
    if (
        not isinstance(name, str)
        or not 1 <= len(name) <= MAX_NAME
        or "," in name
        or ":" in name
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
    ):
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
