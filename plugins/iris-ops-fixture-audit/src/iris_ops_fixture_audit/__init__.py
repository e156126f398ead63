"""Example iris-ops plugin: observe and veto backups, add validation findings, add a task."""

from __future__ import annotations

from iris_ops import hookimpl
from iris_ops.task import task
from iris_ops.errors import VetoedError

__all__ = ["config_defaults", "pre_backup", "validate", "fixture_info", "register_tasks"]


@hookimpl
def config_defaults():
    return {"protected_namespaces": []}


@hookimpl
def pre_backup(operation, namespace):
    protected = {name.upper() for name in operation.settings.get("protected_namespaces", [])}
    if namespace in protected:
        raise VetoedError(f"fixture_audit: namespace {namespace} is protected; backups are refused")


@hookimpl
def validate(fixture):
    from iris_ops.fixture import Finding

    described = bool(fixture.manifest.description.strip())
    return [Finding(file="manifest.json", check="description", ok=described, expected="a description",
                    actual="present" if described else "empty", message="fixture_audit: fixtures must say what they hold")]


@task(help={"src": "fixture directory"})
def fixture_info(c, src):
    """Print a fixture's id, namespace and tables (from the iris-ops-fixture-audit plugin)."""
    from iris_ops import fixture

    loaded = fixture.load(src)
    print(f"{loaded.manifest.fixture_id}: namespace {loaded.manifest.namespace.name}")
    for table in loaded.manifest.tables:
        print(f"  {table.name}: {table.row_count} rows")


@hookimpl
def register_tasks(registrar):
    registrar.add_task(fixture_info, name="fixture-info")
