"""Simulated ObjectScript: the interpreter for the admin-script subset and the ``iris`` terminal.

* :func:`iris_main` (``terminal.py``): ``iris session`` / ``iris qlist`` against a simulated instance;
* :func:`parse_line` (``parser.py``, on ``scanner.py``, ``vocabulary.py``, ``exprparser.py`` and
  ``cmdparser.py``);
* :class:`Interpreter` (``interpreter.py``, on ``cmdrunner.py``, ``evaluator.py`` and
  ``intrinsics.py``);
* the library classes on ``libobject.py``: ``libexceptions.py`` (%Exception.*), ``libsystem.py``
  (%SYSTEM.Status/Process/Version), ``libdynamic.py`` (%DynamicObject/%DynamicArray);
* ``encryption.py``: %SYSTEM.Encryption (Base64, PBKDF2, GenCryptRand);
* ``runtime.py``: the contract with the simulated system classes.
"""

from . import libdynamic as _libdynamic  # noqa: F401  (these three register the library classes)
from . import libexceptions as _libexceptions  # noqa: F401
from . import libsystem as _libsystem  # noqa: F401
from . import runtime as _runtime

_runtime.provide(__name__ + ".encryption", "%SYSTEM.Encryption")  # loaded when a script names it
from .interpreter import Interpreter
from .parser import parse_line
from .scanner import ParseError
from .terminal import iris_main

__all__ = ["Interpreter", "ParseError", "iris_main", "parse_line"]
