"""What each process of the simulated IRIS costs to start: wall and CPU time per process.

    .venv/bin/python bench/sim_start.py [--runs 20] [--no-container] [--importtime]

Measures, in a host install (HostSim, the local transport's instance) and, when an engine
answers, in a container of the iris-ops-sim image built from this checkout:

* ``python -c pass`` with the interpreter and flags of the ``iris`` launcher's first line;
* ``import irissim.iris`` in such a process, set up as the launcher sets it up;
* ``iris session IRIS -U %SYS`` running ``Write 1`` (a trivial session) and one calling a class method;
* ``iris-sim listing``.

Each figure is the median of ``--runs`` processes, the cases alternated so that load from other
processes hits them alike: wall time, and CPU time (user + system) from
``resource.getrusage(RUSAGE_CHILDREN)`` of the process that started them.  The same measuring
script runs on the host and, through ``docker exec``, inside the container, so that the CPU is
the measured process's own.  ``--importtime`` adds the largest imports of a trivial session.
To compare with other sources, run it with ``PYTHONPATH=<other checkout>/plugins/iris-ops-sim/src``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iris_ops_sim import engines, image, simcontainer  # noqa: E402

#: Runs the cases given as JSON (name, argv, stdin) and prints their times; sent as ``python3 -c``.
MEASURE = r"""
import json, resource, subprocess, sys, time
cases, runs = json.loads(sys.argv[1]), int(sys.argv[2])
times = {name: {"wall": [], "cpu": []} for name, _, _ in cases}
for _ in range(runs):
    for name, argv, stdin in cases:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run(argv, input=stdin.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"{name}: exit status {done.returncode}: {done.stderr.decode(errors='replace')}")
        times[name]["wall"].append(wall)
        times[name]["cpu"].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
print(json.dumps(times))
"""

TRIVIAL = "Write 1,!\nHalt\n"
CLASS_METHOD = 'Write ##class(Config.Namespaces).Exists("USER"),!\nHalt\n'


def cases(launcher_text: str, iris: str, iris_sim: str) -> list[tuple[str, list[str], str]]:
    """The measured processes, from the ``iris`` launcher's text (its interpreter and flags, and
    its set-up before it imports the simulator)."""
    interpreter = launcher_text.splitlines()[0][2:].split()
    setup = launcher_text[: launcher_text.index("from irissim.iris import")]
    session = [iris, "session", "IRIS", "-U", "%SYS"]
    return [
        ("python -c pass (the launcher's interpreter)", [*interpreter, "-c", "pass"], ""),
        ("import irissim.iris", [*interpreter, "-c", setup + "import irissim.iris\n"], ""),
        ("iris session: Write 1", session, TRIVIAL),
        ("iris session: a class method", session, CLASS_METHOD),
        ("iris-sim listing", [iris_sim, "listing"], ""),
    ]


def top_imports(stderr: str, at_least_us: int = 2000) -> list[str]:
    """The imports of ``-X importtime`` output that took at least ``at_least_us`` (cumulative)."""
    rows = []
    for line in stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:") and parts[1].strip().isdigit():
            if int(parts[1]) >= at_least_us:
                rows.append(f"{int(parts[1]) / 1000:6.1f} ms {parts[2].rstrip()}")
    return rows


def on_host(runs: int, importtime: bool) -> dict:
    home = Path(tempfile.mkdtemp(prefix="iris-ops-bench-"))
    try:
        sim = simcontainer.HostSim(home).install()
        measured = cases(sim.iris_command.read_text(), str(sim.iris_command), str(sim.ctl_command))
        for _, argv, stdin in measured:  # the bytecode cache fills on the first run
            subprocess.run(argv, input=stdin.encode(), capture_output=True, check=True)
        done = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(measured), str(runs)],
                              capture_output=True, text=True, check=True)
        if importtime:
            traced = subprocess.run(measured[2][1], input=TRIVIAL, capture_output=True, text=True,
                                    env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
            print("host, imports of a trivial session (cumulative):", *top_imports(traced.stderr), sep="\n   ")
        return json.loads(done.stdout)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def in_container(url: str, runs: int, importtime: bool) -> dict:
    client = engines.client_for(url, 120)
    ref = image.ensure_image(client)
    sc = simcontainer.run_container(client, url, ref, f"iris-ops-bench-{uuid.uuid4().hex[:8]}")
    try:
        code, text, err = sc.exec(["cat", "/usr/bin/iris"])
        assert code == 0, err
        measured = cases(text.decode(), "iris", "iris-sim")
        code, out, err = sc.exec([image.IMAGE_PYTHON, "-c", MEASURE, json.dumps(measured), str(runs)])
        assert code == 0, err
        if importtime:
            code, _, traced = sc.exec(["env", "PYTHONPROFILEIMPORTTIME=1", *measured[2][1]], stdin=TRIVIAL.encode())
            print("container, imports of a trivial session (cumulative):", *top_imports(traced.decode()), sep="\n   ")
        return json.loads(out)
    finally:
        sc.remove()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-container", action="store_true", help="the host install only")
    parser.add_argument("--importtime", action="store_true", help="also list the largest imports of a session")
    args = parser.parse_args()
    places = {"host": on_host(args.runs, args.importtime)}
    url = None if args.no_container else engines.probe(2.0)[0]
    if url is not None:
        places["container"] = in_container(url, args.runs, args.importtime)
    elif not args.no_container:
        print("no container figures: no engine answers")

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:6.1f}"

    print(f"\nmedians of {args.runs} processes, ms" + "".join(f" | {p + ' wall':>15} | {p + ' CPU':>14}" for p in places))
    for name in next(iter(places.values())):
        print(f"{name:44}" + "".join(f" | {ms(t[name]['wall']):>15} | {ms(t[name]['cpu']):>14}" for t in places.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
