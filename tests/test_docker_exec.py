"""exec with stdin, lost-output safety, deadlines, error mapping, and streamed file transfer,
against a real Docker engine (``docker_engine``) and containers of the simulated IRIS image.

The engine writes a command's first output right behind its ``101`` answer, the timing that makes
docker-py lose output (#3332/#2042): the 300-session test is the proof that ours loses none.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import subprocess
import sys
import threading
import time
import tracemalloc

import pytest

from iris_ops import errors
from iris_ops.transports import docker_exec, docker_files, file_scripts
from iris_ops.transports.docker_exec import exec_command

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def box(docker_engine, sim_image):
    """One simulated IRIS container for the whole module (tests use paths of their own)."""
    from iris_ops_sim.simcontainer import run_container

    sc = run_container(docker_engine.client, docker_engine.base_url, sim_image, f"iris-x-{secrets.token_hex(3)}")
    yield sc
    sc.remove()


@pytest.fixture
def api(docker_engine):
    client = docker_exec.connect(docker_engine.base_url, timeout=10)
    yield client
    client.close()


@pytest.fixture
def c(box):
    return box.name


def soon(seconds: float = 10.0) -> float:
    return time.monotonic() + seconds


def sh(api, container, script: str, user: str | None = None):
    return exec_command(api, container, ["sh", "-c", script], user=user, deadline=soon())


def test_importing_the_primitives_does_not_import_docker():
    code = (
        "import sys, iris_ops.transports.docker_exec, iris_ops.transports.docker_session,"
        " iris_ops.transports.docker_files, iris_ops.tarstream;"
        "sys.exit(1 if 'docker' in sys.modules or 'requests' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_immediate_output_is_not_lost(api, c):
    # docker-py's exec_run lost the output of 280 in 300 such runs (DOCKER.md): 60 in a row
    # would not all survive a regression
    for i in range(60):
        result = exec_command(api, c, ["echo", f"hello-{i}"], deadline=soon())
        assert (result.exit_code, result.stdout) == (0, f"hello-{i}\n".encode())


def test_stdin_is_half_closed_so_the_process_sees_eof(api, c):
    data = os.urandom(300_000)  # more than the socket buffers hold: stdin and output overlap
    result = exec_command(api, c, ["cat"], stdin=data, deadline=soon())
    assert result.exit_code == 0
    assert result.stdout == data


def test_empty_stdin_still_ends_input(api, c):
    result = exec_command(api, c, ["cat"], stdin=b"", deadline=soon())
    assert (result.exit_code, result.stdout) == (0, b"")


def test_stderr_is_demultiplexed_and_the_exit_code_returned(api, c):
    result = sh(api, c, "echo to stdout; echo to stderr >&2; exit 3")
    assert result == docker_exec.ExecResult(exit_code=3, stdout=b"to stdout\n", stderr=b"to stderr\n")


def test_exit_code_recorded_after_the_stream_closed_is_waited_for(api, c):
    result = sh(api, c, "exec >&- 2>&-; sleep 0.3; exit 4")
    assert result.exit_code == 4


def test_a_connection_cut_while_the_command_runs_is_unreachable_not_a_deadline(docker_engine, c):
    """The client's connection to the engine is cut for real (a socket proxy closes it) while the
    command runs on: the stream ends as if the command had, and the engine still says it runs.
    That is the connection lost (exit 6, "may still be running"), said as soon as it is clear,
    not the deadline reached minutes later."""
    from reliability.engineproxy import EngineProxy

    proxy = EngineProxy(docker_engine.base_url).start()
    proxy.watch(b"sleep 30")
    api = docker_exec.connect(proxy.url, timeout=10)

    def cut_once_it_runs():
        while not proxy.cut(b"sleep 30"):
            time.sleep(0.05)

    cutter = threading.Thread(target=cut_once_it_runs)
    cutter.start()
    try:
        with pytest.raises(errors.UnreachableError, match="connection to the Docker engine ended while the "
                           "command was still running") as info:
            exec_command(api, c, ["sh"], stdin=b"echo started; sleep 30\n", deadline=soon(20))
        assert "may still be running" in str(info.value) and info.value.exit_code == 6
    finally:
        cutter.join(10)
        api.close()
        proxy.remove()


def test_user_is_passed_to_the_engine(api, c):
    assert sh(api, c, "id -u", user="root").stdout == b"0\n"
    assert sh(api, c, "id -u").stdout == b"51773\n"  # the image's user, as in IRIS images


def test_deadline_exceeded_while_the_command_runs(api, c):
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceeded, match="did not finish within") as info:
        exec_command(api, c, ["sleep", "5"], deadline=soon(0.3))
    assert time.monotonic() - started < 2
    assert info.value.exit_code == 6


def test_deadline_already_past_does_not_start_anything(api, c):
    marker = f"/tmp/started-{secrets.token_hex(4)}"
    with pytest.raises(errors.DeadlineExceeded):
        exec_command(api, c, ["touch", marker], deadline=time.monotonic() - 1)
    assert sh(api, c, f"test -e {marker}").exit_code == 1


def test_missing_container(api):
    with pytest.raises(errors.UnreachableError, match="container 'nope-iris-ops' not found") as info:
        exec_command(api, "nope-iris-ops", ["true"], deadline=soon())
    assert "docker ps" in info.value.fix and "IRIS_OPS_CONTAINER" in info.value.fix


def test_stopped_container(api, sim_container):
    sim_container.stop()
    with pytest.raises(errors.UnreachableError, match=f"container '{sim_container.name}' is not running") as info:
        exec_command(api, sim_container.name, ["true"], deadline=soon())
    assert f"docker start {sim_container.name}" in info.value.fix


def test_a_container_killed_while_the_command_runs_is_unreachable(api, sim_container):
    # The command's failure (killed with its container) is the container's state, exit 6: not
    # a failed command (exit 5).  A command that fails in a running container keeps its exit
    # status (test_stderr_is_demultiplexed_and_the_exit_code_returned).
    killer = threading.Timer(1.0, sim_container.stop, kwargs={"kill": True})
    killer.start()
    try:
        with pytest.raises(errors.UnreachableError, match=f"container '{sim_container.name}' is not running") as info:
            exec_command(api, sim_container.name, ["sleep", "30"], deadline=soon(25))
    finally:
        killer.cancel()
    assert info.value.exit_code == 6
    assert f"docker start {sim_container.name}" in info.value.fix


def test_connect_to_a_missing_engine(tmp_path):
    with pytest.raises(errors.UnreachableError, match="cannot reach the Docker engine") as info:
        docker_exec.connect(f"unix://{tmp_path}/no.sock", timeout=2)
    assert "DOCKER_HOST" in info.value.fix


def test_engine_gone_after_connecting():
    """A second private engine of our own, stopped under the client's feet."""
    from iris_ops_sim import dockerd

    if dockerd.private_engine_blocker():
        pytest.skip(dockerd.private_engine_blocker())
    engine = dockerd.PrivateEngine()
    try:
        engine.start()
        api = docker_exec.connect(engine.url, timeout=5)
    finally:
        engine.stop()
    with pytest.raises(errors.UnreachableError, match="cannot reach the Docker engine"):
        exec_command(api, "iris", ["true"], deadline=soon())


def test_no_file_descriptors_leak(api, c):
    # docker-py keeps a connection pool per URL (up to 25, least recently used evicted), and
    # every exec has its own inspect URL: let that cache fill before counting
    for _ in range(30):
        exec_command(api, c, ["cat"], stdin=b"warm up", deadline=soon())
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(60):
        exec_command(api, c, ["cat"], stdin=b"x", deadline=soon())
    assert len(os.listdir("/proc/self/fd")) <= before + 4


def test_half_close_support_by_transport(api):
    assert docker_exec.supports_stdin_half_close(api)

    class TLS:
        base_url = "https://engine:2376"

    assert not docker_exec.supports_stdin_half_close(TLS())


# ---------------------------------------------------------------------------- files


def stat(api, c, path: str) -> list[str]:
    """``mode uid gid`` of a path in the container, or [] when it does not exist."""
    result = sh(api, c, f"stat -c '%a %u %g' {path} 2>/dev/null")
    return result.stdout.decode().split()


def listing(api, c, directory: str) -> list[str]:
    return sh(api, c, f"ls -A {directory}").stdout.decode().split()


def fresh_dir(api, c, mode="755") -> str:
    d = f"/tmp/t-{secrets.token_hex(4)}"
    assert sh(api, c, f"mkdir -m {mode} {d}", user="root").exit_code == 0
    return d


@pytest.fixture(params=["one exec", "archive"])
def write_path(request, monkeypatch):
    """Small files go in one exec with their bytes on stdin; larger ones (and every file on a
    transport that cannot half-close stdin) through put_archive: the same outcomes either way."""
    if request.param == "archive":
        monkeypatch.setattr(docker_files, "SMALL_FILE", -1)
    return request.param


def test_small_files_take_one_exec_and_large_ones_two_and_an_upload(api, c, monkeypatch):
    calls = []
    real = docker_files.exec_command
    monkeypatch.setattr(docker_files, "exec_command", lambda *a, **k: calls.append(a[2][:2]) or real(*a, **k))
    d = f"/tmp/t-{secrets.token_hex(4)}/sub"
    docker_files.write_file(api, c, io.BytesIO(b"j" * 100), f"{d}/journal.json", size=100, deadline=soon())
    assert len(calls) == 1 and stat(api, c, f"{d}/journal.json") == ["660", "51773", "51773"]
    assert stat(api, c, d) == ["770", "51773", "51773"]  # made here: the file's own directory
    calls.clear()
    big = docker_files.SMALL_FILE + 1
    docker_files.write_file(api, c, io.BytesIO(b"b" * big), f"{d}/big", size=big, deadline=soon())
    assert len(calls) == 2 and listing(api, c, d) == ["big", "journal.json"]  # mkdir and chown (put_archive is no exec)


def test_several_small_texts_take_one_exec_each_file_as_write_file_leaves_it(api, c, monkeypatch):
    """A journal and two markers in one exec: each file with the bytes given (quotes, $, a
    backslash, a newline and non-ASCII kept as they are), 660 and the instance owner's, each
    new directory 770 and the owner's, an existing one with files untouched; no temporary file."""
    calls = []
    real = docker_files.exec_command
    monkeypatch.setattr(docker_files, "exec_command", lambda *a, **k: calls.append(a[2][:2]) or real(*a, **k))
    mgr = fresh_dir(api, c)
    assert sh(api, c, f"touch {mgr}/other", user="root").exit_code == 0
    files = [('{"token": "a\'b", "x": "$HOME `id` \\\\ \\n"}\n'.encode(), f"{mgr}/journal.json"),
             ("{\"fixture\": \"déjà\"}".encode(), f"{mgr}/a/marker.json"),
             (b"", f"{mgr}/b/IRIS.DAT")]
    assert docker_files.write_texts(api, c, files, deadline=soon()) is True
    assert len(calls) == 1
    for data, path in files:
        out = io.BytesIO()
        docker_files.read_file(api, c, path, out, deadline=soon())
        assert out.getvalue() == data, path
        assert stat(api, c, path) == ["660", "51773", "51773"], path
    assert stat(api, c, f"{mgr}/a") == ["770", "51773", "51773"] and stat(api, c, f"{mgr}/b") == stat(api, c, f"{mgr}/a")
    assert stat(api, c, mgr) == ["755", "0", "0"]  # it held a file: never changed behind IRIS's back
    assert listing(api, c, mgr) == ["a", "b", "journal.json", "other"]
    assert listing(api, c, f"{mgr}/a") == ["marker.json"]


@pytest.mark.parametrize("data", [b"\x00nul", b"\xff not utf-8", b"x" * (file_scripts.ARGUMENTS_LIMIT + 1)])
def test_texts_that_cannot_travel_as_arguments_are_left_to_write_file(api, c, data, monkeypatch):
    """A NUL, bytes that are not UTF-8, or more than a small file: False before any exec (the
    caller then writes each file with write_file)."""
    calls = []
    monkeypatch.setattr(docker_files, "exec_command", lambda *a, **k: calls.append(a))
    d = fresh_dir(api, c)
    assert docker_files.write_texts(api, c, [(b"{}", f"{d}/journal.json"), (data, f"{d}/x")], deadline=soon()) is False
    assert calls == []


def test_a_batch_stops_at_the_file_that_fails_and_keeps_the_ones_before(api, c):
    d = fresh_dir(api, c)
    assert sh(api, c, f"mkdir {d}/IRIS.DAT && touch {d}/IRIS.DAT/keep", user="root").exit_code == 0
    files = [(b"{}", f"{d}/journal.json"), (b"x", f"{d}/IRIS.DAT"), (b"{}", f"{d}/after.json")]
    with pytest.raises(errors.InstanceError) as failed:
        docker_files.write_texts(api, c, files, deadline=soon())
    assert f"{d}/IRIS.DAT is a directory" in str(failed.value) and "exit status 4" in str(failed.value)
    assert listing(api, c, d) == ["IRIS.DAT", "journal.json"]  # the one before stays; none after, no temporary
    assert listing(api, c, f"{d}/IRIS.DAT") == ["keep"]


def test_a_write_over_a_directory_is_refused(api, c, write_path):
    d = fresh_dir(api, c)
    assert sh(api, c, f"mkdir {d}/IRIS.DAT && touch {d}/IRIS.DAT/keep", user="root").exit_code == 0
    with pytest.raises(errors.InstanceError):
        docker_files.write_file(api, c, io.BytesIO(b"x"), f"{d}/IRIS.DAT", size=1, deadline=soon())
    assert listing(api, c, d) == ["IRIS.DAT"] and listing(api, c, f"{d}/IRIS.DAT") == ["keep"]


def test_a_small_write_cut_short_leaves_nothing(api, c):
    """A client that dies while sending sends end of input early: the shell finds fewer bytes than
    announced, removes its temporary file and never renames it into place."""
    d = fresh_dir(api, c)
    argv = ["sh", "-c", file_scripts.WRITE_STDIN, "sh", d, f"{d}/f", f"{d}/f.tmp-x", "10", "irisowner:irisowner",
            "660", ""]
    result = exec_command(api, c, argv, stdin=b"12345", user="root", deadline=soon())
    assert result.exit_code == 3 and b"received 5 of 10 bytes" in result.stderr
    assert listing(api, c, d) == []


def test_write_then_read_a_file(api, c):
    data = os.urandom(3 * (1 << 20) + 123)
    d = f"/usr/irissys/mgr/newdb-{secrets.token_hex(3)}"
    written = docker_files.write_file(api, c, io.BytesIO(data), f"{d}/IRIS.DAT", size=len(data), deadline=soon())
    expected = hashlib.sha256(data).hexdigest()
    assert written == docker_files.FileDigest(bytes=len(data), sha256=expected)
    assert sh(api, c, f"sha256sum {d}/IRIS.DAT").stdout.split()[0].decode() == expected
    assert listing(api, c, d) == ["IRIS.DAT"]
    assert stat(api, c, f"{d}/IRIS.DAT") == ["660", "51773", "51773"]
    assert stat(api, c, d) == ["770", "51773", "51773"]

    out = io.BytesIO()
    assert docker_files.read_file(api, c, f"{d}/IRIS.DAT", out, deadline=soon()) == written
    assert out.getvalue() == data


def test_write_file_from_a_host_path_and_dir_mode_none(api, c, write_path, tmp_path):
    src = tmp_path / "f"
    src.write_bytes(b"hello")
    d = fresh_dir(api, c)
    digest = docker_files.write_file(api, c, src, f"{d}/f", size=5, dir_mode=None, deadline=soon())
    assert digest.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert stat(api, c, d) == ["755", "0", "0"]  # the directory is left as it was


def test_write_file_leaves_an_existing_directory_as_it_was(api, c, write_path):
    """Writing into the manager directory must not change its mode or owner behind IRIS's back."""
    d = fresh_dir(api, c, mode="775")
    assert sh(api, c, f"touch {d}/IRIS.DAT", user="root").exit_code == 0  # it already holds files
    docker_files.write_file(api, c, io.BytesIO(b"plan"), f"{d}/plan.json", size=4, deadline=soon())
    assert stat(api, c, d) == ["775", "0", "0"]
    assert stat(api, c, f"{d}/plan.json") == ["660", "51773", "51773"]


@pytest.mark.parametrize("actual", [100, 300])
def test_write_file_with_the_wrong_size_leaves_nothing(api, c, write_path, actual):
    d = fresh_dir(api, c)
    with pytest.raises(errors.UsageError, match="announced"):
        docker_files.write_file(api, c, io.BytesIO(b"x" * actual), f"{d}/IRIS.DAT", size=200, deadline=soon())
    assert listing(api, c, d) == []


def test_write_file_with_an_unknown_owner_leaves_nothing(api, c, write_path):
    d = fresh_dir(api, c)
    with pytest.raises(errors.InstanceError, match="chown"):
        docker_files.write_file(api, c, io.BytesIO(b"x"), f"{d}/f", size=1, owner="nobody", deadline=soon())
    assert listing(api, c, d) == []


def test_write_file_past_its_deadline(api, c, write_path):
    class Slow(io.RawIOBase):
        def readable(self):
            return True

        def read(self, n=-1):
            time.sleep(0.2)
            return b"x" * min(n, 10)

    d = fresh_dir(api, c)
    with pytest.raises(errors.DeadlineExceeded):
        docker_files.write_file(api, c, Slow(), f"{d}/f", size=1000, deadline=soon(0.5))
    assert listing(api, c, d) == []


def test_read_missing_path(api, c):
    with pytest.raises(errors.InstanceError, match=f"'/nope/IRIS.DAT' does not exist in container '{c}'"):
        docker_files.read_file(api, c, "/nope/IRIS.DAT", io.BytesIO(), deadline=soon())


def test_read_from_a_missing_container(api):
    with pytest.raises(errors.UnreachableError, match="container 'nope-iris-ops' not found"):
        docker_files.read_file(api, "nope-iris-ops", "/x", io.BytesIO(), deadline=soon())


def test_read_refuses_a_directory(api, c):
    d = fresh_dir(api, c)
    with pytest.raises(errors.UsageError, match="is a directory"):
        docker_files.read_file(api, c, d, io.BytesIO(), deadline=soon())


@pytest.mark.parametrize("path", ["relative/IRIS.DAT", "/a/../b", "/a/"])
def test_paths_must_be_absolute_and_normal(api, c, path):
    with pytest.raises(errors.UsageError):
        docker_files.read_file(api, c, path, io.BytesIO(), deadline=soon())


def test_transfers_use_bounded_memory(api, c):
    """64 MiB each way with well under 64 MiB of Python allocations at the peak."""
    size = 64 << 20

    class Zeros(io.RawIOBase):
        left = size

        def readable(self):
            return True

        def read(self, n=-1):
            n = min(n, self.left)
            self.left -= n
            return bytes(n)

    class Sink(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            return len(b)

    tracemalloc.start()
    try:
        docker_files.write_file(api, c, Zeros(), "/tmp/big/f", size=size, deadline=soon(60))
        docker_files.read_file(api, c, "/tmp/big/f", Sink(), deadline=soon(60))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 << 20, f"peak {peak / 2**20:.1f} MiB"


# ------------------------------------------------------------------- iris session


@pytest.mark.slow
def test_45_iris_sessions_each_complete(docker_engine, c):
    """docker-py loses the banner of most `iris session` runs; exec_command loses nothing, also
    with three sessions running at a time (one engine client per thread)."""
    from concurrent.futures import ThreadPoolExecutor

    argv = ["iris", "session", "IRIS", "-U", "%SYS"]

    def run(first: int) -> int:
        client = docker_exec.connect(docker_engine.base_url, timeout=10)
        try:
            for i in range(first, 45, 3):
                marker = f"done-{i}"
                script = f'Write "{marker}",!\nHalt\n'.encode()
                result = exec_command(client, c, argv, stdin=script, deadline=soon(30))
                text = result.stdout.decode()
                assert result.exit_code == 0, (i, result)
                assert text.startswith("\nNode: ") or text.startswith("Node: "), (i, text)
                assert "Instance: IRIS" in text, (i, text)
                assert marker + "\n" in text.replace("\r\n", "\n"), (i, text)
            return len(range(first, 45, 3))
        finally:
            client.close()

    with ThreadPoolExecutor(3) as pool:
        assert sum(pool.map(run, range(3))) == 45


# -- reading from the host side (iris_ops.transports.docker_host) -------------------------------


def _host_readable(api) -> bool:
    return os.geteuid() == 0 and str(api.base_url) == "http+docker://localhost"


def test_a_file_is_read_from_the_host_side_when_this_process_can(api, c, monkeypatch):
    from iris_ops.transports import docker as docker_transport
    from iris_ops.transports import docker_host
    from iris_ops.transports.base import Target

    if not _host_readable(api):
        pytest.skip("needs root and an engine on this machine (a unix socket)")
    data = os.urandom((5 << 20) + 17)
    d = f"/usr/irissys/mgr/hostread-{secrets.token_hex(3)}"
    written = docker_files.write_file(api, c, io.BytesIO(data), f"{d}/IRIS.DAT", size=len(data), deadline=soon())
    found = docker_host.host_path(api, c, f"{d}/IRIS.DAT")
    assert found is not None and found[0].endswith(f"{d}/IRIS.DAT") and found[1] == len(data)

    def no_archive(*args, **kwargs):
        raise AssertionError("streamed through the engine although the host side was readable")

    monkeypatch.setattr(docker_files, "read_file", no_archive)
    monkeypatch.setattr(docker_transport, "_api", lambda host, timeout: api)
    out = io.BytesIO()
    digest = docker_transport.read_file(target=Target(container=c), path=f"{d}/IRIS.DAT", dest=out, timeout=10)
    assert (digest.bytes, digest.sha256) == (written.bytes, written.sha256)
    assert out.getvalue() == data

    monkeypatch.setenv("IRIS_OPS_HOST_READ", "0")
    assert docker_host.host_path(api, c, f"{d}/IRIS.DAT") is None


def test_the_host_side_never_follows_a_link_out_of_the_container(api, c):
    from iris_ops.transports import docker_host

    if not _host_readable(api):
        pytest.skip("needs root and an engine on this machine (a unix socket)")
    d = f"/usr/irissys/mgr/hostlink-{secrets.token_hex(3)}"
    assert sh(api, c, f"mkdir -p {d} && ln -s /etc/passwd {d}/file && ln -s / {d}/root").exit_code == 0
    assert docker_host.host_path(api, c, "/etc/passwd") is not None  # the container's own file: readable
    assert docker_host.host_path(api, c, "/etc/hostname") is None  # the engine bind-mounts it: not the merged file
    assert docker_host.host_path(api, c, f"{d}/file") is None  # a link: the engine's stat says so
    assert docker_host.host_path(api, c, f"{d}/root/etc/passwd") is None  # resolves outside on the host
    assert docker_host.host_path(api, c, f"{d}/missing") is None
    assert docker_host.host_path(api, c, d) is None  # a directory


def test_the_host_side_is_not_tried_for_an_engine_elsewhere():
    from iris_ops.transports import docker_host

    class Remote:
        base_url = "http://10.0.0.1:2375"

        def __getattr__(self, name):
            raise AssertionError(f"asked the engine ({name}) although it is not on this machine")

    assert docker_host.host_path(Remote(), "c", "/usr/irissys/mgr/user/IRIS.DAT") is None


def test_a_host_file_that_is_not_the_announced_size_is_an_error(tmp_path):
    from iris_ops.transports import docker_host

    src = tmp_path / "IRIS.DAT"
    src.write_bytes(b"x" * 1000)
    with pytest.raises(errors.InstanceError, match="changed while being read"):
        docker_host.read_host_file(str(src), 999, io.BytesIO(), deadline=soon(), what="reading it")
    out = io.BytesIO()
    assert docker_host.read_host_file(str(src), 1000, out, deadline=soon(), what="reading it") == (
        1000, hashlib.sha256(b"x" * 1000).hexdigest())
