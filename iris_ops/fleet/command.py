"""From a task invoked with ``--targets`` / ``--all-targets`` to the run on each target: the
targets resolved and checked, and each target's command line, the task's own flags as given with
``--target NAME`` and JSON output (:mod:`iris_ops.fleet.fanout` runs them)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable, Mapping

from iris_ops import config
from iris_ops.errors import UsageError
from iris_ops.fleet import fanout, targets as fleet_targets

__all__ = ["DEFAULT_PARALLEL", "resolve", "child_words", "fan_out"]

DEFAULT_PARALLEL = 8


def resolve(settings: config.Settings, spec: str, every: bool) -> list[str]:
    """The targets ``--targets spec`` (or ``--all-targets``) names, the project file checked
    whole, and Fabric there when one is reached over SSH."""
    fleet = fleet_targets.load(settings)
    if every and spec:
        raise UsageError("--targets and --all-targets cannot be combined",
                         fix="Name the targets with --targets NAME,GROUP, or run on all with --all-targets.")
    names = fleet.names() if every else fleet.resolve(spec)
    fleet_targets.require_fleet_extra([fleet.entry(name) for name in names])
    return names


def child_words(fn: Callable, args: tuple, kwargs: Mapping[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    """The flags that give one target's run what this run was given: every parameter whose
    value differs from its default (a required positional always), as ``--name=value``."""
    params = [p for p in list(inspect.signature(fn).parameters.values())[1:]
              if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)]
    defaults = {p.name: p.default for p in params}
    values = {**dict(zip(defaults, args)), **kwargs}
    words = []
    for name, value in values.items():
        default = defaults.get(name)
        if name in skip or value is None or (value == default and default is not inspect.Parameter.empty):
            continue
        flag = "--" + name.strip("_").replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + flag[2:])
        else:
            words.append(f"{flag}={value}")
    return words


def fan_out(fn: Callable, args: tuple, kwargs: dict, *, targets: str, every: bool, parallel: int | None,
            per_target: Mapping[str, Callable | None], figure: Callable[[dict], str] | None,
            program: list[str], word: str) -> dict:
    """Run the task ``fn`` was invoked as once per named target (see :func:`fanout.run`)."""
    from iris_ops.manager import get_plugin_manager, plugin_defaults

    if kwargs.get("target"):
        raise UsageError("--target names one target, --targets and --all-targets many: give one of them",
                         fix="Drop --target, or drop --targets / --all-targets.")
    if kwargs.get("file") == "-" or kwargs.get("password_stdin"):
        raise UsageError("standard input cannot be read by many targets' runs at once",
                         fix="Put the input in a file and pass it by name (--file PATH, --password-env NAME).")
    parallel = DEFAULT_PARALLEL if parallel is None else parallel
    if parallel < 1:
        raise UsageError(f"--parallel must be at least 1, got {parallel}", fix="Pass --parallel 1 or more (default 8).")
    settings = config.load(plugin_defaults(get_plugin_manager()))
    names = resolve(settings, targets, every)
    bases = {}
    for flag, default in per_target.items():
        given = kwargs.get(flag) or (default(kwargs, settings) if default is not None else "")
        if given:
            bases[flag] = Path(str(given)).expanduser()
    takes_json = "json_" in inspect.signature(fn).parameters
    # a dry run prints scripts, not a document: each target's run refuses --json with it itself
    child_json = takes_json and (not kwargs.get("dry_run") or bool(kwargs.get("json_")))
    shared = child_words(fn, args, kwargs, skip=("json_", "target", *bases))

    def command(name: str) -> list[str]:
        own = [f"--{flag.strip('_').replace('_', '-')}={base / name}" for flag, base in bases.items()]
        return [*program, word, *shared, *own, f"--target={name}", *(["--json"] if child_json else [])]

    return fanout.run(fanout.Plan(names, command, parallel=parallel, json_output=bool(kwargs.get("json_")),
                                  figure=figure, child_json=child_json))
