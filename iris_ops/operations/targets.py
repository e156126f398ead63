"""Built-in plugin: the `targets` task, which lists the project file's named targets and groups,
and with ``--check`` opens a session on each (in parallel, a process per target, as any task on
many targets)."""

from __future__ import annotations

from iris_ops import hookimpl
from iris_ops.task import task

__all__ = ["targets", "register_tasks"]


def _figure(doc: dict) -> str:
    state = "frozen (write daemon suspended)" if doc.get("frozen") else "reachable"
    return f"{state}: {doc.get('where', '')}"


def _where(settings) -> str:
    """Where a target's instance is, in a few words."""
    named = settings.named
    instance = f"instance {settings.instance.upper()}"
    if settings.transport == "ssh":
        inside = f"container {settings.container}" if settings.container else "native"
        return f"{named.host if named else '?'}, {inside}, {instance}"
    if settings.transport == "docker":
        engine = f" on {settings.docker_host}" if settings.docker_host else ""
        return f"container {settings.container or '(none set)'}{engine}, {instance}"
    return f"{settings.transport}, {instance}"


@task(help={
    "check": "open a session on each target (in parallel) and report each; exit code: the worst target's",
    "target": "only this target",
    "targets": "only these targets and groups (comma-separated)",
    "parallel": "with --check: how many targets are checked at once (default 8)",
    "json": "print the targets (or, with --check, the rows) as one JSON document",
})
def targets(c, check=False, target=None, targets=None, parallel=None, json_=False):
    """List the named targets and groups of the project file; --check connects to each.

    A target is a [targets.NAME] table of the project file (iris-ops.toml), with the instance
    settings it overrides (container, instance, docker_host, ...) and, for a host reached over
    SSH, host = "NAME" (needs `pip install 'iris-ops[fleet]'`). A group names targets:
    [groups] ci = ["ci-1", "ci-2"]. Every task that takes an instance runs on one target with
    --target NAME, and on many with --targets NAME,GROUP or --all-targets.

    --check runs a trivial session on each target through its transport, a process per target,
    and prints a row per target; the exit code is the worst target's (see the README).

    Examples:
        iris-ops targets
        iris-ops targets --check
        iris-ops targets --check --targets ci --json
    """
    import sys

    from iris_ops import config
    from iris_ops.errors import UsageError
    from iris_ops.fleet import command
    from iris_ops.fleet import targets as fleet_targets
    from iris_ops.manager import get_plugin_manager, plugin_defaults

    if target and targets:
        raise UsageError("--target names one target, --targets many: give one of them",
                         fix="Drop --target, or drop --targets.")
    if parallel is not None and not (check and not target):
        raise UsageError("--parallel goes with --check", fix="Drop --parallel, or add --check.")
    if check and target:
        doc = _check_one(target)
        if not json_:
            print(f"{target}: {_figure(doc)}")
        return doc if json_ else None
    settings = config.load(plugin_defaults(get_plugin_manager()))
    fleet = fleet_targets.load(settings)
    names = [target] if target else command.resolve(settings, targets or "", every=not targets) if check or targets \
        else list(fleet.targets)
    if target:
        fleet.entry(target)
    if check:
        return command.fan_out(targets_task_body, (), {"check": True, "json_": json_}, targets=",".join(names),
                               every=False, parallel=parallel, per_target={}, figure=_figure,
                               program=[sys.executable, "-m", "iris_ops"], word="targets")
    rows = []
    for name in names:
        effective = fleet.settings_for(name, settings)
        rows.append({"name": name, "transport": effective.transport, "host": fleet.targets[name].host or None,
                     "container": effective.container or None, "instance": effective.instance.upper(),
                     "where": _where(effective), "groups": [g for g, members in fleet.groups.items() if name in members]})
    groups = {name: list(members) for name, members in fleet.groups.items()}
    if json_:
        return {"project_file": str(fleet.path) if fleet.path else None, "targets": rows, "groups": groups}
    if not rows:
        print(f"no targets ({fleet.path or 'no project file'}); define [targets.NAME] tables in iris-ops.toml")
        return None
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        print(f"{row['name']:<{width}}  {row['transport']:<7}  {row['where']}"
              + (f"  (groups: {', '.join(row['groups'])})" if row["groups"] else ""))
    for name, members in groups.items():
        print(f"group {name}: {', '.join(members)}")
    return None


def targets_task_body(c, check=False, json_=False):
    """The flags a target's own check is started with (``targets --check --target NAME``): the
    signature :func:`iris_ops.fleet.command.child_words` reads; never called."""


def _check_one(name: str) -> dict:
    """A trivial read-only session on one target through its transport."""
    from iris_ops import script_builders
    from iris_ops.operations.context import operation_from_flags

    op = operation_from_flags("targets", {"target": name})
    with op.bound():
        result = op.runner.run(script_builders.wd_suspended(), changes=False)
    frozen = bool(int(result.get("suspended") or 0))
    return {"target": name, "transport": op.target.transport, "where": _where(op.settings), "frozen": frozen}


@hookimpl
def register_tasks(registrar):
    registrar.add_task(targets)
