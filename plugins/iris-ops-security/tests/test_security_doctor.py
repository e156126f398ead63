"""Issue 20 point 7: a `set-password` killed with `kill -9` can leave its one-time directory
(``<mgr>/iris-ops-secret-*/``, the masked password) behind.  The plugin reports it to `doctor`
through the ``doctor_findings`` hook, and `doctor --fix` removes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("iris_ops_security")

from security_helpers import ok  # noqa: E402

ATTEMPTS = 10


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _kill_inside_the_window(sim_host) -> list:
    """`kill -9` of a `set-password` (local transport) the moment its one-time directory appears
    in the manager directory, before the script that reads and removes it can run; then wait for
    whatever it started to end.  The script may still have started first (it then removes the
    directory itself): try again, up to ATTEMPTS times."""
    mgr = sim_host.install_dir / "mgr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sim_host.env, IRIS_OPS_LOG_FORMAT="json", IRIS_OPS_NEW_PASSWORD="K1ll-in-the-window")
    for _ in range(ATTEMPTS):
        proc = subprocess.Popen([sys.executable, "-m", "iris_ops", "set-password", "--user", "_SYSTEM"], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        while proc.poll() is None:
            if any(entry.name.startswith("iris-ops-secret-") for entry in os.scandir(mgr)):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.0005)
        proc.wait()
        deadline = time.monotonic() + 60
        while not _group_gone(proc.pid):  # an `iris session` it started runs on
            assert time.monotonic() < deadline, "a process set-password started never ended"
            time.sleep(0.05)
        left = sorted(mgr.glob("iris-ops-secret-*"))
        if left:
            return left
    pytest.fail(f"set-password was never killed inside its window in {ATTEMPTS} attempts")


def test_a_killed_set_password_leaves_a_secret_directory_that_doctor_removes(sim_host, iris_ops):
    env = sim_host.env
    [left] = _kill_inside_the_window(sim_host)
    assert left.is_dir()
    found = iris_ops(env, "doctor", "--json")
    assert found.returncode == 4, found.stderr
    [row] = json.loads(found.stdout)["findings"]
    assert row["kind"] == "secret" and row["where"] == f"{left}/" and row["fixable"]
    assert "masked password" in row["problem"]
    shown = iris_ops(env, "doctor")
    assert shown.returncode == 4 and f"secret  {left}/" in shown.stdout
    fixed = iris_ops(env, "doctor", "--fix", "--yes")
    assert fixed.returncode == 0, fixed.stderr
    assert f"repaired  secret     {left}/" in fixed.stdout
    assert not left.exists()
    assert not list((sim_host.install_dir / "mgr").glob("iris-ops-secret-*"))
    ok(iris_ops(env, "doctor"))


def test_doctor_reports_only_the_plugin_s_own_names(sim_host, iris_ops):
    """A directory named like it but not as the plugin names them (another length, a file) is
    none of its business."""
    mgr = sim_host.install_dir / "mgr"
    (mgr / "iris-ops-secret-notours").mkdir()
    (mgr / "iris-ops-secret-0123456789abcdef").write_text("a file, not the plugin's directory")
    done = ok(iris_ops(sim_host.env, "doctor", "--fix", "--yes"))
    assert "repaired" not in done.stdout
    assert (mgr / "iris-ops-secret-notours").is_dir() and (mgr / "iris-ops-secret-0123456789abcdef").is_file()
