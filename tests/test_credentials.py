"""Instances without OS authentication: the `username` setting and the secret `password` setting,
answered on `iris session`'s stdin by the docker and local transports, checked by the runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from iris_ops import config, scripts
from iris_ops.errors import AuthenticationError, ConfigError
from iris_ops.manager import new_plugin_manager
from iris_ops.runner import Runner
from iris_ops.transports.base import ExecResult, Target

SECRET = "Cr3d-Login:Secret-7d1f9a"


def cli(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "iris_ops", *args], env=full, capture_output=True, text=True,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL, timeout=120)


def test_the_password_setting_is_a_secret(tmp_path):
    settings = config.load(environ={"IRIS_OPS_USERNAME": "_SYSTEM", "IRIS_OPS_PASSWORD": SECRET}, start=tmp_path)
    assert settings.password == SECRET and settings.source("password") == "env IRIS_OPS_PASSWORD"
    assert settings.display("password") == "***" and settings.display("username") == "_SYSTEM"
    assert config.load(environ={}, start=tmp_path).display("password") == ""
    with pytest.raises(ConfigError, match="never a task flag"):
        settings.with_overrides({"password": "x"})
    (tmp_path / "iris-ops.toml").write_text(f'password = "{SECRET}"\n')
    with pytest.raises(ConfigError) as caught:
        config.load(environ={}, start=tmp_path)
    assert "not read from project files" in caught.value.message and SECRET not in caught.value.message
    assert "IRIS_OPS_PASSWORD" in caught.value.fix


def test_config_task_masks_the_secret(tmp_path):
    done = cli({"IRIS_OPS_PASSWORD": SECRET, "IRIS_OPS_USERNAME": "_SYSTEM"}, "config", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)["settings"]}
    assert rows["password"]["value"] == "***" and rows["username"]["value"] == "_SYSTEM"
    assert SECRET not in done.stdout + done.stderr


def test_the_target_never_shows_the_password():
    target = Target(container="c", username="_SYSTEM", password=SECRET)
    assert SECRET not in repr(target) and SECRET not in target.describe()


class _Hook:
    def __init__(self, text: str) -> None:
        self.text = text

    def run_objectscript(self, **kwargs):
        return ExecResult(1, self.text.encode())


class _PM:
    def __init__(self, text: str) -> None:
        self.hook = _Hook(text)


@pytest.mark.parametrize("output, wanted", [
    ("\nUsername: \nPassword: \nAccess Denied\n", "refused the login"),
    ("\nUsername: \nPassword: \nPassword change required\nAccess Denied\n", "must change its password"),
])
def test_a_refused_login_with_credentials_is_an_authentication_error(output, wanted):
    runner = Runner(_PM(output), Target(container="c", username="_SYSTEM", password=SECRET), timeout=5)
    with pytest.raises(AuthenticationError) as caught:
        runner.run(scripts.manager_directory(), changes=False)
    assert wanted in caught.value.message and caught.value.exit_code == 6
    assert SECRET not in str(caught.value) + caught.value.fix + json.dumps(caught.value.details)


def test_local_transport_logs_in_with_the_configured_user(sim_host):
    sim_host.instance.seed_user("Ops", roles="%All", change_password=0, password=SECRET)
    sim_host.instance.set_os_authentication(False)
    pm = new_plugin_manager(load_entry_points=False)
    target = Target(transport="local", iris_command=str(sim_host.iris_command), username="ops", password=SECRET)
    assert Runner(pm, target, timeout=30).run(scripts.manager_directory(), changes=False)["manager_directory"]
    wrong = Target(transport="local", iris_command=str(sim_host.iris_command), username="ops", password="nope")
    with pytest.raises(AuthenticationError, match="refused"):
        Runner(pm, wrong, timeout=30).run(scripts.manager_directory(), changes=False)
    with pytest.raises(AuthenticationError, match="asked for a login"):
        Runner(pm, Target(transport="local", iris_command=str(sim_host.iris_command)), timeout=30).run(
            scripts.manager_directory(), changes=False)


def test_docker_transport_logs_in_and_nothing_shows_the_password(sim_container):
    sc = sim_container
    sc.instance.seed_user("Ops", roles="%All", change_password=0, password=SECRET)
    sc.instance.set_os_authentication(False)
    env = {**sc.env, "IRIS_OPS_USERNAME": "Ops", "IRIS_OPS_PASSWORD": SECRET, "IRIS_OPS_LOG_FORMAT": "json"}
    done = cli(env, "-v", "run", "--ns", "%SYS", "Write $USERNAME,\"/\",##class(%File).ManagerDirectory()")
    assert done.returncode == 0, done.stderr
    assert "Ops//usr/irissys/mgr/" in done.stdout
    # the argument form (the command-line thaw) logs in too: exit 3 is "not suspended"
    target = Target(container=sc.name, docker_host=sc.base_url, username="Ops", password=SECRET)
    runner = Runner(new_plugin_manager(load_entry_points=False), target, timeout=30)
    assert runner.argument_call("##class(Backup.General).IsWDSuspendedExt()").exit_code == 3
    refused = cli({**env, "IRIS_OPS_PASSWORD": "wrong-one"}, "run", "Write 1")
    assert refused.returncode == 6 and "Access Denied" in refused.stderr
    missing = cli({k: v for k, v in env.items() if k not in ("IRIS_OPS_USERNAME", "IRIS_OPS_PASSWORD")}, "run", "Write 1")
    assert missing.returncode == 6 and "asked for a login" in missing.stderr
    for proc in (done, refused):
        assert SECRET not in proc.stdout + proc.stderr
    inspected = json.dumps(sc.client.api.inspect_container(sc.name))
    assert SECRET not in inspected


def test_a_login_prompt_counts_as_ready():
    from types import SimpleNamespace

    from iris_ops_sim.simcontainer import wait_ready

    asking = SimpleNamespace(name="c", exec=lambda argv, stdin=None: (1, b"\nNode: c, Instance: IRIS\n\nUsername: ", b""))
    wait_ready(asking, timeout=1)  # returns at once: the instance answers, it wants a login
