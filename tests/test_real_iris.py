"""The main job against a real IRIS container.

Skipped unless IRIS_OPS_REAL_CONTAINER names a running IRIS container reachable through the
docker engine of DOCKER_HOST (or the docker defaults), e.g.
``IRIS_OPS_REAL_CONTAINER=iris python -m pytest -m real_iris``.  The tests create and delete
their own namespace and table; they never touch existing data besides reading USER.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

pytestmark = pytest.mark.real_iris


def cli(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_") or k == "IRIS_OPS_REAL_CONTAINER"}
    env.update(IRIS_OPS_CONTAINER=os.environ.get("IRIS_OPS_REAL_CONTAINER", ""), IRIS_OPS_LOG_FORMAT="json")
    return subprocess.run([sys.executable, "-m", "iris_ops", *args], capture_output=True, text=True, env=env, timeout=600)


def test_version_round_trip():
    done = cli("run", "--ns", "%SYS", "Write $ZVersion")
    assert done.returncode == 0, done.stderr
    assert "IRIS" in done.stdout


def test_failing_line_exits_5():
    done = cli("run", "--ns", "USER", "Write undefinedvariable" + secrets.token_hex(2))
    assert done.returncode == 5
    assert "<UNDEFINED>" in done.stderr


def test_backup_validate_restore_delete(tmp_path):
    ns = "IOPS" + secrets.token_hex(3).upper()
    fixture_dir = tmp_path / "fixture"
    assert cli("backup", "--ns", "USER", "--out", str(fixture_dir)).returncode == 0
    checked = cli("validate", "--src", str(fixture_dir), "--json")
    assert checked.returncode == 0, checked.stdout
    try:
        restored = cli("restore", "--src", str(fixture_dir), "--ns", ns)
        assert restored.returncode == 0, restored.stderr
        online = cli("validate", "--src", str(fixture_dir), "--online", "--ns", ns, "--json")
        assert online.returncode == 0, online.stdout
        assert all(f["ok"] for f in json.loads(online.stdout)["findings"])
    finally:
        deleted = cli("delete-ns", "--ns", ns, "--yes")
        assert deleted.returncode == 0, deleted.stderr
    assert "nothing to delete" in cli("delete-ns", "--ns", ns, "--yes").stdout
