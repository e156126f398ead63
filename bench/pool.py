"""The warm pool's figure: how long a test waits for a namespace from a pool of four, as the
pytest plugin's pool (``--iris-pool``) hands them out.

    .venv/bin/python bench/pool.py                          # 100 acquisitions, pool of 4
    .venv/bin/python bench/pool.py --acquisitions 20 --json /tmp/pool.json

It uses bench/run.py's test bed (a reachable Docker engine or a private dockerd, the
``iris-ops-sim`` image built from this checkout, one container of it), makes a fixture of a small
database (``--size``, with a table of rows), and drives :class:`iris_ops.pytest_pool.NamespacePool`
directly, with the real ``iris-ops`` processes behind it.  The pool is warmed with the fixture and
fills; then each acquisition takes a namespace, holds it for ``--hold`` seconds (by default the
median of the restores that filled the pool: a test that takes as long as its restore, where a
pool should hide the restores entirely) and gives it back, which deletes it in the background.
The wait of each acquisition is the figure: ``pool_acquire_p50_ms`` and ``pool_acquire_p95_ms``,
with the hits and misses.  It prints them, and ``--json FILE`` keeps them; bench/results.json is
bench/run.py's.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (bench/run.py: the benchmark's test bed)
from run import Bench  # noqa: E402

from iris_ops.pytest_pool import NamespacePool  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acquisitions", type=int, default=100, help="namespaces taken (default 100)")
    parser.add_argument("--pool", type=int, default=4, help="namespaces kept ready (default 4)")
    parser.add_argument("--size", default="8M", help="size of the fixture's database (default 8M)")
    parser.add_argument("--hold", type=float, default=None,
                        help="seconds each namespace is held (default: the median restore of the fill)")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args(argv)
    args.size_mib = run.parse_size(args.size)
    started = datetime.datetime.now(datetime.timezone.utc)
    with run.bench_container("iris-ops-bench-pool-") as (work, eng, _, sc):
        b = Bench(args, eng, sc, work)
        sc.instance.create_database("SMALL", size_mb=args.size_mib, namespace="SMALL")
        b.sql("SMALL", "CREATE TABLE Demo.Account (Name VARCHAR(50), Balance NUMERIC(10,2))")
        for k in range(20):
            b.sql("SMALL", f"INSERT INTO Demo.Account (Name, Balance) VALUES ('n{k}', {k})")
        fixture = work / "fx-small"
        b.backup("SMALL", fixture)
        counter = itertools.count(1)
        env = dict(b.env, IRIS_OPS_LOG_LEVEL="info")
        pool = NamespacePool(args.pool, lambda: f"POOL_{next(counter)}", env, str(work))
        try:
            pool.warm("small", str(fixture))
            while pool.ready("small") < args.pool:
                time.sleep(0.05)
            [state] = pool.fixtures()
            fill = [r.seconds for r in state.restores]
            hold = statistics.median(fill) if args.hold is None else args.hold
            waits, hits = [], 0
            began = time.monotonic()
            for _ in range(args.acquisitions):
                got = pool.acquire("small", str(fixture))
                waits.append(got.waited)
                hits += got.hit
                time.sleep(hold)
                pool.release(got.namespace.name)
            wall = time.monotonic() - began
        finally:
            pool.close()
        restores = [r.seconds for r in state.restores]
    figures = {
        "pool_acquire_p50_ms": round(percentile(waits, 0.50) * 1000, 3),
        "pool_acquire_p95_ms": round(percentile(waits, 0.95) * 1000, 3),
        "pool_acquire_max_ms": round(max(waits) * 1000, 3),
        "hits": hits, "misses": args.acquisitions - hits,
        "acquisitions": args.acquisitions, "pool": args.pool, "parallel": pool.parallel,
        "hold_s": round(hold, 3), "restore_median_s": round(statistics.median(restores), 3),
        "restores": len(restores), "fill_restores_s": [round(s, 3) for s in fill],
        "wall_s": round(wall, 3), "size_mib": args.size_mib, "errors": pool.errors,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "started": started.isoformat(timespec="seconds"),
    }
    print(f"\npool of {args.pool}, {args.acquisitions} acquisitions, each held {hold:.2f} s "
          f"(median restore {figures['restore_median_s']:.2f} s, {pool.parallel} background processes)")
    print(f"wait for a namespace: p50 {figures['pool_acquire_p50_ms']:.2f} ms, p95 {figures['pool_acquire_p95_ms']:.2f} ms, "
          f"max {figures['pool_acquire_max_ms']:.2f} ms; {hits} hits, {figures['misses']} misses")
    if pool.errors:
        print(f"errors: {pool.errors}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
