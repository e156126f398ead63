"""The simulated IRIS instance: on-disk state, the IRIS.DAT format, system classes and SQL.

The simulated system classes are registered with the interpreter's runtime when a script first
names one (:data:`CLASS_MODULES`): each ``iris session`` is a process of its own, and loading
every class module at start-up would cost each one more than most scripts run.
"""

from ..objectscript import runtime as _runtime
from .state import SimInstance
from .writer import Writer

__all__ = ["SimInstance", "Writer", "CLASS_MODULES"]

#: Module (relative to this package) → the classes it registers (names and aliases), and the
#: classes whose class queries it registers.  plugins/iris-ops-sim/tests/test_lazy_classes.py checks this table against
#: what each module really registers.
CLASS_MODULES: dict[str, tuple[str, ...]] = {
    "classes.backup": ("Backup.General", "%Dictionary.CompiledMethod"),
    "classes.config": ("Config.Databases", "Config.Namespaces"),
    "classes.database": ("SYS.Database",),
    "classes.files": ("%Library.File", "%File"),
    "classes.maps": ("Config.MapGlobals", "Config.MapPackages", "Config.MapRoutines"),
    "classes.namespace": ("%SYS.Namespace",),
    "classes.security": ("Security.Resources", "Security.Roles"),
    "classes.sqlclasses": ("%SQL.Statement",),
    "security_services": ("Security.Services",),
    # %Library.SQLCatalogPriv is no class of ours: the module registers its SQLUsers query
    "security_users": ("Security.Users", "%Library.SQLCatalogPriv"),
    "streams": ("%Stream.FileBinary",),
}

for _module, _names in CLASS_MODULES.items():
    _runtime.provide(__name__ + "." + _module, *_names)
