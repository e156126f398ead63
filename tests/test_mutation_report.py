"""docs/MUTATION.md's results are generated from bench/mutation.json (``bench/mutation.py
render``), never kept by hand: the suite compares them."""

from __future__ import annotations

import importlib.util
import json
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
