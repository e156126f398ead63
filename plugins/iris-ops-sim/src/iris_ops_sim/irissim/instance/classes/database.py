"""SYS.Database: the physical database file; its ID is the directory (SYS/Database.cls)."""

from __future__ import annotations

import os
import re

from ...objectscript import runtime
from ...objectscript.runtime import (
    ErrorStatus, IrisError, Process, SimClass, SimObject, error_status, ok_status, register_class,
)
from .. import datfile
from ..fs import ContainerPathError
from ..mounts import ChangeRefused
from ..state import IRISOWNER, AlreadyMounted, MountError
from .common import E_GENERAL, arg, instance_of, set_ref, truth

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SysDatabaseObject", "SysDatabase"]


#: Properties the reference marks ReadOnly: setting one is ``<CANNOT SET THIS PROPERTY>``.
READ_ONLY = frozenset((
    "Blocks", "BlocksPerMap", "ClusterMounted", "CurrentMaps", "DirectoryBlock", "Expanding", "InActiveMirror",
    "LastExpansionTime", "LastVolumeDirectory", "LastVolumeSize", "MirrorActivationRequired", "MirrorDBCatchup",
    "MirrorDBCreatedNew", "MirrorDBPaused", "MirrorFailoverDB", "MirrorNoWrite", "MirrorObsolete", "Mirrored",
    "Mounted", "MultiVolume", "NumberOfConfigDB", "ROReasonCode", "ROReasonText", "ReadOnlyMounted", "SFN",
    "Skeleton", "VolumeDirectoryList", "VolumeInfoBlock",
))
#: The reference's other properties (writable there): ``<UNIMPLEMENTED>`` when set here.
NOT_SAVED = frozenset((
    "BlockFormat", "BlockSize", "ClusterMountMode", "Directory", "EncryptedDB", "EncryptionKeyID", "ExpansionSize",
    "Full", "GlobalJournalState", "MaxSize", "MirrorDBName", "MirrorSetName", "NewGlobalCollation",
    "NewGlobalGrowthBlock", "NewGlobalIsKeep", "NewGlobalPointerBlock", "NewVolumeDirectory", "NewVolumeThreshold",
    "ReCreate", "ReadOnly", "Reinitialize", "RequestSize", "Resource", "RunCatchupDBOnCreate", "SparseDB",
))
#: Properties an existing database saves in the simulator.
SAVED = ("Size", "ResourceName")
#: Size's largest value: MaxSize's maximum for an 8 KB database, 33553904 MB [DOC]; "Setting
#: 'Size' which is greater than 'MaxSize'" is adjusted, a Size past the absolute limit is refused
#: [UNV, stricter].
MAX_SIZE_MB = 33553904
#: ResourceName is a plain %String: the datatype's default MAXLEN of 50 [DOC %Library.String].
RESOURCE_NAME_MAXLEN = 50


def _database_resource_error(resource: str) -> Any:
    """"All database resource names must begin with %DB_" [DOC TSQS_DatabaseResources]."""
    if not resource.upper().startswith("%DB_"):
        return error_status(E_GENERAL, f"Invalid database resource name {resource}: it must begin with %DB_")  # [UNV]
    return None


class SysDatabaseObject(SimObject):
    """A SYS.Database instance opened by ``%OpenId(Directory)``: a snapshot taken at open.
    ``Size`` and ``ResourceName`` can be set and ``%Save()``d; the reference's other writable
    properties are ``<UNIMPLEMENTED>`` here, its ReadOnly ones ``<CANNOT SET THIS PROPERTY>``."""

    class_name = "SYS.Database"

    def __init__(self, props: dict) -> None:
        self.props = props
        self.changes: dict = {}

    def get_property(self, proc: Process, name: str) -> Any:
        if name in self.changes:
            return self.changes[name]
        if name in self.props:
            return self.props[name]
        return super().get_property(proc, name)

    def set_property(self, proc: Process, name: str, value: Any) -> None:
        if name in SAVED:
            self.changes[name] = value
        elif name in READ_ONLY:
            raise IrisError("CANNOT SET THIS PROPERTY", f"*{name},{self.class_name}")
        elif name in NOT_SAVED:
            raise IrisError("UNIMPLEMENTED", f"*simulator saves only Size and ResourceName of a SYS.Database, not {name}")
        else:
            super().set_property(proc, name, value)

    def call_method(self, proc: Process, name: str, args: list[Any]) -> Any:
        cls = runtime.lookup_class("SYS.Database")
        if name == "Mount":
            return cls.MountDatabase(proc, self.props["Directory"], *args)
        if name == "Dismount":
            return cls.DismountDatabase(proc, self.props["Directory"])
        if name == "%Id":
            return self.props["Directory"]
        if name == "%Save":
            return self._save(proc)
        return super().call_method(proc, name, args)

    def _save(self, proc: Process) -> Any:
        """%Save() As %Status of an existing database.  Nothing set: nothing to save.  The values
        are validated as their datatypes do (Size: %Integer, MINVAL 1; ResourceName: %String,
        MAXLEN 50), a database resource must be named "%DB_..." [DOC TSQS_DatabaseResources] and
        exist, and the database be mounted read-write (``mounts.py``).  A Size below the current
        one is refused: IRIS does not shrink a database this way.  [UNV] #5001 and the texts."""
        if not self.changes:
            return ok_status()
        size = resource = None
        if "Size" in self.changes:
            value = self.changes["Size"]
            text = str(value)
            if not re.fullmatch(r"[0-9]+", text) or not 1 <= int(text) <= MAX_SIZE_MB:
                return error_status(E_GENERAL, f"Datatype validation failed on property 'SYS.Database:Size', "
                                               f'with value equal to "{text}"')  # [UNV] number and text
            size = int(text)
        if "ResourceName" in self.changes:
            resource = str(self.changes["ResourceName"])
            if len(resource) > RESOURCE_NAME_MAXLEN:
                return error_status(E_GENERAL, f"Datatype validation failed on property 'SYS.Database:ResourceName', "
                                               f'with value equal to "{resource}"')  # [UNV] number and text
            if (bad := _database_resource_error(resource)) is not None:
                return bad
        directory = self.props["Directory"]
        try:
            instance_of(proc).change_database(directory, size, resource)
        except ChangeRefused as e:
            return error_status(E_GENERAL, str(e))
        self.props.update(self.changes)
        self.props["Size"] = os.path.getsize(instance_of(proc).fs.host_path(directory + "IRIS.DAT")) // datfile.MB
        self.changes.clear()
        return ok_status()


@register_class
class SysDatabase(SimClass):
    """SYS.Database (ref/2024.1/SYS/Database.cls): the physical database file; ID = directory."""

    name = "SYS.Database"
    namespace = "%SYS"

    def _dir(self, proc: Process, value: Any) -> str | ErrorStatus:
        """The directory as IRIS normalises it, or the error status of one that is not valid (a
        str as well: callers test for :class:`ErrorStatus`, never for str)."""
        try:
            return instance_of(proc).normalize_directory(str(value))
        except ContainerPathError as e:
            return error_status(E_GENERAL, f"Invalid directory {value}: {e}")

    def CreateDatabase(self, proc: Process, *args: Any) -> Any:
        """CreateDatabase(Directory, Size=1, BlockSize=8192, EncryptedDB=0, Resource="%DB_%DEFAULT", ...) As %Status.
        "This assumes the Directory has been created".  The resource is a database resource
        (``%DB_...``) that exists, as ``%Save`` requires of ``ResourceName``."""
        args = list(args)
        inst = instance_of(proc)
        directory = self._dir(proc, arg(args, 0))
        if isinstance(directory, ErrorStatus):
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
        if (bad := _database_resource_error(resource)) is not None:
            return bad
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
        if isinstance(directory, ErrorStatus):
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
        if isinstance(directory, ErrorStatus):
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
        if isinstance(directory, ErrorStatus):
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
        if isinstance(directory, ErrorStatus):
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
        if isinstance(directory, ErrorStatus):
            return 0
        return 1 if instance_of(proc).fs.host_path(directory + "IRIS.DAT").is_file() else 0
