"""Parses one terminal line of the simulated ObjectScript subset: its commands, blocks and control flow.

One terminal input line is one compilation unit: :func:`parse_line` turns the whole line into
a list of command nodes *before* anything runs, so a syntax error anywhere means nothing on
that line runs (as on IRIS, which compiles the line first).

Whitespace is significant, as in ObjectScript ("Command Syntax", ``GCOS_syntax``): a command
name and its arguments are separated by exactly one space; an argumentless command is followed
by two spaces, the end of the line or a closing brace; commands are separated by whitespace;
an expression contains no whitespace (``Write 1 + 2`` is a ``<SYNTAX>`` error).

Errors: :class:`~.scanner.ParseError` (an :class:`~.runtime.IrisError` ``<SYNTAX>``) for text IRIS rejects,
and ``<UNIMPLEMENTED>`` for valid ObjectScript this simulator does not run (globals, routines,
``$$`` extrinsics, ``New``...): rejecting it is stricter than IRIS, never more
forgiving.  ``pos`` is the column of the command that holds the error (where the caret goes).

The work is shared out: :mod:`.scanner` reads the characters, :mod:`.vocabulary` holds the
names, :mod:`.exprparser` parses expressions (its docstring lists the expression nodes) and
:mod:`.cmdparser` the commands that hold no other commands.  This module parses the line, the
``{ }`` blocks and the commands that hold commands or leave them (If, For, While, Do, Try, Quit,
Continue).  A command node is a :class:`~.cmdparser.Cmd` with ``kind`` (canonical upper-case
name) and fields in ``a``.
"""

from __future__ import annotations

import re

from .cmdparser import Cmd, CommandParser
from .vocabulary import COMMANDS, UNSIMULATED_COMMANDS

__all__ = ["parse_line", "parse_entry"]

_SPELLING = {s: canon for canon, spellings in COMMANDS.items() for s in spellings}
_ROUTINE_REF = re.compile(r"\^|[%A-Za-z][A-Za-z0-9]*(\+\d+)?\^")


class _Parser(CommandParser):
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
