"""Reading a container's file from the host side, when this process can: no engine in between.

The engine's archive endpoint is the limit of every transfer out of a container (about
380 MiB/s on a quiet two-core machine, half that under load: docs/PERFORMANCE.md).  When the
engine runs on this machine (a unix socket) and this process can read the container's
filesystem, the file is read where it lies instead, at page-cache speed:

* a path under a bind mount or a volume is read from the mount's ``Source``;
* any other path is read from the container's root filesystem, the overlay's ``MergedDir``
  (storage driver ``overlay2``), which only root can usually read.

Nothing is trusted blindly.  The host path is resolved (symlinks included) and must stay inside
the mount source or the merged directory: a link inside the container that points elsewhere is
not followed on the host.  The engine's own stat of the path (``HEAD`` on the archive endpoint,
one cheap request) must say it is a regular file, and the host file must have the same size and
modification time.  When any of this does not hold, :func:`host_path` answers ``None`` and the
caller streams through the engine as usual.  ``IRIS_OPS_HOST_READ=0`` turns the shortcut off.
"""

from __future__ import annotations

import datetime
import os
import posixpath
import re
import stat as stat_mod
from typing import TYPE_CHECKING, BinaryIO

from iris_ops import errors
from iris_ops.transports.docker_errors import translate_errors
from iris_ops.transports.hashsink import copy_file

if TYPE_CHECKING:  # pragma: no cover
    import docker

__all__ = ["host_path", "read_host_file", "enabled"]

#: Go's os.FileMode bits in the engine's stat: directory, symlink, and the other non-regular kinds
_MODE_NOT_REGULAR = (1 << 31) | (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 22) | (1 << 21)
_LOCAL_BASE_URL = "http+docker://localhost"  # docker-py's base URL for a unix socket


def enabled() -> bool:
    return os.environ.get("IRIS_OPS_HOST_READ", "1").strip().lower() not in ("0", "no", "false", "off")


def _engine_stat(api, container: str, path: str) -> dict | None:
    """The engine's stat of ``path`` (name, size, mode, mtime), or None if it has none."""
    import docker

    url = api._url("/containers/{0}/archive", container)
    with translate_errors(api, container, f"checking '{path}' in container '{container}'"):
        response = api.head(url, params={"path": path}, timeout=api.timeout)
    if response.status_code != 200:
        return None
    encoded = response.headers.get("X-Docker-Container-Path-Stat")
    try:
        return docker.utils.decode_json_header(encoded) if encoded else None
    except Exception:  # noqa: BLE001 - no usable stat: take the engine's path
        return None


def _mtime_seconds(text: str) -> int | None:
    """Whole seconds since the epoch of Go's RFC 3339 time (``2026-11-29T13:50:56.123456789Z``)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)", text or "")
    if not match:
        return None
    zone = "+00:00" if match.group(2) == "Z" else match.group(2)
    return int(datetime.datetime.fromisoformat(match.group(1) + zone).timestamp())


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _candidate(info: dict, path: str) -> tuple[str, str] | None:
    """(host path, the host directory it must stay in) for ``path`` in the container, or None."""
    mounts = sorted(info.get("Mounts") or [], key=lambda m: len(m.get("Destination") or ""), reverse=True)
    for mount in mounts:
        dest, source = mount.get("Destination") or "", mount.get("Source") or ""
        if dest and source and _inside(path, dest):
            return posixpath.join(source, posixpath.relpath(path, dest)), source
    driver = info.get("GraphDriver") or {}
    merged = (driver.get("Data") or {}).get("MergedDir") or ""
    if driver.get("Name") in ("overlay2", "overlay") and merged:
        return merged + path, merged
    return None


def host_path(api: "docker.APIClient", container: str, path: str) -> tuple[str, int] | None:
    """Where this process can read ``path`` of ``container`` directly, and its size; None when it
    cannot (a remote engine, no access, anything that does not match the engine's own stat)."""
    if not enabled() or str(getattr(api, "base_url", "")) != _LOCAL_BASE_URL:
        return None
    if not path.startswith("/") or posixpath.normpath(path) != path:
        return None
    try:
        with translate_errors(api, container, f"inspecting container '{container}'"):
            info = api.inspect_container(container)
        found = _candidate(info, path)
        if found is None:
            return None
        host, root = found
        real, real_root = os.path.realpath(host), os.path.realpath(root)
        if not _inside(real, real_root) or not os.access(real, os.R_OK):
            return None
        local = os.stat(real)
        engine = _engine_stat(api, container, path)
    except (OSError, errors.IrisOpsError):
        return None
    if not engine or not stat_mod.S_ISREG(local.st_mode):
        return None
    mode = int(engine.get("mode") or 0)
    if mode & _MODE_NOT_REGULAR or int(engine.get("size", -1)) != local.st_size:
        return None
    if _mtime_seconds(engine.get("mtime", "")) != int(local.st_mtime):
        return None
    return real, local.st_size


def read_host_file(host: str, size: int, dest: BinaryIO, *, deadline: float, what: str) -> tuple[int, str]:
    """Copy ``size`` bytes of the host file ``host`` into ``dest``, hashing them in the same pass
    (:func:`iris_ops.transports.hashsink.copy_file`).  Returns (bytes, sha256 hex).  A file that
    is not ``size`` bytes long by the end is an error, as a short transfer is."""
    count, sha256 = copy_file(host, dest, deadline=deadline, what=what)
    if count != size:
        raise errors.InstanceError(
            f"{what}: read {count} bytes where the engine reported {size}: the file changed while being read",
            fix="Retry; nothing else may write the file while it is copied.",
        )
    return count, sha256
