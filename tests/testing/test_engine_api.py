"""The simulated engine through the real docker SDK (docker-py 7.x), unchanged."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile

import docker
import docker.errors
import pytest

from _engine_standins import BANNER, box, run_exec, standin_engine  # noqa: F401 (fixtures)


@pytest.fixture
def client(standin_engine):
    c = docker.DockerClient(base_url=standin_engine.base_url)
    yield c
    c.close()


def test_version_and_ping_negotiate(client):
    version = client.version()
    assert version["ApiVersion"] == "1.45" and version["MinAPIVersion"] == "1.24"
    assert client.api._version == "1.45"
    assert client.ping() is True
    response = client.api._get(client.api.base_url + "/_ping")
    assert response.headers["API-Version"] == "1.45"
    too_new = client.api._get(client.api.base_url + "/v1.99/version")
    assert too_new.status_code == 400
    assert "client version 1.99 is too new" in too_new.json()["message"]


def test_containers_list_and_get(client, box):
    engine, name = box
    record = engine.container(name)
    listed = client.containers.list(filters={"name": name})
    assert [c.name for c in listed] == [name]
    assert client.containers.get(name).id == record.id
    assert client.containers.get(record.id[:10]).name == name
    assert client.containers.get(name).status == "running"
    engine.stop_container(name)
    assert name not in [c.name for c in client.containers.list()]
    assert client.containers.get(name).status == "exited"
    assert name in [c.name for c in client.containers.list(all=True)]


def test_unknown_container_is_404_with_moby_text(client):
    with pytest.raises(docker.errors.NotFound, match="No such container: nope"):
        client.containers.get("nope")
    with pytest.raises(docker.errors.NotFound, match="No such container: nope"):
        client.api.exec_create("nope", ["true"])


def test_exec_in_stopped_container_is_409(client, box):
    engine, name = box
    engine.stop_container(name)
    with pytest.raises(docker.errors.APIError) as info:
        client.api.exec_create(name, ["true"])
    assert info.value.status_code == 409
    assert info.value.explanation == f"Container {engine.container(name).id} is not running"


def test_exec_round_trip_with_stdin(client, box):
    _engine, name = box
    script = b'Write "hello"\nWrite "world"\nTerminate 7\n'
    code, out, err = run_exec(client.api, name, ["iris", "session", "IRIS", "-U", "%SYS"], stdin=script)
    assert out.startswith(BANNER)
    assert b"hello" in out and b"world" in out
    assert (code, err) == (7, b"")


def test_exec_inspect_and_double_start(client, box):
    _engine, name = box
    exec_id = client.api.exec_create(name, ["sh", "-c", "echo out; echo err >&2; exit 3"])["Id"]
    before = client.api.exec_inspect(exec_id)
    assert before["ExitCode"] is None and before["Running"] is False
    client.api.exec_start(exec_id)
    after = client.api.exec_inspect(exec_id)
    assert after["ExitCode"] == 3 and after["Running"] is False
    with pytest.raises(docker.errors.APIError) as info:
        client.api.exec_start(exec_id)
    assert info.value.status_code == 409 and "has already run" in info.value.explanation
    with pytest.raises(docker.errors.NotFound, match="No such exec instance"):
        client.api.exec_inspect("0" * 64)


def test_stdout_and_stderr_are_separate_frames(client, box):
    _engine, name = box
    code, out, err = run_exec(client.api, name, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (code, out, err) == (3, b"out\n", b"err\n")


def test_unknown_executable_fails_like_runc(client, box):
    _engine, name = box
    code, out, _err = run_exec(client.api, name, ["foo", "x"])
    assert code == 127
    assert out == (b'OCI runtime exec failed: exec failed: unable to start container process: '
                   b'exec: "foo": executable file not found in $PATH: unknown\r\n')


def test_plain_exec_run_loses_immediate_output_sometimes(client, box):
    """docker-py #3332: output arriving with the 101 response is swallowed by http.client's
    buffer.  The engine writes both at once, as a fast real engine does, so the bug shows here
    too; the frame reader of run_exec (the fix) never loses it."""
    _engine, name = box
    container = client.containers.get(name)
    results = [container.exec_run(["echo", "hi"]).output for _ in range(20)]
    assert b"" in results, "expected at least one lost output, as against a real engine"
    assert all(run_exec(client.api, name, ["echo", "hi"])[1] == b"hi\n" for _ in range(5))


def _tar_bytes(members: dict[str, bytes], uid: int = 0, gid: int = 0) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for arcname, data in members.items():
            info = tarfile.TarInfo(arcname)
            info.size, info.uid, info.gid, info.mode = len(data), uid, gid, 0o640
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_put_archive_chunked_then_get_archive_identical(client, box):
    engine, name = box
    payload = os.urandom(3 * 1024 * 1024 + 123)
    tar = _tar_bytes({"data/big.bin": payload})

    def chunks():  # a generator body goes out with Transfer-Encoding: chunked
        for i in range(0, len(tar), 65536):
            yield tar[i : i + 65536]

    container = client.containers.get(name)
    assert container.put_archive("/tmp", chunks()) is True
    stream, stat = container.get_archive("/tmp/data/big.bin")
    assert stat["name"] == "big.bin" and stat["size"] == len(payload)
    received = io.BytesIO(b"".join(stream))  # small enough here; never do this with real data
    with tarfile.open(fileobj=received) as got:
        member = got.getmember("big.bin")
        assert got.extractfile(member).read() == payload
    fs = engine.container(name).fs
    assert fs.owner("/tmp/data/big.bin") == (0, 0)
    assert fs.owner("/tmp/data") == (0, 0)


def test_archive_stat_header_and_directory(client, box):
    _engine, name = box
    response = client.api.head(client.api._url("/containers/{0}/archive", name), params={"path": "/usr/irissys/mgr"})
    assert response.status_code == 200
    stat = json.loads(base64.b64decode(response.headers["X-Docker-Container-Path-Stat"]))
    assert stat["name"] == "mgr" and stat["mode"] & (1 << 31)
    stream, _ = client.api.get_archive(name, "/usr/irissys/mgr")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as got:
        names = got.getnames()
        owner = got.getmember("mgr/user/IRIS.DAT").uid
    assert "mgr/user/IRIS.DAT" in names and owner == 51773


def test_archive_errors(client, box):
    _engine, name = box
    with pytest.raises(docker.errors.NotFound, match=f"Could not find the file /nope in container {name}"):
        client.api.get_archive(name, "/nope")
    with pytest.raises(docker.errors.NotFound, match="Could not find the file /nope/dir"):
        client.api.put_archive(name, "/nope/dir", _tar_bytes({"a": b"x"}))
    with pytest.raises(docker.errors.APIError, match="extraction point is not a directory"):
        client.api.put_archive(name, "/usr/irissys/mgr/user/IRIS.DAT", _tar_bytes({"a": b"x"}))


def test_put_archive_ownership_follows_moby(client, box):
    engine, name = box
    fs = engine.container(name).fs
    client.api.put_archive(name, "/tmp", _tar_bytes({"h.txt": b"x"}, uid=1234, gid=4321))
    assert fs.owner("/tmp/h.txt") == (1234, 4321)  # header ids kept without copyUIDGID
    url = client.api._url("/containers/{0}/archive", name)
    response = client.api._put(url, params={"path": "/tmp", "copyUIDGID": "1"}, data=_tar_bytes({"c.txt": b"x"}))
    assert response.status_code == 200
    assert fs.owner("/tmp/c.txt") == (51773, 51773)  # the container's user (irisowner)


def test_keep_alive_serves_many_requests_on_one_connection(client, box):
    _engine, name = box
    for _ in range(50):
        client.api.inspect_container(name)
    adapter = client.api.get_adapter(client.api.base_url)
    assert adapter.pools  # one pooled connection reused, no errors
