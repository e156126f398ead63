"""``python -m iris_ops``: the ``iris-ops`` command."""

from iris_ops.console import script

script()
