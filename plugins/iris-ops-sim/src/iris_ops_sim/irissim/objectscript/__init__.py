"""Simulated ObjectScript: the interpreter for the admin-script subset and the ``iris`` terminal.

* :func:`iris_main` (``terminal.py``): ``iris session`` / ``iris qlist`` against a simulated instance;
* :class:`Interpreter` (``interpreter.py``) and :func:`parse_line` (``parser.py``);
* ``builtins.py``: %DynamicObject/%DynamicArray, %SYSTEM.Status/Process/Version, %Exception.*;
* ``encryption.py``: %SYSTEM.Encryption (Base64, PBKDF2, GenCryptRand);
* ``runtime.py``: the contract with the simulated system classes.
"""

from . import builtins as _builtins  # noqa: F401  (registers the library classes)
from . import runtime as _runtime

_runtime.provide(__name__ + ".encryption", "%SYSTEM.Encryption")  # loaded when a script names it
from .interpreter import Interpreter
from .parser import ParseError, parse_line
from .terminal import iris_main

__all__ = ["Interpreter", "ParseError", "iris_main", "parse_line"]
