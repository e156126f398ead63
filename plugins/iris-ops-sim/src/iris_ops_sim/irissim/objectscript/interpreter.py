"""Runs parsed ObjectScript lines (see :mod:`.parser`) for one simulated process: lines, blocks, control flow.

Semantics follow the ObjectScript reference (``RCOS``) and guide (``GCOS``):

* ``Quit`` leaves the innermost ``For`` / ``While`` / ``Do-While`` loop or ``Try`` / ``Catch``
  block (QUIT, "Quit in a loop or Try block"); at the prompt it ends the line (and, as at a real
  prompt, removes frames left by an earlier error); ``Quit expr`` inside a loop is ``<COMMAND>``;
* a ``Try`` block catches ObjectScript errors (as ``%Exception.SystemException``) and thrown
  exceptions; ``$ZERROR`` is set for every error, caught or not.

Expressions are :mod:`.evaluator`'s, the other commands :mod:`.cmdrunner`'s.  Everything outside
the subset fails loudly (``<SYNTAX>`` or ``<UNIMPLEMENTED>``).
"""

from __future__ import annotations

from .cmdparser import Cmd
from .cmdrunner import CommandRunner
from .libexceptions import ExceptionObject, SystemExceptionObject
from .parser import parse_line
from .runtime import ByRef, IrisError, SimObject, ThrownException
from .values import arith, to_num, to_str, truth

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["QuitSignal", "ContinueSignal", "Interpreter"]


class QuitSignal(Exception):
    def __init__(self, value: Any = None, has_value: bool = False) -> None:
        super().__init__()
        self.value = value
        self.has_value = has_value


class ContinueSignal(Exception):
    pass


class Interpreter(CommandRunner):
    """Local variables and command execution for one :class:`~.runtime.Process`."""

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
        # [DOC RCOS_CIF_LEGACY] "The new version of IF does not use the $TEST special variable":
        # the block-structured IF leaves $TEST as it was (only the legacy IF sets it).
        for conds, body in cmd.a["branches"]:
            if self.all_true(conds):
                self.block(body)
                return
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
        if isinstance(value, SystemExceptionObject):
            raise value.as_error()
        if not isinstance(value, ExceptionObject):
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
            exc: SimObject = SystemExceptionObject.from_error(e)
        except ThrownException as t:
            exc = t.oref
        if cmd.a["var"] is not None:
            self.locals[cmd.a["var"]] = ByRef(exc)
        try:
            self.block(cmd.a["catch"])
        except QuitSignal as q:
            self._loop_quit(q)
