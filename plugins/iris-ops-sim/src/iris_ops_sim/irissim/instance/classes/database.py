"""SYS.Database: the physical database file; its ID is the directory (SYS/Database.cls)."""

from __future__ import annotations

import os

from ...objectscript import runtime
from ...objectscript.runtime import Process, SimClass, SimObject, error_status, ok_status, register_class
from .. import datfile
from ..fs import ContainerPathError
from ..state import IRISOWNER, AlreadyMounted, MountError
from .common import E_GENERAL, arg, instance_of, set_ref, truth

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SysDatabaseObject", "SysDatabase"]


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
            return instance_of(proc).normalize_directory(str(value))
        except ContainerPathError as e:
            return error_status(E_GENERAL, f"Invalid directory {value}: {e}")

    def CreateDatabase(self, proc: Process, *args: Any) -> Any:
        """CreateDatabase(Directory, Size=1, BlockSize=8192, EncryptedDB=0, Resource="%DB_%DEFAULT", ...) As %Status.
        "This assumes the Directory has been created"."""
        args = list(args)
        inst = instance_of(proc)
        directory = self._dir(proc, arg(args, 0))
        if not isinstance(directory, str):
            return directory
        size = int(arg(args, 1, 1) or 1)
        block = int(arg(args, 2, 8192) or 8192)
        encrypted = truth(arg(args, 3, 0))
        resource = str(arg(args, 4, "%DB_%DEFAULT") or "%DB_%DEFAULT")
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
        """MountDatabase(Directory, readonly=0, cluster=0, mirrorcatchup=1) As %Status.
        A mounted database is an error ($$$AlreadyMounted, which IPM's Build.cls tests for)."""
        directory = self._dir(proc, arg(list(args), 0))
        if not isinstance(directory, str):
            return directory
        try:
            instance_of(proc).mount(directory, readonly=truth(arg(list(args), 1, 0)))
        except AlreadyMounted as e:
            return error_status(E_GENERAL, str(e))  # [CODE] the error exists; [UNV] its number and text
        except MountError as e:
            return error_status(E_GENERAL, str(e))  # [UNV] number and text
        return ok_status()

    def DismountDatabase(self, proc: Process, *args: Any) -> Any:
        """DismountDatabase(Directory) As %Status.  Not persistent (GSA_manage_databases_details)."""
        directory = self._dir(proc, arg(list(args), 0))
        if not isinstance(directory, str):
            return directory
        try:
            instance_of(proc).dismount(directory)
        except MountError as e:
            return error_status(E_GENERAL, str(e))  # [UNV]
        return ok_status()

    def DeleteDatabase(self, proc: Process, *args: Any) -> Any:
        """DeleteDatabase(Directory) As %Status: removes IRIS.DAT (the directory stays)."""
        inst = instance_of(proc)
        directory = self._dir(proc, arg(list(args), 0))
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
        inst.forget_database(directory)
        return ok_status()

    def _pct_OpenId(self, proc: Process, *args: Any) -> Any:
        """%OpenId(id, concurrency=-1, ByRef sc) As %ObjectHandle (%Persistent): "" when absent."""
        args = list(args)
        inst = instance_of(proc)
        if str(arg(args, 0, "")) == "":
            # [DOC %Library.Persistent] an empty id is no object's: %OpenId opens nothing (it is
            # not the current directory, which NormalizeDirectory would make of it)
            set_ref(args, 2, error_status(E_GENERAL, "Cannot open a database with an empty id"))  # [UNV] text
            return ""
        directory = self._dir(proc, arg(args, 0))
        if not isinstance(directory, str):
            set_ref(args, 2, directory)
            return ""
        host = inst.fs.host_path(directory + "IRIS.DAT")
        try:
            label = datfile.read_label(host)
        except datfile.DatError as e:
            set_ref(args, 2, error_status(E_GENERAL, f"Cannot open database {directory}: {e}"))  # [UNV]
            return ""
        except OSError as e:  # e.g. a root-owned file an interrupted upload left: IRIS cannot read it
            set_ref(args, 2, error_status(E_GENERAL, f"Cannot open database {directory}: {e.strerror}"))  # [UNV]
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
            "BlockSize": label.block_size,
            "Size": os.path.getsize(host) // datfile.MB,
            "MaxSize": 0,
            "ExpansionSize": 0,
            "EncryptedDB": 1 if label.encrypted else 0,
            "GlobalJournalState": 3,
            "ClusterMounted": 0,
            "Mirrored": 1 if label.mirrored else 0,
            "MultiVolume": 1 if inst.volume_files(directory) else 0,
        }
        set_ref(args, 2, ok_status())
        return SysDatabaseObject(props)

    def _pct_ExistsId(self, proc: Process, *args: Any) -> Any:
        """%ExistsId(id) As %Boolean (%Persistent)."""
        directory = self._dir(proc, arg(list(args), 0))
        if not isinstance(directory, str):
            return 0
        return 1 if instance_of(proc).fs.host_path(directory + "IRIS.DAT").is_file() else 0
