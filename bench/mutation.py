"""Mutation testing of the pure-logic modules: run mutmut, then write its summary.

    .venv/bin/pip install -e '.[test,mutation]' -c .ci/constraints.txt   # once, with:
    .venv/bin/pip install -e plugins/iris-ops-security -e 'plugins/iris-ops-sim[syntax]' -c .ci/constraints.txt
    .venv/bin/python bench/mutation.py run        # mutmut from scratch (about an hour on 2 cores), then report
    .venv/bin/python bench/mutation.py rerun 'iris_ops.state.*'   # the not-killed of those modules again
    .venv/bin/python bench/mutation.py report     # bench/mutation.json and docs/MUTATION.md from mutants/
    .venv/bin/python bench/mutation.py render     # docs/MUTATION.md from bench/mutation.json alone

What is mutated, and which tests run against each mutant, is ``[tool.mutmut]`` in pyproject.toml:
fast unit tests only (no Docker, no xdist).  ``run`` starts from an empty ``mutants/`` so that no
verdict of an earlier run (or of other tests) survives into the summary, and checks before it
writes anything that the tests ran the mutated copy: mutmut's own forced-failure run, and a
canary mutant of :func:`iris_ops.versions.parse` that the tests must kill.

A surviving mutant is a missing test, or an equivalent mutant that no test can tell from the
original.  The second kind is explained one by one in bench/mutation_equivalent.toml (keyed by
the mutant's name, with the change it makes, so that an explanation goes stale when the code
moves); ``report`` refuses to finish while a survivor has no explanation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "mutation.json"
EXPLAINED = ROOT / "bench" / "mutation_equivalent.toml"
DOC = ROOT / "docs" / "MUTATION.md"
BEGIN, END = "<!-- mutation:begin (bench/mutation.py render) -->", "<!-- mutation:end -->"
#: A killed mutant that must be killed: without it the tests did not import the mutated copy.
CANARY = ("iris_ops/versions.py", "-    if not match:", "+    if match:")
#: mutmut's exit codes: what each means here.  A timeout or a crash of the test run is a detection.
KILLED = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          -11: "crashed", -9: "crashed"}
UNDETECTED = {0: "survived", 33: "no tests", 5: "no tests", 34: "skipped", 35: "suspicious", None: "not run"}
MIN_TOTAL, MIN_MODULE = 0.85, 0.75


def _mutmut() -> str:
    return str(Path(sys.executable).with_name("mutmut"))


#: The order of a run, so that a run stopped early still says something about every module: the
#: small modules whole, then tarstream, fixture/, objectscript and the desired state (state/ and its
#: builders), then a fixed quarter of every
#: mutant not run yet (the script builders', in a fresh run; chosen by a hash of their names, so
#: the same quarter every time), then the rest.
GROUPS = [
    ("iris_ops.versions.*", "iris_ops.redact.*", "iris_ops.names.*", "iris_ops.flags.*", "iris_ops.datlabel.*",
     "iris_ops.config.*"),
    ("iris_ops.tarstream.*",), ("iris_ops.fixture.*",), ("iris_ops.objectscript.*",),
    ("iris_ops.state.*", "iris_ops.script_builders.state.*", "iris_ops.script_builders.state_changes.*"),
]


def _sample(name: str, parts: int = 4) -> bool:
    """Whether ``name`` is in the fixed 1/``parts`` of the mutants (the eighth is part of the quarter)."""
    return int(hashlib.sha1(name.encode()).hexdigest(), 16) % parts == 0


def _unrun(wanted) -> list[str]:
    """The mutants in mutants/ without a verdict whose names ``wanted`` accepts."""
    from mutmut.mutation.data import SourceFileMutationData

    names = []
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        data = SourceFileMutationData(path=str(meta.relative_to(ROOT / "mutants"))[: -len(".meta")])
        data.load()
        names += [n for n, code in data.exit_code_by_key.items() if code is None and wanted(n)]
    return names


#: The largest file mutmut and the tests it runs may write.  A mutant of a writer's loop can write
#: without end: one of ``fixture.newfile`` filled 55 GB of pytest's temporary directory, and the
#: disk, on 2026-12-06.  Past the limit a write fails (Python ignores SIGXFSZ: OSError EFBIG), so
#: such a mutant's test fails and it counts as killed.  The limit is on a file's size, not on the
#: blocks it holds: the selection's largest file is sparse, one byte at 5 GiB (a writeback range
#: past 4 GiB, tests/test_fixture_newfile.py).
MAX_FILE_BYTES = 8 << 30


def _limit_file_size() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))


def _mutmut_run(names: list[str], max_children: int) -> None:
    # mutmut runs every mutant it is given by name again, verdict or not: only ever name unrun ones
    done = subprocess.run([_mutmut(), "run", "--max-children", str(max_children), *names], stdin=subprocess.DEVNULL,
                          preexec_fn=_limit_file_size)
    if done.returncode != 0:
        raise SystemExit(f"mutmut run failed (exit {done.returncode}): run `bench/mutation.py report` for what ran")


def run(max_children: int, fresh: bool) -> None:
    """mutmut over every group in order (from an empty mutants/ with ``fresh``), then report."""
    os.chdir(ROOT)
    if fresh or not (ROOT / "mutants").exists():
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        # the first run makes mutants/ (every mutant, no verdicts) and runs the first group
        _mutmut_run(list(GROUPS[0]), max_children)
    groups = [lambda n, g=g: any(fnmatch.fnmatch(n, p) for p in g) for g in GROUPS]
    for wanted in [*groups, _sample, lambda n: not _sample(n)]:
        names = _unrun(wanted)
        if names:
            _mutmut_run(names, max_children)
    report()


def rerun(patterns: list[str], fresh_stats: bool, max_children: int) -> None:
    """mutmut again on every mutant of the modules ``patterns`` name (``iris_ops.state.*``) that
    was not killed (survived, no tests): after tests were added for them.  ``fresh_stats``: which
    tests call each function is collected again first; mutmut collects it for new tests only, so a
    change of the code that makes other tests reach a function (a factory now called at run time)
    needs it.  Then report."""
    from mutmut.mutation.data import SourceFileMutationData

    os.chdir(ROOT)
    if fresh_stats:
        (ROOT / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    names = []
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        path = str(meta.relative_to(ROOT / "mutants"))[: -len(".meta")]
        module = path[: -len(".py")].replace("/", ".")
        if not any(fnmatch.fnmatch(module, p) for p in patterns):
            continue
        data = SourceFileMutationData(path=path)
        data.load()
        names += [n for n, code in data.exit_code_by_key.items() if code is not None and code not in KILLED]
    if names:
        _mutmut_run(names, max_children)
    report()


def _changes(name: str, path: str) -> list[str]:
    """The lines a mutant removes and adds, as ``-…`` and ``+…``."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name, path=path).splitlines()
    return [line for line in diff[2:] if line[:1] in "+-"]


def _explanations() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    if not EXPLAINED.exists():
        return {}
    return tomllib.loads(EXPLAINED.read_text())


def collect() -> dict:
    """Per module: mutants, killed, and every mutant not killed with its change, from mutants/."""
    from mutmut.mutation.data import SourceFileMutationData

    os.chdir(ROOT)
    explained = _explanations()
    modules: dict[str, dict] = {}
    canary = None
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        path = str(meta.relative_to(ROOT / "mutants"))[: -len(".meta")]
        data = SourceFileMutationData(path=path)
        data.load()
        if not data.exit_code_by_key:
            continue
        entry = {"mutants": len(data.exit_code_by_key), "killed": 0, "not_run": 0, "survived": []}
        # the fixed quarter and eighth of the module's mutants (see GROUPS), for a stopped run
        samples = {parts: {"of": 0, "run": 0, "killed": 0, "equivalent": 0} for parts in (4, 8)}
        for name, code in sorted(data.exit_code_by_key.items(), key=lambda kv: _order(kv[0])):
            chosen = [s for parts, s in samples.items() if _sample(name, parts)]
            for s in chosen:
                s["of"] += 1
            if code is None:  # an interrupted run: neither killed nor survived
                entry["not_run"] += 1
                continue
            for s in chosen:
                s["run"] += 1
            if code in KILLED:
                entry["killed"] += 1
                for s in chosen:
                    s["killed"] += 1
                if canary is None and path == CANARY[0] and _changes(name, path) == list(CANARY[1:]):
                    canary = name
                continue
            change = _changes(name, path)
            why = explained.get(name, {})
            survivor = {"mutant": name, "status": UNDETECTED.get(code, f"exit {code}"), "change": change}
            if why:
                survivor["why"] = why["why"] if why.get("change") == change else ""
                # explained, but not equivalent (a difference no test should pin): still not killed
                survivor["equivalent"] = bool(survivor["why"]) and why.get("equivalent", True)
            entry["survived"].append(survivor)
            for s in chosen:
                s["equivalent"] += bool(survivor.get("equivalent"))
        run = entry["mutants"] - entry["not_run"]
        entry["equivalent"] = sum(1 for s in entry["survived"] if s.get("equivalent"))
        entry["raw_score"] = round(entry["killed"] / run, 4) if run else None
        judged = run - entry["equivalent"]
        entry["score"] = round(entry["killed"] / judged, 4) if judged else None
        if entry["not_run"]:
            # a stopped run: the score of the fixed quarter (or, when the quarter did not finish, of
            # the fixed eighth) is the unbiased estimate: the rest ran fastest-first, not at random
            parts = 4 if samples[4]["run"] == samples[4]["of"] else 8
            s = samples[parts]
            judged = s["run"] - s["equivalent"]
            entry["sample"] = {"part": f"1/{parts}", **s, "complete": s["run"] == s["of"],
                               "score": round(s["killed"] / judged, 4) if judged else None}
        modules[path[: -len(".py")].replace("/", ".")] = entry
    if not modules:
        raise SystemExit("no results in mutants/: run `bench/mutation.py run` first")
    if canary is None:
        raise SystemExit(f"the canary mutant of {CANARY[0]} ({CANARY[1]} -> {CANARY[2]}) was not killed: "
                         "the tests did not run the mutated copy, and no score here would mean anything")
    total = sum(m["mutants"] for m in modules.values())
    killed = sum(m["killed"] for m in modules.values())
    not_run = sum(m["not_run"] for m in modules.values())
    equivalent = sum(m["equivalent"] for m in modules.values())
    return {"date": dt.date.today().isoformat(), "mutmut": _version(), "canary": canary,
            "complete": not_run == 0, "score": round(killed / (total - not_run - equivalent), 4),
            "raw_score": round(killed / (total - not_run), 4), "mutants": total, "killed": killed,
            "equivalent": equivalent, "not_run": not_run, "modules": modules}


#: Two kinds of builder survivor that are equivalent by construction, explained by
#: ``explain-renames`` one by one (each entry still names the mutant and its change):
#: a local variable of the generated script renamed (``var("st")`` -> ``var("XXstXX")`` or
#: ``var("ST")``) where the name is written nowhere else in the builders, so every use follows
#: the one Code object and nothing else can clash with the new name; and ``Script("%SYS", ...)``
#: losing or lower-casing its namespace, which is Script's default and upper-cased by it.
_VAR = re.compile(r'\bvar\("(%?[A-Za-z][A-Za-z0-9]*)"')
_SCRIPT_NS = re.compile(r'Script\("%SYS", ')
WHY_RENAME = ("A local variable of the generated script renamed: its name is written only here in the builders, "
              "so every use of it is this one Code object and follows the new name, which no other variable "
              "has (ObjectScript names are case-sensitive).  The script does the same.")
WHY_SCRIPT_NS = ("Script's namespace defaults to \"%SYS\" and is upper-cased (names.namespace): "
                 "Script(purpose=...) and Script(\"%sys\", ...) are Script(\"%SYS\", ...).")


def _builder_literals() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "iris_ops" / "script_builders").glob("*.py")))


def _equivalent_by_construction(change: list[str], literals: str) -> str:
    """The reason when ``change`` is one of the two kinds above, else ""."""
    if len(change) != 2 or not change[0].startswith("-") or not change[1].startswith("+"):
        return ""
    old, new = change[0][1:], change[1][1:]
    if _SCRIPT_NS.search(old) and new in (old.replace('Script("%SYS", ', "Script("),
                                          old.replace('Script("%SYS", ', 'Script("%sys", ')):
        return WHY_SCRIPT_NS
    old_parts, new_parts = _VAR.split(old), _VAR.split(new)  # text, name, text, name, ..., text
    if len(old_parts) != len(new_parts) or old_parts[::2] != new_parts[::2]:
        return ""
    renamed = [(a, b) for a, b in zip(old_parts[1::2], new_parts[1::2]) if a != b]
    if len(renamed) == 1:
        name, to = renamed[0]
        if to in (f"XX{name}XX", name.upper()) and literals.count(f'"{name}"') == 1 and f'"{to}"' not in literals:
            return WHY_RENAME
    return ""


def explain_by_construction() -> None:
    """Append to bench/mutation_equivalent.toml an entry for each unexplained survivor of the
    two kinds above."""
    results = collect()
    literals = _builder_literals()
    known = _explanations()  # an entry that went stale is reviewed by hand, not written twice
    added = []
    for name, m in results["modules"].items():
        if not name.startswith("iris_ops.script_builders."):
            continue
        for s in m["survived"]:
            why = "" if s["mutant"] in known else _equivalent_by_construction(s["change"], literals)
            if why:
                added.append(f'\n[{json.dumps(s["mutant"], ensure_ascii=False)}]\n'
                             f'change = {json.dumps(s["change"], ensure_ascii=False)}\nwhy = {json.dumps(why)}\n')
    with EXPLAINED.open("a") as f:
        f.write("".join(added))
    print(f"{len(added)} survivors explained by construction")


def _order(name: str) -> tuple:
    head, _, number = name.rpartition("__mutmut_")
    return head, int(number) if number.isdigit() else 0


def _version() -> str:
    from importlib.metadata import version

    return version("mutmut")


def report() -> None:
    results = collect()
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    render()
    unexplained = [s["mutant"] for m in results["modules"].values() for s in m["survived"] if not s.get("why")]
    print(f"score {results['score']:.3f} ({results['killed']} of {results['mutants']} killed); "
          f"{len(unexplained)} survivors without an explanation in {EXPLAINED.relative_to(ROOT)}")
    if not results["complete"]:
        raise SystemExit(f"partial run: {results['not_run']} of {results['mutants']} mutants not run; "
                         "the scores cover the mutants that ran (`bench/mutation.py run --continue` goes on)")
    low = [name for name, m in results["modules"].items() if m["score"] is not None and m["score"] < MIN_MODULE]
    if results["score"] < MIN_TOTAL or low:
        raise SystemExit(f"below the bar ({MIN_TOTAL} overall, {MIN_MODULE} per module): {', '.join(low) or 'overall'}")


def render_text(results: dict) -> str:
    """The generated part of docs/MUTATION.md."""
    ran = results["mutants"] - results["not_run"]
    lines = [BEGIN, "",
             f"Run of {results['date']} (mutmut {results['mutmut']}): **{results['killed']} of {ran} mutants "
             f"killed, {results['equivalent']} explained as equivalent: score {results['score']:.3f}** (killed / "
             f"(run - equivalent); {results['raw_score']:.3f} counting the equivalent ones as not killed).  "
             f"The canary `{results['canary']}` was killed."]
    if not results["complete"]:
        lines.append(f"**Partial run**: {results['not_run']} of {results['mutants']} mutants were not run (the run "
                     "was stopped); the scores cover the mutants that ran.  Where a module was not run whole, "
                     "*sample* is the score of its fixed quarter, or of its fixed eighth when the quarter did not "
                     "finish (chosen by a hash of the mutants' names, run before the rest): the estimate that does "
                     "not lean towards the fast mutants, which mutmut runs first.")
    lines += ["", "| module | mutants | not run | killed | not killed | of which equivalent | score | sample |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in results["modules"].items():
        score = "-" if m["score"] is None else f"{m['score']:.3f}"
        s = m.get("sample")
        part = "" if not s else "-" if s["score"] is None else (
            f"{s['score']:.3f} ({s['part']}: {s['run']} of {s['of']} run{'' if s['complete'] else ', not all'})")
        lines.append(f"| `{name}` | {m['mutants']} | {m['not_run']} | {m['killed']} | {len(m['survived'])} "
                     f"| {m['equivalent']} | {score} | {part} |")
    lines += ["", "### Not killed, one by one", ""]
    for name, m in results["modules"].items():
        if not m["survived"]:
            continue
        lines += [f"#### `{name}`", ""]
        for s in m["survived"]:
            status = "" if s["status"] == "survived" else f" ({s['status']})"
            lines.append(f"- `{s['mutant'].rpartition('.')[2]}`{status}: {s.get('why') or '**not explained**'}")
            lines += ["  ```diff", *(f"  {c}" for c in s["change"]), "  ```"]
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def render() -> None:
    results = json.loads(RESULTS.read_text())
    text = DOC.read_text()
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + render_text(results) + text[stop:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run", help="mutmut from scratch, group by group (see GROUPS), then report")
    go.add_argument("--max-children", type=int, default=2, help="mutmut worker processes (default 2)")
    go.add_argument("--continue", dest="fresh", action="store_false",
                    help="keep mutants/ (verdicts of a stopped run) instead of starting from scratch")
    again = sub.add_parser("rerun", help="mutmut again on the mutants of the named modules that were not killed "
                                        "(after tests were added), then report")
    again.add_argument("modules", nargs="+", help="module names or patterns: iris_ops.names, 'iris_ops.state.*'")
    again.add_argument("--fresh-stats", action="store_true",
                       help="collect which tests call each function again first (after a change of the code)")
    again.add_argument("--max-children", type=int, default=2, help="mutmut worker processes (default 2)")
    sub.add_parser("report", help="bench/mutation.json and docs/MUTATION.md from mutants/")
    sub.add_parser("render", help="docs/MUTATION.md from bench/mutation.json")
    sub.add_parser("explain-renames", help="explain the builders' survivors that are equivalent by construction "
                                           "(a script variable renamed, Script's default namespace)")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.max_children, args.fresh)
    elif args.command == "rerun":
        rerun(args.modules, args.fresh_stats, args.max_children)
    elif args.command == "report":
        report()
    elif args.command == "explain-renames":
        explain_by_construction()
    else:
        render()
    return 0


if __name__ == "__main__":
    sys.exit(main())
