"""iris-ops-security's tasks through the CLI, against a fresh simulated community container
(``sim_container``) and a host install (``sim_host``, local transport)."""

from __future__ import annotations

import pytest

pytest.importorskip("iris_ops_security")

from security_helpers import cli, ok, report, secret_dirs  # noqa: E402


def test_a_fresh_container_gets_unexpired_passwords_and_callin(sim_container):
    env = sim_container.env
    before = report(env)
    system = before["users"]["_SYSTEM"]
    assert system["change_password"] and not system["password_never_expires"] and "%All" in system["roles"]
    assert before["services"]["%Service_CallIn"]["enabled"] is False

    dry = ok(cli(env, "unexpire-passwords", "--dry-run"))
    assert "would change: ChangePassword 1 -> 0, PasswordNeverExpires 0 -> 1" in dry.stdout
    assert "Security.Users).Modify" in dry.stdout and report(env)["users"]["_SYSTEM"]["change_password"]

    first = ok(cli(env, "unexpire-passwords"))
    assert "_SYSTEM" in first.stdout and "changed: ChangePassword 1 -> 0, PasswordNeverExpires 0 -> 1" in first.stdout
    second = ok(cli(env, "unexpire-passwords"))
    assert "nothing to change" in second.stdout and " changed:" not in second.stdout and "\nchanged" not in second.stdout

    enabled = ok(cli(env, "enable-service", "--service", "%Service_CallIn"))
    assert "changed: enabled (was disabled)" in enabled.stdout
    again = ok(cli(env, "enable-service", "--service", "%Service_CallIn"))
    assert "unchanged: already enabled" in again.stdout

    after = report(env)
    assert after["services"]["%Service_CallIn"]["enabled"] is True
    for name in ("_SYSTEM", "SuperUser", "Admin", "CSPSystem", "UnknownUser"):
        user = after["users"][name]
        assert not user["change_password"] and user["password_never_expires"], name
    table = ok(cli(env, "security-report")).stdout
    assert table.startswith("USER") and "%Service_CallIn" in table

    assert cli(env, "enable-service", "--service", "%Service_Nope").returncode == 2
    assert cli(env, "unexpire-passwords", "--user", "nobody").returncode == 2
    assert ok(cli(env, "disable-service", "--service", "%Service_CallIn")).stdout.strip().endswith("(was enabled)")


def test_users_and_passwords_never_from_argv(sim_container):
    sc, env = sim_container, sim_container.env
    control = sc.instance
    first, second = "Fírst-pass 01", "Sëcond-pass 02"
    created = ok(cli(env, "create-user", "--user", "alice", "--roles", "%Developer,%SQL", "--full-name", "Alice A",
                     IRIS_OPS_NEW_PASSWORD=first))
    assert "created: roles %Developer,%SQL" in created.stdout
    assert control.check_password("alice", first)
    alice = report(env)["users"]["alice"]
    assert alice["roles"] == ["%Developer", "%SQL"] and alice["full_name"] == "Alice A" and not alice["change_password"]

    exists = cli(env, "create-user", "--user", "alice", IRIS_OPS_NEW_PASSWORD=first)
    assert exists.returncode == 3, exists.stderr
    same = ok(cli(env, "create-user", "--user", "alice", "--roles", "%SQL,%Developer", "--update",
                  IRIS_OPS_NEW_PASSWORD=first))
    assert "unchanged" in same.stdout

    dry = ok(cli(env, "set-password", "--user", "alice", "--password-stdin", "--dry-run", stdin=second + "\n"))
    assert "would set the password" in dry.stdout and control.check_password("alice", first)
    changed = ok(cli(env, "set-password", "--user", "alice", "--password-stdin", stdin=second + "\n"))
    assert "changed: password set" in changed.stdout and control.check_password("alice", second)
    unchanged = ok(cli(env, "set-password", "--user", "alice", "--password-env", "MY_PW", MY_PW=second))
    assert "unchanged: the password already is this one" in unchanged.stdout

    refused = cli(env, "set-password", "--user", "alice", "--password-stdin", stdin="x" * 200 + "\n")
    assert refused.returncode == 5 and "pattern" in refused.stderr
    assert control.check_password("alice", second)
    assert cli(env, "create-user", "--user", "bob", "--roles", "%NoSuchRole", IRIS_OPS_NEW_PASSWORD=first).returncode == 2
    assert cli(env, "set-password", "--user", "alice").returncode == 2  # no password anywhere
    assert secret_dirs(sc) == []


def test_the_local_transport_too(sim_host):
    env = sim_host.env
    ok(cli(env, "unexpire-passwords", "--user", "_SYSTEM"))
    ok(cli(env, "set-password", "--user", "_SYSTEM", "--password-stdin", stdin="L0cal-pass\n"))
    assert sim_host.instance.check_password("_SYSTEM", "L0cal-pass")
    assert report(env)["users"]["_SYSTEM"]["change_password"] is False
    assert not list((sim_host.install_dir / "mgr").glob("iris-ops-secret-*"))
