"""Issue 22 point 1: no test switch in production.

iris-ops is installed the way a user installs it (``pip install`` of this checkout into a fresh
virtual environment, its dependencies from the machine's configured package index, no test extra
and no test kit), then every variable a test, the test kit or the simulator reads is set, and a
round trip against a simulated instance (backup, validate, restore, run, delete-ns) must give the
same exit codes, the same output (but for timestamps, sizes and ids), the same instance state after
each step, and leave the container running, as without them.  Every fault kind the test kit knows
is tried in ``IRIS_OPS_FAULT``.

:data:`TEST_VARIABLES` must name every variable the tests and the test kit read: a test reads the
sources and fails on a variable nobody has classified.

The installation takes about 25 s on two busy cores (a wheel built from the checkout, then
invoke, pluggy, docker, structlog and the IRIS driver); it is made once per test session.
"""

from __future__ import annotations

import ast
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Every variable that only tests, the test kit (iris-ops-sim) or the simulated IRIS read, with a
#: value that would change what iris-ops does if it read it (or passed it on to the instance).
TEST_VARIABLES = {
    "IRIS_OPS_FAULT": "container-kill@",  # the old switch; every kind is tried below
    "IRIS_OPS_REQUIRE_DOCKER": "1",
    "IRIS_OPS_REAL_CONTAINER": "no-such-real-iris",
    "IRIS_OPS_TEST_PRIVATE_ENGINE": "/nonexistent/iris-ops-private-engine",
    "IRIS_OPS_TEST_ENGINE_PROBLEM": "set by test_ordinary_install",
    "IRIS_OPS_TEST_WORKERS": "7",
    "IRIS_OPS_SIM_DIR": "/nonexistent/iris-ops-sim",
    # read by the simulator inside its container: an exec that passed this process's environment
    # on would lose the instance (registry) or overrun every deadline (delay)
    "IRISSIM_REGISTRY": "/nonexistent/simregistry.json",
    "IRISSIM_DELAY": "600",
    "IRISSIM_VARIANTS": "eof-keeps-session",
    # read by the simulated instance's container entry point only (durable %SYS, as IRIS's)
    "ISC_DATA_DIRECTORY": "/nonexistent/iris-durable",
    "IRIS_OPS_SIGNAL_SEED": "1",
    "PROBE_OUT": "/nonexistent/iris-ops-probe.jsonl",
    "FAKE_STATE": "/nonexistent/iris-ops-fake-pool-state",  # the pool tests' stand-in iris-ops
    "PYTEST_XDIST_WORKER": "gw9",
    "PYTEST_XDIST_TESTRUNUID": "0123456789abcdef",
    "IRIS_OPS_TEST_RUN_CACHE": "/nonexistent/iris-ops-test-cache",  # tests/conftest.py: the run's XDG_CACHE_HOME
}
#: Read by nothing any more; kept so that a switch coming back under its old name is caught.
FORMER_SWITCHES = {"IRIS_OPS_FAULT"}
#: Variables iris-ops, its plugins or its scripts read for their users (documented there), and
#: the operating system's and Docker's own.  The ``IRIS_OPS_<SETTING>`` variables are settings.
USER_VARIABLES = {
    "IRIS_OPS_HOST_READ",  # docs/PERFORMANCE.md: turns the host-side read shortcut off
    "IRIS_OPS_NEW_PASSWORD",  # iris-ops-security: the new password's default variable
    # plugins' settings (tests/test_secrets.py registers plugins that add them)
    "IRIS_OPS_INSTANCE_PASSWORD", "IRIS_OPS_LDAP_URL",
    "MY_PW",  # a variable a user names with iris-ops-security's --password-env
    "APP_PW", "OTHER_PW", "SYS_PW",  # variables a user names with password_env in a desired state
    # a user's own variables, as the masking and child-environment tests set them
    "PROCESS_WIDE_TOKEN", "IRIS_OPS_SECRET",
    "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONFIG",
    "COLUMNS", "PATH", "PWD", "HOME", "DEBIAN_FRONTEND", "PYTHONDONTWRITEBYTECODE",
    "XDG_CACHE_HOME",  # where iris_ops.checked keeps the files a restore found right (README)
}
#: Where variables are read: iris-ops, its plugins (the test kit included), its tests, scripts.
SOURCES = ("iris_ops", "plugins", "tests", "bench", ".ci", "tasks.py")


# --- which variables are read ---------------------------------------------------------------------

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_SHELL_READ = re.compile(r"\$\{?([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)")
#: A read in Python source that is itself a string (a conftest or plugin a test writes out).
_TEXT_READ = re.compile(r"(?:environ\.get\(|environ\[|getenv\(|setenv\()\s*[\"']([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)[\"']")


def _python_reads(tree: ast.AST, constants: dict[str, str]) -> set[str]:
    """Names this module reads from (or sets in) the environment: ``os.environ.get(X)``,
    ``os.environ[X]``, ``X in os.environ``, ``os.getenv(X)``, ``monkeypatch.setenv(X)``, where X is a
    literal or a constant (``REQUIRE_ENV = "..."``, here or in another module)."""
    def name_of(node) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return constants.get(node.id)
        if isinstance(node, ast.Attribute):
            return constants.get(node.attr)
        return None

    def is_environ(node) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
            isinstance(node, ast.Name) and node.id in ("environ", "environment"))

    found = set()
    for node in ast.walk(tree):
        arg = None
        if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute):
            func = node.func
            if (func.attr in ("get", "pop", "setdefault") and is_environ(func.value)) or func.attr in (
                    "getenv", "setenv", "delenv", "putenv"):
                arg = node.args[0]
        elif isinstance(node, ast.Subscript) and is_environ(node.value):
            arg = node.slice
        elif isinstance(node, ast.Compare) and len(node.comparators) == 1 and is_environ(node.comparators[0]):
            arg = node.left
        name = name_of(arg) if arg is not None else None
        if name and _ENV_NAME.match(name):
            found.add(name)
    return found


def _files() -> list[Path]:
    found = []
    for top in SOURCES:
        path = ROOT / top
        found += [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                                                and not any(part.startswith(".venv") for part in p.parts)]
    return found


def variables_read() -> dict[str, set[str]]:
    """Every variable the sources read from the environment -> the files reading it."""
    trees, shell = {}, {}
    for path in _files():
        if path == Path(__file__).resolve():
            continue  # its own examples of reads
        if path.suffix == ".py":
            trees[path] = ast.parse(path.read_text(encoding="utf-8"))
        elif path.parent.name == ".ci" or path.suffix == ".sh":
            shell[path] = path.read_text(encoding="utf-8")
    constants = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                    and _ENV_NAME.match(node.value.value)):
                constants[node.targets[0].id] = node.value.value
    read: dict[str, set[str]] = {}
    for path, tree in trees.items():
        for name in _python_reads(tree, constants) | set(_TEXT_READ.findall(path.read_text(encoding="utf-8"))):
            read.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    for path, text in shell.items():
        for name in _SHELL_READ.findall(text):
            read.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return read


def settings_variables() -> set[str]:
    from iris_ops import config

    return {config.ENV_PREFIX + name.upper() for name in config.CORE_SETTINGS}


def test_every_variable_read_is_classified():
    """A variable a test or the test kit starts reading must join TEST_VARIABLES (and so the
    round trip below); one for users joins USER_VARIABLES (and their documentation)."""
    read = variables_read()
    assert {"IRISSIM_DELAY", "IRISSIM_REGISTRY", "IRIS_OPS_REQUIRE_DOCKER", "IRIS_OPS_TEST_PRIVATE_ENGINE",
            "IRIS_OPS_CONTAINER", "IRIS_OPS_HOST_READ"} <= set(read), "the scan no longer sees what it must"
    known = set(TEST_VARIABLES) | USER_VARIABLES | settings_variables()
    unknown = {name: sorted(where) for name, where in read.items() if name not in known}
    assert not unknown, ("variables read but not classified (add each to TEST_VARIABLES in this file if only "
                         f"tests or the test kit read it, else to USER_VARIABLES and the docs): {unknown}")
    stale = set(TEST_VARIABLES) - set(read) - FORMER_SWITCHES
    assert not stale, f"TEST_VARIABLES names variables nothing reads any more: {sorted(stale)}"


def test_the_scan_sees_a_new_test_variable(tmp_path):
    """The classification above would catch a new variable, whichever way it is read."""
    source = ("import os\nNAME_ENV = 'IRIS_OPS_TEST_NEW_ONE'\n"
              "a = os.environ.get(NAME_ENV)\nb = os.getenv('IRISSIM_NEW')\nc = 'IRIS_OPS_X_Y' in os.environ\n"
              "def t(monkeypatch):\n    monkeypatch.setenv('IRIS_OPS_Z_W', '1')\n")
    tree = ast.parse(source)
    assert _python_reads(tree, {"NAME_ENV": "IRIS_OPS_TEST_NEW_ONE"}) == {
        "IRIS_OPS_TEST_NEW_ONE", "IRISSIM_NEW", "IRIS_OPS_X_Y", "IRIS_OPS_Z_W"}
    assert _SHELL_READ.findall('n="${IRIS_OPS_TEST_SHELL:-2}"') == ["IRIS_OPS_TEST_SHELL"]
    assert _TEXT_READ.findall("conftest = 'open(os.environ[\"PROBE_NEW\"])'") == ["PROBE_NEW"]


# --- an ordinary installation --------------------------------------------------------------------

class Install:
    """iris-ops installed into ``venv`` by pip, without extras; ``seconds``: how long it took."""

    def __init__(self, venv: Path, seconds: float) -> None:
        self.venv, self.seconds = venv, seconds
        self.python = venv / "bin" / "python"
        self.iris_ops = venv / "bin" / "iris-ops"

    def run(self, env: dict, *args: str, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.iris_ops), *args], env=env, cwd=cwd, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=300)


def _install(venv: Path) -> float:
    """A fresh venv with ``pip install <copy of this checkout>``: no editable install (the package
    is copied into site-packages) and no build directory left in the checkout."""
    started = time.monotonic()
    source = venv.parent / "source"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "iris_ops", source / "iris_ops", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                           str(source), "-c", str(ROOT / ".ci" / "constraints.txt")],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"pip install of the checkout failed:\n{done.stdout}\n{done.stderr}"
    shutil.rmtree(source, ignore_errors=True)
    return time.monotonic() - started


@pytest.fixture(scope="session")
def ordinary_install(tmp_path_factory) -> Install:
    """One installation per test session; pytest-xdist workers share it (the first builds it
    under a lock, the others wait and reuse it)."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "ordinary-install"
    shared.mkdir(exist_ok=True)
    venv = shared / "venv"
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "seconds"
        if not done.exists():
            shutil.rmtree(venv, ignore_errors=True)
            done.write_text(f"{_install(venv):.1f}")
        return Install(venv, float(done.read_text()))


def clean_environment() -> dict[str, str]:
    """This process's environment without any setting or test variable."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("IRIS_OPS_", "IRISSIM_", "PYTEST_")) and k not in TEST_VARIABLES}


@pytest.mark.slow
def test_the_installation_is_ordinary(ordinary_install, tmp_path):
    listed = subprocess.run([str(ordinary_install.python), "-m", "pip", "list", "--format", "json"],
                            capture_output=True, text=True, check=True)
    names = {row["name"].lower() for row in json.loads(listed.stdout)}
    assert "iris-ops" in names
    assert not names & {"iris-ops-sim", "iris-ops-security", "pytest", "tree-sitter"}, names
    where = subprocess.run([str(ordinary_install.python), "-c", "import iris_ops; print(iris_ops.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path)
    assert where.stdout.startswith(str(ordinary_install.venv)), where.stdout  # a copy, not this checkout
    kit = subprocess.run([str(ordinary_install.python), "-c", "import iris_ops_sim"], capture_output=True, cwd=tmp_path)
    assert kit.returncode != 0
    shown = ordinary_install.run(clean_environment(), "plugins", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    plugins = json.loads(shown.stdout)["plugins"]
    assert plugins and {row["distribution"] for row in plugins} == {"iris-ops"}, plugins


# --- the same round trip, with and without the test variables ------------------------------------



def fault_specs() -> list[str]:
    """``KIND@WHERE`` of the old switch: the issue's case (``container-kill@``, any script) and a
    transfer fault (kinds the test kit no longer has either: the fault matrix makes those faults
    for real).  Nothing in iris-ops reads ``IRIS_OPS_FAULT`` any more (the scan above shows who
    reads what), so every other kind would be the same case again."""
    return ["container-kill@", "transfer@write"]


ROUND_TRIP = (
    ("backup", "--ns", "USER", "--out", "fx"),
    ("validate", "fx", "--json"),
    ("restore", "fx", "--ns", "RT"),
    ("run", "--ns", "RT", "Write $NAMESPACE"),
    ("delete-ns", "--ns", "RT", "--yes"),
    ("cache", "prune", "--all"),  # the next round trip finds the instance as this one did
    ("run", "--ns", "%SYS", "Write 1"),
)
_HEX = re.compile(r"\b[0-9a-f]{8,}\b")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def shape(text: str) -> str:
    """Text without what changes from one run to the next: ids, digests, times, sizes."""
    return _NUMBER.sub("<n>", _HEX.sub("<hex>", text))


def log_shape(stderr: str) -> list:
    """The log events (JSON lines): level, event and field names; other lines by their shape."""
    shown = []
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            shown.append(shape(line))
            continue
        shown.append((event.get("level"), shape(str(event.get("event"))), sorted(set(event) - {"timestamp"})))
    return shown


def instance_state(sc) -> dict:
    """What the instance holds: configuration, mounts, resources, freeze, and its files (by
    owner, mode and kind).  Left out: the logs, which every session appends to, and the cache's
    directory itself, which the first restore on an instance creates and later ones find."""
    listing = sc.instance.listing()
    files = {shape(path): (entry["mode"], entry["uid"], entry["gid"], entry["dir"])
             for path, entry in listing["files"].items() if not path.endswith((".log", "/iris-ops-cache"))}
    return {**listing, "files": files}


def state_difference(before: dict, after: dict) -> dict:
    files = {path: (before["files"].get(path), after["files"].get(path))
             for path in set(before["files"]) | set(after["files"]) if before["files"].get(path) != after["files"].get(path)}
    return {"files": files, **{key: (before[key], after[key]) for key in before if key != "files" and before[key] != after[key]}}


def container_state(sc) -> dict:
    state = sc.client.api.inspect_container(sc.name)["State"]
    return {key: state.get(key) for key in ("Status", "Running", "StartedAt", "Pid", "ExitCode", "OOMKilled")}


@pytest.fixture(scope="module")
def instance(docker_engine, sim_image):
    """One simulated instance for this module's round trips (each leaves it as it found it),
    with a table in USER whose rows the restore counts."""
    import secrets

    from iris_ops_sim.simcontainer import run_container

    sc = run_container(docker_engine.client, docker_engine.base_url, sim_image, f"iris-oi-{secrets.token_hex(4)}")
    try:
        sc.instance.sql("USER", "CREATE TABLE Kept.Row (Name VARCHAR(20))")
        sc.instance.sql("USER", "INSERT INTO Kept.Row (Name) VALUES ('one')")
        yield sc
    finally:
        sc.remove()


def round_trip(install: Install, sc, env: dict, work: Path) -> list[dict]:
    work.mkdir()
    steps = []
    for args in ROUND_TRIP:
        done = install.run(env, *args, cwd=work)
        steps.append({"args": args, "exit": done.returncode, "stdout": shape(done.stdout),
                      "logs": log_shape(done.stderr), "state": instance_state(sc), "raw": done.stdout + done.stderr})
    return steps


def instance_env(sc, **variables: str) -> dict:
    return {**clean_environment(), **sc.env, "IRIS_OPS_LOG_FORMAT": "json", **variables}


@pytest.mark.slow
def test_a_round_trip_is_the_same_whatever_the_test_variables_say(ordinary_install, instance, tmp_path):
    sc = instance
    running = container_state(sc)
    plain = round_trip(ordinary_install, sc, instance_env(sc), tmp_path / "plain")
    for step in plain:
        assert step["exit"] == 0, (step["args"], step["raw"])
    assert "fixture fx  namespace USER" in plain[0]["raw"] and plain[3]["raw"].startswith("RT\n")
    tested = round_trip(ordinary_install, sc, instance_env(sc, **TEST_VARIABLES), tmp_path / "tested")
    for before, after in zip(plain, tested):
        assert (after["exit"], after["stdout"], after["logs"]) == (before["exit"], before["stdout"], before["logs"]), (
            before["args"], after["raw"])
        assert after["state"] == before["state"], (before["args"], state_difference(before["state"], after["state"]))
    assert container_state(sc) == running


def a_run(install: Install, env: dict, cwd: Path) -> tuple:
    ran = install.run(env, "run", "--ns", "%SYS", "Write 1", cwd=cwd)
    listed = install.run(env, "plugins", "--json", cwd=cwd)
    return ran.returncode, ran.stdout, log_shape(ran.stderr), listed.returncode, listed.stdout


@pytest.fixture(scope="module")
def plain_run(ordinary_install, instance, tmp_path_factory) -> tuple:
    """``run --ns %SYS 'Write 1'`` and ``plugins --json`` without any test variable."""
    return a_run(ordinary_install, instance_env(instance), tmp_path_factory.mktemp("plain-run"))


@pytest.mark.slow
@pytest.mark.parametrize("spec", fault_specs())
def test_no_fault_kind_changes_a_run(ordinary_install, instance, plain_run, tmp_path, spec):
    """The issue's case: ``IRIS_OPS_FAULT=container-kill@ iris-ops run --ns %SYS 'Write 1'`` on an
    ordinary install exits 0, and the container keeps running; likewise every other fault."""
    sc = instance
    running = container_state(sc)
    tested = a_run(ordinary_install, instance_env(sc, **{**TEST_VARIABLES, "IRIS_OPS_FAULT": spec}), tmp_path)
    assert tested[:2] == (0, "1\n"), tested
    assert tested == plain_run
    assert container_state(sc) == running
