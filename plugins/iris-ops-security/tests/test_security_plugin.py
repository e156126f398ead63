"""iris-ops-security without Docker: it is found through its entry point, generates scripts that
parse, reads passwords only from the environment or stdin, and its one-time secret really carries
the password into the (in-process) simulated instance.  That it imports only iris-ops' public API
is checked with the other plugins' imports in tests/test_plugin_guide.py."""

from __future__ import annotations

import inspect
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("iris_ops_security")

import iris_ops_security  # noqa: E402
from iris_ops.errors import UsageError  # noqa: E402
from iris_ops.runner import Runner  # noqa: E402
from iris_ops.transports.base import ExecResult  # noqa: E402
from iris_ops_security import script_builders, secret, tasks  # noqa: E402
from security_helpers import cli  # noqa: E402

PLUGIN = Path(iris_ops_security.__file__).resolve().parent


def test_the_entry_point_brings_every_task_and_the_plugin():
    listed = cli({}, "--list")
    assert listed.returncode == 0, listed.stderr
    for name in iris_ops_security.TASKS:
        assert re.search(rf"^\s+{re.escape(name)}\s", listed.stdout, re.MULTILINE), name
    shown = cli({}, "plugins", "--json")
    rows = {row["name"]: row for row in json.loads(shown.stdout)["plugins"]}
    assert rows["security"]["distribution"] == "iris-ops-security" and rows["security"]["hooks"] == ["doctor_findings", "register_tasks", "state_kinds"]
    blocked = cli({"IRIS_OPS_DISABLE_PLUGINS": "security"}, "--list")
    assert "unexpire-passwords" not in blocked.stdout


def test_tasks_take_no_password_argument():
    for name in iris_ops_security.TASKS.values():
        task = getattr(tasks, name)
        flags = inspect.signature(task.body).parameters
        assert not [p for p in flags if "password" in p and p not in ("password_env", "password_stdin")], name
    probe = "Probe-Not-In-Argv-0451"
    refused = cli({}, "set-password", "--user", "x", "--password", probe)
    assert refused.returncode == 2 and probe not in refused.stdout + refused.stderr


def every_script():
    staged = script_builders.Secret(directory="/usr/irissys/mgr/iris-ops-secret-0/",
                                    path="/usr/irissys/mgr/iris-ops-secret-0/s", pad="AAEC", size=4)
    yield script_builders.describe(None, list(script_builders.DOCUMENTED_SERVICES), ["%All", "%Developer"])
    yield script_builders.describe(["_SYSTEM", 'we"ird'])
    yield script_builders.modify_users({"_SYSTEM": {"ChangePassword": 0, "PasswordNeverExpires": 1}})
    yield script_builders.set_service("%Service_CallIn", True)
    yield script_builders.set_password("alice", staged)
    yield script_builders.set_password("alice", staged, properties={"Roles": "%SQL", "FullName": "A"})
    yield script_builders.set_password("alice", staged, create=("%Developer,%SQL", "Alice"))


@pytest.mark.parametrize("script", list(every_script()), ids=lambda s: s.purpose)
def test_every_script_parses(script):
    pytest.importorskip("tree_sitter_objectscript")
    from iris_ops_sim.syntax import syntax_errors

    assert syntax_errors(script) == []


def test_the_syntax_check_can_fail():
    pytest.importorskip("tree_sitter_objectscript")
    from iris_ops import objectscript as o
    from iris_ops_sim.syntax import syntax_errors

    broken = o.Script("%SYS").step("bad", o.user_code('Set x=("a"'))
    assert syntax_errors(broken) == [line for line in broken.lines() if 'Set x=("a"' in line]


def test_passwords_come_from_the_environment_or_stdin(monkeypatch):
    monkeypatch.setenv(secret.PASSWORD_ENV, "from-env 1!")
    assert secret.read_password() == "from-env 1!"
    monkeypatch.setenv("MY_PW", "other-env")
    assert secret.read_password("MY_PW") == "other-env"
    monkeypatch.setattr(sys, "stdin", io.StringIO("from-stdin\r\nsecond line\n"))
    assert secret.read_password(from_stdin=True) == "from-stdin"
    for env, value in (("EMPTY_PW", ""), ("CTRL_PW", "tab\there")):
        monkeypatch.setenv(env, value)
        with pytest.raises(UsageError) as caught:
            secret.read_password(env)
        assert value == "" or value not in caught.value.message + caught.value.fix
    with pytest.raises(UsageError) as caught:
        secret.read_password("S3cret typed here!")
    assert "S3cret" not in caught.value.message + caught.value.fix


def _on_a_terminal(args: list[str], keys: bytes, after: bytes) -> tuple[int, str]:
    """``iris-ops ARGS`` with a pseudo-terminal as its controlling terminal (where getpass asks);
    ``keys`` are typed once ``after`` has been shown.  Returns the exit status and what it showed."""
    import pty
    import select

    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update({"IRIS_OPS_LOG_FORMAT": "json", "IRIS_OPS_CONTAINER": "iris-nowhere",
                "DOCKER_HOST": "unix:///nonexistent/iris-ops-test.sock"})
    pid, leader = pty.fork()
    if pid == 0:  # the child: its stdin, stdout, stderr and /dev/tty are the terminal
        os.execve(sys.executable, [sys.executable, "-m", "iris_ops", *args], env)
    shown, typed = b"", False
    try:
        while True:
            if not typed and after in shown:
                os.write(leader, keys)
                typed = True
            ready, _, _ = select.select([leader], [], [], 120)
            if not ready:
                break  # nothing more within two minutes: the status below says what happened
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


@pytest.mark.parametrize("task", ["set-password", "create-user"])
def test_ctrl_d_at_the_password_prompt_is_exit_2(task):
    code, shown = _on_a_terminal([task, "--user", "alice", "--password-stdin"], b"\x04", after=b"New password:")
    assert code == 2, shown
    event = json.loads(shown[shown.index("{"):].splitlines()[0])
    assert event["event"] == "no password given: the prompt was closed (Ctrl-D); nothing was changed"
    assert "--password-stdin" in event["fix"] and event["exit_code"] == 2


@pytest.mark.parametrize("bad", ["", " lead", "a*b", "a@b", "a,b", "x" * 161, "line\nbreak"])
def test_user_names_are_checked_before_any_container_work(bad):
    with pytest.raises(UsageError):
        tasks.user_name(bad)


def test_role_and_service_names_are_checked():
    assert tasks.role_names("%Developer, %SQL") == ["%Developer", "%SQL"]
    for bad in ("a:b", "%SQL,%sql", "r" * 65):
        with pytest.raises(UsageError):
            tasks.role_names(bad)
    assert tasks.service_name("%Service_CallIn") == "%Service_CallIn"
    for bad in ("CallIn", "%Service_Call In", '%Service_X")'):
        with pytest.raises(UsageError):
            tasks.service_name(bad)


# --- the one-time secret, end to end inside an in-process simulated instance --------------------

@pytest.fixture
def instance(tmp_path):
    from iris_ops_sim.irissim.instance import SimInstance
    from iris_ops_sim.irissim.instance.fs import ContainerFS

    return SimInstance.create(ContainerFS(tmp_path / "rootfs", tmp_path / "fsmeta.json"))


def _operation(instance):
    """Just enough of an Operation for secret.stage: write_file as the docker transport leaves
    the file (owner irisowner, file 660, directory 770)."""
    def write_file(src, size, path, timeout):
        host = instance.fs.host_path(path)
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_bytes(src.read(size))
        for item, mode in ((path, 0o660), (path.rsplit("/", 1)[0], 0o770)):
            instance.fs.created(item, 51773, 51773)
            os.chmod(instance.fs.host_path(item), mode)

    return SimpleNamespace(dry_run=False, settings=SimpleNamespace(timeout=5),
                           runner=SimpleNamespace(write_file=write_file))


def _run(instance, script) -> tuple[dict, bytes]:
    from iris_ops_sim.irissim.objectscript import iris_main

    chunks: list[bytes] = []
    code = iris_main(instance, ["session", "IRIS", "-U", "%SYS"], io.BytesIO(script.render().encode()), chunks.append)
    output = b"".join(chunks)
    return Runner(None, None, timeout=5).parse(script, ExecResult(code, output)), output


@pytest.mark.parametrize("password", ["Grüße, Welt! 12", "plain-ASCII-pw", "Ωmega-密码-9"])
def test_a_staged_password_reaches_the_instance_and_nothing_else(instance, password):
    from iris_ops_sim.irissim.instance import security

    op = _operation(instance)
    staged = secret.stage(op, password, instance.manager_directory())
    stored = instance.fs.host_path(staged.path).read_bytes()
    script = script_builders.set_password("Admin", staged)
    payload, output = _run(instance, script)
    assert payload["password_changed"] == 1 and payload["secret_removed"] == 1
    with instance.locked() as st:
        assert security.check_password(security.find_user(security.of(st), "Admin"), password)
    assert not instance.fs.exists(staged.directory)
    for text in (script.render().encode(), output, stored, json.dumps(payload).encode()):
        assert password.encode() not in text and password.encode("utf-8").hex().encode() not in text
    again = script_builders.set_password("Admin", secret.stage(op, password, instance.manager_directory()))
    assert _run(instance, again)[0]["password_changed"] == 0  # idempotent: the hash already matches


def test_a_missing_secret_file_fails_the_script_and_changes_nothing(instance):
    from iris_ops.errors import ScriptError

    staged = script_builders.Secret(directory=instance.manager_directory() + "iris-ops-secret-x/",
                                    path=instance.manager_directory() + "iris-ops-secret-x/s", pad="AAAA", size=4)
    with pytest.raises(ScriptError) as caught:
        _run(instance, script_builders.set_password("Admin", staged, create=("%SQL", "")))
    assert caught.value.details["step"] == "secret" and caught.value.details["result"]["secret_removed"] == 1


def test_the_docs_name_the_service_each_client_needs():
    """The external Python driver (intersystems-irispython) connects through %Service_Bindings;
    %Service_CallIn serves embedded Python and callin programs (IRIS.md 4c).  The README and the
    task help say so, and nothing tells a driver user to enable %Service_CallIn."""
    readme = (PLUGIN.parents[1] / "README.md").read_text()
    shown = cli({}, "enable-service", "--help")
    assert shown.returncode == 0, shown.stderr
    rows = {line.split("|")[2].strip(): line.split("|")[1] for line in readme.splitlines()
            if line.startswith("| ") and "`%Service_" in line.split("|")[2]}
    assert "intersystems-irispython" in rows["`%Service_Bindings`"] and "Python driver" in rows["`%Service_Bindings`"]
    assert "embedded Python" in rows["`%Service_CallIn`"] and "callin" in rows["`%Service_CallIn`"]
    help_text = " ".join(shown.stdout.split())
    assert "%Service_Bindings (the external Python driver" in help_text
    for text in (readme, help_text, tasks.enable_service.__doc__ or ""):
        for sentence in re.split(r"(?<=[.:|\n])", text):
            if "CallIn" in sentence and "Python" in sentence:
                assert "embedded Python" in sentence, sentence  # never "CallIn ... the Python driver"
