"""Security.Services (``ref/2024.1/Security/Services.cls``), simulated over the security store.

The reference documents Exists, Get and Modify and the properties Name, Enabled, AutheEnabled,
Description and ClientSystems; it says "some system defined properties are not changeable"
without naming them.  The simulator lets Modify change Enabled, AutheEnabled and ClientSystems
only [UNV, stricter], and every failure is a #5001 status with a text of its own [UNV].
Service names are matched exactly (``COLLATION = "Exact"``) [UNV, stricter than case-insensitive].
"""

from __future__ import annotations

from ..objectscript.runtime import (
    ByRef,
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
from .classes.common import E_GENERAL

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["GET_KEYS", "WRITABLE", "SecurityServiceObject", "SecurityServices"]

GET_KEYS = ("AutheEnabled", "AutheEnabledCapabilities", "Capabilities", "ClientSystems", "Description", "Enabled")
WRITABLE = ("AutheEnabled", "ClientSystems", "Enabled")


def _fail(text: str) -> Any:
    return error_status(E_GENERAL, text)


class SecurityServiceObject(SimObject):
    class_name = "Security.Services"

    def __init__(self, record: dict) -> None:
        self.record = dict(record)

    def get_property(self, proc: Process, name: str) -> Any:
        if name in ("Name", "Enabled", "AutheEnabled", "Description"):
            return self.record[name]
        return super().get_property(proc, name)


@register_class
class SecurityServices(SimClass):
    """Security.Services: Exists, Get, Modify."""

    name = "Security.Services"
    namespace = "%SYS"

    @staticmethod
    def _find(proc: Process, name: str) -> dict | None:
        with proc.instance.locked() as st:
            record = security.of(st)["services"].get(name)
            return dict(record) if record else None

    def Exists(self, proc: Process, *args: Any) -> Any:
        """Exists(Name, ByRef Service, ByRef Status) As %Boolean: Status is $$$OK when it exists."""
        args = list(args)
        name = str(arg(args, 0))
        record = self._find(proc, name)
        if record is None:
            set_ref(args, 1, "")
            set_ref(args, 2, _fail(f'Service "{name}" does not exist'))
            return 0
        set_ref(args, 1, SecurityServiceObject(record))
        set_ref(args, 2, ok_status())
        return 1

    def Get(self, proc: Process, *args: Any) -> Any:
        """Get(Name, ByRef Properties) As %Status."""
        args = list(args)
        name = str(arg(args, 0))
        record = self._find(proc, name)
        if record is None:
            return _fail(f'Service "{name}" does not exist')
        if len(args) > 1 and isinstance(args[1], ByRef):
            for key in GET_KEYS:
                args[1].set_sub(key, record[key])
        return ok_status()

    def Modify(self, proc: Process, *args: Any) -> Any:
        """Modify(Name, ByRef Properties) As %Status: only the keys passed change."""
        args = list(args)
        name = str(arg(args, 0))
        ref = args[1] if len(args) > 1 and isinstance(args[1], ByRef) else None
        props = {str(k): v for k, v in ref.items()} if ref else {}
        with proc.instance.locked() as st:
            record = security.of(st)["services"].get(name)
            if record is None:
                return _fail(f'Service "{name}" does not exist')
            changes: dict[str, Any] = {}
            for key, value in props.items():
                if key not in WRITABLE:
                    return _fail(f"Property '{key}' of service {name} cannot be changed")
                if key == "Enabled":
                    if str(value) not in ("0", "1"):
                        return _fail("Enabled must be 0 or 1")
                    if not int(record.get("Capabilities", 1)) & 1:  # Bit 0 - Enable Enabled property to be modified
                        return _fail(f"Enabled of service {name} cannot be changed")
                    changes[key] = int(value)
                elif key == "AutheEnabled":
                    bits = int(value) if str(value).isdigit() else -1
                    if bits < 0 or bits & ~int(record["AutheEnabledCapabilities"]):
                        return _fail(f"Authentication options {value} are not allowed for service {name}")
                    changes[key] = bits
                else:
                    changes[key] = str(value)
            record.update(changes)
        return ok_status()
