"""Parses ObjectScript expressions: operands, operators, ``$`` functions, class calls, JSON literals.

An expression contains no whitespace (``Write 1 + 2`` is a ``<SYNTAX>`` error); operators have no
precedence.  Expression nodes are tuples, first element the kind:
``("num", n)``, ``("str", s)``, ``("var", name, [subscript exprs])``,
``("un", op, e)``, ``("bin", op, l, r)``, ``("func", NAME, args)``, ``("special", NAME)``,
``("classmeth", class, method, args)``, ``("prop", obj, name)``, ``("meth", obj, name, args)``,
``("json", value)`` where value is ``("jobj", [(key, v)...])``, ``("jarr", [v...])``,
``("jstr", s)``, ``("jnum", text)``, ``("jconst", "true"|"false"|"null")`` or ``("expr", e)``;
call arguments may also be ``("byref", name)`` and ``("omitted",)``.
"""

from __future__ import annotations

from .scanner import Scanner, is_name_start
from .vocabulary import BINOPS, FUNCTIONS, SPECIALS, UNSIMULATED_FUNCTIONS, UNSIMULATED_SPECIALS

__all__ = ["ExpressionParser"]


class ExpressionParser(Scanner):
    def expr(self) -> tuple:
        left = self.operand()
        while True:
            op = self.binop()
            if op is None:
                return left
            if op in ("?", "'?"):
                raise self.unsimulated("pattern match")
            right = self.operand()
            left = ("bin", op, left, right)

    def binop(self) -> str | None:
        for op in BINOPS:
            if self.s.startswith(op, self.i):
                self.i += len(op)
                return op
        return None

    def operand(self) -> tuple:
        c = self.peek()
        if c in ("'", "-", "+"):
            self.i += 1
            return ("un", c, self.operand())
        return self.postfix(self.primary())

    def primary(self) -> tuple:
        c = self.peek()
        if c == "":
            raise self.err()
        if c == "(":
            self.i += 1
            e = self.expr()
            self.expect(")")
            return e
        if c == '"':
            return ("str", self.string())
        if c.isdigit() or (c == "." and self.peek(1).isdigit()):
            return ("num", self.number())
        if c == "$":
            return self.dollar()
        if c == "#":
            if self.s[self.i:self.i + 8].lower() == "##class(":
                self.i += 8
                cls = self.classname()
                self.expect(")")
                self.expect(".")
                if self.peek() == "#":
                    raise self.unsimulated("class parameters")
                meth = self.name()
                if self.peek() != "(":
                    raise self.unsimulated("class properties")
                return ("classmeth", cls, meth, self.call_args())
            if self.s.startswith("##", self.i):
                raise self.unsimulated("## preprocessor syntax")
            raise self.err()
        if c == "{":
            return ("json", self.json_object())
        if c == "[":
            return ("json", self.json_array())
        if c == "^":
            if self.peek(1) == "$":
                self.i += 2
                word = self.word().upper()
                if word in ("LOCK", "L") and self.peek() == "(":
                    return ("ssvn_lock", self.args())
                if word in ("JOB", "J") and self.peek() == "(":
                    return ("ssvn_job", self.args())
                raise self.unsimulated("structured system variables other than ^$LOCK and ^$JOB")
            raise self.unsimulated("globals")
        if c == "." :
            raise self.err()  # ..Method() and .var are not expressions at the prompt
        if is_name_start(c):
            name = self.name()
            if self.peek() == "^":
                raise self.unsimulated("routines")
            subs: list = []
            if self.peek() == "(":
                subs = self.args()
                if not subs:
                    raise self.err()
            return ("var", name, subs)
        raise self.err()

    def postfix(self, e: tuple) -> tuple:
        while self.peek() == "." and (is_name_start(self.peek(1))):
            if e[0] in ("num", "str"):
                raise self.err()
            self.i += 1
            name = self.name()
            if self.peek() == "(":
                e = ("meth", e, name, self.call_args())
            else:
                e = ("prop", e, name)
        return e

    def classname(self) -> str:
        j = self.i
        if self.peek() == "%":
            self.i += 1
        if not self.peek().isalpha():
            raise self.err()
        while self.peek().isalnum() or (self.peek() == "." and self.peek(1).isalnum()):
            self.i += 1
        return self.s[j:self.i]

    def string(self) -> str:
        self.expect('"')
        out = []
        while True:
            c = self.peek()
            if c == "":
                raise self.err()
            self.i += 1
            if c == '"':
                if self.peek() == '"':
                    out.append('"')
                    self.i += 1
                    continue
                return "".join(out)
            out.append(c)

    def number(self) -> str:
        j = self.i
        while self.peek().isdigit():
            self.i += 1
        if self.peek() == "." and self.peek(1).isdigit():
            self.i += 1
            while self.peek().isdigit():
                self.i += 1
        if self.peek() in ("E", "e") and (self.peek(1).isdigit() or (self.peek(1) in "+-" and self.peek(2).isdigit())):
            self.i += 2
            while self.peek().isdigit():
                self.i += 1
        return self.s[j:self.i]

    def args(self) -> list:
        """Parenthesised expression list (subscripts, function arguments)."""
        self.expect("(")
        out = []
        if self.peek() == ")":
            self.i += 1
            return out
        while True:
            out.append(self.expr())
            if self.peek() == ",":
                self.i += 1
                continue
            self.expect(")")
            return out

    def call_args(self) -> list:
        """Method-call arguments: expressions, ``.var`` by reference, or omitted."""
        self.expect("(")
        out: list = []
        if self.peek() == ")":
            self.i += 1
            return out
        while True:
            c = self.peek()
            if c in (",", ")"):
                out.append(("omitted",))
            elif c == "." and is_name_start(self.peek(1)):
                self.i += 1
                n = self.name()
                if self.peek() not in (",", ")"):
                    raise self.err()
                out.append(("byref", n))
            else:
                out.append(self.expr())
            if self.peek() == ",":
                self.i += 1
                continue
            self.expect(")")
            return out

    def dollar(self) -> tuple:
        if self.s.startswith("$$$", self.i):
            raise self.err()  # macros do not exist at the terminal
        if self.s.startswith("$$", self.i):
            raise self.unsimulated("extrinsic functions")
        self.i += 1
        w = self.word()
        while self.peek().isdigit():  # no numeric function names exist; keep it in the word
            self.i += 1
            w += self.s[self.i - 1]
        up = w.upper()
        if up == "SYSTEM" and self.peek() == ".":
            parts = []
            while self.peek() == ".":
                self.i += 1
                parts.append(self.name())
            if self.peek() != "(" or len(parts) < 2:
                raise self.err()
            cls = "%SYSTEM." + ".".join(parts[:-1])
            return ("classmeth", cls, parts[-1], self.call_args())
        if self.peek() == "(":
            fname = FUNCTIONS.get(up)
            if fname is None:
                if up in UNSIMULATED_FUNCTIONS:
                    raise self.unsimulated(f"${up}")
                raise self.err()
            if fname == "SELECT":
                return ("func", fname, self.pair_args(allow_default=False))
            if fname == "CASE":
                self.expect("(")
                subject = self.expr()
                self.expect(",")
                pairs = self.pair_list(allow_default=True)
                return ("func", fname, [subject, pairs])
            if fname == "CLASSMETHOD":
                return ("func", fname, self.call_args())
            return ("func", fname, self.args())
        sname = SPECIALS.get(up)
        if sname is None:
            if up in UNSIMULATED_SPECIALS:
                raise self.unsimulated(f"${up}")
            raise self.err()
        return ("special", sname)

    def pair_args(self, allow_default: bool) -> list:
        self.expect("(")
        return self.pair_list(allow_default)

    def pair_list(self, allow_default: bool) -> list:
        pairs = []
        default = None
        while True:
            if self.peek() == ":" and allow_default:
                self.i += 1
                default = self.expr()
            else:
                if default is not None:
                    raise self.err()
                k = self.expr()
                self.expect(":")
                pairs.append((k, self.expr()))
            if self.peek() == ",":
                self.i += 1
                continue
            self.expect(")")
            break
        if not pairs and default is None:
            raise self.err()
        return [pairs, default] if allow_default else pairs

    # -- JSON literals ------------------------------------------------------------------------
    def json_ws(self) -> None:
        while self.peek() in (" ", "\t"):
            self.i += 1

    def json_object(self) -> tuple:
        self.expect("{")
        items = []
        self.json_ws()
        if self.peek() == "}":
            self.i += 1
            return ("jobj", items)
        while True:
            self.json_ws()
            if self.peek() != '"':
                raise self.err()
            key = self.json_string()
            self.json_ws()
            self.expect(":")
            self.json_ws()
            items.append((key, self.json_value()))
            self.json_ws()
            if self.peek() == ",":
                self.i += 1
                continue
            self.expect("}")
            return ("jobj", items)

    def json_array(self) -> tuple:
        self.expect("[")
        items = []
        self.json_ws()
        if self.peek() == "]":
            self.i += 1
            return ("jarr", items)
        while True:
            self.json_ws()
            items.append(self.json_value())
            self.json_ws()
            if self.peek() == ",":
                self.i += 1
                continue
            self.expect("]")
            return ("jarr", items)

    def json_value(self) -> tuple:
        c = self.peek()
        if c == "{":
            return self.json_object()
        if c == "[":
            return self.json_array()
        if c == '"':
            return ("jstr", self.json_string())
        if c == "(":
            self.i += 1
            e = self.expr()
            self.expect(")")
            return ("expr", e)
        for const in ("true", "false", "null"):
            if self.s.startswith(const, self.i) and not self.peek(len(const)).isalnum():
                self.i += len(const)
                return ("jconst", const)
        import re

        m = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?").match(self.s, self.i)
        if m and m.end() > self.i:
            self.i = m.end()
            return ("jnum", m.group(0))
        raise self.err()

    def json_string(self) -> str:
        import json

        j = self.i
        self.expect('"')
        while True:
            c = self.peek()
            if c == "":
                raise self.err()
            self.i += 1
            if c == "\\":
                self.i += 1
            elif c == '"':
                break
        try:
            return json.loads(self.s[j:self.i])
        except ValueError:
            raise self.err() from None
