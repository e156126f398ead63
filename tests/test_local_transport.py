"""The local transport: `iris session` on this host (a simulated native install), files through
the filesystem."""

from __future__ import annotations

import io
import hashlib
import os
import stat
import subprocess
import sys

import pytest

from iris_ops import script_builders
from iris_ops.errors import DeadlineExceeded, ScriptError, UnreachableError
from iris_ops.manager import new_plugin_manager
from iris_ops.runner import Runner
from iris_ops.transports import local
from iris_ops.transports.base import Target


@pytest.fixture
def iris_shim(sim_host):
    """The `iris` command of a simulated instance installed on this host, as a native IRIS."""
    return sim_host.iris_command


def test_scripts_run_through_the_same_runner(iris_shim):
    pm = new_plugin_manager(load_entry_points=False)
    runner = Runner(pm, Target(transport="local", iris_command=str(iris_shim)), timeout=30)
    info = runner.run(script_builders.describe_namespace("USER"), changes=False)
    assert info["exists"] == 1 and info["dbs"][0]["name"] == "USER"


def test_a_failing_script_is_an_instance_error(iris_shim):
    pm = new_plugin_manager(load_entry_points=False)
    runner = Runner(pm, Target(transport="local", iris_command=str(iris_shim)), timeout=30)
    with pytest.raises(ScriptError):
        runner.run(script_builders.create_namespace("NEWNS", "NO_SUCH_DB", "NO_SUCH_DB"))


def test_missing_iris_command_is_unreachable(tmp_path):
    target = Target(transport="local", iris_command=str(tmp_path / "no-iris"))
    with pytest.raises(UnreachableError) as caught:
        local.run_objectscript(target=target, script="Halt\n", namespace="%SYS", timeout=5)
    assert caught.value.exit_code == 6


def test_deadline(tmp_path):
    slow = tmp_path / "iris"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(0o755)
    with pytest.raises(DeadlineExceeded):
        local.run_objectscript(target=Target(transport="local", iris_command=str(slow)), script="Halt\n",
                               namespace="%SYS", timeout=0.5)


def test_files_stream_through_the_filesystem(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)
    target = Target(transport="local", owner="root")
    dest = tmp_path / "db" / "new" / "IRIS.DAT"
    digest = local.write_file(target=target, src=io.BytesIO(data), size=len(data), path=str(dest), timeout=5)
    assert digest.sha256 == hashlib.sha256(data).hexdigest() and dest.read_bytes() == data
    assert stat.S_IMODE(dest.stat().st_mode) == 0o660 and stat.S_IMODE(dest.parent.stat().st_mode) == 0o770
    back = io.BytesIO()
    assert local.read_file(target=target, path=str(dest), dest=back, timeout=5) == digest
    assert back.getvalue() == data


def test_writing_into_an_existing_directory_leaves_it_as_it_was(tmp_path):
    shared = tmp_path / "mgr"
    shared.mkdir(mode=0o775)
    shared.chmod(0o775)
    (shared / "IRIS.DAT").write_bytes(b"theirs")  # a directory that already holds files
    local.write_file(target=Target(transport="local", owner="root"), src=io.BytesIO(b"plan"), size=4,
                     path=str(shared / "plan.json"), timeout=5)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o775


def test_a_short_source_leaves_no_partial_file(tmp_path):
    dest = tmp_path / "IRIS.DAT"
    with pytest.raises(Exception):
        local.write_file(target=Target(transport="local"), src=io.BytesIO(b"abc"), size=10, path=str(dest), timeout=5)
    assert not dest.exists()


def test_other_transports_are_left_alone():
    assert local.run_objectscript(target=Target(transport="docker"), script="", namespace="USER", timeout=1) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="only root gives files away")
def test_an_owner_this_host_lacks_is_a_config_error(tmp_path):
    from iris_ops.errors import ConfigError

    with pytest.raises(ConfigError, match="not a user of this host") as caught:
        local.write_file(target=Target(transport="local", owner="no-such-user-here"), src=io.BytesIO(b"abc"),
                         size=3, path=str(tmp_path / "f"), timeout=5)
    assert "IRIS_OPS_OWNER" in caught.value.fix and not (tmp_path / "f").exists()


def test_an_item_deleted_between_listing_and_reading_is_skipped(iris_shim):
    """What a List query named may be gone when it is read (another delete-ns at the same time):
    read_listed skips it, and reads what is there."""
    from iris_ops import objectscript as o
    from iris_ops.script_builders.common import read_listed

    seen = o.var("seen")
    script = o.Script("%SYS", purpose="read listed")
    statements = [o.set_(seen, o.new_array())]
    for name in ("USER", "GONE_SINCE_LISTED"):
        statements += read_listed(o.call("Config.Databases", "Get", o.lit(name), o.byref("d")),
                                  o.call("Config.Databases", "Exists", o.lit(name)), o.push(seen, o.lit(name)))
    script.step("read", *statements, o.result("seen", seen))
    pm = new_plugin_manager(load_entry_points=False)
    runner = Runner(pm, Target(transport="local", iris_command=str(iris_shim)), timeout=30)
    assert runner.run(script, changes=False)["seen"] == ["USER"]


def test_the_mappings_of_a_namespace_deleted_since_it_was_listed_are_none(iris_shim):
    """Two delete-ns at once (xdist workers, the pytest plugin's pool): one lists the namespaces
    while the other deletes one of them; its mapping query then fails, and that is no error."""
    from iris_ops import objectscript as o
    from iris_ops.script_builders.common import mappings_of

    seen = o.var("seen")
    script = o.Script("%SYS", purpose="mappings")
    statements = [o.set_(seen, o.new_array())]
    for name in ("USER", "GONE_SINCE_LISTED"):
        statements += mappings_of(o.lit(name), "globals", o.push(seen, o.var("mn")))
    script.step("read", *statements, o.result("seen", seen))
    pm = new_plugin_manager(load_entry_points=False)
    runner = Runner(pm, Target(transport="local", iris_command=str(iris_shim)), timeout=30)
    assert runner.run(script, changes=False)["seen"] == []


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["script", "lock-holder"])
def test_the_iris_it_starts_never_sees_a_secret_setting(sim_host, tmp_path, kind):
    """The local transport starts `iris session` with this process's environment but iris-ops'
    secret settings: whatever runs in the session could read it.  Read from /proc while each
    kind of session runs (a script's, and the lock holder's that lives through an operation)."""
    import time

    secret = "Env-Leak-Check-7d1e"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sim_host.env, IRIS_OPS_PASSWORD=secret, IRIS_OPS_LOG_FORMAT="json", USERS_OWN_VARIABLE="kept")
    # OS authentication lets `iris session` in: the password is configured but never asked for.
    args = ["run", "--ns", "%SYS", "Hang 3"] if kind == "script" else [
        "backup", "--ns", "USER", "--out", str(tmp_path / "fx")]
    proc = subprocess.Popen([sys.executable, "-m", "iris_ops", *args], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: dict[int, bytes] = {}
    while proc.poll() is None:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:  # ppid: the 2nd field after "(comm)"
                    parent = int(f.read().rsplit(b")", 1)[1].split()[1])
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
                # this iris-ops' own children only (other tests' containers show here too)
                if parent == proc.pid and any(a.endswith(b"/iris") for a in argv) and b"session" in argv:
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        seen[int(pid)] = f.read()
            except OSError:  # it ended meanwhile
                continue
        time.sleep(0.02)
    out, err = proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert seen, "no `iris session` was seen running"
    for environ in seen.values():
        assert secret.encode() not in environ
        assert b"USERS_OWN_VARIABLE=kept" in environ.split(b"\0")
    assert secret.encode() not in out + err


def test_a_host_install_is_the_instance_it_was_installed_as_whatever_the_caller_sets(sim_host, tmp_path):
    """The local transport hands `iris session` the caller's environment: the simulator's own
    switches there (another registry, a delay past every deadline, a variant) change nothing of
    a host install, whose launchers pin what its instance is."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sim_host.env, IRISSIM_REGISTRY=str(tmp_path / "other.json"), IRISSIM_DELAY="600",
               IRISSIM_VARIANTS="eof-keeps-session")
    done = subprocess.run([sys.executable, "-m", "iris_ops", "run", "--ns", "%SYS", "--timeout", "20",
                           'Write "seen ",##class(Config.Namespaces).Exists("USER"),!'], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "seen 1" in done.stdout
    assert not (tmp_path / "other.json").exists()
