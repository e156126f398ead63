"""Help text: usage lines, task help, a collection's subcommands, the program's task list.

Built from the live tasks (their signature, ``help=`` and docstring), so the ``iris-ops`` help,
the help plain ``inv`` users see and ``docs/tasks.md`` (:mod:`iris_ops.docsgen`) say the same.
A task docstring is a one-line summary, optional paragraphs, and an optional ``Examples:``
paragraph of indented command lines.
"""

from __future__ import annotations

import inspect
import os
import sys
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from iris_ops import flags

if TYPE_CHECKING:
    from invoke import Collection, Task
    from invoke.parser import Argument

__all__ = [
    "HIDDEN_GLOBALS", "Doc", "FlagRow", "task_doc", "helpline", "flag_rows", "flag_spec", "usage",
    "task_help", "task_names", "collection_help", "task_list", "program_help", "columns",
]


#: Global options that exist for machines, not people (the completion scripts call --complete).
HIDDEN_GLOBALS = frozenset({"complete"})


@dataclass(frozen=True)
class Doc:
    summary: str
    paragraphs: tuple[str, ...]
    examples: tuple[str, ...]


@dataclass(frozen=True)
class FlagRow:
    name: str            # the parameter name (``dry_run``)
    spec: str            # ``-n, --ns NS``; ``[-s, --src] FIXTURE`` for a positional
    help: str
    default: str         # shown default, or ""
    positional: bool
    required: bool
    target: bool         # one of the instance flags every operation shares


def task_doc(task: "Task") -> Doc:
    text = inspect.getdoc(task) or ""
    blocks = [block for block in text.split("\n\n") if block.strip()]
    summary = " ".join(blocks[0].split()) if blocks else ""
    paragraphs: list[str] = []
    examples: list[str] = []
    for block in blocks[1:]:
        lines = block.splitlines()
        if lines[0].strip().rstrip(":").lower() == "examples":
            examples += [line.strip() for line in lines[1:] if line.strip()]
        else:
            paragraphs.append(" ".join(block.split()))
    return Doc(summary, tuple(paragraphs), tuple(examples))


def helpline(task: "Task") -> str:
    return task_doc(task).summary


def flag_rows(task: "Task") -> list[FlagRow]:
    optional = set(flags.optional_positionals(task))
    required = set(flags.required_flags(task))
    rows = []
    for arg in flags.arguments(task):
        name = arg.attr_name or arg.names[0]
        positional = bool(arg.positional) or name in optional
        rows.append(FlagRow(
            name=name,
            spec=flag_spec(arg, positional),
            help=" ".join((arg.help or "").split()),
            default=_default(arg),
            positional=positional,
            required=bool(arg.positional) or name in required,
            target=name in getattr(task, "target_flags", ()),
        ))
    return rows


def flag_spec(arg: "Argument", positional: bool = False) -> str:
    """``-n, --ns NS``; ``[-s, --src] FIXTURE`` for a positional; ``-h, --help [TASK]``."""
    name = arg.attr_name or arg.names[0]
    shorts = [f"-{n}" for n in arg.names if len(n) == 1]
    longs = ["--" + n.strip("_").replace("_", "-") for n in arg.names if len(n) > 1]
    if arg.kind is bool and arg.default is True:
        longs = [f"--[no-]{flag[2:]}" for flag in longs]
    names = ", ".join([*shorts, *longs])
    if positional:
        return f"[{names}] {flags.metavar(name)}"
    if arg.kind is bool or arg.incrementable:
        return names
    if arg.optional:
        return f"{names} [{flags.metavar(name)}]"
    return f"{names} {flags.metavar(name)}"


def _default(arg: "Argument") -> str:
    if arg.kind is bool or arg.default in (None, "", [], ()):
        return ""
    return str(arg.default)


def usage(prog: str, name: str, task: "Task") -> str:
    """``iris-ops backup --ns NS [options]``: what must be given, then ``[options]``."""
    words = [prog, name]
    rows = flag_rows(task)
    for row in rows:
        if row.positional:
            meta = flags.metavar(row.name)
            words.append(meta if row.required else f"[{meta}]")
    for row in rows:
        if row.required and not row.positional:
            words.append(row.spec.split(", ")[-1])
    if any(not row.required and not row.positional for row in rows):
        words.append("[options]")
    return " ".join(words)


def task_help(prog: str, name: str, task: "Task") -> str:
    doc = task_doc(task)
    out = [f"Usage: {usage(prog, name, task)}", ""]
    if doc.summary:
        out += [_wrap(doc.summary, 0), ""]
    for paragraph in doc.paragraphs:
        out += [_wrap(paragraph, 0), ""]
    rows = flag_rows(task)
    own = [row for row in rows if not row.target]
    target = [row for row in rows if row.target]
    if own:
        out += ["Options:", *columns([(r.spec, _with_default(r)) for r in own]), ""]
    if target:
        out += ["Instance options (override settings; see `iris-ops config`):",
                *columns([(r.spec, _with_default(r)) for r in target]), ""]
    if doc.examples:
        out += ["Examples:", *("  " + line.replace("iris-ops ", prog + " ", 1) for line in doc.examples), ""]
    return "\n".join(out)


def _with_default(row: FlagRow) -> str:
    if not row.default or "default" in row.help.lower():
        return row.help
    return f"{row.help} (default: {row.default})" if row.help else f"(default: {row.default})"


def task_names(collection: "Collection", *, spaced: bool) -> list[tuple[str, "Task"]]:
    """Every task as (name to type, task): top level first, then sub-collections'."""
    found = [(name, collection.tasks[name]) for name in sorted(collection.tasks)]
    for sub in sorted(collection.collections):
        for name, task in task_names(collection.collections[sub], spaced=spaced):
            found.append((f"{sub} {name}" if spaced else f"{sub}.{name}", task))
    return found


def collection_help(prog: str, name: str, collection: "Collection") -> str:
    out = [f"Usage: {prog} {name} <subcommand> [options]", ""]
    doc = collection.__doc__
    if doc and doc is not type(collection).__doc__:
        out += [_wrap(" ".join(doc.strip().split("\n\n")[0].split()), 0), ""]
    out += ["Subcommands:", *columns([(f"{name} {task_name}", helpline(task))
                                       for task_name, task in task_names(collection, spaced=True)]), ""]
    out += [f"Help for one: {prog} {name} <subcommand> --help", ""]
    return "\n".join(out)


def task_list(collection: "Collection") -> list[str]:
    return columns([(name, helpline(task)) for name, task in task_names(collection, spaced=True)])


def program_help(prog: str, collection: "Collection", core_args: Iterable["Argument"], *, full: bool) -> str:
    """The task list; with ``full`` also the global options."""
    out = [f"Usage: {prog} [global options] <task> [task options]", "", "Tasks:", *task_list(collection), ""]
    if full:
        rows = []
        for arg in core_args:
            if arg.name in HIDDEN_GLOBALS:
                continue
            rows.append((flag_spec(arg), " ".join((arg.help or "").split())))
        out += ["Global options (before the task):", *columns(rows), ""]
    out += [f"Help for one task: {prog} <task> --help" + ("" if full else f"; global options: {prog} --help"), ""]
    return "\n".join(out)


def _terminal_columns() -> int:
    """The terminal's width as :func:`shutil.get_terminal_size` finds it (``COLUMNS``, then
    stdout's terminal, else 100), at least 60.  shutil itself is not imported for it: it brings
    the compression modules, and ``--list`` needs only this (start-up time)."""
    try:
        width = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        width = 0
    if width <= 0:
        try:
            width = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):  # no stdout, or not a terminal
            width = 0
    return max(width or 100, 60)


def columns(rows: list[tuple[str, str]]) -> list[str]:
    if not rows:
        return []
    width = min(max(len(spec) for spec, _ in rows), 34)
    total = _terminal_columns()
    lines = []
    for spec, text in rows:
        indent = 2 + width + 3
        chunks = textwrap.wrap(text, max(total - indent - 1, 30), break_on_hyphens=False) or [""]
        if len(spec) > width:
            lines.append(f"  {spec}")
            lines.append(" " * indent + chunks[0])
        else:
            lines.append(f"  {spec:<{width}}   {chunks[0]}".rstrip())
        lines += [" " * indent + chunk for chunk in chunks[1:]]
    return lines


def _wrap(text: str, indent: int) -> str:
    total = _terminal_columns()
    return textwrap.fill(text, width=min(total, 100) - 1, initial_indent=" " * indent,
                         subsequent_indent=" " * indent, break_on_hyphens=False)
