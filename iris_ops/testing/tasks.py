"""``iris-ops sim.*``: run the simulated Docker engine + IRIS as a background process.

    eval "$(iris-ops sim up)"      # starts it, prints DOCKER_HOST / IRIS_OPS_CONTAINER exports
    iris-ops sim sql --ns USER "SELECT 1"
    iris-ops sim status
    iris-ops sim down

Importing this module must stay cheap (``iris-ops --list``): docker, iris and the engine are
imported inside the task bodies.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import time
from pathlib import Path


from invoke import Collection

from iris_ops import hookimpl
from iris_ops.cli import task
from iris_ops.errors import UnreachableError, UsageError

#: Where ``sim up`` keeps its state unless ``--dir`` says otherwise (env IRIS_OPS_SIM_DIR).
DIR_ENV = "IRIS_OPS_SIM_DIR"
SOCKET_NAME = "engine.sock"
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with the terminating NUL
START_TIMEOUT = 30.0

_DIR_HELP = f"simulator directory (default ${DIR_ENV} or <tempdir>/iris-ops-sim-<uid>)"


def default_dir() -> Path:
    configured = os.environ.get(DIR_ENV)
    if configured:
        return Path(configured)
    base = Path(tempfile.gettempdir())
    candidate = base / f"iris-ops-sim-{os.getuid()}"
    if len(str(candidate / SOCKET_NAME)) > MAX_SOCKET_PATH:
        candidate = Path("/tmp") / f"iris-ops-sim-{os.getuid()}"
    return candidate


def _home(dir: str | None) -> Path:  # noqa: A002 - the flag is --dir
    home = Path(dir).expanduser().absolute() if dir else default_dir()
    if len(str(home / SOCKET_NAME).encode()) > MAX_SOCKET_PATH:
        raise UsageError(
            f"{home / SOCKET_NAME} is longer than the {MAX_SOCKET_PATH} bytes a unix socket path may have",
            fix="Pass a shorter --dir, e.g. /tmp/iris-ops-sim.",
        )
    return home


def _client(home: Path):
    from iris_ops.testing.client import SimClient

    return SimClient(f"unix://{home / SOCKET_NAME}", timeout=10.0)


def _alive(home: Path) -> dict | None:
    """The engine's ping answer, or None when nothing answers on the socket."""
    if not (home / SOCKET_NAME).exists():
        return None
    try:
        return _client(home).ping()
    except UnreachableError:
        return None


def _pid(home: Path) -> int | None:
    try:
        pid = int((home / "engine.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _running(pid) else None


def _running(pid: int) -> bool:
    """True while ``pid`` runs (a zombie left unreaped by a container's PID 1 does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _log_tail(home: Path, lines: int = 15) -> str:
    try:
        return "\n".join((home / "engine.log").read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def _spawn(home: Path, container: str) -> None:
    import subprocess

    for stale in (home / SOCKET_NAME, home / "engine.pid"):
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
    with open(home / "engine.log", "ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            [sys.executable, "-m", "iris_ops.testing.engine", "--home", str(home), "--container", container],
            stdin=devnull, stdout=log, stderr=log, cwd=str(home), start_new_session=True, close_fds=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if _alive(home):
            proc.returncode = 0  # detached on purpose: don't warn that it is still running
            return
        if proc.poll() is not None:
            raise UnreachableError(
                f"the simulated engine exited at start (status {proc.returncode})",
                fix=f"Read {home / 'engine.log'}.",
                details={"log_tail": _log_tail(home)},
            )
        time.sleep(0.05)
    proc.terminate()
    raise UnreachableError(
        f"the simulated engine did not answer on {home / SOCKET_NAME} within {START_TIMEOUT:.0f} s",
        fix=f"Read {home / 'engine.log'}.",
        details={"log_tail": _log_tail(home)},
    )


@task(help={"dir": _DIR_HELP, "container": "container to create if absent (default iris)"})
def up(c, dir=None, container="iris"):  # noqa: A002
    """Start the simulated Docker engine (idempotent); print shell exports for `eval`."""
    home = _home(dir)
    home.mkdir(parents=True, exist_ok=True)
    if not _alive(home):
        _spawn(home, container)
    client = _client(home)
    if container not in {entry["name"] for entry in client.containers()}:
        client.add_container(container)
    print(f"export DOCKER_HOST={shlex.quote('unix://' + str(home / SOCKET_NAME))}")
    print(f"export IRIS_OPS_CONTAINER={shlex.quote(container)}")
    # Later `sim sql/status/down` calls find this engine without repeating --dir.
    print(f"export IRIS_OPS_SIM_DIR={shlex.quote(str(home))}")


@task(help={"dir": _DIR_HELP})
def down(c, dir=None):  # noqa: A002
    """Stop the simulated Docker engine (idempotent); containers stay on disk."""
    home = _home(dir)
    pid = _pid(home)
    answered = _alive(home)
    if not answered and pid is None:
        for stale in (home / SOCKET_NAME, home / "engine.pid"):
            try:
                stale.unlink()
            except FileNotFoundError:
                pass
        print(f"sim engine is not running ({home}); nothing to stop")
        return
    pid = pid or (answered or {}).get("pid")
    if answered:
        try:
            _client(home).shutdown()
        except UnreachableError:
            pass
    import signal

    deadline = time.monotonic() + 10
    sent_term = False
    while pid and time.monotonic() < deadline:
        if not _running(pid):
            break
        if not sent_term and time.monotonic() > deadline - 7:
            os.kill(pid, signal.SIGTERM)
            sent_term = True
        time.sleep(0.05)
    else:
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for stale in (home / SOCKET_NAME, home / "engine.pid"):
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
    print(f"sim engine stopped (pid {pid}, {home})")


def _table(columns: list[str], rows: list[list]) -> str:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(str(col))] + [len(r[i]) for r in cells if i < len(r)]) for i, col in enumerate(columns)]
    lines = [" | ".join(str(col).ljust(w) for col, w in zip(columns, widths)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


@task(help={"statement": "SQL statement", "ns": "namespace (default USER)", "dir": _DIR_HELP,
            "container": "container (default iris)"})
def sql(c, statement, ns="USER", dir=None, container="iris"):  # noqa: A002
    """Run one SQL statement in the simulated instance and print the rows as a table."""
    if not statement.strip():
        raise UsageError("no SQL statement given", fix='iris-ops sim sql --ns USER "SELECT 1"')
    home = _home(dir)
    if not _alive(home):
        raise UnreachableError(f"the simulated engine is not running ({home})", fix="Start it with `iris-ops sim up`.")
    result = _client(home).sql(container, ns, statement)
    n = result["rowcount"]
    if result["columns"]:
        print(_table(result["columns"], result["rows"]))
        print(f"({n} row{'s' if n != 1 else ''})")
    else:  # INSERT, UPDATE, DELETE...: a change, not a result set
        print(f"{n} row{'s' if n != 1 else ''} affected")


@task(help={"dir": _DIR_HELP})
def status(c, dir=None):  # noqa: A002
    """Say whether the simulated engine runs, where, and its containers."""
    home = _home(dir)
    answer = _alive(home)
    if not answer:
        print(f"sim engine: not running ({home})")
        return
    print(f"sim engine: running (pid {answer.get('pid')})")
    print(f"DOCKER_HOST=unix://{home / SOCKET_NAME}")
    for entry in _client(home).containers():
        print(f"  {entry['name']:<20} {entry['state']:<8} instance {entry.get('instance', 'IRIS')}  {entry['id'][:12]}")


@hookimpl
def register_tasks(registrar):
    registrar.add_collection(Collection("sim", up, down, sql, status))
