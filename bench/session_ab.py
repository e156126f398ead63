"""A/B: the simulator's start-up in a container, this checkout against another copy of irissim.

    .venv/bin/python bench/session_ab.py OTHER_IRISSIM_DIR [--runs 20]

Builds one image per source tree, starts one container of each and alternates the measurements
(so that load from other processes hits both alike); prints min and median of the in-container
`import irissim.iris` and of a whole `iris session` round trip (Write 1, Halt).
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

PROBE = ("import sys, time; sys.path.insert(0, '/usr/irissys/sim'); t = time.perf_counter(); "
         "import irissim.iris; print(time.perf_counter() - t)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("other")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with dockerd.engine() as eng:
        client = eng.client()
        trees = {"this": image.SOURCE_DIR, "other": Path(args.other)}
        containers = {}
        try:
            for label, tree in trees.items():
                ref = image.ensure_image(client, lock_dir=eng.lock_dir, source_dir=tree)
                containers[label] = simcontainer.run_container(client, eng.url, ref, f"iris-ops-ab-{label}-{uuid.uuid4().hex[:6]}")
            imports = {k: [] for k in trees}
            sessions = {k: [] for k in trees}
            for _ in range(args.runs):
                for label, sc in containers.items():
                    code, out, _ = sc.exec(["/usr/local/bin/python3", "-c", PROBE])
                    imports[label].append(float(out) * 1000)
                    t = time.perf_counter()
                    code, out, err = sc.exec(["iris", "session", "IRIS", "-U", "%SYS"], stdin=b"Write 1,!\nHalt\n")
                    sessions[label].append((time.perf_counter() - t) * 1000)
                    assert code == 0, err
            for label in trees:
                print(f"{label:6} import irissim.iris min {min(imports[label]):6.1f} median {statistics.median(imports[label]):6.1f} ms;"
                      f" iris session min {min(sessions[label]):6.1f} median {statistics.median(sessions[label]):6.1f} ms")
        finally:
            for sc in containers.values():
                sc.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
