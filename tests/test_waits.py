"""A signal that comes while iris-ops waits for a session's output is handled at once, on every
transport's wait (iris_ops.transports.waits).

Python runs a handler only between bytecodes, so one that arrives just before a blocking wait
begins would otherwise wait with it, until the session writes or the deadline passes.  The state
such a signal leaves is made here for certain: the signal is sent to another thread of the
process (``signal.pthread_kill``), which takes it, so the waiting thread's call is not
interrupted.  Each wait has nothing to read for 3 s; its handler must run long before."""

from __future__ import annotations

import subprocess
import sys

import pytest

_WAITER = r"""
import os, signal, socket, subprocess, sys, threading, time

class Stopped(Exception):
    pass

def stop(signum, frame):
    raise Stopped

signal.signal(signal.SIGUSR1, stop)
deadline = time.monotonic() + 3.0
which = sys.argv[1]
if which == "local pipe":
    from iris_ops.transports.local_session import read_pipe
    quiet, _keep = os.pipe()
    wait = lambda: read_pipe(quiet, deadline)
elif which == "docker exec stream":
    from iris_ops.transports.exec_stream import FrameReader
    ours, _theirs = socket.socketpair()
    reader = ours.makefile("rb")
    wait = lambda: next(FrameReader(reader, ours, deadline, "a quiet exec").frames(), None)
elif which == "local command":
    from iris_ops.transports.local import _communicate
    proc = subprocess.Popen(["sleep", "3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait = lambda: _communicate(proc, b"", deadline)

def signal_this_thread():
    time.sleep(0.3)  # the main thread waits by now
    signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)

began = time.monotonic()
threading.Thread(target=signal_this_thread, daemon=True).start()
try:
    wait()
    print("not stopped")
except Stopped:
    print(f"stopped after {time.monotonic() - began:.2f} s")
"""


@pytest.mark.parametrize("wait", ["local pipe", "docker exec stream", "local command"])
def test_a_signal_during_a_wait_for_output_is_handled_at_once(wait):
    done = subprocess.run([sys.executable, "-c", _WAITER, wait], capture_output=True, text=True, timeout=30)
    assert done.stdout.startswith("stopped after "), done
    assert float(done.stdout.split()[2]) < 1.5, done.stdout  # not at the deadline (3 s)
