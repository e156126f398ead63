"""The one flag scheme of every iris-ops task.

invoke derives flags from a task's signature and, left alone, gives each its first free
letter as a short flag, so ``-f`` meant ``--force`` in one task and ``--file`` in another.
Here a short flag exists only where :data:`SHORT_FLAGS` gives one, and then it means the
same in every task; :data:`FLAG_TYPES` types the numeric flags; :data:`METAVARS` names the
value each flag takes in help and usage lines.

A positional parameter *with* a default (``run``'s ``code=None``) is an optional positional:
invoke has none, so for plain ``inv`` it stays a flag (``--code``), and the ``iris-ops``
program accepts it in place (see :mod:`iris_ops.program`).
"""

from __future__ import annotations

import inspect
from typing import Any

import invoke
from invoke import ParseError
from invoke.parser import Argument

__all__ = [
    "TARGET_FLAGS", "FLEET_FLAGS", "SHORT_FLAGS", "FLAG_TYPES", "LOCK_WAIT_HELP", "METAVARS", "flag_of", "metavar",
    "FlagValueError", "TypedArgument", "IrisOpsTask", "remember_help", "arguments",
    "optional_positionals", "required_flags",
]

#: Flags every task that talks to an instance accepts, with their help.  Each overrides the
#: setting of the same name (see :mod:`iris_ops.config`).
TARGET_FLAGS: dict[str, str] = {
    "container": "IRIS container name or id (setting `container`, env IRIS_OPS_CONTAINER)",
    "instance": "IRIS instance name inside the container (default IRIS)",
    "transport": "docker, local or ssh (setting `transport`)",
    "docker_host": "Docker engine URL, e.g. unix:///var/run/docker.sock (default: DOCKER_HOST)",
    "timeout": "seconds one ObjectScript session may take (default 120)",
}

#: Flags that choose named targets ([targets.NAME] in the project file), beside :data:`TARGET_FLAGS`
#: on every task that talks to an instance (see :mod:`iris_ops.fleet`).
FLEET_FLAGS: dict[str, str] = {
    "target": "the named target to run on ([targets.NAME] in the project file; `iris-ops targets` lists them)",
    "targets": "run on these targets and groups (comma-separated), each in a process of its own, then print "
               "a table; the exit code is the worst target's",
    "all_targets": "run on every target of the project file, as --targets",
    "parallel": "with --targets or --all-targets: how many targets run at once (default 8)",
}

#: parameter name -> its one short flag, the same in every task.  Letters the program itself
#: uses (-h -l -v -q -V -D -F) are never given to a task flag.
SHORT_FLAGS: dict[str, str] = {
    "ns": "n",
    "out": "o",
    "src": "s",
    "yes": "y",
}

#: parameter name -> the type its value is parsed to (when its default does not say).
FLAG_TYPES: dict[str, type] = {
    "timeout": float,
    "lock_wait": float,
    "parallel": int,
}

#: The help of ``--lock-wait``, the same on every task that locks a namespace (see :mod:`iris_ops.locks`).
LOCK_WAIT_HELP = ("seconds to wait while another iris-ops operation holds the namespace "
                  "(default 0: exit 3 at once, naming the holder)")

#: parameter name -> the word for its value in help and usage lines (default: the name, upper-cased).
METAVARS: dict[str, str] = {
    "ns": "NS",
    "out": "DIR",
    "src": "FIXTURE",
    "file": "FILE",
    "code": "CODE",
    "statement": "SQL",
    "description": "TEXT",
    "dir": "DIR",
    "variant": "NAME",
    "container": "NAME",
    "instance": "NAME",
    "transport": "NAME",
    "docker_host": "URL",
    "timeout": "SECONDS",
    "lock_wait": "SECONDS",
    "target": "NAME",
    "targets": "LIST",
    "parallel": "N",
    # global options
    "help": "TASK",
    "list": "GROUP",
    "list-format": "FORMAT",
    "list-depth": "N",
    "log-format": "FORMAT",
    "print-completion-script": "SHELL",
}

#: Words for a typed flag's value in parse errors.
_KIND_WORDS = {float: "a number", int: "a whole number"}


def flag_of(name: str) -> str:
    """``dry_run`` -> ``--dry-run``, ``json_`` -> ``--json``."""
    return "--" + name.strip("_").replace("_", "-")


def metavar(name: str) -> str:
    key = name.strip("_")
    return METAVARS.get(key, METAVARS.get(key.replace("-", "_"), METAVARS.get(key.replace("_", "-"),
                                                                               key.upper().replace("_", "-"))))


class FlagValueError(ParseError):
    """A flag's value has the wrong type; ``fix`` says what to pass."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


class TypedArgument(Argument):
    """An invoke Argument whose badly typed value is a parse error naming the flag."""

    def set_value(self, value: Any, cast: bool = True) -> None:
        try:
            super().set_value(value, cast)
        except (TypeError, ValueError):
            flag = flag_of(self.name or self.names[0])
            wanted = _KIND_WORDS.get(self.kind, f"a {getattr(self.kind, '__name__', 'value')}")
            raise FlagValueError(f"{flag} needs {wanted}, got {value!r}",
                                 fix=f"Pass a non-negative number to {flag}." if self.kind in (int, float)
                                 else f"Pass {wanted} to {flag}.") from None


class IrisOpsTask(invoke.Task):
    """An invoke Task with the iris-ops flag scheme.

    ``required`` names flags the task cannot run without; they are checked before the body
    runs (see :func:`iris_ops.task.task`) and shown without brackets in usage lines.
    """

    def __init__(self, body, *args: Any, required: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(body, *args, **kwargs)
        remember_help(self)
        self.auto_shortflags = False
        self.required = tuple(required)
        defaults = {p.name: p.default for p in self.argspec(body).parameters.values()}
        #: Positional parameters with a default: flags for invoke, positionals for ``iris-ops``.
        self.optional_positional = tuple(
            name for name in self.positional if defaults.get(name, inspect.Parameter.empty) is not inspect.Parameter.empty
        )
        self.positional = [name for name in self.positional if name not in self.optional_positional]

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        opts = super().arg_opts(name, default, taken_names)
        short = SHORT_FLAGS.get(name.strip("_"))
        if short and short not in taken_names:
            opts["names"] = [*opts["names"], short]
        if name in FLAG_TYPES and default is None:
            opts["kind"] = FLAG_TYPES[name]
        return opts

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        self.help = dict(self.help_text)  # invoke's get_arguments consumes `help` as it goes
        return [_typed(arg) for arg in super().get_arguments(ignore_unknown_help=ignore_unknown_help)]


def _typed(arg: Argument) -> TypedArgument:
    return TypedArgument(
        names=arg.names, kind=arg.kind, default=arg.default, help=arg.help, positional=arg.positional,
        optional=arg.optional, incrementable=arg.incrementable, attr_name=arg.attr_name,
    )


def remember_help(task: Any) -> None:
    """Keep a task's flag help where a later :func:`arguments` finds it: invoke's
    ``get_arguments`` empties ``task.help`` the first time it runs (while parsing)."""
    if not hasattr(task, "help_text"):
        task.help_text = dict(task.help)


def arguments(task: Any) -> list[Argument]:
    """A task's arguments with their help, however often asked (for help text and docs)."""
    if hasattr(task, "help_text"):
        task.help = dict(task.help_text)
    return task.get_arguments(ignore_unknown_help=True)


def optional_positionals(task: Any) -> tuple[str, ...]:
    return tuple(getattr(task, "optional_positional", ()))


def required_flags(task: Any) -> tuple[str, ...]:
    return tuple(getattr(task, "required", ()))
