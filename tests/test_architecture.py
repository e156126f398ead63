"""The house holds: no import circle anywhere (the core, the plugins, the simulator), no module
importing a layer it may not, and no module using another module's private names.

The import graph is read from the source with ``ast``, so it sees every import a reader sees:

* imports inside functions count (they are delayed for start-up time, not for structure);
* imports under ``if TYPE_CHECKING:`` count too.  They never run, so they cannot break an import,
  but a type named in a signature is a dependency all the same: the reader follows it, and a
  low module that names a high one's type knows about that module.  Where a low module needs
  to describe a higher object, it says what it needs (a ``Protocol``, as
  ``iris_ops_sim.irissim.objectscript.locking`` does) instead of importing it.

The layers are the table "Layers" of docs/ARCHITECTURE.md; this module holds the same table and
checks that they agree.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "iris_ops", *sorted((ROOT / "plugins").glob("*/src/*"))]

#: (layer, module patterns, layers it may import besides itself).  Lowest first.  A module
#: matches the first layer whose pattern fits it (``fnmatch`` on the dotted name).
LAYERS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("foundation", ("iris_ops", "iris_ops.errors", "iris_ops.names", "iris_ops.redact", "iris_ops.versions",
                    "iris_ops.flags", "iris_ops.progress", "iris_ops.signals", "iris_ops.logs", "iris_ops.config",
                    "iris_ops.outcome", "iris_ops.helptext", "iris_ops.objectscript", "iris_ops.tarstream",
                    "iris_ops.hashpass", "iris_ops.checked", "iris_ops.datlabel", "iris_ops.compression",
                    "iris_ops.haltscan"), ()),
    ("fixture", ("iris_ops.fixture", "iris_ops.fixture.*", "iris_ops.fixtures_dir"), ("foundation",)),
    ("transports", ("iris_ops.transports", "iris_ops.transports.*"), ("foundation",)),
    ("builders", ("iris_ops.script_builders", "iris_ops.script_builders.*"), ("foundation",)),
    ("state", ("iris_ops.state", "iris_ops.state.*"), ("foundation", "builders")),
    ("runtime", ("iris_ops.runner", "iris_ops.operation", "iris_ops.locks", "iris_ops.cache", "iris_ops.storage"),
     ("foundation", "fixture", "transports", "builders")),
    ("plugins", ("iris_ops.hookspecs", "iris_ops.hookspecs.*", "iris_ops.leftovers", "iris_ops.registrar", "iris_ops.manager"),
     ("foundation", "fixture", "transports", "builders", "state", "runtime")),
    ("fleet", ("iris_ops.fleet", "iris_ops.fleet.*"), ("foundation", "plugins")),
    ("tasks", ("iris_ops.task",), ("foundation", "fixture", "transports", "builders", "runtime", "plugins", "fleet")),
    ("operations", ("iris_ops.operations", "iris_ops.operations.*"),
     ("foundation", "fixture", "transports", "builders", "state", "runtime", "plugins", "fleet", "tasks")),
    ("entry points", ("iris_ops.cli", "iris_ops.program", "iris_ops.console", "iris_ops.__main__",
                      "iris_ops.docsgen", "iris_ops.pytest_plugin", "iris_ops.pytest_report",
                      "iris_ops.pytest_runs", "iris_ops.pytest_pool", "iris_ops.pytest_session"),
     ("foundation", "fixture", "transports", "builders", "state", "runtime", "plugins", "fleet", "tasks", "operations")),
    # The simulated IRIS runs inside a container built from its files alone: the standard library only.
    ("simulated IRIS", ("iris_ops_sim.irissim", "iris_ops_sim.irissim.*"), ()),
    ("simulator host side", ("iris_ops_sim", "iris_ops_sim.syntax", "iris_ops_sim.engines", "iris_ops_sim.dockerd",
                             "iris_ops_sim.launchers", "iris_ops_sim.rootfs", "iris_ops_sim.image",
                             "iris_ops_sim.control", "iris_ops_sim.simcontainer", "iris_ops_sim.xfs",
                             "iris_ops_sim.secrettrace", "iris_ops_sim.sshd", "iris_ops_sim.fleet",
                             "iris_ops_sim.inprocess"),
     ("simulated IRIS", "foundation", "transports")),
    ("simulator front", ("iris_ops_sim.tasks", "iris_ops_sim.fleettasks", "iris_ops_sim.testbed", "iris_ops_sim.faults"),
     ("simulator host side", "simulated IRIS", "foundation", "transports", "plugins", "tasks", "entry points")),
    # Plugins reach the core through its public API only (docs/plugins.md; test_plugin_guide.py).
    ("plugin distributions", ("iris_ops_security", "iris_ops_security.*", "iris_ops_fixture_audit",
                              "iris_ops_fixture_audit.*"),
     ("foundation", "fixture", "transports", "state", "runtime", "plugins", "tasks", "operations")),
]

@dataclass(frozen=True)
class Import:
    source: str      # the importing module
    target: str      # the imported module (the longest known module the import names)
    names: tuple     # the names imported from it ("from target import a, b"), () for "import target"
    line: int
    bound: str = ""  # the name a module import binds ("from package import module as bound")


@functools.lru_cache(maxsize=None)
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def module_files() -> dict[str, Path]:
    """Every module of the core and of each plugin distribution: dotted name -> file."""
    found = {}
    for top in SOURCES:
        for path in sorted(top.rglob("*.py")):
            parts = list(path.relative_to(top.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _known(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports(modules: dict[str, Path]) -> list[Import]:
    """Every import of one known module by another, wherever it stands in the file."""
    found = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _known(alias.name, modules)
                    if target and target != name:
                        found.append(Import(name, target, (), node.lineno, alias.asname or ""))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    if submodule in modules:  # from package import module
                        found.append(Import(name, submodule, (), node.lineno, alias.asname or alias.name))
                    elif (target := _known(base, modules)) and target != name:
                        found.append(Import(name, target, (alias.name,), node.lineno))
    return found


def layer_of(module: str) -> str | None:
    return next((layer for layer, patterns, _ in LAYERS if any(fnmatch.fnmatchcase(module, p) for p in patterns)),
                None)


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, Path], list[Import]]:
    modules = module_files()
    return modules, imports(modules)


def test_the_graph_sees_what_the_code_imports(graph):
    """The reader finds the imports this suite relies on: at the top, inside functions, under
    TYPE_CHECKING, relative ones, and ``from package import module``."""
    modules, found = graph
    edges = {(i.source, i.target) for i in found}
    assert len(modules) > 100
    assert ("iris_ops.manager", "iris_ops.hookspecs") in edges                  # top level
    assert ("iris_ops.operations.context", "iris_ops.manager") in edges         # inside a function
    assert ("iris_ops.hookspecs.operations", "iris_ops.operation") in edges     # under TYPE_CHECKING
    assert ("iris_ops.fixture.loading", "iris_ops.fixture.devtester") in edges  # from . import module
    assert ("iris_ops_sim.irissim.instance.sql", "iris_ops_sim.irissim.instance.mounts") in edges  # relative


def test_no_import_circle_anywhere(graph):
    _, found = graph
    edges: dict[str, set[str]] = {}
    for imp in found:
        edges.setdefault(imp.source, set()).add(imp.target)
    assert circles(edges) == []


def test_the_circle_finder_finds_circles():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_every_module_has_a_layer(graph):
    modules, _ = graph
    assert [m for m in modules if layer_of(m) is None] == []


def test_no_module_imports_a_layer_it_may_not(graph):
    _, found = graph
    allowed = {layer: set(may) | {layer} for layer, _, may in LAYERS}
    wrong = [f"{i.source} ({layer_of(i.source)}) imports {i.target} ({layer_of(i.target)}), line {i.line}"
             for i in found if layer_of(i.target) not in allowed[layer_of(i.source)]]
    assert wrong == []


def test_no_module_uses_another_modules_private_names(graph):
    _, found = graph
    private = [f"{i.source} imports {i.target}.{name}, line {i.line}" for i in found for name in i.names
               if name.startswith("_") and not name.startswith("__")]
    assert private == []
    modules, _ = graph
    reached = []  # module._name, through a module imported by name
    bound_modules: dict[str, set[str]] = {}
    for i in found:
        if i.bound:
            bound_modules.setdefault(i.source, set()).add(i.bound)
    for name, path in modules.items():
        bound = bound_modules.get(name, set())
        reached += [f"{name}: {node.value.id}.{node.attr}, line {node.lineno}"
                    for node in ast.walk(parsed(path))
                    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                    and node.attr.startswith("_") and not node.attr.startswith("__")]
    assert reached == []


def test_the_layers_are_the_ones_architecture_md_names():
    """docs/ARCHITECTURE.md's table "Layers" lists the same layers, in the same order, with the
    same modules and the same permissions."""
    section = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8").split("\n## Layers\n", 1)[1]
    rows = [line for line in section.split("\n## ", 1)[0].splitlines() if line.startswith("| ") and "---" not in line]
    documented = []
    for row in rows[1:]:
        layer, patterns, may = (cell.strip() for cell in row.strip().strip("|").split("|"))
        documented.append((layer, tuple(re.findall(r"`([^`]+)`", patterns)),
                           tuple(may.split(", ")) if may != "nothing" else ()))
    assert documented == [(layer, patterns, may) for layer, patterns, may in LAYERS]


@functools.lru_cache(maxsize=None)
def exported(path: Path) -> list[str] | None:
    """A module's ``__all__`` as written (a literal list, or ``sorted(<dict>)`` of a literal
    dict as in :mod:`iris_ops.script_builders`); None when it has none."""
    tree = parsed(path)
    literals = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else \
            node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(target, ast.Name) and node.value is not None:
            literals[target.id] = node.value
    value = literals.get("__all__")
    if value is None:
        return None
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "sorted":
        value = literals[value.args[0].id]
        return sorted(ast.literal_eval(value))
    return list(ast.literal_eval(value))


def bound_names(path: Path) -> set[str]:
    """The names a module binds at its top level (definitions, assignments, imports)."""
    names = set()
    for node in parsed(path).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def test_every_public_module_says_what_it_exports(graph):
    """Public and private as pluggy marks them: each module (no leading underscore) lists its
    public names in ``__all__``, and each listed name exists (PEP 562 lazy names aside)."""
    modules, _ = graph
    missing = [name for name, path in modules.items()
               if not any(part.startswith("_") for part in name.split(".")) and exported(path) is None]
    assert missing == []
    unbound = [f"{name}.{x}" for name, path in modules.items() if name != "iris_ops.script_builders"
               for x in exported(path) or () if x not in bound_names(path)]
    assert unbound == []


def test_modules_import_from_each_other_only_what_is_exported(graph):
    """``from module import name`` between our modules takes only a name of that module's
    ``__all__`` (or one of its submodules): the rest of a module is its own business."""
    modules, found = graph
    wrong = [f"{i.source} imports {i.target}.{name}, line {i.line}" for i in found for name in i.names
             if name not in (exported(modules[i.target]) or ())]
    assert wrong == []


#: Classes that share a name, and why it is one meaning: the transports' own raw results (left to
#: the transports' branch), and one SQL result seen from the users' plugin, the simulator's
#: host-side control and the simulated instance.
SHARED_CLASS_NAMES = {"ExecResult", "FileDigest", "SqlResult"}


def test_names_say_one_thing(graph):
    """No two public classes share a name (``Finding`` is the fixture's; doctor's are ``Leftover``), and
    the functions named ``directory`` and ``check`` each mean one thing, methods and nested
    functions included: ``names.directory`` validates a directory; ``check`` validates a fixture,
    or a simulated IRIS.DAT, and returns what is wrong (the settings' rules, which raise, are
    ``Settings.require_consistent``)."""
    modules, _ = graph
    classes: dict[str, list[str]] = {}
    functions: dict[str, list[str]] = {}
    for name, path in modules.items():
        for node in parsed(path).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                classes.setdefault(node.name, []).append(name)
        for node in ast.walk(parsed(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.setdefault(node.name, []).append(name)
    assert {n: where for n, where in classes.items() if len(where) > 1 and n not in SHARED_CLASS_NAMES} == {}
    assert functions["directory"] == ["iris_ops.names"]
    assert sorted(functions["check"]) == ["iris_ops.fixture.checks", "iris_ops_sim.irissim.instance.datfile"]


def test_one_module_is_the_pytest_plugin():
    """``pytest_plugin.py`` is iris-ops' pytest plugin for users' suites (entry point
    ``iris_ops_pytest``) and nothing else: the simulator's fixtures for this suite are
    ``iris_ops_sim.testbed``."""
    found = []
    for top, dirs, files in os.walk(ROOT):
        # mutants/: mutation testing's copy of the project (docs/MUTATION.md), ignored by git
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("__pycache__", "build", "mutants")
                   and not d.endswith(".egg-info")]
        found += [Path(top, f).relative_to(ROOT).as_posix() for f in files if f == "pytest_plugin.py"]
    assert found == ["iris_ops/pytest_plugin.py"]
