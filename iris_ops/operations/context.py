"""What the built-in operations share in their task bodies: an :class:`~iris_ops.operation.Operation`
built from the task's flags (the plugins loaded), confirmation before destroying data, and the
refusal of ``--json`` with ``--dry-run``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Mapping

from iris_ops.errors import UsageError

if TYPE_CHECKING:
    from iris_ops.operation import Operation

__all__ = ["operation_from_flags", "no_such_namespace", "confirm", "refuse_json_dry_run"]


def operation_from_flags(name: str, flags: Mapping[str, Any], *, dry_run: bool = False) -> "Operation":
    """The operation ``name`` against the instance the settings and ``flags`` (a task's
    ``**target``) name, with every plugin loaded.  ``flags["target"]`` names a target of the
    project file: its table applies between the environment and the other flags."""
    from iris_ops import config
    from iris_ops.fleet import targets
    from iris_ops.manager import get_plugin_manager, plugin_defaults
    from iris_ops.operation import Operation

    pm = get_plugin_manager()
    flags = dict(flags)
    named = flags.pop("target", None)
    settings = config.load(plugin_defaults(pm))
    if named:
        fleet = targets.load(settings)
        targets.require_fleet_extra([fleet.entry(named)])
        settings = fleet.settings_for(named, settings)
    settings = settings.with_overrides(flags)
    return Operation(name, settings, pm, dry_run=dry_run)


def no_such_namespace(op: "Operation", namespace: str) -> UsageError:
    """Exit 2: the user named a namespace the instance does not have."""
    return UsageError(
        f"namespace {namespace} does not exist in {op.target.describe()}",
        fix="Check the name: `iris-ops run --ns %SYS 'Do ##class(%SYS.Namespace).ListAll(.n) zwrite n'`.",
    )


def refuse_json_dry_run(json_: bool, dry_run: bool) -> None:
    """A dry run's output is the scripts it would run, not a JSON document."""
    if json_ and dry_run:
        raise UsageError("--json and --dry-run cannot be combined: a dry run prints scripts",
                         fix="Drop --json to see the scripts, or --dry-run to run the task.")


def confirm(question: str, *, refused: str, yes_flag: str = "--yes") -> None:
    """Ask before destroying data.  Without a terminal to ask on, refuse (exit 2) and say how
    to confirm instead."""
    from iris_ops import progress

    if not sys.stdin.isatty():
        raise UsageError(f"{refused} without confirmation",
                         fix=f"Pass {yes_flag} to confirm (stdin is not a terminal, so iris-ops cannot ask).")
    progress.end_line()
    answer = input(f"{question} [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise UsageError("not confirmed; nothing was changed", fix=f"Answer y, or pass {yes_flag}.")
