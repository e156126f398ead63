"""Issue 10 point 8: a secret (any setting whose name ends in password/secret/token, or that a
plugin declares) never reaches logs, --dry-run output, `config` output or error messages, for
every task; fixtures written on the host are not world-readable."""

from __future__ import annotations

import os
import stat

import pytest

from cli_helpers import plugin
from iris_ops import hookimpl, redact
from iris_ops.errors import VetoedError

SECRET = "S3cr3t-Hunter2-pw"


class SecuritySetting:
    """What the security plugin does: a secret setting for the instance's credentials."""

    @hookimpl
    def config_defaults(self):
        return {"instance_password": ""}


class LeaksInAVeto:
    @hookimpl
    def pre_backup(self, operation, namespace, out):
        operation.log.warning("plugin.debug", password=operation.settings.instance_password)
        raise VetoedError(f"refusing: the password {operation.settings.instance_password} is weak")


# Each task with arguments that reach its body (and, with a dead engine, its error path).
CASES = [
    ("backup", "--ns", "USER", "--out", "fx"),
    ("backup", "--ns", "USER", "--out", "fx", "--dry-run"),
    ("restore", "--src", "nowhere", "--ns", "T1"),
    ("delete-ns", "--ns", "T1", "--yes"),
    ("delete-ns", "--ns", "T1", "--yes", "--dry-run"),
    ("validate", "--src", "nowhere"),
    ("validate", "--src", "nowhere", "--json"),
    ("run", "--ns", "%SYS", "Write 1"),
    ("run", "--ns", "%SYS", "Write 1", "--dry-run"),
    ("doctor",),
    ("config",),
    ("config", "--json"),
    ("plugins", "--json"),
    ("sim", "status"),
]


@pytest.fixture
def secret_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("IRIS_OPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("IRIS_OPS_INSTANCE_PASSWORD", SECRET)
    monkeypatch.setenv("IRIS_OPS_CONTAINER", "nosuch")
    monkeypatch.setenv("IRIS_OPS_DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("IRIS_OPS_LOG_FORMAT", "json")
    monkeypatch.setenv("IRIS_OPS_TIMEOUT", "5")
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c) for c in CASES])
@pytest.mark.parametrize("verbose", [False, True], ids=["", "-v"])
def test_no_task_shows_the_secret(secret_env, capfd, args, verbose):
    from iris_ops import cli

    with plugin(SecuritySetting()):
        try:
            cli.main(["iris-ops", *(["-v"] if verbose else []), *args])
        except SystemExit:
            pass
    out, err = capfd.readouterr()
    assert SECRET not in out and SECRET not in err
    if args[0] == "config":
        assert "instance_password" in out and redact.MASK in out


def test_a_secret_in_a_plugin_log_event_or_error_is_masked(secret_env, capfd):
    from iris_ops import cli

    with plugin(SecuritySetting()), plugin(LeaksInAVeto()):
        try:
            cli.main(["iris-ops", "backup", "--ns", "USER", "--out", "fx", "--json"])
        except SystemExit:
            pass
    out, err = capfd.readouterr()
    assert SECRET not in out and SECRET not in err
    assert "the password *** is weak" in out + err


@pytest.mark.parametrize("name,secret", [("instance_password", True), ("api_token", True), ("ldap_secret", True),
                                         ("IRIS_OPS_INSTANCE_PASSWORD", True), ("container", False),
                                         ("timeout", False)])
def test_which_settings_are_secret(name, secret):
    assert redact.is_secret(name) is secret


def test_a_declared_setting_is_secret_whatever_its_name():
    redact.declare("credentials_for_ci")
    assert redact.is_secret("credentials_for_ci")


def test_fixture_files_are_not_world_readable(tmp_path):
    from iris_ops import fixture as fx
    from test_fixture import files as _files  # noqa: F401 - the factory's data
    from test_fixture import manifest_for

    from dat_factory import dat_bytes

    content = {
        "databases/APP_DATA/IRIS.DAT": dat_bytes(directory="/usr/irissys/mgr/app_data/", resource="%DB_APP_DATA"),
        "databases/APP_CODE/IRIS.DAT": dat_bytes(directory="/usr/irissys/mgr/app_code/", resource="%DB_APP_CODE"),
    }
    out = tmp_path / "fx"
    with fx.FixtureWriter(out) as w:
        for rel, data in content.items():
            w.path_for(rel).write_bytes(data)
        w.write_manifest(manifest_for(content))
    for path in [out, *out.rglob("*")]:
        assert not os.stat(path).st_mode & stat.S_IRWXO, path
