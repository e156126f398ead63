"""Simulated containers on disk: ``HOME/containers/<name>/{config.json, rootfs/, fsmeta.json}``."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from iris_ops.testing.engine.backend import Backend

IMAGE = "intersystemsdc/iris-community:latest"
#: The user IRIS images declare (``USER irisowner``); ``docker exec`` runs as this user.
DEFAULT_USER = "irisowner"
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


class NotFound(Exception):
    """Maps to HTTP 404."""


class Conflict(Exception):
    """Maps to HTTP 409."""


class BadRequest(Exception):
    """Maps to HTTP 400."""


def _now_iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts or time.time(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Container:
    dir: Path
    config: dict[str, Any]
    backend: Backend
    _fs: Any = field(default=None, repr=False)
    _instance: Any = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return self.config["id"]

    @property
    def name(self) -> str:
        return self.config["name"]

    @property
    def running(self) -> bool:
        return self.config.get("state") == "running"

    @property
    def rootfs(self) -> Path:
        return self.dir / "rootfs"

    @property
    def fs(self) -> Any:
        if self._fs is None:
            self._fs = self.backend.container_fs(self.rootfs, self.dir / "fsmeta.json")
        return self._fs

    @property
    def instance(self) -> Any:
        if self._instance is None:
            self._instance = self.backend.open_instance(self.fs, self.config.get("instance", "IRIS"))
        return self._instance

    def save(self) -> None:
        tmp = self.dir / "config.json.tmp"
        tmp.write_text(json.dumps(self.config, indent=2))
        tmp.replace(self.dir / "config.json")

    # --- Docker API views -------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """One entry of ``GET /containers/json``."""
        created = self.config.get("created", time.time())
        state = self.config.get("state", "exited")
        return {
            "Id": self.id,
            "Names": ["/" + self.name],
            "Image": self.config.get("image", IMAGE),
            "ImageID": "sha256:" + "0" * 64,
            "Command": "/tini -- /iris-main",
            "Created": int(created),
            "Ports": [],
            "Labels": {},
            "State": state,
            "Status": "Up" if state == "running" else "Exited (0)",
            "HostConfig": {"NetworkMode": "bridge"},
            "NetworkSettings": {"Networks": {}},
            "Mounts": [],
        }

    def inspect(self) -> dict[str, Any]:
        """``GET /containers/{id}/json``."""
        created = _now_iso(self.config.get("created"))
        running = self.running
        return {
            "Id": self.id,
            "Created": created,
            "Path": "/tini",
            "Args": ["--", "/iris-main"],
            "State": {
                "Status": "running" if running else "exited",
                "Running": running,
                "Paused": False,
                "Restarting": False,
                "OOMKilled": False,
                "Dead": False,
                "Pid": 4242 if running else 0,
                "ExitCode": 0,
                "Error": "",
                "StartedAt": self.config.get("started_at", created),
                "FinishedAt": self.config.get("finished_at", "0001-01-01T00:00:00Z"),
            },
            "Image": "sha256:" + "0" * 64,
            "Name": "/" + self.name,
            "RestartCount": 0,
            "Driver": "sim",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": None,
            "HostConfig": {"NetworkMode": "bridge", "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}},
            "GraphDriver": {"Name": "sim", "Data": {"RootDir": str(self.rootfs)}},
            "Mounts": [],
            "Config": {
                "Hostname": self.id[:12],
                "Domainname": "",
                "User": DEFAULT_USER,
                "AttachStdin": False,
                "AttachStdout": False,
                "AttachStderr": False,
                "Tty": False,
                "OpenStdin": False,
                "StdinOnce": False,
                "Env": ["PATH=/usr/irissys/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "ISC_PACKAGE_INSTANCENAME=" + self.config.get("instance", "IRIS"),
                        "ISC_PACKAGE_INSTALLDIR=/usr/irissys"],
                "Cmd": None,
                "Image": self.config.get("image", IMAGE),
                "WorkingDir": "",
                "Entrypoint": ["/tini", "--", "/iris-main"],
                "Labels": {},
            },
            "NetworkSettings": {"Networks": {}, "Ports": {}},
        }


class ContainerStore:
    """All containers of one simulator home.  Reads ``config.json`` afresh on each lookup, so
    a container added by another process (or by hand) is visible at once."""

    def __init__(self, home: Path, backend: Backend) -> None:
        self.root = home / "containers"
        self.root.mkdir(parents=True, exist_ok=True)
        self.backend = backend
        self._lock = threading.RLock()
        self._cache: dict[str, Container] = {}

    def _load(self, name: str) -> Container | None:
        cfg_path = self.root / name / "config.json"
        try:
            config = json.loads(cfg_path.read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            self._cache.pop(name, None)
            return None
        cached = self._cache.get(name)
        if cached is not None and cached.id == config.get("id"):
            cached.config = config
            return cached
        container = Container(self.root / name, config, self.backend)
        self._cache[name] = container
        return container

    def all(self) -> list[Container]:
        with self._lock:
            found = []
            for entry in sorted(self.root.iterdir()):
                container = self._load(entry.name)
                if container is not None:
                    found.append(container)
            return found

    def get(self, ref: str) -> Container:
        """By full id, by name (with or without the leading ``/``), or by unique id prefix,
        in that order, as the Docker daemon resolves references."""
        with self._lock:
            containers = self.all()
            ref_name = ref[1:] if ref.startswith("/") else ref
            for c in containers:
                if c.id == ref:
                    return c
            for c in containers:
                if c.name == ref_name:
                    return c
            if ref:
                matches = [c for c in containers if c.id.startswith(ref)]
                if len(matches) == 1:
                    return matches[0]
                if len(matches) > 1:
                    raise NotFound(f"multiple IDs found with provided prefix: {ref}")
            raise NotFound(f"No such container: {ref}")

    def add(self, name: str = "iris", instance: str = "IRIS", image: str = IMAGE) -> Container:
        if not NAME_RE.match(name):
            raise BadRequest(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        with self._lock:
            cdir = self.root / name
            if (cdir / "config.json").exists():
                existing = self._load(name)
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{existing.id if existing else "?"}". You have to remove (or rename) that container '
                    "to be able to reuse that name."
                )
            if cdir.exists():
                shutil.rmtree(cdir)
            (cdir / "rootfs").mkdir(parents=True)
            now = time.time()
            config = {
                "id": secrets.token_hex(32),
                "name": name,
                "image": image,
                "state": "running",
                "instance": instance,
                "created": now,
                "started_at": _now_iso(now),
            }
            container = Container(cdir, config, self.backend)
            try:
                container._instance = self.backend.create_instance(container.fs, instance)
            except BaseException:
                shutil.rmtree(cdir, ignore_errors=True)
                raise
            container.save()
            self._cache[name] = container
            return container

    def set_state(self, ref: str, running: bool) -> Container:
        with self._lock:
            container = self.get(ref)
            container.config["state"] = "running" if running else "exited"
            container.config["started_at" if running else "finished_at"] = _now_iso()
            container.save()
            return container

    def remove(self, ref: str) -> None:
        with self._lock:
            container = self.get(ref)
            self._cache.pop(container.name, None)
            shutil.rmtree(container.dir)
