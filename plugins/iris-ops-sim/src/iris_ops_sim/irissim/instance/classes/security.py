"""Security.Resources (Security/Resources.cls) and Security.Roles (Security/Roles.cls)."""

from __future__ import annotations

from ...objectscript.runtime import ByRef, Process, SimClass, SimObject, error_status, ok_status, register_class
from ... import variants
from .. import security
from ..state import SYSTEM_DATABASES
from .common import E_GENERAL, arg, instance_of, props_in, set_ref
from .config import ConfigObject

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SecurityResources", "SecurityRoles", "SecurityRoleObject"]


def _implicit_role(resource: str) -> bool:
    """The variant ``resource-creates-role``: a ``%DB_*`` resource comes and goes with the role of
    its name ([UNV] the reference calls those roles implicit; by default they are not made)."""
    return resource.upper().startswith("%DB_") and variants.on(variants.RESOURCE_CREATES_ROLE)


#: ``Description As %String(MAXLEN = 256)`` of both classes: a longer one fails validation. [DOC]
DESCRIPTION_MAXLEN = 256


def _description_error(value: Any) -> Any:
    if len(str(value)) > DESCRIPTION_MAXLEN:
        return error_status(E_GENERAL, f"Description is longer than {DESCRIPTION_MAXLEN} characters")  # [UNV] text
    return None


def _public_permission(value: Any) -> tuple[str, Any]:
    """A public permission given as letters R, W, U (any case and order) as IRIS gives it back
    (``RWU`` order: it keeps a bitmap, Security.Datatype.Permission), and the error status of
    one that is not.  [UNV, stricter] the ``READ,WRITE,USE`` and bitmap forms are refused."""
    perm = str(value or "").upper()
    if any(c not in "RWU" for c in perm):
        return perm, error_status(E_GENERAL, f"Invalid public permission '{perm}'")  # [UNV]
    return "".join(c for c in "RWU" if c in perm), None


def _resource_key(st: dict, name: str) -> str | None:
    """The stored name of resource ``name`` (resource names are case insensitive [DOC])."""
    return next((k for k in st["resources"] if k.upper() == str(name).upper()), None)


def _resource_type(key: str) -> int:
    return 2 if key.upper().startswith("%DB_") else 0


def _system_resource(key: str) -> bool:
    """A system defined resource, whose Description "cannot be modified" [DOC]: one only IRIS may
    name ('%' right after the first '_', such as %DB_%DEFAULT) or the resource of a database an
    installation creates.  [UNV] which ones IRIS marks so; %DB_USER is counted (stricter)."""
    upper = key.upper()
    return ("_" in key and key.split("_", 1)[1].startswith("%")) or \
        upper in {"%DB_" + db for db in (*SYSTEM_DATABASES, "USER")}


@register_class
class SecurityResources(SimClass):
    """Security.Resources (ref/2024.1/Security/Resources.cls)."""

    name = "Security.Resources"
    namespace = "%SYS"

    def Create(self, proc: Process, *args: Any) -> Any:
        """Create(Name, Description, PublicPermission, Type) As %Status."""
        args = list(args)
        name = str(arg(args, 0))
        perm, bad_perm = _public_permission(arg(args, 2, ""))
        if not name or len(name) > 64 or "," in name or ":" in name:
            return error_status(E_GENERAL, f"Invalid resource name '{name}'")  # [DOC] rules; [UNV] text
        if "_" in name and name.split("_", 1)[1].startswith("%"):
            # [DOC] "First Character after the "_" cannot be a % for user-defined resources"
            return error_status(E_GENERAL, f"Invalid resource name '{name}': '%' after '_' is reserved")  # [UNV] text
        if bad_perm is not None:
            return bad_perm
        if (bad := _description_error(arg(args, 1, ""))) is not None:
            return bad
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
            key = _resource_key(st, name)
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
            key = _resource_key(st, name)
            record = dict(st["resources"][key]) if key else None
        if record is None:
            return error_status(E_GENERAL, f"Resource {name} does not exist")  # [UNV]
        if len(args) > 1 and isinstance(args[1], ByRef):
            args[1].set_sub("Description", record["Description"])
            args[1].set_sub("PublicPermission", record["PublicPermission"])
            args[1].set_sub("Type", _resource_type(key))
        return ok_status()

    def Modify(self, proc: Process, *args: Any) -> Any:
        """Modify(Name, ByRef Properties) As %Status: the properties as Get gives them;
        "If a specific property is not passed in the properties array, the value is not
        modified" [DOC].  ``Description`` (at most 256 characters; a system defined resource's
        "cannot be modified" [DOC]), ``PublicPermission`` (as Create takes it).  ``Type`` is
        "Internal use only" [DOC]: [UNV, stricter] only its current value is taken, so that what
        Get gave can be passed back.  Any other key, an unknown resource: an error status, and
        nothing changes.  [UNV] #5001 and the texts."""
        args = list(args)
        name = str(arg(args, 0))
        changes = props_in(args, 1)
        with instance_of(proc).locked() as st:
            key = _resource_key(st, name)
            if key is None:
                return error_status(E_GENERAL, f"Resource {name} does not exist")  # [UNV]
            record = dict(st["resources"][key])
            for prop, value in changes.items():
                if prop == "Description":
                    if (bad := _description_error(value)) is not None:
                        return bad
                    if _system_resource(key) and str(value) != record["Description"]:
                        return error_status(E_GENERAL, f"Description of system resource {key} cannot be modified")
                    record["Description"] = str(value)
                elif prop == "PublicPermission":
                    perm, bad = _public_permission(value)
                    if bad is not None:
                        return bad
                    record["PublicPermission"] = perm
                elif prop == "Type":
                    if str(value) != str(_resource_type(key)):
                        return error_status(E_GENERAL, f"Type of resource {key} is internal and cannot be modified")
                else:
                    return error_status(E_GENERAL, f"Property '{prop}' cannot be modified in class {self.name}")
            st["resources"][key] = record
        return ok_status()


@register_class
class SecurityRoles(SimClass):
    """Security.Roles (ref/2024.1/Security/Roles.cls): ``Create(Name, Description,
    "Resource:RW", GrantedRoles)``, ``Exists``, ``Get(Name, .Properties)``, ``Modify(Name,
    .Properties)`` and ``Delete(Name)``.  Roles live in the instance's security database
    (``instance/security.py``) beside the predefined ones; names are not case-sensitive [DOC]."""

    name = "Security.Roles"
    namespace = "%SYS"

    def Create(self, proc: Process, *args: Any) -> Any:
        """Create(Name, Description, Resources, GrantedRoles) As %Status."""
        args = list(args)
        name = str(arg(args, 0))
        grants = _split(arg(args, 2, ""))
        granted = _split(arg(args, 3, ""))
        if not name or len(name) > 64 or "," in name or ":" in name:
            return error_status(E_GENERAL, f"Invalid role name '{name}'")  # [UNV]
        if (bad := _description_error(arg(args, 1, ""))) is not None:
            return bad
        with instance_of(proc).locked() as st:
            roles = security.of(st)["roles"]
            if security.find_role(security.of(st), name):
                return error_status(E_GENERAL, f"Role {name} already exists")  # [UNV]
            if (bad := _grants_error(st, grants) or _granted_error(security.of(st), granted)) is not None:
                return bad
            roles[name] = {"Name": name, "Description": str(arg(args, 1, "")), "Resources": ",".join(grants),
                           "GrantedRoles": ",".join(granted)}
        return ok_status()

    def Modify(self, proc: Process, *args: Any) -> Any:
        """Modify(Name, ByRef Properties) As %Status: the properties as Get gives them
        (``Description``, ``Resources``, ``GrantedRoles``); one not passed is not modified, and
        ``Properties("Resources")=""`` removes all resources [DOC].  Grants and granted roles are
        checked as Create checks them.  "%DB_* implicit roles cannot be modified" [DOC], nor %All
        (a "read only system role", the List query [DOC]).  [UNV, stricter] any other key is
        refused, as is a role granted that grants this one in turn (itself included).  A refused
        Modify changes nothing.  [UNV] #5001 and the texts."""
        args = list(args)
        name = str(arg(args, 0))
        changes = props_in(args, 1)
        with instance_of(proc).locked() as st:
            db = security.of(st)
            role = security.find_role(db, name)
            if role is None:
                return error_status(E_GENERAL, f"Role {name} does not exist")  # [UNV] text
            if role.upper().startswith("%DB_") or role.upper() == "%ALL":
                return error_status(E_GENERAL, f"Role {role} is a read only system role and cannot be modified")
            record = dict(db["roles"][role])
            for prop, value in changes.items():
                if prop == "Description":
                    bad = _description_error(value)
                elif prop == "Resources":
                    bad = _grants_error(st, _split(value))
                elif prop == "GrantedRoles":
                    bad = _granted_error(db, _split(value), role)
                else:
                    bad = error_status(E_GENERAL, f"Property '{prop}' cannot be modified in class {self.name}")
                if bad is not None:
                    return bad
                record[prop] = ",".join(_split(value)) if prop != "Description" else str(value)
            db["roles"][role] = record
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


def _split(value: Any) -> list[str]:
    """A comma-separated list (``res:RW,res2:R``, ``role1,role2``) without its empty parts."""
    return [part for part in str(value or "").split(",") if part]


def _grants_error(st: dict, grants: list[str]) -> Any:
    """Each grant ``resource:permission`` names an existing resource (any case) with a permission
    of R, W, U letters; [UNV, stricter] a resource granted twice is refused."""
    known = {k.upper() for k in st["resources"]}
    seen: set[str] = set()
    for grant in grants:
        resource, _, perm = grant.partition(":")
        if resource.upper() not in known or not perm or any(c not in "RWU" for c in perm.upper()):
            return error_status(E_GENERAL, f"Invalid resource grant '{grant}'")  # [UNV]
        if resource.upper() in seen:
            return error_status(E_GENERAL, f"Resource {resource} is granted twice")  # [UNV]
        seen.add(resource.upper())
    return None


def _granted_error(db: dict, granted: list[str], role: str | None = None) -> Any:
    """Each granted role exists ([UNV] text; the stricter reading) and is named once; with ``role``
    (a Modify), none grants ``role`` back, directly or through others ([UNV, stricter])."""
    seen: set[str] = set()
    for other in granted:
        if not security.find_role(db, other):
            return error_status(E_GENERAL, f"Role {other} does not exist")  # [UNV] text; stricter reading
        if other.upper() in seen:
            return error_status(E_GENERAL, f"Role {other} is granted twice")  # [UNV]
        seen.add(other.upper())
    if role is not None:
        stack, visited = list(granted), set()
        while stack:
            current = security.find_role(db, stack.pop())
            if current is None or current.upper() in visited:
                continue
            if current.upper() == role.upper():
                return error_status(E_GENERAL, f"Role {role} would grant itself")  # [UNV]
            visited.add(current.upper())
            stack.extend(_split(db["roles"][current].get("GrantedRoles", "")))
    return None


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
