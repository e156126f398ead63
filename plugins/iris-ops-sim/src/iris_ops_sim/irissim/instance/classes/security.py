"""Security.Resources (Security/Resources.cls)."""

from __future__ import annotations

from ...objectscript.runtime import ByRef, Process, SimClass, SimObject, error_status, ok_status, register_class
from ... import variants
from .. import security
from .common import E_GENERAL, arg, instance_of, set_ref
from .config import ConfigObject

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SecurityResources", "SecurityRoles", "SecurityRoleObject"]


def _implicit_role(resource: str) -> bool:
    """The variant ``resource-creates-role``: a ``%DB_*`` resource comes and goes with the role of
    its name ([UNV] the reference calls those roles implicit; by default they are not made)."""
    return resource.upper().startswith("%DB_") and variants.on(variants.RESOURCE_CREATES_ROLE)


@register_class
class SecurityResources(SimClass):
    """Security.Resources (ref/2024.1/Security/Resources.cls)."""

    name = "Security.Resources"
    namespace = "%SYS"

    def Create(self, proc: Process, *args: Any) -> Any:
        """Create(Name, Description, PublicPermission, Type) As %Status."""
        args = list(args)
        name = str(arg(args, 0))
        perm = str(arg(args, 2, "") or "").upper()
        if not name or len(name) > 64 or "," in name or ":" in name:
            return error_status(E_GENERAL, f"Invalid resource name '{name}'")  # [DOC] rules; [UNV] text
        if "_" in name and name.split("_", 1)[1].startswith("%"):
            # [DOC] "First Character after the "_" cannot be a % for user-defined resources"
            return error_status(E_GENERAL, f"Invalid resource name '{name}': '%' after '_' is reserved")  # [UNV] text
        if any(c not in "RWU" for c in perm):
            return error_status(E_GENERAL, f"Invalid public permission '{perm}'")  # [UNV]
        with instance_of(proc).locked() as st:
            if name.upper() in {k.upper() for k in st["resources"]}:
                return error_status(E_GENERAL, f"Resource {name} already exists")  # [UNV]
            st["resources"][name] = {"Description": str(arg(args, 1, "")), "PublicPermission": perm}
            if _implicit_role(name) and not security.find_role(security.of(st), name):
                security.of(st)["roles"][name] = {"Name": name, "Description": "", "Resources": f"{name}:RW"}
        return ok_status()

    def Delete(self, proc: Process, *args: Any) -> Any:
        """Delete(Name) As %Status."""
        name = str(arg(list(args), 0))
        with instance_of(proc).locked() as st:
            key = next((k for k in st["resources"] if k.upper() == name.upper()), None)
            if key is None:
                return error_status(E_GENERAL, f"Resource {name} does not exist")  # [UNV]
            del st["resources"][key]
            implicit = security.find_role(security.of(st), key) if _implicit_role(key) else None
            if implicit:
                del security.of(st)["roles"][implicit]
            for role in security.of(st)["roles"].values():  # [DOC] Delete "will update all the roles which hold this resource"
                role["Resources"] = ",".join(g for g in role.get("Resources", "").split(",")
                                             if g and g.partition(":")[0].upper() != key.upper())
        return ok_status()

    def Exists(self, proc: Process, *args: Any) -> Any:
        """Exists(Name, ByRef Resource, ByRef Status) As %Boolean."""
        args = list(args)
        name = str(arg(args, 0))
        if instance_of(proc).resource_exists(name):
            set_ref(args, 1, ConfigObject("Security.Resources", name, {}))
            set_ref(args, 2, ok_status())
            return 1
        set_ref(args, 1, "")
        set_ref(args, 2, error_status(E_GENERAL, f"Resource {name} does not exist"))  # [UNV]
        return 0

    def Get(self, proc: Process, *args: Any) -> Any:
        """Get(Name, ByRef Properties) As %Status."""
        args = list(args)
        name = str(arg(args, 0))
        with instance_of(proc).locked() as st:
            key = next((k for k in st["resources"] if k.upper() == name.upper()), None)
            record = dict(st["resources"][key]) if key else None
        if record is None:
            return error_status(E_GENERAL, f"Resource {name} does not exist")  # [UNV]
        if len(args) > 1 and isinstance(args[1], ByRef):
            args[1].set_sub("Description", record["Description"])
            args[1].set_sub("PublicPermission", record["PublicPermission"])
            args[1].set_sub("Type", 2 if key.upper().startswith("%DB_") else 0)
        return ok_status()


@register_class
class SecurityRoles(SimClass):
    """Security.Roles: ``Exists`` as the class reference documents it (ref/2024.1/Security/Roles.cls),
    ``Create(Name, Description, "Resource:RW", GrantedRoles)`` and ``Delete(Name)`` as InterSystems'
    own IPM calls them [CODE intersystems/ipm Build.cls], ``Get(Name, .Properties)`` as public
    code reads it [CODE].  Roles live in the instance's security
    database (``instance/security.py``) beside the predefined ones; names are not case-sensitive."""

    name = "Security.Roles"
    namespace = "%SYS"

    def Create(self, proc: Process, *args: Any) -> Any:
        """Create(Name, Description, Resources, GrantedRoles) As %Status."""
        args = list(args)
        name = str(arg(args, 0))
        grants = [g for g in str(arg(args, 2, "") or "").split(",") if g]
        if not name or len(name) > 64 or "," in name or ":" in name:
            return error_status(E_GENERAL, f"Invalid role name '{name}'")  # [UNV]
        with instance_of(proc).locked() as st:
            roles = security.of(st)["roles"]
            if security.find_role(security.of(st), name):
                return error_status(E_GENERAL, f"Role {name} already exists")  # [UNV]
            known = {k.upper() for k in st["resources"]}
            for grant in grants:
                resource, _, perm = grant.partition(":")
                if resource.upper() not in known or not perm or any(c not in "RWU" for c in perm.upper()):
                    return error_status(E_GENERAL, f"Invalid resource grant '{grant}'")  # [UNV]
            granted = [g for g in str(arg(args, 3, "") or "").split(",") if g]
            for other in granted:
                if not security.find_role(security.of(st), other):
                    return error_status(E_GENERAL, f"Role {other} does not exist")  # [UNV] text; stricter reading
            roles[name] = {"Name": name, "Description": str(arg(args, 1, "")), "Resources": ",".join(grants),
                           "GrantedRoles": ",".join(granted)}
        return ok_status()

    def Exists(self, proc: Process, *args: Any) -> Any:
        """Exists(Name, ByRef Role, ByRef Status) As %Boolean: Status is $$$OK when it exists."""
        args = list(args)
        name = str(arg(args, 0))
        record = _role_record(proc, name)
        if record is None:
            set_ref(args, 1, "")
            set_ref(args, 2, error_status(E_GENERAL, f'Role "{name}" does not exist'))  # [UNV]
            return 0
        set_ref(args, 1, SecurityRoleObject(record))
        set_ref(args, 2, ok_status())
        return 1

    def Get(self, proc: Process, *args: Any) -> Any:
        """Get(Name, ByRef Properties) As %Status: ``Description``, ``Resources`` (``res:RWU,...``)
        and ``GrantedRoles`` (``a,b``), as InterSystems' users read them [CODE]; an error status
        for a role that does not exist."""
        args = list(args)
        name = str(arg(args, 0))
        record = _role_record(proc, name)
        if record is None:
            return error_status(E_GENERAL, f"Role {name} does not exist")  # [UNV] text
        if len(args) > 1 and isinstance(args[1], ByRef):
            for key in ("Description", "Resources", "GrantedRoles"):
                args[1].set_sub(key, str(record.get(key, "")))
        return ok_status()

    def Delete(self, proc: Process, *args: Any) -> Any:
        """Delete(Name) As %Status."""
        name = str(arg(list(args), 0))
        with instance_of(proc).locked() as st:
            db = security.of(st)
            role = security.find_role(db, name)
            if role is None:
                return error_status(E_GENERAL, f"Role {name} does not exist")  # [UNV]
            del db["roles"][role]
        return ok_status()


def _role_record(proc: Process, name: str) -> dict | None:
    """A copy of the role ``name`` (matched without case), or None."""
    with instance_of(proc).locked() as st:
        db = security.of(st)
        role = security.find_role(db, name)
        return dict(db["roles"][role]) if role else None


class SecurityRoleObject(SimObject):
    """What ``Exists`` hands back in its second argument: ``Name``, ``Description``."""

    class_name = "Security.Roles"

    def __init__(self, record: dict) -> None:
        self.record = dict(record)

    def get_property(self, proc: Process, name: str) -> Any:
        if name in ("Name", "Description"):
            return self.record.get(name, "")
        return super().get_property(proc, name)
