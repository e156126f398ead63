"""No secret leaks: every byte iris-ops exchanges with the Docker engine (a recording proxy on
the engine socket), everything it writes to stdout and stderr (debug logs, both log formats, a
dry run, a failing script), every command line on the host and in the container while it runs,
the container's environment and ``docker inspect``, and the instance's files afterwards hold
none of the passwords the tasks handled, in any usual encoding.  And the passwords did arrive."""

from __future__ import annotations

import io
import secrets
import tarfile

import pytest

pytest.importorskip("iris_ops_security")

from iris_ops_sim.secrettrace import inspected, leaks, watching  # noqa: E402
from security_helpers import cli, ok, secret_dirs  # noqa: E402


def archive(sc, path: str) -> bytes:
    """Every byte of the files under ``path`` in the container."""
    stream, _ = sc.client.api.get_archive(sc.name, path)
    data = b"".join(stream)
    out = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            if member.isfile():
                out.append(tar.extractfile(member).read())
    return b"\n".join(out)


def test_no_password_leaves_a_trace(sim_container, engine_tap):
    sc, tap = sim_container, engine_tap
    token = secrets.token_hex(6)
    probes = {
        "created": f"Leäk-Créate-{token}",
        "updated-to-same": f"Leäk-Créate-{token}",
        "set": f"Leak Set 密码 {token}!",
        "dry-run": f"Leak-DryRun-{token}",
        "refused": f"Leak-TooLong-{token}-" + "x" * 120,
        "second-user": f"Leak-Bob-{token}",
    }
    env = {**sc.env, "DOCKER_HOST": tap.url}
    runs = []
    with watching(sc) as seen:
        runs.append(ok(cli(env, "-v", "--log-format", "console", "create-user", "--user", "alice", "--roles",
                           "%Developer", "--full-name", "Leak Canary", IRIS_OPS_NEW_PASSWORD=probes["created"])))
        runs.append(ok(cli(env, "-v", "create-user", "--user", "alice", "--update",
                           IRIS_OPS_NEW_PASSWORD=probes["updated-to-same"])))
        runs.append(ok(cli(env, "-v", "set-password", "--user", "alice", "--password-stdin", stdin=probes["set"] + "\n")))
        runs.append(ok(cli(env, "-v", "set-password", "--user", "alice", "--password-stdin", "--dry-run",
                           stdin=probes["dry-run"] + "\n")))
        refused = cli(env, "-v", "set-password", "--user", "alice", "--password-stdin", stdin=probes["refused"] + "\n")
        assert refused.returncode == 5, refused.stderr
        runs.append(refused)
        runs.append(ok(cli(env, "-v", "create-user", "--user", "bob", "--password-env", "BOB_PW",
                           BOB_PW=probes["second-user"])))
    captured = tap.captured
    container_lines = seen["container command lines and environments"]

    # the proxy saw the real traffic: scripts, the one-time file's upload, and the argv canary
    assert b"Security.Users" in captured and b"iris-ops-secret-" in captured and b"Leak Canary" in captured
    assert len(container_lines) > 1000 and b"iris\x00session" in container_lines

    places = {
        **seen,
        "docker inspect": inspected(sc),
        "engine traffic": captured,
        "stdout/stderr": "\n".join(r.stdout + r.stderr for r in runs).encode("utf-8"),
        "instance files at rest": archive(sc, "/usr/irissys"),
        "container /tmp": archive(sc, "/tmp"),
    }
    assert leaks(probes, places) == []
    assert secret_dirs(sc) == []

    # ... and yet the passwords that should arrive did
    control = sc.instance
    assert control.check_password("alice", probes["set"]) and control.check_password("bob", probes["second-user"])
    assert not control.check_password("alice", probes["dry-run"])


def test_a_configured_password_stays_home_when_os_authentication_lets_iris_session_in(sim_container, engine_tap,
                                                                                     tmp_path):
    """OS authentication on (no login asked) and IRIS_OPS_USERNAME / IRIS_OPS_PASSWORD set: every
    task and the security plugin's commands run, and the password is typed nowhere: not into the
    session (it asked for no login), so not in any output, log (-v, -vv), error, engine traffic,
    command line or exec environment."""
    sc, tap = sim_container, engine_tap
    password = f"Leak-Login-{secrets.token_hex(6)}"
    sc.instance.sql("USER", "CREATE TABLE Demo.T (N INT)")
    sc.instance.sql("USER", "INSERT INTO Demo.T (N) VALUES (1)")
    env = {**sc.env, "DOCKER_HOST": tap.url, "IRIS_OPS_USERNAME": "_SYSTEM", "IRIS_OPS_PASSWORD": password}
    fx, cached = tmp_path / "fx", tmp_path / "fx2"
    runs = []
    with watching(sc) as seen:
        runs.append(ok(cli(env, "-vv", "run", "--ns", "USER", 'Write "ran as ",$USERNAME,!')))
        runs.append(ok(cli(env, "-v", "--log-format", "console", "backup", "--ns", "USER", "--out", str(fx))))
        runs.append(ok(cli(env, "-vv", "validate", "--src", str(fx), "--online", "--ns", "USER")))
        runs.append(ok(cli(env, "-v", "restore", "--src", str(fx), "--ns", "LEAKCOPY")))
        runs.append(ok(cli(env, "-v", "backup", "--ns", "LEAKCOPY", "--out", str(cached), "--dismount")))
        runs.append(ok(cli(env, "-v", "cache", "list")))
        runs.append(ok(cli(env, "-v", "delete-ns", "--ns", "LEAKCOPY", "--yes")))
        runs.append(ok(cli(env, "-v", "doctor")))
        runs.append(ok(cli(env, "-v", "config")))
        runs.append(ok(cli(env, "-v", "plugins")))
        runs.append(ok(cli(env, "-v", "security-report")))
        runs.append(ok(cli(env, "-v", "unexpire-passwords", "--user", "_SYSTEM")))
        runs.append(ok(cli(env, "-v", "enable-service", "--service", "%Service_Bindings")))
        runs.append(ok(cli(env, "-v", "create-user", "--user", "carol", "--roles", "%Developer",
                           "--password-env", "CAROL_PW", CAROL_PW=f"Carol-{secrets.token_hex(4)}")))
        failed = cli(env, "-vv", "run", "--ns", "USER", "Write undefinedvariable")  # an error, quoted
        assert failed.returncode == 5 and "<UNDEFINED>" in failed.stderr, failed.stderr
        runs.append(failed)
        refused = cli(env, "-v", "restore", "--src", str(fx), "--ns", "USER")  # exit 3: exists
        assert refused.returncode == 3, refused.stderr
        runs.append(refused)
    captured = tap.captured
    container_lines = seen["container command lines and environments"]

    # the tasks did reach the instance through the proxy, as the OS user (no login)
    assert b"ExternalFreeze" in captured and b"Config.Namespaces" in captured
    assert "ran as irisowner" in runs[0].stdout
    assert len(container_lines) > 1000 and b"iris\x00session" in container_lines
    places = {
        **seen,
        "docker inspect": inspected(sc),
        "engine traffic": captured,
        "stdout/stderr": "\n".join(r.stdout + r.stderr for r in runs).encode("utf-8"),
        "instance files at rest": archive(sc, "/usr/irissys"),
    }
    assert leaks({"IRIS_OPS_PASSWORD": password}, places) == []
