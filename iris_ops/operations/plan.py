"""Built-in plugin: ``plan``, what the instance lacks of a desired state (:mod:`iris_ops.state`).

Reads the state (``--state FILE``, ``--cpf FILE``, or ``[state]`` of the project file), then the
current state of each object it names in one read-only session, and prints each object with
``create``, ``change`` (field by field, old -> new) or ``ok``.  It changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from iris_ops import hookimpl
from iris_ops.errors import UsageError
from iris_ops.task import task

__all__ = ["plan", "register_tasks", "desired_state", "fixtures_exist", "read_current", "read_objects", "run_in_context"]


def desired_state(state: str, cpf: str, kinds: tuple, start: Path | None = None):
    """The desired state the flags name: ``--state FILE``, ``--cpf FILE``, or the project file's
    ``[state]``, read with ``kinds`` (:func:`iris_ops.manager.state_kinds`).  Exit 2 when none,
    or both flags, are given."""
    from iris_ops.state import read_cpf, read_project_state, read_state_file

    if state and cpf:
        raise UsageError("--state and --cpf cannot be combined: a plan reads one desired state",
                         fix="Give one of them.")
    if state:
        return read_state_file(Path(state), kinds)
    if cpf:
        return read_cpf(Path(cpf), kinds)
    found = read_project_state(start, kinds)
    if found is None:
        raise UsageError("no desired state: give --state FILE or --cpf FILE, or add a [state] table to iris-ops.toml",
                         fix="docs/STATE.md describes the file, e.g. [state.databases.APP_DATA] with "
                             "directory = \"app-data\".")
    return found


@task(target=True, help={
    "state": "a TOML file whose [state] table is the desired state (default: [state] of iris-ops.toml)",
    "cpf": "a CPF merge file (its [Actions], [Databases], [Namespaces] and [Map.<NS>] sections) as the desired state",
    "json": "print the plan as one JSON document",
})
def plan(c, state="", cpf="", json_=False, **target):
    """Show what the instance lacks of a desired state: each object as create, change or ok.

    The desired state is `--state FILE`, `--cpf FILE`, or the [state] table of iris-ops.toml.
    The instance is read in one read-only session; nothing is changed. A field the state does
    not give is not compared; an object it does not name is not read.

    Examples:
        iris-ops plan
        iris-ops plan --cpf merge.cpf
        iris-ops plan --state state.toml --json
    """
    from iris_ops.manager import state_kinds
    from iris_ops.operations.context import operation_from_flags
    from iris_ops.state import plan as planning

    kinds = state_kinds()
    desired = desired_state(state, cpf, kinds)
    from iris_ops.operations.apply_unfinished import unfinished_line, warn_unfinished

    op = operation_from_flags("plan", target)
    with op.bound(source=desired.source):
        result = read_current(op, desired, kinds)
        steps = planning.compare(desired, result, kinds)
        fixtures_exist(steps, op.settings)
        journal = warn_unfinished(op, str(result.get("manager_directory", "")))
    if json_:
        return {"source": desired.source, **planning.as_data(steps), "unfinished_apply": journal}
    for line in planning.lines(steps, kinds):
        op.emit(line)
    if journal:
        op.emit(unfinished_line(journal))
    return None


def read_current(op, desired, kinds) -> dict:
    """The result of the read-only session of :func:`iris_ops.state.plan.read_script`."""
    from iris_ops.state import plan as planning
    from iris_ops.state.kinds import ChangeContext

    ctx = ChangeContext("", operation=op)
    return run_in_context(op, ctx, lambda: planning.read_script(desired, kinds, ctx), changes=False)


def run_in_context(op, ctx, build, *, changes: bool = True) -> dict:
    """Run the script ``build()`` makes with the builders (or readers) given ``ctx``, and keep
    its result in ``ctx.result`` (a failed script's partial one); then, whatever happened, the
    ends those registered (a staged password's removal), newest first.  An end that fails is
    logged: it never hides the error that stopped the script."""
    from iris_ops.errors import IrisOpsError, ScriptError

    try:
        script = build()
        try:
            ctx.result = op.runner.run(script, changes=changes)
        except ScriptError as exc:
            ctx.result = exc.details.get("result")
            raise
        return ctx.result
    finally:
        for end in reversed(ctx.ends):
            try:
                end()
            except IrisOpsError as exc:
                op.log.warning("state.cleanup_failed", error=exc.message, fix=exc.fix)


def read_objects(op, kinds, keys: list[tuple[str, tuple[str, ...]]]) -> list:
    """The reader's entry of each (kind name, key), in order, in one read-only session:
    ``[((kind name, key), {"exists": 0|1, field: value...}), ...]``."""
    from iris_ops.state import plan as planning
    from iris_ops.state.kinds import kind_named
    from iris_ops.state.model import DesiredState, Origin, StateObject

    objects = []
    for kind_name, key in keys:
        kind = kind_named(kind_name, kinds)
        objects.append(StateObject(kind_name, tuple(key), dict(zip(kind.schema.key, key)), Origin("iris-ops")))
    probe = DesiredState("iris-ops", tuple(objects))
    result = op.runner.run(planning.read_script(probe, kinds), changes=False)
    out = []
    for kind in kinds:
        for obj, entry in zip(probe.of(kind.name), result.get(kind.name) or []):
            out.append(((kind.name, obj.key), entry))
    return out


def fixtures_exist(steps, settings) -> None:
    """A namespace to create from a fixture needs that fixture: a plan naming one that is not
    there cannot be carried out (exit 2, naming each)."""
    from iris_ops import fixtures_dir
    from iris_ops.errors import FixtureError

    missing = []
    for step in steps:
        fixture = (step.fields or {}).get("fixture") if step.action == "create" else None
        if fixture:
            try:
                fixtures_dir.locate(fixture, settings)
            except FixtureError as exc:
                missing.append(f"namespace {step.label}: {exc.message}")
    if missing:
        raise FixtureError("the plan cannot be carried out: " + "; ".join(missing),
                           fix="Write the fixture with `iris-ops backup --ns NS`, or set fixtures_dir.")


@hookimpl
def register_tasks(registrar):
    registrar.add_task(plan)
