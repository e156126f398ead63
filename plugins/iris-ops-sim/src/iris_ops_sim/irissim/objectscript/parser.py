"""Parser for the ObjectScript subset that the simulated terminal runs.

One terminal input line is one compilation unit: :func:`parse_line` turns the whole line into
a list of command nodes *before* anything runs, so a syntax error anywhere means nothing on
that line runs (as on IRIS, which compiles the line first).

Whitespace is significant, as in ObjectScript ("Command Syntax", ``GCOS_syntax``): a command
name and its arguments are separated by exactly one space; an argumentless command is followed
by two spaces, the end of the line or a closing brace; commands are separated by whitespace;
an expression contains no whitespace (``Write 1 + 2`` is a ``<SYNTAX>`` error).

Errors: :class:`ParseError` (an :class:`~.runtime.IrisError` ``<SYNTAX>``) for text IRIS rejects,
and ``<UNIMPLEMENTED>`` for valid ObjectScript this simulator does not run (globals, routines,
``$$`` extrinsics, ``New``, ``Xecute``...): rejecting it is stricter than IRIS, never more
forgiving.  ``pos`` is the column of the command that holds the error (where the caret goes).

Nodes are tuples, first element the kind:

* expressions: ``("num", n)``, ``("str", s)``, ``("var", name, [subscript exprs])``,
  ``("un", op, e)``, ``("bin", op, l, r)``, ``("func", NAME, args)``, ``("special", NAME)``,
  ``("classmeth", class, method, args)``, ``("prop", obj, name)``, ``("meth", obj, name, args)``,
  ``("json", value)`` where value is ``("jobj", [(key, v)...])``, ``("jarr", [v...])``,
  ``("jstr", s)``, ``("jnum", text)``, ``("jconst", "true"|"false"|"null")`` or ``("expr", e)``;
  call arguments may also be ``("byref", name)`` and ``("omitted",)``.
* commands: :class:`Cmd` with ``kind`` (canonical upper-case name) and fields in ``a``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import re
from typing import Any

from .runtime import IrisError

__all__ = [
    "ParseError", "Cmd", "COMMANDS", "UNSIMULATED_COMMANDS", "BINOPS", "FUNCTIONS",
    "UNSIMULATED_FUNCTIONS", "SPECIALS", "UNSIMULATED_SPECIALS", "parse_line", "parse_entry",
]


class ParseError(IrisError):
    """A syntax error; ``pos`` is the column of the command that holds it."""

    def __init__(self, pos: int, code: str = "SYNTAX", detail: str = "") -> None:
        super().__init__(code, detail)
        self.pos = pos


@dataclass
class Cmd:
    kind: str
    pos: int
    name_len: int
    postcond: Any = None
    a: dict = field(default_factory=dict)


# Command names: canonical -> accepted spellings (full name or IRIS abbreviation).
# Source: ObjectScript Reference, "Commands" (RCOS), each command's "Synopsis" abbreviation.
COMMANDS = {
    "SET": {"S", "SET"},
    "WRITE": {"W", "WRITE"},
    "DO": {"D", "DO"},
    "IF": {"I", "IF"},
    "ELSEIF": {"ELSEIF"},
    "ELSE": {"E", "ELSE"},
    "FOR": {"F", "FOR"},
    "WHILE": {"WHILE"},
    "QUIT": {"Q", "QUIT"},
    "CONTINUE": {"CONTINUE"},
    "KILL": {"K", "KILL"},
    "HALT": {"HALT"},
    "HANG": {"HANG"},
    "H": {"H"},  # Halt without argument, Hang with one
    "THROW": {"THROW"},
    "TRY": {"TRY"},
    "CATCH": {"CATCH"},
    "ZNSPACE": {"ZN", "ZNSPACE"},
    "XECUTE": {"X", "XECUTE"},
    "LOCK": {"L", "LOCK"},
    "TSTART": {"TS", "TSTART"},
    "TCOMMIT": {"TC", "TCOMMIT"},
    "TROLLBACK": {"TRO", "TROLLBACK"},
    "READ": {"R", "READ"},
}
_SPELLING = {s: canon for canon, spellings in COMMANDS.items() for s in spellings}

# Real IRIS commands that this simulator does not run (rejected as <UNIMPLEMENTED>).
UNSIMULATED_COMMANDS = {
    "B", "BREAK", "C", "CLOSE", "G", "GOTO", "J", "JOB", "M", "MERGE", "N", "NEW",
    "O", "OPEN", "RET", "RETURN", "U", "USE", "V", "VIEW", "ZW", "ZWRITE", "ZZDUMP", "ZZWRITE",
    "ZB", "ZBREAK", "ZL", "ZLOAD", "ZP", "ZPRINT", "ZS", "ZSAVE", "ZT", "ZTRAP", "ZK", "ZKILL",
    "P", "PRINT", "ZI", "ZINSERT", "ZR", "ZREMOVE",
}

# Binary operators, longest first.  ObjectScript has no precedence: strictly left to right.
BINOPS = [
    "']]", "**", "&&", "||", "]]", "'=", "'<", "'>", "'[", "']", "'&", "'!", "'?", "<=", ">=",
    "_", "+", "-", "*", "/", "\\", "#", "=", "<", ">", "&", "!", "[", "]", "?",
]

# Intrinsic functions: spelling -> canonical name (ObjectScript Reference, "Functions").
FUNCTIONS = {
    "GET": "GET", "G": "GET",
    "SELECT": "SELECT", "S": "SELECT",
    "PIECE": "PIECE", "P": "PIECE",
    "LENGTH": "LENGTH", "L": "LENGTH",
    "EXTRACT": "EXTRACT", "E": "EXTRACT",
    "DATA": "DATA", "D": "DATA",
    "CASE": "CASE",
    "REPLACE": "REPLACE",
    "ORDER": "ORDER", "O": "ORDER",
    "FIND": "FIND", "F": "FIND",
    "CHAR": "CHAR", "C": "CHAR",
    "ASCII": "ASCII", "A": "ASCII",
    "TRANSLATE": "TRANSLATE", "TR": "TRANSLATE",
    "ZCONVERT": "ZCONVERT", "ZCVT": "ZCONVERT",
    "ISOBJECT": "ISOBJECT",
    "CLASSMETHOD": "CLASSMETHOD",
    "PROPERTY": "PROPERTY",
    "JUSTIFY": "JUSTIFY", "J": "JUSTIFY",
}
# Real functions this simulator does not implement (rejected as <UNIMPLEMENTED>).
UNSIMULATED_FUNCTIONS = {
    "LISTBUILD", "LB", "LIST", "LI", "LISTLENGTH", "LL", "LISTGET", "LG", "INCREMENT", "I",
    "QUERY", "Q", "NAME", "NA", "NUMBER", "NUM", "FNUMBER", "FN", "RANDOM", "R", "TEXT", "T",
    "VIEW", "V", "ZSTRIP", "ZDATE", "ZD", "ZDATETIME", "ZDT", "ZTIME", "ZT", "ZDATEH", "ZDH",
    "METHOD", "CLASSNAME", "PARAMETER", "BIT", "DOUBLE", "DECIMAL", "NORMALIZE", "INUMBER",
    "LISTFIND", "LF", "LISTNEXT", "LISTSAME", "LISTVALID", "LISTDATA", "LD", "LISTFROMSTRING",
    "LFS", "LISTTOSTRING", "LTS", "ZSEARCH", "ZUTIL", "ZU", "XECUTE", "ZABS", "ZSQR", "ZPOWER",
    "ZLOG", "ZEXP", "ZHEX", "ZH", "ZNAME", "ZWASCII", "ZWCHAR", "ZWPACK", "ZWUNPACK", "ZCRC",
    "ZPOSITION", "ZSTRIP", "WASCII", "WCHAR", "WEXTRACT", "WFIND", "WLENGTH", "WREVERSE",
    "REVERSE", "RE", "STACK", "ST", "SORTBEGIN", "SORTEND", "PREFETCHON", "PREFETCHOFF",
    "QLENGTH", "QL", "QSUBSCRIPT", "QS", "ZBOOLEAN", "ZB", "ZOBJCLASSMETHOD", "ZOBJPROPERTY",
}

# Special variables: spelling -> canonical name.
SPECIALS = {
    "ZVERSION": "ZVERSION", "ZV": "ZVERSION",
    "JOB": "JOB", "J": "JOB",
    "NAMESPACE": "NAMESPACE",
    "ZNSPACE": "NAMESPACE",
    "ZERROR": "ZERROR", "ZE": "ZERROR",
    "HOROLOG": "HOROLOG", "H": "HOROLOG",
    "ZTIMESTAMP": "ZTIMESTAMP", "ZTS": "ZTIMESTAMP",
    "TLEVEL": "TLEVEL", "TL": "TLEVEL",
    "USERNAME": "USERNAME",
    "TEST": "TEST", "T": "TEST",
    "X": "X", "Y": "Y",
    "ZEOF": "ZEOF",
    "ZHOROLOG": "ZHOROLOG", "ZH": "ZHOROLOG",
}
UNSIMULATED_SPECIALS = {
    "ECODE", "EC", "ESTACK", "ES", "ETRAP", "ET", "IO", "KEY", "K", "PRINCIPAL", "P", "QUIT", "Q",
    "ROLES", "STACK", "ST", "STORAGE", "S", "SYSTEM", "THIS", "ZA", "ZB", "ZCHILD", "ZC",
    "ZEOS", "ZIO", "ZJOB", "ZJ", "ZMODE", "ZM", "ZNAME", "ZN", "ZORDER", "ZO",
    "ZPARENT", "ZP", "ZPI", "ZPOS", "ZREFERENCE", "ZR", "ZSTORAGE", "ZS", "ZTIMEZONE", "ZTZ",
    "ZTRAP", "ZT", "DEVICE", "D", "HALT", "ZU",
}


_GLOBAL_NAME = re.compile(r"%?[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*")
_ROUTINE_REF = re.compile(r"\^|[%A-Za-z][A-Za-z0-9]*(\+\d+)?\^")


def _is_name_start(c: str) -> bool:
    return c.isalpha() or c == "%"


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.cmd_pos = 0

    # -- helpers ------------------------------------------------------------------------------
    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def at_end(self) -> bool:
        return self.i >= len(self.s)

    def err(self, code: str = "SYNTAX", detail: str = "") -> ParseError:
        return ParseError(self.cmd_pos, code, detail)

    def unsimulated(self, what: str) -> ParseError:
        return ParseError(self.cmd_pos, "UNIMPLEMENTED", f"*simulator does not run {what}")

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise self.err()
        self.i += 1

    def skip_ws(self) -> None:
        while self.peek() in (" ", "\t") and not self.at_end():
            self.i += 1

    def word(self) -> str:
        j = self.i
        while self.peek().isalpha():
            self.i += 1
        return self.s[j:self.i]

    def name(self) -> str:
        """A local-variable / property / method name: letter or % first, then alphanumerics."""
        j = self.i
        if not _is_name_start(self.peek()):
            raise self.err()
        self.i += 1
        while self.peek().isalnum():
            self.i += 1
        return self.s[j:self.i]

    # -- lines and commands --------------------------------------------------------------------
    def line(self) -> list[Cmd]:
        self.skip_ws()
        cmds = self.commands(in_block=False)
        if not self.at_end():
            raise self.err()
        return cmds

    def commands(self, in_block: bool) -> list[Cmd]:
        cmds: list[Cmd] = []
        while True:
            self.skip_ws()
            if self.at_end() or (in_block and self.peek() == "}"):
                return cmds
            if self.peek() == ";" or self.s.startswith("//", self.i):
                if in_block:  # a comment runs to the end of the line: the block never closes
                    self.cmd_pos = self.i
                    raise self.err()
                self.i = len(self.s)
                return cmds
            before = self.i
            cmds.append(self.command(in_block))
            if self.at_end() or (in_block and self.peek() == "}"):
                continue
            if self.peek() not in (" ", "\t"):
                # commands must be separated by whitespace; a block command may be followed
                # directly by the next one only after its closing brace
                if self.s[self.i - 1] != "}" or self.i == before:
                    raise self.err()

    def has_args(self) -> bool:
        """After a command name (and postconditional): one space then a non-space argument."""
        if self.peek() != " ":
            return False
        nxt = self.peek(1)
        return nxt not in ("", " ", "\t", "}", "{")

    def command(self, in_block: bool) -> Cmd:
        start = self.i
        self.cmd_pos = start
        word = self.word()
        if not word:
            raise self.err()
        upper = word.upper()
        kind = _SPELLING.get(upper)
        if kind is None:
            if upper in UNSIMULATED_COMMANDS:
                raise self.unsimulated(f"the {upper} command")
            raise self.err()
        cmd = Cmd(kind, start, len(word))
        if self.peek() == ":":
            if kind in ("IF", "ELSEIF", "ELSE", "FOR", "WHILE", "TRY", "CATCH"):
                raise self.err()
            self.i += 1
            cmd.postcond = self.expr()
        if kind == "H":
            kind = cmd.kind = "HANG" if self.has_args() else "HALT"
        handler = getattr(self, "cmd_" + kind.lower())
        handler(cmd, in_block)
        return cmd

    def block(self) -> list[Cmd]:
        self.skip_ws()
        self.expect("{")
        body = self.commands(in_block=True)
        self.expect("}")
        return body

    def rest_of_line(self, in_block: bool) -> list[Cmd]:
        """Legacy (line-oriented) scope of If/For without braces: the rest of the line."""
        return self.commands(in_block)

    def require_args(self) -> None:
        if not self.has_args():
            raise self.err()
        self.i += 1

    def cmd_set(self, cmd: Cmd, in_block: bool) -> None:
        self.require_args()
        pairs = []
        while True:
            targets = []
            if self.peek() == "(":
                self.i += 1
                while True:
                    targets.append(self.lvalue(allow_special=True))
                    if self.peek() == ",":
                        self.i += 1
                        continue
                    self.expect(")")
                    break
            else:
                targets.append(self.lvalue(allow_special=True))
            self.expect("=")
            pairs.append((targets, self.expr()))
            if self.peek() != ",":
                break
            self.i += 1
        cmd.a["pairs"] = pairs

    def lvalue(self, allow_special: bool = False) -> tuple:
        if self.peek() == "$":
            j = self.i
            self.i += 1
            w = self.word().upper()
            if allow_special and w in ("NAMESPACE", "ZNSPACE") and self.peek() != "(":
                return ("special", "NAMESPACE")
            if w in FUNCTIONS or w in UNSIMULATED_FUNCTIONS or w in SPECIALS or w in UNSIMULATED_SPECIALS:
                self.i = j
                raise self.unsimulated(f"SET ${w}")
            raise self.err()
        if self.peek() == "^":
            raise self.unsimulated("globals")
        e = self.postfix(self.primary())
        if e[0] in ("var", "prop"):
            return e
        raise self.err()

    def cmd_write(self, cmd: Cmd, in_block: bool) -> None:
        if not self.has_args():
            raise self.unsimulated("argumentless WRITE")
        self.i += 1
        items = []
        while True:
            c = self.peek()
            if c in ("!", "#") and not self.s.startswith("##", self.i):
                while self.peek() in ("!", "#") and not self.s.startswith("##", self.i):
                    items.append(("nl",) if self.peek() == "!" else ("ff",))
                    self.i += 1
                if self.peek() == "?":
                    self.i += 1
                    items.append(("tab", self.operand()))
            elif c == "?":
                self.i += 1
                items.append(("tab", self.operand()))
            elif c == "*":
                self.i += 1
                items.append(("char", self.expr()))
            elif c == "/":
                raise self.unsimulated("WRITE /mnemonic")
            else:
                items.append(("expr", self.expr()))
            if self.peek() != ",":
                break
            self.i += 1
        cmd.a["items"] = items

    def cmd_do(self, cmd: Cmd, in_block: bool) -> None:
        if not self.has_args():
            # argumentless DO: only the block form  Do { ... } While cond
            self.skip_ws()
            if self.peek() != "{":
                raise self.err()
            cmd.kind = "DOWHILE"
            cmd.a["body"] = self.block()
            self.skip_ws()
            j = self.i
            w = self.word().upper()
            if w not in ("WHILE",) or not self.has_args():
                self.i = j
                raise self.err()
            self.i += 1
            cmd.a["cond"] = self.expr()
            return
        self.i += 1
        calls = []
        while True:
            if _ROUTINE_REF.match(self.s, self.i):
                raise self.unsimulated("routines")
            e = self.postfix(self.primary())
            if e[0] not in ("classmeth", "meth"):
                if e[0] == "var" and not e[2]:
                    raise self.unsimulated("DO label")
                raise self.err()
            pc = None
            if self.peek() == ":":
                self.i += 1
                pc = self.expr()
            calls.append((e, pc))
            if self.peek() != ",":
                break
            self.i += 1
        cmd.a["calls"] = calls

    def cond_list(self) -> list:
        conds = [self.expr()]
        while self.peek() == ",":
            self.i += 1
            conds.append(self.expr())
        return conds

    def cmd_if(self, cmd: Cmd, in_block: bool) -> None:
        if not self.has_args():
            raise self.err()  # argumentless IF is legacy $TEST syntax; not simulated
        self.i += 1
        conds = self.cond_list()
        save = self.i
        self.skip_ws()
        if self.peek() != "{":
            # legacy form: the rest of the line runs if the conditions hold
            self.i = save
            cmd.kind = "LEGACYIF"
            cmd.a["conds"] = conds
            if self.at_end() or (in_block and self.peek() == "}"):
                cmd.a["body"] = []
            else:
                if self.peek() not in (" ", "\t"):
                    raise self.err()
                cmd.a["body"] = self.rest_of_line(in_block)
            return
        branches = [(conds, self.block())]
        else_body = None
        while True:
            save = self.i
            self.skip_ws()
            j = self.i
            w = self.word().upper()
            if w == "ELSEIF":
                self.cmd_pos = j
                self.require_args()
                c = self.cond_list()
                branches.append((c, self.block()))
                continue
            if w in ("ELSE", "E"):
                self.cmd_pos = j
                self.skip_ws()
                if self.peek() != "{":
                    raise self.unsimulated("legacy ELSE")
                else_body = self.block()
            else:
                self.i = save
            break
        cmd.a["branches"] = branches
        cmd.a["else"] = else_body

    def cmd_elseif(self, cmd: Cmd, in_block: bool) -> None:
        raise self.err()  # only valid right after an If block

    def cmd_else(self, cmd: Cmd, in_block: bool) -> None:
        self.skip_ws()
        if self.peek() == "{":
            raise self.err()  # a block Else that follows no If block
        raise self.unsimulated("legacy ELSE")

    def cmd_for(self, cmd: Cmd, in_block: bool) -> None:
        if self.has_args():
            self.i += 1
            var = self.postfix(self.primary())
            if var[0] != "var":
                raise self.err()
            self.expect("=")
            specs = []
            while True:
                start = self.expr()
                if self.peek() == ":":
                    self.i += 1
                    inc = self.expr()
                    end = None
                    if self.peek() == ":":
                        self.i += 1
                        end = self.expr()
                    specs.append(("range", start, inc, end))
                else:
                    specs.append(("value", start))
                if self.peek() != ",":
                    break
                self.i += 1
            cmd.a["var"], cmd.a["specs"] = var, specs
        else:
            cmd.a["var"], cmd.a["specs"] = None, None
        save = self.i
        self.skip_ws()
        if self.peek() == "{":
            cmd.a["body"] = self.block()
        else:
            self.i = save
            if cmd.a["var"] is None:
                if not self.s.startswith("  ", self.i):
                    raise self.err()
            elif self.peek() not in (" ", "\t"):
                raise self.err()
            cmd.a["body"] = self.rest_of_line(in_block)

    def cmd_while(self, cmd: Cmd, in_block: bool) -> None:
        self.require_args()
        cmd.a["cond"] = self.cond_list()
        cmd.a["body"] = self.block()

    def cmd_quit(self, cmd: Cmd, in_block: bool) -> None:
        cmd.a["expr"] = None
        if self.has_args():
            self.i += 1
            cmd.a["expr"] = self.expr()

    def cmd_continue(self, cmd: Cmd, in_block: bool) -> None:
        if self.has_args():
            raise self.err()

    def cmd_kill(self, cmd: Cmd, in_block: bool) -> None:
        if not self.has_args():
            cmd.a["targets"] = None
            return
        self.i += 1
        if self.peek() == "(":
            raise self.unsimulated("exclusive KILL")
        targets = []
        while True:
            if self.peek() == "^":
                raise self.unsimulated("globals")
            t = self.postfix(self.primary())
            if t[0] != "var":
                raise self.err()
            targets.append(t)
            if self.peek() != ",":
                break
            self.i += 1
        cmd.a["targets"] = targets

    def cmd_halt(self, cmd: Cmd, in_block: bool) -> None:
        if self.has_args():
            raise self.err()

    def cmd_tstart(self, cmd: Cmd, in_block: bool) -> None:
        """Argumentless ``TSTART`` only (RCOS TSTART): the ``(vars):(...)`` forms are not run."""
        if self.has_args():
            raise self.unsimulated("TSTART with arguments")

    def cmd_tcommit(self, cmd: Cmd, in_block: bool) -> None:
        if self.has_args():
            raise self.err()  # TCOMMIT takes no argument (RCOS TCOMMIT)

    def cmd_trollback(self, cmd: Cmd, in_block: bool) -> None:
        """``TROLLBACK`` (every level) or ``TROLLBACK 1`` (the innermost), RCOS TROLLBACK."""
        cmd.a["one"] = False
        if self.has_args():
            self.i += 1
            if self.peek() != "1" or self.peek(1) not in ("", " ", "\t", "}"):
                raise self.err()
            self.i += 1
            cmd.a["one"] = True

    def cmd_read(self, cmd: Cmd, in_block: bool) -> None:
        """``Read var`` and ``Read var:timeout`` (RCOS READ); prompts, formats, ``*var`` and
        ``var#n`` are not run."""
        self.require_args()
        c = self.peek()
        if c in ("!", "#", "?", "*", '"'):
            raise self.unsimulated("READ with prompts, formats or single characters")
        target = self.postfix(self.primary())
        if target[0] != "var":
            raise self.err()
        if self.peek() == "#":
            raise self.unsimulated("READ var#length")
        timeout = None
        if self.peek() == ":":
            self.i += 1
            timeout = self.expr()
        if self.peek() == ",":
            raise self.unsimulated("READ of several variables")
        cmd.a["var"], cmd.a["timeout"] = target, timeout

    def cmd_hang(self, cmd: Cmd, in_block: bool) -> None:
        self.require_args()
        cmd.a["expr"] = self.expr()

    def cmd_xecute(self, cmd: Cmd, in_block: bool) -> None:
        """``Xecute expr[:postcond],...``: each argument is a line of code run as its own frame."""
        self.require_args()
        items = []
        while True:
            expr = self.expr()
            cond = None
            if self.peek() == ":":
                self.i += 1
                cond = self.expr()
            items.append((expr, cond))
            if self.peek() != ",":
                break
            self.i += 1
        cmd.a["items"] = items

    def cmd_lock(self, cmd: Cmd, in_block: bool) -> None:
        """``Lock``, or ``Lock [+|-]^name(subs)[#"type"][:timeout],...`` (RCOS LOCK).  Lock
        names are globals here: local lock names, extended references and the ``(a,b)`` list
        form are ``<UNIMPLEMENTED>``."""
        if not self.has_args():
            cmd.a["items"] = None
            return
        self.i += 1
        items = []
        while True:
            op = self.peek() if self.peek() in ("+", "-") else ""
            self.i += len(op)
            if self.peek() == "(":
                raise self.unsimulated("LOCK of a list of names")
            if self.peek() != "^":
                raise self.unsimulated("local lock names")
            self.i += 1
            found = _GLOBAL_NAME.match(self.s, self.i)
            if found is None:
                raise self.unsimulated("extended global references") if self.peek() in ("|", "[") else self.err()
            self.i = found.end()
            subs = self.args() if self.peek() == "(" else []
            locktype = timeout = None
            if self.peek() == "#":
                self.i += 1
                locktype = self.operand()
            if self.peek() == ":":
                self.i += 1
                timeout = self.expr()
            items.append({"op": op, "name": "^" + found.group(0), "subs": subs, "type": locktype, "timeout": timeout})
            if self.peek() != ",":
                break
            self.i += 1
        cmd.a["items"] = items

    def cmd_throw(self, cmd: Cmd, in_block: bool) -> None:
        self.require_args()
        cmd.a["expr"] = self.expr()

    def cmd_znspace(self, cmd: Cmd, in_block: bool) -> None:
        self.require_args()
        cmd.a["expr"] = self.expr()

    def cmd_try(self, cmd: Cmd, in_block: bool) -> None:
        if self.has_args():
            raise self.err()
        cmd.a["body"] = self.block()
        self.skip_ws()
        j = self.i
        self.cmd_pos = j
        if self.word().upper() != "CATCH":
            raise self.err()  # Try must be followed by Catch
        var = None
        if self.has_args():
            self.i += 1
            var = self.name()
        cmd.a["var"] = var
        cmd.a["catch"] = self.block()

    def cmd_catch(self, cmd: Cmd, in_block: bool) -> None:
        raise self.err()  # Catch without Try

    # -- expressions --------------------------------------------------------------------------
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
        if _is_name_start(c):
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
        while self.peek() == "." and (_is_name_start(self.peek(1))):
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
            elif c == "." and _is_name_start(self.peek(1)):
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


def parse_line(text: str) -> list[Cmd]:
    """Compile one terminal input line; raises :class:`ParseError`."""
    return _Parser(text).line()


def parse_entry(text: str) -> tuple:
    """Parse the single-call argument of ``iris session IRIS "##class(X).M()"`` as a DO argument."""
    p = _Parser(text)
    if _ROUTINE_REF.match(text):
        raise p.unsimulated("routines")
    e = p.postfix(p.primary())
    if not p.at_end() or e[0] not in ("classmeth", "meth"):
        raise p.err()
    return e
