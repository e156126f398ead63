"""Issue 9, point 6: delete-ns boundaries.  A database someone else needs is kept (and the
output says why); a delete that fails halfway is finished by running delete-ns again; resources
a restore creates come with a role that can use them.  Through the CLI."""

from __future__ import annotations

import io
import re

import pytest
from clihelp import cli, manifest, objectscript, ok
from cli_helpers import plugin
from iris_ops_sim.faults import Fault

from iris_ops import hookimpl, script_builders
from iris_ops.manager import new_plugin_manager
from iris_ops.runner import Runner
from iris_ops.transports.base import ExecResult, Target

MGR = "/usr/irissys/mgr/"


def exists(sc, cls: str, *args: str) -> bool:
    quoted = ",".join(f'"{a}"' for a in args)
    return objectscript(sc, f"Write ##class({cls}).Exists({quoted})") == "1"


def file_exists(sc, path: str) -> bool:
    return objectscript(sc, f'Write ##class(%Library.File).Exists("{path}")') == "1"


def test_a_database_another_namespace_maps_to_is_kept(sim_container):
    sc = sim_container
    sc.instance.create_database("SOLO")
    sc.instance.create_namespace("SOLO", "SOLO")
    objectscript(sc, 'Set p("Database")="SOLO" Set sc=##class(Config.MapGlobals).Create("USER","Borrowed",.p) '
                     "If 'sc { Throw ##class(%Exception.StatusException).CreateFromStatus(sc) }")
    proc = ok(cli(sc, "delete-ns", "--ns", "SOLO", "--yes"))
    assert re.search(r"SOLO\s+kept \(needed by global mapping Borrowed in namespace USER\)", proc.stdout)
    assert "SOLO" not in sc.instance.read_config()["Namespaces"]
    assert "SOLO" in sc.instance.read_config()["Databases"]
    assert sc.instance.check_integrity(MGR + "solo/") == []


def test_a_database_another_namespace_uses_directly_is_kept(sim_container):
    sc = sim_container
    sc.instance.create_database("SHARED")
    sc.instance.create_namespace("ONE", "SHARED")
    sc.instance.create_namespace("TWO", "USER", "SHARED")  # TWO's Routines
    proc = ok(cli(sc, "delete-ns", "--ns", "ONE", "--yes"))
    assert "kept (needed by namespace TWO (Routines))" in proc.stdout
    assert "SHARED" in sc.instance.read_config()["Databases"]


def test_a_database_whose_directory_another_configuration_names_is_kept(sim_container):
    sc = sim_container
    directory = sc.instance.create_database("ORIG")
    sc.instance.create_namespace("ORIG", "ORIG")
    objectscript(sc, f'Set p("Directory")="{directory}" Set sc=##class(Config.Databases).Create("ALIAS",.p) '
                     "If 'sc { Throw ##class(%Exception.StatusException).CreateFromStatus(sc) }")
    proc = ok(cli(sc, "delete-ns", "--ns", "ORIG", "--yes"))
    assert "kept (needed by database ALIAS (same directory))" in proc.stdout
    assert sc.instance.check_integrity(directory) == []


def test_running_delete_ns_again_finishes_a_delete_that_failed_halfway(sim_container, tmp_path, inproc):
    sc = sim_container
    sc.instance.sql("APP", "CREATE TABLE Demo.T (N INT)")
    fx = tmp_path / "fx"
    ok(cli(sc, "backup", "--ns", "APP", "--out", fx))
    ok(cli(sc, "restore", "--src", fx, "--ns", "HALF"))
    # The instance refuses the first database's deletion, after the namespace went (one session).
    failing = Fault("status", "##class(SYS.Database).DeleteDatabase(")
    with plugin(failing) as pm:
        failing.pm = pm
        code, _, err = inproc("delete-ns", "--ns", "HALF", "--yes")
    assert failing.fired and code == 5, err
    assert "HALF" not in sc.instance.read_config()["Namespaces"]  # the namespace went first ...
    assert file_exists(sc, f"{MGR}iris-ops-delete-HALF.json")  # ... but the plan says what remains
    again = ok(cli(sc, "delete-ns", "--ns", "HALF", "--yes"))
    assert "finishing an earlier delete" in again.stdout
    config = sc.instance.read_config()
    assert "HALF_DATA" not in config["Databases"] and "HALF_CODE" not in config["Databases"]
    assert not file_exists(sc, f"{MGR}half_data/IRIS.DAT")
    assert not file_exists(sc, f"{MGR}iris-ops-delete-HALF.json")
    assert "nothing to delete" in ok(cli(sc, "delete-ns", "--ns", "HALF", "--yes")).stdout


def test_a_restore_creates_a_role_that_can_use_the_resources_it_creates(sim_container, tmp_path):
    sc = sim_container
    sc.instance.create_database("FRESH")
    sc.instance.create_namespace("FRESH", "FRESH")
    fx = tmp_path / "fx"
    ok(cli(sc, "backup", "--ns", "FRESH", "--out", fx))
    ok(cli(sc, "delete-ns", "--ns", "FRESH", "--yes"))
    sc.instance.delete_resource("%DB_FRESH")  # as on an instance that never had it
    assert manifest(fx)["databases"][0]["resource"] == "%DB_FRESH"
    ok(cli(sc, "restore", "--src", fx, "--ns", "NEWFRESH"))
    assert exists(sc, "Security.Resources", "%DB_FRESH")
    assert exists(sc, "Security.Roles", "%DB_FRESH")  # granting %DB_FRESH:RW
    proc = ok(cli(sc, "delete-ns", "--ns", "NEWFRESH", "--yes"))
    assert "deleted with its role" in proc.stdout
    assert not exists(sc, "Security.Resources", "%DB_FRESH")
    assert not exists(sc, "Security.Roles", "%DB_FRESH")


class InProcessIris:
    """Scripts run by the simulated ``iris session`` in this process, on ``inst``."""

    def __init__(self, inst) -> None:
        self.inst = inst

    @hookimpl(tryfirst=True)
    def run_objectscript(self, target, script, namespace, timeout):
        from iris_ops_sim.irissim.objectscript.terminal import iris_main

        out: list[bytes] = []
        code = iris_main(self.inst, ["session", "IRIS", "-U", namespace], io.BytesIO(script.encode()), out.append)
        return ExecResult(code, b"".join(out))


@pytest.fixture
def inproc_runner(tmp_path):
    from iris_ops_sim.irissim.instance import SimInstance
    from iris_ops_sim.irissim.instance.fs import ContainerFS

    inst = SimInstance.create(ContainerFS(tmp_path / "rootfs", tmp_path / "fsmeta.json"))
    pm = new_plugin_manager(load_entry_points=False)
    pm.register(InProcessIris(inst))
    return inst, Runner(pm, Target(transport="inprocess"), timeout=30)


def role(inst, name: str) -> dict | None:
    from iris_ops_sim.irissim.instance import security

    with inst.locked() as st:
        found = security.find_role(security.of(st), name)
        return dict(security.of(st)["roles"][found]) if found else None


def test_a_role_iris_creates_with_the_resource_is_no_failure_and_is_not_ours(inproc_runner, monkeypatch):
    """IRIS may create the %DB_ role itself when the resource is created (the reference calls
    those roles implicit): restore creates the resource first, then finds the role and creates
    none; removing the resource leaves that role to IRIS."""
    from iris_ops_sim.irissim.instance.classes.security import SecurityResources, SecurityRoles

    inst, runner = inproc_runner
    create = SecurityResources.Create

    def create_with_its_role(self, proc, *args):
        status = create(self, proc, *args)
        if status == 1:
            SecurityRoles().Create(proc, args[0], "implicit", f"{args[0]}:RW", "")
        return status

    monkeypatch.setattr(SecurityResources, "Create", create_with_its_role)
    made = runner.run(script_builders.ensure_resource("%DB_NEWONE"))
    assert made["created"] == 1 and made["role_created"] == 0
    assert role(inst, "%DB_NEWONE")["Description"] == "implicit"
    runner.run(script_builders.delete_resource("%DB_NEWONE", with_role=True))
    assert not inst.resource_exists("%DB_NEWONE")
    assert role(inst, "%DB_NEWONE")["Description"] == "implicit"  # not ours to delete


def test_a_role_restore_created_goes_with_its_resource_and_may_already_be_gone(inproc_runner):
    inst, runner = inproc_runner
    made = runner.run(script_builders.ensure_resource("%DB_NEWTWO"))
    assert made["created"] == 1 and made["role_created"] == 1
    assert role(inst, "%DB_NEWTWO")["Description"] == script_builders.ROLE_DESCRIPTION
    runner.run(script_builders.delete_resource("%DB_NEWTWO", with_role=True))
    assert not inst.resource_exists("%DB_NEWTWO") and role(inst, "%DB_NEWTWO") is None
    runner.run(script_builders.ensure_resource("%DB_NEWTWO"))
    runner.run(o_script('Do ##class(Security.Roles).Delete("%DB_NEWTWO")'))  # someone removed it
    runner.run(script_builders.delete_resource("%DB_NEWTWO", with_role=True))
    assert not inst.resource_exists("%DB_NEWTWO")


def o_script(line: str):
    from iris_ops.operations.run import build_script

    return build_script(line, "%SYS")
