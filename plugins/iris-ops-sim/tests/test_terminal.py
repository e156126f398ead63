"""The simulated `iris` terminal: banner, prompts, error display, exit statuses."""

from __future__ import annotations

import io

from objectscript_fakes import FakeInstance, body, run, session

from iris_ops_sim.irissim.objectscript import iris_main


def test_banner_is_written_before_any_input_is_read():
    chunks: list[bytes] = []

    class Stdin:
        def readline(self):
            # the banner must already be out when the first line is requested
            assert b"Node: c0ffee123456, Instance: IRIS\n" in b"".join(chunks)
            return b"Halt\n"

    assert iris_main(FakeInstance(), ["session", "IRIS"], Stdin(), chunks.append) == 0
    assert b"".join(chunks) == b"\nNode: c0ffee123456, Instance: IRIS\n\nUSER>\n"


def test_prompt_per_line_no_echo_and_output_layout():
    out, rc = session('Set x=1\nWrite "hi"\nWrite "yo",!\nHalt')
    assert rc == 0
    assert body(out) == "\nUSER>\n\nUSER>\nhi\nUSER>\nyo\n\nUSER>\n"
    assert "Set x" not in out


def test_error_on_line_2_lets_line_3_run_with_status_0():
    out, rc = session('Write "one",!\nWrite x\nWrite "three",!\nHalt')
    assert rc == 0
    assert "\n\nWRITE x\n^\n<UNDEFINED> *x\nUSER>\nthree\n" in out


def test_error_display_caret_under_failing_command_and_rest_of_line_skipped():
    out, rc = session('Write "hello",! Set x="world" Set y=zzz Write x,!\nHalt')
    assert rc == 0
    expected = (
        'hello\n\nWRITE "hello",! SET x="world" SET y=zzz WRITE x,!\n'
        + " " * 30 + "^\n<UNDEFINED> *zzz\nUSER>"
    )
    assert expected in out
    assert "world" not in out.split("<UNDEFINED> *zzz")[1]


def test_syntax_error_anywhere_means_nothing_on_the_line_runs():
    out, rc = session('Write "ran" Set x=1+ \nWrite $Get(x,"unset")\nHalt')
    assert rc == 0
    assert "ran" not in out.replace('Write "ran"', "")
    assert "<SYNTAX>" in out
    assert "\nunset\n" in out


def test_macros_do_not_exist_at_the_terminal():
    out, rc = session('Set sc=1\nWrite $$$ISERR(sc)\nWrite "next"\nHalt')
    assert rc == 0
    assert "\nWrite $$$ISERR(sc)\n^\n<SYNTAX>\nUSER>" in out
    assert "next" in out


def test_terminate_sets_the_exit_status():
    out, rc = session('Write "a"\nDo ##class(%SYSTEM.Process).Terminate($JOB,3)\nWrite "never"')
    assert rc == 3
    assert "never" not in out.replace('Write "never"', "")


def test_terminate_other_pid_returns_minus_3():
    out, rc = session("Write ##class(%SYSTEM.Process).Terminate(1,5)\nHalt")
    assert rc == 0 and "\n-3\n" in out


def test_quit_at_prompt_does_not_end_the_session_halt_does():
    out, rc = session('Quit\nWrite "still here"\nHalt\nWrite "gone"')
    assert rc == 0
    assert "still here" in out and "gone" not in out


def test_end_of_input_without_halt_is_nonzero():
    out, rc = session('Write "x"')
    assert rc != 0
    assert out.endswith("USER><ENDOFFILE>\n") or "<ENDOFFILE>" in out


def test_crlf_input_accepted():
    out, rc = run(b'Write "a"\r\nHalt\r\n')
    assert rc == 0 and "\na\nUSER>" in out


def test_namespace_option_and_switching():
    out, rc = session('Write $NAMESPACE\nSet $namespace="user"\nWrite $Namespace\nHalt', ns="%sys")
    assert rc == 0
    assert "%SYS>\n%SYS\n%SYS>" in out
    assert "USER>\nUSER\nUSER>" in out


def test_unknown_namespace_switch_is_namespace_error():
    out, rc = session('Set $NAMESPACE="NOPE"\nWrite $namespace\nHalt')
    assert rc == 0
    assert "<NAMESPACE> *NOPE" in out
    assert "\nUSER\n" in out


def test_unknown_namespace_option_exits_nonzero():
    out, rc = run("Halt\n", ["session", "IRIS", "-U", "NOPE"])
    assert rc != 0 and "<NAMESPACE>" in out and "NOPE>" not in out


def test_username_prompt_without_os_authentication():
    out, rc = run("SuperUser\nSYS\nHalt\n", instance=FakeInstance(os_authentication=False))
    assert rc != 0
    assert "Username: " in out and "Password: " in out and "Access Denied" in out
    assert "USER>" not in out


def test_single_call_argument_form():
    out, rc = run("", ["session", "IRIS", "-U", "%SYS", '##class(%SYSTEM.Process).Terminate($JOB,5)'])
    assert rc == 5 and "Node:" not in out and ">" not in out
    out, rc = run("", ["session", "IRIS", "-U", "%SYS", '##class(%SYSTEM.Status).OK()'])
    assert rc == 0 and out == ""
    out, rc = run("", ["session", "IRIS", "-U", "USER", '##class(Test.OSFake.Namespaces).Get("USER",.p)'])
    assert rc != 0 and "<CLASS DOES NOT EXIST> *Test.OSFake.Namespaces" in out


def test_error_in_class_code_leaves_frames_and_quit_clears_them():
    out, rc = session("Do ##class(Test.OSFake.Namespaces).Fail()\nSet x=1\nQuit\nHalt", ns="%SYS")
    assert rc == 0
    assert "<UNDEFINED>zFail+1^Test.OSFake.Namespaces.1 *zz\n%SYS 2d0>" in out
    assert "\n%SYS 2d0>\n\n%SYS>\n" in out


def test_qlist_and_unknown_subcommand():
    out, rc = run("", ["qlist"])
    assert rc == 0 and out.startswith("IRIS^/usr/irissys^") and out.endswith("\n") and out.count("\n") == 1
    out, rc = run("", ["frobnicate"])
    assert rc != 0 and "Usage" in out


# A session waiting for input ends on SIGTERM however early the signal came: Python runs a
# handler only between bytecodes, so a signal taken while the reading thread is not in its read
# (here, by another thread of the process: the state a signal arriving just before the read
# leaves) is seen only through the wakeup pipe the session waits on beside its input.
_WAITER = r"""
import os, signal, sys, threading, time
sys.path.insert(0, sys.argv[1])
from irissim.objectscript.terminal import LineInput

never, _keep_open = os.pipe()  # input that never comes
wake_r, wake_w = os.pipe()
os.set_blocking(wake_r, False)
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)

class Ended(Exception):
    pass

def ended(signum, frame):
    raise Ended

signal.signal(signal.SIGTERM, ended)
line_input = LineInput(os.fdopen(never, "rb", buffering=0), wake=wake_r if sys.argv[2] == "wake" else None)

def signal_this_thread():
    time.sleep(0.3)  # the main thread is in its wait by now
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

threading.Thread(target=signal_this_thread, daemon=True).start()
try:
    line_input.readline()
except Ended:
    print("ended")
"""


def _wait_for_input(how: str) -> "subprocess.CompletedProcess | None":
    import subprocess
    import sys
    from pathlib import Path

    import iris_ops_sim

    try:
        return subprocess.run([sys.executable, "-c", _WAITER, str(Path(iris_ops_sim.__file__).parent), how],
                              capture_output=True, text=True, timeout=2)
    except subprocess.TimeoutExpired:
        return None


def test_a_signal_taken_outside_the_read_still_ends_the_wait_for_input():
    done = _wait_for_input("wake")
    assert done is not None and done.stdout == "ended\n", done
    # the control: without the wakeup pipe the same wait outlives the signal
    assert _wait_for_input("no wake") is None


_HANGER = r"""
import io, signal, sys, threading, time
sys.path.insert(0, sys.argv[1])
from objectscript_fakes import session

class Ended(Exception):
    pass

def ended(signum, frame):
    raise Ended

signal.signal(signal.SIGTERM, ended)

def signal_this_thread():
    time.sleep(0.3)  # the session hangs by now
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

threading.Thread(target=signal_this_thread, daemon=True).start()
began = time.monotonic()
try:
    session("Hang 3\nHalt")
except Ended:
    print(f"ended after {time.monotonic() - began:.2f} s")
"""


def test_a_signal_taken_outside_a_hang_still_ends_it_at_once():
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([sys.executable, "-c", _HANGER, str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=30)
    assert done.stdout.startswith("ended after "), done
    assert float(done.stdout.split()[2]) < 1.5, done.stdout  # not when Hang 3 ran out
