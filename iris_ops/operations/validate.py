"""Built-in plugin: `validate`, and the built-in implementation of the ``validate`` hook.

Offline it checks the manifest schema (ours and iris-devtester's "1.0"), path safety, sizes,
sha256 digests and the IRIS.DAT label of every file.  ``--online --ns NS`` also checks that
the namespace exists, that its databases are mounted read-write and that its row counts equal
the manifest's.  Findings from every plugin's ``validate`` are reported together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iris_ops import hookimpl, names, script_builders
from iris_ops.task import task
from iris_ops.errors import UsageError, ValidationError

if TYPE_CHECKING:
    from iris_ops.fixture import Finding, Fixture
    from iris_ops.operation import Operation

__all__ = [
    "validate", "online_findings", "compare_counts", "collect", "failure", "validate_task", "register_tasks",
    "LIVE_CHECKS",
]


@hookimpl
def validate(operation: "Operation", fixture: "Fixture", online: bool, namespace: str | None):
    from iris_ops import fixture as fixture_module

    findings = list(fixture_module.check(fixture.root).findings)
    if online and namespace:
        findings += online_findings(operation, fixture, namespace)
    return findings


def online_findings(op: "Operation", fixture: "Fixture", namespace: str) -> list["Finding"]:
    from iris_ops.fixture import Finding

    info = op.runner.run(script_builders.describe_namespace(namespace, with_tables=True), changes=False)
    if not info.get("exists"):
        return [Finding(file="", check="namespace", ok=False, expected=namespace, actual="missing",
                        message=f"namespace {namespace} does not exist")]
    found = [Finding(file="", check="namespace", ok=True, expected=namespace, actual=namespace,
                     message=f"namespace {namespace} exists")]
    for db in info["dbs"]:
        writable = bool(int(db.get("mounted") or 0)) and not int(db.get("read_only_mounted") or 0)
        found.append(Finding(file=db["name"], check="mounted-rw", ok=writable, expected="mounted read-write",
                             actual="mounted read-write" if writable else
                             ("read-only" if int(db.get("mounted") or 0) else "not mounted"),
                             message=f"database {db['name']} at {db['directory']}"))
    if fixture.manifest.counts_are_exact:
        found += compare_counts(fixture.manifest.tables, info.get("tables", []))
    else:
        found.append(Finding(file="", check="row-count", ok=True, expected="not fixed", actual="not compared",
                             message="the fixture records that its row counts could not be fixed: "
                             + (fixture.manifest.row_counts.note or "no reason given")))
    return found


def compare_counts(expected_tables, actual_tables) -> list["Finding"]:
    """One finding per table of the manifest, plus one per live table it does not list."""
    from iris_ops.fixture import Finding

    actual = {t["name"]: int(t["row_count"]) for t in actual_tables}
    found = []
    for table in expected_tables:
        got = actual.pop(table.name, None)
        found.append(Finding(file=table.name, check="row-count", ok=got == table.row_count,
                             expected=table.row_count, actual="missing table" if got is None else got,
                             message=f"table {table.name}"))
    for name, count in sorted(actual.items()):
        found.append(Finding(file=name, check="row-count", ok=False, expected="absent", actual=count,
                             message=f"table {name} is not in the manifest"))
    return found


def collect(op: "Operation", fixture: "Fixture", *, online: bool, namespace: str | None) -> list["Finding"]:
    results = op.hook.validate(operation=op, fixture=fixture, online=online, namespace=namespace)
    return [finding for group in results if group for finding in group]


#: The checks of the live namespace (``--online``): when one fails, the namespace changed, not the fixture.
LIVE_CHECKS = frozenset({"namespace", "mounted-rw", "row-count"})


def failure(findings: list["Finding"], fixture_dir: str, namespace: str | None = None) -> ValidationError:
    """Exit 4, saying which side differs: the fixture from its manifest (recreate it), or the
    live namespace from the fixture (the namespace changed: restore it again if that was not meant)."""
    bad = [f for f in findings if not f.ok]
    live = [f for f in bad if namespace and f.check in LIVE_CHECKS]
    own = [f for f in bad if not (namespace and f.check in LIVE_CHECKS)]
    parts, fixes = [], []
    if own:
        parts.append(f"fixture {fixture_dir} failed {len(own)} check(s):\n  " + _lines(own))
        fixes.append(ValidationError.default_fix)
    if live:
        parts.append(f"the live namespace {namespace} differs from fixture {fixture_dir} in {len(live)} "
                     f"check(s):\n  " + _lines(live))
        fixes.append(f"The namespace {namespace} is not as the fixture left it (changed since it was restored, or "
                     "never restored from it); that is no fault of the fixture. To start it again from the fixture: "
                     f"`iris-ops restore {fixture_dir} --ns {namespace} --force --yes`.")
    return ValidationError("\n".join(parts), fix=" ".join(fixes),
                           details={"failed": [f.check + ":" + (f.file or "-") for f in bad]})


def _lines(findings: list["Finding"]) -> str:
    return "\n  ".join(f"{f.file or '-'}: {f.check} failed: {f.message} (expected {f.expected}, actual {f.actual})"
                        for f in findings)


def _figure(doc: dict) -> str:
    """A validation's key figure: the checks that passed."""
    return f"{len(doc['findings'])} checks passed"


@task(
    target=True,
    figure=_figure,
    help={
        "src": "the fixture: a name in fixtures_dir (as `backup` wrote it), or a directory",
        "json": "print the findings (or the failure) as one JSON document",
        "online": "also compare with a live namespace (needs --ns)",
        "ns": "the live namespace for --online",
    },
)
def validate_task(c, src, json_=False, online=False, ns="", **target):
    """Check a fixture: schema, paths, sizes, sha256, DAT labels; with --online also the live namespace.

    Offline checks need no instance. With --online --ns NS the namespace must exist, its
    databases must be mounted read-write and its row counts must equal the manifest's. Every
    plugin's findings are reported together; any failure exits 4. A live namespace that differs
    is said as such (the namespace changed, not the fixture), apart from a damaged fixture.

    Examples:
        iris-ops validate USER
        iris-ops validate --src fixtures/user --json
        iris-ops validate USER --online --ns TEST1
    """
    from iris_ops import fixture as fixture_module
    from iris_ops import fixtures_dir
    from iris_ops.fixture import Report
    from iris_ops.operations.context import operation_from_flags

    if online and not ns:
        raise UsageError("--online needs --ns", fix="iris-ops validate FIXTURE --online --ns MYTEST")
    namespace = names.namespace(ns) if ns else None
    # Offline validation needs no target: an operation whose runner is never used.
    op = operation_from_flags("validate", target if online else {"transport": "offline"})
    source = fixtures_dir.locate(src, op.settings)
    loaded = fixture_module.load(source)  # a malformed fixture is a usage error (exit 2)
    with op.bound(ns=namespace, fixture=str(source)):
        findings = collect(op, loaded, online=online, namespace=namespace)
    report = Report(fixture=str(source), schema=loaded.schema, findings=findings)
    if not report.ok:
        error = failure(findings, str(source), namespace if online else None)
        if json_:
            error.details.update({k: v for k, v in report.to_dict().items() if k != "ok"})
        else:
            print(report.table())
        raise error
    if json_:
        return report.to_dict()
    print(report.table())
    return None


@hookimpl
def register_tasks(registrar):
    registrar.add_task(validate_task, name="validate")
