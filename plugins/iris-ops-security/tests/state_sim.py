"""A simulated instance in this process for the roles, users and services kinds: the scripts go
through iris-ops' own :class:`~iris_ops.runner.Runner` to the simulator's ``iris session`` called
in this process, and files (the one-time secret files, apply's record) through the runner's
``write_file``, ``read_file`` and ``remove_path``, as a transport would (owner irisowner, file 660,
directory 770).  Reading, planning and applying then run exactly as ``iris-ops plan`` and
``apply`` run them, in milliseconds, with this plugin registered (as its entry point registers it).

Every session's text and output are kept (``sessions``), and every staged file's bytes
(``staged``), so a test can look for a password in all of them."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import structlog

import iris_ops_security
from iris_ops import hookimpl
from iris_ops.manager import new_plugin_manager, state_kinds
from iris_ops.runner import Runner
from iris_ops.state import plan
from iris_ops.state.kinds import ChangeContext
from iris_ops.state.toml_reader import state_from_text
from iris_ops.transports.base import ExecResult, FileDigest, Target
from iris_ops_sim.inprocess import TRANSPORT, FileHooks, snapshot


class _Transport(FileHooks):
    def __init__(self, instance: Any, bed: "Bed") -> None:
        self.instance, self.bed = instance, bed

    @hookimpl
    def run_objectscript(self, target, script, namespace, timeout):  # noqa: ARG002 - hook signature
        if target.transport != TRANSPORT:
            return None
        from iris_ops_sim.irissim.objectscript.terminal import iris_main

        out: list[bytes] = []
        status = iris_main(self.instance, ["session", target.instance, "-U", namespace],
                           io.BytesIO(script.encode("utf-8")), out.append, job=os.getpid())
        self.bed.sessions.append((script, b"".join(out)))
        return ExecResult(exit_code=status, stdout=b"".join(out))

    @hookimpl
    def write_file(self, target, src, size, path, timeout):  # noqa: ARG002 - hook signature
        if target.transport != TRANSPORT:
            return None
        from iris_ops_sim.irissim.instance.state import IRISOWNER

        data = src.read(size)
        host = self.instance.fs.host_path(path)
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_bytes(data)
        for item, mode in ((path, 0o660), (path.rsplit("/", 1)[0], 0o770)):
            self.instance.fs.created(item, *IRISOWNER)
            os.chmod(self.instance.fs.host_path(item), mode)
        self.bed.staged.append(data)
        if self.bed.after_write is not None:
            self.bed.after_write(path)
        return FileDigest(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

    @hookimpl
    def remove_path(self, target, path, timeout):  # noqa: ARG002 - hook signature
        if target.transport != TRANSPORT:
            return None
        self.bed.removed_by_transport.append(path)
        return super().remove_path(target, path, timeout)


class Bed:
    """A fresh simulated instance, a runner aimed at it, an operation as hooks and kinds receive
    it (runner, settings, dry_run, log), and the kinds of the desired state with this plugin's."""

    def __init__(self, root: Path) -> None:
        from iris_ops_sim.irissim.instance import SimInstance
        from iris_ops_sim.irissim.instance.fs import ContainerFS

        self.instance = SimInstance.create(ContainerFS(root / "rootfs", root / "fsmeta.json"))
        self.sessions: list[tuple[str, bytes]] = []
        self.staged: list[bytes] = []
        self.removed_by_transport: list[str] = []
        #: Called with each written file's path: a test changes the instance's files there.
        self.after_write: Any = None
        pm = new_plugin_manager(load_entry_points=False)
        pm.register(iris_ops_security, name="security")
        pm.register(_Transport(self.instance, self))
        self.pm = pm
        self.runner = Runner(pm, Target(transport=TRANSPORT), timeout=30)
        self.op = SimpleNamespace(runner=self.runner, dry_run=False, settings=SimpleNamespace(timeout=30),
                                  log=structlog.get_logger("test"))
        self.kinds = state_kinds(pm)
        self.mgr = self.instance.manager_directory()

    def operation(self, root: Path, *, dry_run: bool = False, out: Any = None):
        """A real :class:`~iris_ops.operation.Operation` aimed at this instance, as ``apply`` runs
        with (no project file above ``root``)."""
        from iris_ops import config
        from iris_ops.operation import Operation

        settings = config.load(environ={"IRIS_OPS_TRANSPORT": TRANSPORT}, start=root)
        return Operation("apply", settings, self.pm, dry_run=dry_run, out=out)

    def snapshot(self) -> dict:
        """Everything the instance holds, passwords' hashes included, to compare before and after
        (:func:`iris_ops_sim.inprocess.snapshot`)."""
        return snapshot(self.instance)

    def security(self) -> dict:
        from iris_ops_sim.irissim.instance import security

        with self.instance.locked() as st:
            return {key: dict(value) if isinstance(value, dict) else value for key, value in security.of(st).items()}

    def user(self, name: str) -> dict | None:
        record = self.security()["users"].get(name.lower())
        return dict(record) if record else None

    def service(self, name: str) -> dict:
        return dict(self.security()["services"][name])

    def check_password(self, user: str, password: str) -> bool:
        from iris_ops_sim.irissim.instance import security

        with self.instance.locked() as st:
            return security.check_password(security.find_user(security.of(st), user), password)

    def secret_dirs(self) -> list[str]:
        return sorted(p.name for p in self.instance.fs.host_path(self.mgr).glob("iris-ops-secret-*"))

    def read(self, text: str) -> tuple[Any, dict]:
        """The desired state of the TOML ``text`` and the result of its read session, as
        ``iris-ops plan`` runs it (its ends run afterwards, whatever happened)."""
        from iris_ops.operations.plan import read_current

        desired = state_from_text(text, "state.toml", kinds=self.kinds)
        return desired, read_current(self.op, desired, self.kinds)

    def plan(self, text: str) -> dict[str, plan.Step]:
        desired, result = self.read(text)
        return {f"{s.kind}:{s.label}": s for s in plan.compare(desired, result, self.kinds)}

    def change(self, build) -> dict:
        """Run the statements ``build(ctx)`` returns as one step of a script, as apply would
        (then the context's ends); the script's result."""
        from iris_ops.objectscript import Script
        from iris_ops.operations.plan import run_in_context

        ctx = ChangeContext(self.mgr, operation=self.op)
        return run_in_context(self.op, ctx, lambda: Script("%SYS", purpose="change").step("change", *build(ctx)))
