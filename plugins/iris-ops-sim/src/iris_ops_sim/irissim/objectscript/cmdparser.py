"""Parses the commands that hold no other commands: SET, WRITE, KILL, LOCK, READ, XECUTE and the rest.

Each ``cmd_<name>`` method fills the fields of its :class:`Cmd` node; the commands that hold
commands (If, For, While, Do, Try) are :mod:`.parser`'s.
"""

from __future__ import annotations

import re

from .exprparser import ExpressionParser
from .vocabulary import FUNCTIONS, SPECIALS, UNSIMULATED_FUNCTIONS, UNSIMULATED_SPECIALS

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Cmd", "CommandParser"]


class Cmd:
    """One parsed command: ``kind`` (canonical upper-case name), its column, the length of its name
    as written, its postconditional and its fields in ``a``."""

    # A plain class, not a dataclass: every session parses, and dataclasses costs each session
    # process the import of inspect.
    def __init__(self, kind: str, pos: int, name_len: int, postcond: Any = None, a: dict | None = None) -> None:
        self.kind = kind
        self.pos = pos
        self.name_len = name_len
        self.postcond = postcond
        self.a = {} if a is None else a

    def __repr__(self) -> str:
        return f"Cmd({self.kind!r}, {self.pos!r}, {self.name_len!r}, {self.postcond!r}, {self.a!r})"


_GLOBAL_NAME = re.compile(r"%?[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*")


class CommandParser(ExpressionParser):
    def has_args(self) -> bool:
        """After a command name (and postconditional): one space then a non-space argument."""
        if self.peek() != " ":
            return False
        nxt = self.peek(1)
        return nxt not in ("", " ", "\t", "}", "{")

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
