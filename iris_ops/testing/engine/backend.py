"""What the engine needs from the rest of the testing kit, behind one seam.

The engine runs commands against a container's filesystem (``ContainerFS``), creates and opens
simulated instances (``SimInstance``) and hands ``iris ...`` commands to the terminal
(``iris_main``).  Those live in sibling packages; :class:`Backend` imports them lazily so that
the engine module stays cheap to import, and tests can substitute small stand-ins.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, BinaryIO, Callable

#: ``module:attribute`` naming a Backend factory; lets a daemonized engine use stand-ins in tests.
BACKEND_ENV = "IRIS_OPS_SIM_BACKEND"


class Backend:
    """The real kit: ``iris_ops.testing.irissim.instance`` and ``iris_ops.testing.irissim.objectscript``."""

    def container_fs(self, rootfs: Path, meta_path: Path) -> Any:
        from iris_ops.testing.irissim.instance.fs import ContainerFS

        return ContainerFS(rootfs, meta_path)

    def users(self) -> dict[str, tuple[int, int]]:
        from iris_ops.testing.irissim.instance import fs

        return dict(fs.USERS)

    def create_instance(self, fs: Any, name: str) -> Any:
        from iris_ops.testing.irissim.instance import SimInstance

        return SimInstance.create(fs, name=name)

    def open_instance(self, fs: Any, name: str) -> Any:
        from iris_ops.testing.irissim.instance import SimInstance

        return SimInstance.open(fs, name=name)

    def iris_main(
        self, instance: Any, argv: list[str], stdin: BinaryIO, write: Callable[[bytes], None], user: str
    ) -> int:
        from iris_ops.testing.irissim.objectscript.terminal import iris_main

        return iris_main(instance, argv, stdin, write, user)


def load_backend(spec: str | None = None) -> Backend:
    """The backend named by ``spec`` (or ``$IRIS_OPS_SIM_BACKEND``), else the real one."""
    spec = spec or os.environ.get(BACKEND_ENV)
    if not spec:
        return Backend()
    module_name, _, attr = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attr or "Backend")
    return factory()
