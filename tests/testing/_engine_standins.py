"""Small stand-ins for the instance and terminal packages, used by the engine tests so that
they exercise the engine alone.  They follow the contracts in docs/ARCHITECTURE.md."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from types import SimpleNamespace

USERS = {"root": (0, 0), "irisowner": (51773, 51773)}
BANNER = b"\r\nNode: sim, Instance: IRIS\r\n\r\n"


class StandInFS:
    def __init__(self, rootfs: Path, meta_path: Path) -> None:
        self.rootfs = Path(rootfs)
        self.meta_path = Path(meta_path)
        self.lock = threading.Lock()

    def _meta(self) -> dict:
        try:
            return json.loads(self.meta_path.read_text())
        except FileNotFoundError:
            return {}

    def _save(self, meta: dict) -> None:
        self.meta_path.write_text(json.dumps(meta))

    def host_path(self, path: str) -> Path:
        parts = [p for p in path.split("/") if p]
        if ".." in parts:
            raise ValueError(f"path escapes the container root: {path}")
        host = self.rootfs.joinpath(*parts)
        resolved = host.resolve()
        if resolved != self.rootfs.resolve() and self.rootfs.resolve() not in resolved.parents:
            raise ValueError(f"path escapes the container root: {path}")
        if not host.parent.exists():
            raise FileNotFoundError(path)
        return host

    @staticmethod
    def _key(path: str) -> str:
        return "/" + "/".join(p for p in path.split("/") if p)

    def owner(self, path: str) -> tuple[int, int]:
        return tuple(self._meta().get(self._key(path), (0, 0)))

    def chown(self, path: str, uid: int, gid: int) -> None:
        with self.lock:
            meta = self._meta()
            meta[self._key(path)] = [uid, gid]
            self._save(meta)

    created = chown

    def forget(self, path: str) -> None:
        key = self._key(path)
        with self.lock:
            meta = {k: v for k, v in self._meta().items() if k != key and not k.startswith(key + "/")}
            self._save(meta)

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(self.host_path(path), mode)

    def mode(self, path: str) -> int:
        return stat.S_IMODE(os.stat(self.host_path(path)).st_mode)

    def _allowed(self, path: str, uid: int, bit: int) -> bool:
        if uid == 0:
            return True
        mode = self.mode(path)
        owner_uid, owner_gid = self.owner(path)
        if owner_uid == uid:
            return bool(mode & (bit << 6))
        if owner_gid == USERS["irisowner"][1] and uid == USERS["irisowner"][0]:
            return bool(mode & (bit << 3))
        return bool(mode & bit)

    def can_read(self, path: str, uid: int) -> bool:
        return self._allowed(path, uid, 4)

    def can_write(self, path: str, uid: int) -> bool:
        return self._allowed(path, uid, 2)


class StandInInstance:
    def __init__(self, fs: StandInFS, name: str) -> None:
        self.fs = fs
        self.name = name
        self.sessions: list[list[str]] = []

    @classmethod
    def create(cls, fs: StandInFS, name: str = "IRIS") -> "StandInInstance":
        for d in ("/usr", "/usr/irissys", "/usr/irissys/mgr", "/usr/irissys/mgr/user", "/tmp", "/home",
                  "/home/irisowner"):
            fs.rootfs.joinpath(*d.split("/")[1:]).mkdir(exist_ok=True)
        for d in ("/usr/irissys/mgr", "/usr/irissys/mgr/user", "/home/irisowner"):
            fs.created(d, *USERS["irisowner"])
        os.chmod(fs.host_path("/tmp"), 0o1777)
        dat = fs.host_path("/usr/irissys/mgr/user/IRIS.DAT")
        dat.write_bytes(b"\0" * 8192 * 3)
        fs.created("/usr/irissys/mgr/user/IRIS.DAT", *USERS["irisowner"])
        return cls(fs, name)

    def sql(self, namespace: str, statement: str):
        return SimpleNamespace(columns=["ns", "stmt"], rows=[(namespace, statement)], rowcount=1)

    def start_writer(self, namespace, table, column, interval=0.01):
        return SimpleNamespace(stop=lambda: None, updates=3)

    def check_integrity(self, directory):
        return [] if directory.startswith("/usr/irissys") else [f"no database in {directory}"]

    def create_namespace(self, name, globals_db, routines_db=None):
        return None

    def create_database(self, name, directory=None, size_mb=1):
        return directory or f"/usr/irissys/mgr/{name.lower()}/"


def standin_iris_main(instance, argv, stdin, write, user="irisowner") -> int:
    """``iris session IRIS -U NS``: banner at once, a prompt per line, ``Write "x"`` echoes x,
    ``Halt`` ends, ``Terminate N`` exits N.  ``iris qlist`` prints one line."""
    if argv[:1] == ["qlist"]:
        write(f"{instance.name}^/usr/irissys^2024.1^running^iris.cpf^1972^52773^0^ok^IRIS^^^/usr/irissys\n".encode())
        return 0
    if argv[:1] != ["session"] or len(argv) < 2 or argv[1].upper() != instance.name:
        write(b"usage: iris session <instance> [-U namespace]\n")
        return 1
    ns = argv[argv.index("-U") + 1] if "-U" in argv else "USER"
    write(BANNER + f"{ns}>".encode())
    lines = []
    while True:
        line = stdin.readline()
        if not line:
            break
        text = line.decode().strip()
        lines.append(text)
        if text == "Halt":
            instance.sessions.append(lines)
            return 0
        if text.startswith("Terminate "):
            instance.sessions.append(lines)
            return int(text.split()[1])
        if text.startswith('Write "'):
            write(f"\r\n{text[7:-1]}".encode())
        write(f"\r\n{ns}>".encode())
    instance.sessions.append(lines)
    return 0


class StandInBackend:
    def container_fs(self, rootfs, meta_path):
        return StandInFS(rootfs, meta_path)

    def users(self):
        return dict(USERS)

    def create_instance(self, fs, name):
        return StandInInstance.create(fs, name)

    def open_instance(self, fs, name):
        return StandInInstance(fs, name)

    def iris_main(self, instance, argv, stdin, write, user):
        return standin_iris_main(instance, argv, stdin, write, user)


# --- fixtures and a correct exec client for the engine tests ----------------------------------

import secrets as _secrets
import socket as _socket
import struct as _struct
import tempfile as _tempfile

import pytest


@pytest.fixture(scope="module")
def standin_engine():
    from iris_ops.testing.engine import SimEngine

    home = _tempfile.mkdtemp(prefix="ios-", dir="/tmp")
    engine = SimEngine(home, backend=StandInBackend()).start()
    yield engine
    engine.stop()
    import shutil

    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def box(standin_engine):
    """A fresh container on the stand-in engine: (engine, name)."""
    name = "c" + _secrets.token_hex(4)
    standin_engine.add_container(name)
    yield standin_engine, name
    try:
        standin_engine.remove_container(name)
    except Exception:
        pass


def read_frames(fp) -> tuple[bytes, bytes]:
    out, err = bytearray(), bytearray()
    while True:
        header = fp.read(8)
        if len(header) < 8:
            return bytes(out), bytes(err)
        stream, length = _struct.unpack(">BxxxL", header)
        payload = fp.read(length)
        (err if stream == 2 else out).extend(payload)


def run_exec(api, container: str, cmd: list[str], stdin: bytes | None = None, user: str = ""):
    """exec create → start → inspect, reading frames from the response's own buffered reader
    (the client-side fix of docker-py's lost-output bug) and half-closing stdin."""
    exec_id = api.exec_create(container, cmd, stdin=stdin is not None, user=user)["Id"]
    response = api._post_json(
        api._url("/exec/{0}/start", exec_id),
        headers={"Connection": "Upgrade", "Upgrade": "tcp"},
        data={"Tty": False, "Detach": False},
        stream=True,
    )
    api._raise_for_status(response)
    fp = response.raw._fp.fp  # the BufferedReader that already holds whatever came with the 101
    sock = api._get_raw_response_socket(response)._sock
    if stdin is not None:
        sock.sendall(stdin)
        sock.shutdown(_socket.SHUT_WR)
    out, err = read_frames(fp)
    response.close()
    return api.exec_inspect(exec_id)["ExitCode"], out, err
