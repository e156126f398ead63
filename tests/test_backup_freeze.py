"""Issue 9, points 1 and 2: a freeze that provably held, and row counts that describe the
fixture's files.  Through the CLI, against the simulated instance (``sim_container`` used only
through ``.env``, ``.name`` and ``.instance``)."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from clihelp import cli, events, manifest, ok
from cli_helpers import plugin
from iris_ops import hookimpl

_STEP = re.compile(r"Try \{ If n=\d+ \{ ")


def wd_suspended(sc) -> str:
    return ok(cli(sc, "run", "--ns", "%SYS", "Write ##class(Backup.General).IsWDSuspended()")).stdout.strip()


class Slow:
    """Makes the step of the freeze script holding ``marker`` wait ``seconds`` first: a copy that
    takes that long, as a large database's would."""

    def __init__(self, marker: str, seconds: float) -> None:
        self.marker, self.seconds, self.fired, self.pm = marker, seconds, 0, None

    @hookimpl(tryfirst=True)
    def run_objectscript(self, target, script, namespace, timeout):
        if self.fired or self.marker not in script or "ExternalFreeze" not in script:
            return None
        self.fired += 1
        at = script.index(self.marker)
        start = [m.end() for m in _STEP.finditer(script, 0, at)][-1]
        script = script[:start] + f"Hang {self.seconds} " + script[start:]
        others = self.pm.subset_hook_caller("run_objectscript", remove_plugins=[self])
        return others(target=target, script=script, namespace=namespace, timeout=timeout)


def run_with(inproc, monkeypatch, injected, *args, **env):
    """The in-process CLI with ``injected`` registered and ``env`` set."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with plugin(injected) as pm:
        injected.pm = pm
        return inproc(*args)


# --- 1. a freeze that provably held ---------------------------------------------------------------

def test_backup_fails_when_the_write_daemon_resumed_during_the_copy(sim_container, inproc, monkeypatch, tmp_path):
    """WDSuspendLimit passed while copying: the copy is not consistent, so the backup fails (exit 5),
    says so, names the setting to raise, and leaves nothing behind."""
    sc = sim_container
    slow = Slow("Set held=", 1.5)
    code, _, err = run_with(inproc, monkeypatch, slow, "backup", "--ns", "USER", "--out", tmp_path / "fx",
                            IRIS_OPS_FREEZE_LIMIT="1")
    assert slow.fired
    assert code == 5, err
    assert "the write daemon resumed before the copy finished" in err
    assert "freeze_limit" in err
    assert not (tmp_path / "fx").exists()
    assert wd_suspended(sc) == "0"


def test_the_session_deadline_outlives_the_freeze_limit(sim_container, inproc, monkeypatch, tmp_path):
    """timeout (2 s) shorter than the copy (3 s) shorter than freeze_limit (5 s): the backup succeeds."""
    slow = Slow("CopyFile", 3)
    code, _, err = run_with(inproc, monkeypatch, slow, "backup", "--ns", "USER", "--out", tmp_path / "fx",
                            IRIS_OPS_TIMEOUT="2", IRIS_OPS_FREEZE_LIMIT="5")
    assert slow.fired
    assert code == 0, err


@pytest.mark.parametrize("args,env,words", [
    (("--timeout", "0"), {}, ["'timeout'", "above 0"]),
    (("--timeout", "-3"), {}, ["'timeout'"]),
    ((), {"IRIS_OPS_FREEZE_LIMIT": "0"}, ["freeze_limit", "never resumes"]),
    ((), {"IRIS_OPS_FREEZE_LIMIT": "-1"}, ["freeze_limit"]),
    ((), {"IRIS_OPS_FREEZE_LIMIT": "900"}, ["freeze_limit", "freeze_timeout", "ExternalFreezeTimeOut"]),
    ((), {"IRIS_OPS_FREEZE_TIMEOUT": "-5"}, ["freeze_timeout"]),
    ((), {"IRIS_OPS_FREEZE_TIMEOUT": "1300"}, ["freeze_timeout", "between 0 and 1200", "at most 1200"]),
    ((), {"IRIS_OPS_FREEZE_TIMEOUT": "1200", "IRIS_OPS_FREEZE_LIMIT": "1500"}, ["Lower freeze_limit", "at most 1200"]),
], ids=["timeout-0", "timeout-negative", "limit-0", "limit-negative", "limit-over-freeze-timeout",
        "freeze-timeout-negative", "freeze-timeout-over-iris-cap", "limit-over-iris-cap"])
def test_impossible_freeze_settings_are_usage_errors(sim_container, tmp_path, args, env, words):
    proc = cli(sim_container, "backup", "--ns", "USER", "--out", tmp_path / "fx", *args, **env)
    assert proc.returncode == 2, proc.stderr
    for word in words:
        assert word in proc.stderr
    assert not (tmp_path / "fx").exists()
    # the advice never recommends a freeze_timeout IRIS would not honour
    for advised in re.findall(r"freeze_timeout[^.]*?at least (\d+)", proc.stderr):
        assert int(advised) <= 1200, proc.stderr


def test_freeze_settings_map_to_the_arguments_iris_honours(sim_container, tmp_path):
    """freeze_timeout is ExternalFreezeTimeOut (7th argument), freeze_limit WDSuspendLimit (10th)."""
    proc = ok(cli(sim_container, "backup", "--ns", "USER", "--out", tmp_path / "fx", "--dry-run",
                  IRIS_OPS_FREEZE_LIMIT="900", IRIS_OPS_FREEZE_TIMEOUT="1200"))
    assert '##class(Backup.General).ExternalFreeze(,"iris-ops backup",,,,,1200,,,900)' in proc.stdout


def test_backup_refuses_an_instance_frozen_by_someone_else(sim_container, tmp_path):
    sc = sim_container
    ok(cli(sc, "run", "--ns", "%SYS", "Set sc=##class(Backup.General).ExternalFreeze() Write sc"))
    try:
        proc = cli(sc, "backup", "--ns", "USER", "--out", tmp_path / "fx")
        assert proc.returncode == 5, proc.stderr
        assert "already frozen" in proc.stderr and "IsWDSuspended" in proc.stderr
        assert wd_suspended(sc) == "1", "the backup thawed a freeze it did not make"
        assert not (tmp_path / "fx").exists()
        dismount = cli(sc, "backup", "--ns", "USER", "--out", tmp_path / "fx", "--dismount")
        assert dismount.returncode == 5 and "already frozen" in dismount.stderr
    finally:
        ok(cli(sc, "run", "--ns", "%SYS", "Do ##class(Backup.General).ExternalThaw()"))
    assert wd_suspended(sc) == "0"


# --- 2. row counts that describe the fixture's files ----------------------------------------------

def test_backup_during_inserts_restores_the_rows_at_the_freeze(sim_container, tmp_path):
    """A writer keeps inserting during the backup: the manifest counts what the copied files hold,
    a restore with verification succeeds, and the restored rows are exactly those at the freeze."""
    sc = sim_container
    sc.instance.sql("USER", "CREATE TABLE Demo.Log (N INT)")
    for n in range(1, 6):
        sc.instance.sql("USER", f"INSERT INTO Demo.Log (N) VALUES ({n})")
    writer = sc.instance.start_writer("USER", "Demo.Log", "N", interval=0.002, mode="insert")
    try:
        ok(cli(sc, "backup", "--ns", "USER", "--out", tmp_path / "fx"))
    finally:
        inserted = writer.stop()
    assert inserted > 0 and writer.errors == []
    m = manifest(tmp_path / "fx")
    assert m["row_counts"]["source"] == "copied-files"
    [table] = m["tables"]
    at_freeze = table["row_count"]
    live = int(sc.instance.sql("USER", "SELECT COUNT(*) FROM Demo.Log").rows[0][0])
    assert 5 <= at_freeze < live, "the writer did not keep inserting after the freeze"
    ok(cli(sc, "restore", "--src", tmp_path / "fx", "--ns", "COPY"))  # verification is on by default
    count, top = sc.instance.sql("COPY", "SELECT COUNT(*), MAX(N) FROM Demo.Log").rows[0]
    assert int(count) == at_freeze == int(top)  # rows 1..N: exactly those present at the freeze
    ok(cli(sc, "validate", "--src", tmp_path / "fx", "--online", "--ns", "COPY"))


def test_restore_verification_honours_counts_that_were_not_fixed(sim_container, tmp_path):
    sc = sim_container
    sc.instance.sql("USER", "CREATE TABLE Demo.T (N INT)")
    sc.instance.sql("USER", "INSERT INTO Demo.T (N) VALUES (1)")
    fx = tmp_path / "fx"
    ok(cli(sc, "backup", "--ns", "USER", "--out", fx))
    data = manifest(fx)
    data["tables"] = [{"name": "Demo.T", "row_count": 42}]
    (fx / "manifest.json").write_text(json.dumps(data))
    wrong = cli(sc, "restore", "--src", fx, "--ns", "WRONG")
    assert wrong.returncode == 4, wrong.stderr  # exact counts that disagree: a wrong fixture fails
    data["row_counts"] = {"source": "not-fixed", "note": "the database was being written to"}
    (fx / "manifest.json").write_text(json.dumps(data))
    proc = ok(cli(sc, "restore", "--src", fx, "--ns", "UNFIXED"))
    assert any(e["event"] == "restore.counts_not_verified" for e in events(proc))


class InTransaction:
    """A real ``iris session`` in the container (``docker exec -i``), kept open inside a
    ``TSTART`` with one update made; :meth:`close` rolls it back and ends the session."""

    def __init__(self, sc, table: str) -> None:
        self.proc = subprocess.Popen(["docker", "exec", "-i", sc.name, "iris", "session", "IRIS", "-U", "USER"],
                                     env={**os.environ, "DOCKER_HOST": sc.base_url},
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        insert = f'INSERT INTO {table} (N) VALUES (7)'
        self.proc.stdin.write((f'TSTART  Set r=##class(%SQL.Statement).%ExecDirect(,"{insert}") '
                               'Write "<<<",r.%SQLCODE,":",$TLEVEL,":IN>>>",!\n').encode())
        self.proc.stdin.flush()
        seen = b""
        while b"<<<0:1:IN>>>" not in seen:
            chunk = self.proc.stdout.read1(4096)
            assert chunk, seen.decode()
            seen += chunk

    def close(self) -> int:
        # Roll back and halt: whether iris session ends at the end of its input is not documented.
        self.proc.stdin.write(b"TROLLBACK\nHalt\n")
        self.proc.stdin.close()
        self.proc.stdout.read()
        return self.proc.wait(timeout=30)


def test_backup_counts_transactions_open_at_the_freeze(sim_container, tmp_path):
    """InTransaction is the journal offset where a transaction began (never just 1): a backup made
    while another session sits inside a TSTART with an update records it and warns."""
    sc = sim_container
    sc.instance.sql("USER", "CREATE TABLE Demo.T (N INT)")
    clean = ok(cli(sc, "backup", "--ns", "USER", "--out", tmp_path / "clean"))
    assert not any(e["event"] == "backup.open_transactions" for e in events(clean))
    assert manifest(tmp_path / "clean")["consistency"]["open_transactions"] == 0
    session = InTransaction(sc, "Demo.T")
    try:
        offsets = sc.instance.sql("%SYS", "SELECT InTransaction FROM %SYS.ProcessQuery WHERE InTransaction>0").rows
        assert offsets and all(int(o) > 1 for (o,) in offsets)  # an offset in the journal, not a flag
        proc = ok(cli(sc, "backup", "--ns", "USER", "--out", tmp_path / "fx"))
    finally:
        session.close()
    warned = [e for e in events(proc) if e["event"] == "backup.open_transactions"]
    assert warned and warned[0]["count"] >= 1 and "not transactionally" in warned[0]["note"]
    assert manifest(tmp_path / "fx")["consistency"]["open_transactions"] >= 1
    # the session ended: its transaction is gone and its update rolled back
    assert sc.instance.sql("USER", "SELECT COUNT(*) FROM Demo.T").rows == [(0,)]
    after = ok(cli(sc, "backup", "--ns", "USER", "--out", tmp_path / "after"))
    assert manifest(tmp_path / "after")["consistency"]["open_transactions"] == 0, after.stderr
