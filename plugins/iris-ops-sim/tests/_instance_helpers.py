"""Shared helpers for the simulated-instance tests."""

from __future__ import annotations

from pathlib import Path

from iris_ops_sim.irissim.instance import SimInstance
from iris_ops_sim.irissim.instance.fs import ContainerFS
from iris_ops_sim.irissim.objectscript import runtime
from iris_ops_sim.irissim.objectscript.runtime import ByRef, Process


def new_instance(root: Path) -> SimInstance:
    fs = ContainerFS(root / "rootfs", root / "fsmeta.json")
    return SimInstance.create(fs)


def call(inst: SimInstance, cls: str, method: str, *args, namespace: str = "%SYS", user: str = "irisowner"):
    out: list[str] = []
    proc = Process(inst, namespace, out.append, user=user)
    return runtime.lookup_class(cls).call_class_method(proc, method, list(args))


def proc(inst: SimInstance, namespace: str = "%SYS") -> Process:
    return Process(inst, namespace, lambda s: None)


__all__ = ["new_instance", "call", "proc", "ByRef"]
