"""``iris-ops plan`` end to end, as a user runs it: a state file and a CPF merge file planned against
a simulated instance in a container, through the docker transport, and a change made with
``iris-ops run`` seen in the next plan."""

from __future__ import annotations

import json

from clihelp import cli, objectscript, ok

STATE = """\
[state.resources.APP_RES]
description = "the app's data"

[state.databases.USER]
size = 1

[state.namespaces.USER]
globals = "USER"
interop = true

[[state.global_mappings]]
namespace = "USER"
name = "Orders"
database = "USER"
"""


def test_plan_reads_the_instance_once_and_says_create_change_or_ok(sim_container, tmp_path):
    sc = sim_container
    path = tmp_path / "state.toml"
    path.write_text(STATE)
    shown = ok(cli(sc, "plan", "--state", path)).stdout.splitlines()
    assert shown == [
        "create  resource APP_RES (description=the app's data)",
        "ok      database USER",
        "change  namespace USER",
        "          interop: false -> true",
        "create  global mapping USER/Orders (database=USER)",
        "plan: 2 to create, 1 to change, 1 ok",
    ]
    objectscript(sc, 'Set p("Database")="USER" Do ##class(Config.MapGlobals).Create("USER","Orders",.p)')
    data = json.loads(ok(cli(sc, "plan", "--state", path, "--json")).stdout)
    assert data["summary"] == {"create": 1, "change": 1, "ok": 2}
    assert {"kind": "global_mappings", "name": "USER/Orders", "action": "ok"} in data["plan"]
    merge = tmp_path / "merge.cpf"
    merge.write_text("[Actions]\nCreateNamespace:Name=USER,Globals=USER,Routines=USER\n")
    assert ok(cli(sc, "plan", "--cpf", merge)).stdout.splitlines() == ["ok      namespace USER",
                                                                        "plan: 0 to create, 0 to change, 1 ok"]


def test_a_namespace_to_restore_needs_its_fixture(sim_container, tmp_path):
    sc = sim_container
    path = tmp_path / "state.toml"
    path.write_text('[state.namespaces.TEST1]\nfixture = "APP"\n')
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    missing = cli(sc, "plan", "--state", path, IRIS_OPS_FIXTURES_DIR=str(fixtures))
    assert missing.returncode == 2, missing.stderr
    assert f"the plan cannot be carried out: namespace TEST1: no fixture named 'APP' in {fixtures}" in missing.stderr
    (fixtures / "APP").mkdir()
    assert ok(cli(sc, "plan", "--state", path, IRIS_OPS_FIXTURES_DIR=str(fixtures))).stdout.splitlines() == [
        "create  namespace TEST1 (fixture=APP)", "plan: 1 to create, 0 to change, 0 ok"]
