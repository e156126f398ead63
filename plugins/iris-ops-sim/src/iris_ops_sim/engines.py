"""Finding a Docker engine that answers, and a client for it.

:func:`find_engine` returns the URL of an engine that answers ``/_ping`` now: ``DOCKER_HOST``
when it is set (the only candidate then, as for the docker CLI), otherwise the active CLI
context's endpoint and the default socket.  When none answers, :mod:`iris_ops_sim.dockerd` may
start a private one.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import structlog

from iris_ops.errors import UnreachableError

if TYPE_CHECKING:
    import docker

__all__ = ["API_VERSION", "DEFAULT_SOCKET", "EngineUnavailableError", "ping", "probe", "find_engine", "client_for"]

log = structlog.get_logger(__name__)

#: What the tests speak: Debian's docker.io 20.10 serves API 1.41, newer engines still accept it.
API_VERSION = "1.41"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"


class EngineUnavailableError(UnreachableError):
    """No Docker engine answers and none can be started here; the message says why."""

    default_fix = (
        "Start a Docker engine (or set DOCKER_HOST to one), or run the tests as root on a machine "
        "with dockerd installed (Debian: apt-get install docker.io) so a private one can start."
    )


def ping(url: str, timeout: float = 2.0, *, tls: object = None) -> str | None:
    """None when the engine at ``url`` answers ``/_ping`` within ``timeout``; else why not."""
    import docker

    try:
        client = docker.APIClient(base_url=url, version=API_VERSION, timeout=timeout, tls=tls)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any transport (unix, tcp, ssh, TLS) fails in its own way
        return f"{type(exc).__name__}: {exc}"
    return None


def _candidates() -> list[tuple[str, str, object]]:
    """(what, url, tls) in the docker CLI's order of precedence."""
    import docker
    from docker.context import ContextAPI

    environment = os.environ
    if environment.get("DOCKER_HOST"):
        params = docker.utils.kwargs_from_env(environment=environment)
        return [("DOCKER_HOST", params["base_url"], params.get("tls"))]
    found: list[tuple[str, str, object]] = []
    try:
        context = ContextAPI.get_context(environment.get("DOCKER_CONTEXT") or None)
    except Exception as exc:  # a broken ~/.docker/config.json must not hide the default socket
        log.debug("docker context unreadable", error=str(exc))
        context = None
    if context is not None and context.Host:
        # docker-py's own context writer stores the requests form of a socket URL.
        url = re.sub(r"^http\+unix://", "unix://", context.Host)
        found.append((f"docker context {context.Name!r}", url, context.TLSConfig))
    if all(url != DEFAULT_SOCKET for _, url, _ in found):
        found.append(("default socket", DEFAULT_SOCKET, None))
    return found


def probe(timeout: float) -> tuple[str | None, list[str]]:
    """(the URL of the first candidate that answers, or None; why each one before it did not)."""
    failures = []
    for what, url, tls in _candidates():
        problem = ping(url, timeout, tls=tls)
        if problem is None:
            return url, failures
        failures.append(f"{what} {url}: {problem}")
    return None, failures


def find_engine(timeout: float = 2.0) -> str | None:
    """The URL of a Docker engine that answers now, or None.

    ``DOCKER_HOST`` when set (and then nothing else: an explicit choice is not second-guessed);
    otherwise the active docker context's endpoint, then ``/var/run/docker.sock``.  TLS settings
    stay those of the environment or context, as ``docker.from_env()`` applies them.
    """
    return probe(timeout)[0]


def client_for(url: str, timeout: float = 120.0) -> docker.DockerClient:
    """A high-level client for ``url``, speaking :data:`API_VERSION` (no version round trip)."""
    import docker

    tls = None
    for _, candidate, candidate_tls in _candidates():
        if candidate == url:
            tls = candidate_tls
    return docker.DockerClient(base_url=url, version=API_VERSION, timeout=timeout, tls=tls)
