"""Issue 10 point 8: a secret (any setting whose name ends in password/secret/token, or that a
plugin declares) never reaches logs, --dry-run output, `config` output or error messages;
fixtures written on the host are not world-readable.  Here: the rules and what needs no
instance.  Every task run to success with a password an instance asks for: test_secrets_live.py."""

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


def test_a_secret_in_a_plugin_log_event_or_error_is_masked(secret_env, capfd, caplog):
    """A plugin's log event and its veto's message name the secret: both read ***, on stderr,
    on stdout and in the records every other logging handler gets (pytest's capture here)."""
    from iris_ops import cli

    with plugin(SecuritySetting()), plugin(LeaksInAVeto()):
        try:
            cli.main(["iris-ops", "backup", "--ns", "USER", "--out", "fx", "--json"])
        except SystemExit:
            pass
    out, err = capfd.readouterr()
    assert SECRET not in out and SECRET not in err
    assert "the password *** is weak" in out + err
    assert "plugin.debug" in caplog.text and SECRET not in caplog.text


def test_a_secret_in_a_logged_exception_is_masked_and_its_traceback_kept(capfd):
    """The pipeline masks an event before any handler gets it, but leaves its exc_info for the
    formatter: the traceback is rendered, and masked there."""
    import structlog

    from iris_ops import logs

    redact.remember(SECRET)
    logs.configure("debug", "json", force=True)
    try:
        try:
            raise RuntimeError(f"login {SECRET} refused")
        except RuntimeError as exc:
            caught = exc
        # logged once the handler is over (a plugin reporting what it caught earlier)
        structlog.get_logger("iris_ops.test").error("plugin.failed", exc_info=caught)
        shown = capfd.readouterr().err
    finally:
        logs.configure("info", "auto", force=True)
    assert SECRET not in shown and "login *** refused" in shown and "Traceback" in shown, shown


class UrlSetting:
    @hookimpl
    def config_defaults(self):
        return {"ldap_url": ""}


@pytest.mark.parametrize("json_", [False, True], ids=["table", "json"])
def test_a_secret_inside_another_setting_is_masked(secret_env, monkeypatch, capfd, json_):
    """A URL with the password in it (a plugin's setting): `config` shows the URL, not the password."""
    from iris_ops import cli

    monkeypatch.setenv("IRIS_OPS_PASSWORD", SECRET)
    monkeypatch.setenv("IRIS_OPS_LDAP_URL", f"ldap://ops:{SECRET}@ldap.example")
    with plugin(UrlSetting()):
        with pytest.raises(SystemExit) as done:
            cli.main(["iris-ops", "config", *(["--json"] if json_ else [])])
    out, err = capfd.readouterr()
    assert done.value.code == 0, err
    assert SECRET not in out + err and "ldap://ops:***@ldap.example" in out


@pytest.mark.parametrize("name,secret", [("instance_password", True), ("api_token", True), ("ldap_secret", True),
                                         ("IRIS_OPS_INSTANCE_PASSWORD", True), ("container", False),
                                         ("timeout", False)])
def test_which_settings_are_secret(name, secret):
    assert redact.is_secret(name) is secret


def test_a_declared_setting_is_secret_whatever_its_name():
    redact.declare("credentials_for_ci")
    assert redact.is_secret("credentials_for_ci")


def test_a_child_process_gets_no_secret_setting():
    """What the local transport gives `iris session`: iris-ops' own secrets removed, the rest kept
    (the user's code may read its own variables)."""
    redact.declare("ldap_bind")
    given = {"IRIS_OPS_PASSWORD": "a", "IRIS_OPS_NEW_PASSWORD": "b", "IRIS_OPS_LDAP_BIND": "c",
             "iris_ops_api_token": "d", "IRIS_OPS_CONTAINER": "iris", "IRIS_OPS_USERNAME": "Ops",
             "GITHUB_TOKEN": "e", "PATH": "/bin"}
    assert redact.child_environment(given) == {"IRIS_OPS_CONTAINER": "iris", "IRIS_OPS_USERNAME": "Ops",
                                               "GITHUB_TOKEN": "e", "PATH": "/bin"}


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
