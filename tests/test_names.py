"""Issue 9, point 3: every name IRIS accepts, and none it refuses; names validated before the
first change.  Through the CLI, against the simulated instance."""

from __future__ import annotations

import pytest

from clihelp import cli, fails, manifest, objectscript, ok
from iris_ops import names
from iris_ops.errors import InvalidNameError, SystemTargetError

MGR = "/usr/irissys/mgr/"


def resource_exists(sc, name: str) -> bool:
    return objectscript(sc, f'Write ##class(Security.Resources).Exists("{name}")') == "1"


def default_resource_namespace(sc, ns: str = "DEFNS") -> str:
    """A namespace whose database was made by SYS.Database.CreateDatabase without a resource:
    its label names the system default resource %DB_%DEFAULT."""
    directory = f"{MGR}{ns.lower()}/"
    objectscript(sc, " ".join([
        f'If \'##class(%Library.File).CreateDirectoryChain("{directory}") {{ Throw ##class(%Exception.General).%New("mkdir") }}',
        f'Set sc=##class(SYS.Database).CreateDatabase("{directory}") If \'sc {{ Throw ##class(%Exception.StatusException).CreateFromStatus(sc) }}',
        f'Set p("Directory")="{directory}" Set sc=##class(Config.Databases).Create("{ns}",.p) If \'sc {{ Throw ##class(%Exception.StatusException).CreateFromStatus(sc) }}',
        f'Kill p Set p("Globals")="{ns}" Set sc=##class(Config.Namespaces).Create("{ns}",.p) If \'sc {{ Throw ##class(%Exception.StatusException).CreateFromStatus(sc) }}',
    ]))
    sc.instance.sql(ns, "CREATE TABLE Demo.Item (N INT)")
    sc.instance.sql(ns, "INSERT INTO Demo.Item (N) VALUES (1)")
    return ns


def test_resource_names_follow_iris_rules():
    for good in ("%DB_%DEFAULT", "%DB_USER", "MyResource", "a" * 64, "with space", "Ünïcode"):
        assert names.resource(good) == good
    for bad in ("", "a" * 65, "a,b", "a:b", "tab\there"):
        with pytest.raises(InvalidNameError):
            names.resource(bad)
    assert names.is_system_resource("%DB_%DEFAULT") and not names.is_system_resource("%DB_USER")
    with pytest.raises(SystemTargetError):
        names.user_resource("%DB_%DEFAULT")


def test_a_namespace_on_the_default_resource_backs_up_restores_and_deletes(sim_container, tmp_path):
    sc = sim_container
    ns = default_resource_namespace(sc)
    fx = tmp_path / "fx"
    ok(cli(sc, "backup", "--ns", ns, "--out", fx))
    assert manifest(fx)["databases"][0]["resource"] == "%DB_%DEFAULT"
    ok(cli(sc, "validate", "--src", fx))
    restored = ok(cli(sc, "restore", "--src", fx, "--ns", "DEFCOPY"))
    assert "Demo.Item" in restored.stdout
    assert sc.instance.sql("DEFCOPY", "SELECT COUNT(*) FROM Demo.Item").rows[0][0] == 1
    assert resource_exists(sc, "%DB_%DEFAULT")
    deleted = ok(cli(sc, "delete-ns", "--ns", "DEFCOPY", "--yes"))
    assert "%DB_%DEFAULT" in deleted.stdout and "kept (system resource)" in deleted.stdout
    ok(cli(sc, "delete-ns", "--ns", ns, "--yes"))
    assert resource_exists(sc, "%DB_%DEFAULT")
    assert "DEFCOPY" not in sc.instance.read_config()["Namespaces"]
    assert "DEFNS" not in sc.instance.read_config()["Namespaces"]


def test_restore_never_creates_a_missing_system_resource(sim_container, tmp_path):
    sc = sim_container
    ns = default_resource_namespace(sc)
    fx = tmp_path / "fx"
    ok(cli(sc, "backup", "--ns", ns, "--out", fx))
    ok(cli(sc, "delete-ns", "--ns", ns, "--yes"))
    sc.instance.delete_resource("%DB_%DEFAULT")  # iris-sim delete-resource: an instance without it
    before = sc.instance.read_config()
    proc = fails(cli(sc, "restore", "--src", fx, "--ns", "DEFCOPY"), 3)
    assert "system resource %DB_%DEFAULT" in proc.stderr
    assert sc.instance.read_config() == before
    assert not resource_exists(sc, "%DB_%DEFAULT")


def test_an_invalid_resource_name_is_refused_before_any_change(sim_container, tmp_path):
    sc = sim_container
    sc.instance.sql("USER", "CREATE TABLE Demo.Item (N INT)")
    fx = tmp_path / "fx"
    ok(cli(sc, "backup", "--ns", "USER", "--out", fx))
    import json

    data = manifest(fx)
    data["databases"][0]["resource"] = "BAD,NAME"
    (fx / "manifest.json").write_text(json.dumps(data))
    before = sc.instance.read_config()
    proc = cli(sc, "restore", "--src", fx, "--ns", "COPY")
    assert proc.returncode in (2, 4), proc.stderr  # the label check or the name rule: never halfway
    assert sc.instance.read_config() == before


def test_delete_ns_validates_every_name_before_deleting_anything(sim_container):
    """A database in a directory iris-ops will not pass to IRIS (a space): refused (exit 2) with
    the namespace, its configuration and its file all still there."""
    sc = sim_container
    directory = f"{MGR}odd dir/"
    sc.instance.create_database("ODD", directory)
    sc.instance.create_namespace("ODD", "ODD")
    before = sc.instance.read_config()
    proc = fails(cli(sc, "delete-ns", "--ns", "ODD", "--yes"), 2)
    assert "odd dir" in proc.stderr
    assert sc.instance.read_config() == before
    assert sc.instance.check_integrity(directory) == []
