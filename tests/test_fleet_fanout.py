"""Issue 25 (core): the fan-out's own machinery, with real child processes that are small Python
scripts standing in for a target's run (they start in milliseconds): rows, the worst exit code,
the relay of their log events with ``target``, the live lines, ``--parallel``, and a real signal
forwarded to every running child (that it arrives once, with Ctrl-C at a terminal's process
group, is test_fleet_docker's)."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from invoke import Exit
from structlog.testing import capture_logs

from iris_ops import progress, signals
from iris_ops.fleet import fanout

CHILD = r'''
import json, os, signal, sys, time
name, mode, log = sys.argv[1], sys.argv[2], sys.argv[3]

def note(text):
    with open(log, "a") as f:
        f.write(text + "\n")

def lines():
    with open(log) as f:
        return f.read().splitlines()

def say(doc, code):
    print(json.dumps(doc), flush=True)
    sys.exit(code)

if mode == "ok":
    print(json.dumps({"event": "step.one", "level": "info", "logger": "iris_ops.x", "n": 1}), file=sys.stderr)
    print("iris-ops: a plain note", file=sys.stderr, flush=True)
    say({"ok": True, "value": 7}, 0)
if mode == "fails":
    say({"ok": False, "error": "the instance said no", "exit_code": 5}, 5)
if mode == "killed":
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "barrier":  # ends only once two runs have started: never alone
    note("start " + name)
    deadline = time.monotonic() + 20
    while sum(l.startswith("start ") for l in lines()) < 2:
        if time.monotonic() > deadline:
            say({"ok": False, "error": "ran alone"}, 3)
        time.sleep(0.02)
    note("end " + name)
    say({"ok": True, "value": 1}, 0)
if mode == "trap":  # cleans up on the first signal, as a task's run does
    got = []
    def cleanup(signum, frame):
        got.append(signum)
    signal.signal(signal.SIGINT, cleanup)
    signal.signal(signal.SIGTERM, cleanup)
    note("ready " + name)
    deadline = time.monotonic() + 30
    while not got:
        if time.monotonic() > deadline:
            say({"ok": False, "error": "no signal came"}, 9)
        time.sleep(0.02)
    time.sleep(0.2)  # the cleanup takes a while: the run waits for it
    note(f"cleanup {name} {got}")
    say({"ok": False, "error": "interrupted; cleanup ran", "exit_code": 128 + got[0]}, 128 + got[0])
'''


def plan(tmp_path: Path, modes: dict[str, str], **kwargs) -> fanout.Plan:
    log = tmp_path / "log"
    log.touch()
    return fanout.Plan(list(modes), lambda name: [sys.executable, "-c", CHILD, name, modes[name], str(log)],
                       figure=lambda doc: f"value {doc['value']}", **kwargs)


def test_rows_the_worst_exit_code_the_relayed_events_and_the_live_lines(tmp_path, capsys, monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(progress, "_rows", 0)
    progress.allow(True, screen)
    try:
        with capture_logs() as logs, pytest.raises(Exit) as ended:
            fanout.run(plan(tmp_path, {"good": "ok", "bad": "fails", "gone": "killed"}))
    finally:
        progress.allow(False, None)
    assert ended.value.code == 137  # killed: it said nothing, ranked right after 1 (above 5)
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert rows["good"].split() == ["good", "ok", "0", rows["good"].split()[3], "value", "7"]
    assert rows["bad"].split()[1:3] == ["failed", "5"] and rows["bad"].endswith("the instance said no")
    assert rows["gone"].split()[1:3] == ["failed", "137"] and rows["gone"].endswith("ended with exit code 137")
    relayed = [entry for entry in logs if entry.get("target") == "good"]
    assert {"event": "step.one", "n": 1, "target": "good", "log_level": "info"} in relayed
    assert {"event": "a plain note", "target": "good", "log_level": "info"} in relayed
    failed = {entry["target"]: entry["exit_code"] for entry in logs if entry["event"] == "fleet.target_failed"}
    assert failed == {"bad": 5, "gone": 137}
    assert "good" in screen.getvalue() and "running," in screen.getvalue()
    assert screen.getvalue().endswith("\r\x1b[J") or screen.getvalue().endswith("\r\x1b[K")  # cleared at the end


def test_json_rows_of_a_run_where_every_target_succeeded(tmp_path, capsys):
    with capture_logs():
        done = fanout.run(plan(tmp_path, {"a": "ok", "b": "ok"}, json_output=True))
    assert [(row["target"], row["result"], row["exit_code"], row["figure"], row["error"]) for row in done["targets"]] \
        == [("a", "ok", 0, "value 7", ""), ("b", "ok", 0, "value 7", "")]
    assert capsys.readouterr().out == ""  # the task boundary prints the document


def test_parallel_runs_that_many_at_once_and_no_more(tmp_path, capsys):
    with capture_logs():
        done = fanout.run(plan(tmp_path, {"a": "barrier", "b": "barrier", "c": "barrier"}, parallel=2))
    assert [row["exit_code"] for row in done["targets"]] == [0, 0, 0]
    running, most = 0, 0
    for line in (tmp_path / "log").read_text().splitlines():
        running += 1 if line.startswith("start ") else -1
        most = max(most, running)
    assert most == 2


def test_a_signal_reaches_every_running_target_the_run_waits_for_their_cleanup_and_starts_no_other(tmp_path, capsys):
    log = tmp_path / "log"
    log.touch()

    def signal_once_two_are_ready() -> None:
        deadline = time.monotonic() + 20
        while log.read_text().count("ready ") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=signal_once_two_are_ready, daemon=True).start()
    with capture_logs(), signals.handled(), pytest.raises(Exit) as ended:
        fanout.run(plan(tmp_path, {"a": "trap", "b": "trap", "c": "trap"}, parallel=2))
    assert ended.value.code == 143
    cleaned = sorted(line for line in log.read_text().splitlines() if line.startswith("cleanup"))
    assert cleaned == [f"cleanup a [{int(signal.SIGTERM)}]", f"cleanup b [{int(signal.SIGTERM)}]"]
    out, err = capsys.readouterr()
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["a"][1:3] == rows["b"][1:3] == ["interrupted", "143"]
    assert rows["c"] == ["c", "not", "started"]
    assert "stopped by SIGTERM; cleanup ran." in err
