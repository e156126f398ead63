"""Generated documentation is current, and what it shows works."""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

import pytest

from iris_ops import docsgen, hookimpl
from iris_ops.manager import new_plugin_manager

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("relative", ["docs/tasks.md", "docs/hooks.md", "README.md", "docs/ARCHITECTURE.md"])
def test_generated_docs_are_current(relative):
    path = ROOT / relative
    wanted = docsgen.expected(ROOT)[path]
    assert path.read_text(encoding="utf-8") == wanted, (
        f"{relative} is stale: run `python -m iris_ops.docsgen` and commit the result"
    )


def test_every_hook_has_a_documented_example_that_registers():
    specs = docsgen.hook_specs()
    assert len(specs) >= 14
    for phase, name, spec in specs:
        description, params, _, example = docsgen.split_hook_doc(spec)
        assert phase and description, f"hook {name} lacks its phase or description"
        assert example, f"hook {name} has no Example:: in its docstring"
        module = types.ModuleType(f"example_{name}")
        module.hookimpl = hookimpl
        exec(compile(example, f"<example of {name}>", "exec"), module.__dict__)
        assert callable(getattr(module, name, None)), f"the example of {name} does not implement {name}"
        pm = new_plugin_manager(load_entry_points=False)
        pm.register(module, name=f"example-{name}")
        pm.check_pending()  # the example's parameters are a subset of the spec's
        assert module in [impl.plugin for impl in getattr(pm.hook, name).get_hookimpls()]


def test_hooks_md_lists_every_parameter_and_says_firstresult():
    text = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    for _, name, spec in docsgen.hook_specs():
        section = text.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        _, params, _, _ = docsgen.split_hook_doc(spec)
        for param, _ in params:
            assert f"| `{param}` |" in section, f"hooks.md: {name} lacks parameter {param}"
        wanted = "firstresult" if spec.iris_ops_spec.get("firstresult") else "every implementation runs"
        assert wanted in section.splitlines()[1]


def test_tasks_md_shows_every_task_flag_and_example():
    text = (ROOT / "docs" / "tasks.md").read_text(encoding="utf-8")
    from iris_ops import helptext

    for name, task in helptext.task_names(docsgen.builtin_collection(), spaced=True):
        section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        for row in helptext.flag_rows(task):
            assert f"`{row.spec}`" in (section if not row.target else text), f"tasks.md: {name} lacks {row.spec}"
        for example in helptext.task_doc(task).examples:
            assert example in section


def test_readme_tables_come_from_the_code():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    from iris_ops import config, errors

    for name in config.CORE_SETTINGS:
        assert f"| `{name}` | `IRIS_OPS_{name.upper()}` |" in text
    for code in errors.EXIT_CODES:
        assert f"\n| {code} | " in text


def test_the_module_map_lists_every_module_with_its_docstring():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = text.split("<!-- generated:modules -->", 1)[1].split("<!-- /generated:modules -->", 1)[0]
    for top in docsgen.package_roots(ROOT):
        for path in top.rglob("*.py"):
            label = path.relative_to(top.parent).as_posix()
            label = label[: -len("__init__.py")] if path.name == "__init__.py" else label
            assert f"| `{label}` | {docsgen._cell(docsgen.summary(path))} |" in block, label
    assert "| `iris_ops_sim/irissim/instance/sql.py` |" in block  # the plugins' modules too


def test_reliability_md_is_what_the_matrix_and_its_last_run_say():
    """docs/RELIABILITY.md is rendered from the cases (tests/reliability/matrix.py) and the
    messages the last full run recorded (tests/reliability/results.json), never edited by hand
    nor written by the suite."""
    from reliability import matrix

    wanted = matrix.render(matrix.load_results())
    assert matrix.REPORT.read_text(encoding="utf-8") == wanted, (
        f"docs/RELIABILITY.md differs from what the matrix and its last run say: `{matrix.REGENERATE}` runs "
        f"the matrix and writes it (`--render` when only the text changed)"
    )


def test_each_recorded_message_is_the_one_its_case_expects():
    from reliability import matrix

    messages = matrix.load_results()
    assert sorted(messages) == sorted(case.id for case in matrix.CASES), (
        f"tests/reliability/results.json is from another set of cases: run `{matrix.REGENERATE}`"
    )
    for case in matrix.CASES:
        assert case.said(messages[case.id]), f"{case.id}: the recorded message does not say {case.says!r}"
        assert "injected" not in messages[case.id].lower()
    assert "injected" not in matrix.REPORT.read_text(encoding="utf-8").lower()


def _bench_table():
    spec = importlib.util.spec_from_file_location("bench_table", ROOT / "bench" / "table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_benchmark_figures_are_rendered_from_the_committed_results():
    table = _bench_table()
    files, body = table.readme_block((ROOT / "README.md").read_text(encoding="utf-8"))
    assert files, "the README's benchmark block names no results file"
    assert body == table.render(files), (
        "README.md's benchmark block differs from bench/table.py's rendering of the files it names: "
        "run `python bench/table.py --readme` (never edit the figures by hand)"
    )


def test_readme_keeps_no_hand_counted_test_total():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    import re

    assert not re.search(r"\d[\d,]* tests\b", text), "a test count in the README goes stale: pytest prints it"


def test_readme_lock_timings_are_the_code_s():
    """The README's lock keepalive figures are the constants iris-ops runs with."""
    from iris_ops import locks

    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert (f"in any case {locks.READ_TIMEOUT} s after the last keepalive iris-ops sends it every "
            f"{locks.KEEPALIVE_EVERY} s") in text
