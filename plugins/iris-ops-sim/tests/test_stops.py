"""Stop points (instance/stops.py): a session holds at the armed class method call until the
test releases it, exactly one session claims a stop, and --fail makes the call return an error
status instead of running it."""

from __future__ import annotations

import threading
import time

import pytest

from _instance_helpers import new_instance
from iris_ops_sim.irissim.instance import stops
from iris_ops_sim.irissim.objectscript.interpreter import Interpreter
from iris_ops_sim.irissim.objectscript.runtime import Process


def _session(inst, line: str, out: list) -> Interpreter:
    interp = Interpreter(Process(inst, "%SYS", out.append))
    interp.run_line(line)
    return interp


def test_a_session_holds_at_the_armed_call_until_released(tmp_path):
    inst = new_instance(tmp_path)
    stops.arm(inst, "Config.Namespaces.Exists")
    out: list[str] = []
    line = 'Set before=1 Write ##class(Config.Namespaces).Exists("USER"),"|done"'
    worker = threading.Thread(target=_session, args=(inst, line, out))
    worker.start()
    held = stops.wait(inst, timeout=10)["pid"]
    time.sleep(0.1)  # held: however long the test takes, the call has not run
    assert worker.is_alive() and "".join(out) == ""
    assert stops.release(inst) == {"released": [held]}
    worker.join(10)
    assert "".join(out) == "1|done"
    # the stop was used up: the next session runs straight through
    out.clear()
    _session(inst, line, out)
    assert "".join(out) == "1|done"


def test_an_unarmed_or_other_call_runs_and_wait_says_nothing_holds(tmp_path):
    inst = new_instance(tmp_path)
    out: list[str] = []
    _session(inst, 'Write ##class(Config.Namespaces).Exists("USER")', out)
    assert out == ["1"]
    stops.arm(inst, "%Library.File.CopyFile")
    _session(inst, 'Write ##class(Config.Namespaces).Exists("USER")', out)
    assert out == ["1", "1"]
    with pytest.raises(TimeoutError, match="no session reached the stop point"):
        stops.wait(inst, timeout=0.05)
    stops.clear(inst)
    with pytest.raises(TimeoutError, match="nothing is armed"):
        stops.wait(inst, timeout=0.05)


def test_fail_returns_an_error_status_and_the_call_does_not_run(tmp_path):
    inst = new_instance(tmp_path)
    stops.arm(inst, "Config.Namespaces.Create", fail=True)
    out: list[str] = []
    _session(inst, 'Kill p Set p("Globals")="USER",sc=##class(Config.Namespaces).Create("FAILED",.p) '
                   'Write $SYSTEM.Status.GetErrorText(sc),"|",##class(Config.Namespaces).Exists("FAILED")', out)
    text = "".join(out)
    assert text.startswith("ERROR #5001: Config.Namespaces.Create failed: the simulated instance was told")
    assert text.endswith("|0")


def test_arm_refuses_a_call_without_a_class():
    with pytest.raises(ValueError, match="CLASS.METHOD"):
        stops.arm(object(), "CopyFile")
