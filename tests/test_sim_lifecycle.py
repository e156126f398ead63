"""`iris-ops sim` as a user runs it, with the real `docker` CLI beside it: on a real engine
(a container of the iris-ops-sim image), and with no engine at all (a host install)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clihelp import run_inprocess

DOCKER = shutil.which("docker")


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_") and k != "DOCKER_HOST"}
    env.update(IRIS_OPS_LOG_FORMAT="json", **extra)
    return env


def run(argv, env, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, **kw)


def iris_ops(env, *args, **kw) -> subprocess.CompletedProcess:
    if not kw:  # in this process (clihelp.run_inprocess), as a process of its own would run it
        return run_inprocess(env, *args)
    return run([sys.executable, "-m", "iris_ops", *map(str, args)], env, **kw)


def exports(text: str) -> dict:
    return dict(re.findall(r"^export (\w+)=(\S+)$", text, re.M))


def ok(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.skipif(DOCKER is None, reason="no docker CLI on this machine")
def test_sim_up_on_a_real_engine_and_what_users_do_today(docker_engine, sim_image, tmp_path):
    env = _env(DOCKER_HOST=docker_engine.base_url)
    name = "iris-ops-lifecycle"
    up = ok(iris_ops(env, "sim", "up", "--container", name))
    found = exports(up.stdout)
    assert found["IRIS_OPS_CONTAINER"] == name and found["IRIS_OPS_TRANSPORT"] == "docker"
    assert "started on" in up.stderr
    try:
        ps = ok(run([DOCKER, "ps", "--filter", "label=iris-ops.sim=1", "--format", "{{.Names}}"], env))
        assert name in ps.stdout.split()
        session = ok(run([DOCKER, "exec", "-i", name, "iris", "session", "IRIS", "-U", "%SYS"], env,
                         input='Write $ZVersion,!\nHalt\n'))
        assert "Node: " in session.stdout and "Instance: IRIS" in session.stdout
        assert "%SYS>" in session.stdout and "IRIS for UNIX" in session.stdout
        # the round trip with rows, through the container
        sim = {**env, "IRIS_OPS_CONTAINER": name}
        ok(iris_ops(sim, "sim", "sql", "--ns", "USER", "CREATE TABLE Demo.T (N INT)"))
        ok(iris_ops(sim, "sim", "sql", "--ns", "USER", "INSERT INTO Demo.T (N) VALUES (7)"))
        ok(iris_ops(sim, "backup", "--ns", "USER", "--out", tmp_path / "fx"))
        ok(iris_ops(sim, "validate", "--src", tmp_path / "fx"))
        ok(iris_ops(sim, "restore", "--src", tmp_path / "fx", "--ns", "COPY"))
        rows = ok(iris_ops(sim, "sim", "sql", "--ns", "COPY", "SELECT N FROM Demo.T"))
        assert "7" in rows.stdout and "(1 row)" in rows.stdout
        ok(iris_ops(sim, "delete-ns", "--ns", "COPY", "--yes"))
        # what users run today: copy the live file inside, then docker cp it out
        ok(run([DOCKER, "exec", name, "cp", "/usr/irissys/mgr/user/IRIS.DAT", "/tmp/x.DAT"], env))
        ok(run([DOCKER, "cp", f"{name}:/tmp/x.DAT", str(tmp_path / "x.DAT")], env))
        assert (tmp_path / "x.DAT").stat().st_size % 8192 == 0
        ok(iris_ops(sim, "sim", "status"))
    finally:
        down = iris_ops({**env, "IRIS_OPS_CONTAINER": name}, "sim", "down")
    ok(down)
    ps = ok(run([DOCKER, "ps", "-a", "--filter", f"name={name}", "--format", "{{.Names}}"], env))
    assert ps.stdout.strip() == ""


def test_sim_up_refuses_a_directory_irisowner_cannot_reach(tmp_path):
    env = _env(DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    proc = iris_ops(env, "sim", "up", "--dir", private / "sim")
    assert proc.returncode == 2 and "irisowner" in proc.stderr and "--dir" in proc.stderr


def test_sim_up_with_no_engine_installs_on_this_host(tmp_path):
    import tempfile

    env = _env(DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock")
    home = Path(tempfile.mkdtemp(prefix="iris-ops-test-")) / "sim"  # pytest's own tmp is private
    home.parent.chmod(0o755)
    up = ok(iris_ops(env, "sim", "up", "--dir", home))
    found = exports(up.stdout)
    assert found["IRIS_OPS_TRANSPORT"] == "local" and "installed on this host" in up.stderr
    sim = {**env, "IRIS_OPS_TRANSPORT": "local", "IRIS_OPS_IRIS_COMMAND": found["IRIS_OPS_IRIS_COMMAND"],
           "IRIS_OPS_OWNER": found["IRIS_OPS_OWNER"], "IRIS_OPS_SIM_DIR": str(home)}
    try:
        ok(iris_ops(sim, "sim", "sql", "--ns", "USER", "CREATE TABLE Demo.T (N INT)"))
        ok(iris_ops(sim, "sim", "sql", "--ns", "USER", "INSERT INTO Demo.T (N) VALUES (7)"))
        ok(iris_ops(sim, "backup", "--ns", "USER", "--out", tmp_path / "fx"))
        ok(iris_ops(sim, "restore", "--src", tmp_path / "fx", "--ns", "COPY"))
        rows = ok(iris_ops(sim, "sim", "sql", "--ns", "COPY", "SELECT N FROM Demo.T"))
        assert "7" in rows.stdout
        ok(iris_ops(sim, "delete-ns", "--ns", "COPY", "--yes"))
    finally:
        ok(iris_ops(sim, "sim", "down"))
        shutil.rmtree(home.parent, ignore_errors=True)
    assert not home.exists()


def test_sim_up_with_variants(docker_engine, sim_image, tmp_path):
    """A variant is fixed when the instance starts: in the container's environment, shown by
    `sim status`, refused when the running instance has other ones; an unknown name is exit 2."""
    env = _env(DOCKER_HOST=docker_engine.base_url)
    name = f"iris-ops-variants-{os.getpid()}"
    bogus = iris_ops(env, "sim", "up", "--container", name, "--variant", "renames-replace")
    assert bogus.returncode == 2 and "renames-replace" in bogus.stderr and "sim variants" in bogus.stderr
    ok(iris_ops(env, "sim", "up", "--container", name, "--variant", "rename-replaces", "--variant", "eof-keeps-session"))
    try:
        inspected = docker_engine.client.api.inspect_container(name)
        assert "IRISSIM_VARIANTS=eof-keeps-session,rename-replaces" in inspected["Config"]["Env"]
        status = ok(iris_ops(env, "sim", "status", "--container", name))
        assert "variants: eof-keeps-session, rename-replaces" in status.stdout
        again = iris_ops(env, "sim", "up", "--container", name)
        assert again.returncode == 3 and "already runs with variants [eof-keeps-session, rename-replaces]" in again.stderr
        ok(iris_ops(env, "sim", "up", "--container", name, "--variant", "eof-keeps-session", "--variant", "rename-replaces"))
        # the sessions of that instance take the variant's answer
        done = ok(iris_ops({**env, "IRIS_OPS_CONTAINER": name}, "run", "--ns", "%SYS",
                           'Set f="/tmp/v" Write ##class(%File).Truncate(f_1),##class(%File).Truncate(f_2),'
                           '##class(%File).Rename(f_1,f_2)'))
        assert "111" in done.stdout
    finally:
        ok(iris_ops(env, "sim", "down", "--container", name))
    listed = ok(iris_ops(env, "sim", "variants"))
    assert "rename-replaces" in listed.stdout and "default:" in listed.stdout


def test_sim_up_dir_installs_on_this_host_even_with_an_engine(docker_engine, tmp_path):
    """--dir asks for a host install: with an engine reachable, no container is started."""
    import tempfile

    env = _env(DOCKER_HOST=docker_engine.base_url)
    helped = ok(iris_ops(env, "sim", "up", "--help"))
    assert "even when a Docker engine is reachable" in " ".join(helped.stdout.split())
    both = iris_ops(env, "sim", "up", "--dir", tmp_path / "sim", "--container", "iris-ops-both")
    assert both.returncode == 2 and "give one" in both.stderr and not (tmp_path / "sim").exists()
    home = Path(tempfile.mkdtemp(prefix="iris-ops-test-")) / "sim"  # pytest's own tmp is private
    home.parent.chmod(0o755)
    from iris_ops_sim.tasks import DEFAULT_CONTAINER

    def named() -> list[str]:
        """The container `sim up` would start.  One listing call, no inspect per container: other
        tests' containers come and go meanwhile, and one removed between a listing and its inspect
        is a 404."""
        listed = docker_engine.client.api.containers(all=True, filters={"name": f"^/{DEFAULT_CONTAINER}$"})
        return [c["Id"] for c in listed]

    before = named()
    try:
        up = ok(iris_ops(env, "sim", "up", "--dir", home))
        found = exports(up.stdout)
        assert found["IRIS_OPS_TRANSPORT"] == "local" and found["IRIS_OPS_SIM_DIR"] == str(home)
        assert "installed on this host" in up.stderr and "--dir asks for a host install" in up.stderr
        assert named() == before
        status = ok(iris_ops({**env, "IRIS_OPS_SIM_DIR": str(home)}, "sim", "status", "--dir", home))
        assert f"host install {home}" in status.stdout
    finally:
        ok(iris_ops(env, "sim", "down", "--dir", home))
        shutil.rmtree(home.parent, ignore_errors=True)
    assert not home.exists()
