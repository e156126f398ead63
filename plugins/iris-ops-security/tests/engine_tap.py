"""A unix-socket proxy in front of a Docker engine's socket that records every byte, both ways.

Point ``DOCKER_HOST`` at :attr:`EngineTap.url` and everything a client sends the engine (API
requests, exec stdin, uploaded archives) and everything the engine answers (exec output,
downloaded archives) passes through :attr:`EngineTap.captured`.  Half-closes are forwarded:
``docker exec`` with stdin ends its input with a shutdown of the write side, and the process
must see that end of input.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading

CHUNK = 1 << 16


class EngineTap:
    def __init__(self, upstream: str, directory: str) -> None:
        if not upstream.startswith("unix://"):
            raise ValueError(f"the tap needs a unix socket engine, not {upstream}")
        self.upstream = upstream[len("unix://"):]
        self.path = os.path.join(directory, "tap.sock")
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._server: socket.socket | None = None

    @property
    def url(self) -> str:
        return "unix://" + self.path

    @property
    def captured(self) -> bytes:
        with self._lock:
            return b"".join(self._chunks)

    def start(self) -> "EngineTap":
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(16)
        self._spawn(self._accept)
        return self

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while self._server is not None:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(self.upstream)
            done = threading.Barrier(2, action=lambda c=client, e=engine: (c.close(), e.close()))
            self._spawn(self._pump, client, engine, done)
            self._spawn(self._pump, engine, client, done)

    def _pump(self, source: socket.socket, sink: socket.socket, done: threading.Barrier) -> None:
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    break
                with self._lock:
                    self._chunks.append(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            with contextlib.suppress(threading.BrokenBarrierError):
                done.wait(timeout=600)
