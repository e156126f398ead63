"""Running iris-ops as a user would, for the iris-ops-security tests."""

from __future__ import annotations

import os
import subprocess
import sys


def cli(env: dict, *args: str, stdin: str | None = None, **extra: str) -> subprocess.CompletedProcess:
    """``iris-ops ARGS`` as a subprocess with ``env`` (e.g. ``sim_container.env``) on top of a
    clean environment; ``stdin`` is the text piped in (nothing otherwise)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    full.update(env)
    full.setdefault("IRIS_OPS_LOG_FORMAT", "json")
    full.update(extra)
    return subprocess.run([sys.executable, "-m", "iris_ops", *args], env=full, capture_output=True, text=True,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL, timeout=120)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def secret_dirs(sc) -> list[str]:
    """One-time secret directories left in a container's manager directory."""
    return sc.exec(["sh", "-c", "ls -d /usr/irissys/mgr/iris-ops-secret-* 2>/dev/null"])[1].decode().split()
