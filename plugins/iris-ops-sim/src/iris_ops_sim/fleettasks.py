"""``iris-ops sim fleet ...``: a fleet on one machine, for trying and testing many targets.

    iris-ops sim fleet up --hosts 3          # sshd on 127.0.0.2-4, an instance each; prints DIR
    cd DIR && iris-ops backup --ns USER --out fixtures --all-targets
    iris-ops sim fleet stop host-2           # that host is down (its sshd stopped)
    iris-ops sim fleet start host-2
    iris-ops sim fleet down                  # everything, by pid

The work is :mod:`iris_ops_sim.fleet`'s; importing this module stays cheap (``iris-ops --list``).
"""

from __future__ import annotations

import os
import shlex
import sys

from invoke import Collection

from iris_ops.errors import UsageError
from iris_ops.task import task

__all__ = ["up", "down", "stop", "start", "status", "collection"]

_DIR_HELP = "the fleet's directory (default: the current directory)"


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _count(value, flag: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise UsageError(f"{flag} must be a whole number from {low} to {high}, not {value!r}",
                         fix=f"iris-ops sim fleet up {flag} 3")
    return number


def _open(dir):  # noqa: A002
    from iris_ops_sim.fleet import open_fleet

    return open_fleet(dir if dir else os.getcwd())


@task(help={"hosts": "how many hosts (sshd on 127.0.0.2, 127.0.0.3, ...), 1 to 64",
            "dir": "a new or empty directory for the fleet (default: a new one under the temporary directory)",
            "containers": "how many hosts (the last ones) run their instance in a container of this machine's Docker "
                          "engine (default 1 when an engine is reachable, else 0)"})
def up(c, hosts, dir=None, containers=None):  # noqa: A002
    """Start a fleet of hosts on this machine, each an OpenSSH server with its own simulated IRIS.

    Host N is sshd on 127.0.0.(N+1), a loopback address (no interface or route changes); its
    instance is installed natively on that "host", or runs in a container of this machine's
    Docker engine, reached through `docker exec` over SSH.  The fleet's directory gets a project
    file naming every host as a target (group `fleet`), the ssh_config and known_hosts it reaches
    them with, and the client key.  Everything keeps running after this command: `sim fleet down`
    removes it.

    Examples:
        iris-ops sim fleet up --hosts 3
        iris-ops sim fleet up --hosts 5 --containers 2 --dir ~/fleet
    """
    from iris_ops_sim import engines, sshd
    from iris_ops_sim import fleet as fleets

    count = _count(hosts, "--hosts", 1, fleets.MAX_HOSTS)
    wanted = None if containers is None else _count(containers, "--containers", 0, count)
    why = sshd.blocker()
    if why:
        raise UsageError(f"no sshd can run here: {why}", fix="apt-get install openssh-server (as root)")
    url = engines.find_engine() if wanted != 0 else None
    engine = (url, engines.client_for(url)) if url is not None else None
    in_containers = wanted if wanted is not None else (1 if engine is not None else 0)
    if wanted is None:
        _say(f"Docker engine {engine[0]}: the last host runs its instance in a container (--containers 0 for none)"
             if engine is not None else "no Docker engine reachable: every host's instance is native")
    made = fleets.start_fleet(count, dir, in_containers, engine)
    print(f"fleet of {count} host{'s' if count != 1 else ''} in {made.dir}")
    for host in made.hosts:
        print(f"  {host.name:<8} sshd {host.address}:{host.port} (pid {host.sshd_pid}); instance {host.where()}")
    bed = made.bed
    print(f"project file: {made.project_file} (targets {', '.join(h.name for h in made.hosts)}; group {fleets.GROUP})")
    print(f"ssh_config:   {bed.ssh_config}")
    print(f"known_hosts:  {bed.known_hosts}")
    print(f"client key:   {bed.client_key}")
    print("next:")
    print(f"  cd {shlex.quote(str(made.dir))} && iris-ops backup --ns USER --out fixtures --all-targets")
    print(f"  iris-ops sim fleet stop {made.hosts[-1].name} --dir {shlex.quote(str(made.dir))}   # a host that is down")
    print(f"  iris-ops sim fleet down --dir {shlex.quote(str(made.dir))}")


@task(help={"host": "the host's name (host-1, ...)", "dir": _DIR_HELP})
def stop(c, host, dir=None):  # noqa: A002
    """Stop one host's sshd, by its pid: the host is down (its instance keeps running)."""
    fleet = _open(dir)
    was = fleet.sshd_running(fleet.host(host))
    stopped = fleet.stop(host)
    print(f"{stopped.name}: sshd on {stopped.address}:{stopped.port} " + ("stopped" if was else "was not running"))


@task(help={"host": "the host's name (host-1, ...)", "dir": _DIR_HELP})
def start(c, host, dir=None):  # noqa: A002
    """Start one host's sshd again (stopped by `sim fleet stop`), with the same host key."""
    fleet = _open(dir)
    started = fleet.start(host)
    print(f"{started.name}: sshd on {started.address}:{started.port} runs (pid {started.sshd_pid})")


@task(help={"dir": _DIR_HELP})
def status(c, dir=None):  # noqa: A002
    """List the fleet's hosts: address, sshd up or down, where each instance runs."""
    fleet = _open(dir)
    print(f"fleet in {fleet.dir} (project file {fleet.project_file})")
    for host in fleet.hosts:
        state = f"up (pid {host.sshd_pid})" if fleet.sshd_running(host) else "down"
        print(f"  {host.name:<8} sshd {host.address}:{host.port} {state}; instance {host.where()}")


@task(help={"dir": _DIR_HELP})
def down(c, dir=None):  # noqa: A002
    """Remove the fleet by pid: every sshd, native instance and container, then its directory."""
    fleet = _open(dir)
    fleet.down(print)


collection = Collection("fleet", up, down, stop, start, status)
collection.__doc__ = "A fleet on one machine: sshd hosts on 127.0.0.2, ... with a simulated IRIS each."
