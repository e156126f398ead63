"""Backup in --dismount mode, and the freeze bookkeeping of the default mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from iris_ops import fixture


def cli(sim_container, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sim_container.env, IRIS_OPS_LOG_FORMAT="json")
    return subprocess.run([sys.executable, "-m", "iris_ops", *args], capture_output=True, text=True, env=env, timeout=120)


def test_dismount_backup_copies_both_databases_and_remounts(sim_container, tmp_path):
    inst = sim_container.instance
    inst.sql("APP", "CREATE TABLE Shop.Item (Name VARCHAR(20))")
    inst.sql("APP", "INSERT INTO Shop.Item (Name) VALUES ('pen')")
    done = cli(sim_container, "backup", "--ns", "APP", "--out", str(tmp_path / "fx"), "--dismount")
    assert done.returncode == 0, done.stderr
    manifest = fixture.load(tmp_path / "fx").manifest
    assert manifest.consistency.method == "dismount"
    assert sorted(d.role for d in manifest.databases) == ["globals", "routines"]
    assert [(t.name, t.row_count) for t in manifest.tables] == [("Shop.Item", 1)]
    # Both databases are mounted read-write again.
    check = cli(sim_container, "validate", "--src", str(tmp_path / "fx"), "--online", "--ns", "APP", "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    findings = json.loads(check.stdout)["findings"]
    assert sum(1 for f in findings if f["check"] == "mounted-rw" and f["ok"]) == 2


def test_freeze_backup_logs_the_window_and_leaves_the_instance_thawed(sim_container, tmp_path):
    done = cli(sim_container, "backup", "--ns", "USER", "--out", str(tmp_path / "fx"))
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    window = [e for e in events if e["event"] == "backup.copied_in_instance"]
    assert window and window[0]["method"] == "external-freeze" and window[0]["window_seconds"] >= 0
    streamed = [e for e in events if e["event"] == "backup.streamed"]
    assert streamed and streamed[0]["bytes"] > 0 and len(streamed[0]["sha256"]) == 64 and "mib_per_s" in streamed[0]
    suspended = cli(sim_container, "run", "--ns", "%SYS", "Write ##class(Backup.General).IsWDSuspended()")
    assert suspended.returncode == 0 and suspended.stdout.strip() == "0"
