"""iris-ops: a plugin-based task runner for InterSystems IRIS in Docker."""

import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "iris_ops"

#: Marker for hook implementations, built-in and third-party alike.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["__version__", "hookimpl", "PROJECT_NAME"]
