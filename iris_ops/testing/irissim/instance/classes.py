"""The IRIS system classes the tool uses, simulated over :class:`~.state.SimInstance`.

Each class and method names its page in the IRIS 2024.1 class reference
(``caretdev/docs-intersystems``, ``ref/2024.1/<Package>/<Class>.cls``).  Where the reference
is silent about a failure (error number or text), the choice is marked ``[UNV]``: the simulated
behaviour is then the stricter one, never the more forgiving.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import time
from typing import Any

from ..objectscript import runtime
from ..objectscript.runtime import (
    OMITTED,
    ByRef,
    Halt,
    IrisError,
    Process,
    SimClass,
    SimObject,
    error_status,
    ok_status,
    register_class,
)
from . import datfile, lists, sql
from .fs import ContainerFS, ContainerPathError, normalize
from .state import DB_FIELDS, IRISOWNER, MountError, NS_DEFAULTS, SimInstance

# Verified: "ERROR #420: Namespace X does not exist" (%ObjectErrors CPFNameDoesNotExist).
E_DOES_NOT_EXIST = 420
# [UNV] the "already exists" number of the same family; the text follows #420's pattern.
E_ALREADY_EXISTS = 419
E_REQUIRED = 5659  # "Property '%1' required" (%ObjectErrors)
E_GENERAL = 5001
E_SQL = 5540  # "SQLCODE: %1 Message: %2"

_NS_NAME = re.compile(r"^[A-Za-z%][A-Za-z0-9_-]{0,63}$")
_DB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def _arg(args: list, i: int, default: Any = "") -> Any:
    if i >= len(args) or args[i] is OMITTED:
        return default
    value = args[i]
    return value.get(default) if isinstance(value, ByRef) else value


def _set_ref(args: list, i: int, value: Any) -> None:
    if i < len(args) and isinstance(args[i], ByRef):
        args[i].set(value)


def _inst(proc: Process) -> SimInstance:
    return proc.instance


def _truth(value: Any) -> bool:
    if isinstance(value, (int, float)):
        return value != 0
    try:
        return float(re.match(r"^\s*[-+]?\d*\.?\d*", str(value)).group() or 0) != 0
    except ValueError:
        return False


def _uid(proc: Process) -> tuple[int, int]:
    return proc.instance.fs.lookup_user(proc.user) or IRISOWNER


# --- Config.* ------------------------------------------------------------------------------


class _ConfigObject(SimObject):
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
    name_rule = _NS_NAME

    def _cpf_arg(self, proc: Process, args: list, i: int) -> Any:
        cpf = _arg(args, i, "")
        if cpf not in ("", _inst(proc).cpf_path):
            return error_status(E_GENERAL, f"CPF file {cpf} is not the active CPF file (not simulated)")
        _set_ref(args, i, _inst(proc).cpf_path)
        return None

    def _props_in(self, args: list, i: int) -> dict:
        ref = args[i] if i < len(args) and isinstance(args[i], ByRef) else None
        return {str(k): v for k, v in ref.items()} if ref else {}

    def _validate(self, proc: Process, name: str, props: dict, cpf: dict) -> Any:
        return None

    def _defaults(self, props: dict) -> dict:
        return props

    def Create(self, proc: Process, *args: Any) -> Any:
        """Create(Name, ByRef Properties, CPFFile="", Flags=7) As %Status."""
        args = list(args)
        name = str(_arg(args, 0)).upper()
        if (bad := self._cpf_arg(proc, args, 2)) is not None:
            return bad
        if not self.name_rule.match(name):
            return error_status(E_GENERAL, f"Invalid {self.label.lower()} name '{name}'")  # [UNV] number
        props = self._props_in(args, 1)
        for key in props:
            if key not in self.fields:
                return error_status(E_GENERAL, f"Property '{key}' does not exist in class {self.name}")  # [UNV]
        with _inst(proc).config() as cpf:
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
        name = str(_arg(args, 0)).upper()
        if (bad := self._cpf_arg(proc, args, 2)) is not None:
            return bad
        changes = self._props_in(args, 1)
        for key in changes:
            if key not in self.fields:
                return error_status(E_GENERAL, f"Property '{key}' does not exist in class {self.name}")  # [UNV]
        with _inst(proc).config() as cpf:
            if name not in cpf[self.section]:
                return error_status(E_DOES_NOT_EXIST, f"{self.label} {name} does not exist")
            merged = dict(cpf[self.section][name], **{k: str(v) for k, v in changes.items()})
            if (bad := self._validate(proc, name, merged, cpf)) is not None:
                return bad
            cpf[self.section][name] = merged
        return ok_status()

    def Get(self, proc: Process, *args: Any) -> Any:
        """Get(Name, ByRef Properties, ByRef CPFFile="", Flags) As %Status."""
        args = list(args)
        name = str(_arg(args, 0)).upper()
        if (bad := self._cpf_arg(proc, args, 2)) is not None:
            return bad
        props = _inst(proc).read_config()[self.section].get(name)
        if props is None:
            return error_status(E_DOES_NOT_EXIST, f"{self.label} {name} does not exist")
        if len(args) > 1 and isinstance(args[1], ByRef):
            for key in self.shown:
                args[1].set_sub(key, _value(props.get(key, "")))
        return ok_status()

    def Delete(self, proc: Process, *args: Any) -> Any:
        """Delete(Name, ByRef CPFFile="", Flags) As %Status: edits the CPF only."""
        args = list(args)
        name = str(_arg(args, 0)).upper()
        if (bad := self._cpf_arg(proc, args, 1)) is not None:
            return bad
        with _inst(proc).config() as cpf:
            if name not in cpf[self.section]:
                return error_status(E_DOES_NOT_EXIST, f"{self.label} {name} does not exist")
            if (bad := self._refuse_delete(name, cpf)) is not None:
                return bad
            del cpf[self.section][name]
        return ok_status()

    def _refuse_delete(self, name: str, cpf: dict) -> Any:
        return None

    def Exists(self, proc: Process, *args: Any) -> Any:
        """Exists(Name, ByRef Obj, ByRef Status, ByRef CPFFile="", Flags) As %Boolean."""
        args = list(args)
        name = str(_arg(args, 0)).upper()
        props = _inst(proc).read_config()[self.section].get(name)
        if props is None:
            _set_ref(args, 1, "")
            _set_ref(args, 2, error_status(E_DOES_NOT_EXIST, f"{self.label} {name} does not exist"))
            return 0
        _set_ref(args, 1, _ConfigObject(self.name, name, {k: _value(props.get(k, "")) for k in self.shown}))
        _set_ref(args, 2, error_status(E_ALREADY_EXISTS, f"{self.label} {name} already exists"))
        _set_ref(args, 3, _inst(proc).cpf_path)
        return 1

    def GetList(self, proc: Process, *args: Any) -> Any:
        """GetList(Name, ByRef CPFFile="", Flags) -> $lb(%Status, $lb($lb(prop,value),...))."""
        args = list(args)
        name = str(_arg(args, 0)).upper()
        props = _inst(proc).read_config()[self.section].get(name)
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
    shown = ("Globals", "Library", "Routines", "SysGlobals", "SysRoutines", "TempGlobals")

    def _defaults(self, props: dict) -> dict:
        props = {k: str(v).upper() if k != "Interop" else str(v) for k, v in props.items()}
        if props.get("Globals") and not props.get("Routines"):
            props["Routines"] = props["Globals"]  # RACS_createnamespace: Routines defaults to Globals
        return {**NS_DEFAULTS, **{k: v for k, v in props.items() if v != ""}}

    def _validate(self, proc: Process, name: str, props: dict, cpf: dict) -> Any:
        if not props.get("Globals"):
            return error_status(E_REQUIRED, f"Property 'Config.Namespaces::Globals({name})' required")
        for key in ("Globals", "Routines", "TempGlobals", "Library", "SysGlobals", "SysRoutines"):
            props[key] = str(props.get(key, "")).upper()
            if props[key] and props[key] not in cpf["Databases"]:
                return error_status(E_DOES_NOT_EXIST, f"Database {props[key]} does not exist")
        return None

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
    name_rule = _DB_NAME

    def _defaults(self, props: dict) -> dict:
        out = {"Server": "", "MountRequired": "0", "MountAtStartup": "0", "ClusterMountMode": "0", "StreamLocation": ""}
        out.update({k: str(v) for k, v in props.items()})
        return out

    def _validate(self, proc: Process, name: str, props: dict, cpf: dict) -> Any:
        if not props.get("Directory"):
            return error_status(E_REQUIRED, f"Property 'Config.Databases::Directory({name})' required")
        try:
            props["Directory"] = _inst(proc).normalize_directory(props["Directory"])
        except ContainerPathError as e:
            return error_status(E_GENERAL, f"Invalid directory: {e}")
        if "," in props["Directory"]:
            return error_status(E_GENERAL, "Invalid directory (comma) in the simulated CPF")
        for key in ("MountRequired", "MountAtStartup", "ClusterMountMode"):
            props[key] = "1" if _truth(props.get(key, 0)) else "0"
        return None

    def _refuse_delete(self, name: str, cpf: dict) -> Any:
        used = [ns for ns, p in cpf["Namespaces"].items() if name in (p.get("Globals"), p.get("Routines"))]
        if used:
            return error_status(E_GENERAL, f"Database {name} is used by namespace(s) {','.join(used)}")  # [UNV]
        if name in ("IRISSYS", "IRISLIB", "IRISTEMP", "IRISLOCALDATA", "IRISAUDIT"):
            return error_status(E_GENERAL, f"Cannot delete system database {name}")  # [UNV]
        return None


# --- SYS.Database --------------------------------------------------------------------------


class SysDatabaseObject(SimObject):
    """A SYS.Database instance opened by ``%OpenId(Directory)``: a snapshot taken at open."""

    class_name = "SYS.Database"

    def __init__(self, props: dict) -> None:
        self.props = props

    def get_property(self, proc: Process, name: str) -> Any:
        if name in self.props:
            return self.props[name]
        return super().get_property(proc, name)

    def call_method(self, proc: Process, name: str, args: list[Any]) -> Any:
        cls = runtime.lookup_class("SYS.Database")
        if name == "Mount":
            return cls.MountDatabase(proc, self.props["Directory"], *args)
        if name == "Dismount":
            return cls.DismountDatabase(proc, self.props["Directory"])
        if name == "%Id":
            return self.props["Directory"]
        return super().call_method(proc, name, args)


@register_class
class SysDatabase(SimClass):
    """SYS.Database (ref/2024.1/SYS/Database.cls): the physical database file; ID = directory."""

    name = "SYS.Database"
    namespace = "%SYS"

    def _dir(self, proc: Process, value: Any) -> str | Any:
        try:
            return _inst(proc).normalize_directory(str(value))
        except ContainerPathError as e:
            return error_status(E_GENERAL, f"Invalid directory {value}: {e}")

    def CreateDatabase(self, proc: Process, *args: Any) -> Any:
        """CreateDatabase(Directory, Size=1, BlockSize=8192, EncryptedDB=0, Resource="%DB_%DEFAULT", ...) As %Status.
        "This assumes the Directory has been created"."""
        args = list(args)
        inst = _inst(proc)
        directory = self._dir(proc, _arg(args, 0))
        if not isinstance(directory, str):
            return directory
        size = int(_arg(args, 1, 1) or 1)
        block = int(_arg(args, 2, 8192) or 8192)
        encrypted = _truth(_arg(args, 3, 0))
        resource = str(_arg(args, 4, "%DB_%DEFAULT") or "%DB_%DEFAULT")
        if block != 8192:
            return error_status(E_GENERAL, f"Block size {block} is not enabled on this instance")  # [UNV]
        if encrypted:
            return error_status(E_GENERAL, "No database encryption key is activated")  # [UNV]
        if size < 1:
            return error_status(E_GENERAL, f"Invalid size {size}")
        fs = inst.fs
        host_dir = fs.host_path(directory)
        if not host_dir.is_dir():
            return error_status(E_GENERAL, f"Directory {directory} does not exist")  # [UNV]
        dat = directory + "IRIS.DAT"
        if fs.host_path(dat).exists():
            return error_status(E_GENERAL, f"Database {directory} already exists")  # [UNV]
        if not fs.can_write(dat, IRISOWNER[0]):
            return error_status(E_GENERAL, f"Cannot create {dat}: permission denied")  # [UNV]
        if not inst.resource_exists(resource):
            return error_status(E_GENERAL, f"Resource {resource} does not exist")  # [UNV]
        datfile.create(fs.host_path(dat), directory, resource, size)
        fs.created(dat, *IRISOWNER)
        os.chmod(fs.host_path(dat), 0o660)
        try:
            inst.mount(directory)
        except MountError as e:
            return error_status(E_GENERAL, str(e))
        return ok_status()

    def MountDatabase(self, proc: Process, *args: Any) -> Any:
        """MountDatabase(Directory, readonly=0, cluster=0, mirrorcatchup=1) As %Status."""
        directory = self._dir(proc, _arg(list(args), 0))
        if not isinstance(directory, str):
            return directory
        try:
            _inst(proc).mount(directory, readonly=_truth(_arg(list(args), 1, 0)))
        except MountError as e:
            return error_status(E_GENERAL, str(e))  # [UNV] number and text
        return ok_status()

    def DismountDatabase(self, proc: Process, *args: Any) -> Any:
        """DismountDatabase(Directory) As %Status.  Not persistent (GSA_manage_databases_details)."""
        directory = self._dir(proc, _arg(list(args), 0))
        if not isinstance(directory, str):
            return directory
        try:
            _inst(proc).dismount(directory)
        except MountError as e:
            return error_status(E_GENERAL, str(e))  # [UNV]
        return ok_status()

    def DeleteDatabase(self, proc: Process, *args: Any) -> Any:
        """DeleteDatabase(Directory) As %Status: removes IRIS.DAT (the directory stays)."""
        inst = _inst(proc)
        directory = self._dir(proc, _arg(list(args), 0))
        if not isinstance(directory, str):
            return directory
        dat = directory + "IRIS.DAT"
        if not inst.fs.host_path(dat).is_file():
            return error_status(E_GENERAL, f"Database {directory} does not exist")  # [UNV]
        if inst.mount_info(directory) is not None:
            return error_status(E_GENERAL, f"Database {directory} is mounted; dismount it first")  # [UNV]
        if not inst.fs.can_delete(dat, IRISOWNER[0]):
            return error_status(E_GENERAL, f"Cannot delete {dat}: permission denied")
        inst.fs.host_path(dat).unlink()
        inst.fs.forget(dat)
        return ok_status()

    def _pct_OpenId(self, proc: Process, *args: Any) -> Any:
        """%OpenId(id, concurrency=-1, ByRef sc) As %ObjectHandle (%Persistent): "" when absent."""
        args = list(args)
        inst = _inst(proc)
        directory = self._dir(proc, _arg(args, 0))
        if not isinstance(directory, str):
            _set_ref(args, 2, directory)
            return ""
        host = inst.fs.host_path(directory + "IRIS.DAT")
        try:
            label = datfile.read_label(host)
        except datfile.DatError as e:
            _set_ref(args, 2, error_status(E_GENERAL, f"Cannot open database {directory}: {e}"))  # [UNV]
            return ""
        info = inst.mount_info(directory)
        props = {
            "Directory": directory,
            "Mounted": 1 if info is not None else 0,
            "ReadOnly": 1 if label.readonly else 0,
            "ReadOnlyMounted": 1 if info and info["readonly"] else 0,
            "ROReasonCode": 0 if not (info and info["readonly"]) else 1,
            "ROReasonText": info["reason"] if info else "",
            "ResourceName": label.resource,
            "BlockSize": datfile.BLOCK,
            "Size": os.path.getsize(host) // datfile.MB,
            "MaxSize": 0,
            "ExpansionSize": 0,
            "EncryptedDB": 0,
            "GlobalJournalState": 3,
            "ClusterMounted": 0,
            "Mirrored": 0,
        }
        _set_ref(args, 2, ok_status())
        return SysDatabaseObject(props)

    def _pct_ExistsId(self, proc: Process, *args: Any) -> Any:
        """%ExistsId(id) As %Boolean (%Persistent)."""
        directory = self._dir(proc, _arg(list(args), 0))
        if not isinstance(directory, str):
            return 0
        return 1 if _inst(proc).fs.host_path(directory + "IRIS.DAT").is_file() else 0


# --- %Library.File ---------------------------------------------------------------------------


@register_class
class LibraryFile(SimClass):
    """%Library.File (ref/2024.1/%Library/File.cls).  Returns %Boolean (not %Status).  Runs as the
    process user and honours the container's permissions; what it creates belongs to that user."""

    name = "%Library.File"
    aliases = ("%File",)

    def _path(self, proc: Process, value: Any, directory: bool = False) -> str | None:
        text = str(value)
        if not text:
            return None
        if not text.startswith("/"):
            text = _inst(proc).manager_directory() + text
        try:
            return normalize(text)
        except ContainerPathError:
            return None

    def _fs(self, proc: Process) -> ContainerFS:
        return _inst(proc).fs

    def Exists(self, proc: Process, *args: Any) -> Any:
        """Exists(filename, Output return) As %Boolean."""
        args = list(args)
        path = self._path(proc, _arg(args, 0))
        fs = self._fs(proc)
        uid = _uid(proc)[0]
        if path is None or not fs.exists(path):
            _set_ref(args, 1, -2)
            return 0
        parent = posixpath.dirname(path)
        if uid and not (fs.can_read(parent, uid) or fs._can_reach(path, uid)):
            _set_ref(args, 1, -13)
            return 0
        return 1

    def DirectoryExists(self, proc: Process, *args: Any) -> Any:
        """DirectoryExists(filename) As %Boolean."""
        path = self._path(proc, _arg(list(args), 0))
        if path is None:
            return 0
        fs = self._fs(proc)
        uid = _uid(proc)[0]
        if uid and not fs._can_reach(path, uid):
            return 0
        return 1 if fs.exists(path) and fs.host_path(path).is_dir() else 0

    def _mkdir(self, proc: Process, path: str) -> int:
        fs = self._fs(proc)
        uid, gid = _uid(proc)
        if fs.exists(path):
            return -17
        if not fs.can_write(path, uid):
            return -13
        fs.host_path(path).mkdir()
        os.chmod(fs.host_path(path), 0o755)
        fs.created(path, uid, gid)
        return 0

    def CreateDirectory(self, proc: Process, *args: Any) -> Any:
        """CreateDirectory(name, Output return) As %Boolean: one level."""
        args = list(args)
        path = self._path(proc, _arg(args, 0))
        if path is None:
            _set_ref(args, 1, -2)
            return 0
        rc = self._mkdir(proc, path)
        _set_ref(args, 1, rc)
        return 1 if rc == 0 else 0

    def CreateDirectoryChain(self, proc: Process, *args: Any) -> Any:
        """CreateDirectoryChain(name, Output return) As %Boolean."""
        args = list(args)
        path = self._path(proc, _arg(args, 0))
        if path is None:
            _set_ref(args, 1, -2)
            return 0
        fs = self._fs(proc)
        current = ""
        for part in [p for p in path.split("/") if p]:
            current += "/" + part
            if fs.exists(current):
                if not fs.host_path(current).is_dir():
                    _set_ref(args, 1, -20)
                    return 0
                continue
            rc = self._mkdir(proc, current)
            if rc:
                _set_ref(args, 1, rc)
                return 0
        return 1

    def RemoveDirectoryTree(self, proc: Process, *args: Any) -> Any:
        """RemoveDirectoryTree(pTarget) As %Boolean: recursive; 0 if anything cannot be removed."""
        path = self._path(proc, _arg(list(args), 0))
        fs = self._fs(proc)
        uid = _uid(proc)[0]
        if path is None or path == "/" or not fs.exists(path) or not fs.host_path(path).is_dir():
            return 0  # [UNV] a missing directory counts as failure here (the stricter reading)

        def remove(cpath: str) -> bool:
            host = fs.host_path(cpath)
            ok = True
            if host.is_dir() and not host.is_symlink():
                if uid and not (fs._allowed(cpath, uid, 4) and fs._allowed(cpath, uid, 1)):
                    return False
                for child in sorted(os.listdir(host)):
                    ok = remove(posixpath.join(cpath, child)) and ok
                if not ok:
                    return False
                if not fs.can_delete(cpath, uid):
                    return False
                host.rmdir()
            else:
                if not fs.can_delete(cpath, uid):
                    return False
                host.unlink()
            fs.forget(cpath)
            return True

        return 1 if remove(path) else 0

    def Delete(self, proc: Process, *args: Any) -> Any:
        """Delete(filename, Output return) As %Boolean."""
        args = list(args)
        path = self._path(proc, _arg(args, 0))
        fs = self._fs(proc)
        if path is None or not fs.exists(path) or fs.host_path(path).is_dir():
            _set_ref(args, 1, -2)
            return 0
        if not fs.can_delete(path, _uid(proc)[0]):
            _set_ref(args, 1, -13)
            return 0
        fs.host_path(path).unlink()
        fs.forget(path)
        return 1

    def CopyFile(self, proc: Process, *args: Any) -> Any:
        """CopyFile(from, to, pDeleteBeforeCopy=0, Output return) As %Boolean."""
        args = list(args)
        src = self._path(proc, _arg(args, 0))
        dst = self._path(proc, _arg(args, 1))
        fs = self._fs(proc)
        uid, gid = _uid(proc)
        if src is None or dst is None or not fs.exists(src) or fs.host_path(src).is_dir():
            _set_ref(args, 3, -2)
            return 0
        if not fs.can_read(src, uid) or (uid and not fs._can_reach(src, uid)):
            _set_ref(args, 3, -13)
            return 0
        if fs.exists(dst) and fs.host_path(dst).is_dir():
            _set_ref(args, 3, -21)
            return 0
        existed = fs.exists(dst)
        if existed and _truth(_arg(args, 2, 0)):
            if not fs.can_delete(dst, uid):
                _set_ref(args, 3, -13)
                return 0
            fs.host_path(dst).unlink()
            fs.forget(dst)
            existed = False
        if not fs.can_write(dst, uid):
            _set_ref(args, 3, -13)
            return 0
        with open(fs.host_path(src), "rb") as fin, open(fs.host_path(dst), "r+b" if existed else "wb") as fout:
            shutil.copyfileobj(fin, fout, 1024 * 1024)
            fout.truncate()
        if not existed:
            os.chmod(fs.host_path(dst), 0o644)
            fs.created(dst, uid, gid)
        return 1

    def NormalizeDirectory(self, proc: Process, *args: Any) -> Any:
        """NormalizeDirectory(directory, absolutedirectory="", addnull) As %String: absolute, trailing /."""
        args = list(args)
        directory = str(_arg(args, 0))
        base = str(_arg(args, 1, "")) or _inst(proc).manager_directory()
        if not directory.startswith("/"):
            directory = base.rstrip("/") + "/" + directory
        try:
            return normalize(directory).rstrip("/") + "/"
        except ContainerPathError:
            return ""

    def ManagerDirectory(self, proc: Process, *args: Any) -> Any:
        """ManagerDirectory() As %String."""
        return _inst(proc).manager_directory()

    def GetFileSize(self, proc: Process, *args: Any) -> Any:
        """GetFileSize(filename) As %Integer: bytes, or a negative OS error code."""
        path = self._path(proc, _arg(list(args), 0))
        fs = self._fs(proc)
        if path is None or not fs.exists(path):
            return -2
        if not fs._can_reach(path, _uid(proc)[0]):
            return -13
        return os.path.getsize(fs.host_path(path))


# --- Backup.General ---------------------------------------------------------------------------


@register_class
class BackupGeneral(SimClass):
    """Backup.General (ref/2024.1/Backup/General.cls): external backup freeze/thaw."""

    name = "Backup.General"
    namespace = "%SYS"

    def _log(self, proc: Process, logfile: Any, text: str) -> bool:
        if logfile in ("", OMITTED, None):
            return True
        lib = LibraryFile()
        path = lib._path(proc, logfile)
        fs = _inst(proc).fs
        uid, gid = _uid(proc)
        if path is None or not fs.can_write(path, uid):
            return False
        existed = fs.exists(path)
        with open(fs.host_path(path), "a") as f:
            f.write(time.strftime("%m/%d/%Y %H:%M:%S ") + text + "\n")
        if not existed:
            fs.created(path, uid, gid)
        return True

    @staticmethod
    def _finish(proc: Process, status: Any) -> Any:
        if getattr(proc, "argument_mode", False):
            raise Halt(3 if runtime.is_error_status(status) else 5)
        return status

    def ExternalFreeze(self, proc: Process, *args: Any) -> Any:
        """ExternalFreeze(LogFile="", Text="", SwitchJournalFile=1, TimeOut=10, Hibernate=0, Verbose=0,
        ExternalFreezeTimeOut=0, Username="", Password="", WDSuspendLimit=0, ByRef RequiredFile) As %Status.
        Instance-wide; every database write blocks until ExternalThaw or WDSuspendLimit seconds."""
        args = list(args)
        logfile = _arg(args, 0, "")
        limit_arg = _arg(args, 9, 0)
        try:
            limit = float(limit_arg or 0)
        except (TypeError, ValueError):
            limit = 0.0
        inst = _inst(proc)
        if not self._log(proc, logfile, "Backup.General.ExternalFreeze: starting"):
            return self._finish(proc, error_status(E_GENERAL, f"Cannot open log file {logfile}"))  # [UNV]
        if not inst.freeze(limit=max(limit, 0)):
            self._log(proc, logfile, "System is already frozen")
            return self._finish(proc, error_status(E_GENERAL, "ExternalFreeze failed: the system is already frozen"))  # [UNV]
        _set_ref(args, 10, inst.manager_directory() + "journal/" + time.strftime("%Y%m%d") + ".001")
        self._log(proc, logfile, "System is frozen")
        return self._finish(proc, ok_status())

    def ExternalThaw(self, proc: Process, *args: Any) -> Any:
        """ExternalThaw(LogFile="", Username="", Password="") As %Status."""
        args = list(args)
        logfile = _arg(args, 0, "")
        if not _inst(proc).thaw():
            self._log(proc, logfile, "ExternalThaw: system was not frozen")
            # [UNV] the reference does not say; failing is the stricter reading, and it tells a
            # caller whose WDSuspendLimit expired that its copy may not be consistent.
            return self._finish(proc, error_status(E_GENERAL, "ExternalThaw: the system is not frozen"))
        self._log(proc, logfile, "System thawed")
        return self._finish(proc, ok_status())

    def IsWDSuspended(self, proc: Process, *args: Any) -> Any:
        """IsWDSuspended() As %Boolean."""
        return 1 if _inst(proc).is_frozen() else 0

    def IsWDSuspendedExt(self, proc: Process, *args: Any) -> Any:
        """IsWDSuspendedExt() As %Boolean: as an argument, exit status 5 if suspended, else 3."""
        value = self.IsWDSuspended(proc)
        if getattr(proc, "argument_mode", False):
            raise Halt(5 if value else 3)
        return value


# --- Security.Resources -------------------------------------------------------------------------


@register_class
class SecurityResources(SimClass):
    """Security.Resources (ref/2024.1/Security/Resources.cls)."""

    name = "Security.Resources"
    namespace = "%SYS"

    def Create(self, proc: Process, *args: Any) -> Any:
        """Create(Name, Description, PublicPermission, Type) As %Status."""
        args = list(args)
        name = str(_arg(args, 0))
        perm = str(_arg(args, 2, "") or "").upper()
        if not name or len(name) > 64 or "," in name or ":" in name:
            return error_status(E_GENERAL, f"Invalid resource name '{name}'")  # [UNV]
        if any(c not in "RWU" for c in perm):
            return error_status(E_GENERAL, f"Invalid public permission '{perm}'")  # [UNV]
        with _inst(proc).locked() as st:
            if name.upper() in {k.upper() for k in st["resources"]}:
                return error_status(E_GENERAL, f"Resource {name} already exists")  # [UNV]
            st["resources"][name] = {"Description": str(_arg(args, 1, "")), "PublicPermission": perm}
        return ok_status()

    def Delete(self, proc: Process, *args: Any) -> Any:
        """Delete(Name) As %Status."""
        name = str(_arg(list(args), 0))
        with _inst(proc).locked() as st:
            key = next((k for k in st["resources"] if k.upper() == name.upper()), None)
            if key is None:
                return error_status(E_GENERAL, f"Resource {name} does not exist")  # [UNV]
            del st["resources"][key]
        return ok_status()

    def Exists(self, proc: Process, *args: Any) -> Any:
        """Exists(Name, ByRef Resource, ByRef Status) As %Boolean."""
        args = list(args)
        name = str(_arg(args, 0))
        if _inst(proc).resource_exists(name):
            _set_ref(args, 1, _ConfigObject("Security.Resources", name, {}))
            _set_ref(args, 2, ok_status())
            return 1
        _set_ref(args, 1, "")
        _set_ref(args, 2, error_status(E_GENERAL, f"Resource {name} does not exist"))  # [UNV]
        return 0

    def Get(self, proc: Process, *args: Any) -> Any:
        """Get(Name, ByRef Properties) As %Status."""
        args = list(args)
        name = str(_arg(args, 0))
        with _inst(proc).locked() as st:
            key = next((k for k in st["resources"] if k.upper() == name.upper()), None)
            record = dict(st["resources"][key]) if key else None
        if record is None:
            return error_status(E_GENERAL, f"Resource {name} does not exist")  # [UNV]
        if len(args) > 1 and isinstance(args[1], ByRef):
            args[1].set_sub("Description", record["Description"])
            args[1].set_sub("PublicPermission", record["PublicPermission"])
            args[1].set_sub("Type", 2 if key.upper().startswith("%DB_") else 0)
        return ok_status()


# --- %SYS.Namespace ---------------------------------------------------------------------------


@register_class
class SysNamespace(SimClass):
    """%SYS.Namespace (ref/2024.1/%SYS/Namespace.cls); available in every namespace."""

    name = "%SYS.Namespace"

    def Exists(self, proc: Process, *args: Any) -> Any:
        """Exists(NamespaceName) As %Boolean."""
        return 1 if _inst(proc).namespace_exists(str(_arg(list(args), 0))) else 0

    def ListAll(self, proc: Process, *args: Any) -> Any:
        """ListAll(Output array, ConvertImplicit=1) As %Status: array(NS)=""."""
        args = list(args)
        if args and isinstance(args[0], ByRef):
            args[0].kill()
            for ns in _inst(proc).read_config()["Namespaces"]:
                args[0].set_sub(ns, "")
        return ok_status()


# --- %SQL.Statement ---------------------------------------------------------------------------


def _sql_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _statement_text(value: Any) -> str:
    if isinstance(value, ByRef):
        if value.subscripts:
            return "\n".join(str(v) for _, v in value.items())
        return str(value.get(""))
    return str(value)


class StatementResult(SimObject):
    """%SQL.StatementResult (ref/2024.1/%SQL/StatementResult.cls)."""

    class_name = "%SQL.StatementResult"

    def __init__(self, columns: list[str], rows: list[tuple], sqlcode: int = 0, message: str = "", rowcount: int = 0) -> None:
        self.columns = columns
        self.rows = rows
        self.sqlcode = sqlcode
        self.message = message
        self.rowcount = rowcount
        self.cursor = -1
        self.is_select = bool(columns)

    def get_property(self, proc: Process, name: str) -> Any:
        if name == "%SQLCODE":
            return self.sqlcode
        if name == "%Message":
            return self.message
        if name == "%ROWCOUNT":
            return self.rowcount
        if name == "%StatementType":
            return 1 if self.is_select else 0
        return super().get_property(proc, name)

    def set_property(self, proc: Process, name: str, value: Any) -> None:
        if name == "%SQLCODE":
            self.sqlcode = value
        elif name == "%Message":
            self.message = value
        elif name == "%ROWCOUNT":
            self.rowcount = value
        else:
            super().set_property(proc, name, value)

    def call_method(self, proc: Process, name: str, args: list[Any]) -> Any:
        if name == "%Next":
            if not self.is_select or self.sqlcode < 0:
                return 0
            self.cursor += 1
            if self.cursor >= len(self.rows):
                self.sqlcode = 100
                return 0
            self.rowcount = self.cursor + 1
            return 1
        if name == "%GetData":
            n = int(_arg(args, 0, 0) or 0)
            if not self._on_row() or n < 1 or n > len(self.columns):
                return ""
            return _sql_value(self.rows[self.cursor][n - 1])
        if name == "%Get":
            col = str(_arg(args, 0, ""))
            if col not in self.columns:
                raise IrisError("PROPERTY DOES NOT EXIST", f"*{col},{self.class_name}")
            if not self._on_row():
                return ""
            return _sql_value(self.rows[self.cursor][self.columns.index(col)])
        if name == "%Display":
            delim = str(_arg(args, 0, "\t"))
            if self.is_select:
                proc.write(delim.join(self.columns) + "\n")
                while self.call_method(proc, "%Next", []):
                    proc.write(delim.join(str(_sql_value(v)) for v in self.rows[self.cursor]) + "\n")
                proc.write(f"\n{self.rowcount} Rows(s) Affected")
            elif self.sqlcode >= 0:
                proc.write(f"{self.rowcount} Row(s) Affected")
            else:
                proc.write(f"[SQLCODE: <{self.sqlcode}>:<{self.message}>]")
            return ""
        return super().call_method(proc, name, args)

    def _on_row(self) -> bool:
        return 0 <= self.cursor < len(self.rows)


class StatementObject(SimObject):
    """An instance of %SQL.Statement (ref/2024.1/%SQL/Statement.cls)."""

    class_name = "%SQL.Statement"

    def __init__(self) -> None:
        self.text: str | None = None
        self.query: Any = None  # a class query (runtime.register_query) once %PrepareClassQuery succeeded

    def call_method(self, proc: Process, name: str, args: list[Any]) -> Any:
        if name == "%PrepareClassQuery":
            return self._prepare_class_query(proc, args)
        if name == "%Execute" and self.query is not None:
            columns, rows = self.query(proc, *[_arg(args, i) for i in range(len(args))])
            return StatementResult(columns, rows)
        if name == "%Prepare":
            text = _statement_text(args[0]) if args else ""
            try:
                sql.execute(_inst(proc), proc.namespace, text, (), dry_run=True)
            except sql.SqlError as e:
                self.text = None
                return error_status(E_SQL, f"SQLCODE: {e.sqlcode} Message: {e.message}")
            self.text = text
            return ok_status()
        if name == "%Execute":
            if self.text is None:
                return StatementResult([], [], -400, "Statement has not been prepared")  # [UNV]
            return run_sql(proc, self.text, [_arg(args, i) for i in range(len(args))])
        return super().call_method(proc, name, args)

    def _prepare_class_query(self, proc: Process, args: list[Any]) -> Any:
        """%PrepareClassQuery(pClassName, pQueryName, checkPriv=1) As %Status: only the queries
        registered with ``runtime.register_query`` exist.  [UNV] an unknown one is SQLCODE -428."""
        class_name, query_name = str(_arg(args, 0, "")), str(_arg(args, 1, ""))
        self.text, self.query = None, runtime.lookup_query(class_name, query_name)
        if self.query is None:
            return error_status(E_SQL, f"SQLCODE: -428 Message: Stored procedure {class_name}:{query_name} not found")
        return ok_status()


def run_sql(proc: Process, text: str, params: list) -> StatementResult:
    try:
        result = sql.execute(_inst(proc), proc.namespace, text, tuple(params))
    except sql.SqlError as e:
        return StatementResult([], [], e.sqlcode, e.message)
    return StatementResult(result.columns, result.rows, 0, "", 0 if result.columns else result.rowcount)


@register_class
class SqlStatement(SimClass):
    """%SQL.Statement (ref/2024.1/%SQL/Statement.cls)."""

    name = "%SQL.Statement"

    def _pct_New(self, proc: Process, *args: Any) -> Any:
        return StatementObject()

    def _pct_ExecDirect(self, proc: Process, *args: Any) -> Any:
        """%ExecDirect(ByRef pHStatement, ByRef pStatementText, %parm...) As %SQL.StatementResult."""
        args = list(args)
        stmt = StatementObject()
        _set_ref(args, 0, stmt)
        text = _statement_text(args[1]) if len(args) > 1 else ""
        try:
            sql.execute(_inst(proc), proc.namespace, text, (), dry_run=True)
        except sql.SqlError as e:
            return StatementResult([], [], e.sqlcode, e.message)
        stmt.text = text
        return run_sql(proc, text, [_arg(args, i) for i in range(2, len(args))])
