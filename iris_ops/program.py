"""The ``iris-ops`` program: invoke's Program with our global flags, help, errors and exit codes.

What it changes in invoke's Program, and why:

* global flags: only those that mean something here (no ``--echo``, ``--pty``, ``--dry``
  next to ``--dry-run``...); ``-v`` counts (``-vv`` adds library logs); ``-q -v`` is refused;
* help never runs anything: ``TASK --help`` / ``TASK -h`` print the task's help even when the
  task takes a positional argument; ``iris-ops sim`` and ``iris-ops sim --help`` list the
  sim subcommands (any sub-collection's); ``iris-ops`` alone prints the task list;
* ``iris-ops sim up`` is accepted for invoke's ``sim.up`` (and ``sim fleet up`` for ``sim.fleet.up``);
* a task's optional positional (``run [CODE]``) may be left out;
* parse errors read as iris-ops usage errors with the task's usage line, and an unknown task
  suggests the nearest name;
* exit codes: 2 for usage errors, the error's own code otherwise; with ``--json`` every
  failure is also a JSON document on stdout; a closed stdout ends quietly.
"""

from __future__ import annotations

import difflib
import re
import shlex
import sys
from typing import Any

import invoke
from invoke import Exit, ParseError
from invoke.completion.complete import complete, print_completion_script
from invoke.parser import Argument, Parser, ParserContext

from iris_ops import flags, helptext, outcome
from iris_ops.errors import EXIT_INTERRUPTED, IrisOpsError, UsageError

__all__ = ["PLUGIN_GROUPS", "PROGRAM_NAME", "HELP_WORDS", "IrisOpsProgram"]

#: Task groups of first-party plugin distributions: typed without the plugin, they say how to
#: install it instead of "unknown task".
PLUGIN_GROUPS = {
    "sim": ("iris-ops-sim", "pip install 'iris-ops[sim]' (from a checkout of iris-ops: pip install -e plugins/iris-ops-sim)"),
}

PROGRAM_NAME = outcome.PROGRAM_NAME
HELP_WORDS = ("-h", "--help")


class _Count(Argument):
    """``-v`` counted (``-vv``); "given" only when counted at least once, so a ``-v`` before
    the task is not reset by the task part of the command line."""

    @property
    def got_value(self) -> bool:
        return bool(self._value)


class IrisOpsProgram(invoke.Program):
    """invoke's Program with our collection, flags, help, parse errors and exit codes."""

    def core_args(self) -> list[Argument]:
        return [
            Argument(names=("help", "h"), optional=True,
                     help="Show the program's help, or a task's: `iris-ops --help TASK` or `iris-ops TASK --help`."),
            Argument(names=("version", "V"), kind=bool, default=False, help="Print the version and exit."),
            Argument(names=("list", "l"), optional=True,
                     help="List the tasks; with a name, only that group's (`--list sim`)."),
            Argument(names=("list-format", "F"), default="flat",
                     help="How --list prints: flat (default), nested or json."),
            Argument(names=("list-depth", "D"), kind=int, default=0,
                     help="With --list, show only the first N levels."),
            _Count(names=("verbose", "v"), kind=int, default=0, incrementable=True,
                   help="Show iris-ops' debug events and tracebacks; -vv adds the library logs "
                        "(invoke, docker, urllib3)."),
            Argument(names=("quiet", "q"), kind=bool, default=False, help="Only warnings and errors on stderr."),
            Argument(names=("log-format",),
                     help="Log format on stderr: auto (console on a TTY, JSON otherwise), console or json "
                          "(setting log_format)."),
            Argument(names=("print-completion-script",), default="",
                     help="Print the shell completion script for bash, zsh or fish."),
            Argument(names=("complete",), kind=bool, default=False,
                     help="Print completion candidates (used by the completion scripts)."),
        ]

    # -- parsing ---------------------------------------------------------------------------

    def parse_core(self, argv) -> None:
        self.normalize_argv(argv)
        self.parse_core_args()
        if self.args.version.value:
            self.print_version()
            raise Exit
        shell = self.args["print-completion-script"].value
        if shell:
            print_completion_script(shell=shell, names=self.binary_names)
            raise Exit
        self._configure_logging()

    def parse_core_args(self) -> None:
        super().parse_core_args()
        self.core.unparsed = self._rewrite(list(self.core.unparsed))

    def _rewrite(self, words: list[str]) -> list[str]:
        """The task part of the command line, made ready for invoke's parser: ``sim up`` reads
        as ``sim.up``; a help flag anywhere after a task, or a bare group name, asks for help."""
        collections = self.namespace.collections if self.namespace is not None else {}
        words = _dotted(self.namespace, words)
        body = words[: words.index("--")] if "--" in words else words
        if not body:
            return words
        group = _group_path(self.namespace, body)
        if group:
            self.args.help.set_value(group, cast=False)
            return []
        if any(word in HELP_WORDS for word in body[1:]) or (body[0] in collections and len(body) == 1):
            self.args.help.set_value(body[0], cast=False)
            return []
        return words

    def _make_parser(self, words: list[str] | None = None):
        """invoke's parser, with each optional positional accepted in place (``run 'CODE'``).

        With ``words`` (the task part of a command line), only the tasks named among them get a
        parser context: invoke's parser deep-copies every context on each parse (6 % of
        ``--list``'s time for 20 tasks), and a word that names no task is an unknown task
        either way."""
        if words is None:
            parser = super()._make_parser()
        else:
            named = set(words)
            unknown_help = self.config.tasks.ignore_unknown_help
            parser = Parser(initial=self.initial_context, contexts=[
                ParserContext(name=name, aliases=aliases,
                              args=self.collection[name].get_arguments(ignore_unknown_help=unknown_help))
                for name, aliases in self.collection.task_names.items() if named & {name, *aliases}])
        for context in parser.contexts.values():
            task = self.collection[context.name]
            for name in flags.optional_positionals(task):
                arg = context.args[name]
                if arg not in context.positional_args:
                    arg.positional = True
                    context.positional_args.append(arg)
        return parser

    def parse_tasks(self) -> None:
        """invoke's parse (its ``parse_tasks``, with contexts for the named tasks only), where a
        left-out optional positional takes its default."""
        filled: list[tuple[str, str]] = []
        while True:
            try:
                self.parser = self._make_parser(self.core.unparsed)
                result = self.parser.parse_argv(self.core.unparsed)
                break
            except ParseError as exc:
                spot = self._fill_optional_positional(exc, filled)
                if spot is None:
                    raise
                filled.append(spot)
        self.core_via_tasks = result.pop(0)
        self._update_core_context(context=self.core[0], new_args=self.core_via_tasks.args)
        self.tasks = result
        for task_name, arg_name in filled:
            for context in self.tasks:
                if context.name == task_name and context.args[arg_name].raw_value == "":
                    context.args[arg_name].set_value(None, cast=False)
                    break
        self._configure_logging()

    def _fill_optional_positional(self, exc: ParseError, filled: list) -> tuple[str, str] | None:
        context = exc.context
        if context is None or not context.name or "did not receive required positional" not in str(exc):
            return None
        task = self.collection[context.name]
        missing = [arg.name for arg in context.missing_positional_args]
        if not missing or not set(missing) <= set(flags.optional_positionals(task)):
            return None
        names = {context.name, *context.aliases}
        words = self.core.unparsed
        done = sum(1 for name, _ in filled if name == context.name)
        seen = 0
        for index, word in enumerate(words):
            if word in names:
                if seen == done:
                    words[index + 1:index + 1] = [flags.flag_of(missing[0]) + "="]
                    return context.name, missing[0]
                seen += 1
        return None

    def parse_cleanup(self) -> None:
        wanted = self.args.help.value
        if wanted is True:
            print(helptext.program_help(PROGRAM_NAME, self.collection, self.core_args(), full=True), end="")
            raise Exit
        if wanted:
            self._print_help_for(wanted)
            raise Exit
        listed = self.args.list.value
        if listed:
            self.list_format = self.args["list-format"].value
            self.list_depth = self.args["list-depth"].value
            if isinstance(listed, str):
                self.list_root = listed
                try:
                    self.scoped_collection = self.collection.subcollection_from_path(listed)
                except KeyError:
                    raise UsageError(f"no task group named {listed!r}",
                                     fix=f"Groups: {', '.join(sorted(self.collection.collections)) or 'none'}.")
            self.list_tasks()
            raise Exit
        if self.args.complete.value:
            self._complete()
        if not self.tasks and not self.collection.default:
            print(helptext.program_help(PROGRAM_NAME, self.collection, self.core_args(), full=False), end="")
            raise Exit

    def list_flat(self) -> None:
        """``--list``: the tasks as they are typed here (``sim up``), like the program's help."""
        if self.list_depth:
            return super().list_flat()
        prefix = f"{self._display(self.list_root).replace('.', ' ')} " if self.list_root else ""
        rows = [(prefix + name, helptext.helpline(task))
                for name, task in helptext.task_names(self.scoped_collection, spaced=True)]
        print("Tasks:", *helptext.columns(rows), "", sep="\n")

    def _print_help_for(self, name: str) -> None:
        try:
            group = self.collection.subcollection_from_path(name)
        except (KeyError, ValueError):
            group = None
        if group is not None:
            print(helptext.collection_help(PROGRAM_NAME, name.replace(".", " "), group), end="")
            return
        try:
            task = self.collection[name]
        except (KeyError, ValueError):
            raise ParseError(f"No idea what {name!r} is!") from None
        print(helptext.task_help(PROGRAM_NAME, self._display(name), task), end="")

    def _complete(self) -> None:
        """Completion candidates: invoke's for flags; task names as ``iris-ops`` spells them."""
        invocation = re.sub(r"^({}) ".format("|".join(map(re.escape, self.binary_names))), "", self.core.remainder)
        words = _dotted(self.collection, shlex.split(invocation))
        collections = self.collection.collections
        if words and words[-1].startswith("-"):
            self.core.remainder = " ".join(shlex.quote(w) for w in [self.binary_names[0], *words])
            complete(names=self.binary_names, core=self.core, initial_context=self.initial_context,
                     collection=self.collection, parser=self._make_parser())
        if words and words[0] in collections:
            group = collections[words[0]]
            for word in words[1:]:  # `sim fleet`: the innermost group's subcommands
                if word not in group.collections:
                    break
                group = group.collections[word]
            names = [words[0], *sorted(group.tasks), *sorted(group.collections)]
        else:
            names = [*sorted(self.collection.tasks), *sorted(collections)]
        print("\n".join(names))
        raise Exit

    def update_config(self, merge: bool = True) -> None:
        # None of invoke's run()/sudo/timeout flags exist here; the config stays invoke's defaults.
        if merge:
            self.config.merge()

    # -- logging ---------------------------------------------------------------------------

    def _configure_logging(self) -> None:
        from iris_ops import config, logs

        verbose = self.args.verbose.value or 0
        if verbose and self.args.quiet.value:
            raise UsageError("-q and -v cannot be combined", fix="Use -q for less output, -v (or -vv) for more.")
        if self._runs_no_task():
            return  # --list, --help and completion never log: no structlog import (start-up time)
        settings = config.load()
        level = "debug" if verbose else "warning" if self.args.quiet.value else settings.log_level
        logs.configure(level, self.args["log-format"].value or settings.log_format, force=True,
                       libraries=verbose >= 2)

    def _runs_no_task(self) -> bool:
        """The command line only asks for help, a listing or completion candidates."""
        return bool(self.args.help.value or self.args.list.value or self.args.complete.value)

    # -- errors ----------------------------------------------------------------------------

    def run(self, argv=None, exit: bool = True) -> None:  # noqa: A002 - invoke's signature
        code = self._run(argv)
        try:
            sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe cannot be caught
        except BrokenPipeError:  # help or a listing piped into `head`
            outcome.silence_stdout()
        if exit:
            sys.exit(code)

    def _run(self, argv) -> int:
        code = 0
        try:
            self.create_config()
            self.parse_core(argv)
            self.parse_collection()
            self.parse_tasks()
            self.parse_cleanup()
            self.update_config()
            self.execute()
        except ParseError as exc:
            code = self._fail(self.usage_error(exc))
        except Exit as exc:
            if exc.message:
                print(exc.message, file=sys.stderr)
            code = exc.code
        except invoke.UnexpectedExit as exc:
            code = exc.result.exited
        except IrisOpsError as exc:  # configuration or plugins, before any task
            code = self._fail(exc)
        except KeyboardInterrupt:
            outcome.report_interrupt()
            code = EXIT_INTERRUPTED
        except BrokenPipeError:  # help or a listing piped into `head`
            outcome.silence_stdout()
            code = 0
        return code

    def _fail(self, exc: IrisOpsError) -> int:
        outcome.report_error(exc)
        if self._json_requested():
            try:
                outcome.write_json(outcome.failure_document(exc))
            except BrokenPipeError:
                outcome.silence_stdout()
        return exc.exit_code

    def _json_requested(self) -> bool:
        words = self.argv[1:]
        return "--json" in (words[: words.index("--")] if "--" in words else words)

    def usage_error(self, exc: ParseError) -> UsageError:
        """invoke's parse error, said as an iris-ops usage error with the task's usage line."""
        text = str(exc).rstrip()
        context = exc.context if exc.context is not None and exc.context.name else None
        name = context.name if context is not None else self._first_task()
        task = self._task(name)
        shown = self._display(name) if name else ""
        details: dict[str, Any] = {}
        if task is not None:
            details["usage"] = helptext.usage(PROGRAM_NAME, shown, task)
        help_fix = f"See `{PROGRAM_NAME} {shown} --help`." if task is not None else f"See `{PROGRAM_NAME} --help`."
        fix = getattr(exc, "fix", None) or help_fix

        unknown = re.match(r"No idea what '(.*)' is!$", text)
        needs_value = re.match(r"Flag <\w+: ([\w-]+)[^>]*> needed value", text)
        no_value = re.match(r"Flag <\w+: ([\w-]+)[^>]*> doesn't take any value", text)
        positional = re.match(r"'(.+)' did not receive required positional arguments: (.*)$", text)
        if unknown:
            message, fix = self._unknown(unknown.group(1), context, shown, fix)
        elif needs_value:
            arg = needs_value.group(1)
            message = f"{flags.flag_of(arg)} needs a value ({flags.metavar(arg)})"
        elif no_value:
            message = f"{flags.flag_of(no_value.group(1))} takes no value"
        elif positional:
            wanted = [flags.metavar(word.strip(" '")) for word in positional.group(2).split(",")]
            message = f"{shown} needs {' and '.join(wanted)}"
        else:
            message = text.rstrip("!")
        if shown and not message.startswith(shown) and task is not None and not unknown:
            message = f"{shown}: {message}"
        return UsageError(message, fix=fix, details=details)

    def _unknown(self, word: str, context, shown: str, fix: str) -> tuple[str, str]:
        if word.startswith("-"):
            first = self._first_task()
            if context is None and first and word in self._make_parser().contexts[first].flags:
                return (f"{word} is a flag of {self._display(first)}: it goes after the task",
                        f"{PROGRAM_NAME} {self._display(first)} {word} ...")
            candidates = list(context.flags) if context is not None else [
                flag for flag in self.initial_context.flags if flag.strip("-") not in helptext.HIDDEN_GLOBALS]
            close = difflib.get_close_matches(word, candidates, n=1)
            where = f" for {shown}" if context is not None else ""
            hint = f"Did you mean {close[0]}? " if close else ""
            return f"unknown flag {word}{where}", hint + fix
        if context is not None:
            return f"{shown}: unexpected argument {word!r}", fix
        collections = self.collection.collections
        following = self._after(word)
        if word in collections:
            group, where = collections[word], word
            while following in group.collections:  # `sim fleet bogus`: the innermost group says it
                group, where, following = group.collections[following], f"{where} {following}", self._after(following)
            subs = sorted([*group.tasks, *group.collections])
            close = difflib.get_close_matches(following or "", subs, n=1)
            hint = f"Did you mean `{PROGRAM_NAME} {where} {close[0]}`? " if close else ""
            return (f"{where} has no subcommand {following!r}",
                    f"{hint}Subcommands: {', '.join(subs)} (`{PROGRAM_NAME} {where} --help`).")
        if word in PLUGIN_GROUPS:
            distribution, install = PLUGIN_GROUPS[word]
            return (f"`{PROGRAM_NAME} {word}` comes from the plugin {distribution}, which is not installed",
                    f"Install it: {install}")
        names = [name for name, _ in helptext.task_names(self.collection, spaced=True)]
        close = difflib.get_close_matches(word, names + list(collections), n=1, cutoff=0.6)
        hint = f"Did you mean `{PROGRAM_NAME} {close[0]}`? " if close else ""
        return f"unknown task {word!r}", f"{hint}`{PROGRAM_NAME} --list` shows every task."

    def _after(self, word: str) -> str | None:
        words = self.core.unparsed
        if word in words and words.index(word) + 1 < len(words):
            return words[words.index(word) + 1]
        return None

    def _first_task(self) -> str | None:
        for word in getattr(self, "core", None) and self.core.unparsed or []:
            if self._task(word) is not None:
                return word
        return None

    def _task(self, name: str | None):
        if not name:
            return None
        try:
            return self.collection[name] if hasattr(self, "collection") else self.namespace[name]
        except (KeyError, ValueError, TypeError):
            return None

    def _display(self, name: str) -> str:
        """``sim.up`` as typed on the ``iris-ops`` command line: ``sim up`` (``sim fleet up``)."""
        head, _, rest = name.partition(".")
        collections = self.namespace.collections if self.namespace is not None else {}
        return name.replace(".", " ") if rest and head in collections else name


def _dotted(root, words: list[str]) -> list[str]:
    """``sim fleet up ...`` as invoke names the task: ``sim.fleet.up ...`` (group words, then a
    task of the innermost group); other words as they are."""
    group, path = root, []
    for index, word in enumerate(words):
        if group is None:
            break
        if word in group.collections:
            group, path = group.collections[word], [*path, word]
        elif path and word in group.tasks:
            return [".".join([*path, word]), *words[index + 1:]]
        else:
            break
    return words


def _group_path(root, body: list[str]) -> str:
    """``sim fleet`` (a group inside a group, alone or with a help flag): ``sim.fleet``; else ""."""
    group, path = root, []
    for word in body:
        if group is None or word not in group.collections:
            break
        group, path = group.collections[word], [*path, word]
    rest = body[len(path):]
    if len(path) > 1 and all(word in HELP_WORDS for word in rest):
        return ".".join(path)
    return ""
