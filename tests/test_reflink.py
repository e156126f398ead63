"""Issue 24, points 1 and 2: copies that share blocks where the storage can, full copies where it
cannot, through both transports, on a real XFS filesystem (a loop file the test bed mounts and
binds into the container as the instance's durable data directory) and on plain ext4/overlay.

Blocks are checked where the kernel keeps them (FIEMAP's "shared" flag on the host side of the
data directory), not only in what iris-ops reports."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clihelp import cli, events, fails, manifest, ok

from iris_ops import hookimpl
from iris_ops.transports import reflink as transport_reflink

DATA = "/durable/iris"  # the container's durable %SYS directory (iris_ops_sim.simcontainer.DURABLE_DATA)
_FS_IOC_FIEMAP = 0xC020660B
_FIEMAP_EXTENT_SHARED = 0x2000
_EXTENT = struct.Struct("=QQQQQLLLL")  # struct fiemap_extent: 56 bytes


def shared_bytes(path: Path) -> int:
    """How many bytes of ``path`` lie in extents shared with another file (FIEMAP)."""
    count = 64
    head = struct.pack("=QQLLLL", 0, 0xFFFFFFFFFFFFFFFF, 1, 0, count, 0)  # FIEMAP_FLAG_SYNC
    buffer = bytearray(head + b"\0" * (_EXTENT.size * count))
    with open(path, "rb") as f:
        fcntl.ioctl(f.fileno(), _FS_IOC_FIEMAP, buffer)
    mapped = struct.unpack_from("=L", buffer, 20)[0]
    total = 0
    for index in range(mapped):
        _, _, length, _, _, flags, *_ = _EXTENT.unpack_from(buffer, len(head) + index * _EXTENT.size)
        if flags & _FIEMAP_EXTENT_SHARED:
            total += length
    return total


def host_file(data: Path, path: str) -> Path:
    """The host side of a container path under the durable data directory."""
    assert path.startswith(DATA + "/"), path
    return data / "iris" / path[len(DATA) + 1:]


def sh(sc, script: str, *args: str) -> str:
    code, out, err = sc.exec(["sh", "-c", script, "sh", *args], user="irisowner")
    assert code == 0, (script, out, err)
    return out.decode()


def seed(sim) -> None:
    sim.instance.create_database("BIG", size_mb=8, namespace="BIG", fill=True)
    sim.instance.sql("BIG", "CREATE TABLE Demo.Item (N INT)")
    for n in range(1, 4):
        sim.instance.sql("BIG", f"INSERT INTO Demo.Item (N) VALUES ({n})")


def copy_events(proc) -> list[tuple[str, str]]:
    return [(e["copy"], e["method"]) for e in events(proc) if e.get("event") == "copy.method"]


def round_trip(sim, fixture: Path) -> dict:
    """backup, validate, restore (stream + cache fill), restore (clone), delete-ns: what each
    reported about its copies."""
    backup = ok(cli(sim, "-v", "backup", "--ns", "BIG", "--out", fixture, "--json"))
    ok(cli(sim, "validate", "--src", fixture))
    first = json.loads(ok(cli(sim, "restore", "--src", fixture, "--ns", "ONE", "--json")).stdout)
    second = ok(cli(sim, "-v", "restore", "--src", fixture, "--ns", "TWO"))
    found = {
        "staging": json.loads(backup.stdout)["staging_copies"],
        "staging_log": copy_events(backup),
        "first": first["databases"][0],
        "second_console": second.stdout,
        "second_log": copy_events(second),
        "second_dir": first["databases"][0]["directory"].replace("/one/", "/two/"),
    }
    for ns in ("ONE",):
        ok(cli(sim, "delete-ns", "--ns", ns, "--yes"))
    return found


# --- point 1 and 2: on XFS every copy is a reflink; the clone is a copy all the same -----------

def test_on_xfs_the_staging_copy_the_cache_fill_and_the_clone_share_blocks(xfs_container, tmp_path):
    sc = xfs_container
    data = Path(xfs_volume_dir(sc))
    seed(sc)
    fixture = tmp_path / "fx"
    found = round_trip(sc, fixture)
    assert found["staging"] == [{"database": "BIG", "method": "reflink"}]
    assert found["staging_log"] == [("staging", "reflink")]
    assert (found["first"]["method"], found["first"]["cache_fill"]) == ("stream", "reflink")
    assert "(copied from the fixture cache: reflink)" in found["second_console"]
    assert found["second_log"] == [("clone", "reflink")]

    # the kernel's view: the clone and the cache entry share every block
    sha = manifest(fixture)["databases"][0]["sha256"]
    size = manifest(fixture)["databases"][0]["bytes"]
    entry = host_file(data, f"{DATA}/mgr/iris-ops-cache/{sha}.DAT")
    clone = host_file(data, found["second_dir"] + "IRIS.DAT")
    assert shared_bytes(clone) >= size and shared_bytes(entry) >= size

    # independent all the same: a byte rewritten in the clone, in place, and rows written
    # through the instance change neither the cache entry nor the fixture
    sh(sc, 'printf Z | dd of="$1" bs=1 seek=$(( $(stat -c %s "$1") / 2 + 17 )) conv=notrunc 2>/dev/null',
       found["second_dir"] + "IRIS.DAT")
    sc.instance.sql("TWO", "INSERT INTO Demo.Item (N) VALUES (99)")
    assert sh(sc, 'sha256sum "$1"', f"{DATA}/mgr/iris-ops-cache/{sha}.DAT").split()[0] == sha
    assert shared_bytes(clone) < size  # its written blocks are its own now
    ok(cli(sc, "validate", "--src", fixture))
    verified = ok(cli(sc, "cache", "verify"))
    assert "REMOVED" not in verified.stdout
    third = json.loads(ok(cli(sc, "restore", "--src", fixture, "--ns", "THREE", "--json")).stdout)
    assert third["databases"][0]["method"] == "reflink"
    rows = sc.instance.sql("THREE", "SELECT COUNT(*) FROM Demo.Item").rows
    assert int(rows[0][0]) == 3
    ok(cli(sc, "delete-ns", "--ns", "TWO", "--yes"))
    ok(cli(sc, "delete-ns", "--ns", "THREE", "--yes"))


def xfs_volume_dir(sc) -> str:
    from iris_ops_sim.simcontainer import data_directory

    return data_directory(sc.client, sc.name)


def test_on_plain_storage_every_copy_is_a_full_copy(docker_engine, sim_image, tmp_path):
    """The same round trip with the data directory on this host's ext4 (and, for the staging
    copy, on the container's overlay): full copies, no block shared."""
    from iris_ops_sim.simcontainer import run_container

    data = Path(tmp_path / "data")
    data.mkdir()
    os.chown(data, 51773, 51773)
    sc = run_container(docker_engine.client, docker_engine.base_url, sim_image, f"iris-plain-{os.getpid()}",
                       data_dir=data)
    try:
        seed(sc)
        fixture = tmp_path / "fx"
        found = round_trip(sc, fixture)
        assert found["staging"] == [{"database": "BIG", "method": "copy"}]
        assert found["staging_log"] == []  # the probe said no: nothing was tried
        assert (found["first"]["method"], found["first"]["cache_fill"]) == ("stream", "copy")
        assert "(copied from the fixture cache: copy)" in found["second_console"]
        clone = host_file(data, found["second_dir"] + "IRIS.DAT")
        assert clone.stat().st_size == manifest(fixture)["databases"][0]["bytes"]
        assert shared_bytes(clone) == 0
    finally:
        sc.remove()
        shutil.rmtree(data, ignore_errors=True)


def test_a_database_outside_the_shared_filesystem_is_copied_in_full(xfs_container, tmp_path):
    """The probe says the manager directory shares blocks, but a database elsewhere (the
    container's overlay) cannot be reflinked into it: that copy is a full one, the rest are
    reflinks, and the backup is whole."""
    sc = xfs_container
    sc.instance.create_database("ELSE_DATA", directory="/home/irisowner/else_data/", size_mb=2)
    sc.instance.create_database("ELSE_CODE", size_mb=2)
    sc.instance.create_namespace("ELSE", "ELSE_DATA", "ELSE_CODE")
    proc = ok(cli(sc, "-v", "backup", "--ns", "ELSE", "--out", tmp_path / "fx"))
    assert "staging copy: copy: ELSE_DATA; reflink: ELSE_CODE" in proc.stdout
    assert sorted(copy_events(proc)) == [("staging", "copy"), ("staging", "reflink")]
    result = json.loads(ok(cli(sc, "restore", "--src", tmp_path / "fx", "--ns", "BACK", "--json")).stdout)
    assert {d["name"] for d in result["databases"]} == {"BACK_DATA", "BACK_CODE"}


def test_the_local_transport_reflinks_on_xfs(xfs_volume, tmp_path):
    """An instance installed on this host, on XFS: the FICLONE ioctl, the files handed to the
    instance owner as the streamed ones are."""
    from iris_ops_sim.simcontainer import HostSim

    home = xfs_volume.new_directory(f"host-{os.getpid()}")
    try:
        sim = HostSim(home).install()
        seed(sim)
        found = round_trip(sim, tmp_path / "fx")
        assert found["staging"] == [{"database": "BIG", "method": "reflink"}]
        assert (found["first"]["method"], found["first"]["cache_fill"]) == ("stream", "reflink")
        assert found["second_log"] == [("clone", "reflink")]
        clone = Path(found["second_dir"]) / "IRIS.DAT"
        assert shared_bytes(clone) >= clone.stat().st_size
        assert (clone.stat().st_uid, oct(clone.stat().st_mode & 0o777)) == (51773, "0o660")
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --- the probe's scratch files never outlive it ------------------------------------------------

def test_the_container_probe_leaves_nothing_and_says_why_not(sim_container):
    sc = sim_container
    mgr = sc.instance.manager_directory()
    before = sh(sc, 'ls -A "$1"', mgr)
    argv = transport_reflink.probe_argv("0123456789ab", [mgr, mgr + "iris-ops-cache/"])
    code, out, err = sc.exec(argv, user="irisowner")
    assert code == 0, err
    answers = out.decode().splitlines()
    assert answers[0].startswith("no\t") and len(answers[0]) > 3  # overlay: the reason cp gave
    assert answers[1] == "no\tabsent"
    assert sh(sc, 'ls -A "$1"', mgr) == before


def test_a_probe_stopped_by_a_signal_removes_its_scratch_files(tmp_path):
    """The shell's EXIT trap, on a real SIGTERM while `cp` runs (a `cp` that hangs)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    running = tmp_path / "cp-runs"
    (bin_dir / "cp").write_text(f"#!/bin/sh\ntouch {running}\nexec sleep 30\n")
    (bin_dir / "cp").chmod(0o755)
    work = tmp_path / "mgr"
    work.mkdir()
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    proc = subprocess.Popen(transport_reflink.probe_argv("0123456789ab", [str(work)]), env=env,
                            stdout=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 10
    while not running.exists() and time.monotonic() < deadline:  # the signal must meet the `cp`
        time.sleep(0.01)
    assert [p.name for p in work.iterdir()] == ["iris-ops-reflink-probe-0123456789ab"]
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(10)
    assert list(work.iterdir()) == []


def test_the_host_probe_names_no_file(tmp_path):
    answers = transport_reflink.probe_here([str(tmp_path), str(tmp_path / "absent")])
    assert answers[str(tmp_path / "absent")].reason == transport_reflink.ABSENT
    assert list(tmp_path.iterdir()) == []


def test_the_probe_runs_once_per_process_and_instance(monkeypatch):
    from iris_ops import storage
    from iris_ops.transports.base import Reflink, Target

    calls = []

    class Runner:
        def probe_reflink(self, directories, timeout):
            calls.append(list(directories))
            return {d: Reflink(True) for d in directories}

    class Op:
        target = Target(container="a")
        runner = Runner()

        class settings:
            timeout = 5

        class log:
            debug = staticmethod(lambda *a, **k: None)

    monkeypatch.setattr(storage, "_found", {})
    assert storage.probe(Op, "/usr/irissys/mgr/").cache_copies
    assert storage.probe(Op, "/usr/irissys/mgr").staging
    assert calls == [["/usr/irissys/mgr/", "/usr/irissys/mgr/iris-ops-cache/"]]
    Op.target = Target(container="b")
    storage.probe(Op, "/usr/irissys/mgr/")
    assert len(calls) == 2


def test_a_shell_that_answered_part_refuses_the_rest():
    from iris_ops.transports.base import ExecResult

    answers = transport_reflink.read_answers(ExecResult(137, b"ok\n", b"Killed\n"), 3)
    assert [a.done for a in answers] == [True, False, False] and answers[2].reason == "Killed"


# --- the reflinked staging copy is made under the freeze -----------------------------------------

class Meanwhile:
    """Runs ``action`` inside the transport's reflink of the staging copy, then lets it go on."""

    def __init__(self, action) -> None:
        self.action, self.fired, self.pm = action, 0, None

    @hookimpl(tryfirst=True)
    def reflink_files(self, target, pairs, timeout):
        self.fired += 1
        self.action()
        others = self.pm.subset_hook_caller("reflink_files", remove_plugins=[self])
        return others(target=target, pairs=pairs, timeout=timeout)


def backup_with(xfs_container, monkeypatch, tmp_path, capsys, meanwhile, **env):
    from cli_helpers import make_inproc, plugin

    run = make_inproc(xfs_container.env, monkeypatch, tmp_path, capsys)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with plugin(meanwhile) as pm:
        meanwhile.pm = pm
        return run("backup", "--ns", "USER", "--out", tmp_path / "fx")


def wd_suspended(sc) -> str:
    return ok(cli(sc, "run", "--ns", "%SYS", "Write ##class(Backup.General).IsWDSuspended()")).stdout.strip()


def staging_dirs(sc) -> list[str]:
    return [n for n in sh(sc, 'ls -A "$1"', f"{DATA}/mgr/").split() if n.startswith("iris-ops-backup-")]


def test_a_reflink_that_outlasts_the_freeze_fails_the_backup(xfs_container, monkeypatch, tmp_path, capsys):
    """WDSuspendLimit passes while the transport reflinks: the freeze no longer holds when the
    session checks it after the copies, so the copy is not consistent: exit 5, nothing left."""
    sc = xfs_container
    slow = Meanwhile(lambda: time.sleep(2.5))
    code, _, err = backup_with(sc, monkeypatch, tmp_path, capsys, slow, IRIS_OPS_FREEZE_LIMIT="1")
    assert slow.fired == 1
    assert code == 5, err
    assert "the write daemon resumed before the copy finished" in err
    assert not (tmp_path / "fx").exists() and staging_dirs(sc) == []
    assert wd_suspended(sc) == "0"


def test_a_signal_during_the_reflink_thaws_and_cleans_up(xfs_container, monkeypatch, tmp_path, capsys):
    """SIGTERM while the instance is frozen and the transport reflinks: the backup thaws (its
    freeze record says the freeze is its own), removes its staging directory, exits 143."""
    sc = xfs_container
    frozen = []

    def signal_now():
        frozen.append(wd_suspended(sc))
        os.kill(os.getpid(), signal.SIGTERM)

    code, _, err = backup_with(sc, monkeypatch, tmp_path, capsys, Meanwhile(signal_now))
    assert frozen == ["1"]
    assert code == 143, err
    assert wd_suspended(sc) == "0"
    assert not (tmp_path / "fx").exists() and staging_dirs(sc) == []


# --- iris-ops sim up --data-dir -----------------------------------------------------------------

def test_sim_up_keeps_the_instance_on_its_data_directory(docker_engine, sim_image, xfs_volume):
    """`sim up --data-dir` makes the directory (given to the instance owner), runs the instance
    on it, and `sim down` keeps it: the next `sim up` on it finds the same rows.  A container
    that runs on another data directory is not reused."""
    from clihelp import command

    name = f"iris-up-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(DOCKER_HOST=docker_engine.base_url, IRIS_OPS_CONTAINER=name, IRIS_OPS_LOG_FORMAT="json")

    def sim(*args):
        return subprocess.run(command("sim", *args), env=env, capture_output=True, text=True, timeout=120)

    data = xfs_volume.path / f"{name}-data"
    try:
        up = ok(sim("up", "--data-dir", data))
        assert f"its data in {data}" in up.stderr and data.stat().st_uid == 51773
        ok(sim("sql", "--ns", "USER", "CREATE TABLE Demo.Kept (N INT)"))
        ok(sim("sql", "--ns", "USER", "INSERT INTO Demo.Kept (N) VALUES (42)"))
        assert "  data:    /durable/iris" in ok(sim("status")).stdout
        assert f"its data directory {data} is kept" in ok(sim("down")).stdout
        assert (data / "iris" / "mgr" / "user" / "IRIS.DAT").exists()
        ok(sim("up", "--data-dir", data))
        assert "42" in ok(sim("sql", "--ns", "USER", "SELECT N FROM Demo.Kept")).stdout
        other = fails(sim("up", "--data-dir", xfs_volume.path / f"{name}-other"), 3)
        assert f"already runs on data directory {data}" in other.stderr
        assert not (xfs_volume.path / f"{name}-other").exists()
    finally:
        sim("down")
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(xfs_volume.path / f"{name}-other", ignore_errors=True)


# --- the XFS volume never outlives its run ------------------------------------------------------

def _still_there(image: str, mount: str) -> list[str]:
    mounts = Path("/proc/mounts").read_text()
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    return [what for what, there in ((mount, f" {mount} " in mounts), (image, image in loops)) if there]


def test_a_failing_run_unmounts_and_removes_its_xfs_volume(xfs_volume, tmp_path):
    """A pytest run whose test fails while it uses the volume: unmounted, detached, deleted."""
    (tmp_path / "test_fails.py").write_text(
        "def test_fails(xfs_volume):\n"
        "    (xfs_volume.path / 'x').write_text('x')\n"
        f"    open({str(tmp_path / 'where')!r}, 'w').write(f'{{xfs_volume.image}}\\n{{xfs_volume.path}}')\n"
        "    assert False, 'on purpose'\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "iris_ops_sim.testbed",
                           "-q", "test_fails.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "1 failed" in done.stdout and "on purpose" in done.stdout, done.stdout + done.stderr
    image, mount = (tmp_path / "where").read_text().splitlines()
    assert _still_there(image, mount) == [] and not Path(image).parent.exists()


def test_a_volume_left_by_its_process_is_removed_at_exit(xfs_volume, tmp_path):
    """The atexit guard: a process that made a volume and exits without removing it."""
    done = subprocess.run([sys.executable, "-c",
                           "from iris_ops_sim import xfs\n"
                           "v = xfs.XfsVolume(size_mb=320).create()\n"
                           "print(v.image, v.path)\n"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    image, mount = done.stdout.split()
    assert _still_there(image, mount) == [] and not Path(image).parent.exists()
