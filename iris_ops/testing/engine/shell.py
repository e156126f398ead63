"""``sh``: the POSIX-shell subset that scripts run in an IRIS container use.

Supported: simple commands with quoting (single, double, backslash), ``$NAME``/``${NAME}``/``$?``
expansion at run time, ``VAR=value`` assignments, ``;`` and newlines, ``&&``, ``||``, ``|``,
redirections ``< > >> 2>&1 >&2 N>file``, here-documents (``<<EOF``, ``<<'EOF'``, ``<<-EOF``;
unquoted bodies are expanded as sh does, so ``$ZV`` in one becomes empty), the builtins
``cd exit export set : [ test echo true false``.  Not supported (reported as a syntax error,
status 2): compound commands (``if``, ``for``, ``while``, ``case``, ``{ }``, ``( )``), command
substitution, globbing.  Messages follow dash (``sh: 1: foo: not found``, status 127).
"""

from __future__ import annotations

import io
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import BinaryIO

from iris_ops.testing.engine.process import Proc, Write, lookup

RESERVED = {"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
            "{", "}", "function", "select"}
OPERATORS = ("&&", "||", ";;", "<<-", "<<", ">>", ">&", "<&", ">|", ";", "|", "&", "<", ">", "(", ")")
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ShellSyntaxError(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class ExitShell(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


# A word is a list of segments: ("s", text, quoted) literal, ("v", name, quoted) expansion.
Segment = tuple[str, str, bool]


@dataclass
class HereDoc:
    delimiter: str
    strip_tabs: bool
    expand: bool
    body: list[Segment] = field(default_factory=list)


@dataclass
class Redirect:
    fd: int
    op: str
    target: list[Segment] | HereDoc | None


@dataclass
class Command:
    words: list[list[Segment]]
    redirects: list[Redirect]
    line: int


# --- lexing -----------------------------------------------------------------------------------


class Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.pos = 0
        self.line = 1
        self.tokens: list[tuple] = []  # ("w", segments, line) | ("op", op, line) | ("nl", None, line)
        self.pending: list[HereDoc] = []

    def run(self) -> list[tuple]:
        s = self.s
        while self.pos < len(s):
            c = s[self.pos]
            if c == "\n":
                self.tokens.append(("nl", None, self.line))
                self.pos += 1
                self.line += 1
                self._read_heredocs()
            elif c in " \t\r":
                self.pos += 1
            elif c == "#":
                while self.pos < len(s) and s[self.pos] != "\n":
                    self.pos += 1
            elif s.startswith("\\\n", self.pos):
                self.pos += 2
                self.line += 1
            else:
                op = next((o for o in OPERATORS if s.startswith(o, self.pos)), None)
                if op:
                    self.pos += len(op)
                    self.tokens.append(("op", op, self.line))
                    if op in ("<<", "<<-"):
                        self._heredoc_word(strip_tabs=op == "<<-")
                else:
                    line = self.line
                    segs, _quoted = self._word()
                    plain = all(k == "s" and not q for k, _t, q in segs)
                    literal = "".join(t for _k, t, _q in segs)
                    if plain and literal.isdigit() and self.pos < len(s) and s[self.pos] in "<>":
                        self.tokens.append(("io", int(literal), line))
                    else:
                        self.tokens.append(("w", segs, line))
        if self.pending:
            self._read_heredocs()
        return self.tokens

    def _heredoc_word(self, strip_tabs: bool) -> None:
        while self.pos < len(self.s) and self.s[self.pos] in " \t":
            self.pos += 1
        segs, quoted = self._word(expand=False)
        if not segs:
            raise ShellSyntaxError('Syntax error: newline unexpected', self.line)
        delimiter = "".join(t for _k, t, _q in segs)
        doc = HereDoc(delimiter, strip_tabs, expand=not quoted)
        self.pending.append(doc)
        self.tokens.append(("heredoc", doc, self.line))

    def _read_heredocs(self) -> None:
        s = self.s
        for doc in self.pending:
            lines: list[str] = []
            while self.pos < len(s):
                end = s.find("\n", self.pos)
                raw = s[self.pos:] if end < 0 else s[self.pos:end]
                self.pos = len(s) if end < 0 else end + 1
                self.line += 1
                text = raw.lstrip("\t") if doc.strip_tabs else raw
                if text == doc.delimiter:
                    break
                lines.append(text + "\n")
            body = "".join(lines)
            doc.body = _expand_heredoc(body) if doc.expand else [("s", body, True)]
        self.pending = []

    def _word(self, expand: bool = True) -> tuple[list[Segment], bool]:
        s = self.s
        segs: list[Segment] = []
        quoted = False
        while self.pos < len(s):
            c = s[self.pos]
            if c in " \t\r\n" or any(s.startswith(o, self.pos) for o in OPERATORS):
                break
            if c == "'":
                end = s.find("'", self.pos + 1)
                if end < 0:
                    raise ShellSyntaxError("Syntax error: Unterminated quoted string", self.line)
                segs.append(("s", s[self.pos + 1:end], True))
                self.line += s.count("\n", self.pos, end)
                self.pos = end + 1
                quoted = True
            elif c == '"':
                self.pos += 1
                quoted = True
                buf = []
                while True:
                    if self.pos >= len(s):
                        raise ShellSyntaxError("Syntax error: Unterminated quoted string", self.line)
                    d = s[self.pos]
                    if d == '"':
                        self.pos += 1
                        break
                    if d == "\\" and self.pos + 1 < len(s) and s[self.pos + 1] in '$`"\\\n':
                        if s[self.pos + 1] != "\n":
                            buf.append(s[self.pos + 1])
                        self.pos += 2
                    elif d == "$" and expand and self._var_at():
                        segs.append(("s", "".join(buf), True))
                        buf = []
                        segs.append(("v", self._read_var(), True))
                    else:
                        if d == "\n":
                            self.line += 1
                        buf.append(d)
                        self.pos += 1
                segs.append(("s", "".join(buf), True))
            elif c == "\\":
                if self.pos + 1 < len(s):
                    if s[self.pos + 1] == "\n":
                        self.line += 1
                    else:
                        segs.append(("s", s[self.pos + 1], True))
                    quoted = True
                self.pos += 2
            elif c == "$" and expand and self._var_at():
                segs.append(("v", self._read_var(), False))
            else:
                segs.append(("s", c, False))
                self.pos += 1
        return segs, quoted

    def _var_at(self) -> bool:
        nxt = self.s[self.pos + 1:self.pos + 2]
        return bool(nxt) and (nxt == "{" or nxt in "?$#" or nxt.isdigit() or NAME_RE.match(nxt) is not None)

    def _read_var(self) -> str:
        s = self.s
        self.pos += 1
        if s[self.pos] == "{":
            end = s.find("}", self.pos)
            if end < 0:
                raise ShellSyntaxError("Syntax error: Missing '}'", self.line)
            name = s[self.pos + 1:end]
            self.pos = end + 1
            return name
        if s[self.pos] in "?$#" or s[self.pos].isdigit():
            self.pos += 1
            return s[self.pos - 1]
        m = NAME_RE.match(s, self.pos)
        assert m
        self.pos = m.end()
        return m.group()


def _expand_heredoc(body: str) -> list[Segment]:
    """An unquoted here-document: ``$NAME`` expands, ``\\$ \\\\ \\` `` escape, ``\\newline`` joins."""
    lexer = Lexer(body)
    segs: list[Segment] = []
    buf: list[str] = []
    while lexer.pos < len(body):
        c = body[lexer.pos]
        if c == "\\" and lexer.pos + 1 < len(body) and body[lexer.pos + 1] in "$`\\\n":
            if body[lexer.pos + 1] != "\n":
                buf.append(body[lexer.pos + 1])
            lexer.pos += 2
        elif c == "$" and lexer._var_at():
            segs.append(("s", "".join(buf), True))
            buf = []
            segs.append(("v", lexer._read_var(), True))
        else:
            buf.append(c)
            lexer.pos += 1
    segs.append(("s", "".join(buf), True))
    return segs


# --- parsing ----------------------------------------------------------------------------------

# A script is a list of and-or lists; an and-or list is [(op, pipeline)] with op None first;
# a pipeline is a list of Commands.


def parse(text: str) -> list[list[tuple[str | None, list[Command]]]]:
    tokens = Lexer(text).run()
    script: list[list[tuple[str | None, list[Command]]]] = []
    andor: list[tuple[str | None, list[Command]]] = []
    pipeline: list[Command] = []
    current: Command | None = None
    pending_op: str | None = None
    i = 0

    def end_command(line: int) -> None:
        nonlocal current
        if current is None:
            raise ShellSyntaxError(f'Syntax error: "{tok_text}" unexpected', line)
        pipeline.append(current)
        current = None

    while i < len(tokens):
        kind, value, line = tokens[i]
        tok_text = value if kind == "op" else "newline"
        if kind == "w":
            if current is None:
                plain = "".join(t for _k, t, q in value if not q) if all(k == "s" for k, _t, _q in value) else ""
                if plain in RESERVED and all(not q for _k, _t, q in value):
                    raise ShellSyntaxError(f'Syntax error: "{plain}" is not supported by the simulated sh', line)
                current = Command([], [], line)
            current.words.append(value)
        elif kind in ("io", "heredoc") or (kind == "op" and value in ("<", ">", ">>", ">&", "<&", ">|", "<<", "<<-")):
            if current is None:
                current = Command([], [], line)
            fd = None
            if kind == "io":
                fd = value
                i += 1
                kind, value, line = tokens[i]
            if value in ("<<", "<<-"):
                i += 1
                _k, doc, _l = tokens[i]
                current.redirects.append(Redirect(0 if fd is None else fd, "<<", doc))
            else:
                op = ">" if value == ">|" else value
                i += 1
                if i >= len(tokens) or tokens[i][0] != "w":
                    raise ShellSyntaxError("Syntax error: newline unexpected", line)
                default_fd = 0 if op in ("<", "<&") else 1
                current.redirects.append(Redirect(default_fd if fd is None else fd, op, tokens[i][1]))
        elif kind == "op" and value == "|":
            end_command(line)
        elif kind == "op" and value in ("&&", "||"):
            end_command(line)
            andor.append((pending_op, pipeline))
            pipeline, pending_op = [], value
        elif (kind == "op" and value in (";", "&")) or kind == "nl":
            if current is not None:
                end_command(line)
            if pipeline:
                andor.append((pending_op, pipeline))
                script.append(andor)
                andor, pipeline, pending_op = [], [], None
            elif pending_op is not None and kind == "nl":
                pass  # `a &&` newline `b`: the list continues
            elif kind == "op" and (andor or pending_op):
                raise ShellSyntaxError(f'Syntax error: "{value}" unexpected', line)
            elif kind == "op":
                raise ShellSyntaxError(f'Syntax error: "{value}" unexpected', line)
        else:
            raise ShellSyntaxError(f'Syntax error: "{value}" is not supported by the simulated sh', line)
        i += 1
    if current is not None:
        pipeline.append(current)
    if pipeline:
        andor.append((pending_op, pipeline))
    elif pending_op is not None:
        raise ShellSyntaxError("Syntax error: end of file unexpected", tokens[-1][2] if tokens else 1)
    if andor:
        script.append(andor)
    return script


# --- execution --------------------------------------------------------------------------------


class _NullOut:
    def __call__(self, data: bytes) -> None:
        pass


class Shell:
    def __init__(self, proc: Proc, name: str, args: list[str], errexit: bool = False) -> None:
        self.proc = proc
        self.name = name
        self.args = args
        self.vars: dict[str, str] = dict(proc.env)
        self.status = 0
        self.errexit = errexit

    # expansion
    def _value(self, name: str) -> str:
        if name == "?":
            return str(self.status)
        if name == "$":
            return "4321"
        if name == "#":
            return str(len(self.args))
        if name.isdigit():
            n = int(name)
            return self.name if n == 0 else (self.args[n - 1] if n <= len(self.args) else "")
        return self.vars.get(name, "")

    def expand_word(self, segs: list[Segment]) -> list[str]:
        fields: list[str] = []
        cur: list[str] = []
        has = False
        for kind, text, quoted in segs:
            if kind == "s":
                cur.append(text)
                has = has or quoted or bool(text)
            elif quoted:
                cur.append(self._value(text))
                has = True
            else:
                parts = self._value(text).split()
                value = self._value(text)
                if not parts:
                    continue
                if value[:1].isspace() and (cur or has):
                    fields.append("".join(cur))
                    cur, has = [], False
                cur.append(parts[0])
                has = True
                for part in parts[1:]:
                    fields.append("".join(cur))
                    cur = [part]
                if value[-1:].isspace():
                    fields.append("".join(cur))
                    cur, has = [], False
        if cur or has:
            fields.append("".join(cur))
        return fields

    def expand_text(self, segs: list[Segment]) -> str:
        return "".join(text if kind == "s" else self._value(text) for kind, text, _q in segs)

    # running
    def run_script(self, text: str, stdin: BinaryIO, out: Write, err: Write) -> int:
        try:
            script = parse(text)
        except ShellSyntaxError as exc:
            err(f"{self.name}: {exc.line}: {exc}\n".encode())
            return 2
        try:
            for andor in script:
                self.status = self.run_andor(andor, stdin, out, err)
                if self.errexit and self.status != 0 and not (len(andor) > 1):
                    return self.status
        except ExitShell as exc:
            return exc.status
        return self.status

    def run_andor(self, andor, stdin, out, err) -> int:
        status = 0
        for op, pipeline in andor:
            if op == "&&" and status != 0 or op == "||" and status == 0:
                continue
            status = self.run_pipeline(pipeline, stdin, out, err)
            self.status = status
        return status

    def run_pipeline(self, pipeline: list[Command], stdin, out, err) -> int:
        first = pipeline[0]
        if first.words and first.words[0] == [("s", "!", False)]:
            rest = Command(first.words[1:], first.redirects, first.line)
            return 0 if self.run_pipeline([rest, *pipeline[1:]], stdin, out, err) else 1
        source: BinaryIO = stdin
        status = 0
        for n, command in enumerate(pipeline):
            last = n == len(pipeline) - 1
            if last:
                status = self.run_command(command, source, out, err)
            else:
                buf = io.BytesIO()
                self.run_command(command, source, buf.write, err)
                source = io.BytesIO(buf.getvalue())
        return status

    def _fail(self, err: Write, line: int, message: str) -> int:
        err(f"{self.name}: {line}: {message}\n".encode())
        return 2

    def run_command(self, command: Command, stdin: BinaryIO, out: Write, err: Write) -> int:
        argv: list[str] = []
        for word in command.words:
            argv.extend(self.expand_word(word))
        assignments = {}
        while argv and "=" in argv[0] and NAME_RE.fullmatch(argv[0].split("=", 1)[0]):
            key, value = argv.pop(0).split("=", 1)
            assignments[key] = value
        opened: list = []
        streams = {0: stdin, 1: out, 2: err}
        try:
            for redirect in command.redirects:
                problem = self._redirect(redirect, streams, opened)
                if problem:
                    return self._fail(err, command.line, problem)
            if not argv:
                self.vars.update(assignments)
                return 0
            return self._invoke(argv, assignments, streams, command.line)
        finally:
            for f in opened:
                f.close()

    def _redirect(self, redirect: Redirect, streams: dict, opened: list) -> str | None:
        proc = self.proc
        if redirect.op == "<<":
            assert isinstance(redirect.target, HereDoc)
            streams[redirect.fd] = io.BytesIO(self.expand_text(redirect.target.body).encode())
            return None
        target = self.expand_text(redirect.target)  # type: ignore[arg-type]
        if redirect.op in (">&", "<&"):
            if target == "-":
                streams[redirect.fd] = _NullOut() if redirect.fd else io.BytesIO()
            elif target.isdigit() and int(target) in streams:
                streams[redirect.fd] = streams[int(target)]
            else:
                return f"Syntax error: Bad fd number"
            return None
        path = proc.path(target)
        if path == "/dev/null":
            streams[redirect.fd] = io.BytesIO() if redirect.op == "<" else _NullOut()
            return None
        fs = proc.fs
        try:
            host = fs.host_path(path)
        except (FileNotFoundError, NotADirectoryError):
            host = None
        except (ValueError, PermissionError, OSError):
            return f"cannot {'open' if redirect.op == '<' else 'create'} {target}: Permission denied"
        if redirect.op == "<":
            if host is None or not os.path.exists(host):
                return f"cannot open {target}: No such file"
            if os.path.isdir(host):
                f = io.BytesIO()
            elif proc.uid != 0 and not fs.can_read(path, proc.uid):
                return f"cannot open {target}: Permission denied"
            else:
                f = open(host, "rb")
                opened.append(f)
            streams[redirect.fd] = f
            return None
        # > and >>
        parent = posixpath.dirname(path)
        try:
            parent_host = fs.host_path(parent)
        except (FileNotFoundError, NotADirectoryError, ValueError, PermissionError, OSError):
            parent_host = None
        if parent_host is None or not os.path.isdir(parent_host):
            return f"cannot create {target}: Directory nonexistent"
        host = parent_host / posixpath.basename(path)
        existed = os.path.exists(host)
        if existed and os.path.isdir(host):
            return f"cannot create {target}: Is a directory"
        if proc.uid != 0 and not fs.can_write(path if existed else parent, proc.uid):
            return f"cannot create {target}: Permission denied"
        f = open(host, "ab" if redirect.op == ">>" else "wb")
        opened.append(f)
        if not existed:
            os.chmod(host, 0o644)
            fs.created(path, proc.uid, proc.gid)
        streams[redirect.fd] = f.write
        return None

    def _invoke(self, argv: list[str], assignments: dict, streams: dict, line: int) -> int:
        name = argv[0]
        stdin, out, err = streams[0], streams[1], streams[2]
        if name in (":",):
            return 0
        if name == "exit":
            raise ExitShell(int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else self.status)
        if name == "cd":
            target = self.proc.path(argv[1] if len(argv) > 1 else self.vars.get("HOME", "/"))
            try:
                ok = os.path.isdir(self.proc.fs.host_path(target))
            except Exception:
                ok = False
            if not ok:
                err(f"{self.name}: {line}: cd: can't cd to {argv[1] if len(argv) > 1 else target}\n".encode())
                return 2
            self.proc.cwd = target
            return 0
        if name == "export":
            for arg in argv[1:]:
                key, sep, value = arg.partition("=")
                if sep:
                    self.vars[key] = value
            return 0
        if name == "set":
            for arg in argv[1:]:
                if arg.startswith("-") and "e" in arg:
                    self.errexit = True
                elif arg.startswith("+") and "e" in arg:
                    self.errexit = False
            return 0
        program = lookup(name)
        if program is None:
            err(f"{self.name}: {line}: {name}: not found\n".encode())
            return 127
        env = {**self.vars, **assignments}
        child = Proc(self.proc.container, self.proc.user, self.proc.uid, self.proc.gid, self.proc.cwd, env)
        return int(program(child, argv, stdin, out, err) or 0)


def sh_main(proc: Proc, argv: list[str], stdin: BinaryIO, out: Write, err: Write) -> int:
    args = argv[1:]
    command_mode = errexit = False
    while args and args[0].startswith("-") and args[0] != "-":
        flags = args.pop(0)[1:]
        command_mode = command_mode or "c" in flags
        errexit = errexit or "e" in flags
    name = "sh"
    if command_mode:
        if not args:
            err(b"sh: 0: -c requires an argument\n")
            return 2
        script, rest = args[0], args[1:]
        name, params = (rest[0], rest[1:]) if rest else ("sh", [])
        return Shell(proc, name, params, errexit).run_script(script, stdin, out, err)
    if args:
        path = proc.path(args[0])
        try:
            host = proc.fs.host_path(path)
            text = host.read_bytes().decode("utf-8", "surrogateescape")
        except (OSError, ValueError):
            err(f"sh: 0: cannot open {args[0]}: No such file\n".encode())
            return 2
        return Shell(proc, args[0], args[1:], errexit).run_script(text, io.BytesIO(), out, err)
    text = stdin.read().decode("utf-8", "surrogateescape")
    return Shell(proc, name, [], errexit).run_script(text, io.BytesIO(), out, err)
