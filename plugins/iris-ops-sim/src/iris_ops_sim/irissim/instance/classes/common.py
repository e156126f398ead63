"""What every simulated system class module shares: argument access, the instance, and the
error numbers (see ``docs/simulation.md`` §4)."""

from __future__ import annotations

import re

from ...objectscript.runtime import ByRef, Process, arg, set_ref
from ..state import IRISOWNER, SimInstance

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ByRef", "arg", "set_ref",  # the runtime's argument access, shared by every class module
    "E_DOES_NOT_EXIST", "E_ALREADY_EXISTS", "E_REQUIRED", "E_GENERAL", "E_SQL", "NS_NAME", "DB_NAME",
    "instance_of", "props_in", "truth", "user_of",
]

# Verified: "ERROR #420: Namespace X does not exist" (%ObjectErrors CPFNameDoesNotExist).
E_DOES_NOT_EXIST = 420
# [UNV] the "already exists" number of the same family; the text follows #420's pattern.
E_ALREADY_EXISTS = 419
E_REQUIRED = 5659  # "Property '%1' required" (%ObjectErrors)
E_GENERAL = 5001
E_SQL = 5540  # "SQLCODE: %1 Message: %2"

NS_NAME = re.compile(r"^[A-Za-z%][A-Za-z0-9_-]{0,63}$")
DB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def instance_of(proc: Process) -> SimInstance:
    return proc.instance


def props_in(args: list, i: int) -> dict:
    """The properties array passed by reference as argument ``i`` (``.Properties``): its defined
    first-level subscripts; ``{}`` when the argument is absent or not by reference."""
    ref = args[i] if i < len(args) and isinstance(args[i], ByRef) else None
    return {str(k): v for k, v in ref.items()} if ref else {}


def truth(value: Any) -> bool:
    if isinstance(value, (int, float)):
        return value != 0
    try:
        return float(re.match(r"^\s*[-+]?\d*\.?\d*", str(value)).group() or 0) != 0
    except ValueError:
        return False


def user_of(proc: Process) -> tuple[int, int]:
    return proc.instance.fs.lookup_user(proc.user) or IRISOWNER


