"""The simulator's ``^$JOB`` (a job exists exactly while its session process does, however it
ends) and ``%Library.File`` objects writing a new file, as sessions of a host install see them."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def host():
    from iris_ops_sim.simcontainer import HostSim

    home = tempfile.mkdtemp(prefix="iris-ops-jobs-")
    try:
        yield HostSim(Path(home)).install()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _session(host, text: str) -> str:
    done = subprocess.run([str(host.iris_command), "session", "IRIS", "-U", "%SYS"], input=text.encode(),
                          capture_output=True, timeout=60, check=False)
    return done.stdout.decode()


def _value(host, expression: str) -> str:
    out = _session(host, f'Write "V=",{expression},"|",!\nHalt\n')
    assert "V=" in out, out
    return out.split("V=", 1)[1].split("|", 1)[0]


class Waiting:
    """An ``iris session`` that told its ``$JOB`` and waits on its stdin."""

    def __init__(self, host) -> None:
        self.proc = subprocess.Popen([str(host.iris_command), "session", "IRIS", "-U", "%SYS"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.proc.stdin.write(b'Write "J=",$JOB,"|",!\n')
        self.proc.stdin.flush()
        seen = b""
        while b"|" not in seen:
            chunk = self.proc.stdout.read1(4096)
            assert chunk, seen.decode()
            seen += chunk
        self.job = int(seen.split(b"J=", 1)[1].split(b"|", 1)[0])

    def end(self, signum: int | None = None) -> None:
        if signum is None:
            self.proc.stdin.write(b"Halt\n")
            self.proc.stdin.close()
        else:
            self.proc.send_signal(signum)
        self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout):
            if not stream.closed:
                stream.close()


def test_a_job_exists_while_its_process_does(host):
    ended = Waiting(host)
    ended.end()
    killed, stopped = Waiting(host), Waiting(host)
    try:
        assert _value(host, f"$Data(^$JOB({killed.job}))") == "1"
        stopped.proc.send_signal(signal.SIGSTOP)  # stopped is not gone
        assert _value(host, f"$Data(^$JOB({stopped.job}))") == "1"
        killed.end(signal.SIGKILL)
        assert _value(host, f"$Data(^$JOB({killed.job}))") == "0"
        assert _value(host, f"$Data(^$JOB({ended.job}))") == "0"
        assert _value(host, "$Data(^$JOB($JOB))") == "1"
        assert _value(host, '$Data(^$J("1"))') == "0"  # no IRIS process (pid 1 is not one)
    finally:
        stopped.proc.send_signal(signal.SIGCONT)
        stopped.end()
        if killed.proc.poll() is None:
            killed.end(signal.SIGKILL)


@pytest.mark.parametrize("code,error", [
    ('Write $Order(^$JOB(""))', "<UNIMPLEMENTED>"),
    ("Write ^$JOB($JOB)", "<UNIMPLEMENTED>"),
    ("Write $Data(^$JOB(1.5))", "<ILLEGAL VALUE>"),
    ("Write $Data(^$JOB(1,2))", "<SYNTAX>"),
])
def test_what_is_not_simulated_of_job_is_refused(host, code, error):
    assert error in _session(host, code + "\nHalt\n")


def test_a_file_object_writes_a_new_file(host):
    mgr = host.install_dir / "mgr"
    out = _session(host, "\n".join([
        'Set f=##class(%File).%New("iris-ops-test.txt") Write "open=",f.Open("WSN"),f.IsOpen,"|",!',
        'Write "w=",f.Write("one "),f.WriteLine("line"),"|",! Do f.Close() Write "closed=",f.IsOpen,"|",!',
        'Set g=##class(%File).%New("iris-ops-test.txt") Write "again=",g.Open("NWS"),g.Write("new"),"|",! Do g.Close()',
        'Set h=##class(%File).%New("/no/such/dir/x") Set sc=h.Open("WSN") Write "missing=",$SYSTEM.Status.IsError(sc),"|",!',
        'Write "unopened=",$SYSTEM.Status.IsError(h.Write("x")),"|",!',
        'Do h.Open("R")',
        "Halt", ""]))
    assert "open=11|" in out and "w=11|" in out and "closed=0|" in out, out
    assert "again=11|" in out and "missing=1|" in out and "unopened=1|" in out, out
    assert "<UNIMPLEMENTED>" in out  # reading is not simulated
    written = mgr / "iris-ops-test.txt"
    assert written.read_text() == "new"  # N: the existing file was overwritten
    written.unlink()
