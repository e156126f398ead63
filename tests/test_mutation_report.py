"""docs/MUTATION.md's results are generated from bench/mutation.json (``bench/mutation.py
render``), never kept by hand: the suite compares them."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bench_mutation():
    spec = importlib.util.spec_from_file_location("bench_mutation", ROOT / "bench" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_mutation_page_says_what_its_results_say():
    mutation = _bench_mutation()
    results = json.loads(mutation.RESULTS.read_text())
    text = mutation.DOC.read_text()
    section = text[text.index(mutation.BEGIN): text.index(mutation.END) + len(mutation.END)]
    assert section == mutation.render_text(results), "docs/MUTATION.md is stale: run `bench/mutation.py render`"


def _mutated_modules() -> set[str]:
    """Every module ``[tool.mutmut] only_mutate`` names that has a function to mutate."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"]
    found = set()
    for pattern in patterns:
        for path in ROOT.glob(pattern):
            if path.suffix == ".py" and re.search(r"^\s*def ", path.read_text(), re.M):
                found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def test_the_committed_run_covers_every_mutated_module_and_meets_the_bars():
    """Issue 22 point 6: the committed report is of a run over every module the configuration
    mutates, scores at least 0.85 overall and 0.75 in each module (over the mutants that ran:
    a stopped run says how many did not, in the JSON and on the page), and every survivor
    counted as equivalent says why."""
    mutation = _bench_mutation()
    results = json.loads(mutation.RESULTS.read_text())
    missing = _mutated_modules() - set(results["modules"])
    assert not missing, f"modules mutated by the configuration but not in the report: {sorted(missing)}"
    assert results["complete"] == (results["not_run"] == 0)
    assert results["score"] >= mutation.MIN_TOTAL
    low = {name: m["score"] for name, m in results["modules"].items()
           if m["score"] is not None and m["score"] < mutation.MIN_MODULE}
    assert not low, low
    for m in results["modules"].values():
        assert m["killed"] + len(m["survived"]) + m["not_run"] == m["mutants"]
        assert all(s["why"] for s in m["survived"] if s.get("equivalent"))
