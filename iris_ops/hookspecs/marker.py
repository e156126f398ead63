"""The marker of iris-ops' hook specifications (implementations take :data:`iris_ops.hookimpl`)."""

import pluggy

from iris_ops import PROJECT_NAME

__all__ = ["hookspec"]

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
