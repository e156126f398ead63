"""The variant tier (issue 21, point 8): iris-ops under every other answer to an open IRIS question.

Each test runs once per variant of the simulated instance (``irissim/variants.py``), on one
host install per variant for the whole module (``variant_host``: the local transport, whose
restore copies from the fixture cache onto a file the transport made, and needs no Docker
engine): a round trip (backup, validate, restore filling the fixture cache, restore served from
it, restore without it, delete-ns) of a database whose resource the instance lacks, the
per-namespace lock dying with a killed iris-ops, password logins, and ``iris-ops conformance``,
which must name the fact the variant answers otherwise.  Every test leaves the instance as it
found it.  Select it with ``-m variants`` (or leave it out with ``-m "not variants"``).
"""

from __future__ import annotations

import json
import os

import pytest

from cli_helpers import instance_state, kill_holder, start_lock_holder
from clihelp import cli, fails, manifest, ok
from iris_ops.operations.conformance_facts import DIFFERS, FACTS
from iris_ops.locks import READ_TIMEOUT
from iris_ops_sim.testbed import VARIANT_NAMES

pytestmark = [pytest.mark.variants, pytest.mark.slow,
              pytest.mark.parametrize("variant_host", VARIANT_NAMES, indirect=True)]

ROWS = [("Alice", "100.50"), ("Bob", "200.75"), ("Charlie", "300.25")]
SECRET = "Vari4nt-Login:Secret"
RENEW_SECRET = "Renew-Me-7f2c"


@pytest.fixture(scope="module")
def seeded(variant_host, tmp_path_factory):
    """A fixture of namespace VSRC, whose database's resource %DB_VSRC the instance no longer has
    (so a restore creates it: the role question), and two password users: Ops (%All) and Renew,
    who must change its password at its next login."""
    sim = variant_host
    inst = sim.instance
    inst.create_database("VSRC", namespace="VSRC")
    inst.sql("VSRC", "CREATE TABLE Demo.Account (Name VARCHAR(50), Balance NUMERIC(10,2))")
    inst.sql("VSRC", "INSERT INTO Demo.Account (Name, Balance) VALUES "
             + ", ".join(f"('{name}', {balance})" for name, balance in ROWS))
    fixture = tmp_path_factory.mktemp("variant") / "vsrc"
    ok(cli(sim, "backup", "--ns", "VSRC", "--out", fixture))
    ok(cli(sim, "delete-ns", "--ns", "VSRC", "--yes"))
    assert inst.delete_resource("%DB_VSRC")
    inst.seed_user("Ops", roles="%All", change_password=0, password=SECRET)
    inst.seed_user("Renew", roles="%All", change_password=1, password=RENEW_SECRET)
    return sim, fixture


def accounts(sim, ns: str) -> list[tuple]:
    rows = sim.instance.sql(ns, "SELECT Name, Balance FROM Demo.Account ORDER BY Name").rows
    return [(str(name), f"{float(balance):.2f}") for name, balance in rows]


def test_round_trip(seeded):
    sim, fixture = seeded
    before = instance_state(sim, sim.instance.manager_directory())
    assert manifest(fixture)["tables"] == [{"name": "Demo.Account", "row_count": 3}]
    ok(cli(sim, "validate", "--src", fixture))
    served = {}
    for ns, extra in (("VFILL", ()), ("VSERVED", ()), ("VNOCACHE", ("--no-cache",))):
        done = json.loads(ok(cli(sim, "restore", "--src", fixture, "--ns", ns, "--json", *extra)).stdout)
        served[ns] = done["databases"][0]["cached"]
        assert accounts(sim, ns) == [(name, balance) for name, balance in ROWS]
        assert sim.instance.check_integrity(done["databases"][0]["directory"]) == []
    assert served == {"VFILL": False, "VSERVED": True, "VNOCACHE": False}
    assert "%DB_VSRC" in sim.instance.resources()
    for ns in ("VNOCACHE", "VSERVED", "VFILL"):  # the one that created the resource goes last
        ok(cli(sim, "delete-ns", "--ns", ns, "--yes"))
    assert instance_state(sim, sim.instance.manager_directory()) == before


def test_a_killed_iris_ops_holds_no_lock(seeded, tmp_path):
    sim, _ = seeded
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sim.env, IRIS_OPS_LOG_FORMAT="json")
    kill_holder(start_lock_holder(env, tmp_path, "APP"))
    # Its session must end whatever `iris session` does at the end of its input: at once where it
    # sees it, within the holder's read timeout (no keepalive comes any more) where it never does.
    ok(cli(sim, "backup", "--ns", "APP", "--out", tmp_path / "after", "--lock-wait", str(READ_TIMEOUT + 10)))


def test_password_logins(seeded):
    sim, _ = seeded
    sim.instance.set_os_authentication(False)
    try:
        done = ok(cli(sim, "run", "--ns", "%SYS", 'Write "as ",$USERNAME', IRIS_OPS_USERNAME="Ops",
                      IRIS_OPS_PASSWORD=SECRET))
        assert "as Ops" in done.stdout
        wrong = fails(cli(sim, "run", "Write 1", IRIS_OPS_USERNAME="Ops", IRIS_OPS_PASSWORD="not-" + SECRET), 6)
        renew = fails(cli(sim, "run", "Write 1", IRIS_OPS_USERNAME="Renew", IRIS_OPS_PASSWORD=RENEW_SECRET), 6)
        for proc in (done, wrong, renew):
            assert SECRET not in proc.stdout + proc.stderr and RENEW_SECRET not in proc.stdout + proc.stderr
        # Nothing iris-ops typed became Renew's password: the old one still holds, and still must change.
        assert sim.instance.check_password("Renew", RENEW_SECRET)
        assert sim.instance.security()["users"]["Renew"]["ChangePassword"] in (1, True)
    finally:
        sim.instance.set_os_authentication(True)


def test_conformance_names_what_this_variant_answers_otherwise(seeded, request):
    sim, _ = seeded
    variant = request.node.callspec.params["variant_host"]
    (fact,) = [f for f in FACTS if f.variant == variant]
    login = {}
    if fact.key == "login-prompts":  # the login is probed only where the instance asks for one
        sim.instance.set_os_authentication(False)
        login = {"IRIS_OPS_USERNAME": "Ops", "IRIS_OPS_PASSWORD": SECRET}
    before = instance_state(sim, sim.instance.manager_directory())
    try:
        done = fails(cli(sim, "conformance", "--json", **login), 4)
    finally:
        sim.instance.set_os_authentication(True)
    doc = json.loads(done.stdout)
    statuses = {row["fact"]: row["status"] for row in doc["facts"]}
    assert statuses[fact.key] == DIFFERS and fact.key in doc["differences"], statuses
    assert fact.title in done.stderr and "at risk" in done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert instance_state(sim, sim.instance.manager_directory()) == before
    others = {key for key, status in statuses.items() if status == DIFFERS} - {fact.key}
    assert others == set(), f"only {fact.key} should differ under {variant}: {statuses}"
