"""The command line: the ``iris-ops`` program, the task collection, and exit codes.

``iris-ops`` is an :class:`invoke.Program` serving the collection that :func:`build_collection`
assembles from every plugin's ``register_tasks``; a project's ``tasks.py`` exposes the very
same collection to ``inv``.  This is the only layer that turns exceptions into exit codes.
"""

from __future__ import annotations

import functools
import inspect
import sys
import traceback
from typing import Any, Callable

import invoke
from invoke import Collection, Exit, ParseError
from invoke.parser import Argument

from iris_ops import __version__
from iris_ops.errors import IrisOpsError

PROGRAM_NAME = "iris-ops"

#: Flags every task that talks to an instance accepts, with their help.  Each overrides the
#: setting of the same name (see :mod:`iris_ops.config`).
TARGET_FLAGS: dict[str, str] = {
    "container": "IRIS container name or id (setting `container`, env IRIS_OPS_CONTAINER)",
    "instance": "IRIS instance name inside the container (default IRIS)",
    "transport": "docker or local (setting `transport`)",
    "docker_host": "Docker engine URL, e.g. unix:///var/run/docker.sock (default: DOCKER_HOST)",
    "timeout": "seconds one ObjectScript session may take",
}


def build_collection(disabled: list[str] | None = None) -> Collection:
    """The task collection of every registered plugin.  No I/O beyond reading plugin metadata
    and the project config file; imports neither docker nor iris."""
    from iris_ops.manager import get_plugin_manager
    from iris_ops.registrar import TaskRegistrar

    pm = get_plugin_manager(disabled)
    registrar = TaskRegistrar()
    for impl in pm.hook.register_tasks.get_hookimpls():
        impl.function(registrar=registrar.for_plugin(impl.plugin_name))
    return registrar.populate(Collection())


def task(*args: Any, **kwargs: Any) -> Callable:
    """Like :func:`invoke.task`, and errors become iris-ops exit codes and messages.

    Use it for plugin tasks too: ``@task(help={...})`` or bare ``@task``.
    ``target=True`` adds the instance flags of :data:`TARGET_FLAGS` to the task's signature;
    they reach the body as keyword arguments.
    """
    with_target = kwargs.pop("target", False)

    def decorate(fn: Callable) -> invoke.Task:
        body = _error_boundary(fn)
        if with_target:
            body = _with_target_flags(body, fn)
            kwargs["help"] = {**TARGET_FLAGS, **kwargs.get("help", {})}
        return invoke.task(**kwargs)(body)

    if args and callable(args[0]) and len(args) == 1 and not kwargs:
        return decorate(args[0])
    return decorate


def _with_target_flags(body: Callable, original: Callable) -> Callable:
    sig = inspect.signature(original)
    # The body takes the flags through **kwargs; invoke sees them as ordinary parameters.
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    names = {p.name for p in params}
    extra = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
        for name in TARGET_FLAGS
        if name not in names
    ]

    @functools.wraps(body)
    def wrapper(c, *a, **kw):
        return body(c, *a, **kw)

    wrapper.__signature__ = sig.replace(parameters=[*params, *extra])  # type: ignore[attr-defined]
    return wrapper


def _error_boundary(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def body(c, *args, **kwargs):
        _configure_logging_once()
        try:
            return fn(c, *args, **kwargs)
        except IrisOpsError as exc:
            report_error(exc)
            raise Exit(code=exc.exit_code) from None
        except (Exit, ParseError, invoke.UnexpectedExit):
            raise
        except KeyboardInterrupt:
            print(f"{PROGRAM_NAME}: interrupted; cleanup ran.", file=sys.stderr)
            raise Exit(code=130) from None
        except Exception as exc:  # the one place that catches everything
            report_internal_error(exc)
            raise Exit(code=1) from None

    return body


def _configure_logging_once() -> None:
    """Tasks run under plain ``inv`` too, where our Program did not configure logging."""
    from iris_ops import config, logs

    if logs._configured:
        return
    settings = config.load()
    logs.configure(settings.log_level, settings.log_format)


def _verbose() -> bool:
    import logging

    return logging.getLogger().getEffectiveLevel() <= logging.DEBUG


def report_error(exc: IrisOpsError) -> None:
    """An expected failure: what went wrong and how to fix it, on stderr."""
    import structlog

    details = {k: v for k, v in exc.details.items() if v not in (None, "", [], {})}
    structlog.get_logger("iris_ops").error(
        exc.message, exit_code=exc.exit_code, error=type(exc).__name__, fix=exc.fix or None, **details
    )
    if _verbose():
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)


def report_internal_error(exc: BaseException) -> None:
    import structlog

    structlog.get_logger("iris_ops").error(
        f"unexpected internal error: {type(exc).__name__}: {exc}",
        exit_code=1,
        fix="This is a bug in iris-ops or a plugin; rerun with -v for the traceback and report it.",
    )
    if _verbose():
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)


def print_plain_error(exc: IrisOpsError) -> None:
    """Before logging is configured (bad config file, broken plugin): plain text on stderr."""
    print(f"{PROGRAM_NAME}: {exc.message}\n  fix: {exc.fix}", file=sys.stderr)


class IrisOpsProgram(invoke.Program):
    """invoke's Program with our collection, our version, logging flags and our exit codes."""

    def core_args(self) -> list[Argument]:
        return [
            *super().core_args(),
            Argument(names=("verbose", "v"), kind=bool, default=False, help="Debug logs and tracebacks."),
            Argument(names=("quiet", "q"), kind=bool, default=False, help="Only warnings and errors on stderr."),
            Argument(
                names=("log-format",),
                help="Log format on stderr: auto (console on a TTY, else JSON), console or json "
                "(env IRIS_OPS_LOG_FORMAT).",
            ),
        ]

    def normalize_argv(self, argv) -> None:
        """Accept ``iris-ops sim up`` for invoke's ``sim.up``: a sub-collection's name followed
        by one of its tasks reads as that task (plain ``inv`` keeps the dotted form)."""
        super().normalize_argv(argv)
        collections = self.namespace.collections if self.namespace is not None else {}
        rewritten: list[str] = []
        args = list(self.argv)
        index = 0
        while index < len(args):
            word = args[index]
            following = args[index + 1] if index + 1 < len(args) else None
            if word in collections and following is not None and following in collections[word].tasks:
                rewritten.append(f"{word}.{following}")
                index += 2
                continue
            rewritten.append(word)
            index += 1
        self.argv = rewritten

    def parse_cleanup(self) -> None:
        self._configure_logging()
        super().parse_cleanup()

    def _configure_logging(self) -> None:
        from iris_ops import config, logs

        try:
            settings = config.load()
            level = settings.log_level
            if self.args.verbose.value:
                level = "debug"
            elif self.args.quiet.value:
                level = "warning"
            logs.configure(level, self.args["log-format"].value or settings.log_format, force=True)
        except IrisOpsError as exc:
            print_plain_error(exc)
            raise Exit(code=exc.exit_code) from None

    # invoke.Program.run with our exit codes: a parse error is a usage error (2), and
    # errors raised while loading plugins keep their own codes.
    def run(self, argv=None, exit: bool = True) -> None:  # noqa: A002
        try:
            self.create_config()
            self.parse_core(argv)
            self.parse_collection()
            self.parse_tasks()
            self.parse_cleanup()
            self.update_config()
            self.execute()
        except ParseError as exc:
            print(f"{PROGRAM_NAME}: {exc}", file=sys.stderr)
            print("  fix: see `iris-ops --help <task>` for the task's flags.", file=sys.stderr)
            if exit:
                sys.exit(2)
        except Exit as exc:
            if exc.message:
                print(exc.message, file=sys.stderr)
            if exit:
                sys.exit(exc.code)
        except invoke.UnexpectedExit as exc:
            if exit:
                sys.exit(exc.result.exited)
        except IrisOpsError as exc:  # raised while building the collection, before any task
            print_plain_error(exc)
            if exit:
                sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            if exit:
                sys.exit(130)


def make_program() -> invoke.Program:
    return IrisOpsProgram(
        name="iris-ops",
        binary="iris-ops",
        binary_names=["iris-ops"],
        version=__version__,
        namespace=build_collection(),
    )


def main(argv: list[str] | None = None) -> None:
    try:
        program = make_program()
    except IrisOpsError as exc:  # a broken plugin or config file, before any task
        print_plain_error(exc)
        sys.exit(exc.exit_code)
    program.run(argv)
