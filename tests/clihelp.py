"""Helpers for tests that drive ``python -m iris_ops`` against the simulated instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def command(*args, fault: str | None = None) -> list[str]:
    """The argv of ``iris-ops ARGS``; with ``fault`` (``KIND@WHERE``), through the test kit's
    fault launcher (an installed iris-ops never loads a fault)."""
    launcher = ["-m", "iris_ops_sim.faults", fault] if fault else ["-m", "iris_ops"]
    return [sys.executable, *launcher, *map(str, args)]


def cli(sc, *args, fault: str | None = None, **env) -> subprocess.CompletedProcess:
    """``iris-ops ARGS`` as a subprocess aimed at ``sc`` (a ``sim_container``), JSON logs on stderr."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    full.update(sc.env, IRIS_OPS_LOG_FORMAT="json", **env)
    return subprocess.run(command(*args, fault=fault), env=full, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def fails(proc: subprocess.CompletedProcess, code: int) -> subprocess.CompletedProcess:
    assert proc.returncode == code, f"exit {proc.returncode}, wanted {code}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def objectscript(sc, code: str, ns: str = "%SYS") -> str:
    """Run ObjectScript through ``iris-ops run``; its output."""
    return ok(cli(sc, "run", "--ns", ns, code)).stdout.strip()


def events(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]


def manifest(fixture: Path) -> dict:
    return json.loads((Path(fixture) / "manifest.json").read_text())
