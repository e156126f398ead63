"""Markdown tables for the README from bench/run.py's JSON files.

    .venv/bin/python bench/table.py bench/results.json [more.json ...]   print them
    .venv/bin/python bench/table.py --readme                           rewrite the README's block

The first file is described in the heading; every file gives a column of the targets table (the
summary below it says which targets every run met) and a row per storage of the sizes table.
The README's block sits between ``<!-- bench:table FILES -->`` and ``<!-- /bench:table -->``; ``--readme`` renders it again from the files its opening marker names.
tests/test_docs.py fails when the block differs from what this renders from the committed files:
the figures in the README are never typed by hand.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- bench:table (?P<files>[^>]*?) -->\n(?P<body>.*?)<!-- /bench:table -->", re.S)


def fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _run_name(result: dict) -> str:
    return f"{result['size_mib']} MiB ({result['date'][11:16]})"


def _met_summary(runs: list[dict], first: dict) -> list[str]:
    """Which targets every run met, which only some did, which none (a target a run could not
    measure, such as the 4 GiB clone of a run at another size, is left out of that run)."""
    every, some, none = [], [], []
    for name in first["targets"]:
        met = [r for r in runs if r["met"].get(name)]
        known = [r for r in runs if r["met"].get(name) is not None]
        if not known:
            continue
        if len(met) == len(known):
            every.append(f"`{name}`")
        elif met:
            some.append(f"`{name}` ({', '.join(_run_name(r) for r in met)})")
        else:
            none.append(f"`{name}`")
    lines = [f"Targets met in every run that measured them: {', '.join(every) or 'none'}."]
    if len(runs) > 1:
        lines.append(f"Met in some runs only: {', '.join(some) or 'none'}.")
    lines.append(f"Met in no run: {', '.join(none) or 'none'}.")
    return lines


def render(paths: list[str]) -> str:
    results = [json.loads((ROOT / p).read_text(encoding="utf-8")) for p in paths]
    first = results[0]
    raw, m = first["raw"], first["machine"]
    out = ["Runs: " + "; ".join(f"`{p}` ({r['size_mib']} MiB, {r['date'][:10]} {r['date'][11:16]})"
                                for p, r in zip(paths, results)) + ".", ""]
    out += [f"{first['date']}, {first['size_mib']} MiB: {m['nproc']} cores, {m['memory']} memory, kernel {m['kernel']}, "
            f"Docker {raw['engine']['version']} ({raw['engine']['storage_driver']}), Python {m['python']}", ""]
    # every file gets a column, in the order the marker names them (the first is described above)
    runs = results
    head = " | ".join(_run_name(r) for r in runs)
    out += [f"| ratio | target | {head} |", f"|---|---|{'---|' * len(runs)}"]
    for name in first["ratios"]:
        cells = []
        for r in runs:
            value, met = r["ratios"].get(name), r["met"].get(name)
            cells.append(f"{fmt(value)}" + ("" if met is None or met else " **no**"))
        out.append(f"| {name} | {first['targets'].get(name, '-')} | {' | '.join(cells)} |")
    out += ["", *_met_summary(runs, first), "", "Times in seconds.", ""]
    out += ["| size, storage | hash | archive read | archive write | container cp | backup (window) | validate | "
            "restore --no-cache | first restore | clone | docker-cp method | peak RSS |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r["size_mib"], r["date"])):
        # plain storage and XFS side by side: a row each (a run before the XFS half: plain only)
        for storage, half in (r.get("storage") or {"plain": r}).items():
            w = half["raw"]
            rss = half["ratios"]["peak_rss_mib"]
            fill = (w.get("restore_fill") or {}).get("wall")
            out.append(f"| {r['size_mib']} MiB, {storage} ({r['date'][11:16]}) | {fmt(w['hash_seconds'])} | "
                       f"{fmt(w['archive_read_seconds'])} | {fmt(w['archive_write_seconds'])} | "
                       f"{fmt(w['container_cp_seconds'])} | {fmt(w['backup']['wall'])} ({fmt(w['backup']['window'])}) | "
                       f"{fmt(w['validate']['wall'])} | {fmt(w['restore']['wall'])} | {fmt(fill)} | "
                       f"{fmt(w['clone']['wall'])} | {fmt((w.get('docker_cp_method') or {}).get('total'))} | "
                       f"{rss:.0f} MiB |")
    return "\n".join(out) + "\n"


def readme_block(text: str) -> tuple[list[str], str]:
    """(the files the README's block names, the block's body as it stands)."""
    found = BLOCK.search(text)
    if found is None:
        raise ValueError("README.md lacks <!-- bench:table FILES --> ... <!-- /bench:table -->")
    return found.group("files").split(), found.group("body")


def rewrite_readme(text: str) -> str:
    files, _ = readme_block(text)
    return BLOCK.sub(lambda m: f"<!-- bench:table {' '.join(files)} -->\n{render(files)}<!-- /bench:table -->", text, count=1)


def main(argv: list[str]) -> int:
    if argv == ["--readme"]:
        README.write_text(rewrite_readme(README.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"rewrote the benchmark block of {README.relative_to(ROOT)}")
        return 0
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(render(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
