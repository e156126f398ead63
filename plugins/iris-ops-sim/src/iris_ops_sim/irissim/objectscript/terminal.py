"""The simulated ``iris`` command: ``iris session`` (the ObjectScript terminal) and ``iris qlist``.

What the output looks like, and where that comes from:

* Banner ``\\nNode: <host>, Instance: <NAME>\\n``, written before any input is read.
* Each prompt is ``\\n`` + ``USER>`` (``TL1:USER>`` inside a transaction, ``USER 2d0>`` after an
  error left frames).  After a line is read its terminator is echoed as ``\\n``; the text itself
  is not echoed.  [CODE] public transcripts of ``iris session IRIS < script``: a line with no
  output shows ``USER>`` then a blank line before the next prompt, ``Write "x",!`` shows
  ``x`` then a blank line, and a Halt leaves ``%SYS>`` + newline.  Line ends are ``\\n``
  (whether IRIS writes ``\\r\\n`` on a non-terminal is [UNV]).
* An error outside Try: ``\\n`` + the source line + ``\\n`` + spaces and a caret under the
  command that failed + ``\\n`` + ``$ZERROR`` (no trailing newline; the next prompt starts with
  one).  [DOC] "Processing Errors at the Terminal Prompt" (legacy error processing guide), e.g.
  ``<UNDEFINED> *zzz``; the next line still runs and the exit status is unchanged.  The source
  line is shown as IRIS redisplays compiled code: leading blanks removed, command words in
  upper case ([CODE] public transcripts: typed ``write abc`` is shown as ``WRITE abc``).
  A ``<SYNTAX>`` line is shown as typed, caret under the command that holds the error [UNV].
* An error raised inside called class code (an :class:`IrisError` with a ``location``) leaves
  two frames, as a routine error does in the guide (``USER 2d0>``); argumentless ``Quit`` at the
  prompt removes them, ``Quit n`` removes ``n``.
* End of input before ``Halt``: [UNV] IRIS reads ``<ENDOFFILE>``; the simulator prints it and
  exits with status 1 (nonzero, so a script that forgot Halt never passes silently).
* ``-U`` with an unknown namespace: [UNV] prints ``<NAMESPACE>`` and exits 1.
* Without OS authentication: ``Username: `` / ``Password: `` prompts, checked against the
  instance's users (:func:`password_login`); a refused login prints ``Access Denied`` and exits
  with status 1.  [CODE] scripts piped to ``iris session`` answer both prompts with their first
  two lines.
* Single-call form ``iris session IRIS -U NS "entry"``: runs ``entry`` as a ``Do`` argument
  with :attr:`Process.argument_mode` set, no banner and no prompt; exit status 0 unless the code
  halts with a status.  An error there is displayed and gives exit status 1 [UNV, stricter].
"""

from __future__ import annotations

import os
import select
import time

from .. import variants
from . import transactions
from .cmdparser import Cmd
from .interpreter import ContinueSignal, Interpreter, QuitSignal
from .locking import release_everything
from .parser import parse_entry
from .runtime import TIMED_OUT, Halt, IrisError, Process, ThrownException
from .scanner import ParseError

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable

__all__ = [
    "USAGE", "display_line", "read_line", "password_login", "Session", "Instances", "iris_main", "LineInput",
]

USAGE = (
    "Usage: iris <command> [arguments]\n"
    "  iris session <instance> [-U <namespace>] [\"<entry>\"]\n"
    "  iris terminal <instance> [-U <namespace>] [\"<entry>\"]\n"
    "  iris qlist [<instance>]\n"
)


def _all_cmds(cmds: list[Cmd]) -> list[Cmd]:
    out = []
    for c in cmds:
        out.append(c)
        for key in ("body", "catch", "else"):
            sub = c.a.get(key)
            if isinstance(sub, list):
                out.extend(_all_cmds(sub))
        for _conds, body in c.a.get("branches", []) or []:
            out.extend(_all_cmds(body))
    return out


def display_line(text: str, cmds: list[Cmd] | None) -> tuple[str, int]:
    """The line as IRIS redisplays it, and the offset removed from the left."""
    stripped = text.lstrip(" \t")
    offset = len(text) - len(stripped)
    if cmds is None:
        return stripped, offset
    chars = list(text)
    for c in _all_cmds(cmds):
        chars[c.pos:c.pos + c.name_len] = list(text[c.pos:c.pos + c.name_len].upper())
    return "".join(chars)[offset:], offset


def _drain(fd: int) -> None:
    """Empty the non-blocking pipe ``fd``."""
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


class LineInput:
    """The principal device's input, a line at a time, with an optional timeout (what ``Read
    var:t`` needs).  On a real file descriptor it reads with ``os.read`` and ``select`` into its
    own buffer (a buffered reader would hide what it read ahead from ``select``); a stream
    without one (an in-memory test input) is read with ``readline``, never waiting.

    ``wake``: the reading end of the process's :func:`signal.set_wakeup_fd` pipe.  A waiting
    session must end when it is sent SIGTERM (``$SYSTEM.Process.Terminate``), but Python runs a
    signal's handler only between bytecodes: one that arrives after the last check and before
    ``read`` blocks would wait for the next input, forever at a prompt.  With ``wake``, the wait
    is a ``select`` on the input and on that pipe, which the signal has written to, however
    early it came."""

    def __init__(self, stream: BinaryIO, wake: int | None = None) -> None:
        self.stream = stream
        try:
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None
        self.wake = wake if self.fd is not None else None
        self.buffer = b""
        self.ended = False

    def _fill(self, deadline: float | None) -> bool:
        """Read more input; False when the deadline passed first."""
        if self.fd is None:
            chunk = self.stream.readline()
        else:
            if deadline is not None or self.wake is not None:
                watched = [self.fd] if self.wake is None else [self.fd, self.wake]
                while True:  # each turn lets a signal's handler run (a Halt leaves from here)
                    left = None if deadline is None else max(0.0, deadline - time.monotonic())
                    ready, _, _ = select.select(watched, [], [], left)
                    if not ready:
                        return False
                    if self.wake in ready:
                        _drain(self.wake)
                    if self.fd in ready:
                        break
            chunk = os.read(self.fd, 65536)
        if chunk:
            self.buffer += chunk
        else:
            self.ended = True
        return True

    def readline(self, timeout: float | None = None) -> Any:
        """One line without its terminator; None at the end of input; :data:`TIMED_OUT` when
        ``timeout`` seconds passed without a whole line."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer and not self.ended:
            if not self._fill(deadline):
                return TIMED_OUT
        if b"\n" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\n", 1)
        elif self.buffer:
            raw, self.buffer = self.buffer, b""
        else:
            return None
        text = raw.decode("utf-8", errors="replace")
        return text[:-1] if text.endswith("\r") else text


def read_line(stdin: Any) -> str | None:
    """One input line without its terminator; None at the end of input."""
    source = stdin if isinstance(stdin, LineInput) else LineInput(stdin)
    return source.readline()


def _answers(stdin: BinaryIO, out: Callable[[str], None], *prompts: str) -> list[str] | None:
    """The answers to login prompts, one input line each (not echoed); None at the end of input,
    after a new line."""
    answers = []
    for prompt in prompts:
        out(prompt)
        line = read_line(stdin)
        if line is None:
            out("\n")
            return None
        answers.append(line)
    return answers


def password_login(instance: Any, stdin: BinaryIO, out: Callable[[str], None]) -> str | None:
    """OS authentication off: ``Username:`` and ``Password:`` prompts (no input is echoed), checked
    against the instance's users.  The user's name, or None after
    ``Access Denied`` (or the end of input).  An instance without users (a test double) refuses
    every login.  [UNV] what IRIS does when the password must change: the simulator says
    ``Password change required`` and refuses the login; the variant ``password-change-prompt``
    asks for a new one (:func:`new_password_login`)."""
    answers = _answers(stdin, out, "\nUsername: ", "\nPassword: ")
    if answers is None:
        return None
    username, password = answers
    authenticate = getattr(instance, "authenticate", None)
    if authenticate is None:
        out("\nAccess Denied\n")
        return None
    try:
        return authenticate(username, password)
    except PermissionError as refused:  # security.LoginRefused: what the terminal prints
        if getattr(refused, "user", None) and variants.on(variants.PASSWORD_CHANGE_PROMPT):
            return new_password_login(instance, refused.user, stdin, out)
        out(f"\n{refused}\n")
        return None


def new_password_login(instance: Any, user: str, stdin: BinaryIO, out: Callable[[str], None]) -> str | None:
    """The variant ``password-change-prompt`` [UNV wording]: a login whose password must change
    asks for a new one twice (neither echoed) and goes on once it is set.  Whatever the client
    types next is taken as that password: a client that sends code after its two login lines
    would make its first two lines the user's password if they matched."""
    answers = _answers(stdin, out, "\nPassword change required\nNew password: ", "\nConfirm new password: ")
    if answers is None:
        return None
    first, second = answers
    if first != second:
        out("\nPasswords do not match\nAccess Denied\n")
        return None
    try:
        return instance.change_password_at_login(user, first)
    except PermissionError as refused:
        out(f"\n{refused}\n")
        return None


def _thrown_zerror(t: ThrownException) -> str:
    """[UNV] An uncaught Throw at the prompt: ``<THROW> *<class> <DisplayString>``."""
    oref = t.oref
    shown = oref.display_string() if hasattr(oref, "display_string") else ""
    return f"<THROW> *{oref.class_name} {shown}".rstrip()


class Session:
    """One ``iris session`` process: reads lines, runs them, writes the terminal output."""

    def __init__(self, instance: Any, namespace: str, stdin: Any, write: Callable[[bytes], None], user: str,
                 job: int | None = None) -> None:
        self.stdin = stdin if isinstance(stdin, LineInput) else LineInput(stdin)
        self.raw_write = write
        self.proc = Process(instance, namespace, self.out, user, job)
        self.proc.input = self.stdin
        self.interp = Interpreter(self.proc)
        self.frames = 0

    def out(self, text: str) -> None:
        if text:
            self.raw_write(text.encode("utf-8"))

    def readline(self) -> str | None:
        return read_line(self.stdin)

    def prompt(self) -> str:
        ns = self.proc.namespace
        tl = self.proc.in_transaction
        text = f"TL{tl}:{ns}" if tl else ns
        if self.frames:
            text += f" {self.frames}d0"
        return text + ">"

    def show_error(self, text: str, cmds: list[Cmd] | None, pos: int, zerror: str) -> None:
        shown, offset = display_line(text, cmds)
        col = max(pos - offset, 0)
        self.proc.write(f"\n{shown}\n{' ' * col}^\n{zerror}")

    def run_text(self, text: str) -> int | None:
        """Run one line; returns an exit status if the process ended."""
        interp = self.interp
        cmds: list[Cmd] | None = None
        try:
            from .parser import parse_line

            cmds = parse_line(text)
            interp.block(cmds)
        except ParseError as e:
            interp.note_error(e)
            self.show_error(text, None, e.pos, e.zerror)
        except IrisError as e:
            interp.note_error(e)
            self.show_error(text, cmds, getattr(e, "cmd_pos", 0) or 0, e.zerror)
            if e.location:
                self.frames += 2
        except ThrownException as t:
            zerror = _thrown_zerror(t)
            interp.zerror = zerror
            self.show_error(text, cmds, getattr(t, "cmd_pos", 0) or 0, zerror)
        except QuitSignal as q:
            if q.has_value:
                try:
                    n = int(float(str(q.value))) if str(q.value).strip() else 0
                except ValueError:
                    n = 0
                self.frames = max(0, self.frames - n)
            else:
                self.frames = 0
        except ContinueSignal:
            e = IrisError("COMMAND")
            interp.note_error(e)
            self.show_error(text, cmds, 0, e.zerror)
        except Halt as h:
            return h.exit_code
        return None

    def loop(self) -> int:
        while True:
            self.proc.write("\n" + self.prompt())
            line = self.readline()
            if line is None:
                self.proc.write("\n<ENDOFFILE>\n")
                return 1
            self.proc.write("\n")
            status = self.run_text(line)
            if status is not None:
                return status

    def run_entry(self, entry: str) -> int:
        self.proc.argument_mode = True
        try:
            node = parse_entry(entry)
            self.interp.run_call(node)
        except ParseError as e:
            self.interp.note_error(e)
            self.show_error(entry, None, 0, e.zerror)
            self.proc.write("\n")
            return 1
        except IrisError as e:
            self.interp.note_error(e)
            self.show_error(entry, None, 0, e.zerror)
            self.proc.write("\n")
            return 1
        except ThrownException as t:
            self.show_error(entry, None, 0, _thrown_zerror(t))
            self.proc.write("\n")
            return 1
        except Halt as h:
            return h.exit_code
        return 0


def _list_entry(inst: Any) -> str:
    """One instance as ``iris list`` shows it (the fields of its ``qlist`` line)."""
    f = inst.qlist_line().split("^")
    return (
        f"Configuration '{f[0]}'\n"
        f"\tdirectory:    {f[1]}\n\tversionid:    {f[2]}\n\tdatadir:      {f[12]}\n"
        f"\tconf file:    {f[4]}  (SuperServer port = {f[5]}, WebServer = {f[6]})\n"
        f"\tstatus:       {f[3]}\n\tstate:        {f[8]}\n\tproduct:      InterSystems {f[9]}\n"
    )


def _hostname(instance: Any) -> str:
    # os.uname() is what socket.gethostname() asks on POSIX, without importing socket (5 ms
    # of every session's start-up).
    return getattr(instance, "hostname", None) or os.uname().nodename


class Instances:
    """The instances an ``iris`` command can see: ``find(name)`` and ``all()``."""

    def __init__(self, find: Callable[[str], Any], all: Callable[[], list]) -> None:  # noqa: A002
        self.find = find
        self.all = all

    @classmethod
    def of(cls, instance: Any) -> "Instances":
        return cls(lambda name: instance if name.upper() == instance.name.upper() else None, lambda: [instance])


def iris_main(instances: Any, argv: list[str], stdin: BinaryIO, write: Callable[[bytes], None],
              user: str = "irisowner", job: int | None = None) -> int:
    """Run ``iris <argv...>``; returns the exit status.  ``instances`` is an :class:`Instances`
    or one instance object."""
    if not isinstance(instances, Instances):
        instances = Instances.of(instances)

    def out(text: str) -> None:
        write(text.encode("utf-8"))

    if not argv:
        out(USAGE)
        return 1
    sub = argv[0]
    if sub in ("qlist", "list"):
        if len(argv) > 2:
            out(USAGE)
            return 1
        chosen = instances.all() if len(argv) == 1 else [i for i in [instances.find(argv[1])] if i]
        if not chosen:
            out(f"Instance '{argv[1]}' not found.\n" if sub == "list" else "")  # [UNV] wording
            return 1
        for inst in chosen:
            out(inst.qlist_line() + "\n" if sub == "qlist" else _list_entry(inst))
        return 0
    if sub not in ("session", "terminal"):
        out(USAGE)
        return 1
    rest = argv[1:]
    if not rest or rest[0].startswith("-"):
        out(USAGE)
        return 1
    instance = instances.find(rest[0])
    if instance is None:
        out(f"Instance '{rest[0]}' not found.\n")  # [UNV] wording
        return 1
    namespace = "USER"
    entry = None
    i = 1
    while i < len(rest):
        arg = rest[i]
        if arg == "-U" and i + 1 < len(rest):
            namespace = rest[i + 1]
            i += 2
        elif arg.startswith("-"):
            out(USAGE)
            return 1
        elif entry is None:
            entry = arg
            i += 1
        else:
            out(USAGE)
            return 1
    namespace = namespace.upper()

    if entry is None:
        out(f"\nNode: {_hostname(instance)}, Instance: {instance.name}\n")
    username = None
    stdin = stdin if isinstance(stdin, LineInput) else LineInput(stdin)
    if not instance.os_authentication:
        username = password_login(instance, stdin, out)
        if username is None:
            return 1
    if not instance.namespace_exists(namespace):
        out("\n<NAMESPACE>\n")
        return 1
    session = Session(instance, namespace, stdin, write, user, job)
    session.proc.username = username  # $USERNAME: the login's user, or the OS user
    from ..instance import jobtable

    jobs = jobtable.location(instance)
    jobtable.register(jobs, session.proc.job)  # ^$JOB: the job exists while the process runs
    try:
        if entry is not None:
            return session.run_entry(entry)
        return session.loop()
    finally:
        try:
            transactions.end_of_process(session.proc)
        finally:
            # The kernel drops the process's locks as it exits anyway; releasing them here also
            # removes the lock files nobody else holds.
            release_everything(session.interp)
            jobtable.unregister(jobs, session.proc.job)
