"""The console script's exit (iris_ops.console.script): the status, the output and the exit
handlers are what Python's own exit gives, without the interpreter's teardown."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from iris_ops.console import exit_status as _status


def run_script(body: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``body`` runs first, then the console script with ``argv``, in a new interpreter."""
    code = textwrap.dedent(body) + textwrap.dedent(f"""
        import sys
        sys.argv = ["iris-ops", *{list(argv)!r}]
        from iris_ops.console import script
        script()
        print("script() returned", file=sys.stderr)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (2, 2), (6, 6), (256 + 3, 3), (True, 1)])
def test_status_is_what_system_exit_gives(code, status):
    assert _status(code) == status


def test_a_message_as_exit_code_is_printed_and_is_1(capsys):
    assert _status("it broke") == 1
    assert capsys.readouterr().err == "it broke\n"


def test_the_listing_is_complete_and_exit_handlers_run():
    done = run_script("""
        import atexit, sys
        atexit.register(lambda: print("exit handler ran", file=sys.stderr))
        print("buffered, not yet flushed", end="")
    """, "--list")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("buffered, not yet flushed")
    assert "backup" in done.stdout and "delete-ns" in done.stdout
    assert "exit handler ran" in done.stderr
    assert "script() returned" not in done.stderr  # it left the process


def test_the_exit_code_of_a_failing_task_is_kept():
    done = run_script("", "backup", "--ns", "bad name")
    assert done.returncode == 2
    assert "invalid namespace name" in done.stderr


def test_a_running_thread_gets_python_s_own_exit(tmp_path):
    # Python's exit waits for a non-daemon thread; os._exit would kill it.  A thread that still
    # runs makes script() take Python's exit, so the thread finishes its work.
    marker = tmp_path / "written"
    done = run_script(f"""
        import threading, time
        def late():
            time.sleep(0.5)
            open({str(marker)!r}, "w").write("done")
        threading.Thread(target=late).start()
    """, "--list")
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "done"


def test_python_m_iris_ops_is_the_console_script():
    done = subprocess.run([sys.executable, "-m", "iris_ops", "backup", "--ns", "bad name"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2


def test_the_bench_reads_the_peak_memory_of_the_console_script(tmp_path):
    # bench/peak.py runs the script in its own process and writes VmHWM from an atexit handler:
    # the script's os._exit must not skip it (it did: every peak read 0).
    root = Path(__file__).resolve().parents[1]
    script = Path(sys.executable).parent / "iris-ops"
    if not script.exists():
        pytest.skip("no iris-ops console script beside this interpreter")
    out = tmp_path / "peak"
    done = subprocess.run([sys.executable, str(root / "bench" / "peak.py"), str(out), str(script), "--list"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "backup" in done.stdout
    assert 10_000 < int(out.read_text()) < 200_000  # KiB: a Python process with invoke loaded
