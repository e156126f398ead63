"""The variant tier (issue 21, point 8): iris-ops under every other answer to an open IRIS question.

Each test runs once per variant of the simulated instance (``irissim/variants.py``), on one
container per variant for the whole module (``variant_container``): a round trip (backup,
validate, restore filling the fixture cache, restore served from it, restore without it,
delete-ns), the per-namespace lock dying with a killed iris-ops, password logins, and
``iris-ops conformance``, which must name the fact the variant answers otherwise.  Every test
leaves the instance as it found it.  Select it with ``-m variants`` (or leave it out with
``-m "not variants"``).
"""

from __future__ import annotations

import json
import os

import pytest

from cli_helpers import instance_state, kill_holder, start_lock_holder
from clihelp import cli, fails, manifest, ok
from iris_ops.conformance import DIFFERS, FACTS
from iris_ops_sim.testbed import VARIANT_NAMES

pytestmark = [pytest.mark.variants, pytest.mark.slow,
              pytest.mark.parametrize("variant_container", VARIANT_NAMES, indirect=True)]

ROWS = [("Alice", "100.50"), ("Bob", "200.75"), ("Charlie", "300.25")]
MGR = "/usr/irissys/mgr/"
SECRET = "Vari4nt-Login:Secret"
RENEW_SECRET = "Renew-Me-7f2c"


@pytest.fixture(scope="module")
def seeded(variant_container):
    """USER holds Demo.Account (three rows); two password users: Ops (%All) and Renew, who must
    change its password at its next login."""
    inst = variant_container.instance
    inst.sql("USER", "CREATE TABLE Demo.Account (Name VARCHAR(50), Balance NUMERIC(10,2))")
    for name, balance in ROWS:
        inst.sql("USER", f"INSERT INTO Demo.Account (Name, Balance) VALUES ('{name}', {balance})")
    inst.seed_user("Ops", roles="%All", change_password=0, password=SECRET)
    inst.seed_user("Renew", roles="%All", change_password=1, password=RENEW_SECRET)
    return variant_container


def accounts(sc, ns: str) -> list[tuple]:
    rows = sc.instance.sql(ns, "SELECT Name, Balance FROM Demo.Account ORDER BY Name").rows
    return [(str(name), f"{float(balance):.2f}") for name, balance in rows]


def test_round_trip(seeded, tmp_path):
    sc = seeded
    before = instance_state(sc)
    fixture = tmp_path / "fx"
    ok(cli(sc, "backup", "--ns", "USER", "--out", fixture))
    assert manifest(fixture)["tables"] == [{"name": "Demo.Account", "row_count": 3}]
    ok(cli(sc, "validate", "--src", fixture))
    served = {}
    for ns, extra in (("VFILL", ()), ("VSERVED", ()), ("VNOCACHE", ("--no-cache",))):
        done = json.loads(ok(cli(sc, "restore", "--src", fixture, "--ns", ns, "--json", *extra)).stdout)
        served[ns] = done["databases"][0]["cached"]
        assert accounts(sc, ns) == [(name, balance) for name, balance in ROWS]
        assert sc.instance.check_integrity(MGR + ns.lower() + "/") == []
    assert served == {"VFILL": False, "VSERVED": True, "VNOCACHE": False}
    for ns in served:
        ok(cli(sc, "delete-ns", "--ns", ns, "--yes"))
    assert instance_state(sc) == before


def _env(sc) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sc.env, IRIS_OPS_LOG_FORMAT="json")
    return env


def test_locks_name_the_holder_and_die_with_a_killed_iris_ops(seeded, tmp_path):
    sc = seeded
    holder = start_lock_holder(_env(sc), tmp_path)
    try:
        busy = cli(sc, "backup", "--ns", "USER", "--out", tmp_path / "busy")
        fails(busy, 3)
        assert f"is locked by restore (pid {holder.pid} on" in busy.stderr
    finally:
        kill_holder(holder)
    # The engine closes the killed client's exec; the session that held the lock must end then,
    # whatever `iris session` does at the end of its input.  The wait only absorbs that moment.
    ok(cli(sc, "backup", "--ns", "USER", "--out", tmp_path / "after", "--lock-wait", "10"))


def test_password_logins(seeded):
    sc = seeded
    sc.instance.set_os_authentication(False)
    try:
        done = ok(cli(sc, "run", "--ns", "%SYS", 'Write "as ",$USERNAME', IRIS_OPS_USERNAME="Ops",
                      IRIS_OPS_PASSWORD=SECRET))
        assert "as Ops" in done.stdout
        wrong = fails(cli(sc, "run", "Write 1", IRIS_OPS_USERNAME="Ops", IRIS_OPS_PASSWORD="not-" + SECRET), 6)
        renew = fails(cli(sc, "run", "Write 1", IRIS_OPS_USERNAME="Renew", IRIS_OPS_PASSWORD=RENEW_SECRET), 6)
        missing = fails(cli(sc, "run", "Write 1"), 6)
        for proc in (done, wrong, renew, missing):
            assert SECRET not in proc.stdout + proc.stderr and RENEW_SECRET not in proc.stdout + proc.stderr
        # Nothing iris-ops typed became Renew's password: the old one still holds, and still must change.
        assert sc.instance.check_password("Renew", RENEW_SECRET)
        assert sc.instance.security()["users"]["Renew"]["ChangePassword"] in (1, True)
    finally:
        sc.instance.set_os_authentication(True)


def test_conformance_names_what_this_variant_answers_otherwise(seeded, request):
    sc = seeded
    variant = request.node.callspec.params["variant_container"]
    (fact,) = [f for f in FACTS if f.variant == variant]
    login = {}
    if fact.key == "login-prompts":  # the login is probed only where the instance asks for one
        sc.instance.set_os_authentication(False)
        login = {"IRIS_OPS_USERNAME": "Ops", "IRIS_OPS_PASSWORD": SECRET}
    before = instance_state(sc)
    try:
        done = fails(cli(sc, "conformance", "--json", **login), 4)
    finally:
        sc.instance.set_os_authentication(True)
    doc = json.loads(done.stdout)
    statuses = {row["fact"]: row["status"] for row in doc["facts"]}
    assert statuses[fact.key] == DIFFERS and fact.key in doc["differences"], statuses
    assert fact.title in done.stderr and "at risk" in done.stderr
    others = {key for key, status in statuses.items() if status == DIFFERS} - {fact.key}
    assert others == set(), f"only {fact.key} should differ under {variant}: {statuses}"
    assert instance_state(sc) == before
    assert SECRET not in done.stdout + done.stderr

