"""The intrinsic functions of the simulated interpreter: ``$GET``, ``$DATA``, ``$ORDER``, ``$PIECE`` and the rest.

:class:`IntrinsicFunctions` is mixed into :class:`.evaluator.Evaluator`, whose ``eval``,
``lookup_node``, ``call_args``, ``class_call``, ``oref``, ``locals`` and ``proc`` it uses.
A call with the wrong number of arguments is ``<SYNTAX>``.
"""

from __future__ import annotations

from . import jobs, locking
from .runtime import IrisError, SimObject, lookup_class
from .values import canon_number, from_bool, subscript, to_num, to_str, truth

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["IntrinsicFunctions"]


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


class IntrinsicFunctions:
    """``$NAME(...)``: the intrinsic functions the parser knows (:data:`.vocabulary.FUNCTIONS`)."""

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
            return from_bool(isinstance(vals[0], SimObject))
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
