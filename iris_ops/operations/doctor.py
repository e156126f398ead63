"""Built-in plugin: `doctor`, what an earlier crash, ``kill -9`` or power loss left behind.

Each kind of leftover is recognised by a name or a record only iris-ops gives, so doctor never
touches anything iris-ops did not create:

* the instance still frozen by a backup whose session is gone (:mod:`.frozen`: a freeze with no
  iris-ops record, or one whose backup still runs, is reported and never thawed);
* staging directories ``<mgr>/iris-ops-backup-<random>/`` of a backup that never cleaned up;
* a restore that never finished: its journal ``<mgr>/iris-ops-restore-<NS>.json`` lists the
  namespace, databases, directories and resources it may have created (rolled back), or, renamed
  ``...<NS>.committed.json``, a ``restore --force`` that had begun putting the verified new
  namespace in the place of the old one (finished); see :mod:`iris_ops.operations.restore_journal`;
* a delete-ns that stopped halfway: its plan ``<mgr>/iris-ops-delete-<NS>.json``;
* the temporary namespace ``IRISOPS-COUNT-<8 hex>`` and databases ``IRISOPS-COUNT-<8 hex>-<n>``
  a backup configures to count the rows of its staged copies, left configured (and mounted)
  when the instance or its session died mid-count;
* in the fixture cache ``<mgr>/iris-ops-cache/``: temporary files of an interrupted fill, and
  entries that would never be served (see :func:`cache_leftovers`);
* databases a restore created that nothing uses any more (:mod:`.orphans`), such as one
  delete-ns kept for a mapping that has gone since;
* what plugins report through the ``doctor_findings`` hook: the built-in ``apply``, its journal
  ``<mgr>/iris-ops-apply.json`` (:mod:`iris_ops.operations.apply_journal`: its changes are rolled
  back); the security plugin, the one-time password directories of a killed ``set-password``;
* temporary fixture directories on this host (``.<name>.iris-ops-tmp-*``, ``.<name>.iris-ops-old-*``)
  in the fixtures directory.

Exit 4 when something is wrong.  ``--fix`` repairs each finding after confirmation (or with
``--yes``), then looks again; a finding iris-ops must not repair (a foreign freeze) stays, and
its repair column says what to do.  While another iris-ops operation holds a lock of the
instance, what it is making (a staging directory, a journal, a partial fixture) looks exactly
like an abandoned one: doctor reports those findings with who runs, and repairs none of them
(:func:`_held_back`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from iris_ops import hookimpl, names, script_builders
from iris_ops.task import task
from iris_ops.errors import IrisOpsError, ValidationError
from iris_ops.leftovers import Leftover

if TYPE_CHECKING:
    from iris_ops.operation import Operation

__all__ = [
    "examine", "counting_leftovers", "cache_leftovers", "host_directories", "doctor",
    "register_tasks",
]

_STAGE = re.compile(r"^iris-ops-backup-[0-9a-f]{12}/$")
_PLAN = re.compile(r"^iris-ops-delete-(?P<ns>[%A-Za-z0-9_-]{1,64})\.json$")
_COUNT_NS = re.compile(r"^IRISOPS-COUNT-[0-9A-F]{8}$")
_COUNT_DB = re.compile(r"^(?P<ns>IRISOPS-COUNT-[0-9A-F]{8})-[0-9]{1,3}$")
_HOST_TEMP = re.compile(r"^\..+\.iris-ops-(tmp|old)-[0-9a-f]{12}$")


def examine(op: "Operation", host_dirs: list[Path]) -> list[Leftover]:
    import shutil

    from iris_ops.operations import backup, frozen, orphans, restore_replace

    found: list[Leftover] = frozen.findings(op)
    # Before the staging directories: the counting databases live in them, mounted.
    found += counting_leftovers(op)
    mgr = names.directory(op.runner.run(script_builders.manager_directory(), changes=False)["manager_directory"])
    entries = sorted(op.runner.list_directory(mgr))
    pending: set[str] = set()  # databases an unfinished restore or delete-ns lists
    for entry in entries:
        path = f"{mgr}{entry}"
        if _STAGE.match(entry):
            found.append(Leftover("staging", path, "a backup's staging copy was never removed",
                                  "remove the directory", lambda p=path: backup.cleanup_stage(op, p)))
        elif (journal := restore_replace.recover(op, mgr, entry, pending)) is not None:
            found.append(journal)
        elif (m := _PLAN.match(entry)):
            ns = m["ns"]
            pending |= _planned_databases(op, path)
            found.append(Leftover("delete-ns", path, f"delete-ns of {ns} stopped halfway",
                                  f"finish it (as `iris-ops delete-ns --ns {ns}` would)",
                                  lambda n=ns: _finish_delete(op, n)))
    found += cache_leftovers(op, mgr)
    for contributed in op.hook.doctor_findings(operation=op, manager_directory=mgr, entries=entries):
        found += contributed or []
    found += orphans.findings(op, pending)
    for directory in host_dirs:
        if not directory.is_dir():
            continue
        for child in sorted(directory.iterdir()):
            if _HOST_TEMP.match(child.name) and child.is_dir() and not child.is_symlink():
                found.append(Leftover("host-temp", str(child), "a partial fixture of an interrupted backup",
                                      "remove the directory", lambda c=child: shutil.rmtree(c)))
    return _held_back(op, found)


def _held_back(op: "Operation", found: list[Leftover]) -> list[Leftover]:
    """While an iris-ops operation holds a lock of the instance (listed after everything was
    looked at, so that one which made what was found is still holding, or has ended), what it is
    making looks exactly like what a crash left: a staging directory, a journal, a partial
    fixture.  Those findings are reported, with who runs, and not repaired.  One rule for all of
    them: a dead backup's freeze waits too (WDSuspendLimit ends it within freeze_limit anyway)."""
    from iris_ops import locks

    if not any(f.action is not None for f in found):
        return found
    live = locks.running(op)
    if not live:
        return found
    who = locks.Holder.summary(live)
    return [f if f.action is None else
            Leftover(f.kind, f.where, f"{f.problem}, or something an iris-ops operation running now is making "
                     f"({who})", "none while it runs: run doctor again once it has ended") for f in found]


def counting_leftovers(op: "Operation") -> list[Leftover]:
    """A backup's counting namespace and databases (only names matching iris-ops' own pattern),
    one finding per counting run.  The repair removes the configuration and dismounts; the
    files stay, they are the staging copy (removed with its staging directory)."""
    configured = op.runner.run(script_builders.configured_names(), changes=False)
    runs: dict[str, list] = {}
    for namespace in configured.get("namespaces", []):
        if _COUNT_NS.match(str(namespace)):
            runs.setdefault(str(namespace), [])
    for name, directory in configured.get("databases", []):
        if (m := _COUNT_DB.match(str(name))):
            runs.setdefault(m["ns"], []).append((str(name), names.directory(str(directory))))
    found = []
    for namespace, dbs in sorted(runs.items()):
        what = [f"namespace {namespace}"] + [f"database {n} ({d})" for n, d in dbs]
        found.append(Leftover("counting", namespace, "a backup's row-counting configuration was never removed: "
                              + ", ".join(what), "remove the configuration and dismount (files kept)",
                              lambda ns=namespace, d=tuple(dbs): _remove_counting(op, ns, d)))
    return found


def cache_leftovers(op: "Operation", manager_directory: str) -> list[Leftover]:
    """In the fixture cache: temporary files of an interrupted fill, and entries that fail the
    cheap check: a file whose size, mtime or ctime is not what its record holds (changed since
    it was cached), a record without its file, an unreadable record.  Nothing is hashed here
    (``iris-ops cache verify`` does)."""
    from iris_ops import cache

    found = cache.survey(op, manager_directory)
    cache_dir = found.directory
    findings = []
    for name in found.temps:
        findings.append(Leftover("cache-temp", cache_dir + name, "a partial cache file of an interrupted restore",
                                 "remove the file",
                                 lambda n=name: op.runner.run(script_builders.cache_remove(cache_dir, [n]))))
    for entry in found.entries:
        if entry.problem:
            findings.append(Leftover("cache", cache_dir + entry.sha256, f"a cache entry that is never served: {entry.problem}",
                                     "remove the entry", lambda e=entry: cache.remove_entry(op, cache_dir, e)))
    return findings


def _remove_counting(op: "Operation", namespace: str, dbs: tuple) -> None:
    op.runner.run(script_builders.delete_namespace(namespace))
    for name, directory in dbs:
        op.runner.run(script_builders.delete_database(name, directory, keep_files=True))


def _planned_databases(op: "Operation", path: str) -> set[str]:
    """The database names a delete-ns plan lists (none when it cannot be read: its own finding says so)."""
    try:
        return {str(d["name"]).upper() for d in op.runner.read_json(path, timeout=op.settings.timeout).get("databases", [])}
    except (IrisOpsError, ValueError, KeyError, TypeError, AttributeError):
        return set()


def _finish_delete(op: "Operation", namespace: str) -> None:
    from iris_ops.operations.delete import delete_namespace

    delete_namespace(op, namespace)


def host_directories(op: "Operation") -> list[Path]:
    from iris_ops import fixtures_dir

    dirs = [fixtures_dir.path(op.settings), Path.cwd()]
    return list(dict.fromkeys(d.resolve() for d in dirs))


@task(
    target=True,
    help={
        "fix": "repair each finding, after confirmation",
        "yes": "with --fix: repair without asking",
        "json": "print the findings as one JSON document",
    },
)
def doctor(c, fix=False, yes=False, json_=False, **target):
    """Find what an earlier crash, kill -9 or power loss left behind; exit 4 if anything.

    Checks that the instance is not frozen, that no staging directory, row-counting namespace
    or database, unfinished restore or half-done delete-ns of iris-ops remains in it, nor a
    database a restore created that nothing uses any more (nor what a plugin reports), and that
    no temporary fixture directory remains in the fixtures directory (or the current one). It
    never touches anything iris-ops did not create: it thaws only a freeze an iris-ops backup
    made whose session is gone, and reports any other freeze (exit 4) with how to thaw it once
    its owner is done. While another iris-ops operation runs on the instance, --fix repairs none
    of what that operation could be making (staging copies, journals, partial fixtures): they are
    reported with who runs.

    Examples:
        iris-ops doctor
        iris-ops doctor --fix
        iris-ops doctor --fix --yes --json
    """
    from iris_ops.operations.context import confirm, operation_from_flags

    op = operation_from_flags("doctor", target)
    with op.bound():
        hosts = host_directories(op)
        findings = examine(op, hosts)
        repaired = []
        if fix:
            for finding in findings:
                if finding.action is None:
                    continue  # not iris-ops' to repair: its repair column says what to do
                if not yes:
                    confirm(f"{finding.kind} {finding.where}: {finding.repair}?", refused="repairing")
                finding.action()
                repaired.append(finding.row())
                op.log.info("doctor.repaired", kind=finding.kind, where=finding.where)
            findings = examine(op, hosts) if findings else findings
    rows = [f.row() for f in findings]
    if not json_:
        _table(op, rows, repaired)
    if rows:
        fixable = any(r["fixable"] for r in rows)
        raise ValidationError(
            f"doctor found {len(rows)} problem(s)" + ("" if fixable else " that iris-ops may not repair"),
            fix="Run `iris-ops doctor --fix` (add --yes to skip the questions)." if fixable
            else "Do what the repair column of each finding says; iris-ops leaves them as they are.",
            details={"findings": rows, "repaired": repaired})
    return {"findings": [], "repaired": repaired} if json_ else None


def _table(op: "Operation", rows: list[dict], repaired: list[dict]) -> None:
    for row in repaired:
        op.emit(f"repaired  {row['kind']:<10} {row['where']}")
    if not rows:
        op.emit(f"clean: nothing left behind in {op.target.describe()} or on this host")
        return
    width = max(len(r["kind"]) for r in rows)
    wwidth = max(len(r["where"]) for r in rows)
    op.emit(f"{'kind':<{width}}  {'where':<{wwidth}}  problem  ->  repair (--fix)")
    for r in rows:
        op.emit(f"{r['kind']:<{width}}  {r['where']:<{wwidth}}  {r['problem']}  ->  {r['repair']}")


@hookimpl
def register_tasks(registrar):
    registrar.add_task(doctor)
