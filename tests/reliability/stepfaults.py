"""A real fault at the moment the instance runs a given step.

The simulated instance holds the session at the step's call (a stop point:
``iris-sim stop arm CLASS.METHOD``); this side waits for it, makes the fault happen for real (the
session's process stopped, the engine connection cut, the engine gone, iris-ops signalled or
killed, the container killed or stopped), and lets the session carry on only once iris-ops has
ended, so that every cleanup meets a script that is still running.  Nothing in iris-ops is
replaced or told about it.
"""

from __future__ import annotations

import os
import signal
import threading

#: How long the instance may take to reach the step (sessions before it, on a loaded machine).
REACH_S = 90.0
#: How long iris-ops may take to end once the fault happened (its cleanup included).
END_S = 120.0


class StepFault:
    """``with StepFault(sc, case.where, kind, ...) as fault: <run iris-ops>``; afterwards
    ``fault.pid`` is the held session's pid in the container.  For a subprocess, set
    ``fault.process`` once started, inside the block (the stop is armed before it starts)."""

    def __init__(self, sc, call: str, kind: str, *, proxy=None, call_text: str = "", process=None) -> None:
        self.sc, self.call, self.kind, self.proxy, self.process = sc, call, kind, proxy, process
        self.call_text = call_text.encode()
        self.pid: int | None = None
        self.error: BaseException | None = None
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iris-ops-step-fault", daemon=True)

    def __enter__(self) -> "StepFault":
        if self.proxy is not None:
            self.proxy.watch(self.call_text)
        self.sc.instance.arm_stop(self.call)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._ended.set()
        self._thread.join(END_S + 30)
        if self.kind.startswith("container-"):
            if self.sc.client.containers.get(self.sc.name).status != "running":
                self.sc.start()
        if self.proxy is not None and self.kind == "engine-gone":
            self.proxy.start()
        self.sc.instance.clear_stops()  # a stop never reached must not hold a later case's session
        if exc[1] is None and self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            self.pid = self.sc.instance.wait_stop(REACH_S)
            self._fault()
            # The cleanup runs now, with the step still held (or its process stopped).
            if not self._ended.wait(END_S):
                self.error = AssertionError(f"iris-ops did not end within {END_S:.0f} s of the fault ({self.kind})")
            if self.kind == "deadline":
                self.sc.exec(["kill", "-CONT", str(self.pid)], user="root")
            if not self.kind.startswith("container-"):
                self.sc.instance.release_stop()
        except BaseException as exc:  # noqa: BLE001 - re-raised by __exit__
            self.error = self.error or exc

    def _fault(self) -> None:
        kind = self.kind
        if kind == "deadline":
            code, _, err = self.sc.exec(["kill", "-STOP", str(self.pid)], user="root")
            assert code == 0, err
            self.sc.instance.release_stop()  # it goes on only once continued
        elif kind == "cut":
            assert self.proxy.cut(self.call_text) == 1, "no connection carried the held session's script"
        elif kind == "engine-gone":
            self.proxy.close()
        elif kind == "sigterm":
            if self.process is not None:
                self.process.send_signal(signal.SIGTERM)
            else:  # iris-ops runs in this process: the signal reaches its main thread
                os.kill(os.getpid(), signal.SIGTERM)
        elif kind == "kill-9":
            self.process.kill()
        elif kind in ("container-kill", "container-stop"):
            self.sc.stop(kill=kind == "container-kill")
        else:
            raise AssertionError(f"no such fault at a step: {kind}")

