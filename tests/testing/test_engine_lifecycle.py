"""``iris-ops sim up/down/sql/status`` as processes, the control API client, the pytest plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from _engine_standins import box, standin_engine  # noqa: F401 (fixtures)
from iris_ops.errors import ConflictError, UnreachableError, UsageError
from iris_ops.testing.client import SimClient

HERE = Path(__file__).parent
IRIS_OPS = Path(sys.executable).parent / "iris-ops"


@pytest.fixture
def sim_env(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "IRIS_OPS_SIM_BACKEND": "_engine_standins:StandInBackend", "IRIS_OPS_LOG_FORMAT": "json"}
    home = Path(tempfile.mkdtemp(prefix="ios-up-", dir="/tmp"))
    yield env, home
    subprocess.run([str(IRIS_OPS), "sim", "down", "--dir", str(home)], env=env, capture_output=True, timeout=30)


def ops(env, *args):
    return subprocess.run([str(IRIS_OPS), *args], env=env, capture_output=True, text=True, timeout=60)


def test_up_sql_status_down(sim_env):
    env, home = sim_env
    first = ops(env, "sim", "up", "--dir", str(home))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"export DOCKER_HOST=unix://{home}/engine.sock", "export IRIS_OPS_CONTAINER=iris",
                                       f"export IRIS_OPS_SIM_DIR={home}"]
    assert ops(env, "sim", "up", "--dir", str(home)).stdout == first.stdout  # idempotent
    pid = int((home / "engine.pid").read_text())
    status = ops(env, "sim", "status", "--dir", str(home))
    assert f"running (pid {pid})" in status.stdout and "iris" in status.stdout
    sql = ops(env, "sim", "sql", "--dir", str(home), "--ns", "USER", "SELECT 1")
    assert sql.returncode == 0 and "USER | SELECT 1" in sql.stdout and "(1 row)" in sql.stdout
    # the shell can eval the exports and the docker SDK then reaches the container
    shell = subprocess.run(["sh", "-c", first.stdout + 'echo "$DOCKER_HOST $IRIS_OPS_CONTAINER"'],
                           capture_output=True, text=True)
    assert shell.stdout.strip() == f"unix://{home}/engine.sock iris"
    down = ops(env, "sim", "down", "--dir", str(home))
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not (home / "engine.sock").exists() and not (home / "engine.pid").exists()
    again = ops(env, "sim", "down", "--dir", str(home))
    assert again.returncode == 0 and "not running" in again.stdout
    missing = ops(env, "sim", "sql", "--dir", str(home), "SELECT 1")
    assert missing.returncode == UnreachableError.exit_code


def test_up_refuses_a_socket_path_too_long(sim_env):
    env, _home = sim_env
    result = ops(env, "sim", "up", "--dir", "/tmp/" + "x" * 120)
    assert result.returncode == UsageError.exit_code


def test_sim_client_control_api(standin_engine, box):
    engine, name = box
    client = SimClient(engine.base_url)
    assert client.sql(name, "USER", "SELECT 1") == {"columns": ["ns", "stmt"], "rows": [["USER", "SELECT 1"]],
                                                    "rowcount": 1}
    assert client.integrity(name, "/usr/irissys/mgr/user/") == []
    writer = client.start_writer(name, "USER", "T", "C")
    assert client.stop_writer(name, writer) == 3
    client.create_namespace(name, "APP", "APP_DATA", "APP_CODE")
    client.create_database(name, "APP_DATA")
    assert client.stop_container(name)["state"] == "exited"
    assert client.start_container(name)["state"] == "running"
    with pytest.raises(ConflictError):
        client.add_container(name)
    with pytest.raises(UsageError):
        client.sql("no-such", "USER", "SELECT 1")
    extra = client.add_container(name + "x")
    assert extra["name"] in {c["name"] for c in client.containers()}
    client.remove_container(name + "x")
    with pytest.raises(UnreachableError):
        SimClient("unix:///tmp/no-such-dir/engine.sock").ping()


def test_real_iris_marker_is_skipped_without_a_container(tmp_path):
    (tmp_path / "test_x.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.real_iris
        def test_needs_iris():
            raise AssertionError("must not run")
    """))
    env = {k: v for k, v in os.environ.items() if k != "IRIS_OPS_REAL_CONTAINER"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(tmp_path)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert "1 skipped" in result.stdout and "IRIS_OPS_REAL_CONTAINER" in result.stdout, result.stdout


def _instance_kit_available() -> bool:
    try:
        import iris_ops.testing.irissim.instance.fs  # noqa: F401
        import iris_ops.testing.irissim.objectscript.terminal  # noqa: F401
        from iris_ops.testing.irissim.instance import SimInstance  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _instance_kit_available(), reason="the simulated instance package has not landed yet")
def test_sim_container_fixture_with_the_real_kit(sim_container):
    import docker

    from _engine_standins import run_exec

    assert sim_container.env == {"DOCKER_HOST": sim_container.base_url, "IRIS_OPS_CONTAINER": sim_container.name}
    api = docker.APIClient(base_url=sim_container.base_url)
    code, out, _err = run_exec(api, sim_container.name, ["iris", "session", "IRIS", "-U", "%SYS"],
                               stdin=b'Write "ok"\nHalt\n')
    assert code == 0 and b"ok" in out
