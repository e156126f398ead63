"""How the benchmark measures: timing, commands, repeated runs and their spread, the machine.

Shared by bench/run.py and the smaller benchmarks beside it; nothing here knows iris-ops.
"""

from __future__ import annotations

import hashlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20
CHUNK = 4 * MIB
#: the headline figures are the median of this many runs, with their min and max
RUNS = 3


def parse_size(text: str) -> int:
    """``1G``, ``256M``, ``1024`` (MiB) -> MiB."""
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text.endswith("G"):
        return int(float(text[:-1]) * 1024)
    if text.endswith("M"):
        return int(text[:-1])
    return int(text)


def settle() -> None:
    """Start every measurement with no dirty pages of the one before: this VM writes back
    slowly, and a copy that follows a 2 GiB restore would otherwise pay for that restore's
    writes (the in-container cp it is compared with was measured after a sync too)."""
    os.sync()


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    settle()
    began = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - began, result


def run_cli(argv: list[str], env: dict) -> tuple[float, str]:
    """Wall seconds and stdout of a command that must succeed."""
    began = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')[-2000:]}")
    return wall, proc.stdout.decode(errors="replace")


def run_measured(argv: list[str], env: dict) -> tuple[float, float, str, str]:
    """Wall seconds, the peak RSS in MiB of the console script ``argv[0]`` (its own ``VmHWM``,
    reported by bench/peak.py: ``wait4`` would count this benchmark's memory as the child's),
    stdout, stderr."""
    out_file = tempfile.TemporaryFile()
    err_file = tempfile.TemporaryFile()
    with tempfile.NamedTemporaryFile(prefix="iris-ops-peak-", delete=False) as peak_file:
        peak_path = peak_file.name
    try:
        settle()
        began = time.perf_counter()
        proc = subprocess.run([sys.executable, str(ROOT / "bench" / "peak.py"), peak_path, *argv], env=env,
                              stdout=out_file, stderr=err_file, cwd=ROOT)
        wall = time.perf_counter() - began
        peak_kib = int(Path(peak_path).read_text() or 0)
    finally:
        os.unlink(peak_path)
    out_file.seek(0)
    err_file.seek(0)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{err_file.read().decode(errors='replace')[-2000:]}")
    return wall, peak_kib / 1024, out_file.read().decode(errors="replace"), err_file.read().decode(errors="replace")


def sessions(stderr: str) -> int:
    """How many ObjectScript sessions the command ran (its debug log's ``script.start`` events)."""
    return stderr.count('"script.start"')


def medians_alternated(n: int, commands: dict[str, list[str]], env: dict) -> dict[str, float]:
    """The median wall time of ``n`` runs of each command, the commands taking turns: a change in
    the machine's load during the measure then weighs on all of them alike, not on one."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(n):
        for name, argv in commands.items():
            times[name].append(run_cli(argv, env)[0])
    return {name: statistics.median(values) for name, values in times.items()}


def spread(samples: list[float]) -> dict:
    """``{"seconds": median, "min", "max", "samples"}`` of repeated timings."""
    return {"seconds": round(statistics.median(samples), 3), "min": round(min(samples), 3),
            "max": round(max(samples), 3), "samples": [round(s, 3) for s in samples]}


def median_run(runs: list[dict], key: str = "wall") -> dict:
    """The run whose ``key`` is the median of ``runs`` (an odd number of them), with the others'
    spread beside it: ``wall_min``, ``wall_max`` and every run's ``wall_samples``."""
    ordered = sorted(runs, key=lambda r: r[key])
    middle = dict(ordered[len(ordered) // 2])
    middle.update({f"{key}_min": ordered[0][key], f"{key}_max": ordered[-1][key],
                   f"{key}_samples": [r[key] for r in runs]})
    return middle


def sha256_file(path: Path) -> str:
    """The file's sha256 with Python's hashlib in 4 MiB reads: the same hash, at the same speed,
    as iris-ops' own (``transports/hashsink``)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def ratio(a, b) -> float | None:
    if a is None or b is None or not b:
        return None
    return round(a / b, 3)


def machine() -> dict:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "memory": mem, "kernel": platform.release(), "python": platform.python_version()}
