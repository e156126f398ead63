"""What the in-process test beds share (iris-ops' tests/inproc_sim.py, iris-ops-security's
tests/state_sim.py: a simulated instance answering iris-ops' transport hooks in the test's own
process): a file of the instance handed over as a transport's ``read_file`` hands it, and a
snapshot of everything the instance holds, to compare before and after an operation."""

from __future__ import annotations

import hashlib
import json
from typing import Any, BinaryIO

from iris_ops.errors import InstanceError
from iris_ops.transports.base import FileDigest

__all__ = ["TRANSPORT", "read_file", "snapshot"]

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
