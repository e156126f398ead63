"""The simulated IRIS instance: on-disk state, the IRIS.DAT format, system classes and SQL.

Importing the package registers the simulated system classes with the interpreter's runtime.
"""

from .state import SimInstance, SqlResult
from .writer import Writer
from . import classes as _classes  # noqa: F401  (registers Config.*, SYS.Database, ...)

__all__ = ["SimInstance", "SqlResult", "Writer"]
