"""Issue 24, points 1 and 2: copies that share blocks where the storage can, full copies where it
cannot, through both transports, on a real XFS filesystem (a loop file the test bed mounts and
binds into the container as the instance's durable data directory) and on plain ext4.

Blocks are checked where the kernel keeps them (FIEMAP's "shared" flag on the host side of the
data directory), not only in what iris-ops reports.  The module shares one XFS volume, one
instance on it and one instance on ext4 (suite time): each test uses names of its own and leaves
the instances thawed."""

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


def host_file(sc, path: str) -> Path:
    """The host side of a container path under the durable data directory."""
    from iris_ops_sim.simcontainer import data_directory

    assert path.startswith(DATA + "/"), path
    return Path(data_directory(sc.client, sc.name)) / "iris" / path[len(DATA) + 1:]


def sh(sc, script: str, *args: str) -> str:
    code, out, err = sc.exec(["sh", "-c", script, "sh", *args], user="irisowner")
    assert code == 0, (script, out, err)
    return out.decode()


def copy_events(proc) -> list[tuple[str, str]]:
    return [(e["copy"], e["method"]) for e in events(proc) if e.get("event") == "copy.method"]


@pytest.fixture(scope="module")
def plain_container(docker_engine, sim_image, tmp_path_factory):
    """An instance whose data directory is on this host's ext4 (no shared blocks)."""
    from iris_ops_sim.simcontainer import run_container

    data = tmp_path_factory.mktemp("plain-data")
    os.chown(data, 51773, 51773)
    sc = run_container(docker_engine.client, docker_engine.base_url, sim_image, f"iris-plain-{os.getpid()}",
                       data_dir=data)
    try:
        yield sc
    finally:
        sc.remove()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def storage_container(request, docker_engine):
    """(``xfs`` or ``plain``, the module's instance on that storage)."""
    return request.param, request.getfixturevalue(f"{request.param}_container")


# --- the round trip, on XFS and on plain storage -------------------------------------------------

@pytest.mark.parametrize("storage_container", ["xfs", "plain"], indirect=True)
def test_the_round_trip_shares_blocks_on_xfs_and_copies_them_elsewhere(storage_container, tmp_path):
    """backup (under inserts), restore (streamed, left in the cache), restore (cloned from the
    cache): on XFS the staging copy, the cache fill and the clone are reflinks, on ext4 full
    copies; the result, the console and the debug log say which; the rows restored are exactly
    those at the freeze.  The namespace's routines database lies outside the data directory
    (the container's overlay): where the probe said yes, its staging copy cannot be a reflink
    and is a full one all the same."""
    storage, sc = storage_container
    on_xfs = storage == "xfs"
    method = "reflink" if on_xfs else "copy"
    sc.instance.create_database("RT_DATA", size_mb=8, fill=True)
    sc.instance.create_database("RT_CODE", directory="/home/irisowner/rt_code/", size_mb=1)
    sc.instance.create_namespace("RT", "RT_DATA", "RT_CODE")
    sc.instance.sql("RT", "CREATE TABLE Demo.Log (N INT)")
    sc.instance.sql("RT", "INSERT INTO Demo.Log (N) VALUES (1)")
    fixture = tmp_path / "fx"
    writer = sc.instance.start_writer("RT", "Demo.Log", "N", interval=0.005, mode="insert")
    try:
        backup = ok(cli(sc, "-v", "backup", "--ns", "RT", "--out", fixture, "--json"))
    finally:
        writer.stop()
    assert json.loads(backup.stdout)["staging_copies"] == [{"database": "RT_DATA", "method": method},
                                                           {"database": "RT_CODE", "method": "copy"}]
    # on ext4 the probe said no: nothing was tried
    assert sorted(copy_events(backup)) == ([("staging", "copy"), ("staging", "reflink")] if on_xfs else [])
    [table] = manifest(fixture)["tables"]
    live = int(sc.instance.sql("RT", "SELECT COUNT(*) FROM Demo.Log").rows[0][0])
    assert 1 <= table["row_count"] < live, "the writer did not keep inserting after the freeze"
    data = next(d for d in manifest(fixture)["databases"] if d["name"] == "RT_DATA")

    first = json.loads(ok(cli(sc, "restore", "--src", fixture, "--ns", "RT1", "--json")).stdout)["databases"]
    assert {(d["method"], d["cache_fill"]) for d in first} == {("stream", method)}
    count, top = sc.instance.sql("RT1", "SELECT COUNT(*), MAX(N) FROM Demo.Log").rows[0]
    assert int(count) == table["row_count"] == int(top)  # rows 1..N: exactly those at the freeze

    second = ok(cli(sc, "-v", "restore", "--src", fixture, "--ns", "RT2"))
    assert second.stdout.count(f"(copied from the fixture cache: {method})") == 2
    # no probe first: the clones are tried, and on ext4 the storage refuses them, in one exec
    assert copy_events(second) == [("clone", method)] * 2
    clone_path = f"{DATA}/mgr/rt2_data/IRIS.DAT"
    clone, entry = host_file(sc, clone_path), host_file(sc, f"{DATA}/mgr/iris-ops-cache/{data['sha256']}.DAT")
    assert clone.stat().st_size == data["bytes"]
    assert clone.stat().st_uid == 51773  # the instance owner's, as IRIS would make it
    if not on_xfs:
        return
    assert oct(clone.stat().st_mode & 0o777) == "0o660"  # as the transport writes a streamed file
    # the kernel's view: the clone, the cache entry and the streamed file it was filled from
    # share every block
    streamed = host_file(sc, f"{DATA}/mgr/rt1_data/IRIS.DAT")
    assert min(shared_bytes(clone), shared_bytes(entry), shared_bytes(streamed)) >= data["bytes"]
    # and the clone is a copy all the same: rows written through the instance and a byte
    # rewritten in place leave the cache entry as it was
    sc.instance.sql("RT2", "INSERT INTO Demo.Log (N) VALUES (-1)")
    sh(sc, 'printf Z | dd of="$1" bs=1 seek=$(( $(stat -c %s "$1") / 2 + 17 )) conv=notrunc 2>/dev/null', clone_path)
    assert sh(sc, 'sha256sum "$1"', f"{DATA}/mgr/iris-ops-cache/{data['sha256']}.DAT").split()[0] == data["sha256"]
    assert shared_bytes(clone) < data["bytes"]  # its written blocks are its own now


def test_the_local_transport_reflinks_on_xfs(xfs_volume, tmp_path):
    """An instance installed on this host, on XFS: the FICLONE ioctl, and the files handed to the
    instance owner as the streamed ones are."""
    from iris_ops_sim.simcontainer import HostSim

    home = xfs_volume.new_directory(f"host-{os.getpid()}")
    try:
        sim = HostSim(home).install()
        sim.instance.create_database("LOC", size_mb=2, namespace="LOC", fill=True)
        fixture = tmp_path / "fx"
        backup = json.loads(ok(cli(sim, "backup", "--ns", "LOC", "--out", fixture, "--json")).stdout)
        assert backup["staging_copies"] == [{"database": "LOC", "method": "reflink"}]
        first = json.loads(ok(cli(sim, "restore", "--src", fixture, "--ns", "LOC1", "--json")).stdout)
        assert first["databases"][0]["cache_fill"] == "reflink"
        second = ok(cli(sim, "-v", "restore", "--src", fixture, "--ns", "LOC2"))
        assert copy_events(second) == [("clone", "reflink")]
        streamed = Path(first["databases"][0]["directory"]) / "IRIS.DAT"
        clone = Path(str(streamed).replace("/loc1/", "/loc2/"))
        assert min(shared_bytes(clone), shared_bytes(streamed)) >= clone.stat().st_size > 0
        assert (clone.stat().st_uid, oct(clone.stat().st_mode & 0o777)) == (51773, "0o660")
    finally:
        shutil.rmtree(home, ignore_errors=True)


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


def backup_with(sc, monkeypatch, tmp_path, capsys, meanwhile, **env):
    from cli_helpers import make_inproc, plugin

    run = make_inproc(sc.env, monkeypatch, tmp_path, capsys)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with plugin(meanwhile) as pm:
        meanwhile.pm = pm
        return run("backup", "--ns", "USER", "--out", tmp_path / "fx")


def frozen(sc) -> bool:
    return sc.instance.is_frozen()


def staging_dirs(sc) -> list[str]:
    return [n for n in sh(sc, 'ls -A "$1"', f"{DATA}/mgr/").split() if n.startswith("iris-ops-backup-")]


def test_a_reflink_that_outlasts_the_freeze_fails_the_backup(xfs_container, monkeypatch, tmp_path, capsys):
    """WDSuspendLimit passes while the transport reflinks: the freeze no longer holds when the
    session checks it after the copies, so the copy is not consistent: exit 5, nothing left."""
    sc = xfs_container
    slow = Meanwhile(lambda: time.sleep(1.5))
    code, _, err = backup_with(sc, monkeypatch, tmp_path, capsys, slow, IRIS_OPS_FREEZE_LIMIT="1")
    assert slow.fired == 1
    assert code == 5, err
    assert "the write daemon resumed before the copy finished" in err
    assert not (tmp_path / "fx").exists() and staging_dirs(sc) == []
    assert not frozen(sc)


def test_a_signal_during_the_reflink_thaws_and_cleans_up(xfs_container, monkeypatch, tmp_path, capsys):
    """SIGTERM while the instance is frozen and the transport reflinks: the backup thaws (its
    freeze record says the freeze is its own), removes its staging directory, exits 143."""
    sc = xfs_container
    seen = []

    def signal_now():
        seen.append(frozen(sc))
        os.kill(os.getpid(), signal.SIGTERM)

    code, _, err = backup_with(sc, monkeypatch, tmp_path, capsys, Meanwhile(signal_now))
    assert seen == [True]
    assert code == 143, err
    assert not frozen(sc)
    assert not (tmp_path / "fx").exists() and staging_dirs(sc) == []


# --- the probe ------------------------------------------------------------------------------------

def test_the_container_probe_leaves_nothing_and_says_why_not(plain_container):
    sc = plain_container
    mgr = f"{DATA}/mgr/"
    before = sh(sc, 'ls -A "$1"', mgr)
    argv = transport_reflink.probe_argv("0123456789ab", [mgr, mgr + "absent/"])
    code, out, err = sc.exec(argv, user="irisowner")
    assert code == 0, err
    answers = out.decode().splitlines()
    assert answers[0].startswith("no\t") and len(answers[0]) > 3  # ext4: the reason cp gave
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


def test_the_host_probe_names_no_file(tmp_path, xfs_volume):
    """Here (O_TMPFILE): yes on XFS, no on ext4 with the kernel's reason, and no file either way."""
    shared = xfs_volume.new_directory(f"probe-{os.getpid()}")
    try:
        answers = transport_reflink.probe_here([str(shared), str(shared / "absent")])
        assert answers[str(shared)].done and answers[str(shared / "absent")].reason == transport_reflink.ABSENT
        assert list(shared.iterdir()) == []
    finally:
        shutil.rmtree(shared)
    plain = transport_reflink.probe_here([str(tmp_path)])[str(tmp_path)]
    assert not plain.done and plain.reason
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


def test_a_restore_tries_its_clones_without_a_probe_and_keeps_a_refusal_for_the_process(monkeypatch):
    """The cache's clones and fills are tried at once (no probe first); once the storage under a
    manager directory refused them all, this process makes full copies there without trying, and
    a storage that took one is tried again; another instance is tried afresh."""
    from iris_ops import storage
    from iris_ops.transports.base import Reflink, Target

    calls, probes, answer = [], [], {"done": False}

    class Runner:
        def reflink_files(self, pairs, timeout):
            calls.append(list(pairs))
            return [Reflink(answer["done"], "" if answer["done"] else "Operation not supported") for _ in pairs]

        def probe_reflink(self, directories, timeout):
            probes.append(directories)
            return {d: Reflink(True) for d in directories}

    class Op:
        target = Target(container="a")
        runner = Runner()

        class settings:
            timeout = transfer_timeout = 5

        class log:
            debug = staticmethod(lambda *a, **k: None)

    monkeypatch.setattr(storage, "_found", {})
    monkeypatch.setattr(storage, "_shared", {})
    pairs = [("/mgr/iris-ops-cache/a.DAT", "/mgr/x/IRIS.DAT"), ("/mgr/iris-ops-cache/b.DAT", "/mgr/y/IRIS.DAT")]
    assert storage.share(Op, "/mgr", pairs, "clone") == ["copy", "copy"]
    assert storage.share(Op, "/mgr/", pairs[:1], "cache fill") == ["copy"]
    assert calls == [pairs] and probes == []
    Op.target = Target(container="b")
    answer["done"] = True
    assert storage.share(Op, "/mgr/", pairs, "clone") == ["reflink", "reflink"]
    assert storage.share(Op, "/mgr/", pairs[1:], "clone") == ["reflink"]
    assert calls == [pairs, pairs, pairs[1:]] and probes == []


def test_a_shell_that_answered_part_refuses_the_rest():
    from iris_ops.transports.base import ExecResult

    answers = transport_reflink.read_answers(ExecResult(137, b"ok\n", b"Killed\n"), 3)
    assert [a.done for a in answers] == [True, False, False] and answers[2].reason == "Killed"


# --- iris-ops sim up --data-dir -----------------------------------------------------------------

def test_sim_up_keeps_the_instance_on_its_data_directory(docker_engine, sim_image, xfs_volume):
    """`sim up --data-dir` makes the directory (given to the instance owner), runs the instance
    on it, and `sim down` keeps it: the next `sim up` on it finds the namespace made before.  A container
    that runs on another data directory is not reused."""
    from clihelp import command
    from iris_ops_sim.control import SimControl, docker_exec

    name = f"iris-up-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(DOCKER_HOST=docker_engine.base_url, IRIS_OPS_CONTAINER=name, IRIS_OPS_LOG_FORMAT="json")

    def sim(*args):
        return subprocess.run(command("sim", *args), env=env, capture_output=True, text=True, timeout=120)

    data = xfs_volume.path / f"{name}-data"
    try:
        up = ok(sim("up", "--data-dir", data))
        assert f"its data in {data}" in up.stderr and data.stat().st_uid == 51773
        instance = SimControl(docker_exec(docker_engine.base_url, name))
        instance.create_database("KEPT", size_mb=1, namespace="KEPT")
        assert f"its data directory {data} is kept" in ok(sim("down")).stdout
        assert (data / "iris" / "mgr" / "kept" / "IRIS.DAT").exists()
        ok(sim("up", "--data-dir", data))
        status = ok(sim("status")).stdout
        assert f"  data:    {DATA}\n" in status and "KEPT" in status.split("namespaces:")[1]
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
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "-p", "iris_ops_sim.testbed", "-q", "test_fails.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "1 failed" in done.stdout and "on purpose" in done.stdout, done.stdout + done.stderr
    image, mount = (tmp_path / "where").read_text().splitlines()
    assert _still_there(image, mount) == [] and not Path(image).parent.exists()


@pytest.mark.parametrize("end", ["exit", "SIGTERM"])
def test_a_volume_left_by_its_process_is_removed_when_it_ends(xfs_volume, end):
    """The atexit guard, and the SIGTERM handler (a CI timeout runs no atexit handler): a process
    that made a volume and ends without removing it."""
    proc = subprocess.Popen([sys.executable, "-c",
                             "import sys, time\n"
                             "from iris_ops_sim import xfs\n"
                             "v = xfs.XfsVolume(size_mb=320).create()\n"
                             "print(v.image, v.path, flush=True)\n"
                             f"time.sleep({60 if end == 'SIGTERM' else 0})\n"],
                            stdout=subprocess.PIPE, text=True)
    image, mount = proc.stdout.readline().split()
    if end == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == (-signal.SIGTERM if end == "SIGTERM" else 0)
    assert _still_there(image, mount) == [] and not Path(image).parent.exists()
