"""The simulated engine through the real ``docker`` CLI (client v28), unchanged."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from _engine_standins import BANNER, box, standin_engine  # noqa: F401 (fixtures)

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
pytestmark = pytest.mark.skipif(not os.path.exists(DOCKER), reason="the docker CLI is not installed")


def docker(engine, tmp_path, *args, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_HOST": engine.base_url, "DOCKER_CONFIG": str(tmp_path / "docker-config")}
    env.pop("DOCKER_CONTEXT", None)
    return subprocess.run([DOCKER, *args], input=stdin, capture_output=True, env=env, timeout=60)


def test_ps_lists_running_containers(box, tmp_path):
    engine, name = box
    result = docker(engine, tmp_path, "ps", "--format", "{{.Names}} {{.ID}}")
    assert result.returncode == 0, result.stderr
    assert f"{name} {engine.container(name).id[:12]}" in result.stdout.decode().splitlines()


def test_exec_i_feeds_a_script_to_iris_session(box, tmp_path):
    engine, name = box
    script = b'Write "from cli"\nTerminate 9\n'
    result = docker(engine, tmp_path, "exec", "-i", name, "iris", "session", "IRIS", "-U", "%SYS", stdin=script)
    assert result.stdout.startswith(BANNER) and b"from cli" in result.stdout
    assert result.returncode == 9


def test_exec_errors_match_docker(box, tmp_path):
    engine, name = box
    missing = docker(engine, tmp_path, "exec", name, "foo")
    assert missing.returncode == 127
    assert b'exec: "foo": executable file not found in $PATH: unknown' in missing.stdout
    absent = docker(engine, tmp_path, "exec", "no-such-ctr", "true")
    assert absent.returncode == 1 and b"No such container: no-such-ctr" in absent.stderr
    engine.stop_container(name)
    stopped = docker(engine, tmp_path, "exec", name, "true")
    assert b"is not running" in stopped.stderr and stopped.returncode != 0


def test_cp_both_ways_is_byte_identical(box, tmp_path):
    engine, name = box
    source = tmp_path / "blob.bin"
    source.write_bytes(os.urandom(2 * 1024 * 1024 + 77))
    up = docker(engine, tmp_path, "cp", str(source), f"{name}:/tmp/blob.bin")
    assert up.returncode == 0, up.stderr
    back = tmp_path / "back.bin"
    down = docker(engine, tmp_path, "cp", f"{name}:/tmp/blob.bin", str(back))
    assert down.returncode == 0, down.stderr
    assert back.read_bytes() == source.read_bytes()
    assert (engine.container(name).rootfs / "tmp" / "blob.bin").read_bytes() == source.read_bytes()
    tree = docker(engine, tmp_path, "cp", f"{name}:/usr/irissys/mgr", str(tmp_path / "mgr"))
    assert tree.returncode == 0 and (tmp_path / "mgr" / "user" / "IRIS.DAT").stat().st_size == 3 * 8192
    nowhere = docker(engine, tmp_path, "cp", str(source), f"{name}:/no/such/dir/")
    assert nowhere.returncode == 1 and nowhere.stderr.endswith(b"no such directory\n")  # the CLI's own text after a 404 stat
