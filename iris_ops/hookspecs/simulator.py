"""Hook specifications of test runs: the simulated instances made for a test session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from iris_ops.hookspecs.marker import hookspec

__all__ = ["start_simulated_instance"]


# -------------------------------------------------------------------------------------------
# Test runs: instances made for a test session
# -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def start_simulated_instance(name: str) -> "tuple[dict[str, Any], Callable[[], None], str] | None":
    """Start a simulated IRIS instance for a test session (``pytest --iris-sim``).

    Stops at the first non-None result.

    iris-ops itself has no simulator: the ``iris-ops-sim`` plugin implements this hook.  When no
    plugin does, the pytest plugin says how to install one.

    :param name: a name for the instance, unique to the session (a container name, say).
    :return: ``(settings, stop, where)``: the settings that aim iris-ops at the instance (as
        ``iris-ops.toml`` keys: ``container``, ``docker_host``, ``transport``, ...), a callable
        that stops and removes it, and a phrase that says where it runs, for the test summary.

    Example::

        import subprocess

        @hookimpl
        def start_simulated_instance(name):
            subprocess.run(["my-iris-double", "start", name], check=True)
            stop = lambda: subprocess.run(["my-iris-double", "rm", name], check=True)
            return {"container": name, "transport": "docker"}, stop, f"my IRIS double {name}"
    """
