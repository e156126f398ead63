"""The fleet's figure (issue 25): a backup on three targets at once against the slowest alone.

    .venv/bin/python bench/fleet.py                     # 3 hosts, a 64 MiB database each
    .venv/bin/python bench/fleet.py --size 256M --runs 5 --json /tmp/fleet.json

It starts a fleet on this machine (``iris-ops sim fleet up``: sshd on 127.0.0.2-4, two native
instances and one in a container when a Docker engine answers), gives every instance a filled
database ``BENCH`` of ``--size`` (its own namespace), then times, ``--runs`` times each, in the
fleet's directory as a user runs it:

* ``iris-ops backup --ns BENCH --target host-N`` for each host alone (one instance, no fan-out);
* ``iris-ops backup --ns BENCH --all-targets`` (the three at once, one process per target).

``fleet_over_slowest`` is the median of the three-target wall times over the largest of the
per-host medians (target <= 1.3: running three at once costs little more than the slowest one).

Every host of this fleet is this machine, so the three at once share its cores, and the run
also records the whole machine's busy CPU time (``/proc/stat``) of each run.  Three at once
cannot end before their CPU time over the cores: ``cpu_floor_over_slowest`` is that floor over
the slowest alone, the best ``fleet_over_slowest`` this machine allows whatever iris-ops does
(hosts on machines of their own, as a real fleet has, share nothing but the client).
It prints the figures and writes them to ``bench/results-fleet.json`` (``--json`` for another
file); ``sim fleet down`` removes the fleet at the end, after a failure too.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from measure import machine, parse_size, ratio  # noqa: E402  (bench/measure.py)
from targets import TARGETS  # noqa: E402  (bench/targets.py)

FIGURE = "fleet_over_slowest"


def busy_cpu_seconds() -> float:
    """The whole machine's CPU time since boot (``/proc/stat``): user, nice, system, irq and
    softirq.  Not idle or iowait, nor steal (time the hypervisor gave to others: no work of this
    run); guest time is counted in user already."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = (fields + [0] * 7)[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def iris_ops(*args, cwd: Path, cpu: list[float] | None = None) -> float:
    """Seconds ``iris-ops ARGS`` took; it must succeed.  ``cpu`` gets the machine's busy CPU
    seconds over the same span."""
    busy = busy_cpu_seconds()
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "iris_ops", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    took = time.monotonic() - began
    if cpu is not None:
        cpu.append(round(busy_cpu_seconds() - busy, 3))
    if done.returncode != 0:
        raise SystemExit(f"iris-ops {' '.join(map(str, args))} failed ({done.returncode}):\n{done.stdout}{done.stderr[-2000:]}")
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=3, help="hosts in the fleet (default 3)")
    parser.add_argument("--size", default="64M", help="size of each host's BENCH database (default 64M)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each backup (default 3; the median counts)")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results-fleet.json"), help="where the figures go")
    args = parser.parse_args(argv)
    size_mib = parse_size(args.size)
    started = datetime.datetime.now(datetime.timezone.utc)
    scratch = Path(tempfile.mkdtemp(prefix="iris-ops-bench-fleet-"))
    scratch.chmod(0o755)
    where = scratch / "fleet"
    up = subprocess.run([sys.executable, "-m", "iris_ops", "sim", "fleet", "up", "--hosts", str(args.hosts),
                         "--dir", str(where)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if up.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        raise SystemExit(f"sim fleet up failed ({up.returncode}): {up.stderr[-2000:]}")
    try:
        from iris_ops_sim.fleet import open_fleet

        fleet = open_fleet(where)
        for host in fleet.hosts:
            fleet.instance(host).create_database("BENCH", size_mb=size_mib, namespace="BENCH", fill=True)
        out = scratch / "out"
        alone: dict[str, list[float]] = {h.name: [] for h in fleet.hosts}
        together: list[float] = []
        alone_cpu: dict[str, list[float]] = {h.name: [] for h in fleet.hosts}
        together_cpu: list[float] = []
        for run in range(args.runs):  # alternated, so that a slower minute weighs on both alike
            for host in fleet.hosts:
                alone[host.name].append(iris_ops("backup", "--ns", "BENCH", "--out", out / f"{host.name}-{run}",
                                                 "--target", host.name, cwd=where, cpu=alone_cpu[host.name]))
            together.append(iris_ops("backup", "--ns", "BENCH", "--out", out / f"all-{run}", "--all-targets", cwd=where,
                                     cpu=together_cpu))
            shutil.rmtree(out)
    finally:
        down = subprocess.run([sys.executable, "-m", "iris_ops", "sim", "fleet", "down", "--dir", str(where)],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        shutil.rmtree(scratch, ignore_errors=True)
        if down.returncode != 0:
            print(f"sim fleet down failed ({down.returncode}): {down.stderr[-2000:]}", file=sys.stderr)
    medians = {name: round(statistics.median(times), 3) for name, times in alone.items()}
    slowest = max(medians, key=medians.get)
    figure = ratio(statistics.median(together), medians[slowest])
    op, bound = TARGETS[FIGURE]
    cores = os.cpu_count() or 1
    floor = statistics.median(together_cpu) / cores
    figures = {
        FIGURE: figure,
        "targets": {FIGURE: f"{op} {bound}"},
        "met": None if figure is None else (figure <= bound if op == "<=" else figure >= bound),
        "all_targets_s": {"median": round(statistics.median(together), 3), "runs": [round(t, 3) for t in together]},
        "alone_s": {name: {"median": medians[name], "runs": [round(t, 3) for t in alone[name]]} for name in medians},
        # the machine's busy CPU seconds of each run, and the floor they set on this machine
        "machine_cpu_s": {"all_targets": together_cpu, **alone_cpu},
        "cpu_floor_s": round(floor, 3),
        "cpu_floor_over_slowest": ratio(floor, medians[slowest]),
        "slowest": slowest,
        "hosts": [{"name": h.name, "instance": h.kind} for h in fleet.hosts],
        "size_mib": size_mib,
        "runs": args.runs,
        # on a machine others use, the figure says little: the load says how busy it was
        "machine": {**machine(), "load_average": [round(x, 2) for x in os.getloadavg()]},
        "started": started.isoformat(timespec="seconds"),
    }
    kinds = ", ".join(f"{h.name} {h.kind}" for h in fleet.hosts)
    print(f"{args.hosts} hosts ({kinds}), a {size_mib} MiB database each, median of {args.runs} runs")
    for name in medians:
        print(f"  backup --target {name:<8} {medians[name]:6.2f} s" + ("  (slowest)" if name == slowest else ""))
    print(f"  backup --all-targets     {figures['all_targets_s']['median']:6.2f} s"
          f"  ({statistics.median(together_cpu):.2f} s of CPU: on {cores} cores no less than {floor:.2f} s)")
    print(f"cpu_floor_over_slowest = {figures['cpu_floor_over_slowest']} (the best this machine allows)")
    print(f"{FIGURE} = {figure} (target {op} {bound}: {'met' if figures['met'] else 'not met'})")
    Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
