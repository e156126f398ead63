"""Under pytest-xdist the controller starts one private engine that every worker uses, and stops
it at the end (iris_ops_sim.testbed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from iris_ops_sim import dockerd

PROBE = '''
import json, os

def test_a(docker_engine, tmp_path_factory):
    _record(docker_engine)

def test_b(docker_engine):
    _record(docker_engine)

def _record(engine):
    engine.client.ping()
    with open(os.environ["PROBE_OUT"], "a") as f:
        f.write(json.dumps({"worker": os.environ.get("PYTEST_XDIST_WORKER"), "url": engine.base_url,
                            "lock_dir": str(engine.lock_dir)}) + "\\n")
'''


def test_xdist_workers_share_one_private_engine_that_is_stopped(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IRIS_OPS_", "PYTEST_")) and k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    env.update(PROBE_OUT=str(tmp_path / "seen.jsonl"), HOME=str(tmp_path))  # no docker context of ours
    reachable = subprocess.run([sys.executable, "-c", "from iris_ops_sim import engines; print(engines.find_engine() or '')"],
                               env=env, capture_output=True, text=True, timeout=60).stdout.strip()
    if reachable:
        pytest.skip(f"an engine is reachable ({reachable}): the workers use it, no private engine is started")
    blocker = dockerd.private_engine_blocker()
    if blocker:
        pytest.skip(blocker)
    (tmp_path / "test_probe.py").write_text(PROBE)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "iris_ops_sim.testbed", "-n", "2", "-q",
                           "test_probe.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = [json.loads(line) for line in (tmp_path / "seen.jsonl").read_text().splitlines()]
    assert len(seen) == 2
    assert {s["worker"] for s in seen} == {"gw0", "gw1"}, "both workers should have run a test"
    urls = {s["url"] for s in seen}
    assert len(urls) == 1, f"the workers used different engines: {urls}"
    directory = seen[0]["lock_dir"]
    assert urls.pop() == f"unix://{directory}/d.sock"
    assert "2 Docker tests ran against a private dockerd" in done.stdout
    assert "shared by the xdist workers" in done.stdout
    # stopped and gone: no process, no directory, no mount under it
    assert not os.path.exists(directory)
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert directory not in procs
    with open("/proc/self/mounts") as mounts:
        assert directory not in mounts.read()
