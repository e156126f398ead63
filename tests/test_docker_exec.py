"""exec with stdin, lost-output safety, deadlines, error mapping, and streamed file transfer.

Most tests run against ``docker_stub`` (a stand-in engine whose exec start sends the ``101``
response and the first output in one write: the timing that makes docker-py lose output).
The last tests run the same primitives against the simulated engine (``sim_container``).
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from iris_ops import errors
from iris_ops.transports import docker_exec, docker_files
from iris_ops.transports.docker_exec import exec_command

sys.path.insert(0, str(Path(__file__).parent))
from docker_stub import BANNER, StubEngine  # noqa: E402


@pytest.fixture
def stub():
    engine = StubEngine().start()
    engine.add_container("iris")
    yield engine
    engine.stop()


@pytest.fixture
def api(stub):
    client = docker_exec.connect(stub.base_url, timeout=10)
    yield client
    client.close()


def soon(seconds: float = 10.0) -> float:
    return time.monotonic() + seconds


SCRIPT = b'Write "x",!\nHalt\n'


def test_importing_the_primitives_does_not_import_docker():
    code = (
        "import sys, iris_ops.transports.docker_exec, iris_ops.transports.docker_files, iris_ops.tarstream;"
        "sys.exit(1 if 'docker' in sys.modules or 'requests' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_output_sent_with_the_101_response_is_not_lost(stub, api):
    for _ in range(200):
        result = exec_command(api, "iris", ["banner"], stdin=SCRIPT, deadline=soon())
        assert result.exit_code == 0
        assert result.stdout.startswith(BANNER), result.stdout
        assert b"x\n" in result.stdout


def test_plain_docker_py_loses_that_output(stub):
    """The reason exec_command exists: same engine, same command, docker-py's exec_run."""
    import docker

    client = docker.DockerClient(base_url=stub.base_url)
    try:
        container = client.containers.get("iris")
        outputs = [container.exec_run(["banner"]).output for _ in range(20)]
    finally:
        client.close()
    lost = [out for out in outputs if BANNER not in out]
    assert lost, "docker-py no longer loses output: the stub does not reproduce #3332 any more"


def test_stdin_is_half_closed_so_the_process_sees_eof(api):
    data = os.urandom(300_000)  # more than the socket buffers hold: stdin and output overlap
    result = exec_command(api, "iris", ["cat"], stdin=data, deadline=soon())
    assert result.exit_code == 0
    assert result.stdout == data


def test_empty_stdin_still_ends_input(api):
    result = exec_command(api, "iris", ["cat"], stdin=b"", deadline=soon())
    assert (result.exit_code, result.stdout) == (0, b"")


def test_stderr_is_demultiplexed_and_the_exit_code_returned(api):
    result = exec_command(api, "iris", ["exit", "3"], deadline=soon())
    assert result == docker_exec.ExecResult(exit_code=3, stdout=b"", stderr=b"to stderr\n")


def test_exit_code_recorded_after_the_stream_closed_is_waited_for(stub, api):
    stub.exit_delay = 0.05
    result = exec_command(api, "iris", ["exit", "4"], deadline=soon())
    assert result.exit_code == 4


def test_user_is_passed_to_the_engine(stub, api):
    exec_command(api, "iris", ["exit", "0"], user="root", deadline=soon())
    assert list(stub.execs.values())[-1].user == "root"


def test_deadline_exceeded_while_the_command_runs(api):
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceeded, match="did not finish within") as info:
        exec_command(api, "iris", ["sleep", "5"], deadline=soon(0.3))
    assert time.monotonic() - started < 2
    assert info.value.exit_code == 6


def test_deadline_already_past_does_not_start_anything(stub, api):
    with pytest.raises(errors.DeadlineExceeded):
        exec_command(api, "iris", ["exit", "0"], deadline=time.monotonic() - 1)
    assert stub.execs == {}


def test_missing_container(api):
    with pytest.raises(errors.UnreachableError, match="container 'nope' not found") as info:
        exec_command(api, "nope", ["true"], deadline=soon())
    assert "docker ps" in info.value.fix and "IRIS_OPS_CONTAINER" in info.value.fix


def test_stopped_container(stub, api):
    stub.containers["iris"].running = False
    with pytest.raises(errors.UnreachableError, match="container 'iris' is not running") as info:
        exec_command(api, "iris", ["true"], deadline=soon())
    assert "docker start iris" in info.value.fix


def test_connect_to_a_missing_engine(tmp_path):
    with pytest.raises(errors.UnreachableError, match="cannot reach the Docker engine") as info:
        docker_exec.connect(f"unix://{tmp_path}/no.sock", timeout=2)
    assert "DOCKER_HOST" in info.value.fix


def test_engine_gone_after_connecting(stub, api):
    stub.stop()
    os.unlink(stub.sock_path) if os.path.exists(stub.sock_path) else None
    with pytest.raises(errors.UnreachableError, match="cannot reach the Docker engine"):
        exec_command(api, "iris", ["true"], deadline=soon())


def test_no_file_descriptors_leak(api):
    # docker-py keeps a connection pool per URL (up to 25, least recently used evicted), and
    # every exec has its own inspect URL: let that cache fill before counting
    for _ in range(60):
        exec_command(api, "iris", ["cat"], stdin=b"warm up", deadline=soon())
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(100):
        exec_command(api, "iris", ["cat"], stdin=b"x", deadline=soon())
    assert len(os.listdir("/proc/self/fd")) <= before + 4


def test_half_close_support_by_transport(api):
    assert docker_exec.supports_stdin_half_close(api)

    class TLS:
        base_url = "https://engine:2376"

    assert not docker_exec.supports_stdin_half_close(TLS())


# ---------------------------------------------------------------------------- files (stub)


def test_write_then_read_a_file(stub, api):
    data = os.urandom(3 * (1 << 20) + 123)
    container = stub.containers["iris"]
    written = docker_files.write_file(
        api, "iris", io.BytesIO(data), "/usr/irissys/mgr/newdb/IRIS.DAT", size=len(data), deadline=soon()
    )
    expected = hashlib.sha256(data).hexdigest()
    assert written == docker_files.FileDigest(bytes=len(data), sha256=expected)
    host = container.host("/usr/irissys/mgr/newdb/IRIS.DAT")
    assert host.read_bytes() == data
    assert os.listdir(host.parent) == ["IRIS.DAT"]
    assert host.stat().st_mode & 0o777 == 0o660 and host.parent.stat().st_mode & 0o777 == 0o770
    assert container.owners["/usr/irissys/mgr/newdb/IRIS.DAT"] == ("irisowner", "irisowner")
    assert container.owners["/usr/irissys/mgr/newdb"] == ("irisowner", "irisowner")

    out = io.BytesIO()
    assert docker_files.read_file(api, "iris", "/usr/irissys/mgr/newdb/IRIS.DAT", out, deadline=soon()) == written
    assert out.getvalue() == data


def test_write_file_from_a_host_path_and_dir_mode_none(stub, api, tmp_path):
    src = tmp_path / "f"
    src.write_bytes(b"hello")
    stub.containers["iris"].host("/shared").mkdir(mode=0o755)
    digest = docker_files.write_file(api, "iris", src, "/shared/f", size=5, dir_mode=None, deadline=soon())
    assert digest.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert "/shared" not in stub.containers["iris"].owners
    assert stub.containers["iris"].host("/shared").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("actual", [100, 300])
def test_write_file_with_the_wrong_size_leaves_nothing(stub, api, actual):
    with pytest.raises(errors.UsageError, match="announced"):
        docker_files.write_file(api, "iris", io.BytesIO(b"x" * actual), "/db/IRIS.DAT", size=200, deadline=soon())
    assert os.listdir(stub.containers["iris"].host("/db")) == []


def test_write_file_with_an_unknown_owner_leaves_nothing(stub, api):
    with pytest.raises(errors.InstanceError, match="chown"):
        docker_files.write_file(api, "iris", io.BytesIO(b"x"), "/db/f", size=1, owner="nobody", deadline=soon())
    assert os.listdir(stub.containers["iris"].host("/db")) == []


def test_write_file_past_its_deadline(stub, api):
    class Slow(io.RawIOBase):
        def readable(self):
            return True

        def read(self, n=-1):
            time.sleep(0.2)
            return b"x" * min(n, 10)

    with pytest.raises(errors.DeadlineExceeded):
        docker_files.write_file(api, "iris", Slow(), "/db/f", size=1000, deadline=soon(0.5))
    assert os.listdir(stub.containers["iris"].host("/db")) == []


def test_read_missing_path(api):
    with pytest.raises(errors.InstanceError, match="'/nope/IRIS.DAT' does not exist in container 'iris'"):
        docker_files.read_file(api, "iris", "/nope/IRIS.DAT", io.BytesIO(), deadline=soon())


def test_read_from_a_missing_container(api):
    with pytest.raises(errors.UnreachableError, match="container 'nope' not found"):
        docker_files.read_file(api, "nope", "/x", io.BytesIO(), deadline=soon())


def test_read_refuses_a_directory(stub, api):
    stub.containers["iris"].host("/d/sub").mkdir(parents=True)
    with pytest.raises(errors.UsageError, match="is a directory"):
        docker_files.read_file(api, "iris", "/d", io.BytesIO(), deadline=soon())


@pytest.mark.parametrize("path", ["relative/IRIS.DAT", "/a/../b", "/a/"])
def test_paths_must_be_absolute_and_normal(api, path):
    with pytest.raises(errors.UsageError):
        docker_files.read_file(api, "iris", path, io.BytesIO(), deadline=soon())


def test_transfers_use_bounded_memory(stub, api):
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
        docker_files.write_file(api, "iris", Zeros(), "/big/f", size=size, deadline=soon(60))
        docker_files.read_file(api, "iris", "/big/f", Sink(), deadline=soon(60))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 << 20, f"peak {peak / 2**20:.1f} MiB"


# ------------------------------------------------------------------- the simulated engine


def test_300_iris_sessions_each_complete(sim_container):
    """docker-py loses the banner of most `iris session` runs; exec_command loses nothing."""
    api = docker_exec.connect(sim_container.base_url, timeout=30)
    instance = getattr(sim_container.instance, "name", "IRIS")
    argv = ["iris", "session", instance, "-U", "%SYS"]
    try:
        for i in range(300):
            marker = f"done-{i}"
            script = f'Write "{marker}",!\nHalt\n'.encode()
            result = exec_command(api, sim_container.name, argv, stdin=script, deadline=soon(30))
            text = result.stdout.decode()
            assert result.exit_code == 0, (i, result)
            assert text.startswith("\nNode: ") or text.startswith("Node: "), (i, text)
            assert f"Instance: {instance}" in text, (i, text)
            assert marker + "\n" in text.replace("\r\n", "\n"), (i, text)
    finally:
        api.close()


def test_file_round_trip_through_the_simulated_engine(sim_container):
    api = docker_exec.connect(sim_container.base_url, timeout=30)
    data = os.urandom(5 * (1 << 20) + 7)
    dest = "/usr/irissys/mgr/iris-ops-test/IRIS.DAT"
    try:
        sent = docker_files.write_file(api, sim_container.name, io.BytesIO(data), dest, size=len(data), deadline=soon(60))
        assert sent.sha256 == hashlib.sha256(data).hexdigest()
        listing = exec_command(api, sim_container.name, ["ls", "-ln", dest], deadline=soon())
        assert listing.exit_code == 0, listing
        fields = listing.stdout.decode().split()
        assert fields[0].startswith("-rw-rw----") and fields[2:4] == ["51773", "51773"], fields
        leftovers = exec_command(api, sim_container.name, ["ls", "-a", "/usr/irissys/mgr/iris-ops-test"], deadline=soon())
        assert leftovers.stdout.split() == [b".", b"..", b"IRIS.DAT"] or leftovers.stdout.split() == [b"IRIS.DAT"]
        out = io.BytesIO()
        assert docker_files.read_file(api, sim_container.name, dest, out, deadline=soon(60)) == sent
        assert out.getvalue() == data
    finally:
        api.close()
