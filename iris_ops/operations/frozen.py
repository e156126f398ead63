"""Doctor's findings about a frozen instance: thaw only a freeze iris-ops made and nobody runs.

A freezing backup records who froze in ``<mgr>/iris-ops-freeze.json``
(:func:`iris_ops.script_builders.freeze.record_freeze`): a random token, the freezing session's
``$JOB``, this iris-ops process (host, pid), when, and the WDSuspendLimit that ends the freeze
at the latest.  The record is written right after ExternalFreeze succeeded and removed right
before the thaw, so a freeze without a record is never iris-ops' to thaw (at worst it is one
whose backup died in between those two statements, and WDSuspendLimit ends it).

Doctor thaws only when every one of these holds: the instance is frozen; the record parses;
it is younger than its limit, when found and again when the thaw runs after --fix's question
(an older one cannot describe the freeze there now: iris-ops' own would have ended); its
session's job no longer exists (``$DATA(^$JOB(job))`` is 0); and no freezing backup holds
iris-ops' freeze lock.  Anything else is reported, never thawed, with
what to do.  A record left once the freeze ended (its session killed after the write daemon
resumed by itself) is removed.

Where IRIS leaves a point open, either answer is safe:

* whether a login hangs during a freeze: iris-ops' own freeze ends (freeze_limit) before IRIS
  blocks updating processes (freeze_timeout, and the settings refuse a limit above it); a
  session that hangs on a foreign freeze fails at its deadline and thaws nothing;
* whether ``^$LOCK(name,"OWNER")`` names the holder of iris-ops' freeze lock: if it never
  did, the job check alone still keeps a running backup's freeze, since its session lives;
* whether ``Open("WSN")`` replaces or truncates an existing record: the content is the same.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from iris_ops import script_builders
from iris_ops.leftovers import Leftover

if TYPE_CHECKING:
    from iris_ops.operation import Operation

__all__ = ["findings"]

#: Seconds a record's time may trail the freeze it records, and the instance's `now` the
#: moment this process reads it: added to the age found, so that a freeze's end is never missed.
_RECORD_AFTER_FREEZE = 1.0


def _seconds(timestamp: object) -> float | None:
    """``$ZTimeStamp`` (``days,seconds.fff``, UTC) as seconds, or None."""
    try:
        days, seconds = str(timestamp).split(",")
        return int(days) * 86400 + float(seconds)
    except ValueError:
        return None


def _record(text: object) -> dict | None:
    try:
        found = json.loads(str(text))
    except ValueError:
        return None
    if not isinstance(found, dict) or not found.get("token") or str(found.get("job", "")) == "":
        return None
    return found


def findings(op: "Operation") -> list[Leftover]:
    """The freeze, if any, and the record, as findings (empty when neither is there)."""
    from iris_ops import locks
    from iris_ops.operations.backup import ensure_thawed

    state = op.runner.run(script_builders.freeze_state(), changes=False)
    where = op.target.describe()
    frozen = str(state.get("suspended")) == "1"
    if "record" not in state and not frozen:
        return []
    record = _record(state.get("record", ""))
    thaw = f"iris session {op.target.instance} -U %SYS \"{script_builders.thaw_entry()}\""
    path = script_builders.FREEZE_RECORD
    if not frozen:
        if record is not None and str(state.get("job_alive")) == "1":
            return []  # its session still runs: it removes the record itself
        token = (record or {}).get("token", "")
        return [Leftover("freeze-record", path, "the record of an iris-ops freeze that has ended (its session is gone)",
                         "remove the record", lambda: _remove_record(op, token))]
    if record is None:
        why = "it has no iris-ops freeze record" if "record" not in state else "its iris-ops record is unreadable"
        return [_foreign(where, why, thaw)]
    since, now = _seconds(record.get("since")), _seconds(state.get("now"))
    limit = float(record.get("limit") or 0)
    if since is None or now is None or limit <= 0 or now - since >= limit:
        return [_foreign(where, f"iris-ops' record ({path}) is older than its freeze_limit of {limit:g} s, "
                         "so it describes a freeze that has ended", thaw)]
    who = f"an iris-ops {record.get('operation', 'backup')} (pid {record.get('pid')} on {record.get('host')})"
    ends = f"it ends by itself {max(limit - (now - since), 0):.0f} s from now (freeze_limit)"
    if str(state.get("lock_owner", "")) != "":
        return [Leftover("frozen-running", where, f"frozen by {who}, which is still running (job "
                         f"{state['lock_owner']} holds its freeze lock)",
                         f"none: that backup thaws the instance when it ends; {ends}")]
    if str(state.get("job_alive")) != "0":
        alive = "still runs" if str(state.get("job_alive")) == "1" else "may still run (it could not be checked)"
        return [Leftover("frozen-running", where, f"frozen by {who}, whose freezing session (job {record['job']}) {alive}",
                         f"none: the session thaws the instance when its copy ends; {ends}")]
    # When it froze, on this process's clock: --fix may run minutes later (its question waits
    # for an answer), and once freeze_limit has passed since, a freeze there is another's.  The
    # record is written just after the freeze, and `now` read before this line: a second earlier.
    frozen_at = locks.clock() - (now - since) - _RECORD_AFTER_FREEZE
    return [Leftover("frozen", where, f"frozen by {who}, whose freezing session (job {record['job']}) is gone: "
                     "writes reach no database file", "thaw (command-line ExternalThaw)",
                     lambda: ensure_thawed(op, str(record["token"]), frozen_at=frozen_at, limit=limit))]


def _foreign(where: str, why: str, thaw: str) -> Leftover:
    return Leftover("frozen-foreign", where, f"frozen by something other than iris-ops ({why}): "
                    "an external backup or snapshot may be under way",
                    f"none: iris-ops never thaws it. Once its owner is done, thaw it with: {thaw}")


def _remove_record(op: "Operation", token: str) -> None:
    if token:  # only while it is still that record: a backup starting now writes its own
        op.runner.run(script_builders.release_freeze(token))
        return
    manager = op.runner.run(script_builders.manager_directory(), changes=False)["manager_directory"]
    op.runner.remove_path(manager + script_builders.FREEZE_RECORD)
