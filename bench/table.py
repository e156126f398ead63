"""Markdown tables for the README from bench/run.py's JSON files.

    .venv/bin/python bench/table.py bench/results.json [more.json ...]

The first file is described in the heading; it and every other run of its size give a column of
the targets table; every file gives a row of the sizes table.
"""

from __future__ import annotations

import json
import sys


def fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(paths: list[str]) -> int:
    results = [json.loads(open(p).read()) for p in paths]
    first = results[0]
    raw, m = first["raw"], first["machine"]
    print(f"{first['date']}, {first['size_mib']} MiB: {m['nproc']} cores, {m['memory']} memory, kernel {m['kernel']}, "
          f"Docker {raw['engine']['version']} ({raw['engine']['storage_driver']}), Python {m['python']}\n")
    # every run of the first file's size gets a column (the first is the one described above)
    runs = [r for r in results if r["size_mib"] == first["size_mib"]]
    head = " | ".join(f"{r['date'][11:16]} run" for r in runs)
    print(f"| ratio | target | {head} |\n|---|---|{'---|' * len(runs)}")
    for name in first["ratios"]:
        cells = []
        for r in runs:
            value, met = r["ratios"][name], r["met"][name]
            cells.append(f"{fmt(value)}" + ("" if met is None or met else " **no**"))
        print(f"| {name} | {first['targets'][name]} | {' | '.join(cells)} |")
    print()
    print("Times in seconds.\n")
    print("| size | hash | archive read | archive write | container cp | backup (window) | validate | restore | "
          "clone | docker-cp method | peak RSS |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(results, key=lambda r: (r["size_mib"], r["date"])):
        w = r["raw"]
        rss = r["ratios"]["peak_rss_mib"]
        print(f"| {r['size_mib']} MiB ({r['date'][11:16]}) | {fmt(w['hash_seconds'])} | {fmt(w['archive_read_seconds'])} | "
              f"{fmt(w['archive_write_seconds'])} | {fmt(w['container_cp_seconds'])} | "
              f"{fmt(w['backup']['wall'])} ({fmt(w['backup']['window'])}) | {fmt(w['validate']['wall'])} | "
              f"{fmt(w['restore']['wall'])} | {fmt(w['clone']['wall'])} | "
              f"{fmt((w.get('docker_cp_method') or {}).get('total'))} | {rss:.0f} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
