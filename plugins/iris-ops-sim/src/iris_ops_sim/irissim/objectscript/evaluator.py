"""Evaluates ObjectScript expressions for one simulated process: variables, operators, calls, special variables.

Semantics follow the ObjectScript reference (``RCOS``) and guide (``GCOS``):

* operators evaluate strictly left to right, without precedence (``1+2*3`` is 9);
  ``&&`` / ``||`` short-circuit, ``&`` / ``!`` do not; results of logical and relational
  operators are 1 or 0; ``=`` compares strings, ``<`` / ``>`` compare numbers;
* a method used as a function must return a value (``<COMMAND> *Function must return a value``).

The intrinsic functions are :mod:`.intrinsics`'; the commands :mod:`.cmdrunner`'s and
:mod:`.interpreter`'s, whose classes build on :class:`Evaluator`.
"""

from __future__ import annotations

import time

from . import locking
from .intrinsics import IntrinsicFunctions
from .libdynamic import build_json
from .runtime import OMITTED, ByRef, IrisError, Process, SimClass, SimObject, error_status, lookup_class
from .values import arith, collates_after, format_ref, from_bool, subscript, to_num, to_str, truth

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Evaluator"]

_HOROLOG_EPOCH = 672046
_CO_VARARGS = 0x04  # inspect.CO_VARARGS


def takes(impl: Any, count: int) -> bool:
    """Whether ``impl`` accepts ``count`` positional arguments, as ``inspect.signature(impl).bind``
    decides.  A plain function or method is read from its code object: inspect costs a session
    process more to import than most scripts take to run, and most scripts call a class method."""
    func = getattr(impl, "__func__", impl)
    code = getattr(func, "__code__", None)
    if code is None or hasattr(func, "__wrapped__") or hasattr(func, "__signature__"):
        import inspect  # lazily: only a callable that is no plain function needs it

        try:
            inspect.signature(impl).bind(*range(count))
        except TypeError:
            return False
        return True
    if func is not impl:
        count += 1  # the bound first argument
    if code.co_kwonlyargcount > len(func.__kwdefaults__ or {}):
        return False  # a keyword-only parameter without a default can never be given here
    if count < code.co_argcount - len(func.__defaults__ or ()):
        return False
    return count <= code.co_argcount or bool(code.co_flags & _CO_VARARGS)


class Evaluator(IntrinsicFunctions):
    """One process's local variables, ``$TEST``, ``$X`` / ``$Y`` and ``$ZERROR``, and the
    evaluation of expressions over them."""

    def __init__(self, proc: Process) -> None:
        self.proc = proc
        self.locals: dict[str, ByRef] = {}
        self.zerror = ""
        self.test = 0
        self.x = 0
        self.y = 0
        raw_write = proc.write

        def tracked(text: str) -> None:
            if not text:
                return
            raw_write(text)
            for ch in text:
                if ch in "\r\n":
                    self.x = 0
                    if ch == "\n":
                        self.y += 1
                elif ch == "\x0c":
                    self.x = self.y = 0
                else:
                    self.x += 1

        proc.write = tracked

    def oref(self, value: Any) -> SimObject:
        if not isinstance(value, SimObject):
            raise IrisError("INVALID OREF")
        return value

    def eval(self, node: tuple) -> Any:
        kind = node[0]
        if kind == "str":
            return node[1]
        if kind == "num":
            return to_num(node[1])
        if kind == "var":
            return self.read_var(node)
        if kind == "un":
            v = self.eval(node[2])
            if node[1] == "-":
                return arith("-", 0, v)
            if node[1] == "+":
                return to_num(v)
            return from_bool(not truth(v))
        if kind == "bin":
            return self.binary(node)
        if kind in ("classmeth", "meth"):
            return self.call(node, want_value=True)
        if kind == "prop":
            return self.oref(self.eval(node[1])).get_property(self.proc, node[2])
        if kind == "special":
            return self.special(node[1])
        if kind == "func":
            return self.function(node[1], node[2])
        if kind == "json":
            return build_json(self, node[1])
        if kind == "ssvn_lock":
            return locking.lock_info(self, node[1])
        if kind == "ssvn_job":
            raise IrisError("UNIMPLEMENTED", "*simulator answers ^$JOB only as the argument of $DATA")
        raise IrisError("SYNTAX")  # pragma: no cover

    def read_var(self, node: tuple) -> Any:
        name = node[1]
        subs = [subscript(self.eval(s)) for s in node[2]]
        ref = self.locals.get(name)
        if ref is not None:
            for key in subs:
                ref = ref.subscripts.get(key)
                if ref is None:
                    break
        if ref is None or not ref.defined:
            raise IrisError("UNDEFINED", "*" + format_ref(name, subs))
        return ref.get()

    def lookup_node(self, node: tuple) -> ByRef | None:
        if node[0] != "var":
            raise IrisError("SYNTAX")
        subs = [subscript(self.eval(s)) for s in node[2]]
        ref = self.locals.get(node[1])
        for key in subs:
            if ref is None:
                return None
            ref = ref.subscripts.get(key)
        return ref

    def binary(self, node: tuple) -> Any:
        op = node[1]
        a = self.eval(node[2])
        if op == "&&":
            return from_bool(truth(a) and truth(self.eval(node[3])))
        if op == "||":
            return from_bool(truth(a) or truth(self.eval(node[3])))
        b = self.eval(node[3])
        negate = op.startswith("'")
        base = op[1:] if negate else op
        if base in ("+", "-", "*", "/", "\\", "#", "**"):
            return arith(base, a, b)
        if base == "_":
            return to_str(a) + to_str(b)
        if base == "=":
            r = to_str(a) == to_str(b)
        elif base == "<":
            r = to_num(a) < to_num(b)
        elif base == ">":
            r = to_num(a) > to_num(b)
        elif base == "<=":
            r = to_num(a) <= to_num(b)
        elif base == ">=":
            r = to_num(a) >= to_num(b)
        elif base == "&":
            r = truth(a) and truth(b)
        elif base == "!":
            r = truth(a) or truth(b)
        elif base == "[":
            r = to_str(b) in to_str(a)
        elif base == "]":
            r = to_str(a) > to_str(b)
        elif base == "]]":
            r = collates_after(a, b)
        else:  # pragma: no cover
            raise IrisError("SYNTAX")
        return from_bool(r != negate)

    def call_args(self, args: list) -> list:
        out = []
        for a in args:
            if a[0] == "omitted":
                out.append(OMITTED)
            elif a[0] == "byref":
                out.append(self.locals.setdefault(a[1], ByRef()))
            else:
                out.append(self.eval(a))
        return out

    def call(self, node: tuple, want_value: bool) -> Any:
        if node[0] == "classmeth":
            cls = lookup_class(node[1])
            args = self.call_args(node[3])
            result = self.class_call(cls, node[2], args)
        else:
            obj = self.oref(self.eval(node[1]))
            args = self.call_args(node[3])
            result = obj.call_method(self.proc, node[2], args)
        if want_value and result is None:
            raise IrisError("COMMAND", "*Function must return a value")
        return result

    def class_call(self, cls: SimClass, method: str, args: list) -> Any:
        attr = "_pct_" + method[1:] if method.startswith("%") else method
        impl = getattr(cls, attr, None)
        if callable(impl) and not attr.startswith("__"):
            if not takes(impl, 1 + len(args)):
                if cls.namespace:
                    self.proc.require_namespace(cls.namespace, cls.name)
                raise IrisError("PARAMETER")
        # a test's stop point (instance/stops.py): hold here, or fail the call
        stop = getattr(self.proc.instance, "stop_point", None)
        failure = stop(cls.name, method) if stop is not None else None
        if failure is not None:
            return error_status(5001, failure)
        return cls.call_class_method(self.proc, method, args)

    def special(self, name: str) -> Any:
        proc = self.proc
        if name == "ZVERSION":
            return proc.instance.version
        if name == "JOB":
            return proc.job
        if name == "NAMESPACE":
            return proc.namespace
        if name == "ZERROR":
            return self.zerror
        if name == "HOROLOG":
            import datetime as _dt

            now = _dt.datetime.now()
            secs = now.hour * 3600 + now.minute * 60 + now.second
            return f"{now.date().toordinal() - _HOROLOG_EPOCH},{secs}"
        if name == "ZTIMESTAMP":
            import datetime as _dt

            now = _dt.datetime.now(_dt.timezone.utc)
            secs = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond // 1000 / 1000
            return f"{now.date().toordinal() - _HOROLOG_EPOCH},{secs:.3f}"
        if name == "TLEVEL":
            return proc.in_transaction
        if name == "USERNAME":
            # the IRIS user of a password login; with OS authentication, the OS user
            return proc.username or proc.user
        if name == "TEST":
            return self.test
        if name == "ZEOF":
            return proc.zeof
        if name == "ZHOROLOG":
            # seconds since the instance started, with fractions; no day boundary (RCOS $ZHOROLOG)
            state = getattr(proc.instance, "_state", None)
            return round(time.time() - float(state().get("started", 0.0) if state else 0.0), 6)
        if name == "X":
            return self.x
        if name == "Y":
            return self.y
        raise IrisError("SYNTAX")  # pragma: no cover
