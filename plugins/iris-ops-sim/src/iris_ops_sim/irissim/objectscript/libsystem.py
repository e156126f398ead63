"""%SYSTEM.Status, %SYSTEM.Process and %SYSTEM.Version for the simulated interpreter.

Each class names its class-reference page (IRIS 2024.1, readable as ``.cls`` stubs in the
public repository ``caretdev/docs-intersystems`` at ``ref/2024.1/<Package>/<Class>.cls``).
Where the reference is silent the stricter behaviour is chosen and marked [UNV].
"""

from __future__ import annotations

import re

from .libobject import by_value
from .runtime import (
    OMITTED,
    ErrorStatus,
    Halt,
    IrisError,
    Process,
    SimClass,
    error_status,
    is_error_status,
    ok_status,
    register_class,
)
from .values import to_num, to_str

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["STATUS_TEMPLATES", "SystemStatus", "SystemProcess", "SystemVersion"]

# Message templates of the few error numbers the simulator builds itself (%1 = first message).
STATUS_TEMPLATES = {5001: "%1", 5002: "ObjectScript error: %1"}


@register_class
class SystemStatus(SimClass):
    """%SYSTEM.Status (``ref/2024.1/%SYSTEM/Status.cls``), also reached as ``$SYSTEM.Status``."""

    name = "%SYSTEM.Status"

    def OK(self, proc: Process) -> int:
        return ok_status()

    def IsError(self, proc: Process, sc: Any) -> int:
        return 1 if is_error_status(by_value(sc)) else 0

    def IsOK(self, proc: Process, sc: Any) -> int:
        return 0 if is_error_status(by_value(sc)) else 1

    def GetErrorText(self, proc: Process, sc: Any, language: Any = OMITTED) -> str:
        """The error text (``ERROR #5001: ...``); ``""`` for an OK status."""
        sc = by_value(sc)
        if isinstance(sc, ErrorStatus):
            return sc.text
        return ""

    def GetErrorCodes(self, proc: Process, sc: Any) -> Any:
        sc = by_value(sc)
        return sc.code if isinstance(sc, ErrorStatus) else ""

    def Error(self, proc: Process, errorcode: Any, *messages: Any) -> ErrorStatus:
        """An error status.  Only templates of :data:`STATUS_TEMPLATES` are known; any other
        number gets its messages joined by ``, `` [UNV]."""
        if len(messages) > 3:
            raise IrisError("PARAMETER")
        code = int(to_num(by_value(errorcode)))
        msgs = [to_str(by_value(m)) for m in messages if m is not OMITTED]
        template = STATUS_TEMPLATES.get(code)
        if template is None:
            text = ", ".join(msgs)
        else:
            text = template
            for i in range(3):
                text = text.replace(f"%{i + 1}", msgs[i] if i < len(msgs) else "")
        return error_status(code, text)


@register_class
class SystemProcess(SimClass):
    """%SYSTEM.Process (``ref/2024.1/%SYSTEM/Process.cls``)."""

    name = "%SYSTEM.Process"

    def Terminate(self, proc: Process, pid: Any = OMITTED, exit_status: Any = OMITTED) -> int:
        """``Terminate(pid=$JOB, ExitStatus=1)``: ends the process with ExitStatus as its OS exit
        status.  Another pid: that session of the instance ends the same way (``instance/jobtable.py``),
        and the answer is 1; -3 when it is no session of this instance ("pid does not reference an
        InterSystems IRIS process")."""
        pid = by_value(pid)
        target = proc.job if pid is OMITTED or to_str(pid) == "" else to_num(pid)
        status = 1 if exit_status is OMITTED else int(to_num(by_value(exit_status)))
        if target != proc.job:
            return _terminate_other(proc, target, status)
        if status < 0 and status != -65:
            raise IrisError("ILLEGAL VALUE")
        raise Halt(status)

    def SetZEOF(self, proc: Process, switch: Any = OMITTED) -> int:
        """``SetZEOF(switch)``: 1 makes the end of a file set $ZEOF to -1 (READ returns "")
        instead of raising <ENDOFFILE>; without an argument it only answers.  Returns the
        previous setting."""
        before = 1 if proc.zeof_mode else 0
        switch = by_value(switch)
        if switch is not OMITTED:
            proc.zeof_mode = bool(to_num(switch))
        return before


def _terminate_other(proc: Process, pid: Any, status: int) -> int:
    from ..instance import jobtable

    if int(pid) != pid or pid <= 0:
        return -3  # no pid at all
    return jobtable.terminate(jobtable.location(proc.instance), int(pid), status)


_VERSION_NUMBER = re.compile(r"\s(\d+)\.(\d+)(?:\.(\d+))?\s")


@register_class
class SystemVersion(SimClass):
    """%SYSTEM.Version (``ref/2024.1/%SYSTEM/Version.cls``); ``zv`` defaults to ``$ZVERSION``."""

    name = "%SYSTEM.Version"

    def _zv(self, proc: Process, zv: Any) -> str:
        return to_str(by_value(zv)) if zv is not OMITTED else proc.instance.version

    def GetVersion(self, proc: Process, zv: Any = OMITTED) -> str:
        """"A string containing complete version information": the $ZVERSION string."""
        return self._zv(proc, zv)

    def GetNumber(self, proc: Process, zv: Any = OMITTED) -> str:
        """major.minor[.point], e.g. ``2024.1``."""
        m = _VERSION_NUMBER.search(" " + self._zv(proc, zv) + " ")
        return ".".join(g for g in m.groups() if g) if m else ""

    def GetMajor(self, proc: Process, zv: Any = OMITTED) -> str:
        m = _VERSION_NUMBER.search(" " + self._zv(proc, zv) + " ")
        return m.group(1) if m else ""

    def GetMinor(self, proc: Process, zv: Any = OMITTED) -> str:
        m = _VERSION_NUMBER.search(" " + self._zv(proc, zv) + " ")
        return m.group(2) if m else ""
