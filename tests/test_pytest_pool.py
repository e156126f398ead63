"""The pytest plugin's warm pool (iris_ops.pytest_pool) on its own: which namespace goes to whom,
what is restored ahead and deleted behind, and what the end of a session leaves.  The iris-ops
processes it starts are replaced here by a small program with the same command line and
``--json`` results, which keeps its "namespaces" as files; tests/test_pytest_plugin.py runs the
pool with the real ``iris-ops`` against a simulated IRIS."""

from __future__ import annotations

import itertools
import sys
import threading
import time
from pathlib import Path

import pytest

from iris_ops.pytest_pool import NamespacePool, PoolFailure

FAKE_IRIS_OPS = '''
import json, os, signal, sys, time

state, args = os.environ["FAKE_STATE"], sys.argv[1:]
name = args[args.index("--ns") + 1]


def log(event):
    with open(os.path.join(state, "log"), "a") as out:
        out.write(f"{event} {name}\\n")


if args[0] == "restore":
    source = args[1]
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(1))
    log("restoring")
    while os.path.exists(os.path.join(source, "hold")) and not stopped:
        time.sleep(0.02)
    if stopped:  # what iris-ops does on SIGTERM: roll back, say so, exit 143
        log("rolled-back")
        print(json.dumps({"ok": False, "error": "stopped by SIGTERM; cleanup ran", "exit_code": 143}))
        sys.exit(143)
    if os.path.exists(os.path.join(source, "broken")):
        print(json.dumps({"ok": False, "error": "the fixture is broken", "fix": "recreate it", "exit_code": 4}))
        sys.exit(4)
    open(os.path.join(state, name), "w").close()
    log("restored")
    print(json.dumps({"ok": True, "namespace": name, "databases": [{"name": name, "cached": True}]}))
else:
    os.remove(os.path.join(state, name))
    log("deleted")
    print(json.dumps({"ok": True, "namespace": name, "existed": True, "steps": []}))
'''


@pytest.fixture
def fake(tmp_path):
    """(pool factory, fixture directory, state directory)."""
    program = tmp_path / "fake_iris_ops.py"
    program.write_text(FAKE_IRIS_OPS)
    state = tmp_path / "state"
    state.mkdir()
    source = tmp_path / "fixtures" / "user"
    source.mkdir(parents=True)
    counter = itertools.count(1)
    pools = []

    def make(size: int = 2) -> NamespacePool:
        pool = NamespacePool(size, lambda: f"PYT_RUN_GW_{next(counter)}", {"FAKE_STATE": str(state)},
                             str(tmp_path), program=[sys.executable, str(program)])
        pools.append(pool)
        return pool

    yield make, source, state
    for pool in pools:
        pool.close()


def events(state: Path) -> list[tuple[str, str]]:
    log = state / "log"
    return [tuple(line.split()) for line in log.read_text().splitlines()] if log.exists() else []


def namespaces(state: Path) -> list[str]:
    return sorted(p.name for p in state.iterdir() if p.name != "log")


def until(condition, what: str) -> None:
    """Wait for ``condition`` (a guard against a hang, not a measure: the tests assert on
    what happened, never on how long it took)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def test_each_namespace_is_handed_out_once_and_nothing_outlives_the_pool(fake):
    make, source, state = fake
    pool = make(size=2)
    got = []
    for _ in range(8):
        acquired = pool.acquire("user", str(source))
        assert acquired.namespace.name in namespaces(state)  # restored, and not deleted yet
        got.append(acquired)
        pool.release(acquired.namespace.name)
    pool.close()
    names = [a.namespace.name for a in got]
    assert len(set(names)) == 8
    assert namespaces(state) == []
    restored = [name for event, name in events(state) if event == "restored"]
    deleted = [name for event, name in events(state) if event == "deleted"]
    assert sorted(restored) == sorted(deleted) and len(set(restored)) == len(restored)
    [fixture] = pool.fixtures()
    assert got[0].hit is False and fixture.misses >= 1
    assert fixture.hits + fixture.misses == 8
    assert fixture.unused == len(restored) - 8
    assert pool.errors == []


def test_a_warmed_fixture_is_ready_before_the_first_request(fake):
    make, source, state = fake
    pool = make(size=2)
    pool.warm("user", str(source))
    until(lambda: pool.ready("user") == 2, "two namespaces ready")
    before = namespaces(state)
    first = pool.acquire("user", str(source))
    second = pool.acquire("user", str(source))
    assert first.hit and second.hit
    assert {first.namespace.name, second.namespace.name} == set(before)  # restored before they were asked for
    until(lambda: pool.ready("user") == 2, "the two taken replaced")  # without a third request
    third = pool.acquire("user", str(source))
    assert third.hit and third.namespace.name not in before
    pool.release(first.namespace.name)
    pool.release(third.namespace.name)
    pool.close()  # second was never given back: the test that had it still has it (--iris-keep)
    assert namespaces(state) == [second.namespace.name]
    [fixture] = pool.fixtures()
    assert (fixture.hits, fixture.misses) == (3, 0)
    assert fixture.unused == len(fixture.restores) - 3


def test_the_end_of_the_session_stops_a_restore_in_flight(fake):
    """A restore that has not finished when the session ends gets SIGTERM (iris-ops rolls it
    back) instead of being waited for and then deleted."""
    make, source, state = fake
    (source / "hold").touch()
    pool = make(size=2)
    pool.warm("user", str(source))
    until(lambda: ("restoring", "PYT_RUN_GW_1") in events(state), "the first restore started")
    closing = threading.Thread(target=pool.close)
    closing.start()
    closing.join(60)
    assert not closing.is_alive(), "close() waited for a restore that never ends"
    assert ("rolled-back", "PYT_RUN_GW_1") in events(state)
    assert namespaces(state) == [] and pool.errors == []


def test_a_failed_restore_fails_the_request_with_its_message_and_fix(fake):
    make, source, state = fake
    (source / "broken").touch()
    pool = make(size=4)
    with pytest.raises(PoolFailure) as failed:
        pool.acquire("user", str(source))
    assert str(failed.value) == "the fixture is broken" and failed.value.fix == "recreate it"
    assert failed.value.namespace == "PYT_RUN_GW_1"
    # one restore per request while the fixture fails: none started ahead for a broken fixture
    assert [e for e in events(state) if e[0] == "restoring"] == [("restoring", "PYT_RUN_GW_1")]
    with pytest.raises(PoolFailure):
        pool.acquire("user", str(source))
    assert [e for e in events(state) if e[0] == "restoring"] == [("restoring", "PYT_RUN_GW_1"),
                                                                  ("restoring", "PYT_RUN_GW_2")]
    (source / "broken").unlink()  # repaired: the next request gets a namespace, and the pool fills
    got = pool.acquire("user", str(source))
    assert got.namespace.name == "PYT_RUN_GW_3" and not got.hit
    pool.release(got.namespace.name)
    pool.close()
    assert namespaces(state) == []
