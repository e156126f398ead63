"""Finding a HALT command in a line of ObjectScript, read as IRIS reads it, for `run`'s refusal.

`run` executes each line inside a frame that reports the result after the last one; a HALT
ends the session before that report, and every line after it with it.  So `run` refuses a
line holding one.  What counts (ObjectScript reference: HALT, HANG, and the command syntax):

* the command word ``HALT`` or its abbreviation ``H``, in any case, in a command's place: at
  the start of the line, after an argumentless command and its two spaces, after the last
  argument of a command and a space, or inside ``{ }``;
* with or without a postconditional (``H:x``): when it is true the session ends;
* ``H`` followed by one space and an argument is ``HANG``, not HALT.

Not a HALT: the word inside a string literal or a comment (``;``, ``//``, ``/* */``, ``#;``),
a variable, label or property named ``halt`` or ``h`` (``Set halt=1``, ``Write h``, ``obj.Halt``),
``$HALT``, ``Hang``.  A HALT reached at run time through ``Xecute``, indirection or a called
routine cannot be seen in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["HALT_WORDS", "Token", "HaltCommand", "tokens", "find_halt"]

HALT_WORDS = frozenset({"h", "halt"})

_TOKEN = re.compile(r"""
    (?P<comment> ;.* | //.* | \#\#?;.* )
  | (?P<block> /\*.*?(?:\*/|$) )
  | (?P<string> "(?:[^"]|"")*"? )
  | (?P<name> (?:\#\#class|\$\$?\^?|\^|\.\.|@)[A-Za-z0-9%.]* )
  | (?P<word> [A-Za-z%][A-Za-z0-9%]*(?:\.%?[A-Za-z0-9]+)* )
  | (?P<number> \d*\.?\d+(?:[Ee][+-]?\d+)? )
  | (?P<open> \( ) | (?P<close> \) ) | (?P<comma> , ) | (?P<colon> : ) | (?P<brace> [{}] )
  | (?P<op> . )
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    column: int  # 1-based
    gap: int  # whitespace characters before it


@dataclass(frozen=True)
class HaltCommand:
    column: int
    text: str  # the command as written, postconditional included


def tokens(line: str) -> list[Token]:
    found, gap, at = [], 0, 0
    while at < len(line):
        if line[at] in " \t":
            gap, at = gap + 1, at + 1
            continue
        match = _TOKEN.match(line, at)
        assert match is not None  # the last alternative takes any character
        if match.lastgroup == "block":  # a comment between tokens separates them like a space
            gap, at = gap + 1, match.end()
            continue
        found.append(Token(match.lastgroup, match.group(), at + 1, gap))
        gap, at = 0, match.end()
    return found


def find_halt(line: str) -> HaltCommand | None:
    """The first HALT command of ``line`` (see the module's rules), or None."""
    toks = tokens(line)
    i = 0
    while i < len(toks):
        # A command's place.  Block braces and legacy dot levels lead to one.
        tok = toks[i]
        if tok.kind == "brace" or tok.text == ".":
            i += 1
            continue
        if tok.kind != "word":  # a comment, or not ObjectScript IRIS could compile: nothing runs
            return None
        command, i = tok, i + 1
        if i < len(toks) and toks[i].kind == "colon" and toks[i].gap == 0:
            i = _skip_expression(toks, i + 1)  # the postconditional ends at the first space
        argumentless = i == len(toks) or toks[i].gap >= 2 or toks[i].kind in ("comment", "brace")
        if not argumentless:
            i = _skip_arguments(toks, i)
        elif command.text.lower() in HALT_WORDS:
            last = toks[i - 1]
            return HaltCommand(command.column, line[command.column - 1:last.column - 1 + len(last.text)])
    return None


def _skip_expression(toks: list[Token], i: int) -> int:
    depth = 0
    while i < len(toks) and not (depth == 0 and (toks[i].gap or toks[i].kind in ("comment", "brace"))):
        depth += {"open": 1, "close": -1}.get(toks[i].kind, 0)
        i += 1
    return i


def _skip_arguments(toks: list[Token], i: int) -> int:
    """Past a command's arguments: they end, outside parentheses, at a brace, a comment, or a
    space followed by a word when what precedes the space completes an operand (IRIS allows
    spaces around operators, so ``Set x = y`` is one argument)."""
    depth, complete, format_place = 0, False, True
    while i < len(toks):
        tok = toks[i]
        if depth == 0 and (tok.kind in ("comment", "brace") or (tok.gap and complete and tok.kind == "word")):
            return i
        if tok.kind == "open":
            depth, complete = depth + 1, False
        elif tok.kind == "close":
            depth, complete = max(depth - 1, 0), True
        elif tok.kind in ("word", "name", "string", "number"):
            complete = True
        elif tok.kind == "op" and tok.text in "!#" and format_place:
            complete = True  # WRITE's format controls (`Write !,x`, `Write !!`, `Write #`)
        else:
            complete = False
        format_place = tok.kind == "comma" or (tok.kind == "op" and tok.text in "!#" and format_place)
        i += 1
    return i
