"""HTTP plumbing the stdlib lacks: a threaded HTTP/1.1 server on a unix socket, request bodies
with ``Transfer-Encoding: chunked``, and chunked response bodies."""

from __future__ import annotations

import io
import os
import socketserver
from pathlib import Path
from typing import BinaryIO


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, path: Path, handler_class, engine) -> None:
        self.engine = engine
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        super().__init__(str(path), handler_class)


class BodyReader(io.RawIOBase):
    """The request body as a stream: ``Content-Length`` bytes or a chunked body.  Reads only
    what it needs from ``rfile`` so that keep-alive connections stay in step."""

    def __init__(self, rfile: BinaryIO, headers) -> None:
        self.rfile = rfile
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        self.remaining = 0 if self.chunked else int(headers.get("Content-Length") or 0)
        self.done = not self.chunked and self.remaining == 0

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> None:
        line = self.rfile.readline(65537)
        if not line:
            raise ConnectionError("connection closed inside a chunked body")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            self.done = True
        self.remaining = size

    def readinto(self, buf) -> int:
        if self.done:
            return 0
        if self.remaining == 0:
            if self.chunked:
                self._next_chunk()
                if self.done:
                    return 0
            else:
                self.done = True
                return 0
        n = min(len(buf), self.remaining)
        data = self.rfile.read(n)
        if not data:
            raise ConnectionError("connection closed inside a request body")
        buf[: len(data)] = data
        self.remaining -= len(data)
        if self.chunked and self.remaining == 0:
            self.rfile.readline(3)  # the CRLF after the chunk
        elif not self.chunked and self.remaining == 0:
            self.done = True
        return len(data)

    def read_all(self, limit: int = 64 << 20) -> bytes:
        out = bytearray()
        while True:
            block = self.read(1 << 16)
            if not block:
                return bytes(out)
            out += block
            if len(out) > limit:
                raise ValueError("request body too large")

    def drain(self) -> None:
        while self.read(1 << 16):
            pass


class ChunkedWriter(io.RawIOBase):
    """Writes a chunked response body; :meth:`finish` sends the last chunk."""

    def __init__(self, wfile) -> None:
        self.wfile = wfile

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if data:
            self.wfile.write(b"%x\r\n" % len(data))
            self.wfile.write(data)
            self.wfile.write(b"\r\n")
        return len(data)

    def finish(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
