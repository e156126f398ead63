"""A unix-socket proxy in front of the real engine, owned by one test: iris-ops talks to it
(``DOCKER_HOST=unix://<its socket>``), and the test breaks that path for real, without touching
the engine the other tests share:

* :meth:`EngineProxy.cut` closes the connections that carried a given text (the exec whose
  script holds a step's call): the client reads the end of its stream mid-session, as when the
  connection to the engine drops, while the engine and the session go on;
* :meth:`EngineProxy.close` makes "the engine" go away (every connection cut, nothing
  listening), as a stopped ``dockerd`` does; :meth:`start` brings it back;
* :meth:`EngineProxy.after` runs an action once a connection that carried a given text has
  moved N more bytes one way (a transfer cut short after its first bytes).
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class _Connection:
    client: socket.socket
    upstream: socket.socket
    #: the last bytes the client sent (a text may straddle two reads), and whether each watched
    #: text has gone by
    tail: bytes = b""
    seen: set = field(default_factory=set)


@dataclass
class _Trigger:
    text: bytes
    nbytes: int
    outbound: bool  # count what the client sends (an upload), else what it receives
    action: Callable[["_Connection"], None]
    fired: bool = False


class EngineProxy:
    def __init__(self, upstream: str) -> None:
        assert upstream.startswith("unix://"), "the shared engine is reached through a unix socket"
        self.upstream = upstream[len("unix://"):]
        self.dir = tempfile.mkdtemp(prefix="iris-ops-proxy-")
        self.path = os.path.join(self.dir, "engine.sock")
        self.url = f"unix://{self.path}"
        self._listener: socket.socket | None = None
        self._open: list[_Connection] = []
        self._lock = threading.Lock()
        self._triggers: list[_Trigger] = []
        self._counted: dict[tuple[int, int], int] = {}
        self.connections = 0
        self.fired: list[str] = []

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
            conn = _Connection(client, upstream)
            with self._lock:
                self._open.append(conn)
                self.connections += 1
            threading.Thread(target=self._pump, args=(conn, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(conn, False), daemon=True).start()

    def _watch(self, conn: _Connection, data: bytes, outbound: bool) -> None:
        """Note the watched texts the client sent; fire the triggers whose byte count is reached."""
        due = []
        with self._lock:
            if outbound:
                window = conn.tail + data
                for trigger in self._triggers:
                    if trigger.text in window and trigger.text not in conn.seen:
                        conn.seen.add(trigger.text)
                        # only what follows the text counts (the request that carried it); the
                        # loop below adds this read's length
                        after = len(window) - window.index(trigger.text) - len(trigger.text)
                        self._counted[(id(conn), id(trigger))] = after - len(data) if trigger.outbound else 0
                conn.tail = window[-256:]
            for trigger in self._triggers:
                key = (id(conn), id(trigger))
                if trigger.fired or trigger.outbound != outbound or key not in self._counted:
                    continue
                self._counted[key] += len(data)
                if self._counted[key] >= trigger.nbytes:
                    trigger.fired = True
                    due.append(trigger)
        for trigger in due:
            self.fired.append(trigger.text.decode(errors="replace"))
            trigger.action(conn)

    def _pump(self, conn: _Connection, outbound: bool) -> None:
        src, dst = (conn.client, conn.upstream) if outbound else (conn.upstream, conn.client)
        try:
            while data := src.recv(65536):
                self._watch(conn, data, outbound)
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def after(self, text: bytes, nbytes: int, action: Callable[[], None], *, outbound: bool) -> None:
        """Once a connection that carried ``text`` has moved ``nbytes`` more bytes (sent by the
        client when ``outbound``, else received), cut it and run ``action`` (once, from the
        proxy's thread, before those bytes go on)."""
        def fire(conn: _Connection) -> None:
            self._cut([conn])
            action()

        with self._lock:
            self._triggers.append(_Trigger(text, nbytes, outbound, fire))

    def cut(self, text: bytes) -> int:
        """Close the open connections that carried ``text``: how many there were."""
        with self._lock:
            chosen = [c for c in self._open if text in c.seen or text in c.tail]
        self._cut(chosen)
        return len(chosen)

    def watch(self, text: bytes) -> None:
        """Remember which connections carry ``text``, for :meth:`cut`."""
        with self._lock:
            self._triggers.append(_Trigger(text, 1 << 62, True, lambda conn: None))

    def _cut(self, conns: list[_Connection]) -> None:
        with self._lock:
            self._open = [c for c in self._open if c not in conns]
        for conn in conns:
            for s in (conn.client, conn.upstream):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        """The engine is gone: no new connection, every open one cut."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        with self._lock:
            conns = list(self._open)
        self._cut(conns)

    def remove(self) -> None:
        self.close()
        with contextlib.suppress(OSError):
            os.rmdir(self.dir)
