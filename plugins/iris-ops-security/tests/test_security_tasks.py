"""iris-ops-security's tasks through the CLI, against a fresh simulated community container
(``sim_container``) and a host install (``sim_host``, local transport)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("iris_ops_security")

from security_helpers import ok, secret_dirs  # noqa: E402


def report(iris_ops, env: dict) -> dict:
    """``security-report --json`` as {"users": {name: entry}, "services": {name: entry}}."""
    doc = json.loads(ok(iris_ops(env, "security-report", "--json")).stdout)
    return {"users": {u["name"]: u for u in doc["users"]}, "services": {s["name"]: s for s in doc["services"]}}


def test_a_fresh_container_gets_unexpired_passwords_and_callin(sim_container, iris_ops):
    env = sim_container.env
    before = report(iris_ops, env)
    system = before["users"]["_SYSTEM"]
    assert system["change_password"] and not system["password_never_expires"] and "%All" in system["roles"]
    assert before["services"]["%Service_CallIn"]["enabled"] is False

    dry = ok(iris_ops(env, "unexpire-passwords", "--dry-run"))
    assert "would change: ChangePassword 1 -> 0, PasswordNeverExpires 0 -> 1" in dry.stdout
    assert "Security.Users).Modify" in dry.stdout
    assert sim_container.instance.security()["users"]["_SYSTEM"]["ChangePassword"] == 1

    first = ok(iris_ops(env, "unexpire-passwords"))
    assert "_SYSTEM" in first.stdout and "changed: ChangePassword 1 -> 0, PasswordNeverExpires 0 -> 1" in first.stdout
    second = ok(iris_ops(env, "unexpire-passwords"))
    assert "nothing to change" in second.stdout
    assert all(" unchanged: " in line for line in second.stdout.splitlines()[:-1])

    enabled = ok(iris_ops(env, "enable-service", "--service", "%Service_CallIn"))
    assert "changed: enabled (was disabled)" in enabled.stdout
    again = ok(iris_ops(env, "enable-service", "--service", "%Service_CallIn"))
    assert "unchanged: already enabled" in again.stdout

    after = report(iris_ops, env)
    assert after["services"]["%Service_CallIn"]["enabled"] is True
    for name in ("_SYSTEM", "SuperUser", "Admin", "CSPSystem", "UnknownUser"):
        user = after["users"][name]
        assert not user["change_password"] and user["password_never_expires"], name
    assert iris_ops(env, "enable-service", "--service", "%Service_Nope").returncode == 2


def test_users_and_passwords(sim_container, iris_ops):
    sc, env = sim_container, sim_container.env
    control = sc.instance
    first, second = "Fírst-pass 01", "Sëcond-pass 02"
    created = ok(iris_ops(env, "create-user", "--user", "alice", "--roles", "%Developer,%SQL", "--full-name", "Alice A",
                          IRIS_OPS_NEW_PASSWORD=first))
    assert "created: roles %Developer,%SQL" in created.stdout and control.check_password("alice", first)
    alice = control.security()["users"]["alice"]
    assert (alice["Roles"], alice["FullName"], alice["ChangePassword"], alice["Enabled"]) == (
        ["%Developer", "%SQL"], "Alice A", 0, 1)

    assert iris_ops(env, "create-user", "--user", "alice", IRIS_OPS_NEW_PASSWORD=first).returncode == 3
    same = ok(iris_ops(env, "create-user", "--user", "alice", "--roles", "%sql,%Developer", "--update",
                       IRIS_OPS_NEW_PASSWORD=first))
    assert "unchanged" in same.stdout
    fewer = ok(iris_ops(env, "create-user", "--user", "alice", "--roles", "%SQL", "--update", IRIS_OPS_NEW_PASSWORD=first))
    assert "changed: Roles" in fewer.stdout and control.security()["users"]["alice"]["Roles"] == ["%SQL"]

    changed = ok(iris_ops(env, "set-password", "--user", "alice", "--password-stdin", stdin=second + "\n"))
    assert "changed: password set" in changed.stdout and control.check_password("alice", second)
    unchanged = ok(iris_ops(env, "set-password", "--user", "alice", "--password-env", "MY_PW", MY_PW=second))
    assert "unchanged: the password already is this one" in unchanged.stdout

    assert iris_ops(env, "create-user", "--user", "bob", "--roles", "%NoSuchRole", IRIS_OPS_NEW_PASSWORD=first).returncode == 2
    assert iris_ops(env, "set-password", "--user", "nobody", IRIS_OPS_NEW_PASSWORD=first).returncode == 2
    assert secret_dirs(sc) == []


def test_the_local_transport_too(sim_host, iris_ops):
    env = sim_host.env
    ok(iris_ops(env, "unexpire-passwords", "--user", "_SYSTEM"))
    ok(iris_ops(env, "set-password", "--user", "_SYSTEM", "--password-stdin", stdin="L0cal-pass\n"))
    assert sim_host.instance.check_password("_SYSTEM", "L0cal-pass")
    table = ok(iris_ops(env, "security-report")).stdout.splitlines()
    assert table[0].split() == ["USER", "ENABLED", "ROLES", "CHANGE-PASSWORD", "PASSWORD-NEVER-EXPIRES", "EXPIRATION-DATE"]
    assert next(line for line in table if line.startswith("_SYSTEM ")).split() == ["_SYSTEM", "yes", "%All", "no", "yes", "-"]
    assert any(line.split() == ["%Service_CallIn", "no"] for line in table)
    assert not list((sim_host.install_dir / "mgr").glob("iris-ops-secret-*"))
