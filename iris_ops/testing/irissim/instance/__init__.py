"""The simulated IRIS instance: on-disk state, the IRIS.DAT format, system classes and SQL.

Importing the package registers the simulated system classes with the interpreter's runtime.
"""

from .state import SimInstance, SqlResult
from .writer import Writer
from . import classes as _classes  # noqa: F401  (registers Config.*, SYS.Database, ...)
from . import security_services as _security_services  # noqa: F401  (registers Security.Services)
from . import security_users as _security_users  # noqa: F401  (registers Security.Users, Security.Roles)
from . import streams as _streams  # noqa: F401  (registers %Stream.FileBinary)

__all__ = ["SimInstance", "SqlResult", "Writer"]
