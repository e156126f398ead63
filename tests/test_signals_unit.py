"""iris_ops.signals without an instance: exit codes, deferral, the shield."""

from __future__ import annotations

import os
import signal

import pytest

from iris_ops import signals


def test_first_signal_raises_interrupted_with_128_plus_signum():
    with signals.handled():
        with pytest.raises(signals.Interrupted) as info:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause() if False else None  # the handler runs at the next bytecode
    assert isinstance(info.value, KeyboardInterrupt)
    assert info.value.exit_code == 143 and signals.exit_code_of(info.value) == 143
    assert signals.exit_code_of(KeyboardInterrupt()) == 130


def test_later_signals_are_deferred_until_the_task_ends():
    with signals.handled():
        try:
            os.kill(os.getpid(), signal.SIGHUP)
        except signals.Interrupted as exc:
            assert exc.exit_code == 129
            os.kill(os.getpid(), signal.SIGTERM)  # cleanup in progress: not raised
            os.kill(os.getpid(), signal.SIGINT)
        assert signals._state.deferred == [signal.SIGTERM, signal.SIGINT]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or signal.getsignal(signal.SIGTERM) != signals._handler


def test_a_shielded_cleanup_finishes_then_the_signal_is_raised():
    done = []
    with signals.handled():
        with pytest.raises(signals.Interrupted):
            with signals.shielded():
                os.kill(os.getpid(), signal.SIGTERM)
                done.append("cleanup")
    assert done == ["cleanup"]


def test_past_the_point_of_no_return_a_signal_is_noted_and_ignored(capfd):
    """A signal while the operation's outcome becomes final waits for it; after it, the task
    goes on to its normal end (its result reported, exit 0), for that signal and later ones."""
    done = []
    with signals.handled():
        with signals.point_of_no_return("the restore"):
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("journal removed")
        assert signals.committed() == "the restore"
        os.kill(os.getpid(), signal.SIGINT)  # while the result is printed
        done.append("result printed")
    assert done == ["journal removed", "result printed"]
    assert signals._state.deferred == [signal.SIGTERM, signal.SIGINT] and signals.stopped_by() is None
    err = capfd.readouterr().err
    assert "SIGTERM received while the restore completes; it finishes first" in err
    assert "the restore completed before SIGTERM could stop it: it is kept" in err
    assert "SIGINT received after the restore completed: it is kept" in err


def test_a_point_of_no_return_that_fails_leaves_the_signal_to_stop_the_task():
    with signals.handled():
        with pytest.raises(OSError):
            with signals.point_of_no_return("the backup"):
                os.kill(os.getpid(), signal.SIGTERM)
                raise OSError("the rename failed")
        assert signals.committed() is None and signals.stopped_by() == signal.SIGTERM


def test_before_the_point_of_no_return_a_signal_stops_the_task():
    with signals.handled():
        with pytest.raises(signals.Interrupted):
            os.kill(os.getpid(), signal.SIGTERM)
            with signals.point_of_no_return("the restore"):
                pass
        assert signals.committed() is None


@pytest.mark.parametrize("when", ["while it completes", "after it completed"])
def test_a_point_of_no_return_inside_a_step_of_a_larger_task_stops_the_task_when_the_step_ends(capfd, when):
    """A restore run as one step of apply: a signal at or after the restore's point of no return
    lets the restore finish (and its undo be recorded), then stops apply, whose rollback undoes
    the restore.  After the step, the task can be stopped as before it."""
    done = []
    with signals.handled():
        with pytest.raises(signals.Interrupted) as info:
            with signals.step_of_a_task("the restore into T1"):
                with signals.point_of_no_return("the restore"):
                    if when == "while it completes":
                        os.kill(os.getpid(), signal.SIGTERM)
                    done.append("journal removed")
                if when == "after it completed":
                    os.kill(os.getpid(), signal.SIGTERM)
                done.append("undo recorded")
        assert info.value.exit_code == 143 and signals.committed() is None
    assert done == ["journal removed", "undo recorded"]
    err = capfd.readouterr().err
    assert "it stops the task once that step ends" in err and "it is kept" not in err
    assert "the restore into T1 ended: SIGTERM stops the task now" in err


def test_a_step_without_a_signal_leaves_the_task_to_be_stopped_later():
    with signals.handled():
        with signals.step_of_a_task("the restore into T1"):
            with signals.point_of_no_return("the restore"):
                pass
        assert signals.committed() is None
        with pytest.raises(signals.Interrupted):
            os.kill(os.getpid(), signal.SIGTERM)
