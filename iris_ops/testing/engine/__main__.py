"""``python -m iris_ops.testing.engine --home HOME [--container iris]``: serve in the foreground.

Writes ``HOME/engine.pid``, removes it and the socket on exit; SIGTERM and SIGINT stop it.
``iris-ops sim up`` runs this as a daemon.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iris_ops.testing.engine", description=__doc__)
    parser.add_argument("--home", required=True, help="simulator home directory (socket, containers)")
    parser.add_argument("--container", action="append", default=[],
                        help="create this container (default instance IRIS) unless it exists; repeatable")
    parser.add_argument("--backend", default=None, help="module:factory of a substitute testing-kit backend")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    from iris_ops.testing.engine.backend import load_backend
    from iris_ops.testing.engine.containers import NotFound
    from iris_ops.testing.engine.server import SimEngine, main_log_to_stderr

    main_log_to_stderr(args.verbose)
    engine = SimEngine(Path(args.home), backend=load_backend(args.backend))
    for name in args.container:
        try:
            engine.container(name)
        except NotFound:
            engine.add_container(name)
    pid_file = engine.home / "engine.pid"

    def stop(signum, frame):  # serve_forever returns once shutdown() runs in another thread
        engine.request_shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    engine._bind()
    pid_file.write_text(f"{os.getpid()}\n")
    print(f"sim engine serving on {engine.base_url} (pid {os.getpid()})", file=sys.stderr, flush=True)
    try:
        engine.serve_forever()
    finally:
        engine.stop()
        try:
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()
        except FileNotFoundError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
