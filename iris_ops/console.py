"""The ``iris-ops`` console script (and ``python -m iris_ops``).

It starts what may start before the program does, then hands over to :func:`iris_ops.cli.main`.
Only light modules are imported here: anything started here runs while invoke, the plugins and
the rest of iris-ops are imported (about 0.25-0.3 s on a two-core machine).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from iris_ops import hashpass

    hashpass.prefetch_for(sys.argv[1:] if argv is None else argv)  # validate's hash pass
    from iris_ops.cli import main as run

    run(argv)
