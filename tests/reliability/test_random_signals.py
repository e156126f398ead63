"""Issue 20 point 5: a signal never reports a rollback that did not happen.

SIGINT or SIGTERM reaches iris-ops at random moments of a restore, a delete-ns and a backup (a
timer thread sends it to this process while the operation runs in it, as `kill` would), and
after each the outcome is one of two:

* restore: exit 0, its result printed, the namespace there with its rows and no journal; or
  exit 130/143 and nothing of it left (no namespace, database, directory, resource or journal:
  the instance's listing as before), once any session the client gave up on has ended;
* delete-ns: exit 0 and everything gone; or exit 130/143, and running it again (what it
  promises: its plan stays in the instance) finishes it;
* backup: exit 0 and a complete fixture; or exit 130/143 and no fixture, no temporary
  directory, no staging copy, the instance thawed;

and `doctor` finds nothing afterwards (the listing compared after each holds all it examines in the
instance; doctor itself runs once per operation).  The moments are drawn from a seeded generator over the
length of an undisturbed run of the same operation; the seed is printed with any failure
(IRIS_OPS_SIGNAL_SEED=<seed> replays it).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import threading
import time

import pytest

from reliability import beds
from reliability.conftest import comparable, host_leftovers, leftovers_in

MOMENTS = 4  # per operation
SEED = int(os.environ.get("IRIS_OPS_SIGNAL_SEED") or time.time_ns() % 1_000_000)


@pytest.fixture(scope="module")
def fx(shared_sim, tmp_path_factory):
    from clihelp import cli, ok

    sc = shared_sim
    sc.instance.create_database("RSRC", namespace="RSRC")
    sc.instance.sql("RSRC", "CREATE TABLE t (c INT)")
    sc.instance.sql("RSRC", "INSERT INTO t (c) VALUES (1)")
    out = tmp_path_factory.mktemp("fx") / "RSRC"
    ok(cli(sc, "backup", "--ns", "RSRC", "--out", out))
    return out


@contextlib.contextmanager
def signal_at(delay: float, signum: int):
    """Send ``signum`` to this process ``delay`` seconds from now.  One that arrives after the
    operation ended (its handlers gone) is caught here, not by pytest: the operation had simply
    finished first."""
    late: list[int] = []
    previous = {s: signal.signal(s, lambda n, f: late.append(n)) for s in (signal.SIGINT, signal.SIGTERM)}
    timer = threading.Timer(delay, os.kill, (os.getpid(), signum))
    timer.start()
    try:
        yield late
    finally:
        timer.cancel()
        timer.join()
        for s, handler in previous.items():
            signal.signal(s, handler)


def _moments(rng: random.Random, length: float) -> list[tuple[float, int]]:
    return [(rng.uniform(0, length), rng.choice((signal.SIGINT, signal.SIGTERM))) for _ in range(MOMENTS)]


def _timed(run, *args):
    started = time.monotonic()
    code, out, err = run(*args)
    assert code == 0, err
    return time.monotonic() - started


def _rows(sc):
    return [tuple(r) for r in sc.instance.sql("RND", "SELECT COUNT(*) FROM t").rows]


def _doctor_clean(run, where):
    code, out, err = run("doctor", "--json")
    assert code == 0, f"{where}: doctor found {out}{err}"


def test_restore_at_random_moments(shared_sim, rel_cli, fx):
    sc, rng = shared_sim, random.Random(SEED)
    before = comparable(sc.instance.listing())
    length = _timed(rel_cli, "restore", "--src", fx, "--ns", "RND")
    assert rel_cli("delete-ns", "--ns", "RND", "--yes")[0] == 0
    for delay, signum in _moments(rng, length):
        where = f"seed {SEED}: {signal.Signals(signum).name} {delay:.3f} s into a restore"
        with signal_at(delay, signum):
            code, out, err = rel_cli("restore", "--src", fx, "--ns", "RND")
        if code == 0:
            assert "restored" in out and "namespace RND" in out, f"{where}: {out}"
            assert "cleanup ran" not in err, where
            assert _rows(sc) == [(1,)], where
            assert not [p for p in sc.instance.listing()["files"] if "iris-ops-restore-RND" in p], where
            assert rel_cli("delete-ns", "--ns", "RND", "--yes")[0] == 0
        else:
            assert code == 128 + signum and "cleanup ran" in err, f"{where}: exit {code}\n{err}"
            beds.wait_for_late_sessions(sc, where=where)  # a session the client gave up on stops at its guard
            after = sc.instance.listing()
            assert comparable(after) == before and leftovers_in(after) == [], f"{where}: something was left"
    _doctor_clean(rel_cli, f"seed {SEED}, restores")


def test_delete_ns_at_random_moments(shared_sim, rel_cli, fx):
    sc, rng = shared_sim, random.Random(SEED + 1)
    before = comparable(sc.instance.listing())
    assert rel_cli("restore", "--src", fx, "--ns", "RND")[0] == 0
    length = _timed(rel_cli, "delete-ns", "--ns", "RND", "--yes")
    for delay, signum in _moments(rng, length):
        where = f"seed {SEED + 1}: {signal.Signals(signum).name} {delay:.3f} s into a delete-ns"
        assert rel_cli("restore", "--src", fx, "--ns", "RND")[0] == 0
        with signal_at(delay, signum):
            code, out, err = rel_cli("delete-ns", "--ns", "RND", "--yes")
        if code == 0:
            assert "namespace" in out and "deleted" in out, f"{where}: {out}"
        else:
            assert code == 128 + signum, f"{where}: exit {code}\n{err}"
            if "again to finish" not in err:  # stopped before its plan was written: nothing deleted
                assert "cleanup ran" in err and _rows(sc) == [(1,)], f"{where}: {err}"
                assert not sc.exists(f"{sc.instance.manager_directory()}iris-ops-delete-RND.json"), where
            beds.wait_for_late_sessions(sc, where=where)
            code, _, err = rel_cli("delete-ns", "--ns", "RND", "--yes")  # as it says: it finishes
            assert code == 0, f"{where}: the rerun: {err}"
        after = sc.instance.listing()
        assert comparable(after) == before and leftovers_in(after) == [], f"{where}: not all deleted"
    _doctor_clean(rel_cli, f"seed {SEED + 1}, delete-ns")


def test_backup_at_random_moments(shared_sim, rel_cli, fx, tmp_path):
    sc, rng = shared_sim, random.Random(SEED + 2)
    out = tmp_path / "fx"
    length = _timed(rel_cli, "backup", "--ns", "RSRC", "--out", out)
    for delay, signum in _moments(rng, length):
        where = f"seed {SEED + 2}: {signal.Signals(signum).name} {delay:.3f} s into a backup"
        shutil.rmtree(out, ignore_errors=True)
        with signal_at(delay, signum):
            code, _, err = rel_cli("backup", "--ns", "RSRC", "--out", out)
        if code == 0:
            assert "cleanup ran" not in err, where
            manifest = json.loads((out / "manifest.json").read_text())
            assert manifest["namespace"]["name"] == "RSRC", where
            code, _, err = rel_cli("validate", "--src", out)
            assert code == 0, f"{where}: the fixture is not complete: {err}"
        else:
            assert code == 128 + signum and "cleanup ran" in err, f"{where}: exit {code}\n{err}"
            assert not out.exists(), f"{where}: a fixture was left"
        beds.wait_for_late_sessions(sc, where=where)
        assert host_leftovers(tmp_path) == [], f"{where}: {host_leftovers(tmp_path)}"
        after = sc.instance.listing()
        assert not after["frozen"] and leftovers_in(after) == [], f"{where}: {leftovers_in(after)}"
    _doctor_clean(rel_cli, f"seed {SEED + 2}, backups")
