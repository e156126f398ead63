"""Generated documentation is current, and what it shows works."""

from __future__ import annotations

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
