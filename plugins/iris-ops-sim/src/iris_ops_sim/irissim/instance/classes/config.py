"""Config.Namespaces and Config.Databases: the CPF sections (Config/CommonMultipleMethods.cls)."""

from __future__ import annotations

import re

from ...objectscript.runtime import ByRef, Process, SimClass, SimObject, error_status, ok_status, register_class
from .. import lists
from ..fs import ContainerPathError
from ..state import DB_FIELDS, NS_DEFAULTS
from .common import E_DOES_NOT_EXIST, E_ALREADY_EXISTS, E_REQUIRED, E_GENERAL, NS_NAME, DB_NAME, arg, instance_of, props_in, set_ref, truth

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ConfigObject", "ConfigNamespaces", "ConfigDatabases"]


class ConfigObject(SimObject):
    def __init__(self, class_name: str, name: str, props: dict) -> None:
        self.class_name = class_name
        self.props = dict(props, Name=name)

    def get_property(self, proc: Process, name: str) -> Any:
        if name in self.props:
            return self.props[name]
        return super().get_property(proc, name)


class _ConfigSection(SimClass):
    """Shared Create/Get/Modify/Delete/Exists/GetList of ``Config.CommonMultipleMethods``
    (ref/2024.1/Config/CommonMultipleMethods.cls)."""

    namespace = "%SYS"
    section = ""
    label = ""
    fields: tuple[str, ...] = ()
    shown: tuple[str, ...] = ()
    name_rule = NS_NAME

    def _cpf_arg(self, proc: Process, args: list, i: int) -> Any:
        cpf = arg(args, i, "")
        if cpf not in ("", instance_of(proc).cpf_path):
            return error_status(E_GENERAL, f"CPF file {cpf} is not the active CPF file (not simulated)")
        set_ref(args, i, instance_of(proc).cpf_path)
        return None

    def _validate(self, proc: Process, name: str, props: dict, cpf: dict) -> Any:
        return None

    def _defaults(self, props: dict) -> dict:
        return props

    def Create(self, proc: Process, *args: Any) -> Any:
        """Create(Name, ByRef Properties, CPFFile="", Flags=7) As %Status."""
        args = list(args)
        name = str(arg(args, 0)).upper()
        if (bad := self._cpf_arg(proc, args, 2)) is not None:
            return bad
        if not self.name_rule.match(name):
            return error_status(E_GENERAL, f"Invalid {self.label.lower()} name '{name}'")  # [UNV] number
        props = props_in(args, 1)
        for key in props:
            if key not in self.fields:
                return error_status(E_GENERAL, f"Property '{key}' does not exist in class {self.name}")  # [UNV]
        with instance_of(proc).config() as cpf:
            if name in cpf[self.section]:
                return error_status(E_ALREADY_EXISTS, f"{self.label} {name} already exists")
            props = self._defaults(props)
            if (bad := self._validate(proc, name, props, cpf)) is not None:
                return bad
            cpf[self.section][name] = {f: str(props.get(f, "")) for f in self.fields}
        return ok_status()

    def Modify(self, proc: Process, *args: Any) -> Any:
        """Modify(Name, ByRef Properties, ByRef CPFFile="", Flags=7) As %Status: only the keys passed change."""
        args = list(args)
        name = str(arg(args, 0)).upper()
        if (bad := self._cpf_arg(proc, args, 2)) is not None:
            return bad
        changes = props_in(args, 1)
        for key in changes:
            if key not in self.fields:
                return error_status(E_GENERAL, f"Property '{key}' does not exist in class {self.name}")  # [UNV]
        with instance_of(proc).config() as cpf:
            if name not in cpf[self.section]:
                return error_status(E_DOES_NOT_EXIST, f"{self.label} {name} does not exist")
            merged = dict(cpf[self.section][name], **{k: str(v) for k, v in changes.items()})
            if (bad := self._validate(proc, name, merged, cpf)) is not None:
                return bad
            if (bad := self._refuse_change(name, cpf[self.section][name], merged)) is not None:
                return bad
            cpf[self.section][name] = merged
        return ok_status()

    def Get(self, proc: Process, *args: Any) -> Any:
        """Get(Name, ByRef Properties, ByRef CPFFile="", Flags) As %Status."""
        args = list(args)
        name = str(arg(args, 0)).upper()
        if (bad := self._cpf_arg(proc, args, 2)) is not None:
            return bad
        props = instance_of(proc).read_config()[self.section].get(name)
        if props is None:
            return error_status(E_DOES_NOT_EXIST, f"{self.label} {name} does not exist")
        if len(args) > 1 and isinstance(args[1], ByRef):
            for key in self.shown:
                args[1].set_sub(key, _value(props.get(key, "")))
        return ok_status()

    def Delete(self, proc: Process, *args: Any) -> Any:
        """Delete(Name, ByRef CPFFile="", Flags) As %Status: edits the CPF only."""
        args = list(args)
        name = str(arg(args, 0)).upper()
        if (bad := self._cpf_arg(proc, args, 1)) is not None:
            return bad
        with instance_of(proc).config() as cpf:
            if name not in cpf[self.section]:
                return error_status(E_DOES_NOT_EXIST, f"{self.label} {name} does not exist")
            if (bad := self._refuse_delete(name, cpf)) is not None:
                return bad
            del cpf[self.section][name]
            self._after_delete(name, cpf)
        return ok_status()

    def _refuse_delete(self, name: str, cpf: dict) -> Any:
        return None

    def _refuse_change(self, name: str, old: dict, new: dict) -> Any:
        return None

    def _after_delete(self, name: str, cpf: dict) -> None:
        pass

    def Exists(self, proc: Process, *args: Any) -> Any:
        """Exists(Name, ByRef Obj, ByRef Status, ByRef CPFFile="", Flags) As %Boolean."""
        args = list(args)
        name = str(arg(args, 0)).upper()
        props = instance_of(proc).read_config()[self.section].get(name)
        if props is None:
            set_ref(args, 1, "")
            set_ref(args, 2, error_status(E_DOES_NOT_EXIST, f"{self.label} {name} does not exist"))
            return 0
        set_ref(args, 1, ConfigObject(self.name, name, {k: _value(props.get(k, "")) for k in self.shown}))
        set_ref(args, 2, error_status(E_ALREADY_EXISTS, f"{self.label} {name} already exists"))
        set_ref(args, 3, instance_of(proc).cpf_path)
        return 1

    def GetList(self, proc: Process, *args: Any) -> Any:
        """GetList(Name, ByRef CPFFile="", Flags) -> $lb(%Status, $lb($lb(prop,value),...))."""
        args = list(args)
        name = str(arg(args, 0)).upper()
        props = instance_of(proc).read_config()[self.section].get(name)
        if props is None:
            return lists.listbuild(error_status(E_DOES_NOT_EXIST, f"{self.label} {name} does not exist"), "")
        inner = lists.listbuild(*[lists.listbuild(k, _value(props.get(k, ""))) for k in self.shown])
        return lists.listbuild(1, inner)


def _value(text: str) -> Any:
    return int(text) if re.fullmatch(r"-?(0|[1-9][0-9]*)", text or "") else text


@register_class
class ConfigNamespaces(_ConfigSection):
    """Config.Namespaces (ref/2024.1/Config/Namespaces.cls): the [Namespaces] section."""

    name = "Config.Namespaces"
    section = "Namespaces"
    label = "Namespace"
    fields = ("Globals", "Routines", "TempGlobals", "Library", "SysGlobals", "SysRoutines", "Interop")
    shown = ("Globals", "Interop", "Library", "Routines", "SysGlobals", "SysRoutines", "TempGlobals")

    def _defaults(self, props: dict) -> dict:
        props = {k: str(v).upper() if k != "Interop" else str(v) for k, v in props.items()}
        if props.get("Globals") and not props.get("Routines"):
            props["Routines"] = props["Globals"]  # RACS_createnamespace: Routines defaults to Globals
        return {**NS_DEFAULTS, **{k: v for k, v in props.items() if v != ""}}

    def _validate(self, proc: Process, name: str, props: dict, cpf: dict) -> Any:
        """Each database property is ``%String(MINLEN = 1) [ Required ]`` [DOC], so never ``""``
        (a Modify can pass one), and names a configured database; ``Interop`` is a %Boolean:
        0 or 1 (``""`` is the null value, read as 0)."""
        for key in ("Globals", "Routines", "TempGlobals", "Library", "SysGlobals", "SysRoutines"):
            props[key] = str(props.get(key, "")).upper()
            if not props[key]:
                return error_status(E_REQUIRED, f"Property 'Config.Namespaces::{key}({name})' required")
            if props[key] not in cpf["Databases"]:
                return error_status(E_DOES_NOT_EXIST, f"Database {props[key]} does not exist")
        interop = str(props.get("Interop", ""))
        if interop not in ("", "0", "1"):
            return error_status(E_GENERAL, f"Interop {interop} is not a boolean (0 or 1)")  # [UNV] number and text
        props["Interop"] = interop or "0"
        return None

    def _refuse_change(self, name: str, old: dict, new: dict) -> Any:
        """Interop enables interoperability ("In order to enable interoperability", ModifyOne
        [DOC]); nothing documents turning it off.  [UNV, stricter] 1 -> 0 is refused."""
        if str(old.get("Interop", "0")) == "1" and new["Interop"] == "0":
            return error_status(E_GENERAL, f"Interoperability cannot be disabled in namespace {name}")  # [UNV]
        return None

    def _after_delete(self, name: str, cpf: dict) -> None:
        cpf["Maps"].pop(name, None)  # its [Map.<NS>] section goes with it

    def _refuse_delete(self, name: str, cpf: dict) -> Any:
        if name in ("%SYS", "%ALL") or name.startswith("HS"):
            return error_status(E_GENERAL, f"Cannot delete system namespace {name}")  # [UNV]
        return None


@register_class
class ConfigDatabases(_ConfigSection):
    """Config.Databases (ref/2024.1/Config/Databases.cls): the [Databases] section.  Never
    creates or deletes an IRIS.DAT."""

    name = "Config.Databases"
    section = "Databases"
    label = "Database"
    fields = DB_FIELDS
    shown = ("ClusterMountMode", "Directory", "MountAtStartup", "MountRequired", "Server", "StreamLocation")
    name_rule = DB_NAME

    def _defaults(self, props: dict) -> dict:
        out = {"Server": "", "MountRequired": "0", "MountAtStartup": "0", "ClusterMountMode": "0", "StreamLocation": ""}
        out.update({k: str(v) for k, v in props.items()})
        return out

    def _validate(self, proc: Process, name: str, props: dict, cpf: dict) -> Any:
        if not props.get("Directory"):
            return error_status(E_REQUIRED, f"Property 'Config.Databases::Directory({name})' required")
        try:
            props["Directory"] = instance_of(proc).normalize_directory(props["Directory"])
        except ContainerPathError as e:
            return error_status(E_GENERAL, f"Invalid directory: {e}")
        if "," in props["Directory"]:
            return error_status(E_GENERAL, "Invalid directory (comma) in the simulated CPF")
        for key in ("MountRequired", "MountAtStartup", "ClusterMountMode"):
            props[key] = "1" if truth(props.get(key, 0)) else "0"
        return None

    def _refuse_delete(self, name: str, cpf: dict) -> Any:
        used = [ns for ns, p in cpf["Namespaces"].items() if name in (p.get("Globals"), p.get("Routines"))]
        if used:
            return error_status(E_GENERAL, f"Database {name} is used by namespace(s) {','.join(used)}")  # [UNV]
        if name in ("IRISSYS", "IRISLIB", "IRISTEMP", "IRISLOCALDATA", "IRISAUDIT"):
            return error_status(E_GENERAL, f"Cannot delete system database {name}")  # [UNV]
        return None
