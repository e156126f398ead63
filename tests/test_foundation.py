"""The skeleton: hook specs, plugin loading, the CLI, settings, logging, exit codes."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from invoke import Collection

from iris_ops import config, hookimpl, hookspecs
from iris_ops.task import task
from iris_ops.errors import ConfigError
from iris_ops.manager import BUILTIN_PLUGINS, new_plugin_manager
from iris_ops.registrar import TaskRegistrar

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PLUGIN = ROOT / "plugins" / "iris-ops-fixture-audit" / "src"


def spec_functions():
    return [
        (name, fn) for name, fn in vars(hookspecs).items()
        if inspect.isfunction(fn) and hasattr(fn, "iris_ops_spec")
    ]


def run_cli(*args, env=None, cwd=None, input=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "iris_ops", *args], capture_output=True, text=True, env=full_env,
        cwd=cwd or ROOT, input=input, timeout=60,
    )


def test_every_hook_parameter_is_documented():
    specs = spec_functions()
    assert {"pre_backup", "post_restore", "run_objectscript", "validate", "register_tasks",
            "read_file", "write_file", "config_defaults"} <= {name for name, _ in specs}
    for name, fn in specs:
        doc = inspect.getdoc(fn) or ""
        for param in inspect.signature(fn).parameters:
            assert f":param {param}:" in doc, f"hook {name} does not document parameter {param!r}"
        if fn.iris_ops_spec.get("firstresult"):
            assert "Stops at the first non-None result" in doc, f"hook {name} must say it is firstresult"


def test_every_hook_is_in_the_hook_reference():
    guide = (ROOT / "docs" / "hooks.md").read_text()
    for name, _ in spec_functions():
        assert f"`{name}`" in guide, f"hook {name} is missing from docs/hooks.md"


def test_builtins_register_through_the_plugin_manager():
    pm = new_plugin_manager(load_entry_points=False)
    for name in BUILTIN_PLUGINS:
        assert pm.get_plugin(name) is not None
    # firstresult built-ins are trylast so an installed plugin can take over
    for impl in pm.hook.run_objectscript.get_hookimpls():
        assert impl.trylast


def test_disabled_plugins_are_skipped():
    pm = new_plugin_manager(["iris_ops.operations.backup"], load_entry_points=False)
    assert pm.get_plugin("iris_ops.operations.backup") is None
    assert pm.is_blocked("iris_ops.operations.backup")


def test_two_plugins_claiming_one_task_name_are_named():
    @task
    def hello(c):
        """one"""

    registrar = TaskRegistrar()
    registrar.for_plugin("first-plugin").add_task(hello)
    with pytest.raises(ConfigError) as caught:
        registrar.for_plugin("second-plugin").add_task(hello)
    assert "first-plugin" in str(caught.value) and "second-plugin" in str(caught.value)
    assert "IRIS_OPS_DISABLE_PLUGINS" in caught.value.fix


def test_registering_a_module_looks_up_its_functions_only(monkeypatch):
    """pluggy looks every attribute of a plugin up with ``inspect.getattr_static``; for a module
    only its functions can be hooks, and looking up the rest was most of registering the
    built-ins (start-up).  The hook is found all the same."""
    import types

    import pluggy._manager

    from iris_ops import PROJECT_NAME
    from iris_ops.manager import PluginManager

    module = types.ModuleType("iris_ops_test_module_plugin")
    exec(textwrap.dedent("""
        import os
        from iris_ops import hookimpl
        CONSTANT = 3
        class Helper:
            pass
        @hookimpl
        def register_tasks(registrar):
            pass
        def helper():
            pass
    """), module.__dict__)
    pm = PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    looked_up = []
    original = pluggy._manager._static_hook_attr
    monkeypatch.setattr(pluggy._manager, "_static_hook_attr",
                        lambda obj, name: looked_up.append(name) or original(obj, name))
    pm.register(module, name="iris_ops_test_module_plugin")
    assert sorted(set(looked_up)) == ["helper", "register_tasks"]
    assert [impl.plugin for impl in pm.hook.register_tasks.get_hookimpls()] == [module]


def test_a_plugin_hook_that_does_not_exist_is_rejected():
    class Broken:
        @hookimpl
        def pre_bakup(self, namespace):  # typo on purpose
            pass

    pm = new_plugin_manager(load_entry_points=False)
    pm.register(Broken(), name="broken")
    with pytest.raises(Exception, match="pre_bakup"):
        pm.check_pending()
    # Loaded by the manager, such a plugin is left out and reported instead (tests/test_plugin_faults.py).


def _imported(*args: str) -> tuple[set[str], str]:
    done = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}, done.stdout


def test_listing_tasks_imports_neither_docker_nor_iris():
    everything, shown = _imported("-m", "iris_ops", "--list")
    # what invoke's program brings by itself is not ours to keep out (invoke 3 imports tempfile)
    imported = everything - _imported("-c", "import invoke.program")[0]
    assert "backup" in shown
    assert not {m for m in imported if m == "docker" or m.startswith("docker.")}
    assert "iris" not in imported
    assert not {m for m in imported if m.startswith("iris_ops_sim.engine") or m.startswith("iris_ops_sim.irissim.instance")}
    # the sim plugin's tasks module is loaded here (installed): what its bodies need waits for them
    assert "tempfile" not in imported
    assert "structlog" not in imported  # a listing never logs; locks.py imports it where it logs
    assert "iris_ops.hashpass" not in imported  # only validate starts its pass before the program
    # What only task bodies need is imported in them (docs/PERFORMANCE.md, "Start-up"):
    # secrets brings hashlib, hmac and random; shutil the compression modules.
    assert not imported & {"secrets", "shutil", "iris_ops.locks", "iris_ops.versions", "iris_ops.transports.base",
                           "iris_ops.operations.restore_checks", "iris_ops_security.script_builders"}


def test_the_core_never_imports_the_simulator():
    """Every module of iris_ops imported (the pytest plugin for users included): no module of the
    iris-ops-sim distribution is loaded. The simulator reaches iris-ops only as a plugin."""
    probe = textwrap.dedent("""
        import importlib, pkgutil, sys
        import iris_ops
        names = [m.name for m in pkgutil.walk_packages(iris_ops.__path__, "iris_ops.") if m.name != "iris_ops.__main__"]
        for name in names:
            importlib.import_module(name)
        from iris_ops.manager import new_plugin_manager
        new_plugin_manager(load_entry_points=False)
        print(len(names), sorted(m for m in sys.modules if m.split(".")[0] == "iris_ops_sim"))
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    count, loaded = done.stdout.split(" ", 1)
    assert int(count) > 40 and loaded.strip() == "[]", done.stdout


def test_sim_without_its_plugin_says_how_to_install_it():
    """`iris-ops sim ...` where the iris-ops-sim plugin is not there: exit 2 with the install line."""
    done = run_cli("sim", "up", env={"IRIS_OPS_DISABLE_PLUGINS": "sim"})
    assert done.returncode == 2, done.stderr
    assert "iris-ops-sim, which is not installed" in done.stderr
    assert "pip install 'iris-ops[sim]'" in done.stderr and "pip install -e plugins/iris-ops-sim" in done.stderr


def test_inv_lists_the_same_tasks_as_iris_ops():
    ours = run_cli("--list")
    inv = subprocess.run([sys.executable, "-m", "invoke", "--list"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert ours.returncode == 0 and inv.returncode == 0, (ours.stderr, inv.stderr)

    def names(text):
        # A task's line starts with two spaces (wrapped help goes deeper); `sim up` is inv's `sim.up`.
        return sorted(line.strip().split("   ")[0].replace(" ", ".") for line in text.splitlines()
                      if line.startswith("  ") and not line.startswith("   "))

    assert names(ours.stdout) == names(inv.stdout)
    assert {"backup", "restore", "delete-ns", "validate", "run", "plugins", "config"} <= set(names(ours.stdout))


@pytest.fixture
def installed_example_plugin(tmp_path):
    """A real entry-point registration: a dist-info on sys.path, as pip would write it."""
    dist = tmp_path / "iris_ops_fixture_audit-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: iris-ops-fixture-audit\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[iris_ops]\nfixture_audit = iris_ops_fixture_audit\n")
    return {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(EXAMPLE_PLUGIN), str(ROOT)])}


def test_third_party_plugin_adds_a_task_and_hooks(installed_example_plugin):
    listed = run_cli("--list", env=installed_example_plugin)
    assert listed.returncode == 0, listed.stderr
    assert "fixture-info" in listed.stdout
    shown = run_cli("plugins", "--json", env=installed_example_plugin)
    assert shown.returncode == 0, shown.stderr
    rows = {row["name"]: row for row in json.loads(shown.stdout)["plugins"]}
    assert rows["fixture_audit"]["distribution"] == "iris-ops-fixture-audit"
    assert rows["fixture_audit"]["version"] == "0.1.0"
    assert {"pre_backup", "validate", "register_tasks", "config_defaults"} <= set(rows["fixture_audit"]["hooks"])
    assert rows["iris_ops.operations.backup"]["distribution"] == "iris-ops"
    blocked = run_cli("--list", env={**installed_example_plugin, "IRIS_OPS_DISABLE_PLUGINS": "fixture_audit"})
    assert "fixture-info" not in blocked.stdout


def test_settings_precedence_and_provenance(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.iris-ops]\ncontainer = "from-file"\ninstance = "FILEINST"\ntimeout = 30\n')
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    settings = config.load([("myplugin", {"extra_knob": 5})], environ={"IRIS_OPS_INSTANCE": "ENVINST"}, start=nested)
    assert settings.container == "from-file" and settings.source("container").startswith("file ")
    assert settings.instance == "ENVINST" and settings.source("instance") == "env IRIS_OPS_INSTANCE"
    assert settings.timeout == 30.0 and isinstance(settings.timeout, float)
    assert settings.transport == "docker" and settings.source("transport") == "default"
    assert settings.extra_knob == 5 and settings.source("extra_knob") == "plugin myplugin"
    flagged = settings.with_overrides({"instance": "FLAGINST", "container": None})
    assert flagged.instance == "FLAGINST" and flagged.source("instance") == "flag"
    assert flagged.container == "from-file"


def test_bad_settings_say_which_and_how(tmp_path):
    (tmp_path / "iris-ops.toml").write_text('contaner = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting 'contaner'"):
        config.load(start=tmp_path)
    with pytest.raises(ConfigError, match="IRIS_OPS_TIMEOUT"):
        config.load(environ={"IRIS_OPS_TIMEOUT": "soon"}, start=tmp_path / "..")


def test_config_task_prints_sources(tmp_path):
    (tmp_path / "iris-ops.toml").write_text('container = "iris-test"\n')
    done = run_cli("config", "--json", env={"IRIS_OPS_INSTANCE": "OTHER"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)["settings"]}
    assert rows["container"]["value"] == "iris-test" and rows["container"]["source"].startswith("file ")
    assert rows["instance"]["source"] == "env IRIS_OPS_INSTANCE"


def test_bad_name_exits_2_before_any_container_work():
    # No engine configured at all: a name error must come first.
    done = run_cli("run", "--ns", 'US"ER', "--container", "nowhere", "Write 1",
                   env={"DOCKER_HOST": "unix:///nonexistent.sock", "IRIS_OPS_LOG_FORMAT": "json"})
    assert done.returncode == 2, done.stderr
    event = json.loads(done.stderr.strip().splitlines()[-1])
    assert "invalid namespace name" in event["event"] and event["exit_code"] == 2 and event["fix"]
    assert done.stdout == ""


def test_unknown_flag_is_a_usage_error():
    done = run_cli("backup", "--nope")
    assert done.returncode == 2
    assert "--nope" in done.stderr


def test_internal_errors_hide_the_traceback_unless_verbose(tmp_path):
    module = tmp_path / "boom_plugin.py"
    module.write_text(textwrap.dedent('''
        from iris_ops import hookimpl
        from iris_ops.task import task

        @task
        def boom(c):
            """Fails unexpectedly."""
            raise RuntimeError("kaput")

        @hookimpl
        def register_tasks(registrar):
            registrar.add_task(boom)
    '''))
    dist = tmp_path / "boom_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: boom-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[iris_ops]\nboom = boom_plugin\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]), "IRIS_OPS_LOG_FORMAT": "console"}
    quiet = run_cli("boom", env=env)
    assert quiet.returncode == 1
    assert "kaput" in quiet.stderr and "Traceback" not in quiet.stderr
    loud = run_cli("-v", "boom", env=env)
    assert loud.returncode == 1 and "Traceback" in loud.stderr


def test_stdlib_logging_goes_through_structlog_as_json(capsys):
    import io
    import logging

    from iris_ops import logs

    stream = io.StringIO()
    logs.configure("info", "json", stream=stream, force=True)
    logging.getLogger("urllib3.connectionpool").warning("pool is full")
    import structlog

    with structlog.contextvars.bound_contextvars(operation="backup", ns="USER"):
        structlog.get_logger("iris_ops.test").info("copied", bytes=10)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "pool is full" and lines[0]["logger"] == "urllib3.connectionpool"
    assert lines[1]["operation"] == "backup" and lines[1]["ns"] == "USER" and lines[1]["bytes"] == 10
    assert capsys.readouterr().out == ""
    logs.configure("info", "json", force=True)


def test_collection_is_built_from_plugins():
    from iris_ops.cli import build_collection

    collection = build_collection()
    assert isinstance(collection, Collection)
    assert "sim" in collection.collections


def test_unknown_transport_and_bad_flag_values_are_usage_errors():
    env = {"IRIS_OPS_LOG_FORMAT": "json", "DOCKER_HOST": "unix:///nonexistent.sock"}
    telnet = run_cli("run", "--container", "c", "--transport", "telnet", "Write 1", env=env)
    assert telnet.returncode == 2, telnet.stderr
    assert "no installed transport handles 'telnet'" in telnet.stderr
    slow = run_cli("run", "--container", "c", "--timeout", "soon", "Write 1", env=env)
    assert slow.returncode == 2
    assert json.loads(slow.stderr.strip().splitlines()[-1])["fix"] == "Pass a non-negative number to --timeout."
