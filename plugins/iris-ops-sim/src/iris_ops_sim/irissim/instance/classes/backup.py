"""Backup.General (Backup/General.cls): ExternalFreeze, ExternalThaw, IsWDSuspended."""

from __future__ import annotations

import time

from ...objectscript import runtime
from ...objectscript.runtime import (
    OMITTED,
    Halt,
    IrisError,
    Process,
    SimClass,
    error_status,
    ok_status,
    register_class,
)
from .common import E_GENERAL, arg, instance_of, set_ref, user_of
from .config import ConfigObject
from .files import LibraryFile

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BackupGeneral", "DictionaryCompiledMethod"]


def _seconds(value: Any) -> float:
    """A %Integer argument of seconds; what is not a positive number counts as 0 (the default)."""
    try:
        return max(float(value or 0), 0.0)
    except (TypeError, ValueError):
        return 0.0


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
        fs = instance_of(proc).fs
        uid, gid = user_of(proc)
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
        Non-clustered: suspends the write daemon only (see ``writedaemon.py``); TimeOut, Hibernate
        and Verbose are ignored.  ExternalFreezeTimeOut (arg 7, 0 = 600 s): processes updating a
        database block after it.  WDSuspendLimit (arg 10, 0 = never): the write daemon resumes."""
        args = list(args)
        inst = instance_of(proc)
        known = inst.freeze_arguments()
        if len(args) > len(known):  # an argument this version's ExternalFreeze does not have
            raise IrisError("PARAMETER")
        logfile = arg(args, 0, "")
        limit = _seconds(arg(args, known.index("WDSuspendLimit"), 0)) if "WDSuspendLimit" in known else 0.0
        timeout = (_seconds(arg(args, known.index("ExternalFreezeTimeOut"), 0))
                   if "ExternalFreezeTimeOut" in known else 0.0)
        if not self._log(proc, logfile, "Backup.General.ExternalFreeze: starting"):
            return self._finish(proc, error_status(E_GENERAL, f"Cannot open log file {logfile}"))  # [UNV]
        if not inst.freeze(limit=limit, timeout=timeout):
            self._log(proc, logfile, "System is already frozen")
            return self._finish(proc, error_status(E_GENERAL, "ExternalFreeze failed: the system is already frozen"))  # [UNV]
        if "RequiredFile" in known:
            set_ref(args, known.index("RequiredFile"),
                    inst.manager_directory() + "journal/" + time.strftime("%Y%m%d") + ".001")
        self._log(proc, logfile, "System is frozen")
        return self._finish(proc, ok_status())

    def ExternalThaw(self, proc: Process, *args: Any) -> Any:
        """ExternalThaw(LogFile="", Username="", Password="") As %Status."""
        args = list(args)
        logfile = arg(args, 0, "")
        if not instance_of(proc).thaw():
            self._log(proc, logfile, "ExternalThaw: system was not frozen")
            # [UNV] the reference does not say; failing is the stricter reading, and it tells a
            # caller whose WDSuspendLimit expired that its copy may not be consistent.
            return self._finish(proc, error_status(E_GENERAL, "ExternalThaw: the system is not frozen"))
        self._log(proc, logfile, "System thawed")
        return self._finish(proc, ok_status())

    def IsWDSuspended(self, proc: Process, *args: Any) -> Any:
        """IsWDSuspended() As %Boolean."""
        return 1 if instance_of(proc).is_frozen() else 0

    def IsWDSuspendedExt(self, proc: Process, *args: Any) -> Any:
        """IsWDSuspendedExt() As %Boolean: as an argument, exit status 5 if suspended, else 3."""
        value = self.IsWDSuspended(proc)
        if getattr(proc, "argument_mode", False):
            raise Halt(5 if value else 3)
        return value


#: The declared types and defaults of ExternalFreeze's arguments (ref/2024.1/Backup/General.cls).
_FREEZE_SPEC = {
    "LogFile": ':%String=""""', "Text": ':%String=""""', "SwitchJournalFile": ":%Boolean=1",
    "TimeOut": ":%Integer=10", "Hibernate": ":%Integer=0", "Verbose": ":%Boolean=0",
    "ExternalFreezeTimeOut": ":%Integer=0", "Username": ':%String=""""', "Password": ':%String=""""',
    "WDSuspendLimit": ":%Integer=0", "RequiredFile": ":%String",
}


@register_class
class DictionaryCompiledMethod(SimClass):
    """%Dictionary.CompiledMethod: only ``%OpenId("Backup.General||ExternalFreeze")`` is
    simulated, with ``Name``, ``ClassMethod`` and ``FormalSpec`` (the argument list in the
    documented ``[&|*]name[:type][=default]`` form of %Dictionary.MethodDefinition).  The ID form
    ``Class||Method`` and the CompiledMethod page are [UNV] (not in the stored reference).  The
    arguments follow the instance's version (``iris-sim set-version --freeze-args``)."""

    name = "%Dictionary.CompiledMethod"

    def _pct_OpenId(self, proc: Process, *args: Any) -> Any:
        ident = str(arg(list(args), 0))
        if ident != "Backup.General||ExternalFreeze":
            set_ref(list(args), 2, error_status(E_GENERAL, f"Object {ident} not simulated"))  # [UNV]
            return ""
        spec = ",".join(("&" if a == "RequiredFile" else "") + a + _FREEZE_SPEC.get(a, "")
                        for a in instance_of(proc).freeze_arguments())
        return ConfigObject("%Dictionary.CompiledMethod", "ExternalFreeze", {"ClassMethod": 1, "FormalSpec": spec})
