"""Reads one line of ObjectScript character by character for the parsers: position, words, names, errors.

:class:`Scanner` is the base of :class:`.exprparser.ExpressionParser`; its errors are
:class:`ParseError` (``<SYNTAX>``) and ``<UNIMPLEMENTED>`` for what the simulator does not run.
"""

from __future__ import annotations

from .runtime import IrisError

__all__ = ["ParseError", "Scanner", "is_name_start"]


class ParseError(IrisError):
    """A syntax error; ``pos`` is the column of the command that holds it."""

    def __init__(self, pos: int, code: str = "SYNTAX", detail: str = "") -> None:
        super().__init__(code, detail)
        self.pos = pos


def is_name_start(c: str) -> bool:
    return c.isalpha() or c == "%"


class Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.cmd_pos = 0

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
        if not is_name_start(self.peek()):
            raise self.err()
        self.i += 1
        while self.peek().isalnum():
            self.i += 1
        return self.s[j:self.i]
