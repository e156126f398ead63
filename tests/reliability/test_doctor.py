"""Issue 10 point 2: `iris-ops doctor [--fix]` finds and repairs each kind of leftover, made the
way a crash makes it: `kill -9` of the iris-ops process at a phase, or a step failing between
two others.  Each test ends with doctor reporting a clean instance and the listing as before."""

from __future__ import annotations

import json
import signal

import pytest

from reliability.conftest import comparable, leftovers_in, popen_cli, wait_for


def _doctor(rel_cli, *flags):
    code, out, err = rel_cli("doctor", "--json", *flags)
    return code, json.loads(out), err


def _kinds(doc):
    return sorted({f["kind"] for f in doc.get("findings", [])})


def test_a_clean_instance_is_clean(rel_cli):
    code, doc, err = _doctor(rel_cli)
    assert code == 0 and doc["ok"] and doc["findings"] == [], err


def test_kill_9_mid_backup_leaves_staging_and_a_partial_fixture_which_doctor_repairs(shared_sim, rel_cli, tmp_path):
    sc = shared_sim
    sc.instance.create_database("DOCBIG", size_mb=24, namespace="DOCBIG")
    before = sc.instance.listing()
    proc = popen_cli(sc, tmp_path, "backup", "--ns", "DOCBIG", "--out", tmp_path / "fx")
    # Killed while streaming: the copy in the instance is done (and thawed), the fixture half written.
    wait_for(lambda: any(tmp_path.glob(".fx.iris-ops-tmp-*/databases/DOCBIG/IRIS.DAT")), proc, "streaming",
             timeout=60)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    code, doc, _ = _doctor(rel_cli)
    assert code == 4 and not doc["ok"]
    assert _kinds(doc) == ["host-temp", "staging"], doc
    code, doc, err = _doctor(rel_cli, "--fix", "--yes")
    assert code == 0, err
    assert {r["kind"] for r in doc["repaired"]} == {"host-temp", "staging"}
    after = sc.instance.listing()
    assert leftovers_in(after) == [] and comparable(after) == comparable(before)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def big_fixture(shared_sim, tmp_path_factory):
    from clihelp import cli, ok

    shared_sim.instance.create_database("DOCSRC", size_mb=16, namespace="DOCSRC")
    out = tmp_path_factory.mktemp("fx") / "DOCSRC"
    ok(cli(shared_sim, "backup", "--ns", "DOCSRC", "--out", out))
    return out


def test_kill_9_mid_restore_leaves_a_journal_and_doctor_rolls_it_back(shared_sim, rel_cli, big_fixture, tmp_path):
    sc = shared_sim
    before = sc.instance.listing()
    mgr = sc.instance.manager_directory()
    journal = f"{mgr}iris-ops-restore-DOCDST.json"
    proc = popen_cli(sc, tmp_path, "restore", "--src", big_fixture, "--ns", "DOCDST")
    wait_for(lambda: sc.exists(journal), proc, "the restore journal")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Issue 20 point 7: a retry names the journal and the way out (delete-ns has nothing to delete)
    for force in ((), ("--force", "--yes")):
        code, _, err = rel_cli("restore", "--src", big_fixture, "--ns", "DOCDST", *force)
        event = json.loads(err.strip().splitlines()[-1])
        assert code == 3 and journal in event["event"] and "did not finish" in event["event"], err
        assert "doctor --fix" in event["fix"] and "delete-ns" not in event["fix"], event
    code, out, _ = rel_cli("delete-ns", "--ns", "DOCDST", "--yes")
    assert code == 0 and "nothing to delete" in out  # what the old fix line led to
    code, doc, _ = _doctor(rel_cli)
    assert code == 4 and _kinds(doc) == ["restore"], doc
    assert "DOCDST" in doc["findings"][0]["problem"]
    code, doc, err = _doctor(rel_cli, "--fix", "--yes")
    assert code == 0, err
    assert comparable(sc.instance.listing()) == comparable(before)
    code, _, err = rel_cli("restore", "--src", big_fixture, "--ns", "DOCDST")  # and now it goes
    assert code == 0, err
    code, _, err = rel_cli("delete-ns", "--ns", "DOCDST", "--yes")
    assert code == 0, err


def test_a_delete_ns_stopped_halfway_is_finished_by_doctor(shared_sim, rel_cli, big_fixture):
    """The instance fails the database's dismount (simulated: the simulated instance returns an
    error status from that call, `iris-sim stop arm --fail`), after the namespace went."""
    sc = shared_sim
    before = sc.instance.listing()
    code, _, err = rel_cli("restore", "--src", big_fixture, "--ns", "DOCDEL")
    assert code == 0, err
    sc.instance.arm_stop("SYS.Database.DismountDatabase", fail=True)
    try:
        code, _, err = rel_cli("delete-ns", "--ns", "DOCDEL", "--yes")
    finally:
        sc.instance.clear_stops()
    assert code == 5 and "the simulated instance was told to fail this call" in err, err
    code, doc, _ = _doctor(rel_cli)
    assert code == 4 and _kinds(doc) == ["delete-ns"], doc
    code, doc, err = _doctor(rel_cli, "--fix", "--yes")
    assert code == 0, err
    assert comparable(sc.instance.listing()) == comparable(before)


def test_fix_asks_first_and_without_a_terminal_refuses(shared_sim, rel_cli, tmp_path):
    (tmp_path / ".USER.iris-ops-tmp-0123456789ab").mkdir()
    code, out, err = rel_cli("doctor", "--fix")
    assert code == 2 and "--yes" in err
    assert (tmp_path / ".USER.iris-ops-tmp-0123456789ab").exists()
    code, out, err = rel_cli("doctor", "--fix", "--yes")
    assert code == 0 and "repaired  host-temp" in out


@pytest.mark.slow
def test_power_loss_mid_count_leaves_a_counting_namespace_which_doctor_removes(shared_sim, rel_cli, tmp_path):
    """`kill -9` of iris-ops while the backup counts the rows of its copies, and the instance's
    session dying with it (the container killed: power loss), leave the counting namespace and
    databases configured; doctor finds them (and the staging copy) and --fix removes them."""
    sc = shared_sim
    before = sc.instance.listing()
    proc = popen_cli(sc, tmp_path, "backup", "--ns", "USER", "--out", tmp_path / "fx",
                     fault="slow@##class(Config.Namespaces).Create(")
    counting = lambda: any(n.startswith("IRISOPS-COUNT-") for n in sc.instance.read_config()["Databases"])  # noqa: E731
    wait_for(counting, proc, "the counting databases")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    sc.stop(kill=True)
    sc.start()
    code, doc, _ = _doctor(rel_cli)
    assert code == 4 and _kinds(doc) == ["counting", "host-temp", "staging"], doc
    counting_row = next(f for f in doc["findings"] if f["kind"] == "counting")
    assert counting_row["where"].startswith("IRISOPS-COUNT-") and "database IRISOPS-COUNT-" in counting_row["problem"]
    code, doc, err = _doctor(rel_cli, "--fix", "--yes")
    assert code == 0, err
    assert "counting" in {r["kind"] for r in doc["repaired"]}
    after = sc.instance.listing()
    assert leftovers_in(after) == [] and comparable(after) == comparable(before)


def test_records_that_are_not_json_objects_are_reported_and_left_alone(shared_sim, rel_cli, big_fixture):
    """A journal or plan that is not a JSON object (empty, half written, another JSON value) is
    reported by doctor as what it is, left for a person to read, and blocks what it guards with
    a fix line, never an internal error."""
    sc = shared_sim
    mgr = sc.instance.manager_directory()
    files = {f"{mgr}iris-ops-restore-DOCBAD.json": b"[]",
             f"{mgr}iris-ops-apply.json": b"",
             f"{mgr}iris-ops-delete-DOCHALF.json": b'{"databases": [{"na'}
    try:
        for path, data in files.items():
            code, _, err = sc.exec(["sh", "-c", 'cat > "$1"', "sh", path], stdin=data)
            assert code == 0, err
        code, doc, err = _doctor(rel_cli)
        assert code == 4 and not doc["ok"], err
        problems = {f["kind"]: f["problem"] for f in doc["findings"]}
        assert sorted(problems) == ["apply", "delete-ns", "restore"], doc
        assert problems["restore"] == "an unreadable restore journal (it holds JSON list, not an object)"
        assert {f["kind"]: f["where"] for f in doc["findings"]}["restore"] == f"{mgr}iris-ops-restore-DOCBAD.json"
        assert problems["apply"].startswith("an unreadable apply journal (")
        # what each one guards is refused with its way out
        code, _, err = rel_cli("restore", "--src", big_fixture, "--ns", "DOCBAD")
        event = json.loads(err.strip().splitlines()[-1])
        assert code == 3 and "did not finish" in event["event"] and "doctor --fix" in event["fix"], err
        code, _, err = rel_cli("delete-ns", "--ns", "DOCHALF", "--yes")
        event = json.loads(err.strip().splitlines()[-1])
        assert code == 2 and "is not a delete-ns plan" in event["event"], err
        assert f"Remove {mgr}iris-ops-delete-DOCHALF.json" in event["fix"]
        assert all(sc.exists(path) for path in files)  # nothing guessed, nothing removed
    finally:
        sc.exec(["rm", "-f", "--", *files])
    code, doc, err = _doctor(rel_cli)
    assert code == 0 and doc["findings"] == [], err
