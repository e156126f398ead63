"""What the in-process test beds share (iris-ops' tests/inproc_sim.py, iris-ops-security's
tests/state_sim.py: a simulated instance answering iris-ops' transport hooks in the test's own
process): a file of the instance handed over as a transport's ``read_file`` hands it, a
directory listed and a path removed as the transports' ``list_directory`` and ``remove_path`` do,
and a snapshot of everything the instance holds, to compare before and after an operation."""

from __future__ import annotations

import hashlib
import json
from typing import Any, BinaryIO

from iris_ops import hookimpl
from iris_ops.errors import InstanceError
from iris_ops.transports.base import FileDigest

__all__ = ["TRANSPORT", "read_file", "list_directory", "remove_path", "FileHooks", "snapshot"]

#: The transport the in-process beds answer for.
TRANSPORT = "in-process-sim"


def read_file(instance: Any, path: str, dest: BinaryIO) -> FileDigest:
    """The instance's file ``path`` written to ``dest`` whole, as the docker transport reads one;
    :class:`~iris_ops.errors.InstanceError` when it is not there."""
    try:
        data = instance.fs.host_path(path).read_bytes()
    except FileNotFoundError:
        raise InstanceError(f"{path} does not exist in the instance") from None
    dest.write(data)
    return FileDigest(len(data), hashlib.sha256(data).hexdigest())


def list_directory(instance: Any, path: str) -> list[str]:
    """The names in the instance's directory ``path``, a directory's ending in ``/`` (``[]`` when
    it does not exist)."""
    host = instance.fs.host_path(path)
    if not host.is_dir():
        return []
    return sorted(child.name + ("/" if child.is_dir() else "") for child in host.iterdir())


def remove_path(instance: Any, path: str) -> bool:
    """Remove ``path`` (a file, or a directory with what it holds; nothing there is no error), as
    root does it."""
    import shutil

    host = instance.fs.host_path(path)
    if host.is_dir() and not host.is_symlink():
        shutil.rmtree(host)
    else:
        host.unlink(missing_ok=True)
    instance.fs.forget(path)
    return True


class FileHooks:
    """The transport hooks of an instance's files (``self.instance``) for :data:`TRANSPORT`:
    ``read_file``, ``list_directory`` and ``remove_path``, for a bed's transport to inherit."""

    instance: Any

    @hookimpl
    def read_file(self, target, path, dest, timeout):  # noqa: ARG002 - hook signature
        return read_file(self.instance, path, dest) if target.transport == TRANSPORT else None

    @hookimpl
    def list_directory(self, target, path, timeout):  # noqa: ARG002 - hook signature
        return list_directory(self.instance, path) if target.transport == TRANSPORT else None

    @hookimpl
    def remove_path(self, target, path, timeout):  # noqa: ARG002 - hook signature
        return remove_path(self.instance, path) if target.transport == TRANSPORT else None


def snapshot(instance: Any) -> dict[str, Any]:
    """Everything ``instance`` holds: its runtime state (configuration, mounts, resources, the
    security database with every user's password hash), its [Databases] and [Namespaces], and
    every file under its install directory with its size (a database's bytes are its size here:
    the desired state's operations never write data)."""
    with instance.locked() as state:
        held = json.loads(json.dumps(state))
    for role in held.get("security", {}).get("roles", {}).values():
        role.setdefault("Resources", "")  # the simulator writes an absent list as "" when it edits one
    root = instance.fs.host_path("/usr/irissys/")
    files = sorted((str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1) for p in root.rglob("*")
                   if ".sim" not in p.parts)
    return {"state": held, "config": instance.read_config(), "files": files}
