"""docs/plugins.md is tested as written: its files are built and installed as a distribution,
iris-ops loads the plugin through its entry point, and the guide's own test passes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
DIST = "iris-ops-fixture-size"


def guide_files() -> dict[str, str]:
    """Every code block of the guide whose first line is ``# iris-ops-fixture-size/<path>``."""
    files = {}
    for block in re.findall(r"^```\w*\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), re.S | re.M):
        first = block.partition("\n")[0]
        named = re.fullmatch(rf"# ({re.escape(DIST)}/\S+)", first)
        if named:
            files[named.group(1)] = block
    return files


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
