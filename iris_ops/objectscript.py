"""The ObjectScript helpers every script is made of: the only way iris-ops produces ObjectScript.

Why it looks like this (IRIS.md §5):

* One input line is one compilation unit, so every step is one line wrapped in
  ``Try { … } Catch e { … }``; a failing step records its error and later steps are skipped.
* An error outside Try prints the failing source line and the session carries on with exit
  status 0, so success is never read from the output.  The result is a JSON object printed
  between BEGIN/END markers assembled at run time from a random token (echoed source can never
  contain the assembled marker); the script counts the steps that completed, sets its exit
  status with ``%SYSTEM.Process.Terminate`` and ends with ``Halt``.
* Everything interpolated is a :class:`Code` fragment built here: names and paths are
  validated, string literals double their quotes and refuse control characters.  Passing a
  plain ``str`` where code is expected is a ``TypeError``.
"""

from __future__ import annotations

import re
from typing import Iterable, Union

from iris_ops import names

__all__ = [
    "RESERVED", "Code", "Value", "lit", "var", "byref", "call", "method", "prop", "system", "func", "SPECIAL",
    "op", "select", "not_", "dynamic_object", "new_array", "set_", "kill", "do", "check_status", "check_true",
    "check_sql", "throw", "if_", "try_", "while_", "for_", "result", "push", "Script", "user_code",
    "argument_call", "global_ref", "lock", "hang", "lock_order", "write_marker", "split_token", "quit_if",
    "for_ever", "sequence", "TEST", "HALT", "read", "lock_owner", "job_exists",
]

_IDENT = re.compile(r"^%?[A-Za-z][A-Za-z0-9]*$")
_CLASS = re.compile(r"^%?[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")

#: Variables the script frame itself uses; steps must not assign them.
RESERVED = frozenset({"tok", "err", "step", "n", "a", "r", "e", "sc"})
#: Result keys the script frame itself writes last (Script.lines): a step's value under one of
#: them would be overwritten unseen.
RESERVED_KEYS = frozenset({"ok", "error", "step", "steps"})


class Code(str):
    """A fragment of ObjectScript produced by this module.  Only builders create it."""

    __slots__ = ()


Value = Union[Code, str, int, float, bool]


def _code(text: str) -> Code:
    return Code(text)


def _expr(value: Value) -> Code:
    """Code as is; Python values become literals."""
    if isinstance(value, Code):
        return value
    return lit(value)


def lit(value: str | int | float | bool) -> Code:
    """A literal: numbers in canonical form, strings quoted with doubled quotes."""
    if isinstance(value, bool):
        return _code("1" if value else "0")
    if isinstance(value, int):
        return _code(str(value))
    if isinstance(value, float):
        text = repr(value)
        if not _NUMBER.match(text):
            text = f"{value:.6f}".rstrip("0").rstrip(".")
        return _code(text)
    if isinstance(value, Code):
        raise TypeError("lit() takes a Python value, not code")
    if not isinstance(value, str):
        raise TypeError(f"cannot make an ObjectScript literal of {type(value).__name__}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(f"refusing a string with control characters: {value!r}")
    return _code('"' + value.replace('"', '""') + '"')


def var(name: str, *subscripts: Value) -> Code:
    """A local variable, optionally subscripted: ``p("Globals")``."""
    if not _IDENT.match(name):
        raise ValueError(f"invalid local variable name {name!r}")
    if not subscripts:
        return _code(name)
    return _code(f"{name}({','.join(_expr(s) for s in subscripts)})")


def byref(name: str) -> Code:
    """``.name``: pass a local by reference."""
    return _code("." + var(name))


def call(class_name: str, method: str, *args: Value | None) -> Code:
    """``##class(Class).Method(args)``; None leaves an argument out (its default applies)."""
    if not _CLASS.match(class_name):
        raise ValueError(f"invalid class name {class_name!r}")
    if not _IDENT.match(method):
        raise ValueError(f"invalid method name {method!r}")
    return _code(f"##class({class_name}).{method}({_args(args)})")


def method(obj: Code, name: str, *args: Value | None) -> Code:
    """``obj.Method(args)`` on an object reference held in code ``obj``."""
    _require_code(obj)
    if not _IDENT.match(name):
        raise ValueError(f"invalid method name {name!r}")
    return _code(f"{obj}.{name}({_args(args)})")


def prop(obj: Code, name: str) -> Code:
    """``obj.Property``."""
    _require_code(obj)
    if not _IDENT.match(name):
        raise ValueError(f"invalid property name {name!r}")
    return _code(f"{obj}.{name}")


def system(path: str, *args: Value | None) -> Code:
    """``$SYSTEM.Class.Method(args)``, e.g. ``system("Status.IsError", var("sc"))``."""
    cls, _, meth = path.rpartition(".")
    if not _CLASS.match(cls) or not _IDENT.match(meth):
        raise ValueError(f"invalid $SYSTEM call {path!r}")
    return _code(f"$SYSTEM.{cls}.{meth}({_args(args)})")


def func(name: str, *args: Value) -> Code:
    """An intrinsic function such as ``$Get`` or ``$Select``."""
    if name not in _FUNCTIONS:
        raise ValueError(f"function {name} is not in the supported subset")
    return _code(f"{name}({','.join(_expr(a) for a in args)})")


_FUNCTIONS = frozenset({"$Get", "$Select", "$Piece", "$Length", "$Data", "$Extract", "$Replace", "$Order",
                        "$Ascii", "$Char", "$ZConvert"})
SPECIAL = {name: _code(name) for name in ("$ZVersion", "$JOB", "$Namespace", "$Horolog", "$ZTimeStamp", "$ZEOF",
                                          "$ZHorolog", "$TLevel")}


def op(left: Value, operator: str, right: Value) -> Code:
    """A binary operation, parenthesised: ObjectScript evaluates strictly left to right."""
    if operator not in {"_", "+", "-", "*", "/", "#", "=", "'=", "<", ">", "&", "!", "[", "'["}:
        raise ValueError(f"unsupported operator {operator!r}")
    return _code(f"({_expr(left)}{operator}{_expr(right)})")


def select(*cases: tuple[Value, Value], default: Value) -> Code:
    """``$Select(c1:v1,c2:v2,...,1:default)``: the first case whose condition is true."""
    parts = [f"{_expr(condition)}:{_expr(value)}" for condition, value in cases]
    return _code(f"$Select({','.join([*parts, f'1:{_expr(default)}'])})")


def not_(value: Value) -> Code:
    return _code(f"'{_expr(value)}")


def dynamic_object(**items: Value) -> Code:
    """A ``{…}`` JSON literal whose values are parenthesised ObjectScript expressions."""
    parts = []
    for key, value in items.items():
        if not _KEY.match(key):
            raise ValueError(f"invalid JSON key {key!r}")
        parts.append(f'"{key}":({_expr(value)})')
    return _code("{" + ",".join(parts) + "}")


def new_array() -> Code:
    return _code("[]")


def _args(args: Iterable[Value | None]) -> str:
    return ",".join("" if a is None else _expr(a) for a in args)


def _require_code(value: object) -> None:
    if not isinstance(value, Code):
        raise TypeError(f"expected code built by iris_ops.objectscript, got {type(value).__name__}")


# --- statements -------------------------------------------------------------------------------


def set_(target: Code, value: Value) -> Code:
    _require_code(target)
    if target in RESERVED:
        raise ValueError(f"{target} is reserved by the script frame")
    return _code(f"Set {target}={_expr(value)}")


def kill(*variables: Code) -> Code:
    for item in variables:
        _require_code(item)
        if item in RESERVED:
            raise ValueError(f"{item} is reserved by the script frame")
    return _code(f"Kill {','.join(variables)}")


def do(expr: Code) -> Code:
    _require_code(expr)
    return _code(f"Do {expr}")


def check_status(expr: Code) -> Code:
    """Run a %Status-returning call and throw its error (``$$$ThrowOnError`` without macros)."""
    _require_code(expr)
    return _code(
        f"Set sc={expr} If $SYSTEM.Status.IsError(sc) "
        "{ Throw ##class(%Exception.StatusException).CreateFromStatus(sc) }"
    )


def check_true(expr: Code, message: str) -> Code:
    """Evaluate a %Boolean-returning call (``%Library.File`` methods) and throw ``message`` if false."""
    _require_code(expr)
    return _code(f"If '{expr} {{ {throw(message)} }}")


def check_sql(rs: Code) -> Code:
    """Throw when a %SQL.StatementResult ``rs`` reports an error (negative %SQLCODE), with the
    code and %Message."""
    _require_code(rs)
    text = op(op(lit("SQL error "), "_", prop(rs, "%SQLCODE")), "_", op(lit(": "), "_", prop(rs, "%Message")))
    return if_(op(prop(rs, "%SQLCODE"), "<", 0), throw(text))


def throw(message: Value) -> Code:
    """Throw a general exception whose DisplayString carries ``message`` (text or code)."""
    return _code(f'Throw ##class(%Exception.General).%New({lit("iris-ops")},5001,,{_expr(message)})')


def if_(condition: Value, *then: Code, else_: Iterable[Code] = ()) -> Code:
    for stmt in (*then, *else_):
        _require_code(stmt)
    text = f"If {_expr(condition)} {{ {' '.join(then)} }}"
    else_ = list(else_)
    if else_:
        text += f" Else {{ {' '.join(else_)} }}"
    return _code(text)


def try_(*body: Code, catch: Iterable[Code] = ()) -> Code:
    """``Try { body } Catch ex { catch }`` inside a step: for a call that may not exist on the
    target's version (the step carries on with the catch's statements)."""
    catch = list(catch)
    for stmt in (*body, *catch):
        _require_code(stmt)
    return _code(f"Try {{ {' '.join(body)} }} Catch ex {{ {' '.join(catch)} }}")


def while_(condition: Value, *body: Code) -> Code:
    for stmt in body:
        _require_code(stmt)
    return _code(f"While {_expr(condition)} {{ {' '.join(body)} }}")


def for_(counter: Code, start: Value, stop: Value, *body: Code) -> Code:
    """``For i=start:1:stop { body }``: ``counter`` counts up by one."""
    _require_code(counter)
    if counter in RESERVED:
        raise ValueError(f"{counter} is reserved by the script frame")
    for stmt in body:
        _require_code(stmt)
    return _code(f"For {counter}={_expr(start)}:1:{_expr(stop)} {{ {' '.join(body)} }}")


def result(key: str, value: Value) -> Code:
    """Record ``key`` in the result object printed at the end."""
    if not _KEY.match(key):
        raise ValueError(f"invalid result key {key!r}")
    if key in RESERVED_KEYS:
        raise ValueError(f"result key {key!r} is the script frame's own")
    return _code(f"Do r.%Set({lit(key)},{_expr(value)})")


def push(array: Code, value: Value) -> Code:
    _require_code(array)
    return _code(f"Do {array}.%Push({_expr(value)})")


# --- scripts ----------------------------------------------------------------------------------


class Script:
    """A generated script: steps run in order; the first failure skips the rest except
    ``always`` steps (thaw, cleanup), which run whatever happened."""

    def __init__(self, namespace: str = "%SYS", *, purpose: str = "script") -> None:
        import secrets  # here: its import (hashlib, random) would be start-up time for every task

        self.namespace = names.namespace(namespace)
        self.purpose = purpose
        self.token = secrets.token_hex(12)
        self._steps: list[tuple[str, tuple[Code, ...], bool]] = []

    def step(self, name: str, *statements: Code, always: bool = False) -> "Script":
        if not _KEY.match(name):
            raise ValueError(f"invalid step name {name!r}")
        for stmt in statements:
            _require_code(stmt)
        self._steps.append((name, statements, always))
        return self

    def folded(self) -> tuple[Code, ...]:
        """Every step's statements in order, to run this script as one step of another: a
        failure there skips the rest of it, as it skips the later steps here.  Refused for a
        script with ``always`` steps (their guarantee would be lost)."""
        if any(always for _, _, always in self._steps):
            raise ValueError(f"{self.purpose}: a script with always steps cannot be folded into another")
        return tuple(stmt for _, statements, _ in self._steps for stmt in statements)

    @property
    def step_names(self) -> list[str]:
        return [name for name, _, _ in self._steps]

    @property
    def markers(self) -> tuple[str, str]:
        return f"<<<{self.token}:BEGIN>>>", f"<<<{self.token}:END>>>"

    def lines(self, *, final: bool = True) -> list[str]:
        """The script's lines; ``final=False`` leaves the session at its prompt afterwards (no
        ``Halt``, no failing exit status): for a session that is sent more (see
        :meth:`iris_ops.runner.Runner.run_in`)."""
        half = len(self.token) // 2
        out = [
            # The token is split so that no source line holds a whole marker.
            f"Set tok={lit(self.token[:half])}_{lit(self.token[half:])},err=\"\",step=\"\",n=0,a=0,r={{}}",
        ]
        regular = always_count = 0
        for name, statements, always in self._steps:
            body = " ".join(statements)
            record = f"Set err=e.DisplayString(),step={lit(name)}"
            if always:
                out.append(f"Try {{ {body} Set a=a+1 }} Catch e {{ If err=\"\" {{ {record} }} }}")
                always_count += 1
            else:
                # A step runs only when every earlier step completed: a line that failed to
                # compile (not caught by its Try) leaves the count short and stops the rest.
                out.append(f"Try {{ If n={regular} {{ {body} Set n=n+1 }} }} Catch e {{ {record} }}")
                regular += 1
        out += [
            f"Do r.%Set(\"ok\",(err=\"\")&(n={regular})&(a={always_count})),r.%Set(\"error\",err),"
            "r.%Set(\"step\",step),r.%Set(\"steps\",n+a)",
            'Write !,"<<<",tok,":BEGIN>>>",!,r.%ToJSON(),!,"<<<",tok,":END>>>",!',
        ]
        if final:
            out += ["If 'r.%Get(\"ok\") { Do ##class(%SYSTEM.Process).Terminate($JOB,1) }", "Halt"]
        return out

    def render(self, *, final: bool = True) -> str:
        return "\n".join(self.lines(final=final)) + "\n"


def user_code(line: str) -> Code:
    """A line of ObjectScript the user wrote (the `run` task), run as typed by ``Xecute`` of a
    literal: the frame's own code stays off the user's line, so a legacy ``If`` that is false, a
    ``For``, a ``Quit``, a postconditional or a trailing comment act on the user's code only.
    Refused if it holds control characters (other than tab) that would split it into several
    compilation units."""
    if any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in line):
        raise ValueError("a script line may not contain control characters")
    parts = [lit(part) for part in line.split("\t")]
    text = parts[0]
    for part in parts[1:]:
        text = op(op(text, "_", func("$Char", 9)), "_", part)
    return _code(f"Xecute {text}")


def argument_call(class_name: str, method_name: str) -> str:
    """The single-call argument form, e.g. ``##Class(Backup.General).ExternalThaw()``."""
    return str(call(class_name, method_name)).replace("##class(", "##Class(", 1)


# --- locks ------------------------------------------------------------------------------------

_GLOBAL = re.compile(r"^%?[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*$")


def global_ref(name: str, *subscripts: str | int) -> Code:
    """``^Name(subscripts)``: a global (or lock) name with literal subscripts."""
    if not _GLOBAL.match(name):
        raise ValueError(f"invalid global name {name!r}")
    if not subscripts:
        return _code("^" + name)
    return _code(f"^{name}({','.join(lit(s) for s in subscripts)})")


def lock(ref: Code, *, timeout: float | None = None, shared: bool = False, release: bool = False) -> Code:
    """``Lock +ref#"S":timeout`` (``-ref`` with ``release``): an incremental lock, so the
    process's other locks stay.  With a timeout IRIS sets $TEST; without one it waits for ever."""
    _require_code(ref)
    if not str(ref).startswith("^"):
        raise ValueError("lock names built here are global names (global_ref)")
    text = f"Lock {'-' if release else '+'}{ref}"
    if shared:
        text += '#"S"'
    if timeout is not None:
        if release:
            raise ValueError("an unlock takes no timeout")
        seconds = max(timeout, 0)
        text += ":" + lit(int(seconds) if float(seconds).is_integer() else float(seconds))
    return _code(text)


def read(target: Code, *, timeout: float) -> Code:
    """``Read target:timeout``: a line from the principal device (the session's stdin); $TEST
    says whether one came before the timeout (RCOS READ, $TEST)."""
    _require_code(target)
    if not _IDENT.match(str(target)) or target in RESERVED:
        raise ValueError(f"read into a plain local variable, not {target!r}")
    if not 0 < timeout <= 3600:
        raise ValueError(f"a read timeout of {timeout!r} s is outside 0..3600")
    return _code(f"Read {target}:" + lit(int(timeout) if float(timeout).is_integer() else float(timeout)))


def hang(seconds: float) -> Code:
    """``Hang seconds``: pause the process (fractions allowed)."""
    if not 0 <= seconds <= 60:
        raise ValueError(f"a hang of {seconds!r} s is outside 0..60")
    return _code("Hang " + lit(int(seconds) if float(seconds).is_integer() else float(seconds)))


def lock_order(after: Value) -> Code:
    """``$Order(^$LOCK(after))``: the next lock name held in the namespace's lock table."""
    return _code(f"$Order(^$LOCK({_expr(after)}))")


def lock_owner(ref: Code) -> Code:
    """``^$LOCK("^name(subs)","OWNER")``: the ``$JOB`` holding the lock ``ref``, "" when none."""
    _require_code(ref)
    if not str(ref).startswith("^"):
        raise ValueError("lock names built here are global names (global_ref)")
    return _code(f"^$LOCK({lit(str(ref))},{lit('OWNER')})")


def job_exists(job: Value) -> Code:
    """``$Data(^$JOB(job))``: 1 while the process ``job`` (a pid on UNIX) exists, else 0."""
    return _code(f"$Data(^$JOB({_expr(job)}))")


def write_marker(token: Code, word: str, *values: Value) -> Code:
    """Write ``<<<token:WORD>>>`` then ``values``, assembled at run time (see :class:`Script`)."""
    _require_code(token)
    if not _KEY.match(word):
        raise ValueError(f"invalid marker word {word!r}")
    parts = ['!', '"<<<"', token, lit(f":{word}>>>"), *(_expr(v) for v in values), "!"]
    return _code("Write " + ",".join(parts))


def split_token(token: str) -> Code:
    """The marker token as a concatenation, so that no source line holds a whole marker."""
    half = len(token) // 2
    return _code(f"{lit(token[:half])}_{lit(token[half:])}")


def quit_if(condition: Value) -> Code:
    """``Quit:condition``: leave the innermost loop when the condition holds.  An argumentless
    command needs two spaces before the next one, hence the trailing blank."""
    return _code(f"Quit:{_expr(condition)} ")


def for_ever(*body: Code) -> Code:
    """Argumentless ``For  { body }``: loops until a Quit."""
    for stmt in body:
        _require_code(stmt)
    return _code(f"For  {{ {' '.join(body)} }}")


def sequence(*statements: Code) -> Code:
    """Statements on one line, in order."""
    for stmt in statements:
        _require_code(stmt)
    return _code(" ".join(statements))


TEST = _code("$Test")
HALT = _code("Halt")
#: Start a transaction, and roll back every level of it (``$TLevel`` says how deep it is).
#: Argumentless commands: the trailing blank makes the two spaces the next command needs.
TSTART = _code("TStart ")
TROLLBACK = _code("TRollback ")
