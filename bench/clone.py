"""The clone figure alone: a restore that the fixture cache serves, alternated with in-container
copies, as bench/run.py measures it, at a size that takes a minute.

    .venv/bin/python bench/clone.py --size 128M
    .venv/bin/python bench/clone.py --size 1G --xfs     # the instance's data on XFS (root, xfsprogs)

Seeds one filled database, backs it up, restores it once (which fills the cache), then
alternates three in-container copies that stay with three clones.  Each clone reads its
fixture's file on this side while the instance copies the cached one: the table shows, per
clone, how long that hash took and how long the restore waited for it once the instance had
finished (0 when the check costs no wall time).  Nothing is written; ``--json FILE`` keeps the
figures.  With ``--xfs`` the instance keeps its data on an XFS filesystem that shares blocks
(a loop file, removed at the end), where the cache's copies are reflinks; the in-container
copies stay on the container's own filesystem.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (bench/run.py: the benchmark's own measures)
from run import Bench  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="128M", help="size of the filled database (default 128M)")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    parser.add_argument("--xfs", action="store_true", help="the instance's data on XFS (reflinks)")
    args = parser.parse_args(argv)
    args.size_mib = run.parse_size(args.size)
    with contextlib.ExitStack() as stack:
        data_dir = None
        if args.xfs:
            from iris_ops_sim import xfs

            volume = xfs.XfsVolume(size_mb=4 * args.size_mib + 1024).create()
            stack.callback(volume.remove)
            data_dir = volume.new_directory("bench")
        figures = measure(args, data_dir)
    return report(args, figures)


def measure(args, data_dir: Path | None) -> dict:
    with run.bench_container("iris-ops-bench-clone-", data_dir) as (work, eng, _, sc):
        b = Bench(args, eng, sc, work)
        big = sc.instance.create_database("BIG", size_mb=args.size_mib, namespace="BIG", fill=True)
        b.sql("BIG", "CREATE TABLE Marker (Name VARCHAR(20))")
        b.sql("BIG", "INSERT INTO Marker (Name) VALUES ('big')")
        run.os.sync()
        fixture = work / "fx-big"
        backup = b.backup("BIG", fixture)
        hash_seconds = round(run.timed(run.sha256_file, b.fixture_dat(fixture))[0], 3)
        first = b.restore(fixture, "R1")
        copies, clones = [], []
        for k in range(3):
            copies.append(b.container_cp(big + "IRIS.DAT", f"/tmp/bench-cp-{k}.DAT"))
            clones.append(b.restore(fixture, f"R{k + 2}"))
        b.exec(["rm", "-f", *(f"/tmp/bench-cp-{k}.DAT" for k in range(3))])
    return {"size_mib": args.size_mib, "storage": "xfs" if data_dir else "container", "sha256_on_the_host": hash_seconds,
            "backup": backup, "first_restore": first, "container_cp_samples": copies, "clone_samples": clones}


def report(args, figures: dict) -> int:
    clones, copies, hash_seconds = figures["clone_samples"], figures["container_cp_samples"], figures["sha256_on_the_host"]
    print(f"\nclone at {args.size_mib} MiB on {figures['storage']} storage; sha256 of the fixture's file on this "
          f"host alone: {hash_seconds:.3f} s; backup {figures['backup']['wall']:.3f} s (window "
          f"{figures['backup']['window']:.3f} s); first restore {figures['first_restore']['wall']:.3f} s")
    print(f"{'':10} {'wall':>8} {'check: hashing':>15} {'waited':>8} {'in-container cp':>16}")
    for n, (clone, cp) in enumerate(zip(clones, copies), 1):
        check = clone.get("fixture_check") or {}
        print(f"clone {n:<4} {clone['wall']:8.3f} {check.get('seconds', float('nan')):15.3f} "
              f"{check.get('waited', float('nan')):8.3f} {cp:16.3f}")
    print(f"median clone {statistics.median(c['wall'] for c in clones):.3f} s, in-container cp {statistics.median(copies):.3f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
