"""Test doubles for the ObjectScript interpreter tests: a tiny instance and a %SYS-only class."""

from __future__ import annotations

import io

from iris_ops_sim.irissim.objectscript import iris_main
from iris_ops_sim.irissim.objectscript.runtime import IrisError, SimClass, error_status, ok_status, register_class

VERSION = (
    "IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2024.1 (Build 267.2U) "
    "Tue Apr 30 2024 16:06:39 EDT"
)


class FakeInstance:
    name = "IRIS"
    version = VERSION
    hostname = "c0ffee123456"

    def __init__(self, os_authentication: bool = True, namespaces=("USER", "%SYS")) -> None:
        self.os_authentication = os_authentication
        self.namespaces = set(namespaces)

    def namespace_exists(self, ns: str) -> bool:
        return ns.upper() in self.namespaces

    def qlist_line(self) -> str:
        return "IRIS^/usr/irissys^2024.1.0.267.2^running, since Tue Apr 30 2024^iris.cpf^1972^52773^0^ok^IRIS^^^/usr/irissys"


@register_class
class FakeNamespaces(SimClass):
    """Test-only stand-in shaped like Config.Namespaces.Get (ByRef properties), %SYS only."""

    name = "Test.OSFake.Namespaces"
    namespace = "%SYS"

    def Get(self, proc, name, props):
        if str(name).upper() != "USER":
            return error_status(5001, f"Namespace {name} does not exist")
        props.set_sub("Globals", "USER")
        props.set_sub("Routines", "USER")
        return ok_status()

    def Fail(self, proc):
        raise IrisError("UNDEFINED", "*zz", "zFail+1^Test.OSFake.Namespaces.1")

    def NoValue(self, proc):
        return None


def run(script: str | bytes, argv=None, instance=None) -> tuple[str, int]:
    """Run `iris <argv>` with `script` on stdin; return (output, exit status)."""
    data = script.encode() if isinstance(script, str) else script
    chunks: list[bytes] = []
    rc = iris_main(instance or FakeInstance(), argv or ["session", "IRIS"], io.BytesIO(data), chunks.append)
    return b"".join(chunks).decode(), rc


def session(script: str, ns: str = "USER") -> tuple[str, int]:
    if not script.endswith("\n"):
        script += "\n"
    return run(script, ["session", "IRIS", "-U", ns])


def body(out: str) -> str:
    """Output without the banner."""
    return out.split("Instance: IRIS\n", 1)[1]
