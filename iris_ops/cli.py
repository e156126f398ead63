"""The command line: the task decorator, the task collection, and the ``iris-ops`` entry point.

``iris-ops`` is :class:`iris_ops.program.IrisOpsProgram` serving the collection that
:func:`build_collection` assembles from every plugin's ``register_tasks``; a project's
``tasks.py`` exposes the very same collection to ``inv``.  Tasks made with :func:`task` turn
errors into exit codes and messages under both, and this is the only layer that does.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from typing import Any, Callable

import invoke
from invoke import Collection, Exit, ParseError

from iris_ops import __version__, errors, flags, helptext, outcome, signals
from iris_ops.errors import EXIT_STDOUT_CLOSED, IrisOpsError, UsageError
from iris_ops.flags import TARGET_FLAGS  # noqa: F401 - public: the flags `target=True` adds

PROGRAM_NAME = outcome.PROGRAM_NAME


def build_collection(disabled: list[str] | None = None, *, pm=None) -> Collection:
    """The task collection of every registered plugin (or of ``pm``'s).  No I/O beyond reading
    plugin metadata and the project config file; imports neither docker nor iris."""
    from iris_ops.manager import get_plugin_manager
    from iris_ops.registrar import TaskRegistrar

    pm = pm or get_plugin_manager(disabled)
    registrar = TaskRegistrar()
    from iris_ops.manager import BUILTIN_PLUGINS, _warn_once

    # Built-ins claim their names first: a plugin reusing one loses its task, not the tool.
    impls = sorted(pm.hook.register_tasks.get_hookimpls(), key=lambda i: i.plugin_name not in BUILTIN_PLUGINS)
    for impl in impls:
        try:
            impl.function(registrar=registrar.for_plugin(impl.plugin_name))
        except IrisOpsError as exc:  # one plugin's tasks are lost, never the tool
            if impl.plugin_name in BUILTIN_PLUGINS:
                raise
            _warn_once(impl.plugin_name, "register_tasks", exc)
    collection = registrar.populate(Collection())
    for name in collection.task_names:
        flags.remember_help(collection[name])
        collection[name].typed_name = name  # `delete-ns`, `sim.create-db`: not the function's name
    return collection


def task(*args: Any, **kwargs: Any) -> Callable:
    """Like :func:`invoke.task`, with the iris-ops flag scheme (:mod:`iris_ops.flags`), and
    errors become iris-ops exit codes and messages.

    Use it for plugin tasks too: ``@task(help={...})`` or bare ``@task``.

    * ``target=True`` adds the instance flags of :data:`TARGET_FLAGS` to the task's signature;
      they reach the body as keyword arguments.
    * ``required=("ns",)`` names flags the task cannot run without: a missing one is a usage
      error with the task's usage line, before the body runs.
    * A parameter ``json_`` makes ``--json``: the body returns a dict, printed as the one JSON
      document ``{"ok": true, ...}``; a failure prints ``{"ok": false, "error": ..., ...}``.
    * The docstring's first line is the task's summary; an ``Examples:`` paragraph of indented
      command lines appears in its help and in docs/tasks.md.
    """
    with_target = kwargs.pop("target", False)
    kwargs.setdefault("klass", flags.IrisOpsTask)

    def decorate(fn: Callable) -> invoke.Task:
        made: dict[str, invoke.Task] = {}
        body = _error_boundary(fn, made)
        if with_target:
            body = _with_target_flags(body, fn)
            kwargs["help"] = {**TARGET_FLAGS, **kwargs.get("help", {})}
        made["task"] = invoke.task(**kwargs)(body)
        made["task"].target_flags = tuple(TARGET_FLAGS) if with_target else ()
        return made["task"]

    if args and callable(args[0]) and len(args) == 1:
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


def _error_boundary(fn: Callable, made: dict) -> Callable:
    json_flag = "json_" in inspect.signature(fn).parameters

    @functools.wraps(fn)
    def body(c, *args, **kwargs):
        _configure_logging_once()
        as_json = json_flag and bool(kwargs.get("json_"))
        # SIGTERM/SIGHUP raise like Ctrl-C inside; later signals wait until cleanup has ended.
        with signals.handled():
            return _run_reporting(fn, made, as_json, c, args, kwargs)

    return body


def _run_reporting(fn: Callable, made: dict, as_json: bool, c, args, kwargs):
    try:
        made_task = made.get("task")
        if made_task is not None:
            if _positional_asks_help(made_task, kwargs):
                print(helptext.task_help(_prog(), _typed_name(made_task), made_task), end="")
                return None
            _check_required(made_task, kwargs)
        result = fn(c, *args, **kwargs)
        if as_json:
            outcome.write_json({"ok": True, **(result or {})})
        sys.stdout.flush()  # a closed stdout shows here, as this task's outcome
        return result
    except IrisOpsError as exc:
        outcome.report_error(exc)
        _json_failure(as_json, exc)
        raise Exit(code=exc.exit_code) from None
    except (Exit, ParseError, invoke.UnexpectedExit):
        raise
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP as signals.Interrupted
        outcome.report_interrupt(exc)
        _json_failure(as_json, exc)
        raise Exit(code=signals.exit_code_of(exc)) from None
    except BrokenPipeError:
        outcome.silence_stdout()
        raise Exit(code=EXIT_STDOUT_CLOSED) from None
    except Exception as exc:  # the one place that catches everything
        # A full disk here (or a path too long) is expected, not a bug: exit 2 naming the path
        # (--out when the OS did not say which file), with what to do.
        usage = errors.from_host_oserror(exc, kwargs.get("out")) if isinstance(exc, OSError) else None
        if usage is not None:
            outcome.report_error(usage)
            _json_failure(as_json, usage)
            raise Exit(code=usage.exit_code) from None
        outcome.report_internal_error(exc)
        _json_failure(as_json, exc)
        raise Exit(code=1) from None


def _json_failure(as_json: bool, exc: BaseException) -> None:
    if not as_json:
        return
    try:
        outcome.write_json(outcome.failure_document(exc))
    except BrokenPipeError:
        outcome.silence_stdout()


def _positional_asks_help(made_task: invoke.Task, kwargs: dict) -> bool:
    """Plain ``inv run --help``: invoke hands ``--help`` to the positional.  Help, not a run."""
    return any(kwargs.get(name) in ("-h", "--help") for name in made_task.positional)


def _check_required(made_task: invoke.Task, kwargs: dict) -> None:
    for name in flags.required_flags(made_task):
        if kwargs.get(name) in (None, ""):
            typed = _typed_name(made_task)
            usage = helptext.usage(_prog(), typed, made_task)
            raise UsageError(f"{typed} needs {flags.flag_of(name)} {flags.metavar(name)}",
                             fix=f"For example: {_first_example(made_task) or usage}",
                             details={"usage": usage})


def _first_example(made_task: invoke.Task) -> str:
    examples = helptext.task_doc(made_task).examples
    return examples[0].replace("iris-ops ", _prog() + " ", 1) if examples else ""


def _typed_name(made_task: invoke.Task) -> str:
    """The task's name as users type it, never the function's: ``delete-ns``, ``sim create-db``;
    under plain ``inv`` the dotted word on the command line (``sim.create-db``, or however a
    project's ``tasks.py`` nests the collection)."""
    known = getattr(made_task, "typed_name", None) or made_task.name.replace("_", "-")
    if _prog() != "inv":
        return known.replace(".", " ")
    own = known.rsplit(".", 1)[-1]
    return next((word for word in sys.argv[1:] if word == own or word.endswith("." + own)), known)


def _prog() -> str:
    path = sys.argv[0] if sys.argv else ""
    called = os.path.basename(path)
    if called == "__main__.py":  # python -m invoke
        called = os.path.basename(os.path.dirname(path))
    return "inv" if called in ("inv", "invoke") else PROGRAM_NAME


def _configure_logging_once() -> None:
    """Tasks run under plain ``inv`` too, where our Program did not configure logging."""
    from iris_ops import config, logs

    if logs.is_configured():
        return
    settings = config.load()
    logs.configure(settings.log_level, settings.log_format)


def make_program() -> invoke.Program:
    from iris_ops.program import IrisOpsProgram

    return IrisOpsProgram(
        name=PROGRAM_NAME,
        binary=PROGRAM_NAME,
        binary_names=[PROGRAM_NAME],
        version=__version__,
        namespace=build_collection(),
    )


def main(argv: list[str] | None = None) -> None:
    try:
        program = make_program()
    except IrisOpsError as exc:  # a broken plugin or config file, before any task
        outcome.print_plain_error(exc)
        if "--json" in (argv or sys.argv)[1:]:
            outcome.write_json(outcome.failure_document(exc))
        sys.exit(exc.exit_code)
    program.run(argv)
