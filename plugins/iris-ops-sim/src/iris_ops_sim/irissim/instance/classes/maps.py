"""Config.MapGlobals, Config.MapRoutines, Config.MapPackages (Config/MapGlobals.cls,
MapRoutines.cls, MapPackages.cls): a namespace's mappings, the ``[Map.<NS>]`` sections of the CPF.

Methods of ``Config.CommonMapMethods``: ``Create(Namespace, Name, .Properties)``,
``Get(Namespace, Name, .Properties)``, ``Modify``, ``Delete(Namespace, Name)``, ``Exists(Namespace,
Name, .Obj, .Status)``.  Every property but ``Database`` (and ``Collation``, ``LockDatabase`` of
global mappings) is not simulated.

The properties passed are those of the class: ``Database`` (``%String(MINLEN = 1) [ Required ]``,
so never ``""``), and for global mappings ``Collation`` and ``LockDatabase``, which keep their
initial values here (5 and ``""``): another value is refused as not simulated.  [UNV, stricter]
any other key is refused, as Config.Namespaces does with one.
"""

from __future__ import annotations

from ...objectscript.runtime import ByRef, Process, SimClass, error_status, ok_status, register_class
from .common import E_ALREADY_EXISTS, E_DOES_NOT_EXIST, E_GENERAL, E_REQUIRED, arg, instance_of, props_in, set_ref
from .config import ConfigObject

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ConfigMapGlobals", "ConfigMapRoutines", "ConfigMapPackages"]

class _MapSection(SimClass):
    namespace = "%SYS"
    prefix = ""
    label = ""
    shown: tuple[str, ...] = ("Database",)

    def _key(self, args: list) -> tuple[str, str]:
        return str(arg(args, 0)).upper(), self.prefix + str(arg(args, 1))

    def _namespace_known(self, cpf: dict, ns: str) -> bool:
        return ns in cpf["Namespaces"] or ns == "%ALL"

    def _props(self, value: str) -> dict:
        props = {"Database": value}
        if "Collation" in self.shown:
            props.update(Collation=5, LockDatabase="")
        return props

    def _refused(self, props: dict, ns: str, key: str) -> Any:
        """The error status of properties the class does not take (see the module's notes)."""
        for prop, value in props.items():
            if prop not in self.shown:
                return error_status(E_GENERAL, f"Property '{prop}' does not exist in class {self.name}")  # [UNV]
            if prop != "Database" and str(value) != str(self._props("")[prop]):
                return error_status(E_GENERAL, f"{prop} {value} of a mapping is not simulated")
        if "Database" in props and str(props["Database"]) == "":
            return error_status(E_REQUIRED, f"Property '{self.name}::Database({ns},{key})' required")
        return None

    def Create(self, proc: Process, *args: Any) -> Any:
        """Create(Namespace, Name, ByRef Properties, CPFFile="", Flags) As %Status."""
        args = list(args)
        ns, key = self._key(args)
        props = props_in(args, 2)
        database = str(props.get("Database", "")).upper()
        if not database:
            return error_status(E_REQUIRED, f"Property '{self.name}::Database({ns},{key})' required")
        if (bad := self._refused(props, ns, key)) is not None:
            return bad
        with instance_of(proc).config() as cpf:
            if not self._namespace_known(cpf, ns):
                return error_status(E_DOES_NOT_EXIST, f"Namespace {ns} does not exist")
            if database not in cpf["Databases"]:
                return error_status(E_DOES_NOT_EXIST, f"Database {database} does not exist")  # [UNV]
            entries = cpf["Maps"].setdefault(ns, {})
            if key in entries:
                return error_status(E_ALREADY_EXISTS, f"{self.label} {arg(args, 1)} already exists in {ns}")
            entries[key] = database
        return ok_status()

    def Modify(self, proc: Process, *args: Any) -> Any:
        """Modify(Namespace, Name, ByRef Properties, ...) As %Status: a property not passed is not
        modified [DOC]; ``Database`` is the one that changes here."""
        args = list(args)
        ns, key = self._key(args)
        props = props_in(args, 2)
        if (bad := self._refused(props, ns, key)) is not None:
            return bad
        database = str(props.get("Database", "")).upper()
        with instance_of(proc).config() as cpf:
            entries = cpf["Maps"].get(ns, {})
            if key not in entries:
                return error_status(E_DOES_NOT_EXIST, f"{self.label} {arg(args, 1)} does not exist in {ns}")
            if database:
                if database not in cpf["Databases"]:
                    return error_status(E_DOES_NOT_EXIST, f"Database {database} does not exist")  # [UNV]
                entries[key] = database
        return ok_status()

    def Get(self, proc: Process, *args: Any) -> Any:
        """Get(Namespace, Name, ByRef Properties, ...) As %Status."""
        args = list(args)
        ns, key = self._key(args)
        value = instance_of(proc).read_config()["Maps"].get(ns, {}).get(key)
        if value is None:
            return error_status(E_DOES_NOT_EXIST, f"{self.label} {arg(args, 1)} does not exist in {ns}")
        if len(args) > 2 and isinstance(args[2], ByRef):
            for k, v in self._props(value).items():
                args[2].set_sub(k, v)
        return ok_status()

    def Delete(self, proc: Process, *args: Any) -> Any:
        """Delete(Namespace, Name, ...) As %Status."""
        args = list(args)
        ns, key = self._key(args)
        with instance_of(proc).config() as cpf:
            entries = cpf["Maps"].get(ns, {})
            if key not in entries:
                return error_status(E_DOES_NOT_EXIST, f"{self.label} {arg(args, 1)} does not exist in {ns}")
            del entries[key]
        return ok_status()

    def Exists(self, proc: Process, *args: Any) -> Any:
        """Exists(Namespace, Name, ByRef Obj, ByRef Status) As %Boolean."""
        args = list(args)
        ns, key = self._key(args)
        value = instance_of(proc).read_config()["Maps"].get(ns, {}).get(key)
        if value is None:
            set_ref(args, 2, "")
            set_ref(args, 3, error_status(E_DOES_NOT_EXIST, f"{self.label} {arg(args, 1)} does not exist in {ns}"))
            return 0
        set_ref(args, 2, ConfigObject(self.name, str(arg(args, 1)), self._props(value)))
        set_ref(args, 3, ok_status())
        return 1

    def list_rows(self, proc: Process, namespace: str) -> tuple[list[str], list[tuple]]:
        """The List query (ListExecute(Namespace, Names="*")): one row per mapping, the name
        first.  [UNV] the query's other columns; only Name and Database are simulated."""
        entries = instance_of(proc).read_config()["Maps"].get(str(namespace).upper(), {})
        rows = [(k[len(self.prefix):], v) for k, v in sorted(entries.items()) if k.startswith(self.prefix)]
        return ["Name", "Database"], rows

@register_class
class ConfigMapGlobals(_MapSection):
    name = "Config.MapGlobals"
    prefix = "Global_"
    label = "Global mapping"
    shown = ("Collation", "Database", "LockDatabase")

@register_class
class ConfigMapRoutines(_MapSection):
    name = "Config.MapRoutines"
    prefix = "Routine_"
    label = "Routine mapping"

@register_class
class ConfigMapPackages(_MapSection):
    name = "Config.MapPackages"
    prefix = "Package_"
    label = "Package mapping"
