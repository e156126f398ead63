"""The other answers: where the sources leave an IRIS behaviour open (IRIS.md §4b).

The simulator's default is the strictest reading of each open question.  A *variant* makes one
simulated instance take the other plausible answer instead, so that an operation is proven
right under both, and ``iris-ops conformance`` is proven able to tell them apart.

A variant is a property of the simulated instance, fixed when it starts: the environment
variable ``IRISSIM_VARIANTS`` (comma-separated names) of its container (``docker run -e``, set by
``iris-ops sim up --variant NAME``) or of its host install's launchers.  Every process of the
instance (each ``iris session``, ``iris-sim``) reads it here; nothing in iris-ops does.

Each switch point calls :func:`on` with its name; an unknown name in the environment is an
error at the start of every process (:func:`check_environment`), never a silently ignored typo.
"""

from __future__ import annotations

import os
from collections import namedtuple

__all__ = ["ENV", "Variant", "EOF_KEEPS_SESSION", "RENAME_REPLACES", "COPY_TAKES_NEW_OWNER", "RESOURCE_CREATES_ROLE",
           "READONLY_SQL_FAILS", "PASSWORD_CHANGE_PROMPT", "VARIANTS", "UnknownVariant", "parse", "active", "on",
           "check_environment", "environment"]

ENV = "IRISSIM_VARIANTS"


# A named tuple, not a dataclass: every process imports this module, and dataclasses costs
# each one the import of inspect.
class Variant(namedtuple("Variant", "name question default answer")):
    """One open question: what the simulator does by default, and what this variant does."""

    __slots__ = ()


EOF_KEEPS_SESSION = "eof-keeps-session"
RENAME_REPLACES = "rename-replaces"
COPY_TAKES_NEW_OWNER = "copy-takes-new-owner"
RESOURCE_CREATES_ROLE = "resource-creates-role"
READONLY_SQL_FAILS = "readonly-sql-fails"
PASSWORD_CHANGE_PROMPT = "password-change-prompt"

VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant(EOF_KEEPS_SESSION,
            "Does `iris session` end when its standard input ends, or wait?",
            "it ends: `<ENDOFFILE>`, exit status 1",
            "it never sees the end of its input: it waits at its prompt until it is terminated or its "
            "container stops, and a timed Read waits out its timeout as on a quiet input"),
    Variant(RENAME_REPLACES,
            "Does %Library.File.Rename onto an existing file replace it?",
            "no: it fails (return -17) and both files stay",
            "yes, as rename(2) does: the target is replaced"),
    Variant(COPY_TAKES_NEW_OWNER,
            "Does %Library.File.CopyFile onto an existing file keep that file's owner and mode?",
            "yes: the target is rewritten in place",
            "no: the target is made anew, owned by the copying process with a new file's mode (0644)"),
    Variant(RESOURCE_CREATES_ROLE,
            "Does Security.Resources.Create(\"%DB_X\") create the implicit role %DB_X too?",
            "no: only the resource",
            "yes: a role %DB_X granting %DB_X:RW, which Security.Resources.Delete removes with it"),
    Variant(READONLY_SQL_FAILS,
            "Does dynamic SQL work in a namespace whose routines database is mounted read-only?",
            "yes: reads work (writes fail with <PROTECT>)",
            "no: every statement fails, its cached query cannot be written (SQLCODE -400 <PROTECT>)"),
    Variant(PASSWORD_CHANGE_PROMPT,
            "What does the terminal do when a login needs a password change?",
            "prints `Password change required` and `Access Denied`, exit status 1",
            "asks for a new password (`New password:`, then `Confirm new password:`) and logs in "
            "once it is set"),
)}


class UnknownVariant(ValueError):
    """A variant name the simulator does not know."""


def parse(text: str | None) -> frozenset[str]:
    """The variant names of ``text`` (comma-separated, blanks ignored); unknown ones raise."""
    names = frozenset(part.strip() for part in (text or "").split(",") if part.strip())
    unknown = sorted(names - set(VARIANTS))
    if unknown:
        raise UnknownVariant(f"unknown simulator variant {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    return names


def active() -> frozenset[str]:
    """The variants this process's instance runs with."""
    return parse(os.environ.get(ENV))


def on(name: str) -> bool:
    """Whether the instance takes variant ``name``'s answer (a switch point's one question)."""
    if name not in VARIANTS:
        raise UnknownVariant(f"no simulator variant {name!r}")
    return name in active()


def check_environment() -> str | None:
    """The problem with ``IRISSIM_VARIANTS`` as a line for stderr, or None when it is sound."""
    try:
        active()
    except UnknownVariant as e:
        return f"{ENV}: {e}"
    return None


def environment(names: "list[str] | tuple[str, ...] | frozenset[str]") -> dict[str, str]:
    """The environment an instance with these variants runs with (empty for none)."""
    chosen = sorted(parse(",".join(names)))
    return {ENV: ",".join(chosen)} if chosen else {}
