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
