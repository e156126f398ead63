"""A unix-socket proxy in front of the real engine, owned by one test: iris-ops talks to it
(``DOCKER_HOST=unix://<its socket>``), and :meth:`EngineProxy.close` makes "the engine" go away
mid-transfer (every connection cut, nothing listening), as a stopped ``dockerd`` does, without
touching the engine the other tests share.  :meth:`start` brings it back."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading


class EngineProxy:
    def __init__(self, upstream: str) -> None:
        assert upstream.startswith("unix://"), "the shared engine is reached through a unix socket"
        self.upstream = upstream[len("unix://"):]
        self.dir = tempfile.mkdtemp(prefix="iris-ops-proxy-")
        self.path = os.path.join(self.dir, "engine.sock")
        self.url = f"unix://{self.path}"
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.connections = 0

    def start(self) -> "EngineProxy":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        """The engine is gone: no new connection, every open one cut (reset, not a clean end)."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        with self._lock:
            sockets, self._open = list(self._open), set()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def remove(self) -> None:
        self.close()
        with contextlib.suppress(OSError):
            os.rmdir(self.dir)
