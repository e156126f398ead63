"""Cost of one simulated `iris session` in a container, and the simulator's import time there.

    .venv/bin/python bench/session_cost.py [--runs 15]

Starts (or reuses) an engine, builds the iris-ops-sim image from this checkout, runs one
container, and prints the median wall time of an `iris session` round trip (docker exec, the
session, Halt), of `iris-sim state`, and the top imports of `iris session` inside the container.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iris_ops_sim import dockerd, image, simcontainer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with dockerd.engine() as eng:
        client = eng.client()
        ref = image.ensure_image(client, lock_dir=eng.lock_dir)
        sc = simcontainer.run_container(client, eng.url, ref, f"iris-ops-bench-{uuid.uuid4().hex[:8]}")
        try:
            def timed(argv, stdin=None):
                times = []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    code, out, err = sc.exec(argv, stdin=stdin)
                    times.append(time.perf_counter() - t)
                    assert code == 0, (out, err)
                return statistics.median(times) * 1000

            true_ms = timed(["true"])
            py_ms = timed(["/usr/local/bin/python3", "-c", "pass"])
            session_ms = timed(["iris", "session", "IRIS", "-U", "%SYS"], stdin=b"Write 1,!\nHalt\n")
            sim_ms = timed(["iris-sim", "state"])
            probe = ("import sys, time; sys.path.insert(0, '/usr/irissys/sim'); t = time.perf_counter(); "
                     "import irissim.iris; print(time.perf_counter() - t)")
            imports = []
            for _ in range(args.runs):
                code, out, err = sc.exec(["/usr/local/bin/python3", "-c", probe])
                imports.append(float(out))
            print(f"import irissim.iris  {statistics.median(imports) * 1000:7.1f} ms (in the container, median)")
            print(f"exec true            {true_ms:7.1f} ms")
            print(f"python3 -c pass      {py_ms:7.1f} ms")
            print(f"iris session         {session_ms:7.1f} ms")
            print(f"iris-sim state       {sim_ms:7.1f} ms")
            code, out, err = sc.exec(
                ["/usr/local/bin/python3", "-X", "importtime", "/usr/bin/iris", "session", "IRIS", "-U", "%SYS"],
                stdin=b"Write 1,!\nHalt\n",
            )
            rows = []
            for line in err.decode().splitlines():
                parts = line.split("|")
                if len(parts) == 3 and parts[0].startswith("import time:") and parts[1].strip().isdigit():
                    rows.append((int(parts[0].split(":")[1]), parts[2].rstrip()))
            total = sum(r[0] for r in rows)
            print(f"imports (sum of self) {total/1000:.1f} ms; top-level cumulative:")
            for line in err.decode().splitlines():
                parts = line.split("|")
                if len(parts) == 3 and parts[0].startswith("import time:") and parts[1].strip().isdigit():
                    name = parts[2].rstrip()
                    if len(name) - len(name.lstrip()) <= 3 and int(parts[1]) > 3000:
                        print(f"   {int(parts[1])/1000:6.1f} ms {name}")
        finally:
            sc.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
