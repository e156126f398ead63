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
from iris_ops.cli import task
from iris_ops.errors import UsageError

_HALT = re.compile(r"^\s*(halt|h)\s*$", re.IGNORECASE)
# The terminal's prompt before each input line: `USER>`, `TL1:USER>`, `%SYS 2d0>`.
_PROMPT = re.compile(r"(?m)^(?:TL\d+:)?%?[A-Za-z0-9_-]+(?: \d+d\d+)?>")


def build_script(code: str, namespace: str):
    from iris_ops import objectscript as o

    script = o.Script(namespace, purpose="run")
    for number, line in enumerate(code.replace("\r\n", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        if _HALT.match(line):
            break  # the frame ends the session itself, after reporting
        try:
            script.step(f"line{number}", o.user_code(line))
        except ValueError as exc:
            raise UsageError(f"line {number}: {exc}") from None
    return script


def user_output(text: str, script) -> str:
    """The session's output without banner, prompts and the result frame."""
    from iris_ops.runner import normalise

    text = normalise(text)
    begin, _ = script.markers
    cut = text.find(begin)
    if cut >= 0:
        text = text[:cut]
    lines = text.split("\n")
    # Drop the banner: everything up to the first prompt.
    for index, line in enumerate(lines):
        if _PROMPT.match(line):
            lines = lines[index:]
            break
    body = _PROMPT.sub("", "\n".join(lines))
    return body.strip("\n")


@task(
    target=True,
    positional=["code"],
    help={
        "code": "ObjectScript to run; several lines separated by newlines",
        "file": "read the ObjectScript from this file ('-' for stdin)",
        "ns": "namespace to run in (default USER)",
        "dry_run": "print the script that would run, and run nothing",
    },
)
def run(c, code=None, file="", ns="USER", dry_run=False, **target):
    """Run ObjectScript on the instance; exit 5 with the IRIS error when a line fails."""
    from iris_ops.operations.context import Operation

    namespace = names.namespace(ns)
    if bool(code) == bool(file):
        raise UsageError("give either CODE or --file", fix="iris-ops run --ns %SYS 'Write $ZVersion'")
    if file:
        try:
            code = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    script = build_script(code, namespace)
    op = Operation.from_flags("run", target, dry_run=dry_run)
    with op.bound(ns=namespace):
        if dry_run:
            op.runner.show(script)
            return
        result = op.runner.execute(script.render(), namespace)
        shown = user_output(result.text, script)
        if shown:
            op.emit(shown)
        op.runner.parse(script, result)


@hookimpl
def register_tasks(registrar):
    registrar.add_task(run)
