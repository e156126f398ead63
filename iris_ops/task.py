"""The ``task`` decorator: :func:`invoke.task` with the iris-ops flag scheme, and the boundary
where errors become exit codes and messages (under ``iris-ops`` and plain ``inv`` alike).

Every operation, built-in or a plugin's, makes its tasks with it; it sits below the command
line (:mod:`iris_ops.cli`), which only assembles the collection and runs the program.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from typing import Any, Callable

import invoke
from invoke import Exit, ParseError

from iris_ops import errors, flags, helptext, outcome, signals
from iris_ops.errors import EXIT_STDOUT_CLOSED, IrisOpsError, UsageError
from iris_ops.flags import FLEET_FLAGS, TARGET_FLAGS

__all__ = ["task", "TARGET_FLAGS", "FLEET_FLAGS"]


def task(*args: Any, **kwargs: Any) -> Callable:
    """Like :func:`invoke.task`, with the iris-ops flag scheme (:mod:`iris_ops.flags`), and
    errors become iris-ops exit codes and messages.

    Use it for plugin tasks too: ``@task(help={...})`` or bare ``@task``.

    * ``target=True`` adds the instance flags of :data:`TARGET_FLAGS` to the task's signature;
      they reach the body as keyword arguments.  It adds the flags of named targets too
      (:data:`iris_ops.flags.FLEET_FLAGS`): ``--target NAME`` reaches the body with the others
      (:func:`iris_ops.operations.context.operation_from_flags` applies it); ``--targets`` and
      ``--all-targets`` run the task once per target, each in a process of its own
      (:mod:`iris_ops.fleet`), and never reach the body.
    * ``per_target={"out": default}`` (with ``target=True``): on many targets, each target's run
      gets ``<value>/<target>`` for that path flag; ``default(flags, settings)`` is the value when
      the flag is not given (None: the flag is left out).
    * ``figure=fn`` (with ``target=True``): ``fn(document)`` is the key figure of a target's
      successful run in the table of a run on many targets (``document``: its ``--json`` output).
    * ``required=("ns",)`` names flags the task cannot run without: a missing one is a usage
      error with the task's usage line, before the body runs.
    * A parameter ``json_`` makes ``--json``: the body returns a dict, printed as the one JSON
      document ``{"ok": true, ...}``; a failure prints ``{"ok": false, "error": ..., ...}``.
    * The docstring's first line is the task's summary; an ``Examples:`` paragraph of indented
      command lines appears in its help and in docs/tasks.md.
    """
    with_target = kwargs.pop("target", False)
    per_target = kwargs.pop("per_target", {})
    figure = kwargs.pop("figure", None)
    kwargs.setdefault("klass", flags.IrisOpsTask)

    def decorate(fn: Callable) -> invoke.Task:
        made: dict[str, invoke.Task] = {}
        body = _error_boundary(_on_targets(fn, made, per_target, figure) if with_target else fn, made)
        if with_target:
            body = _with_target_flags(body, fn)
            kwargs["help"] = {**TARGET_FLAGS, **FLEET_FLAGS, **kwargs.get("help", {})}
        made["task"] = invoke.task(**kwargs)(body)
        made["task"].target_flags = (*TARGET_FLAGS, *FLEET_FLAGS) if with_target else ()
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
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=False if name == "all_targets" else None)
        for name in (*TARGET_FLAGS, *FLEET_FLAGS)
        if name not in names
    ]

    @functools.wraps(body)
    def wrapper(c, *a, **kw):
        return body(c, *a, **kw)

    wrapper.__signature__ = sig.replace(parameters=[*params, *extra])  # type: ignore[attr-defined]
    return wrapper


def _on_targets(fn: Callable, made: dict, per_target: dict, figure: Callable | None) -> Callable:
    """The body, or with ``--targets`` / ``--all-targets`` the body once per target, each run in
    a child process (:mod:`iris_ops.fleet.command`)."""

    @functools.wraps(fn)
    def body(c, *args, **kwargs):
        many, every, parallel = kwargs.pop("targets", None), kwargs.pop("all_targets", False), kwargs.pop("parallel", None)
        if not many and not every:
            if parallel is not None:
                raise UsageError("--parallel goes with --targets or --all-targets",
                                 fix="Name the targets: --targets NAME,GROUP (or --all-targets), or drop --parallel.")
            return fn(c, *args, **kwargs)
        from iris_ops.fleet import command

        return command.fan_out(fn, args, kwargs, targets=many or "", every=every, parallel=parallel,
                               per_target=per_target, figure=figure,
                               program=_child_program(), word=_child_word(made["task"]))

    return body


def _child_program() -> list[str]:
    """How a target's own run is started: this program again, with this Python.  Under plain
    ``inv``, invoke with the same collection options, so a project's own tasks are found too."""
    if _prog() != "inv":
        return [sys.executable, "-m", "iris_ops"]
    words, kept = sys.argv[1:], []
    for index, word in enumerate(words):
        if word in ("-c", "--collection", "-r", "--search-root") and index + 1 < len(words):
            kept += [word, words[index + 1]]
        elif word.startswith(("--collection=", "--search-root=")):
            kept.append(word)
    return [sys.executable, "-m", "invoke", *kept]


def _child_word(made_task: invoke.Task) -> str:
    """The task's name for the child's command line (``sim.create-db`` is understood by both)."""
    return _typed_name(made_task) if _prog() == "inv" else (getattr(made_task, "typed_name", None) or made_task.name)


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
    return "inv" if called in ("inv", "invoke") else outcome.PROGRAM_NAME


def _configure_logging_once() -> None:
    """Tasks run under plain ``inv`` too, where our Program did not configure logging."""
    from iris_ops import config, logs

    if logs.is_configured():
        return
    settings = config.load()
    logs.configure(settings.log_level, settings.log_format)
