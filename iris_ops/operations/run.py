"""Built-in plugin: the `run` task, ObjectScript from the command line or a file.

Replaces `docker exec -it iris iris session IRIS` in day-to-day work, with a verdict: each
line runs in the script frame of :mod:`iris_ops.objectscript`, so a failing line stops the
rest, shows the IRIS error and exits 5, whatever the terminal's own exit status says.  The
frame runs each line with ``Xecute`` of a literal (:func:`iris_ops.objectscript.user_code`):
its bookkeeping never shares the user's line, so legacy ``If``, ``For``, ``Quit``,
postconditionals and comments act as typed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from iris_ops import hookimpl, names
from iris_ops.task import task
from iris_ops.errors import ScriptError, UsageError

__all__ = ["build_script", "user_output", "run", "register_tasks"]

# The terminal's prompt before each input line: `USER>`, `TL1:USER>`, `%SYS 2d0>`.
_PROMPT = re.compile(r"\n(?:TL\d+:)?%?[A-Za-z0-9_-]+(?: \d+d\d+)?>")


def build_script(code: str, namespace: str):
    from iris_ops import haltscan
    from iris_ops import objectscript as o

    script = o.Script(namespace, purpose="run")
    for number, line in enumerate(code.replace("\r\n", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        halt = haltscan.find_halt(line)
        if halt is not None:  # it would end the session before the frame reports, and drop the rest
            raise UsageError(
                f"line {number}, column {halt.column}: `{halt.text}` is a HALT command: it would end the session "
                "before iris-ops reads the result, and no line after it would run",
                fix="Remove it: the session ends by itself after the last line, and a failing line stops the "
                "rest. (`H` with an argument is HANG; a variable named halt is fine.)",
                details={"line": number, "column": halt.column})
        try:
            script.step(f"line{number}", o.user_code(line))
        except ValueError as exc:
            raise UsageError(f"line {number}: {exc}") from None
    return script


def user_output(text: str, script) -> str:
    """What the user's lines wrote, as IRIS wrote it: the session's output without the banner,
    the prompts, the line terminators the terminal echoes, and the result frame."""
    from iris_ops.runner import normalise

    text = normalise(text)
    begin, _ = script.markers
    cut = text.find(begin)
    if cut >= 0:
        text = text[:cut]
        # The frame's `Write !` before the marker.
        text = text[:-1] if text.endswith("\n") else text
    # Each prompt is "\n" + "USER>"; what follows it is the echoed terminator of the line read
    # at that prompt, then that line's own output.  Before the first prompt: the banner.
    pieces = _PROMPT.split(text)[1:]
    return "".join(piece[1:] if piece.startswith("\n") else piece for piece in pieces)


def _figure(doc: dict) -> str:
    """What ``run`` printed, its first line (on many targets, the table's figure)."""
    lines = [line for line in str(doc.get("output", "")).splitlines() if line.strip()]
    return (lines[0][:60] + (" ..." if len(lines) > 1 or len(lines[0]) > 60 else "")) if lines else "(no output)"


@task(
    target=True,
    figure=_figure,
    positional=["code"],
    help={
        "code": "ObjectScript to run; several lines separated by newlines",
        "file": "read the ObjectScript from this file ('-' for stdin)",
        "ns": "namespace to run in",
        "dry_run": "print the script that would run, and run nothing",
        "json": "print the output and verdict (or the failure) as one JSON document",
    },
)
def run(c, code=None, file="", ns="USER", dry_run=False, json_=False, **target):
    """Run ObjectScript on the instance; exit 5 with the IRIS error when a line fails.

    Give the code as CODE, or with --file F (--file - reads stdin). Each line runs in turn and
    a failing line stops the rest. The output is what IRIS wrote, line breaks included.

    A line with a HALT command is refused (exit 2), since the session then ends before its
    result is read: HALT or H without an argument, in any case, with or without a
    postconditional (H:x), wherever a command may stand on the line, but not inside a string
    or a comment, and not a variable named halt; H with an argument is HANG. A HALT reached
    through Xecute, indirection or a called routine cannot be seen: the run then fails (exit 5).

    Examples:
        iris-ops run --ns %SYS 'Write $ZVersion,!'
        iris-ops run --file setup.mac
        echo 'Write 1,!' | iris-ops run --file -
    """
    from iris_ops.operations.context import no_such_namespace, operation_from_flags, refuse_json_dry_run

    refuse_json_dry_run(json_, dry_run)
    namespace = names.namespace(ns)
    if bool(code) == bool(file):
        raise UsageError("run takes CODE or --file F, not both" if code else "run needs CODE or --file F",
                         fix="iris-ops run --ns %SYS 'Write $ZVersion,!'   or   iris-ops run --file script.mac")
    if file:
        try:
            code = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    script = build_script(code, namespace)
    op = operation_from_flags("run", target, dry_run=dry_run)
    with op.bound(ns=namespace):
        if dry_run:
            op.runner.show(script)
            return None
        result = op.runner.execute(script.render(), namespace)
        shown = user_output(result.text, script)
        if shown and not json_:
            op.emit(shown[:-1] if shown.endswith("\n") else shown)
            op.out.flush()
        try:
            op.runner.parse(script, result)
        except ScriptError as exc:
            # No result at all: the session may never have entered the namespace.  Asked only
            # now, so a run that works costs no second session.
            if exc.details.get("result") is None and not _exists(op, namespace):
                raise no_such_namespace(op, namespace) from None
            if json_:
                exc.details["output"] = shown
            raise
        if json_:
            return {"namespace": namespace, "output": shown}
    return None


def _exists(op, namespace: str) -> bool:
    from iris_ops import script_builders

    return bool(int(op.runner.run(script_builders.namespace_exists(namespace), changes=False).get("exists") or 0))


@hookimpl
def register_tasks(registrar):
    registrar.add_task(run)
