"""The Docker engine's failures as iris-ops errors: an engine nothing answers at, a container
that is missing, paused or stopped, a full disk, an engine that answered too late.

Every call of the docker transport to the engine goes through :func:`translate_errors`, so a
user sees one message and one exit code for one cause, whichever call met it.  ``docker`` and
``requests`` are imported inside the functions: importing iris_ops must stay cheap.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

from iris_ops import errors

if TYPE_CHECKING:  # pragma: no cover
    import docker

__all__ = [
    "ENGINE_FIX", "engine_address", "engine_unreachable", "container_missing", "container_not_running",
    "translate_errors",
]

ENGINE_FIX = (
    "Start Docker (or `iris-ops sim up` for the simulator), or point DOCKER_HOST at a running "
    "engine (e.g. unix:///var/run/docker.sock); `docker version` shows whether the engine answers."
)


def engine_unreachable(where: str | None, exc: BaseException) -> errors.UnreachableError:
    """The error for an engine at ``where`` (None: the configured default) that failed with ``exc``."""
    address = where or _default_address()
    return errors.UnreachableError(
        f"cannot reach the Docker engine at {address}: {_reason(exc)}",
        fix=f"Nothing answered at {address}. " + ENGINE_FIX,
        details={"cause": repr(exc), "address": address},
    )


def engine_address(api) -> str | None:
    """The engine address a client talks to: docker-py shows ``http+docker://localhost`` for a
    unix socket, so take the socket's path from its adapter."""
    socket_path = getattr(getattr(api, "_custom_adapter", None), "socket_path", None)
    if socket_path:
        return "unix://" + socket_path
    return getattr(api, "base_url", None)


def _default_address() -> str:
    """The address docker-py uses when none is configured: DOCKER_HOST, else its default socket."""
    import os

    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock (the default; DOCKER_HOST is not set)"


def _reason(exc: BaseException) -> str:
    # requests wraps urllib3 wraps the OSError: the innermost message says what happened
    seen = exc
    for _ in range(8):
        reason = getattr(seen, "reason", None)
        nested = [a for a in getattr(seen, "args", ()) if isinstance(a, BaseException)]
        inner = reason if isinstance(reason, BaseException) else (nested[-1] if nested else seen.__cause__)
        if inner is None or inner is seen:
            break
        seen = inner
    return str(seen) or type(seen).__name__


def container_missing(container: str) -> errors.UnreachableError:
    return errors.UnreachableError(
        f"container '{container}' not found",
        fix=(
            "List running containers with `docker ps` and pass the right name with --container "
            "(or set IRIS_OPS_CONTAINER)."
        ),
    )


def container_not_running(container: str, explanation: str) -> errors.UnreachableError:
    """The error for a container the engine will not exec in (409), or found stopped: paused,
    restarting or not running, as ``explanation`` (the engine's message or state) says."""
    text = explanation.lower()
    if "paused" in text:
        return errors.UnreachableError(
            f"container '{container}' is paused", fix=f"Unpause it: `docker unpause {container}`."
        )
    if "restarting" in text:
        return errors.UnreachableError(
            f"container '{container}' is restarting",
            fix=f"Wait until `docker ps` shows it up, and look at `docker logs {container}` if it keeps restarting.",
        )
    return errors.UnreachableError(
        f"container '{container}' is not running",
        fix=f"Start it: `docker start {container}` (and wait until IRIS is up).",
        details={"engine_message": explanation},
    )


@contextlib.contextmanager
def translate_errors(api: "docker.APIClient", container: str, what: str) -> Iterator[None]:
    """Turn docker/requests failures inside the block into iris-ops errors.

    404 means the container is missing (callers that can get a 404 for a *path* catch
    ``docker.errors.NotFound`` themselves, inside the block); 409 means it is not running.
    """
    import docker
    import requests

    try:
        yield
    except errors.IrisOpsError:
        raise
    except docker.errors.NotFound as exc:
        raise container_missing(container) from exc
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            raise container_not_running(container, str(exc.explanation or exc)) from exc
        if "no space left on device" in str(exc.explanation or exc).lower():
            # The engine reached the container; its filesystem is full: the instance's side failed.
            raise errors.InstanceError(
                f"{what}: the container's disk is full ({exc.explanation or exc})",
                fix=f"Free space in the instance's filesystem (`docker exec {container} df -h`), then retry.",
            ) from exc
        raise errors.UnreachableError(
            f"{what}: the Docker engine answered {exc.status_code}: {exc.explanation or exc}",
            fix=f"Read the engine's message; `docker ps` and `docker logs {container}` show the container's state.",
        ) from exc
    except requests.exceptions.Timeout as exc:
        raise errors.DeadlineExceeded(
            f"{what}: the Docker engine did not answer in time ({_reason(exc)})"
        ) from exc
    except (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError) as exc:
        raise engine_unreachable(engine_address(api), exc) from exc
    except docker.errors.DockerException as exc:
        raise engine_unreachable(engine_address(api), exc) from exc
