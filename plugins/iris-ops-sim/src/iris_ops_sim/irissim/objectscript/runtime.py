"""The contract between the simulated ObjectScript interpreter and the simulated IRIS classes.

The interpreter (``interpreter.py``) evaluates ObjectScript; the classes (in
``iris_ops_sim.irissim.instance``) implement IRIS system classes.  They meet only here:

* :class:`IrisError` is an ObjectScript runtime error (``$ZERROR``);
* :class:`Process` is one ``iris session`` process (namespace, ``$JOB``, output);
* :class:`ByRef` is a local variable passed by reference (``.var``), with subscripts;
* :class:`SimObject` is the base of every object reference (oref);
* :class:`SimClass` plus :func:`register_class` make a class callable as ``##class(Name).Method()``;
* :func:`ok_status` / :func:`error_status` build ``%Status`` values.

ObjectScript values are Python ``str``, ``int``, ``float`` (canonical numbers), or :class:`SimObject`.
An omitted argument (``M(,x)``) arrives as :data:`OMITTED`; implementations apply their documented default.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "OMITTED", "IrisError", "ThrownException", "Halt", "ErrorStatus", "ok_status", "error_status",
    "is_error_status", "ByRef", "arg", "set_ref", "collation_key", "Process", "SimObject", "SimClass",
    "provide", "register_class", "lookup_class", "ClassQuery", "register_query", "lookup_query", "TIMED_OUT",
]

OMITTED: Any = type("Omitted", (), {"__repr__": lambda self: "OMITTED"})()
#: What the principal device's ``readline(timeout)`` returns when the timeout passed first.
TIMED_OUT: Any = type("TimedOut", (), {"__repr__": lambda self: "TIMED_OUT"})()


class IrisError(Exception):
    """An ObjectScript error such as ``<UNDEFINED>`` or ``<CLASS DOES NOT EXIST>``.

    ``code`` is the bare name (``"UNDEFINED"``); ``detail`` is what IRIS prints after it
    (``"*x"``, ``"*Config.Namespaces"``).  ``$ZERROR`` reads ``<CODE>location detail``.
    """

    def __init__(self, code: str, detail: str = "", location: str = "") -> None:
        self.code = code
        self.detail = detail
        self.location = location
        super().__init__(self.zerror)

    @property
    def zerror(self) -> str:
        text = f"<{self.code}>{self.location}"
        return f"{text} {self.detail}" if self.detail else text


class ThrownException(Exception):
    """Raised by ``Throw oref``: carries the thrown %Exception object to the enclosing Catch."""

    def __init__(self, oref: "SimObject") -> None:
        self.oref = oref
        super().__init__(repr(oref))


class Halt(Exception):
    """``Halt`` (or Terminate) ends the process; ``exit_code`` is the process exit status."""

    def __init__(self, exit_code: int = 0) -> None:
        self.exit_code = exit_code
        super().__init__(exit_code)


# --- %Status -------------------------------------------------------------------------------


class ErrorStatus(str):
    """A failed %Status.  Its string value starts with ``0`` like a real one; ``text`` is what
    ``$SYSTEM.Status.GetErrorText`` returns (``ERROR #5001: ...``)."""

    code: int
    text: str

    def __new__(cls, code: int, message: str) -> "ErrorStatus":
        text = f"ERROR #{code}: {message}"
        self = super().__new__(cls, "0 " + text)
        self.code = code
        self.text = text
        return self


def ok_status() -> int:
    return 1


def error_status(code: int, message: str) -> ErrorStatus:
    """Build a failed %Status.  Use the IRIS error number documented for the case (5001 is the
    generic "general error" that IRIS itself uses for many failures)."""
    return ErrorStatus(code, message)


def is_error_status(value: Any) -> bool:
    """What ``$SYSTEM.Status.IsError`` answers: a status is an error unless it is exactly 1."""
    return not (isinstance(value, (int, float)) and value == 1 or value == "1")


# --- variables -----------------------------------------------------------------------------


class ByRef:
    """A local variable node passed by reference: a value (maybe undefined) plus subscripts."""

    _UNDEF = object()

    def __init__(self, value: Any = _UNDEF, subscripts: dict | None = None) -> None:
        self._value = value
        self.subscripts: dict[Any, "ByRef"] = subscripts if subscripts is not None else {}

    @property
    def defined(self) -> bool:
        return self._value is not ByRef._UNDEF

    def get(self, default: Any = _UNDEF) -> Any:
        if self._value is ByRef._UNDEF:
            if default is ByRef._UNDEF:
                raise IrisError("UNDEFINED")
            return default
        return self._value

    def set(self, value: Any) -> None:
        self._value = value

    def kill(self) -> None:
        self._value = ByRef._UNDEF
        self.subscripts.clear()

    def node(self, *keys: Any) -> "ByRef":
        """The node at ``keys``, created (undefined) if missing."""
        node = self
        for key in keys:
            node = node.subscripts.setdefault(key, ByRef())
        return node

    def set_sub(self, key: Any, value: Any) -> None:
        self.node(key).set(value)

    def get_sub(self, key: Any, default: Any = _UNDEF) -> Any:
        child = self.subscripts.get(key)
        if child is None:
            if default is ByRef._UNDEF:
                raise IrisError("UNDEFINED")
            return default
        return child.get(default)

    def items(self) -> Iterator[tuple[Any, Any]]:
        """(subscript, value) for every defined first-level subscript, in collation order."""
        for key in sorted(self.subscripts, key=collation_key):
            child = self.subscripts[key]
            if child.defined:
                yield key, child.get()


def arg(args: list, i: int, default: Any = "") -> Any:
    """Argument ``i`` of a method call as a value: ``default`` when omitted or absent; a by-reference
    argument gives its variable's value."""
    if i >= len(args) or args[i] is OMITTED:
        return default
    value = args[i]
    return value.get(default) if isinstance(value, ByRef) else value


def set_ref(args: list, i: int, value: Any) -> None:
    """Set the output argument ``i`` when the caller passed a variable by reference."""
    if i < len(args) and isinstance(args[i], ByRef):
        args[i].set(value)


def collation_key(key: Any) -> tuple:
    """IRIS default collation: canonical numbers first (numerically), then strings."""
    if isinstance(key, (int, float)):
        return (0, key, "")
    return (1, 0, str(key))


# --- processes, objects and classes ---------------------------------------------------------

_jobs = itertools.count(4000)


class Process:
    """One ``iris session`` process.  The interpreter owns locals; classes see only this."""

    def __init__(self, instance: Any, namespace: str, write: Callable[[str], None], user: str = "irisowner",
                 job: int | None = None) -> None:
        self.instance = instance
        self.namespace = namespace.upper()
        self.job = job if job is not None else next(_jobs)  # $JOB: the OS pid in a real session
        self.write = write
        self.user = user
        #: The IRIS user of a password login ($USERNAME); None with OS authentication.
        self.username: str | None = None
        #: $TLEVEL, and per level the updates a rollback undoes (see :mod:`.transactions`).
        self.in_transaction = 0
        self.undo: list[list] = []
        #: The principal device's input (a :class:`~.terminal.LineInput`); None: no input at all.
        self.input: Any = None
        #: %SYSTEM.Process.SetZEOF: end of input sets $ZEOF to -1 instead of <ENDOFFILE>.
        self.zeof_mode = False
        self.zeof = 0
        # True when the process runs the single-call argument form
        # (`iris session IRIS -U %SYS "##Class(Backup.General).ExternalFreeze()"`): no prompt
        # loop, and some entry points (Backup.General) report through the exit status.
        self.argument_mode = False

    def require_namespace(self, namespace: str, class_name: str) -> None:
        """Classes that live in one namespace (``%SYS``) fail elsewhere as on IRIS."""
        if self.namespace != namespace.upper():
            raise IrisError("CLASS DOES NOT EXIST", f"*{class_name}")


class SimObject:
    """Base class of object references.  Subclasses override the hooks below; the interpreter
    calls them for ``obj.Prop``, ``Set obj.Prop=v`` and ``obj.Method(args)``."""

    class_name = "%Library.RegisteredObject"

    def get_property(self, proc: Process, name: str) -> Any:
        raise IrisError("PROPERTY DOES NOT EXIST", f"*{name},{self.class_name}")

    def set_property(self, proc: Process, name: str, value: Any) -> None:
        raise IrisError("PROPERTY DOES NOT EXIST", f"*{name},{self.class_name}")

    def call_method(self, proc: Process, name: str, args: list[Any]) -> Any:
        raise IrisError("METHOD DOES NOT EXIST", f"*{name},{self.class_name}")

    def __str__(self) -> str:  # what `Write oref` shows
        return f"{id(self) % 1000}@{self.class_name}"


class SimClass:
    """A class callable as ``##class(Name).Method(args)``.

    Subclasses define ``name`` (full name, e.g. ``"Config.Namespaces"``), optionally
    ``namespace`` (``"%SYS"`` for classes that exist only there) and ``aliases``
    (``("%File",)`` for ``%Library.File``), and implement class methods as Python methods
    named exactly as in IRIS, taking ``(self, proc, *args)``.  The docstring of each class and
    method names its class-reference page.
    """

    name: str = ""
    namespace: str | None = None
    aliases: tuple[str, ...] = ()

    def call_class_method(self, proc: Process, method: str, args: list[Any]) -> Any:
        if self.namespace:
            proc.require_namespace(self.namespace, self.name)
        # `%New` is implemented as `_pct_New`; other leading underscores are Python-private.
        attr = "_pct_" + method[1:] if method.startswith("%") else method
        impl = None if attr.startswith("_") and not attr.startswith("_pct_") else getattr(self, attr, None)
        if impl is None or not callable(impl):
            raise IrisError("METHOD DOES NOT EXIST", f"*{method},{self.name}")
        return impl(proc, *args)


_registry: dict[str, SimClass] = {}
#: Class name → the module that registers it, imported when a script first names the class.
_providers: dict[str, str] = {}


def provide(module: str, *names: str) -> None:
    """Declare that importing ``module`` registers the classes ``names`` (loaded on first use)."""
    for name in names:
        _providers[name] = module


def _load(name: str) -> bool:
    """Import the module that provides class ``name``; whether there was one."""
    module = _providers.pop(name, None)
    if module is None:
        return False
    import importlib

    importlib.import_module(module)
    return True


def register_class(cls: type[SimClass]) -> type[SimClass]:
    """Class decorator: make ``cls`` reachable from ObjectScript by its name and aliases."""
    instance = cls()
    for name in (cls.name, *cls.aliases):
        _registry[name] = instance
    return cls


def lookup_class(name: str) -> SimClass:
    """The class called ``name`` (case-sensitive, as IRIS class names are), or ``<CLASS DOES NOT EXIST>``."""
    found = _registry.get(name)
    if found is None and _load(name):
        found = _registry.get(name)
    if found is not None:
        return found
    if name.startswith("%") and "." not in name:
        full = "%Library." + name[1:]
        if full in _registry or _load(full):
            return _registry[full]
    raise IrisError("CLASS DOES NOT EXIST", f"*{name}")


# --- class queries -------------------------------------------------------------------------

#: A class query: ``fn(proc, *args) -> (column names, rows)``; reached through
#: ``%SQL.Statement.%PrepareClassQuery(class, query)`` and ``%Execute(args...)``.
ClassQuery = Callable[..., "tuple[list[str], list[tuple]]"]
_queries: dict[tuple[str, str], ClassQuery] = {}


def register_query(class_name: str, query_name: str) -> Callable[[ClassQuery], ClassQuery]:
    """Decorator: make ``fn`` the class query ``class_name:query_name`` (names case-sensitive)."""

    def register(fn: ClassQuery) -> ClassQuery:
        _queries[(class_name, query_name)] = fn
        return fn

    return register


def lookup_query(class_name: str, query_name: str) -> ClassQuery | None:
    _load(class_name)  # a class's queries are registered with it
    return _queries.get((class_name, query_name))
