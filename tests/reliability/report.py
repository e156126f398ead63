"""Regenerate docs/RELIABILITY.md: run the whole fault matrix, record the message each case saw
in tests/reliability/results.json, and render the document from tests/reliability/matrix.py and
those messages.  The test suite never writes either file; tests/test_docs.py fails when the
document differs from what they say.

    python tests/reliability/report.py [-- PYTEST-ARGS...]   the matrix, then both files
    python tests/reliability/report.py --render               the document from the recorded messages

The matrix needs what the suite's Docker tests need (a reachable engine, or root to start a
private one); it runs on two pytest-xdist workers unless PYTEST-ARGS choose otherwise.  Nothing
is written unless every case ran and passed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: the package `reliability`, as pytest sees it

from reliability import matrix  # noqa: E402


def run_matrix(pytest_args: list[str]) -> dict[str, str]:
    """Every case's message from one full run of the matrix."""
    base = Path(tempfile.mkdtemp(prefix="iris-ops-matrix-"))
    try:
        workers = [] if any(a.startswith(("-n", "--numprocesses", "-p")) for a in pytest_args) else ["-n", "2"]
        argv = [sys.executable, "-m", "pytest", str(HERE / "test_fault_matrix.py"), "-k", "test_fault",
                f"--basetemp={base / 'run'}", *workers, *pytest_args]
        done = subprocess.run(argv, cwd=matrix.ROOT, check=False)
        if done.returncode != 0:
            raise SystemExit(f"the matrix failed (pytest exit {done.returncode}): nothing written")
        messages = {}
        for path in sorted((base / "run" / matrix.RECORDS).glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                messages[entry["id"]] = entry["message"]
        return messages
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--render", action="store_true", help="only render the document from results.json")
    parser.add_argument("pytest_args", nargs="*", help="after --: more pytest arguments")
    args = parser.parse_args(argv)
    messages = matrix.load_results() if args.render else run_matrix(args.pytest_args)
    text = matrix.render(messages)  # refuses a partial run before anything is written
    if not args.render:
        matrix.RESULTS.write_text(matrix.results_text(messages), encoding="utf-8")
        print(f"wrote {matrix.RESULTS.relative_to(matrix.ROOT)}")
    matrix.REPORT.write_text(text, encoding="utf-8")
    print(f"wrote {matrix.REPORT.relative_to(matrix.ROOT)} ({len(matrix.CASES)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
