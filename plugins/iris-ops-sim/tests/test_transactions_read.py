"""TSTART / TCOMMIT / TROLLBACK with $TLEVEL and InTransaction, and READ at the end of input
(``Read var:timeout``, $TEST, <ENDOFFILE>, SetZEOF and $ZEOF), in an in-process session."""

from __future__ import annotations

import io
import os
import subprocess

import pytest
from _instance_helpers import new_instance

from iris_ops_sim.irissim.objectscript.terminal import iris_main


@pytest.fixture
def inst(tmp_path):
    instance = new_instance(tmp_path)
    instance.sql("USER", "CREATE TABLE Demo.T (N INT)")
    return instance


def run(inst, text: str, job: int = 4242) -> tuple[str, int]:
    out: list[bytes] = []
    rc = iris_main(inst, ["session", "IRIS", "-U", "USER"], io.BytesIO(text.encode()), out.append, job=job)
    return b"".join(out).decode(), rc


INSERT = 'Set r=##class(%SQL.Statement).%ExecDirect(,"INSERT INTO Demo.T (N) VALUES (1)")'
OFFSETS = ('Set q=##class(%SQL.Statement).%ExecDirect(,"SELECT InTransaction FROM %SYS.ProcessQuery '
           'WHERE JobNumber=4242") Write "off=" Write:q.%Next() q.%GetData(1) Write !')


def count(inst) -> int:
    return int(inst.sql("USER", "SELECT COUNT(*) FROM Demo.T").rows[0][0])


def test_a_transaction_shows_its_journal_offset_and_commits(inst):
    out, rc = run(inst, f'Write "L",$TLEVEL,!\nTSTART  {INSERT} Write "L",$TLEVEL,!\n{OFFSETS}\n'
                        'TSTART  Write "L",$TLEVEL,!\nTCOMMIT  Write "L",$TLEVEL,!\nTCOMMIT  Write "L",$TLEVEL,!\n'
                        f'{OFFSETS}\nHalt\n')
    assert rc == 0
    assert [line for line in out.splitlines() if line.startswith("L")] == ["L0", "L1", "L2", "L1", "L0"]
    offsets = [line[4:] for line in out.splitlines() if line.startswith("off=")]
    assert len(offsets) == 2 and int(offsets[0]) > 1 and offsets[1] == ""  # an offset, then not listed
    assert "TL1:USER>" in out and "TL2:USER>" in out
    assert count(inst) == 1
    later, _ = run(inst, f"TSTART  {OFFSETS}\nTROLLBACK\nHalt\n")
    assert int(later.split("off=")[1].split()[0]) > int(offsets[0])  # the journal moved on


def test_rollback_undoes_the_transaction_and_tcommit_outside_one_fails(inst):
    out, rc = run(inst, f'TSTART  {INSERT}\nTSTART  {INSERT}\nTROLLBACK 1 Write "L",$TLEVEL,!\n'
                        f'Write "C",##class(%SQL.Statement).%ExecDirect(,"SELECT COUNT(*) FROM Demo.T").%Next(),!\n'
                        'TROLLBACK  Write "L",$TLEVEL,!\nTCOMMIT\nTROLLBACK  Write "nothing",!\nHalt\n')
    assert rc == 0 and "L1" in out and "L0" in out and "nothing" in out
    assert "<COMMAND>" in out  # TCOMMIT with no transaction
    assert count(inst) == 0 and inst.processes() == []


def test_the_end_of_the_process_rolls_back_its_open_transaction(inst):
    run(inst, f"TSTART  {INSERT}\nHalt\n")
    run(inst, f"TSTART  {INSERT}\n")  # end of input
    assert count(inst) == 0 and inst.processes() == []


def test_a_rollback_the_simulator_cannot_do_is_refused(inst):
    """Another process updated the database inside the transaction: IRIS would undo record by
    record; the simulator refuses rather than undo that process's update too."""
    lines = iter([f"TSTART  {INSERT}\n", "TROLLBACK\n", "Halt\n"])

    class Stdin:
        def readline(self):
            line = next(lines, "")
            if line == "TROLLBACK\n":
                inst.sql("USER", "INSERT INTO Demo.T (N) VALUES (5)")
            return line.encode()

    out: list[bytes] = []
    iris_main(inst, ["session", "IRIS", "-U", "USER"], Stdin(), out.append, job=4242)
    assert "<UNIMPLEMENTED> *simulator cannot roll back" in b"".join(out).decode()
    assert count(inst) == 2 and inst.processes() == []


def test_read_with_a_timeout_and_at_the_end_of_input(inst):
    out, rc = run(inst, 'Read x:1 Write "T=",$TEST," x=",x,!\nabc\n'
                        'Try { Read y:1 } Catch e { Write "caught ",e.Name,! }\n')
    assert "T=1 x=abc" in out and "caught <ENDOFFILE>" in out
    out, rc = run(inst, 'Write ##class(%SYSTEM.Process).SetZEOF(1) Read z:1 Write " Z=",$ZEOF," z=[",z,"]",!\n')
    assert "0 Z=-1 z=[]" in out


def test_a_timed_read_on_a_pipe_times_out_without_input(sim_host):
    """The real program (a pipe, select): no line within the timeout sets $TEST to 0."""
    proc = subprocess.Popen([str(sim_host.iris_command), "session", "IRIS", "-U", "USER"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    proc.stdin.write(b'Set t=$ZH Read x:0.3 Write "T=",$TEST," waited=",($ZH-t)>0.2,!\n')
    proc.stdin.flush()
    seen = b""
    while b"waited=" not in seen:
        chunk = os.read(proc.stdout.fileno(), 4096)
        assert chunk, seen
        seen += chunk
    proc.stdin.write(b"Halt\n")
    out = seen + proc.communicate(timeout=30)[0]
    assert b"T=0 waited=1" in out, out
