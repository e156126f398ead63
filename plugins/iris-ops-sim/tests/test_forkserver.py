"""The fork server (``irissim/forkserver.py``): an ``iris session`` run from the server's warm
copy of the simulator ends, for whoever started it, exactly as one the launcher runs itself: the
same output and exit status, the same answer to every signal, and no job left when its launcher
dies.  Each case runs twice: in a container as the instance owner (served: the server serves its
own user) and as root (the launcher runs the session itself); on a host install with its server
and without."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: Run in the container: one session per case, its launcher's pid, the session's $JOB, and how
#: the launcher ended (``subprocess``'s returncode: negative for a signal).
_CASES = r'''
import json, os, signal, subprocess, sys, time

def session():
    p = subprocess.Popen(["iris", "session", "IRIS", "-U", "%SYS"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    p.stdin.write(b'Write "job=",$JOB,!\n')
    p.stdin.flush()
    line = b""
    while b"job=" not in line:
        line = p.stdout.readline()
        if not line:
            raise SystemExit("no job number: " + repr(p.stdout.read()))
    return p, int(line.split(b"job=")[1])

def gone(pid, within=5.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ")[1].startswith("Z"):
                    return True
        except (FileNotFoundError, ProcessLookupError):  # gone before the open, or before the read
            return True
        time.sleep(0.05)
    return False

out = {}
for case in ("end-of-input", "halt", "terminate-status", "launcher-sigterm", "launcher-sigint", "launcher-sigkill", "job-sigkill"):
    p, job = session()
    if case == "end-of-input":
        p.stdin.close()
    elif case == "halt":
        p.stdin.write(b"Halt\n")
        p.stdin.close()
    elif case == "terminate-status":
        p.stdin.write(b"Do ##class(%SYSTEM.Process).Terminate($JOB,7)\n")
        p.stdin.close()
    elif case == "job-sigkill":
        os.kill(job, signal.SIGKILL)
    else:
        os.kill(p.pid, getattr(signal, case.split("-")[1].upper()))
    try:
        code = p.wait(60)  # a loaded machine is slow; a session that never ends is what fails
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{case}: the launcher still runs after 60 s; the job {'is gone' if gone(job, 0) else 'runs'}")
    rest = p.stdout.read().decode("utf-8", "replace")
    out[case] = {"code": code, "own_job": job == p.pid, "job_gone": gone(job), "rest": rest}
print(json.dumps(out))
'''


def _cases(sc, user):
    code, out, err = sc.exec(["python3", "-S", "-c", _CASES], user=user)
    assert code == 0, err.decode()
    return json.loads(out)


def _same_ends(served: dict, alone: dict) -> None:
    assert not any(case["own_job"] for case in served.values()), served  # the server's child is the job
    assert all(case["own_job"] for case in alone.values()), alone
    for results in (served, alone):
        assert results["end-of-input"]["code"] == 1 and "<ENDOFFILE>" in results["end-of-input"]["rest"]
        assert results["halt"]["code"] == 0
        assert results["terminate-status"]["code"] == 7
        assert results["launcher-sigkill"]["code"] == -9
        assert results["job-sigkill"]["code"] == -9
        assert all(case["job_gone"] for case in results.values()), results
    assert {case: result["code"] for case, result in served.items()} == {case: result["code"] for case, result in alone.items()}
    for case in ("end-of-input", "halt", "terminate-status"):  # a signal may come before the prompt
        assert served[case]["rest"] == alone[case]["rest"], case


@pytest.mark.docker
def test_a_served_session_ends_as_one_its_launcher_runs_itself(sim_container):
    _same_ends(_cases(sim_container, None), _cases(sim_container, "root"))


def test_a_host_install_serves_its_sessions_the_same_way(sim_host):
    def cases() -> dict:
        env = {**os.environ, "PATH": f"{sim_host.iris_command.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        done = subprocess.run([sys.executable, "-S", "-c", _CASES], env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()
        return json.loads(done.stdout)

    assert sim_host.server is not None  # the fixture's install serves
    served = cases()
    sim_host.stop_serving()
    _same_ends(served, cases())


def _server_pid(sc) -> int | None:
    code, out, _err = sc.exec(["ps", "-o", "pid,args"])
    pids = [int(line.split()[0]) for line in out.decode().splitlines()[1:] if "iris-sim daemon" in line]
    return next((pid for pid in pids if pid != 1), None)


def _job_is_launcher(sc) -> bool:
    code, out, err = sc.exec(["sh", "-c", "echo $$; exec iris session IRIS -U %SYS"], stdin=b"Write $JOB,!\nHalt\n")
    assert code == 0, err
    lines = [line.strip() for line in out.decode().splitlines() if line.strip().isdigit()]
    return lines[0] == lines[-1]


@pytest.mark.docker
def test_sessions_go_on_without_the_server_and_the_instance_starts_it_again(sim_container):
    sc = sim_container
    first = _server_pid(sc)
    assert first is not None and not _job_is_launcher(sc)
    assert sc.exec(["kill", "-9", str(first)])[0] == 0
    assert _job_is_launcher(sc)  # the launcher runs it itself
    deadline = time.monotonic() + 10
    while (second := _server_pid(sc)) in (None, first) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert second not in (None, first)
    assert not _job_is_launcher(sc)


#: Run as root in the container: the server's first answer to a request that brings its own
#: environment (a root launcher's) and to one that leaves it to the server (the kit's call).
_ROOT_ASKS = r'''
import marshal, os, socket, struct
for own in (False, True):
    s = socket.socket(socket.AF_UNIX)
    s.connect("/tmp/irissim/fork.sock")
    request = ("iris-sim", ["state"], None, None, None) if own else ("iris-sim", ["state"], dict(os.environb), "/", 0o22)
    body = marshal.dumps(request)
    s.sendmsg([struct.pack("!I", len(body)) + body], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("3i", 0, 1, 2))])
    print(s.recv(1).decode(), flush=True)
    if own:
        s.recv(9)  # the pid's four bytes, then the child's status
    s.close()
'''


@pytest.mark.docker
def test_root_gets_the_instance_owners_process_only_as_the_kits_call(sim_container):
    code, out, err = sim_container.exec(["python3", "-S", "-c", _ROOT_ASKS], user="root")
    assert code == 0, err
    assert out.decode().split("\n")[0] == "N"  # a root launcher runs its program itself
    assert out.decode().split("\n")[1] == "P"


@pytest.mark.docker
def test_the_kits_calls_reach_the_server_without_an_exec(sim_container):
    sc = sim_container
    assert sc.control_dir is not None  # the suite runs as root on a local engine

    def execs_during(action) -> int:
        time.sleep(1.02 - time.time() % 1.0)  # the engine's events count whole seconds: start a fresh one
        since = int(time.time())
        action()
        until = int(time.time()) + 1
        time.sleep(until - time.time() + 0.05)
        events = sc.client.api.events(since=since, until=until, decode=True,
                                      filters={"container": sc.name, "event": "exec_create"})
        return sum(1 for _ in events)

    assert execs_during(lambda: [sc.instance.call("state") for _ in range(5)]) == 0
    server = _server_pid(sc)
    assert sc.exec(["kill", "-9", str(server)])[0] == 0
    assert execs_during(lambda: sc.instance.call("state")) == 1  # the launcher runs it itself


def test_a_host_server_ends_with_the_process_that_started_it(sim_host):
    script = ("import sys; from iris_ops_sim.simcontainer import HostSim; "
              "print(HostSim(sys.argv[1]).install().serve().server.pid)")
    sim_host.stop_serving()  # this install again, served by a process that ends at once
    done = subprocess.run([sys.executable, "-c", script, str(sim_host.home)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    server = int(done.stdout.split()[-1])
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{server}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{server}")


def test_many_sessions_at_once_each_run_once(sim_host):
    """Sessions that end before their launcher has finished sending (a loaded machine): each is
    still one session, never the server's child and then the launcher's own again on the same
    input (an empty send after the server closed once failed with EPIPE, and the launcher ran
    the program a second time: two banners, the second at the end of input)."""
    import threading

    wrong: list = []

    def sessions() -> None:
        for _ in range(40):
            done = subprocess.run([str(sim_host.iris_command), "session", "IRIS", "-U", "%SYS"],
                                  input=b'Write "x",!\nHalt\n', capture_output=True, timeout=60)
            if done.returncode != 0 or done.stdout.count(b"Node:") != 1:
                wrong.append((done.returncode, done.stdout[-120:]))

    threads = [threading.Thread(target=sessions) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def _process_state(pid: int) -> str:
    """What the kernel says of ``pid``: state, signals pending, blocked and caught, and where it
    waits (for a test's failure message)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return f"{pid}: gone"
    fields = [line for line in status.splitlines() if line.split(":")[0] in ("State", "SigPnd", "ShdPnd", "SigBlk", "SigCgt", "Threads")]
    try:
        wchan = Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        wchan = "?"
    return f"{pid}: " + "; ".join(" ".join(line.split()) for line in fields) + f"; wchan {wchan}"


def test_a_signal_as_soon_as_the_session_answers_reaches_it(sim_host):
    """SIGTERM to launchers the moment their sessions first answer, many at once: each ends as
    a session ends on SIGTERM (a Halt, status 1), never by the signal itself.  The child answers
    as soon as it is forked, before its launcher may have heard its pid: a launcher that took its
    signals only then died of one that came first (-15), and took its session with it; and a
    session that took the signal just before it began to wait for input stayed at its prompt
    (about one run in four, before the session waited on a wakeup pipe too: terminal.LineInput).
    A launcher that has not ended 30 s after its signal is a failure that says what the kernel
    knows of it and of its session's job, and both are killed."""
    import signal
    import threading

    codes: list = []
    stuck: list[str] = []

    def sessions() -> None:
        for _ in range(25):
            p = subprocess.Popen([str(sim_host.iris_command), "session", "IRIS", "-U", "%SYS"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            p.stdin.write(b'Write "job=",$JOB,"=",!\n')
            p.stdin.flush()
            while b"job=" not in (line := p.stdout.readline()) and line:
                pass
            p.send_signal(signal.SIGTERM)
            try:
                codes.append(p.wait(30))
            except subprocess.TimeoutExpired:
                job = int(line.split(b"job=")[1].split(b"=")[0]) if b"job=" in line else None
                stuck.append(f"launcher {_process_state(p.pid)}; job {_process_state(job) if job else '?'}")
                for pid in (job, p.pid):
                    if pid:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                codes.append(p.wait(30))
            p.stdin.close()
            p.stdout.close()

    threads = [threading.Thread(target=sessions) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not stuck, "\n".join(stuck)
    assert codes == [1] * 200


# A launcher waits in recv for its child's end; a signal taken outside that recv (here by
# another thread, the state one arriving just before the recv leaves) must still reach the
# launcher's handler, which passes it on, long before the child ends by itself.
_LAUNCHER_WAIT = r"""
import signal, socket, struct, sys, threading, time
sys.path.insert(0, sys.argv[1])
from irissim import forkclient

ours, servers = socket.socketpair()
handled = []
signal.signal(signal.SIGUSR1, lambda signum, frame: handled.append(time.monotonic()))
began = time.monotonic()

def signal_this_thread_then_end_the_child():
    time.sleep(0.3)  # the main thread waits in recv by now
    signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
    time.sleep(1.2)
    servers.sendall(b"X" + struct.pack("!I", 0))

threading.Thread(target=signal_this_thread_then_end_the_child, daemon=True).start()
status = forkclient.wait_status(ours)
print(status, round(handled[0] - began, 2) if handled else None)
"""


def test_a_launcher_passes_on_a_signal_taken_outside_its_wait():
    import iris_ops_sim

    done = subprocess.run([sys.executable, "-c", _LAUNCHER_WAIT, str(Path(iris_ops_sim.__file__).parent)],
                          capture_output=True, text=True, timeout=30)
    status, handled_at = done.stdout.split()
    assert status == "0", done
    assert handled_at != "None" and float(handled_at) < 1.0, done  # not when the child ended (1.5 s)


#: The number of read(2) on the machines the suite runs on (x86_64, aarch64).
_READ_SYSCALL = {"x86_64": 0, "aarch64": 63}


def test_a_session_at_its_prompt_waits_where_a_signal_wakes_it(sim_host):
    """A session at its prompt waits in select on its input and its wakeup pipe
    (terminal.LineInput), not in a read that a signal arriving just before it would not
    interrupt: the kernel's record of the syscall it is blocked in says which."""
    import platform

    read = _READ_SYSCALL.get(platform.machine())
    if read is None:
        pytest.skip(f"read(2)'s number on {platform.machine()} is not known here")
    p = subprocess.Popen([str(sim_host.iris_command), "session", "IRIS", "-U", "%SYS"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        p.stdin.write(b'Write "job=",$JOB,"=",!\n')
        p.stdin.flush()
        while b"job=" not in (line := p.stdout.readline()) and line:
            pass
        job = int(line.split(b"job=")[1].split(b"=")[0])
        seen, deadline = [], time.monotonic() + 10
        while time.monotonic() < deadline and (len(seen) < 2 or seen[-1] != seen[-2] or seen[-1] == "running"):
            time.sleep(0.2)  # until it has sat in the same syscall for two looks: its wait at the prompt
            seen.append(Path(f"/proc/{job}/syscall").read_text().split()[0])
        assert seen[-1] != "running" and int(seen[-1]) != read, f"the session waits in syscall {seen}"
    finally:
        p.stdin.close()
        p.wait(30)
        p.stdout.close()
