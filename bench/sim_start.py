"""What each process of the simulated IRIS costs to start: wall and CPU time per process.

    .venv/bin/python bench/sim_start.py [--runs 20] [--no-container] [--importtime]

Measures, in a host install (HostSim, the local transport's instance) and, when an engine
answers, in a container of the iris-ops-sim image built from this checkout:

* ``python -c pass`` with the interpreter and flags of the ``iris`` launcher's first line;
* ``import irissim.iris`` in such a process, set up as the launcher sets it up;
* ``iris session IRIS -U %SYS`` running ``Write 1`` (a trivial session) and one calling a class method;
* ``iris-sim listing``.

Each place twice: the launchers alone (the host install without a fork server; root in the
container, whose launchers the server does not serve) and served by the fork server
(``irissim/forkserver.py``: the host install's ``HostSim.serve``, the instance owner in the
container).  Each figure over ``--runs`` processes, the cases alternated so that load from other
processes hits them alike: the median wall time, and the mean CPU time (user + system) from
``resource.getrusage(RUSAGE_CHILDREN)`` of the process that started them plus, served, what the
server's children used (its ``/proc`` stat's ``cutime`` and ``cstime``, in clock ticks: hence a
mean).  The same measuring script runs on the host and, through ``docker exec``, inside the
container, so that the CPU is the measured process's own (the engine's is not in it).  ``--importtime`` adds the largest imports of a trivial session.
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
import json, os, resource, subprocess, sys, time
cases, runs = json.loads(sys.argv[1]), int(sys.argv[2])
server = int(sys.argv[3]) if len(sys.argv) > 3 else 0
def served_cpu():
    # what the fork server's children used (reaped ones: the stat file's cutime and cstime)
    if not server:
        return 0.0
    with open(f"/proc/{server}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
times = {name: {"wall": [], "cpu": []} for name, _, _ in cases}
for _ in range(runs):
    for name, argv, stdin in cases:
        before, children = resource.getrusage(resource.RUSAGE_CHILDREN), served_cpu()
        began = time.perf_counter()
        done = subprocess.run(argv, input=stdin.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wall = time.perf_counter() - began
        time.sleep(0.005)  # the server reaps its child a moment after the launcher hears of it
        after, children = resource.getrusage(resource.RUSAGE_CHILDREN), served_cpu() - children
        if done.returncode != 0:
            sys.exit(f"{name}: exit status {done.returncode}: {done.stderr.decode(errors='replace')}")
        times[name]["wall"].append(wall)
        times[name]["cpu"].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime + children)
print(json.dumps(times))
"""

TRIVIAL = "Write 1,!\nHalt\n"
CLASS_METHOD = 'Write ##class(Config.Namespaces).Exists("USER"),!\nHalt\n'


def cases(launcher_text: str, iris: str, iris_sim: str) -> list[tuple[str, list[str], str]]:
    """The measured processes, from the ``iris`` launcher's text (its interpreter and flags, and
    its set-up before it imports the simulator)."""
    interpreter = launcher_text.splitlines()[0][2:].split()
    cut = "from irissim.forkclient" if "from irissim.forkclient" in launcher_text else "from irissim.iris import"
    setup = launcher_text[: launcher_text.index(cut)]  # up to where it asks the fork server
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


def on_host(runs: int, importtime: bool) -> dict[str, dict]:
    """The host install's figures: its launchers alone, and with its fork server (``served``)."""
    home = Path(tempfile.mkdtemp(prefix="iris-ops-bench-"))
    sim = simcontainer.HostSim(home)
    try:
        sim.install()
        measured = cases(sim.iris_command.read_text(), str(sim.iris_command), str(sim.ctl_command))
        for _, argv, stdin in measured:  # the bytecode cache fills on the first run
            subprocess.run(argv, input=stdin.encode(), capture_output=True, check=True)
        found = {}
        for place in ("host", "host served"):
            server = [str(sim.serve().server.pid)] if place == "host served" else []
            done = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(measured), str(runs), *server],
                                  capture_output=True, text=True, check=True)
            found[place] = json.loads(done.stdout)
        if importtime:
            sim.stop_serving()
            traced = subprocess.run(measured[2][1], input=TRIVIAL, capture_output=True, text=True,
                                    env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
            print("host, imports of a trivial session (cumulative):", *top_imports(traced.stderr), sep="\n   ")
        return found
    finally:
        sim.stop_serving()
        shutil.rmtree(home, ignore_errors=True)


def in_container(url: str, runs: int, importtime: bool) -> dict[str, dict]:
    """The container's figures: as root, whose launchers run alone, and as the instance owner,
    whose launchers the container's fork server serves (``served``)."""
    client = engines.client_for(url, 120)
    ref = image.ensure_image(client)
    sc = simcontainer.run_container(client, url, ref, f"iris-ops-bench-{uuid.uuid4().hex[:8]}")
    try:
        code, text, err = sc.exec(["cat", "/usr/bin/iris"])
        assert code == 0, err
        measured = cases(text.decode(), "iris", "iris-sim")
        code, out, err = sc.exec(["ps", "-o", "pid,args"])
        server = next(line.split()[0] for line in out.decode().splitlines()[1:]
                      if "iris-sim daemon" in line and line.split()[0] != "1")
        found = {}
        for place, user, extra in (("container", "root", []), ("container served", None, [server])):
            code, out, err = sc.exec([image.IMAGE_PYTHON, "-c", MEASURE, json.dumps(measured), str(runs), *extra],
                                     user=user)
            assert code == 0, err
            found[place] = json.loads(out)
        if importtime:
            code, _, traced = sc.exec(["env", "PYTHONPROFILEIMPORTTIME=1", *measured[2][1]], stdin=TRIVIAL.encode(),
                                      user="root")
            print("container, imports of a trivial session (cumulative):", *top_imports(traced.decode()), sep="\n   ")
        return found
    finally:
        sc.remove()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-container", action="store_true", help="the host install only")
    parser.add_argument("--importtime", action="store_true", help="also list the largest imports of a session")
    args = parser.parse_args()
    places = on_host(args.runs, args.importtime)
    url = None if args.no_container else engines.probe(2.0)[0]
    if url is not None:
        places.update(in_container(url, args.runs, args.importtime))
    elif not args.no_container:
        print("no container figures: no engine answers")

    def ms(values: list[float], average=statistics.median) -> str:
        return f"{average(values) * 1000:6.1f}"

    print(f"\n{args.runs} processes each, ms: wall (median), CPU (mean: the fork server's children are "
          "counted in clock ticks)")
    for place, times in places.items():
        print(f"\n{place}")
        for name, measured in times.items():
            print(f"  {name:44} | wall {ms(measured['wall']):>7} | CPU {ms(measured['cpu'], statistics.mean):>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
