"""Transient status on stderr: a bar for long copies, elapsed time for the frozen copy.

Drawn only when stderr is a terminal *and* logs are console-formatted (:func:`allow`, called
by :mod:`iris_ops.logs`), never between JSON log lines.  A status line is redrawn in place and
cleared when its work is done or a log line needs the row, so results and logs keep lines of
their own; :func:`end_line` keeps it visible and moves on (an interrupt message then starts on
its own line).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import BinaryIO

__all__ = [
    "allow", "enabled", "interactive", "draw", "draw_lines", "clear_line", "end_line", "mib", "ProgressWriter",
    "ProgressReader", "Elapsed",
]

_lock = threading.Lock()
_allowed = False
_rows = 0  # rows of the status block drawn last (0: none open)
_stream = None


def allow(enabled: bool, stream=None) -> None:
    """Called by :func:`iris_ops.logs.configure`: console logs on a terminal, or not."""
    global _allowed, _stream
    _allowed = enabled
    _stream = stream


def enabled() -> bool:
    return _allowed


def interactive() -> bool:
    """Status lines are drawn and stdout is the terminal too: a person is watching."""
    return _allowed and bool(getattr(sys.stdout, "isatty", lambda: False)())


def _out():
    return _stream or sys.stderr


def draw(text: str) -> None:
    draw_lines([text])


def draw_lines(lines: list[str]) -> None:
    """Draw ``lines`` in place of the status block drawn last.  Each is cut to the terminal's
    width: a wrapped line would take a row the next redraw does not erase."""
    global _rows
    if not _allowed or not lines:
        return
    with _lock:
        if len(lines) > 1:
            import shutil  # here: `--list` and `--help` never draw (start-up time)

            width = max(shutil.get_terminal_size().columns - 1, 20)
            lines = [line[:width] for line in lines]
        below = "\x1b[J" if _rows > len(lines) else ""
        _out().write(_up(_rows) + "\r" + "\x1b[K\n".join(lines) + "\x1b[K" + below)
        _out().flush()
        _rows = len(lines)


def _up(rows: int) -> str:
    return f"\x1b[{rows - 1}A" if rows > 1 else ""


def clear_line() -> None:
    """Erase the status line or block (before a log line is written, or when its work is done)."""
    with _lock:
        _close(_up(_rows) + ("\r\x1b[J" if _rows > 1 else "\r\x1b[K"))


def end_line() -> None:
    """Keep the status line as it is and move to a new line."""
    with _lock:
        _close("\n")


def _close(text: str) -> None:
    global _rows
    if _rows:
        _out().write(text)
        _out().flush()
        _rows = 0


def mib(n: float) -> str:
    return f"{n / (1 << 20):.1f} MiB"


class _Bar:
    """Counts bytes through a binary file and redraws a one-line bar at most 10×/s."""

    def __init__(self, file: BinaryIO, total: int | None, label: str) -> None:
        self.file = file
        self.total = total
        self.label = label
        self.done = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def _count(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if _allowed and now - self._drawn >= 0.1:
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.started, 1e-6) / (1 << 20)
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 30)
            draw(f"{self.label} [{bar:<30}] {share:4.0%} {rate:7.1f} MiB/s")
        else:
            draw(f"{self.label} {mib(self.done):>12} {rate:7.1f} MiB/s")

    def close(self) -> None:
        clear_line()

    def __getattr__(self, name):
        return getattr(self.file, name)


class ProgressWriter(_Bar):
    """A file being written (a backup streaming a database here)."""

    def write(self, data) -> int:
        written = self.file.write(data)
        self._count(len(data))
        return written


class ProgressReader(_Bar):
    """A file being read (a restore streaming a database into the instance)."""

    def read(self, n: int = -1) -> bytes:
        data = self.file.read(n)
        self._count(len(data))
        return data


class Elapsed:
    """``with Elapsed("copying 12.0 MiB in the instance (frozen)") as line:`` shows the seconds
    ticking; ``line.finish(text)`` leaves ``text`` as the line's last word."""

    def __init__(self, label: str, interval: float = 0.1) -> None:
        self.label = label
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = 0.0

    def __enter__(self) -> "Elapsed":
        self.started = time.monotonic()
        if _allowed:
            self._thread = threading.Thread(target=self._run, name="iris-ops-elapsed", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            draw(f"{self.label}: {time.monotonic() - self.started:.1f} s")

    def _halt(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def finish(self, text: str) -> None:
        self._halt()
        draw(text)
        end_line()

    def __exit__(self, kind, value, tb) -> None:
        self._halt()
        end_line()
