"""``iris-ops sim ...``: a simulated IRIS instance to try iris-ops on, where a real one would run.

    eval "$(iris-ops sim up)"      # a container of the iris-ops-sim image on a reachable Docker
                                   # engine, or else an instance installed on this host
    eval "$(iris-ops sim up --data-dir /srv/iris-data)"   # its data on that host directory
    eval "$(iris-ops sim up --dir ~/sim)"   # installed on this host, engine or not
    iris-ops sim sql --ns USER "SELECT 1"
    iris-ops sim create-db --name BIG --size-mb 256 --namespace BIG
    iris-ops sim status
    iris-ops sim down
    iris-ops sim fleet up --hosts 3   # many targets over SSH: iris_ops_sim.fleettasks

Importing this module must stay cheap (``iris-ops --list``): docker and the simulator are
imported inside the task bodies.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from invoke import Collection

from iris_ops import hookimpl
from iris_ops.task import task
from iris_ops.errors import ConflictError, UnreachableError, UsageError

__all__ = [
    "DIR_ENV", "DEFAULT_CONTAINER", "default_dir", "up", "down", "status", "sql", "create_db", "variants", "image",
    "register_tasks", "start_simulated_instance",
]

#: Where ``sim up`` installs a host instance unless ``--dir`` says otherwise.
DIR_ENV = "IRIS_OPS_SIM_DIR"
DEFAULT_CONTAINER = "iris"
_DEFAULT_DIR = f"${DIR_ENV} or <tempdir>/iris-ops-sim-<uid>"
_DIR_HELP = f"the host install in DIR (default {_DEFAULT_DIR})"
_UP_DIR_HELP = (f"install on this host, in DIR, even when a Docker engine is reachable (with no engine, "
                f"`sim up` installs on this host anyway, in {_DEFAULT_DIR})")
_CONTAINER_HELP = f"container name (default ${{IRIS_OPS_CONTAINER}} or {DEFAULT_CONTAINER})"
_DATA_DIR_HELP = ("keep the instance's data (manager directory, databases) in this directory of the engine's host, "
                  "mounted into the container as IRIS's durable %SYS (ISC_DATA_DIRECTORY); made if missing; "
                  "it must be writable by the instance owner, uid 51773 (given to it when run as root)")


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def default_dir() -> Path:
    configured = os.environ.get(DIR_ENV)
    if configured:
        return Path(configured)
    import tempfile  # here: --list imports this module, and tempfile brings random with it

    return Path(tempfile.gettempdir()) / f"iris-ops-sim-{os.getuid()}"


def _host(dir: str | None):  # noqa: A002 - the flag is --dir
    from iris_ops_sim.simcontainer import HostSim

    return HostSim(Path(dir).expanduser().absolute() if dir else default_dir())


def _engine(required: bool):
    """(base_url, DockerClient) of a reachable engine, or None."""
    from iris_ops_sim import engines

    url = engines.find_engine()
    if url is None:
        if required:
            raise UnreachableError("no Docker engine is reachable (DOCKER_HOST, the docker context, /var/run/docker.sock)",
                                   fix="Start Docker, or set DOCKER_HOST.")
        return None
    return url, engines.client_for(url)


def _container_name(container: str | None) -> str:
    return container or os.environ.get("IRIS_OPS_CONTAINER") or DEFAULT_CONTAINER


def _host_first(dir: str | None, container: str | None) -> bool:  # noqa: A002
    """Whether `sim` commands mean the host install: --dir, IRIS_OPS_TRANSPORT=local, or no
    container named anywhere."""
    return bool(dir) or os.environ.get("IRIS_OPS_TRANSPORT") == "local" or not (
        container or os.environ.get("IRIS_OPS_CONTAINER"))


def _where(dir: str | None, container: str | None):  # noqa: A002
    """The simulated instance `sim` commands act on: the host install, or the container."""
    if _host_first(dir, container):
        host = _host(dir)
        if host.installed():
            return host
        if dir or os.environ.get("IRIS_OPS_TRANSPORT") == "local":
            raise UnreachableError(f"no simulated instance is installed in {host.home}",
                                   fix='Start one with `eval "$(iris-ops sim up)"`.')
    found = _engine(required=False)
    if found is None:
        raise UnreachableError("no simulated instance is running here",
                               fix='Start one with `eval "$(iris-ops sim up)"`.')
    url, client = found
    return _sim_container(client, url, _container_name(container))


def _sim_container(client, url: str, name: str):
    import docker

    from iris_ops_sim.control import SimControl, docker_exec
    from iris_ops_sim.simcontainer import LABEL, SimContainer

    try:
        found = client.containers.get(name)
    except docker.errors.NotFound:
        raise UnreachableError(f"no container {name!r} on {url}", fix='Start one with `eval "$(iris-ops sim up)"`.') from None
    if found.labels.get(LABEL) != "1":
        raise ConflictError(f"container {name!r} is not a simulated instance (no label {LABEL}=1); iris-ops sim leaves it alone",
                            fix="Pass --container with the name `iris-ops sim up` printed.")
    return SimContainer(name=name, base_url=url, instance=SimControl(docker_exec(url, name)), client=client)


def _chosen_variants(variant) -> tuple[str, ...]:
    from iris_ops_sim.irissim import variants

    try:
        return tuple(sorted(variants.parse(",".join(variant or []))))
    except variants.UnknownVariant as e:
        raise UsageError(str(e), fix="`iris-ops sim variants` lists them.") from None


def _same_variants(sim, wanted: tuple[str, ...], where: str) -> None:
    """An instance that already runs keeps the variants it started with."""
    running = tuple(sim.instance.state().get("variants") or ())
    if running != wanted:
        raise ConflictError(
            f"{where} already runs with variants [{', '.join(running) or 'none'}], not [{', '.join(wanted) or 'none'}]",
            fix="Remove it first with `iris-ops sim down` (variants are fixed when an instance starts).")


def _data_dir(where: Path) -> Path:
    """The data directory, made if missing and writable by the instance owner (uid 51773)."""
    from iris_ops_sim.rootfs import IRISOWNER_ID

    if where.exists() and not where.is_dir():
        raise UsageError(f"--data-dir {where} is not a directory", fix="Give a directory (it is made if missing).")
    where.mkdir(parents=True, exist_ok=True)
    stat = where.stat()
    if stat.st_uid != IRISOWNER_ID and not stat.st_mode & 0o002:
        if os.geteuid() != 0:
            raise UsageError(f"--data-dir {where} is not writable by the instance owner (uid {IRISOWNER_ID})",
                             fix=f"sudo chown {IRISOWNER_ID}:{IRISOWNER_ID} {shlex.quote(str(where))}")
        os.chown(where, IRISOWNER_ID, IRISOWNER_ID)
    return where


@task(help={"dir": _UP_DIR_HELP, "container": _CONTAINER_HELP, "data_dir": _DATA_DIR_HELP,
            "variant": "take this variant's answer to an open question (repeatable; `iris-ops sim variants` lists them)"},
      iterable=["variant"])
def up(c, dir=None, container=None, variant=None, data_dir=None):  # noqa: A002
    """Start a simulated instance (idempotent); print shell exports for `eval`.

    A container of the iris-ops-sim image when a Docker engine is reachable; an install on this
    host when none is, or when --dir asks for one.  With --data-dir the container keeps the
    instance's data on that host directory, as a real IRIS container keeps durable %SYS on a
    volume: put it on the storage to try (XFS shares blocks: iris-ops' copies become reflinks).
    It outlives `sim down`.

    Examples:
        eval "$(iris-ops sim up)"
        eval "$(iris-ops sim up --dir ~/iris-sim)"
        eval "$(iris-ops sim up --variant eof-keeps-session --variant rename-replaces)"
        eval "$(iris-ops sim up --data-dir /srv/iris-data)"
    """
    if dir and container:
        raise UsageError("--dir asks for an install on this host and --container for a container: give one",
                         fix="iris-ops sim up --dir DIR (on this host), or iris-ops sim up --container NAME")
    chosen = _chosen_variants(variant)
    if data_dir and dir:
        raise UsageError("--data-dir is for a container; --dir installs on this host",
                         fix="For a host install, give --dir on the filesystem you want; else drop --dir.")
    found = None if dir else _engine(required=False)
    if found is None and data_dir:
        raise UsageError("--data-dir needs a Docker engine, and none is reachable",
                         fix="Start Docker (or set DOCKER_HOST); for an instance on this host, give --dir on that "
                         "filesystem instead.")
    if found is None:
        host = _host(dir)
        if host.installed():
            _same_variants(host, chosen, f"the simulated instance in {host.home}")
        host = type(host)(host.home, variants=chosen).install()
        why = "--dir asks for a host install" if dir else "no Docker engine reachable"
        _say(f"simulated IRIS installed on this host at {host.install_dir} ({why}); "
             "iris-ops will use the local transport")
        print("export IRIS_OPS_TRANSPORT=local")
        print(f"export IRIS_OPS_IRIS_COMMAND={shlex.quote(str(host.iris_command))}")
        print(f"export IRIS_OPS_OWNER={shlex.quote(host.env['IRIS_OPS_OWNER'])}")
        print(f"export {DIR_ENV}={shlex.quote(str(host.home))}")
        print("unset IRIS_OPS_CONTAINER")
        return
    import docker

    from iris_ops_sim import image
    from iris_ops_sim.simcontainer import DURABLE_DATA, data_directory, run_container, wait_ready

    url, client = found
    name = _container_name(container)
    where = Path(data_dir).expanduser().absolute() if data_dir else None
    try:
        existing = client.containers.get(name)
    except docker.errors.NotFound:
        existing = None
    if existing is not None:
        sc = _sim_container(client, url, name)
        has = data_directory(client, name)
        if where is not None and has != str(where):
            raise ConflictError(f"container {name!r} already runs " + (f"on data directory {has}" if has else
                                "with its data inside the container"),
                                fix=f"`iris-ops sim down --container {name}` first, or pass another --container.")
        if existing.status != "running":
            existing.start()
        wait_ready(sc, data_dir=DURABLE_DATA if has else None)
        _same_variants(sc, chosen, f"container {name}")
        _say(f"simulated IRIS container {name} already runs on {url}")
    else:
        tag = image.ensure_image(client)
        run_container(client, url, tag, name, variants=chosen, data_dir=_data_dir(where) if where else None)
        _say(f"simulated IRIS container {name} ({tag}) started on {url}"
             + (f" with variants {', '.join(chosen)}" if chosen else "") + (f", its data in {where}" if where else ""))
    print(f"export DOCKER_HOST={shlex.quote(url)}")
    print(f"export IRIS_OPS_CONTAINER={shlex.quote(name)}")
    print("export IRIS_OPS_TRANSPORT=docker")
    print(f"unset {DIR_ENV} IRIS_OPS_IRIS_COMMAND IRIS_OPS_OWNER")


@task(help={"dir": _DIR_HELP, "container": _CONTAINER_HELP})
def down(c, dir=None, container=None):  # noqa: A002
    """Remove the simulated instance (idempotent): its container, or its host install."""
    host = _host(dir)
    if _host_first(dir, container) and host.installed():
        import shutil  # here, like tempfile: shutil brings the compression modules with it

        shutil.rmtree(host.home)
        print(f"simulated IRIS removed from {host.home}")
        return
    found = _engine(required=False)
    if found is None:
        print("no simulated instance here; nothing to remove")
        return
    url, client = found
    name = _container_name(container)
    try:
        sc = _sim_container(client, url, name)
    except UnreachableError:
        print(f"no container {name} on {url}; nothing to remove")
        return
    from iris_ops_sim.simcontainer import data_directory

    kept = data_directory(client, name)
    sc.remove()
    print(f"simulated IRIS container {name} removed" + (f" (its data directory {kept} is kept)" if kept else ""))


@task(help={"dir": _DIR_HELP, "container": _CONTAINER_HELP})
def status(c, dir=None, container=None):  # noqa: A002
    """Say where the simulated instance runs, and whether it answers."""
    try:
        sim = _where(dir, container)
    except UnreachableError as e:
        print(f"simulated IRIS: not running ({e.message})")
        return
    state = sim.instance.state()
    where = f"host install {sim.home}" if hasattr(sim, "home") else f"container {sim.name} on {sim.base_url}"
    print(f"simulated IRIS: running ({where})")
    print(f"  version: {state['version']}")
    print(f"  variants: {', '.join(state.get('variants') or []) or 'none (the strictest reading of every open question)'}")
    print(f"  data:    {state.get('data_directory', '')}")
    print(f"  frozen:  {'yes' if state['frozen'] else 'no'}")
    print(f"  namespaces: {', '.join(sorted(state['config']['Namespaces']))}")


def _table(columns: list[str], rows: list[list]) -> str:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(str(col))] + [len(r[i]) for r in cells if i < len(r)]) for i, col in enumerate(columns)]
    lines = [" | ".join(str(col).ljust(w) for col, w in zip(columns, widths)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


@task(help={"statement": "SQL statement", "ns": "namespace (default USER)", "dir": _DIR_HELP, "container": _CONTAINER_HELP})
def sql(c, statement, ns="USER", dir=None, container=None):  # noqa: A002
    """Run one SQL statement in the simulated instance and print the rows as a table."""
    if not statement.strip():
        raise UsageError("no SQL statement given", fix='iris-ops sim sql --ns USER "SELECT 1"')
    result = _where(dir, container).instance.sql(ns, statement)
    n = result.rowcount
    if result.columns:
        print(_table(result.columns, [list(r) for r in result.rows]))
        print(f"({n} row{'s' if n != 1 else ''})")
    else:
        print(f"{n} row{'s' if n != 1 else ''} affected")


@task(help={"name": "database name", "size_mb": "size in MB", "namespace": "also create this namespace on it",
            "fill": "random bytes in every block past the contents, as a full database (throughput figures)",
            "dir": _DIR_HELP, "container": _CONTAINER_HELP})
def create_db(c, name, size_mb=1, namespace=None, fill=False, dir=None, container=None):  # noqa: A002
    """Create a database of the given size in the simulated instance (and a namespace on it)."""
    if int(size_mb) < 1:
        raise UsageError(f"--size-mb must be at least 1, not {size_mb}", fix="iris-ops sim create-db --name DB --size-mb 64")
    directory = _where(dir, container).instance.create_database(name, size_mb=int(size_mb), namespace=namespace,
                                                                fill=bool(fill))
    print(f"database {name.upper()} created at {directory}" + (f", namespace {namespace.upper()} on it" if namespace else ""))


@task(help={"json": "print the variants as one JSON document"})
def variants(c, json_=False):
    """List the simulator's variants: each open IRIS question, its default answer and the other one.

    Examples:
        iris-ops sim variants
        iris-ops sim up --variant readonly-sql-fails
    """
    from iris_ops_sim.irissim import variants as known

    rows = [{"name": v.name, "question": v.question, "default": v.default, "variant": v.answer}
            for v in known.VARIANTS.values()]
    if json_:
        return {"variants": rows}
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['question']}")
        print(f"{'':<{width}}    default: {r['default']}")
        print(f"{'':<{width}}    variant: {r['variant']}")
    return None


@task
def image(c):
    """Build the iris-ops-sim image on the reachable engine (only when its sources changed)."""
    from iris_ops_sim import image as images

    _url, client = _engine(required=True)
    print(images.ensure_image(client))


@hookimpl
def register_tasks(registrar):
    from iris_ops_sim import fleettasks

    sim = Collection("sim", up, down, status, sql, create_db, variants, image)
    sim.add_collection(fleettasks.collection)
    registrar.add_collection(sim)


@hookimpl
def start_simulated_instance(name):
    """A simulated instance for a test session (``pytest --iris-sim``): a container on a
    reachable engine, or else a host install under a temporary directory."""
    from iris_ops_sim import engines
    from iris_ops_sim.simcontainer import HostSim, run_container

    url = engines.find_engine()
    if url is not None:
        from iris_ops_sim import image as images

        client = engines.client_for(url)
        sc = run_container(client, url, images.ensure_image(client), name)
        return {"container": name, "docker_host": url, "transport": "docker"}, sc.remove, f"simulated IRIS container {name}"
    import shutil
    import tempfile

    home = tempfile.mkdtemp(prefix="iris-ops-pytest-")
    sim = HostSim(home).install()
    return ({"transport": "local", "iris_command": str(sim.iris_command)},
            lambda: shutil.rmtree(home, ignore_errors=True), f"simulated IRIS installed in {home}")
