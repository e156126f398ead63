"""A progress bar for long copies, drawn on stderr only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import BinaryIO


class ProgressWriter:
    """Wraps a binary file: counts bytes written and redraws a one-line bar at most 10×/s."""

    def __init__(self, dest: BinaryIO, total: int | None, label: str, stream=None) -> None:
        self.dest = dest
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def write(self, data) -> int:
        written = self.dest.write(data)
        self.done += len(data)
        now = time.monotonic()
        if self.enabled and now - self._drawn >= 0.1:
            self._drawn = now
            self._draw(now)
        return written

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.started, 1e-6) / (1 << 20)
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 30)
            text = f"\r{self.label} [{bar:<30}] {share:4.0%} {rate:7.1f} MiB/s"
        else:
            text = f"\r{self.label} {self.done / (1 << 20):9.1f} MiB {rate:7.1f} MiB/s"
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.dest, name)
