"""Issue 10 point 6: a hostile or broken archive from the engine.  Whatever it holds (members
named ../x or absolute, links, devices, a size that lies), read_file writes only into the
destination it was given, and fails with exit 2 or 4 (6 when the stream just ends early)."""

from __future__ import annotations

import io
import os
import tarfile
import time

import pytest

from iris_ops.errors import IrisOpsError
from iris_ops.transports import docker_files


class FakeResponse:
    def __init__(self, data: bytes) -> None:
        self.headers = {}
        self.raw = self
        self._data = data

    def stream(self, n, decode_content=False):
        for i in range(0, len(self._data), 4096):
            yield self._data[i:i + 4096]

    def close(self):
        pass


def tar_of(*members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def member(name, *, kind=tarfile.REGTYPE, data=b"x" * 100, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def lying_size() -> bytes:
    raw = bytearray(tar_of(member("IRIS.DAT", data=b"y" * 1000)))
    info = tarfile.TarInfo("IRIS.DAT")
    info.size = 50_000  # more than the stream holds
    raw[:512] = info.tobuf(format=tarfile.USTAR_FORMAT)
    return bytes(raw[:512 + 1024])


CASES = {
    "dot-dot": tar_of(member("../x")),
    "absolute": tar_of(member("/etc/x")),
    "symlink": tar_of(member("IRIS.DAT", kind=tarfile.SYMTYPE, link="/etc/passwd")),
    "hardlink": tar_of(member("IRIS.DAT", kind=tarfile.LNKTYPE, link="../../etc/passwd")),
    "device": tar_of(member("IRIS.DAT", kind=tarfile.CHRTYPE)),
    "two-members": tar_of(member("IRIS.DAT"), member("../evil")),
    "size-lies": lying_size(),
    "garbage": os.urandom(4096),
    "empty": b"",
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_archive_writes_nothing_outside_and_fails_clearly(name, tmp_path, monkeypatch):
    monkeypatch.setattr(docker_files, "_open_archive", lambda *a, **k: FakeResponse(CASES[name]))
    before = sorted(p for p in tmp_path.parent.rglob("*") if "evil" in p.name or p.name == "x")
    dest = io.BytesIO()
    with pytest.raises(IrisOpsError) as caught:
        docker_files.read_file(object(), "iris", "/usr/irissys/mgr/user/IRIS.DAT", dest,
                               deadline=time.monotonic() + 30)
    assert caught.value.exit_code in (2, 4, 6), caught.value
    assert "IRIS.DAT" in caught.value.message or "archive" in caught.value.message
    after = sorted(p for p in tmp_path.parent.rglob("*") if "evil" in p.name or p.name == "x")
    assert after == before
