"""Script faults for the tests and for anyone reproducing a failure by hand: the test kit changes
the script iris-ops sends, at the step that calls a named class method.

:class:`Fault` is a plugin of the test kit, never of an installed iris-ops: tests register it in
process (a throwaway plugin), and :func:`main` runs a whole ``iris-ops`` command with it in a
separate process, saying so on stderr every time::

    python -m iris_ops_sim.faults 'status@##class(Config.Databases).Create(' restore --src F --ns T

No environment variable or file makes ``iris-ops`` itself load it.

| kind | what the step does | where |
|---|---|---|
| ``status`` | fails with an error status before it changes anything (simulated: ObjectScript that sets the status is put in front of the step) | text of the call, e.g. ``##class(Config.Databases).Create(`` |
| ``throw`` | throws an ObjectScript error (``<DIVIDE>``) first (simulated the same way) | same |
| ``slow`` | waits 3 s first (``Hang``), then runs: a slow copy | same |

The first matching script is changed; later ones run as sent (the cleanup must work).  Real
faults (a hung session, a cut connection, the container killed, a full disk) are not made here:
tests/reliability makes them where they happen, with the simulated instance holding the session
at the step (``iris-sim stop``).
"""

from __future__ import annotations

import re

from iris_ops import hookimpl

__all__ = ["STEP", "WARNING", "parse", "main", "Fault", "INJECT"]

STEP = re.compile(r"Try \{ If n=\d+ \{ ")
#: What :func:`main` prints before the command runs: a run with a fault is never mistaken for a real one.
WARNING = "iris-ops-sim: FAULT INJECTION ACTIVE ({spec}): this run fails on purpose, for a test"


def parse(spec: str) -> "Fault":
    """``KIND@WHERE`` as a :class:`Fault`."""
    kind, _, where = spec.partition("@")
    if kind not in INJECT:
        raise SystemExit(f"unknown fault kind {kind!r}; known: {', '.join(sorted(INJECT))}")
    return Fault(kind, where)


def main(argv: list[str] | None = None) -> None:
    """``python -m iris_ops_sim.faults KIND@WHERE IRIS-OPS-ARGS...``: the ``iris-ops`` command
    with the fault registered as a plugin."""
    import sys

    from iris_ops import cli
    from iris_ops.manager import get_plugin_manager

    words = sys.argv[1:] if argv is None else argv
    if not words:
        raise SystemExit("usage: python -m iris_ops_sim.faults KIND@WHERE IRIS-OPS-ARGS...")
    fault = parse(words[0])
    print(WARNING.format(spec=words[0]), file=sys.stderr, flush=True)
    fault.pm = get_plugin_manager()
    fault.pm.register(fault, name="iris-ops-fault")
    cli.main(["iris-ops", *words[1:]])


class Fault:
    """One script fault; ``pm`` is set when registered."""

    pm = None

    def __init__(self, kind: str, where: str) -> None:
        self.kind, self.where, self.fired = kind, where, 0

    @hookimpl(tryfirst=True)
    def run_objectscript(self, target, script, namespace, timeout):
        if self.fired or self.where not in script:
            return None
        self.fired += 1
        at = script.index(self.where)
        start = [m.end() for m in STEP.finditer(script, 0, at)][-1]
        script = script[:start] + INJECT[self.kind].replace("{what}", self.where.strip("#(.")) + script[start:]
        others = self.pm.subset_hook_caller("run_objectscript", remove_plugins=[self])
        return others(target=target, script=script, namespace=namespace, timeout=timeout)


INJECT = {
    "slow": "Hang 3 ",
    "status": 'Set sc=$SYSTEM.Status.Error(5001,"injected: {what} returned an error status") '
              "Throw ##class(%Exception.StatusException).CreateFromStatus(sc) ",
    "throw": "Set injected=1/0 ",  # <DIVIDE>: the method threw
}


if __name__ == "__main__":
    main()
