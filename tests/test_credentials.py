"""Instances without OS authentication: the `username` setting and the secret `password` setting,
answered on `iris session`'s stdin by the docker and local transports, checked by the runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from iris_ops import config, script_builders
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
        runner.run(script_builders.manager_directory(), changes=False)
    assert wanted in caught.value.message and caught.value.exit_code == 6
    assert SECRET not in str(caught.value) + caught.value.fix + json.dumps(caught.value.details)


def test_local_transport_logs_in_with_the_configured_user(sim_host):
    sim_host.instance.seed_user("Ops", roles="%All", change_password=0, password=SECRET)
    sim_host.instance.set_os_authentication(False)
    pm = new_plugin_manager(load_entry_points=False)
    target = Target(transport="local", iris_command=str(sim_host.iris_command), username="ops", password=SECRET)
    assert Runner(pm, target, timeout=30).run(script_builders.manager_directory(), changes=False)["manager_directory"]
    wrong = Target(transport="local", iris_command=str(sim_host.iris_command), username="ops", password="nope")
    with pytest.raises(AuthenticationError, match="refused"):
        Runner(pm, wrong, timeout=30).run(script_builders.manager_directory(), changes=False)
    with pytest.raises(AuthenticationError, match="asked for a login"):
        Runner(pm, Target(transport="local", iris_command=str(sim_host.iris_command)), timeout=30).run(
            script_builders.manager_directory(), changes=False)


def test_docker_transport_logs_in_and_nothing_shows_the_password(sim_container, tmp_path):
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
    # a backup logs in for its scripts and for the session that holds its locks
    backup = cli(env, "backup", "--ns", "USER", "--out", str(tmp_path / "fx"))
    assert backup.returncode == 0, backup.stderr
    refused = cli({**env, "IRIS_OPS_PASSWORD": "wrong-one"}, "run", "Write 1")
    assert refused.returncode == 6 and "Access Denied" in refused.stderr
    missing = cli({k: v for k, v in env.items() if k not in ("IRIS_OPS_USERNAME", "IRIS_OPS_PASSWORD")}, "run", "Write 1")
    assert missing.returncode == 6 and "asked for a login" in missing.stderr
    for proc in (done, backup, refused):
        assert SECRET not in proc.stdout + proc.stderr
    inspected = json.dumps(sc.client.api.inspect_container(sc.name))
    assert SECRET not in inspected


def test_a_login_prompt_counts_as_ready():
    from types import SimpleNamespace

    from iris_ops_sim.simcontainer import wait_ready

    asking = SimpleNamespace(name="c", exec=lambda argv, stdin=None: (1, b"\nNode: c, Instance: IRIS\n\nUsername: ", b""))
    wait_ready(asking, timeout=1)  # returns at once: the instance answers, it wants a login


# --- the login conversation (issue 21, point 6) ------------------------------------------------

class Scripted:
    """A session as the transports see it: ``outputs`` is what it prints, in turn, each time it
    is read (``QUIET`` once: it waits there); what is sent is recorded."""

    def __init__(self, *outputs) -> None:
        self.outputs = list(outputs)
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def read(self, deadline, settle=None):
        from iris_ops.transports.login import QUIET

        if not self.outputs:
            return None
        nxt = self.outputs.pop(0)
        if nxt is QUIET and settle is None:
            raise AssertionError("waited for output without a settle time: it would hang")
        return nxt


def talk(session, username="ops", password=SECRET, interactive=True):
    import time

    from iris_ops.transports.login import converse

    return converse(session, username, password, time.monotonic() + 30, interactive=interactive)


BANNER = b"\nNode: c0ffee, Instance: IRIS\n"


def test_os_authentication_on_types_no_credentials():
    session = Scripted(BANNER, b"\nUSER>")
    output, ready = talk(session)
    assert ready and session.sent == [] and output.endswith(b"USER>")


def test_the_credentials_answer_their_own_prompts_only():
    session = Scripted(BANNER + b"\nUsername: ", b"\nPassword: ", b"\n%SYS>")
    _, ready = talk(session)
    assert ready and session.sent == [b"ops\n", SECRET.encode() + b"\n"]


@pytest.mark.parametrize("outputs", [
    (BANNER + b"\nUsername: ", b"\nPassword: ", b"\nPlease enter a new password:", "QUIET"),  # a change
    (BANNER + b"\nUsername: ", b"\nPassword: ", b"\nAccess Denied\n\nUsername: "),  # asked again
    (BANNER + b"\nLogin:", "QUIET"),  # another wording
    (BANNER + b"\nPassword: ",),  # a password asked before any username
], ids=["new-password", "asked-again", "other-wording", "password-first"])
def test_any_other_question_gets_nothing(outputs):
    from iris_ops.transports.login import QUIET

    session = Scripted(*[QUIET if o == "QUIET" else o for o in outputs])
    _, ready = talk(session)
    assert not ready
    assert all(SECRET.encode() not in sent or sent == SECRET.encode() + b"\n" for sent in session.sent)
    assert len(session.sent) <= 2  # at most the two answers, never the script


def test_a_colon_in_passing_output_is_no_question():
    session = Scripted(BANNER + b"\nERROR #5001:", b" details\n", b"\nUSER>")
    assert talk(session)[1] and session.sent == []


def test_without_credentials_a_username_prompt_gets_nothing():
    session = Scripted(BANNER + b"\nUsername: ")
    assert talk(session, username="", password="") == (BANNER + b"\nUsername: ", False) and session.sent == []


def test_the_single_call_form_answers_the_login_then_lets_the_call_run():
    session = Scripted(b"\nUsername: ", b"\nPassword: ", b"called\n")
    assert talk(session, interactive=False)[1] and session.sent == [b"ops\n", SECRET.encode() + b"\n"]
    quiet = Scripted(b"called\n")
    assert talk(quiet, interactive=False)[1] and quiet.sent == []


@pytest.mark.parametrize("output, wanted", [
    ("\nNode: c, Instance: IRIS\n\nUsername: \nPassword: \nPlease enter a new password:\n", "does not answer"),
    ("\nNode: c, Instance: IRIS\n\nUsername: \nPassword: \n\nUsername: \n", "asked for a login again"),
    ("\nNode: c, Instance: IRIS\n\nNom d'utilisateur :\n", "does not answer"),
], ids=["new-password", "asked-again", "other-wording"])
def test_a_session_stopped_at_a_prompt_is_a_login_failure(output, wanted):
    runner = Runner(_PM(output), Target(container="c", username="_SYSTEM", password=SECRET), timeout=5)
    with pytest.raises(AuthenticationError) as caught:
        runner.run(script_builders.manager_directory(), changes=False)
    assert wanted in caught.value.message and caught.value.exit_code == 6 and caught.value.fix


@pytest.mark.docker
def test_a_user_who_must_change_the_password_is_a_login_failure_with_nothing_typed_into_it(sim_container):
    """However IRIS words it (a refusal, or a prompt for a new password), exit 6, a fix, and the
    password in no output: nothing is typed into a prompt iris-ops does not answer."""
    sc = sim_container
    sc.instance.seed_user("Ops", roles="%All", change_password=1, password=SECRET)
    sc.instance.set_os_authentication(False)
    env = {**sc.env, "IRIS_OPS_USERNAME": "Ops", "IRIS_OPS_PASSWORD": SECRET}
    done = cli(env, "-v", "run", "Write 1")
    assert done.returncode == 6, done.stderr
    assert "password" in done.stderr.lower() and SECRET not in done.stdout + done.stderr
    assert sc.instance.check_password("Ops", SECRET)  # and no script line became its new password


def test_a_login_with_no_output_after_it_is_no_failure():
    """The single-call form after a login prints nothing of its own: not a stalled login."""
    from iris_ops.runner import stalled_at_login

    text = "\nUsername: \nPassword: \n"
    assert stalled_at_login(text, answered=True) is None
    assert stalled_at_login(text, answered=False) == "Password:"
