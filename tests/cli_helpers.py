"""Helpers the CLI tests import by name (a conftest module is not importable by name: the
plugin distributions' tests have a conftest of their own): a throwaway plugin, the CLI in-process,
an image that is not IRIS, a process that holds a namespace's lock, the instance's state."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap


@contextlib.contextmanager
def plugin(obj):
    """Register ``obj`` as a plugin for the duration (the in-process CLI sees it)."""
    from iris_ops.manager import get_plugin_manager

    pm = get_plugin_manager()
    pm.register(obj, name=f"test-plugin-{id(obj)}")
    try:
        yield pm
    finally:
        pm.unregister(obj)


def make_inproc(env, monkeypatch, tmp_path, capsys):
    """The in-process CLI with only ``env``'s IRIS_OPS_* settings (JSON logs), run in ``tmp_path``."""
    from iris_ops import cli as cli_module
    from iris_ops.console import exit_status

    for key in list(os.environ):
        if key.startswith("IRIS_OPS_"):
            monkeypatch.delenv(key)
    for key, value in {**env, "IRIS_OPS_LOG_FORMAT": "json"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)

    def run(*args):
        capsys.readouterr()
        code = 0
        try:
            cli_module.main(["iris-ops", *map(str, args)])
        except SystemExit as exc:
            code = exit_status(exc.code)
        out, err = capsys.readouterr()
        return code, out, err

    return run


_HOLD = textwrap.dedent("""
    import sys, time
    from iris_ops import locks, script_builders
    from iris_ops.operations.context import operation_from_flags
    op = operation_from_flags("restore", {})
    with op.bound(), locks.holding(op, sys.argv[1], wait=0):
        op.runner.run(script_builders.wd_suspended(), changes=False)  # the first contact takes the lock
        print("HOLDING", flush=True)
        time.sleep(600)
""")


def start_lock_holder(env: dict, cwd, namespace: str = "USER") -> subprocess.Popen:
    """An iris-ops process (a restore, as far as the lock says) that holds ``namespace``'s lock
    until it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, namespace], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    seen = []
    for line in proc.stdout:  # log lines (structlog is not configured here) come first
        seen.append(line.decode())
        if line.strip() == b"HOLDING":
            return proc
    proc.wait(timeout=30)
    raise AssertionError("the holder ended without the lock:\n" + "".join(seen))


def kill_holder(proc: subprocess.Popen) -> None:
    """``kill -9`` the holder, and reap it."""
    proc.kill()
    proc.communicate(timeout=30)


def instance_state(sc, manager_dir: str = "/usr/irissys/mgr/") -> dict:
    """What an operation that cleans up after itself must leave as it was: files (the fixture
    cache aside: it is kept on purpose), configuration, resources, roles, users, mounts, freeze."""
    listing = sc.instance.listing()
    security = sc.instance.security()
    return {"files": {p: e for p, e in listing["files"].items() if not p.startswith(manager_dir + "iris-ops-cache")},
            "config": listing["config"], "resources": listing["resources"], "mounted": listing["mounted"],
            "frozen": listing["frozen"], "roles": security["roles"], "users": sorted(security["users"])}
def busybox_image(client) -> str:
    """A 2 MB image (static busybox only, no `iris`) for containers that just need to exist."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(os.path.realpath(shutil.which("busybox") or "/bin/busybox"), "bin/busybox")
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(link)
    client.api.import_image_from_data(buffer.getvalue(), repository="iris-ops-busybox", tag="t")
    return "iris-ops-busybox:t"
