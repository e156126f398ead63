"""Throughput and client memory of write_file / read_file against the simulated engine.

    python bench/transfer.py [--size-mib 1024] [--in-thread] [--keep]

The engine runs in a separate process (``python -m iris_ops.testing.engine --home DIR``) so that
the figures are the client's alone: peak RSS is this process's ``ru_maxrss``, reported as the
rise over its baseline after imports and connecting.  ``--in-thread`` serves the engine inside
this process instead (RSS then includes the engine).  Target: client peak RSS rise under
80 MiB for a 1 GiB file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from iris_ops.transports import docker_exec, docker_files  # noqa: E402

MiB = 1 << 20
CONTAINER = "bench"


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_source(path: Path, size: int) -> str:
    block = os.urandom(MiB)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            piece = block[: min(MiB, left)]
            f.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


def start_engine(home: Path, in_thread: bool):
    if in_thread:
        from iris_ops.testing.engine import SimEngine

        engine = SimEngine(home).start()
        engine.add_container(CONTAINER)
        return engine.base_url, engine.stop
    log = open(home / "engine.stderr", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "iris_ops.testing.engine", "--home", str(home), "--container", CONTAINER],
        stderr=log,
    )
    sock = home / "engine.sock"
    deadline = time.monotonic() + 30
    while not (home / "engine.pid").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"engine did not start; see {home / 'engine.stderr'}")
        time.sleep(0.05)

    def stop() -> None:
        proc.terminate()
        proc.wait(10)
        log.close()

    return f"unix://{sock}", stop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--in-thread", action="store_true", help="serve the engine in this process")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--dir", default="/tmp",
                        help="where the source, the copy and the simulator home live (/dev/shm takes the disk out)")
    args = parser.parse_args()
    size = args.size_mib * MiB

    work = Path(tempfile.mkdtemp(prefix="iris-ops-bench-", dir=args.dir))
    home = work / "sim"
    home.mkdir()
    try:
        src = work / "source.dat"
        expected = make_source(src, size)
        base_url, stop = start_engine(home, args.in_thread)
        try:
            api = docker_exec.connect(base_url, timeout=60)
            docker_exec.exec_command(api, CONTAINER, ["true"], deadline=time.monotonic() + 30)  # warm up
            baseline = maxrss_mib()

            t, c = time.perf_counter(), cpu_s()
            sent = docker_files.write_file(
                api, CONTAINER, src, "/usr/irissys/mgr/bench/IRIS.DAT", size=size, deadline=time.monotonic() + 600
            )
            write_s, write_cpu = time.perf_counter() - t, cpu_s() - c
            after_write = maxrss_mib()

            dest = work / "copy.dat"
            t, c = time.perf_counter(), cpu_s()
            with open(dest, "wb") as out:
                got = docker_files.read_file(
                    api, CONTAINER, "/usr/irissys/mgr/bench/IRIS.DAT", out, deadline=time.monotonic() + 600
                )
            read_s, read_cpu = time.perf_counter() - t, cpu_s() - c
            after_read = maxrss_mib()
        finally:
            stop()

        ok = sent.sha256 == got.sha256 == expected and sent.bytes == got.bytes == size
        where = "in this process (RSS includes the engine)" if args.in_thread else "in a separate process"
        print(f"file size            {args.size_mib} MiB in {args.dir}; engine {where}")
        print(f"write_file           {args.size_mib / write_s:8.0f} MiB/s  ({write_s:.2f} s, client CPU {write_cpu:.2f} s)")
        print(f"read_file            {args.size_mib / read_s:8.0f} MiB/s  ({read_s:.2f} s, client CPU {read_cpu:.2f} s)")
        print(f"client RSS baseline  {baseline:8.1f} MiB (after imports and connect)")
        print(f"peak RSS rise        {after_write - baseline:8.1f} MiB during write_file")
        print(f"peak RSS rise        {max(after_read, after_write) - baseline:8.1f} MiB after read_file (peak so far)")
        print(f"sha256 round trip    {'ok' if ok else 'MISMATCH'} {got.sha256}")
        verdict = max(after_read, after_write) - baseline < 80
        print(f"target (<80 MiB)     {'met' if verdict else 'MISSED'}")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
