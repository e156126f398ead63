"""docs/plugins.md is tested as written: its files are built and installed as a distribution,
iris-ops loads the plugin through its entry point, and the guide's own test passes; its kind of
the desired state is planned and applied against a simulated instance; the guide's plugins and
the first-party plugins import only what its table "The public API" lists."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from inproc_sim import sim  # noqa: F401 - sim is a fixture

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
DIST = "iris-ops-fixture-size"
KIND_MODULE = "iris-ops-service-clients/src/iris_ops_service_clients/__init__.py"


def guide_files(dist: str = DIST) -> dict[str, str]:
    """Every code block of the guide whose first line is ``# <dist>/<path>``."""
    files = {}
    for block in re.findall(r"^```\w*\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), re.S | re.M):
        first = block.partition("\n")[0]
        named = re.fullmatch(rf"# ({re.escape(dist)}/\S+)", first)
        if named:
            files[named.group(1)] = block
    return files


def public_api() -> dict[str, set[str] | None]:
    """The guide's table "The public API": module -> the names a plugin may import (None: every name)."""
    section = GUIDE.read_text(encoding="utf-8").split("## The public API", 1)[1].split("\n## ", 1)[0]
    api: dict[str, set[str] | None] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`iris_ops"):
            continue
        api[cells[0].strip("`")] = None if cells[1].startswith("every") else set(re.findall(r"`([A-Za-z_]+)", cells[1]))
    return api


def iris_ops_imports(sources: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """(file, module, name) for every import of iris-ops in ``sources`` (name None: ``import module``)."""
    used = []
    for where, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "iris_ops" and not node.level:
                used += [(where, node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                used += [(where, alias.name, None) for alias in node.names if alias.name.split(".")[0] == "iris_ops"]
    return used


def _plugin_sources(name: str) -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in (ROOT / "plugins" / name / "src").rglob("*.py")}


@pytest.mark.parametrize("plugin", ["the guide's example", "the guide's kind", "iris-ops-fixture-audit",
                                    "iris-ops-security"])
def test_plugins_import_only_the_public_api(plugin):
    if plugin.startswith("the guide's"):
        dist = DIST if plugin == "the guide's example" else KIND_MODULE.split("/")[0]
        sources = {k: v for k, v in guide_files(dist).items() if k.endswith(".py")}
    else:
        sources = _plugin_sources(plugin)
    api = public_api()
    used = iris_ops_imports(sources)
    assert used, f"{plugin} imports nothing of iris-ops"
    wrong = []
    for where, module, name in used:
        if name is not None and f"{module}.{name}" in api:
            continue  # a public module imported by name: from iris_ops import fixture
        if module not in api or not (name is None or api[module] is None or name in api[module]):
            wrong.append(f"{where}: {module}" + (f".{name}" if name else ""))
    assert wrong == [], f"{plugin} imports what docs/plugins.md does not make public"


def test_the_public_api_check_catches_a_private_import():
    used = iris_ops_imports({"x.py": "from iris_ops.manager import get_plugin_manager\nfrom iris_ops import hookimpl\n"})
    api = public_api()
    assert ("x.py", "iris_ops.manager", "get_plugin_manager") in used and "iris_ops.manager" not in api
    assert "hookimpl" in api["iris_ops"]


def test_the_guide_gives_every_file_of_its_layout():
    assert set(guide_files()) == {
        f"{DIST}/pyproject.toml",
        f"{DIST}/src/iris_ops_fixture_size/__init__.py",
        f"{DIST}/tests/conftest.py",
        f"{DIST}/tests/test_fixture_size.py",
    }


@pytest.mark.slow
def test_the_guide_plugin_installs_loads_and_passes_its_test(tmp_path):
    for relative, text in guide_files().items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--no-index", "--target", str(site), str(tmp_path / DIST)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))

    def iris_ops(*args):
        return subprocess.run([sys.executable, "-m", "iris_ops", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=60)

    shown = iris_ops("plugins", "--json")
    assert shown.returncode == 0, shown.stderr
    plugins = {row["name"]: row for row in json.loads(shown.stdout)["plugins"]}
    assert plugins["fixture_size"]["distribution"] == DIST and plugins["fixture_size"]["version"] == "0.1.0"
    assert {"config_defaults", "validate", "register_tasks"} <= set(plugins["fixture_size"]["hooks"])
    helped = iris_ops("fixture-size", "--help")
    assert helped.returncode == 0 and "iris-ops fixture-size USER" in helped.stdout, helped.stderr

    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / DIST / "tests")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout


def test_the_guide_kind_is_planned_and_applied_as_written(sim):
    """The guide's kind, from its module as written: registered through the hook, read from a
    state file, planned against the instance, changed by its builder, planned again as ok, and
    changed back by its undo (the same builder with the values the plan read)."""
    import types

    from iris_ops.errors import StateFileError
    from iris_ops.manager import new_plugin_manager, state_kinds
    from iris_ops.state import plan
    from iris_ops.state.kinds import ChangeContext
    from iris_ops.state.toml_reader import state_from_text

    module = types.ModuleType("iris_ops_service_clients")
    exec(compile(guide_files(KIND_MODULE.split("/")[0])[KIND_MODULE], KIND_MODULE, "exec"), module.__dict__)
    pm = new_plugin_manager(load_entry_points=False)
    pm.register(module, name="service_clients")
    kinds = state_kinds(pm)
    assert kinds[-1] is module.SERVICE_CLIENTS
    toml = GUIDE.read_text(encoding="utf-8").split("```toml\n# iris-ops.toml\n", 1)[1].split("```", 1)[0]

    def steps(text: str) -> list:
        desired = state_from_text(text, "iris-ops.toml", kinds=kinds)
        return plan.compare(desired, sim.run(plan.read_script(desired, kinds)), kinds)

    def change(values: dict) -> None:
        from iris_ops.objectscript import Script

        ctx = ChangeContext(sim.mgr)
        sim.run(Script("%SYS").step("change", *module.SERVICE_CLIENTS.modify(("%Service_Bindings",), values, ctx)))

    def client_systems() -> str:
        with sim.instance.locked() as state:
            return state["security"]["services"]["%Service_Bindings"]["ClientSystems"]

    first = steps(toml)
    assert [(s.action, s.changes) for s in first] == [
        ("change", (plan.Change("client_systems", [], ["10.0.0.5", "10.0.0.6"]),))]
    change({c.field: c.new for c in first[0].changes})
    assert client_systems() == "10.0.0.5;10.0.0.6"
    assert [s.action for s in steps(toml)] == ["ok"]
    change({c.field: c.old for c in first[0].changes})
    assert client_systems() == ""
    with pytest.raises(StateFileError, match="invalid service name 'Bindings'"):
        steps('[state.service_clients.Bindings]\nclient_systems = []\n')
    with pytest.raises(Exception, match="the instance has no service clients %Service_Nope"):
        steps('[state.service_clients."%Service_Nope"]\nclient_systems = []\n')


def test_the_state_kinds_example_of_hooks_md_is_the_guides_tested_kind():
    """docs/hooks.md's example of ``state_kinds`` (from the hook specification) is the code of the
    guide's kind module, which the test above runs as written: line for line, in order."""
    hooks = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    section = hooks.split("### state_kinds", 1)[1].split("\n## ", 1)[0]
    example = re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)
    assert len(example) == 1, "docs/hooks.md: state_kinds has no example"
    module = [line for line in guide_files(KIND_MODULE.split("/")[0])[KIND_MODULE].splitlines() if line.strip()]
    imports = [line for line in example[0].splitlines() if line.startswith(("from ", "import "))]
    code = [line for line in example[0].splitlines() if line.strip() and line not in imports]
    where = [at for at in range(len(module)) if module[at:at + len(code)] == code]
    assert code and where and set(imports) <= set(module), \
        f"docs/hooks.md's example is not the code of the guide's {KIND_MODULE}:\n{example[0]}"
