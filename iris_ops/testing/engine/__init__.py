"""The simulated Docker engine: Docker Engine HTTP API on a unix socket, exec of in-process
programs (``iris``, ``sh -c``, file utilities), archives, and the ``/_sim/`` control API.

``SimEngine(home).start()`` serves in a background thread; ``python -m iris_ops.testing.engine
--home HOME`` serves in the foreground.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from iris_ops.testing.engine.server import SimEngine

__all__ = ["SimEngine"]


def __getattr__(name: str):
    if name == "SimEngine":
        from iris_ops.testing.engine.server import SimEngine

        return SimEngine
    raise AttributeError(name)
