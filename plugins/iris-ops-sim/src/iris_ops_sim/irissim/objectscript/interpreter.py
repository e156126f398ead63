"""Evaluates parsed ObjectScript lines (see :mod:`.parser`) for one simulated process.

Semantics follow the ObjectScript reference (``RCOS``) and guide (``GCOS``):

* operators evaluate strictly left to right, without precedence (``1+2*3`` is 9);
  ``&&`` / ``||`` short-circuit, ``&`` / ``!`` do not; results of logical and relational
  operators are 1 or 0; ``=`` compares strings, ``<`` / ``>`` compare numbers;
* ``Quit`` leaves the innermost ``For`` / ``While`` / ``Do-While`` loop or ``Try`` / ``Catch``
  block (QUIT, "Quit in a loop or Try block"); at the prompt it ends the line (and, as at a real
  prompt, removes frames left by an earlier error); ``Quit expr`` inside a loop is ``<COMMAND>``;
* a ``Try`` block catches ObjectScript errors (as ``%Exception.SystemException``) and thrown
  exceptions; ``$ZERROR`` is set for every error, caught or not;
* a method used as a function must return a value (``<COMMAND> *Function must return a value``).

Everything outside the subset fails loudly (``<SYNTAX>`` or ``<UNIMPLEMENTED>``).
"""

from __future__ import annotations

import inspect
import time
from typing import Any

from . import builtins as _b
from . import jobs, locking, transactions
from .parser import Cmd, parse_line
from .runtime import (
    OMITTED,
    ByRef,
    Halt,
    IrisError,
    Process,
    SimClass,
    TIMED_OUT,
    SimObject,
    ThrownException,
    lookup_class,
)
from .values import (
    arith,
    canon_number,
    collates_after,
    format_ref,
    subscript,
    to_num,
    to_str,
    truth,
)

__all__ = ["QuitSignal", "ContinueSignal", "Interpreter"]


class QuitSignal(Exception):
    def __init__(self, value: Any = None, has_value: bool = False) -> None:
        super().__init__()
        self.value = value
        self.has_value = has_value


class ContinueSignal(Exception):
    pass


def _bool(b: bool) -> int:
    return 1 if b else 0


#: date(1840, 12, 31).toordinal(): $HOROLOG day 0 (a constant, so that datetime loads only for $H)
_HOROLOG_EPOCH = 672046


def _zconvert_io(text: str, mode: str, table: str) -> str:
    """``$ZCONVERT(s,"O"|"I","UTF8")`` (ObjectScript Reference, $ZCONVERT): "O" encodes to a binary
    string of UTF-8 bytes, "I" decodes one.  Only the UTF8 table is simulated.  [UNV] input that
    is not UTF-8, or "I" of characters above 255, is ``<ILLEGAL VALUE>`` (stricter than IRIS's
    unspecified replacement)."""
    if table != "UTF8" or mode not in ("I", "O"):
        raise IrisError("UNIMPLEMENTED", f"*simulator does not run $ZCONVERT mode {mode} table {table}")
    try:
        if mode == "O":
            return text.encode("utf-8").decode("latin-1")
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise IrisError("ILLEGAL VALUE") from None


class Interpreter:
    """Local variables and command execution for one :class:`~.runtime.Process`."""

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

    # -- entry points -------------------------------------------------------------------------
    def run_line(self, text: str) -> list[Cmd]:
        """Compile then run one line.  Errors propagate (with ``cmd_pos`` set)."""
        cmds = parse_line(text)
        self.block(cmds)
        return cmds

    def run_call(self, node: tuple) -> None:
        """Run one DO argument (the single-call form of ``iris session``)."""
        try:
            self.call(node, want_value=False)
        except IrisError as e:
            if getattr(e, "cmd_pos", None) is None:
                e.cmd_pos = 0
            raise

    def note_error(self, e: IrisError) -> None:
        self.zerror = e.zerror

    # -- commands -----------------------------------------------------------------------------
    def block(self, cmds: list[Cmd]) -> None:
        for cmd in cmds:
            self.command(cmd)

    def command(self, cmd: Cmd) -> None:
        try:
            if cmd.postcond is not None and not truth(self.eval(cmd.postcond)):
                return
            getattr(self, "x_" + cmd.kind.lower())(cmd)
        except (IrisError, ThrownException) as e:
            if getattr(e, "cmd_pos", None) is None:
                e.cmd_pos = cmd.pos
            raise

    def x_set(self, cmd: Cmd) -> None:
        for targets, expr in cmd.a["pairs"]:
            value = self.eval(expr)
            for t in targets:
                self.assign(t, value)

    def assign(self, target: tuple, value: Any) -> None:
        if target[0] == "var":
            subs = [subscript(self.eval(s)) for s in target[2]]
            self.locals.setdefault(target[1], ByRef()).node(*subs).set(value)
        elif target[0] == "prop":
            obj = self.oref(self.eval(target[1]))
            obj.set_property(self.proc, target[2], value)
        elif target[0] == "special" and target[1] == "NAMESPACE":
            self.set_namespace(value)
        else:  # pragma: no cover - the parser only builds the above
            raise IrisError("SYNTAX")

    def set_namespace(self, value: Any) -> None:
        ns = to_str(value).upper()
        if not ns or not self.proc.instance.namespace_exists(ns):
            raise IrisError("NAMESPACE", f"*{ns}")
        self.proc.namespace = ns

    def x_znspace(self, cmd: Cmd) -> None:
        self.set_namespace(self.eval(cmd.a["expr"]))

    def x_write(self, cmd: Cmd) -> None:
        out = self.proc.write
        for item in cmd.a["items"]:
            kind = item[0]
            if kind == "nl":
                out("\n")
            elif kind == "ff":
                out("\x0c")
            elif kind == "tab":
                col = to_num(self.eval(item[1]))
                if col > self.x:
                    out(" " * int(col - self.x))
            elif kind == "char":
                code = to_num(self.eval(item[1]))
                if code < 0:
                    raise IrisError("UNIMPLEMENTED", "*simulator does not run WRITE *-n")
                out(chr(int(code)))
            else:
                out(to_str(self.eval(item[1])))

    def x_do(self, cmd: Cmd) -> None:
        for node, pc in cmd.a["calls"]:
            if pc is not None and not truth(self.eval(pc)):
                continue
            self.call(node, want_value=False)

    def x_dowhile(self, cmd: Cmd) -> None:
        while True:
            try:
                self.block(cmd.a["body"])
            except QuitSignal as q:
                self._loop_quit(q)
                return
            except ContinueSignal:
                pass
            if not truth(self.eval(cmd.a["cond"])):
                return

    def x_if(self, cmd: Cmd) -> None:
        for conds, body in cmd.a["branches"]:
            if self.all_true(conds):
                self.test = 1
                self.block(body)
                return
        self.test = 0
        if cmd.a["else"] is not None:
            self.block(cmd.a["else"])

    def x_legacyif(self, cmd: Cmd) -> None:
        if self.all_true(cmd.a["conds"]):
            self.test = 1
            self.block(cmd.a["body"])
        else:
            self.test = 0

    def all_true(self, conds: list) -> bool:
        return all(truth(self.eval(c)) for c in conds)

    @staticmethod
    def _loop_quit(q: QuitSignal) -> None:
        if q.has_value:
            raise IrisError("COMMAND")

    def x_for(self, cmd: Cmd) -> None:
        var, specs, body = cmd.a["var"], cmd.a["specs"], cmd.a["body"]

        def run_body() -> bool:
            try:
                self.block(body)
            except QuitSignal as q:
                self._loop_quit(q)
                return False
            except ContinueSignal:
                pass
            return True

        if var is None:
            while run_body():
                pass
            return
        for spec in specs:
            if spec[0] == "value":
                self.assign(var, self.eval(spec[1]))
                if not run_body():
                    return
                continue
            start = to_num(self.eval(spec[1]))
            inc = to_num(self.eval(spec[2]))
            end = None if spec[3] is None else to_num(self.eval(spec[3]))
            value = start
            while True:
                if end is not None and ((inc >= 0 and value > end) or (inc < 0 and value < end)):
                    break
                self.assign(var, value)
                if not run_body():
                    return
                value = arith("+", value, inc)

    def x_while(self, cmd: Cmd) -> None:
        while self.all_true(cmd.a["cond"]):
            try:
                self.block(cmd.a["body"])
            except QuitSignal as q:
                self._loop_quit(q)
                return
            except ContinueSignal:
                pass

    def x_quit(self, cmd: Cmd) -> None:
        if cmd.a["expr"] is None:
            raise QuitSignal()
        raise QuitSignal(self.eval(cmd.a["expr"]), has_value=True)

    def x_continue(self, cmd: Cmd) -> None:
        raise ContinueSignal()

    def x_kill(self, cmd: Cmd) -> None:
        targets = cmd.a["targets"]
        if targets is None:
            self.locals.clear()
            return
        for t in targets:
            subs = [subscript(self.eval(s)) for s in t[2]]
            if not subs:
                self.locals.pop(t[1], None)
                continue
            node = self.locals.get(t[1])
            for key in subs[:-1]:
                if node is None:
                    break
                node = node.subscripts.get(key)
            if node is not None:
                node.subscripts.pop(subs[-1], None)

    def x_lock(self, cmd: Cmd) -> None:
        locking.run_lock(self, cmd.a["items"])

    def x_tstart(self, cmd: Cmd) -> None:
        transactions.tstart(self.proc)

    def x_tcommit(self, cmd: Cmd) -> None:
        transactions.tcommit(self.proc)

    def x_trollback(self, cmd: Cmd) -> None:
        transactions.trollback(self.proc, one=cmd.a["one"])

    def x_read(self, cmd: Cmd) -> None:
        """``Read var[:timeout]`` from the principal device, a line at a time (RCOS READ, $TEST,
        $ZEOF, %SYSTEM.Process SetZEOF).  A timed read sets $TEST: 1 when a line came, 0 when
        the timeout passed first ([UNV] the variable is then "" and what was typed of a line
        stays for the next read).  At the end of input: ``<ENDOFFILE>``, the default for
        sequential files; after ``SetZEOF(1)`` the variable is "" and $ZEOF -1 ([UNV] $TEST 1:
        the read completed).  [UNV] whether the principal device of an ``iris session`` fed by
        a pipe behaves as a sequential file at its end is not documented."""
        proc = self.proc
        timeout = None
        if cmd.a["timeout"] is not None:
            timeout = max(0.0, float(to_num(self.eval(cmd.a["timeout"]))))
        source = proc.input
        line = None if source is None else source.readline(timeout)
        if line is TIMED_OUT:
            self.assign(cmd.a["var"], "")
            self.test = 0
            return
        if line is None:
            if not proc.zeof_mode:
                raise IrisError("ENDOFFILE")
            proc.zeof = -1
            line = ""
        else:
            proc.zeof = 0
        self.assign(cmd.a["var"], line)
        if timeout is not None:
            self.test = 1

    def x_halt(self, cmd: Cmd) -> None:
        raise Halt(0)

    def x_hang(self, cmd: Cmd) -> None:
        seconds = to_num(self.eval(cmd.a["expr"]))
        if seconds > 0:
            time.sleep(float(seconds))

    def x_xecute(self, cmd: Cmd) -> None:
        """Each argument compiled and run as a line of its own, in this process's variables: a
        legacy If, a For or a comment inside it ends with it, and Quit leaves it (a Quit with a
        value is <COMMAND>).  A syntax error in the code is a <SYNTAX> error of the Xecute."""
        for expr, cond in cmd.a["items"]:
            if cond is not None and not truth(self.eval(cond)):
                continue
            code = to_str(self.eval(expr))
            try:
                cmds = parse_line(code)
            except IrisError as e:
                raise IrisError(e.code, e.detail) from None
            try:
                self.block(cmds)
            except QuitSignal as q:
                self._loop_quit(q)

    def x_throw(self, cmd: Cmd) -> None:
        value = self.eval(cmd.a["expr"])
        if not isinstance(value, SimObject):
            raise IrisError("INVALID OREF")
        if isinstance(value, _b.SystemExceptionObject):
            raise value.as_error()
        if not isinstance(value, _b.ExceptionObject):
            raise IrisError("INVALID CLASS")
        raise ThrownException(value)

    def x_try(self, cmd: Cmd) -> None:
        try:
            self.block(cmd.a["body"])
            return
        except QuitSignal as q:
            self._loop_quit(q)
            return
        except IrisError as e:
            self.note_error(e)
            exc: SimObject = _b.SystemExceptionObject.from_error(e)
        except ThrownException as t:
            exc = t.oref
        if cmd.a["var"] is not None:
            self.locals[cmd.a["var"]] = ByRef(exc)
        try:
            self.block(cmd.a["catch"])
        except QuitSignal as q:
            self._loop_quit(q)

    # -- expressions --------------------------------------------------------------------------
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
            return _bool(not truth(v))
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
            return _b.build_json(self, node[1])
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
            return _bool(truth(a) and truth(self.eval(node[3])))
        if op == "||":
            return _bool(truth(a) or truth(self.eval(node[3])))
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
        return _bool(r != negate)

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
            try:
                inspect.signature(impl).bind(self.proc, *args)
            except TypeError:
                if cls.namespace:
                    self.proc.require_namespace(cls.namespace, cls.name)
                raise IrisError("PARAMETER") from None
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

    # -- intrinsic functions ------------------------------------------------------------------
    def function(self, name: str, args: list) -> Any:
        def nargs(lo: int, hi: int) -> None:
            if not lo <= len(args) <= hi:
                raise IrisError("SYNTAX")

        if name == "GET":
            nargs(1, 2)
            ref = self.lookup_node(args[0])
            if ref is not None and ref.defined:
                return ref.get()
            return self.eval(args[1]) if len(args) == 2 else ""
        if name == "DATA":
            nargs(1, 1)
            if args[0][0] == "ssvn_job":
                return jobs.job_data(self, args[0][1])
            ref = self.lookup_node(args[0])
            if ref is None:
                return 0
            has_value = 1 if ref.defined else 0
            has_subs = 10 if any(c.defined or c.subscripts for c in ref.subscripts.values()) else 0
            return has_value + has_subs
        if name == "ORDER":
            nargs(1, 2)
            node = args[0]
            if node[0] == "ssvn_job":
                raise IrisError("UNIMPLEMENTED", "*simulator answers ^$JOB only as the argument of $DATA")
            if node[0] not in ("var", "ssvn_lock") or not node[-1]:
                raise IrisError("SYNTAX")
            direction = to_num(self.eval(args[1])) if len(args) == 2 else 1
            if direction not in (1, -1):
                raise IrisError("FUNCTION")
            if node[0] == "ssvn_lock":
                return locking.lock_order(self, node[1], int(direction))
            parent_subs = [subscript(self.eval(s)) for s in node[2][:-1]]
            last = self.eval(node[2][-1])
            parent = self.locals.get(node[1])
            for key in parent_subs:
                if parent is None:
                    break
                parent = parent.subscripts.get(key)
            if parent is None:
                return ""
            from .runtime import collation_key

            keys = sorted(
                (k for k, c in parent.subscripts.items() if c.defined or c.subscripts), key=collation_key
            )
            if direction == -1:
                keys.reverse()
            if to_str(last) == "":
                return keys[0] if keys else ""
            cur = collation_key(subscript(last))
            for k in keys:
                ck = collation_key(k)
                if (direction == 1 and ck > cur) or (direction == -1 and ck < cur):
                    return k
            return ""
        if name == "SELECT":
            for cond, value in args:
                if truth(self.eval(cond)):
                    return self.eval(value)
            raise IrisError("SELECT")
        if name == "CASE":
            subject = to_str(self.eval(args[0]))
            pairs, default = args[1]
            for key, value in pairs:
                if to_str(self.eval(key)) == subject:
                    return self.eval(value)
            if default is not None:
                return self.eval(default)
            raise IrisError("ILLEGAL VALUE")
        if name == "CLASSMETHOD":
            if len(args) < 2 or args[0][0] in ("omitted", "byref") or args[1][0] in ("omitted", "byref"):
                raise IrisError("SYNTAX")
            cls = lookup_class(to_str(self.eval(args[0])))
            method = to_str(self.eval(args[1]))
            result = self.class_call(cls, method, self.call_args(args[2:]))
            if result is None:
                raise IrisError("COMMAND", "*Function must return a value")
            return result
        vals = [self.eval(a) for a in args]
        if name == "PIECE":
            nargs(2, 4)
            s, d = to_str(vals[0]), to_str(vals[1])
            start = int(to_num(vals[2])) if len(vals) > 2 else 1
            end = int(to_num(vals[3])) if len(vals) > 3 else start
            if d == "":
                return ""
            parts = s.split(d)
            start = max(start, 1)
            if end < start:
                return ""
            return d.join(parts[start - 1:end])
        if name == "LENGTH":
            nargs(1, 2)
            s = to_str(vals[0])
            if len(vals) == 1:
                return len(s)
            d = to_str(vals[1])
            return 0 if d == "" else s.count(d) + 1
        if name == "EXTRACT":
            nargs(1, 3)
            s = to_str(vals[0])
            start = int(to_num(vals[1])) if len(vals) > 1 else 1
            end = int(to_num(vals[2])) if len(vals) > 2 else start
            start = max(start, 1)
            return s[start - 1:end] if end >= start else ""
        if name == "FIND":
            nargs(2, 3)
            s, sub = to_str(vals[0]), to_str(vals[1])
            start = max(int(to_num(vals[2])) if len(vals) > 2 else 1, 1)
            idx = s.find(sub, start - 1)
            return 0 if idx < 0 else idx + len(sub) + 1
        if name == "REPLACE":
            nargs(3, 3)
            s, old, new = (to_str(v) for v in vals)
            return s if old == "" else s.replace(old, new)
        if name == "CHAR":
            nargs(1, 99)
            return "".join(chr(int(to_num(v))) for v in vals if to_num(v) >= 0)
        if name == "ASCII":
            nargs(1, 2)
            s = to_str(vals[0])
            pos = int(to_num(vals[1])) if len(vals) > 1 else 1
            return ord(s[pos - 1]) if 1 <= pos <= len(s) else -1
        if name == "TRANSLATE":
            nargs(2, 3)
            s, frm = to_str(vals[0]), to_str(vals[1])
            to = to_str(vals[2]) if len(vals) > 2 else ""
            out = []
            for ch in s:
                i = frm.find(ch)
                if i < 0:
                    out.append(ch)
                elif i < len(to):
                    out.append(to[i])
            return "".join(out)
        if name == "ZCONVERT":
            nargs(2, 3)
            mode = to_str(vals[1]).upper()
            if len(vals) == 3:
                return _zconvert_io(to_str(vals[0]), mode, to_str(vals[2]).upper())
            if mode == "U":
                return to_str(vals[0]).upper()
            if mode == "L":
                return to_str(vals[0]).lower()
            raise IrisError("UNIMPLEMENTED", f"*simulator does not run $ZCONVERT mode {mode}")
        if name == "ISOBJECT":
            nargs(1, 1)
            return _bool(isinstance(vals[0], SimObject))
        if name == "PROPERTY":
            nargs(2, 2)
            return self.oref(vals[0]).get_property(self.proc, to_str(vals[1]))
        if name == "JUSTIFY":
            nargs(2, 3)
            width = int(to_num(vals[1]))
            if len(vals) == 3:
                import decimal

                dec = max(int(to_num(vals[2])), 0)
                q = decimal.Decimal(canon_number(to_num(vals[0]))).quantize(
                    decimal.Decimal(1).scaleb(-dec), rounding=decimal.ROUND_HALF_UP
                )
                text = format(q, "f")
            else:
                text = to_str(vals[0])
            return text.rjust(width)
        raise IrisError("SYNTAX")  # pragma: no cover
