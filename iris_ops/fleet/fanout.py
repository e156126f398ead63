"""One task on many targets: a child process per target, at most ``--parallel`` at a time.

Each child is the same task for one target (``--target NAME``, JSON output), so every target
keeps the single-target run unchanged: its all-or-nothing steps, its lock, its cleanup on a
signal.  The parent only starts children, relays what they say, and sums up:

* each child logs JSON on its stderr; every event is relayed through this process's structlog,
  with ``target`` added (lines that are not JSON, such as a signal note, are relayed as events);
* on a terminal with console logs a block of live lines shows each running target's last step;
* at the end one table on stdout (or, with ``--json``, the same rows) and the worst exit code
  (:mod:`iris_ops.fleet.results`); a target that fails never stops the others;
* SIGINT, SIGTERM and SIGHUP reach the parent only (children run in sessions of their own, so a
  Ctrl-C in the terminal is not delivered twice): it forwards the signal once to every running
  child, starts no more, waits for their cleanup, then reports as a single run does.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from iris_ops import outcome, progress, signals
from iris_ops.fleet.results import Row, summary, table, worst

__all__ = ["Plan", "run"]

#: How often the live lines are redrawn while nothing is said (their seconds tick).
_TICK = 0.25


@dataclass
class Plan:
    """What to run: ``command(name)`` is the child's argv for target ``name``; ``figure`` turns a
    successful child's JSON document into the task's key figure."""

    names: list[str]
    command: Callable[[str], list[str]]
    parallel: int = 8
    json_output: bool = False
    figure: Callable[[dict], str] | None = None
    #: The children print one JSON document (the task has --json, and it is no dry run); else
    #: their output is printed here, each line after its target's name.
    child_json: bool = True


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen
    started: float
    stdout: list[bytes] = field(default_factory=list)
    out_done: threading.Event = field(default_factory=threading.Event)
    err_done: threading.Event = field(default_factory=threading.Event)
    err_relayed: bool = False  # the end of its stderr came through the queue: every line was relayed
    step: str = "starting"

    def ended(self, events: queue.Queue) -> bool:
        """Exited, and all it said is read (and relayed: a lost end marker, at a signal, is made
        up for by an empty queue)."""
        return (self.proc.poll() is not None and self.out_done.is_set()
                and (self.err_relayed or (self.err_done.is_set() and events.empty())))


def run(plan: Plan) -> dict:
    """Run every target; returns ``{"targets": rows}`` when all succeeded.  Otherwise prints the
    outcome itself (the table, or the JSON document) and raises :class:`invoke.Exit` with the
    worst exit code, or 128 + the signal that stopped the run."""
    import structlog

    log = structlog.get_logger("iris_ops.fleet")
    events: queue.Queue = queue.Queue()
    waiting = list(plan.names)
    children: dict[str, _Child] = {}
    running: list[str] = []
    rows: dict[str, Row] = {}
    stopped: KeyboardInterrupt | None = None
    drawn = 0.0
    env = _child_env()
    while running or (waiting and stopped is None):  # once stopped, no waiting target starts
        try:
            while waiting and len(running) < plan.parallel and stopped is None:
                with signals.finishing(f"target {waiting[0]} starts"):  # recorded once started: signals reach it
                    name = waiting.pop(0)
                    children[name] = _start(name, plan.command(name), env, events)
                    running.append(name)
            try:
                kind, name, data = events.get(timeout=_TICK)
            except queue.Empty:
                kind = ""
            if kind == "line":
                _relay(log, children[name], data)
            elif kind == "eof":
                children[name].err_relayed = True
            with signals.shielded():  # a row is made and its target leaves `running` together
                for name in [name for name in running if children[name].ended(events)]:
                    rows[name] = _row(children[name], children[name].proc.returncode, plan.figure)
                    running.remove(name)
                    _said(log, rows[name])
                    if not plan.child_json:
                        _print_output(children[name])
            now = time.monotonic()
            if kind or now - drawn >= _TICK:
                drawn = now
                _draw([children[name] for name in running], len(rows), len(waiting))
        except KeyboardInterrupt as exc:  # the first signal: later ones wait (iris_ops.signals)
            stopped = exc
            signum = getattr(exc, "signum", signal.SIGINT)
            for name in running:
                _forward(children[name], signum)
        except BaseException:  # a bug here must not leave targets running unwatched: they clean up
            with signals.shielded():
                for name in running:
                    _forward(children[name], signal.SIGTERM)
                for name in running:
                    children[name].proc.wait()
            raise
    progress.clear_line()
    for name in waiting:
        rows[name] = Row(name, "not started", None, None)
    ordered = [rows[name] for name in plan.names]
    return _finish(log, ordered, plan, stopped)


def _child_env() -> dict[str, str]:
    """The children log JSON, which this process relays, filtered by its own level.  They log
    their steps (info) even under ``-q``: the live lines show them."""
    debug = logging.getLogger("iris_ops").getEffectiveLevel() <= logging.DEBUG
    return {**os.environ, "IRIS_OPS_LOG_FORMAT": "json", "IRIS_OPS_LOG_LEVEL": "debug" if debug else "info"}


def _start(name: str, argv: list[str], env: dict, events: queue.Queue) -> _Child:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, start_new_session=True)
    child = _Child(name, proc, time.monotonic())
    threading.Thread(target=_read_stderr, args=(child, events), daemon=True, name=f"iris-ops-fleet-{name}-err").start()
    threading.Thread(target=_read_stdout, args=(child,), daemon=True, name=f"iris-ops-fleet-{name}-out").start()
    return child


def _read_stderr(child: _Child, events: queue.Queue) -> None:
    with child.proc.stderr:
        for line in iter(child.proc.stderr.readline, b""):
            events.put(("line", child.name, line))
    events.put(("eof", child.name, None))
    child.err_done.set()


def _read_stdout(child: _Child) -> None:
    with child.proc.stdout:
        for chunk in iter(lambda: child.proc.stdout.read(65536), b""):
            child.stdout.append(chunk)
    child.out_done.set()


def _forward(child: _Child, signum: int) -> None:
    try:
        child.proc.send_signal(signum)
    except ProcessLookupError:  # it has just ended: its row says how
        pass


def _relay(log, child: _Child, line: bytes) -> None:
    """One line of a child's stderr, as an event of this process with ``target``."""
    text = line.decode("utf-8", "replace").rstrip("\n")
    if not text.strip():
        return
    try:
        event = json.loads(text)
    except ValueError:
        event = None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        # a note written before logging or past it (a signal's, the interrupt line): said as is
        log.info(text.removeprefix("iris-ops: "), target=child.name)
        return
    level = str(event.pop("level", "info")).lower()
    name = event.pop("event")
    event.pop("timestamp", None)
    logger = event.pop("logger", None)
    event["target"] = child.name
    child.step = name
    import structlog

    emit = getattr(structlog.get_logger(logger) if logger else log, level, None)
    (emit if callable(emit) else log.info)(name, **{str(k): v for k, v in event.items()})


def _row(child: _Child, code: int, figure: Callable[[dict], str] | None) -> Row:
    seconds = time.monotonic() - child.started
    code = code if code >= 0 else 128 - code  # killed by a signal: as a shell says it
    doc = _document(b"".join(child.stdout))
    if code == 0:
        shown = ""
        if doc is not None and figure is not None:
            try:
                shown = figure(doc)
            except (KeyError, TypeError, ValueError, IndexError):  # an odd document: no figure, still ok
                shown = ""
        return Row(child.name, "ok", 0, seconds, figure=shown)
    result = "interrupted" if code > 128 and code - 128 in signals.HANDLED else "failed"
    error = str(doc.get("error", "")) if doc else ""
    if not error:
        error = _last_words(b"".join(child.stdout)) or f"ended with exit code {code}"
    return Row(child.name, result, code, seconds, error=error)


def _document(data: bytes) -> dict | None:
    try:
        doc = json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _last_words(data: bytes) -> str:
    lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _print_output(child: _Child) -> None:
    progress.clear_line()
    for line in b"".join(child.stdout).decode("utf-8", "replace").splitlines():
        print(f"{child.name}: {line}")
    sys.stdout.flush()


def _said(log, row: Row) -> None:
    if row.exit_code == 0:
        log.info("fleet.target_done", target=row.target, seconds=round(row.seconds or 0, 3))
    else:
        log.warning("fleet.target_failed", target=row.target, exit_code=row.exit_code, error=row.error)


def _draw(running: list[_Child], done: int, waiting: int) -> None:
    if not progress.enabled() or not running:
        return
    now = time.monotonic()
    width = max(len(child.name) for child in running)
    lines = [f"{child.name:<{width}}  {now - child.started:6.1f} s  {child.step}" for child in running]
    lines.append(f"{len(running)} running, {done} done, {waiting} waiting")
    progress.draw_lines(lines)


def _finish(log, rows: list[Row], plan: Plan, stopped: KeyboardInterrupt | None) -> dict:
    from invoke import Exit

    code = signals.exit_code_of(stopped) if stopped is not None else worst(
        row.exit_code for row in rows if row.exit_code is not None)
    docs = [row.to_dict() for row in rows]
    if code == 0:
        if not plan.json_output:
            print(table(rows))
        return {"targets": docs}
    said = summary(rows)
    if stopped is not None:
        outcome.report_interrupt(stopped)
    else:
        log.error(said, exit_code=code)
    if plan.json_output:
        error = f"{outcome.failure_document(stopped)['error']}; {said}" if stopped is not None else said
        outcome.write_json({"ok": False, "error": error, "exit_code": code, "targets": docs})
    else:
        print(table(rows))
    sys.stdout.flush()
    raise Exit(code=code)

