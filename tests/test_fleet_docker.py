"""Issue 25 (core): a task on many targets, end to end.  The targets are simulated IRIS
containers on the local engine (transport docker), named in a project file; ``iris-ops`` runs as
the user runs it, a process that starts a process per target.  Every target succeeding and
Ctrl-C on three targets are tests/test_sim_fleet.py's cases, over SSH (the fan-out is the same
whatever the transport).

One set of three instances serves the module (suite time): every case leaves them thawed,
running and without staging copies."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from iris_ops import fixture

NAMES = ("a", "b", "c")


@pytest.fixture(scope="module")
def fleet(docker_engine, sim_image, tmp_path_factory):
    """Three instances, and a project directory naming them as targets a, b and c (group
    ``pair``: a and b).  The environment names another container: each target's table wins."""
    from iris_ops_sim.simcontainer import run_container

    token = secrets.token_hex(3)
    started = {}

    def start(name: str) -> None:
        started[name] = run_container(docker_engine.client, docker_engine.base_url, sim_image,
                                      f"iris-fleet-{token}-{name}")

    try:
        with ThreadPoolExecutor(len(NAMES)) as pool:  # each waits for its instance to answer: together
            list(pool.map(start, NAMES))
        started = {name: started[name] for name in NAMES}
        root = tmp_path_factory.mktemp("fleet")
        tables = "".join(f'[targets.{name}]\ncontainer = "{sc.name}"\n' for name, sc in started.items())
        (root / "iris-ops.toml").write_text(tables + '[groups]\npair = ["a", "b"]\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
        env.update(DOCKER_HOST=docker_engine.base_url, IRIS_OPS_LOG_FORMAT="json",
                   IRIS_OPS_CONTAINER=f"iris-fleet-{token}-none")
        yield Fleet(root, env, started)
    finally:
        for sc in started.values():
            sc.remove()


class Fleet:
    def __init__(self, root: Path, env: dict, containers: dict) -> None:
        self.root, self.env, self.containers = root, env, containers

    def command(self, *args) -> list[str]:
        return [sys.executable, "-m", "iris_ops", *map(str, args)]

    def run(self, *args, program: list[str] | None = None) -> subprocess.CompletedProcess:
        argv = [*program, *map(str, args)] if program else self.command(*args)
        return subprocess.run(argv, cwd=self.root, env=self.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=180)


def _events(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]


def _rows(text: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["TARGET", "RESULT", "EXIT", "SECONDS"], text
    return {line.split()[0]: line.split() for line in lines[1:]}


def _complete(out: Path, sc) -> None:
    report = fixture.check(out)
    assert report.ok, report.table()
    assert fixture.load(out).manifest.source.container == sc.name


def _clean(sc) -> None:
    listing = sc.instance.listing()
    assert not listing["frozen"], f"{sc.name} was left frozen"
    assert [p for p in listing["files"] if "/iris-ops-backup-" in p] == [], f"{sc.name} kept a staging copy"


def test_a_stopped_container_fails_on_its_own_and_the_others_complete(fleet, tmp_path):
    """The others' fixtures are complete and their events carry their target (every target
    succeeding is tests/test_sim_fleet.py's case, over SSH)."""
    out = tmp_path / "fx"
    down = fleet.containers["b"]
    down.stop()
    (fleet.root / "tasks.py").write_text("from iris_ops.cli import build_collection\nns = build_collection()\n")
    try:  # through plain `inv` and a project's tasks.py, as a Makefile user runs it
        proc = fleet.run("backup", "--ns", "USER", "--out", out, "--targets", "pair,c", "--json",
                         program=[sys.executable, "-m", "invoke"])
    finally:
        (fleet.root / "tasks.py").unlink()
        down.start()
    assert proc.returncode == 6, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 6 and "b (exit 6)" in doc["error"]
    rows = {row["target"]: row for row in doc["targets"]}
    assert [row["target"] for row in doc["targets"]] == ["a", "b", "c"]
    assert (rows["b"]["result"], rows["b"]["exit_code"]) == ("failed", 6)
    assert f"container '{down.name}' is not running" in rows["b"]["error"]
    for name in ("a", "c"):
        assert (rows[name]["result"], rows[name]["exit_code"], rows[name]["error"]) == ("ok", 0, "")
        assert rows[name]["seconds"] > 0 and "MiB" in rows[name]["figure"]
        _complete(out / name, fleet.containers[name])
    assert not (out / "b").exists()
    said = [e for e in _events(proc) if e.get("target") == "b" and e["level"] == "error"]
    assert said and said[0]["exit_code"] == 6 and "docker start" in said[0]["fix"]


def test_targets_check_reports_each_target_and_the_worst_exit_code(fleet):
    gone = fleet.root / "gone"
    gone.mkdir(exist_ok=True)
    (gone / "iris-ops.toml").write_text((fleet.root / "iris-ops.toml").read_text()
                                        + f'[targets.gone]\ncontainer = "{fleet.containers["a"].name}-gone"\n')
    proc = subprocess.run(fleet.command("targets", "--check", "--targets", "gone,pair", "--json"), cwd=gone,
                          env=fleet.env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=180)
    assert proc.returncode == 6, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 6
    rows = {row["target"]: row for row in doc["targets"]}
    assert [row["target"] for row in doc["targets"]] == ["gone", "a", "b"]
    assert (rows["gone"]["result"], rows["gone"]["exit_code"]) == ("failed", 6)
    assert rows["gone"]["error"] == f"container '{fleet.containers['a'].name}-gone' not found"
    for name in ("a", "b"):
        assert (rows[name]["result"], rows[name]["exit_code"]) == ("ok", 0)
        assert rows[name]["figure"] == f"reachable: container {fleet.containers[name].name}, instance IRIS"
