"""Built-in plugin: ``apply``, carry out the plan of a desired state, all or nothing; ``apply
--check``, say whether the instance has drifted from it.

``apply`` reads the state, then the instance (one read-only session, as ``plan``), and turns
each create and change of the plan into an action (:mod:`iris_ops.state.changeset`).  Holding
the lock of the desired state and of every namespace the state names, it records each action's
undo before the session that makes it (restore's :class:`UndoLog`), runs the actions, reads
every object back and compares it field by field.  Any failure, a field IRIS did not take, or a
signal: the undos run newest first, and the instance is as it was.  A namespace created from a
fixture is restored with restore's own all-or-nothing, and removed again by the undo.  The
undos are journaled in the instance before each session (:mod:`.apply_journal`), so that
``doctor --fix`` rolls back an apply that ``kill -9`` stopped.

What an apply created is recorded in the instance (``<mgr>/iris-ops-applied.json``): ``--prune``
removes those objects once the state no longer names them, and nothing else.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from iris_ops import __version__, flags, hookimpl, names, script_builders
from iris_ops.errors import InstanceError, IrisOpsError, ScriptError, UsageError, ValidationError
from iris_ops.task import task

if TYPE_CHECKING:
    from iris_ops.operation import Operation
    from iris_ops.state.changeset import Action
    from iris_ops.state.kinds import ChangeContext, Kind
    from iris_ops.state.model import DesiredState

__all__ = ["apply", "register_tasks", "RECORD", "run_apply", "apply_state"]

#: What applies created, in the manager directory (``--prune`` removes only those).
RECORD = "iris-ops-applied.json"


def _record_path(manager_directory: str) -> str:
    return names.instance_path(names.directory(manager_directory) + RECORD)


def _figure(doc: dict) -> str:
    summary = doc.get("summary", {})
    return f"{summary.get('created', 0)} created, {summary.get('changed', 0)} changed"


@task(target=True, figure=_figure, help={
    "state": "a TOML file whose [state] table is the desired state (default: [state] of iris-ops.toml)",
    "cpf": "a CPF merge file as the desired state",
    "check": "change nothing: exit 0 when the instance matches the state, 4 when it has drifted",
    "prune": "also remove objects an earlier apply created that the state no longer names",
    "dry_run": "print the scripts that would run, and change nothing",
    "json": "print what was done (or the drift, with --check) as one JSON document",
    "lock_wait": flags.LOCK_WAIT_HELP,
})
def apply(c, state="", cpf="", check=False, prune=False, dry_run=False, json_=False, lock_wait=None, **target):
    """Make the instance match a desired state, all or nothing; --check only says whether it does.

    Carries out the plan in dependency order (resources, databases, namespaces, mappings; a
    plugin's kinds after those they need: the security plugin's roles after resources, its users
    and services last), reads every object back and compares it field by field. Any
    failure, a field IRIS did not take, Ctrl-C or SIGTERM rolls every change back but those that
    cannot be undone (a database's size, interoperability, a password), which come last and are
    named; after a kill -9, `iris-ops doctor --fix` does it. A second apply finds nothing to do.
    Objects the state does not name are never removed; --prune removes those an earlier apply
    created.

    Examples:
        iris-ops apply
        iris-ops apply --check
        iris-ops apply --cpf merge.cpf --dry-run
        iris-ops apply --state state.toml --prune
    """
    from iris_ops.manager import state_kinds
    from iris_ops.operations.context import operation_from_flags, refuse_json_dry_run
    from iris_ops.operations.plan import desired_state, read_current
    from iris_ops.state import plan as planning

    refuse_json_dry_run(json_, dry_run)
    if check and (prune or dry_run):
        raise UsageError(f"--check changes nothing: {'--prune' if prune else '--dry-run'} means nothing with it",
                         fix="Run `iris-ops apply --check` alone, or apply without --check.")
    kinds = state_kinds()
    desired = desired_state(state, cpf, kinds)
    op = operation_from_flags("apply", target, dry_run=dry_run)
    with op.bound(source=desired.source):
        if check:
            from iris_ops.operations.apply_unfinished import warn_unfinished

            current = read_current(op, desired, kinds)
            steps = planning.compare(desired, current, kinds)
            journal = warn_unfinished(op, str(current.get("manager_directory", "")))
            return _check(op, desired, steps, kinds, json_, journal)
        doc = run_apply(op, desired, kinds, prune=prune, lock_wait=lock_wait or 0)
    if json_:
        return {k: v for k, v in doc.items() if k != "lines"}
    if not dry_run:
        for line in doc["lines"]:
            op.emit(line)
    return None


def _check(op: "Operation", desired: "DesiredState", steps, kinds, json_: bool, journal: str | None) -> dict | None:
    from iris_ops.operations.apply_unfinished import unfinished_line
    from iris_ops.state import plan as planning

    drift = [s for s in steps if s.action != planning.OK]
    data = {"source": desired.source, **planning.as_data(steps), "drifted": bool(drift), "unfinished_apply": journal}
    if not drift:
        if json_:
            return data
        op.emit(f"no drift: the instance matches {desired.source} ({len(steps)} objects)")
        if journal:
            op.emit(unfinished_line(journal))
        return None
    shown = planning.lines(drift, kinds)[:-1]
    error = ValidationError(
        f"the instance has drifted from {desired.source}: {len(drift)} of {len(steps)} objects differ:\n  "
        + "\n  ".join(shown),
        fix="Run `iris-ops apply` to make it match again, or change the state if the instance is right.",
        details={"drift": planning.as_data(drift)["plan"]})
    if json_:
        error.details.update(data)
    else:
        for line in shown:
            op.emit(line)
        if journal:
            op.emit(unfinished_line(journal))
    raise error


def run_apply(op: "Operation", desired: "DesiredState", kinds: tuple["Kind", ...], *, prune: bool,
              lock_wait: float) -> dict[str, Any]:
    """Apply ``desired`` holding the lock of the desired state and of every namespace it names;
    returns ``{"source", "applied", "pruned", "summary", "lines"}``."""
    from iris_ops import locks

    keys = {obj.key[0] for obj in desired if obj.kind == "namespaces"} \
        | {obj.key[0] for obj in desired if obj.kind.endswith("_mappings")}
    record = None
    if prune:  # the namespaces --prune may remove, or whose mappings it may remove, too
        mgr = str(op.runner.run(script_builders.manager_directory(), changes=False).get("manager_directory", ""))
        record = _read_record(op, mgr)  # only applies write it, and the state's lock keeps them out
        keys |= {item["key"][0] for item in record["created"]
                 if item["kind"] == "namespaces" or item["kind"].endswith("_mappings")}
    keys.discard("%ALL")
    with locks.holding(op, locks.STATE, wait=lock_wait, also=tuple(sorted(keys))):
        return apply_state(op, desired, kinds, prune=prune, record=record)


def apply_state(op: "Operation", desired: "DesiredState", kinds: tuple["Kind", ...], *, prune: bool,
                record: dict | None = None) -> dict[str, Any]:
    """Read, plan and carry out ``desired`` (the caller holds the locks); ``record``: the record
    of earlier applies when the caller has read it already."""
    from iris_ops.operations.apply_unfinished import refuse_unfinished, warn_unfinished
    from iris_ops.operations.plan import fixtures_exist, read_current
    from iris_ops.state import changeset
    from iris_ops.state import plan as planning
    from iris_ops.state.kinds import ChangeContext

    current = read_current(op, desired, kinds)
    steps = planning.compare(desired, current, kinds)
    fixtures_exist(steps, op.settings)
    ctx = ChangeContext(str(current.get("manager_directory", "")), op)
    if not op.dry_run:  # even with nothing to do: doctor --fix would undo what that apply made
        refuse_unfinished(op, ctx.manager_directory)
    else:
        warn_unfinished(op, ctx.manager_directory)
    try:
        todo = changeset.actions(steps, kinds, ctx)  # a change apply cannot make stops it here
        if record is None:
            needed = prune or any(a.action == "create" for a in todo)
            record = _read_record(op, ctx.manager_directory) if needed else {"created": []}
        if prune:
            todo += _prune(op, desired, kinds, record, ctx)
        todo.sort(key=lambda action: action.undo is None)  # what cannot be undone comes last
        _directories_free(op, todo)
        done = _carry_out(op, desired, kinds, todo, record, ctx)
    finally:
        for end in reversed(ctx.ends):
            end()
    return _report(desired, kinds, steps, done)


def _carry_out(op: "Operation", desired, kinds, todo: list["Action"], record: dict, ctx: "ChangeContext") -> list:
    """Run ``todo``; roll everything back on any failure (the error then says so)."""
    from iris_ops.operations.apply_journal import ApplyJournal, JournaledUndo
    from iris_ops.operations.restore import rollback_incomplete

    if not todo:
        return []
    undo = JournaledUndo(op, ApplyJournal(op, ctx.manager_directory, desired.source))
    started: set[int] = set()
    try:
        batch: list[tuple[int, "Action"]] = []
        for index, action in enumerate(todo):
            if action.fixture:
                _run_batch(op, batch, undo, ctx, started)
                batch = []
                _restore(op, action, undo)
            else:
                batch.append((index, action))
        _run_batch(op, batch, undo, ctx, started)
        if op.dry_run:
            return todo
        _read_back(op, desired, kinds, [a for a in todo if a.action == "remove"])
        _write_record(op, ctx.manager_directory, record, todo)
        undo.finish()
    except BaseException as exc:
        failed = undo.replay() if not op.dry_run else []
        if failed:
            rollback_incomplete(exc, failed)
        elif isinstance(exc, IrisOpsError) and not op.dry_run:
            _say_rolled_back(exc, todo, started)
        raise
    return todo


def _say_rolled_back(exc: "IrisOpsError", todo: list["Action"], started: set[int]) -> None:
    """Name the change that failed (its session's step ``a<N>``), and say that every change was
    undone but the one-way ones that were (or may have been) made before the failure."""
    failed = _failed_action(exc)
    if failed is not None and failed < len(todo):
        exc.message += f" (at: {todo[failed].what})"
    left = [f"{action.what} ({', '.join(action.fields)})" + (", if it got that far" if index == failed else "")
            for index, action in enumerate(todo)
            if action.undo is None and index in started and (failed is None or index <= failed)]
    if left:
        exc.message += ("; every other change of this apply was rolled back, but not what cannot be undone: "
                        + "; ".join(left))
        exc.details["not_undone"] = left
    elif "rolled back" not in exc.message:
        exc.message += "; every change of this apply was rolled back"
    exc.args = (exc.message,)


def _run_batch(op: "Operation", batch: list[tuple[int, "Action"]], undo, ctx: "ChangeContext",
               started: set[int]) -> None:
    """One session for a run of actions; every undo is recorded, and the journal written, before
    it starts.  It first takes the guard of the apply's sessions (:mod:`.apply_journal`).  Step
    ``a<N>`` is the N-th action of the whole apply (what a failure names)."""
    from iris_ops.objectscript import Script
    from iris_ops.operations.apply_journal import entry_of
    from iris_ops.script_builders.restore import guard_step

    if not batch:
        return
    script = guard_step(Script("%SYS", purpose="apply the desired state"), undo.journal.guard())
    for index, action in batch:
        script.step(f"a{index}", *action.statements)
    undos = []
    for _, action in batch:
        if action.undo is not None:
            part = Script("%SYS", purpose=f"undo: {action.what}")
            part.step("undo", *action.undo)
            undos.append((action.what, part, entry_of(action)))
    mark = undo.note(undos)
    if not op.dry_run:
        undo.save()
    for _, action in batch:
        op.log.info("apply.change", change=action.what)
    started.update(index for index, _ in batch)
    try:
        ctx.result = op.runner.run(script)  # what the ends of the builders (a staged password) look at
    except ScriptError as exc:
        ctx.result = exc.details.get("result")
        # A step runs only when every earlier one completed: the actions after the failed step
        # never started, and their undos (of changes that did not happen) are dropped.
        failed = _failed_action(exc)
        if exc.details.get("step") == "guard":  # it changed nothing
            undo.forget(mark)
        elif failed is not None:
            undo.forget(mark + sum(1 for index, action in batch if index <= failed and action.undo is not None))
        raise


def _failed_action(exc: "IrisOpsError") -> int | None:
    """The index of the action whose step ``a<N>`` failed, or None."""
    step = str(exc.details.get("step", "")) if isinstance(exc.details, dict) else ""
    return int(step[1:]) if step.startswith("a") and step[1:].isdigit() else None


def _restore(op: "Operation", action: "Action", undo) -> None:
    """A namespace created from a fixture: restore's own all-or-nothing; its undo removes the
    namespace, the databases the restore created and the resources it created."""
    from iris_ops import fixtures_dir, signals
    from iris_ops.operations.apply_journal import namespace_entry
    from iris_ops.operations.restore import run_restore

    namespace = action.key[0]
    source = fixtures_dir.locate(action.fixture, op.settings)
    op.log.info("apply.change", change=action.what, fixture=str(source))
    if op.dry_run:
        run_restore(op, source, namespace, force=False, verify=True)
        return
    # Recorded first, for the namespace only (a rollback tolerates what is absent): the restore
    # undoes its own databases if it fails (or its journal tells doctor to); once it succeeded,
    # the undo is replaced by the whole.
    mark = undo.note([(action.what, script_builders.delete_namespace(namespace), namespace_entry(action.what, namespace))])
    undo.save()
    # A signal after the restore's own point of no return stops apply once the block has ended,
    # with the whole restore's undo recorded.
    with signals.step_of_a_task(f"the restore into {namespace}"):
        _, planned = run_restore(op, source, namespace, force=False, verify=True)
        databases = [(p.final, p.directory, p.resource) for p in planned]
        undo.forget(mark)
        undo.note([(action.what, script_builders.delete_all(namespace, databases),
                    namespace_entry(action.what, namespace, databases))])
        undo.save()  # the restore's journal is gone: from here on, only this one says what to undo
        action.fields["databases"] = [list(d) for d in databases]  # for the record (--prune)


def _read_back(op: "Operation", desired, kinds, removed: list["Action"]) -> None:
    """Every object read again and compared field by field: one IRIS did not take fails the
    apply (exit 5), naming the field.  A pruned object must be gone."""
    from iris_ops.operations.plan import read_current, read_objects
    from iris_ops.state import plan as planning

    after = planning.compare(desired, read_current(op, desired, kinds), kinds)
    wrong = []
    for step in after:
        if step.action == planning.CREATE:
            wrong.append(f"{step.kind} {step.label} does not exist after it was created")
        for change in step.changes:
            if change.secret:
                wrong.append(f"{step.kind} {step.label}: {change.field} differs after apply set it")
            else:
                wrong.append(f"{step.kind} {step.label}: {change.field} is {planning.shown(change.old)} after apply "
                             f"set {planning.shown(change.new)}")
    if removed:
        gone = read_objects(op, kinds, [(a.kind, a.key) for a in removed])
        wrong += [f"{kind} {'/'.join(key)} still exists after --prune removed it"
                  for (kind, key), entry in gone if entry.get("exists")]
    if wrong:
        raise InstanceError("the instance did not take the state: " + "; ".join(wrong),
                            fix="IRIS refused or changed a value without an error: check the value against the "
                                "class reference (docs/STATE.md), or the instance's messages.log.",
                            details={"not_taken": wrong})


def _prune(op: "Operation", desired, kinds, record: dict, ctx: "ChangeContext") -> list["Action"]:
    """Removals of what an earlier apply created and the state no longer names; never a system
    object, whatever the record says."""
    from iris_ops.operations.plan import read_objects
    from iris_ops.state import changeset
    from iris_ops.state.kinds import kind_named

    named = {(obj.kind, kind_named(obj.kind, kinds).identity(obj.key)) for obj in desired}
    candidates = []
    for item in record["created"]:
        kind = kind_named(item["kind"], kinds)
        key = tuple(item["key"])
        if kind is None or len(key) != len(kind.schema.key) or (kind.name, kind.identity(key)) in named:
            continue
        if _system(kind.name, key):
            op.log.warning("apply.prune_refused", kind=kind.name, key="/".join(key), reason="a system object")
            continue
        candidates.append((kind, key, item))
    order = {kind.name: index for index, kind in enumerate(kinds)}
    candidates.sort(key=lambda found: order[found[0].name])  # dependency order; removed in reverse
    entries = dict(read_objects(op, kinds, [(k.name, key) for k, key, _ in candidates]))
    found, own = [], {}
    for kind, key, item in candidates:
        entry = entries.get((kind.name, key), {})
        if not entry.get("exists"):
            continue
        fields = {f.name: f.from_iris(entry[f.name]) for f in kind.schema.fields
                  if f.prop and f.name in entry and f.name not in kind.schema.key}
        fields.update(dict(zip(kind.schema.key, key)))
        if item.get("databases"):  # a namespace restored from a fixture goes with its databases
            script = script_builders.delete_all(key[0], [tuple(d) for d in item["databases"]])
            own[(kind.name, key)] = (script.folded(), False)
        found.append((kind, key, "/".join(key), fields))
    return changeset.prune_actions(found, ctx, own)


def _system(kind: str, key: tuple[str, ...]) -> bool:
    name = key[-1] if kind != "namespaces" else key[0]
    checks = {"namespaces": names.is_system_namespace, "databases": names.is_system_database,
              "resources": names.is_system_resource}
    return checks.get(kind, lambda n: n.startswith("%"))(name) or (kind.endswith("_mappings") and key[0] == "%SYS")


def _directories_free(op: "Operation", todo: list["Action"]) -> None:
    """A database to create needs a directory that does not exist yet: apply never puts a
    database into a directory that holds anything (exit 3)."""
    from iris_ops.errors import ConflictError
    from iris_ops.script_builders.state_changes import directories_in_use

    wanted = [a.fields["directory"] for a in todo if a.kind == "databases" and a.action == "create"]
    if not wanted:
        return
    taken = op.runner.run(directories_in_use(wanted), changes=False).get("taken") or []
    if taken:
        raise ConflictError(f"the directory of a database to create exists already: {', '.join(taken)}",
                            fix="Give the database a directory that does not exist yet, or remove that one.")


def _read_record(op: "Operation", manager_directory: str) -> dict:
    path = _record_path(manager_directory)
    if not op.runner.run(script_builders.file_exists(path), changes=False).get("exists"):
        return {"created": []}
    try:
        doc = op.runner.read_json(path, timeout=op.settings.timeout)
    except ValueError as exc:
        raise InstanceError(f"the record of earlier applies {path} is not a JSON object: {exc}",
                            fix="Remove it if it is not iris-ops': --prune then removes nothing an earlier "
                                "apply created.") from None
    # An entry iris-ops did not write (a hand edit) is left out: --prune never acts on it.
    created = doc.get("created")
    doc = {"created": [item for item in created or [] if isinstance(item, dict) and isinstance(item.get("kind"), str)
                       and isinstance(item.get("key"), list) and item["key"]
                       and all(isinstance(part, str) for part in item["key"])]}
    return doc


def _write_record(op: "Operation", manager_directory: str, record: dict, done: list["Action"]) -> None:
    from iris_ops import signals

    removed = {(a.kind, tuple(a.key)) for a in done if a.action == "remove"}
    created = [item for item in record["created"] if (item["kind"], tuple(item["key"])) not in removed]
    for action in done:
        if action.action == "create":
            item = {"kind": action.kind, "key": list(action.key)}
            if action.fixture:
                item.update(fixture=action.fixture, databases=action.fields.get("databases", []))
            created.append(item)
    if created == record["created"] and not removed:
        return
    if not created:  # everything earlier applies created is gone again
        with signals.shielded():
            op.runner.remove_path(_record_path(manager_directory), timeout=op.settings.timeout)
        return
    data = json.dumps({"tool": f"iris-ops {__version__}", "created": created}, indent=1).encode()
    with signals.shielded():
        op.runner.write_file(io.BytesIO(data), len(data), _record_path(manager_directory), timeout=op.settings.timeout)


def _report(desired, kinds, steps, done: list["Action"]) -> dict[str, Any]:
    from iris_ops.state.kinds import kind_named

    def title(kind: str) -> str:
        found = kind_named(kind, kinds)
        return found.schema.title if found else kind

    made = {(a.kind, a.label): a.action for a in done}
    applied, lines = [], []
    for step in steps:
        outcome = {"create": "created", "change": "changed"}.get(made.get((step.kind, step.label), ""), "ok")
        applied.append({"kind": step.kind, "name": step.label, "result": outcome})
        lines.append(f"{outcome:<8} {title(step.kind)} {step.label}")
    pruned = [{"kind": a.kind, "name": a.label} for a in done if a.action == "remove"]
    lines += [f"removed  {title(p['kind'])} {p['name']}" for p in pruned]
    summary = {key: sum(1 for a in applied if a["result"] == key) for key in ("created", "changed", "ok")}
    summary["removed"] = len(pruned)
    lines.append(f"apply: {summary['created']} created, {summary['changed']} changed, {summary['ok']} ok"
                 + (f", {summary['removed']} removed" if pruned else ""))
    return {"source": desired.source, "applied": applied, "pruned": pruned, "summary": summary, "lines": lines}


@hookimpl
def register_tasks(registrar):
    registrar.add_task(apply)


@hookimpl
def doctor_findings(operation, manager_directory, entries):
    from iris_ops.operations.apply_journal import findings

    return findings(operation, manager_directory, entries)
