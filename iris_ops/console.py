"""The ``iris-ops`` console script (and ``python -m iris_ops``).

It starts what may start before the program does, then hands over to :func:`iris_ops.cli.main`.
What starts here runs while invoke, the plugins and the rest of iris-ops are imported (about
0.25-0.3 s on a two-core machine); any other command imports nothing more than before.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    words = sys.argv[1:] if argv is None else argv
    if "validate" in words:
        from iris_ops import hashpass

        hashpass.prefetch_for(words)  # validate's hash pass, on the second core
    from iris_ops.cli import main as run

    run(argv)
