"""``iris-ops plan`` of users and services as a user runs it, against a host install of the
simulated IRIS (``sim_host``, local transport): the plan, ``--json``, a merge file, and a password
that shows nowhere (stdout, ``-v`` stderr in both log formats, the instance's files)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("iris_ops_security")

from security_helpers import ok  # noqa: E402

PASSWORD = "Plän-pass 99!"
STATE = '''[state.users.alice]
roles = ["%SQL"]
password_env = "ALICE_PW"

[state.users._SYSTEM]
password_env = "ALICE_PW"
enabled = true

[state.services."%Service_CallIn"]
enabled = true
authentication = ["OS", "Password"]
'''


def test_plan_of_users_and_services_shows_a_password_only_as_changed(sim_host, iris_ops, tmp_path):
    (tmp_path / "state.toml").write_text(STATE)
    env = {**sim_host.env, "ALICE_PW": PASSWORD}
    text = ok(iris_ops(env, "-v", "--log-format", "console", "plan", "--state", str(tmp_path / "state.toml")))
    assert text.stdout.splitlines() == [
        "create  user alice (roles=%SQL, password_env=ALICE_PW)",
        "change  user _SYSTEM",
        "          password_env: changed",
        "change  service %Service_CallIn",
        "          enabled: false -> true",
        "          authentication: OS -> OS,Password",
        "plan: 1 to create, 2 to change, 0 ok",
    ]
    data = ok(iris_ops(env, "-v", "plan", "--state", str(tmp_path / "state.toml"), "--json"))
    plan = json.loads(data.stdout)["plan"]
    assert plan[1] == {"kind": "users", "name": "_SYSTEM", "action": "change",
                       "changes": {"password_env": {"changed": True}}}
    same = ok(iris_ops({**env, "ALICE_PW": "SYS"}, "plan", "--state", str(tmp_path / "state.toml")))
    assert "ok      user _SYSTEM" in same.stdout.splitlines()  # the instance compared it: SYS is its password
    for run in (text, data, same):
        assert PASSWORD not in run.stdout + run.stderr
    assert "script.start" in text.stderr and "script.start" in data.stderr  # -v: the debug logs were there
    mgr = sim_host.install_dir / "mgr"
    assert not list(mgr.glob("iris-ops-secret-*"))
    assert not [p for p in mgr.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]


def test_a_merge_file_of_users_and_services_is_planned(sim_host, iris_ops, tmp_path):
    (tmp_path / "merge.cpf").write_text("[Actions]\nModifyService:Name=%Service_CallIn,Enabled=1,"
                                        "AutheEnabled=$$$AutheOS+$$$AuthePassword\n"
                                        "ModifyUser:Name=SuperUser,ChangePassword=0,PasswordNeverExpires=1\n")
    shown = ok(iris_ops(sim_host.env, "plan", "--cpf", str(tmp_path / "merge.cpf")))
    assert shown.stdout.splitlines() == [
        "change  user SuperUser",
        "          change_password: true -> false",
        "          password_never_expires: false -> true",
        "change  service %Service_CallIn",
        "          enabled: false -> true",
        "          authentication: OS -> OS,Password",
        "plan: 0 to create, 2 to change, 0 ok",
    ]
    (tmp_path / "merge.cpf").write_text("[Actions]\nModifyService:Name=%Service_Nope,Enabled=1\n")
    unknown = iris_ops(sim_host.env, "plan", "--cpf", str(tmp_path / "merge.cpf"))
    assert unknown.returncode == 2 and "the instance has no service %Service_Nope" in unknown.stderr
