"""%SYS.Namespace (%SYS/Namespace.cls)."""

from __future__ import annotations

from ...objectscript.runtime import ByRef, Process, SimClass, ok_status, register_class
from .common import arg, instance_of, truth

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SysNamespace"]


@register_class
class SysNamespace(SimClass):
    """%SYS.Namespace (ref/2024.1/%SYS/Namespace.cls); available in every namespace."""

    name = "%SYS.Namespace"

    def Exists(self, proc: Process, *args: Any) -> Any:
        """Exists(NamespaceName) As %Boolean."""
        return 1 if instance_of(proc).namespace_exists(str(arg(list(args), 0))) else 0

    def ListAll(self, proc: Process, *args: Any) -> Any:
        """ListAll(Output array, ConvertImplicit=1) As %Status: ``array(NS)=""`` for each explicit
        namespace, and ``array("^^<directory>")=""`` for each implicit one, i.e. each local
        database directory [DOC: "^ system ^ directory", "^^" when local].  Which directories
        IRIS lists (every configured database here) is [UNV]; ConvertImplicit=0 keeps the
        "@" of the internal form [UNV]: "^^@<directory>"."""
        args = list(args)
        if args and isinstance(args[0], ByRef):
            args[0].kill()
            convert = truth(arg(args, 1, 1))
            cpf = instance_of(proc).read_config()
            for ns in cpf["Namespaces"]:
                args[0].set_sub(ns, "")
            for props in cpf["Databases"].values():
                directory = props["Directory"]
                args[0].set_sub(("^^" if convert else "^^@") + directory, "")
        return ok_status()
