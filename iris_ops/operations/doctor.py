"""Built-in plugin: `doctor`, what an earlier crash, ``kill -9`` or power loss left behind.

Each kind of leftover is recognised by a name only iris-ops gives, so doctor never touches
anything iris-ops did not create:

* the instance still frozen (the write daemon suspended);
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
  entries that would never be served (see :func:`iris_ops.cache.check`);
* temporary fixture directories on this host (``.<name>.iris-ops-tmp-*``, ``.<name>.iris-ops-old-*``)
  in the fixtures directory.

Exit 4 when something is wrong.  ``--fix`` repairs each finding after confirmation (or with
``--yes``), then looks again.  Do not run ``--fix`` while another iris-ops task works on the
instance: a running backup's staging directory looks exactly like an abandoned one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from iris_ops import hookimpl, names, scripts
from iris_ops.cli import task
from iris_ops.errors import ValidationError

if TYPE_CHECKING:
    from iris_ops.operations.context import Operation

_STAGE = re.compile(r"^iris-ops-backup-[0-9a-f]{12}/$")
_PLAN = re.compile(r"^iris-ops-delete-(?P<ns>[%A-Za-z0-9_-]{1,64})\.json$")
_COUNT_NS = re.compile(r"^IRISOPS-COUNT-[0-9A-F]{8}$")
_COUNT_DB = re.compile(r"^(?P<ns>IRISOPS-COUNT-[0-9A-F]{8})-[0-9]{1,3}$")
_HOST_TEMP = re.compile(r"^\..+\.iris-ops-(tmp|old)-[0-9a-f]{12}$")


@dataclass
class Finding:
    kind: str
    where: str
    problem: str
    repair: str
    action: Callable[[], None] = field(repr=False)

    def row(self) -> dict:
        return {"kind": self.kind, "where": self.where, "problem": self.problem, "repair": self.repair}


def examine(op: "Operation", host_dirs: list[Path]) -> list[Finding]:
    import shutil

    from iris_ops.operations import backup, restore_replace

    found: list[Finding] = []
    where = op.target.describe()
    if op.runner.run(scripts.wd_suspended(), changes=False).get("suspended") in (1, True, "1"):
        found.append(Finding("frozen", where, "the write daemon is suspended (ExternalFreeze): writes reach no database file",
                             "thaw (command-line ExternalThaw)", lambda: backup.ensure_thawed(op)))
    # Before the staging directories: the counting databases live in them, mounted.
    found += counting_leftovers(op)
    mgr = names.directory(op.runner.run(scripts.manager_directory(), changes=False)["manager_directory"])
    for entry in sorted(op.runner.list_directory(mgr)):
        path = f"{mgr}{entry}"
        if _STAGE.match(entry):
            found.append(Finding("staging", path, "a backup's staging copy was never removed",
                                 "remove the directory", lambda p=path: backup._cleanup_stage(op, p)))
        elif (journal := restore_replace.recover(op, mgr, entry)) is not None:
            found.append(Finding("restore", path, journal.problem, journal.repair, journal.action))
        elif (m := _PLAN.match(entry)):
            ns = m["ns"]
            found.append(Finding("delete-ns", path, f"delete-ns of {ns} stopped halfway",
                                 f"finish it (as `iris-ops delete-ns --ns {ns}` would)",
                                 lambda n=ns: _finish_delete(op, n)))
    from iris_ops import cache

    found += cache.check(op, mgr)
    for directory in host_dirs:
        if not directory.is_dir():
            continue
        for child in sorted(directory.iterdir()):
            if _HOST_TEMP.match(child.name) and child.is_dir() and not child.is_symlink():
                found.append(Finding("host-temp", str(child), "a partial fixture of an interrupted backup",
                                     "remove the directory", lambda c=child: shutil.rmtree(c)))
    return found


def counting_leftovers(op: "Operation") -> list[Finding]:
    """A backup's counting namespace and databases (only names matching iris-ops' own pattern),
    one finding per counting run.  The repair removes the configuration and dismounts; the
    files stay, they are the staging copy (removed with its staging directory)."""
    configured = op.runner.run(scripts.configured_names(), changes=False)
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
        found.append(Finding("counting", namespace, "a backup's row-counting configuration was never removed: "
                             + ", ".join(what), "remove the configuration and dismount (files kept)",
                             lambda ns=namespace, d=tuple(dbs): _remove_counting(op, ns, d)))
    return found


def _remove_counting(op: "Operation", namespace: str, dbs: tuple) -> None:
    op.runner.run(scripts.delete_namespace(namespace))
    for name, directory in dbs:
        op.runner.run(scripts.delete_database(name, directory, keep_files=True))


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
    or database, unfinished restore or half-done delete-ns of iris-ops remains in it, and that no temporary fixture directory remains
    in the fixtures directory (or the current one). It never touches anything iris-ops did not
    create. Do not run --fix while another iris-ops task works on the instance.

    Examples:
        iris-ops doctor
        iris-ops doctor --fix
        iris-ops doctor --fix --yes --json
    """
    from iris_ops.operations.context import Operation, confirm

    op = Operation.from_flags("doctor", target)
    with op.bound():
        hosts = host_directories(op)
        findings = examine(op, hosts)
        repaired = []
        if fix:
            for finding in findings:
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
        raise ValidationError(f"doctor found {len(rows)} problem(s) left by an earlier iris-ops run",
                              fix="Run `iris-ops doctor --fix` (add --yes to skip the questions).",
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
