"""Stop points: a test holds one session at a named class method call, and makes a real fault
happen at that exact moment (the container killed, the client's connection cut, the session
SIGSTOPped, the client signalled), or has the simulated instance fail that call.

Real IRIS has nothing like it.  Like ``iris-sim`` itself, it is the testing kit's back door, and
it does nothing until a test arms one::

    iris-sim stop arm %Library.File.CopyFile          the next session to call it holds there
    iris-sim stop arm Config.Namespaces.Create --fail  ... or that call returns an error status
    iris-sim stop wait --timeout 60                   blocks until a session holds: {"pid": ...}
    iris-sim stop release                             the held session goes on with the call
    iris-sim stop clear                               disarm, and release whatever holds

A faulty step is otherwise a matter of luck: the in-instance copy of a small database takes
milliseconds, and no test polling from outside can kill the container while it runs.  Held,
the session is exactly at the call (its earlier steps done, the call not started), for as long
as the test needs; released, it carries on as if nothing happened.

Files, in ``<mgr>/.sim`` (the instance's own bookkeeping, out of every listing): ``stop-armed``
(JSON ``{"call": "Class.Method", "fail": bool}``), claimed by the first session that reaches the
call (an atomic rename to ``stop-held.<pid>``, so one session holds however many race), which
waits while that file exists.  Each check is one ``stat`` per class method call.
"""

from __future__ import annotations

import json
import os
import time

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ARMED", "HELD", "MAX_HOLD", "reached", "arm", "wait", "release", "clear"]

ARMED = "stop-armed"
HELD = "stop-held."
#: A session never holds longer than this, whatever the test does: a forgotten stop point
#: must not hang an instance for good.
MAX_HOLD = 300.0
_POLL = 0.01


def _directory(instance: Any) -> str:
    return str(instance.fs.host_path(instance.manager_directory() + ".sim"))


def reached(instance: Any, class_name: str, method: str) -> str | None:
    """Called before every class method call: hold here if this is the armed call.  Returns the
    error text when the armed stop says to fail the call, else None (the call goes on)."""
    try:
        armed = os.path.join(_directory(instance), ARMED)
    except (AttributeError, OSError, ValueError):  # an interpreter without an instance on disk
        return None
    if not os.path.exists(armed):
        return None
    directory = os.path.dirname(armed)
    try:
        with open(armed, encoding="utf-8") as handle:
            stop = json.load(handle)
    except (OSError, ValueError):
        return None
    call = f"{class_name}.{method}"
    if stop.get("call") != call:
        return None
    held = os.path.join(directory, f"{HELD}{os.getpid()}")
    try:
        os.rename(armed, held)
    except FileNotFoundError:
        return None  # another session claimed it first
    if stop.get("fail"):
        os.unlink(held)
        return f"{call} failed: the simulated instance was told to fail this call (iris-sim stop arm --fail)"
    give_up = time.monotonic() + MAX_HOLD
    while os.path.exists(held) and time.monotonic() < give_up:
        time.sleep(_POLL)
    return None


def arm(instance: Any, call: str, fail: bool = False) -> dict:
    if call.count(".") < 1 or call.endswith("."):
        raise ValueError(f"a stop point is CLASS.METHOD, e.g. %Library.File.CopyFile: not {call!r}")
    clear(instance)
    directory = _directory(instance)
    partial = os.path.join(directory, f".{ARMED}.{os.getpid()}")
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump({"call": call, "fail": bool(fail)}, handle)
    os.chmod(partial, 0o666)  # sessions run as irisowner; a root `iris-sim` may arm it
    os.replace(partial, os.path.join(directory, ARMED))
    return {"armed": call, "fail": bool(fail)}


def _held(instance: Any) -> list[int]:
    return sorted(int(name[len(HELD):]) for name in os.listdir(_directory(instance)) if name.startswith(HELD))


def wait(instance: Any, timeout: float) -> dict:
    """Block until a session holds at the armed call: its pid (in the instance's pid namespace)."""
    give_up = time.monotonic() + timeout
    while not (pids := _held(instance)):
        if time.monotonic() > give_up:
            armed = os.path.exists(os.path.join(_directory(instance), ARMED))
            raise TimeoutError(f"no session reached the stop point within {timeout:.0f} s"
                               + ("" if armed else " (nothing is armed)"))
        time.sleep(_POLL)
    return {"pid": pids[0]}


def release(instance: Any) -> dict:
    pids = _held(instance)
    for pid in pids:
        try:
            os.unlink(os.path.join(_directory(instance), f"{HELD}{pid}"))
        except FileNotFoundError:
            pass
    return {"released": pids}


def clear(instance: Any) -> dict:
    """Disarm and release: the state before any test armed anything."""
    try:
        os.unlink(os.path.join(_directory(instance), ARMED))
    except FileNotFoundError:
        pass
    return release(instance)
