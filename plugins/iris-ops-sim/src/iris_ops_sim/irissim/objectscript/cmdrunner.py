"""Runs the commands that hold no other commands: SET, WRITE, KILL, LOCK, READ, HANG and the rest.

The commands that hold commands or leave them (If, For, While, Do, Xecute, Try, Quit) are
:mod:`.interpreter`'s.
"""

from __future__ import annotations

import time

from . import locking, transactions
from .cmdparser import Cmd
from .evaluator import Evaluator
from .runtime import TIMED_OUT, ByRef, Halt, IrisError
from .values import subscript, to_num, to_str

#: The longest a signal waits for its handler during a ``Hang`` (seconds).
HANG_SLICE = 0.25


def hang(seconds: float) -> None:
    """``Hang``: sleep in slices of at most :data:`HANG_SLICE`.  Python runs a signal's handler
    only between bytecodes, so a SIGTERM (``$SYSTEM.Process.Terminate``) that came just before
    one long sleep began would end the session only when the whole ``Hang`` had run out."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(HANG_SLICE, left))


TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CommandRunner"]


class CommandRunner(Evaluator):
    """``x_<kind>`` runs a parsed :class:`~.cmdparser.Cmd` of that kind."""

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
            hang(float(seconds))
