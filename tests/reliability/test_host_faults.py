"""Issue 10 point 3, faults of this host and of the engine that the in-process matrix cannot
fake: this host's disk full for real (a file-size limit, ``ulimit -f``, on the iris-ops process:
its writes fail with EFBIG as on a full disk), the container stopped or killed mid-operation
(``docker stop``/``kill`` from the test at a named step), and the engine gone mid-transfer (a
unix-socket proxy in front of the shared engine, which the test closes).  Each case asserts what
the matrix asserts: exit code and message, instance thawed once back, nothing left on the host
or in the container, the listing as before, doctor clean."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from reliability.conftest import comparable, host_leftovers, leftovers_in


def _limited(limit: int):
    def preexec() -> None:  # SIGXFSZ keeps its default: iris-ops itself must ignore it
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def test_this_hosts_disk_full_ends_in_exit_2_naming_the_path(shared_sim, tmp_path):
    sc = shared_sim
    before = sc.instance.listing()
    out = tmp_path / "fx"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(sc.env, IRIS_OPS_LOG_FORMAT="json")
    done = subprocess.run([sys.executable, "-m", "iris_ops", "backup", "--ns", "USER", "--out", str(out)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          preexec_fn=_limited(256 * 1024))
    assert done.returncode == 2, done.stderr
    assert "this host's disk is full" in done.stderr and str(out) in done.stderr, done.stderr
    assert "File too large" in done.stderr and "--out on another filesystem" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists() and host_leftovers(tmp_path) == []
    after = sc.instance.listing()
    assert not after["frozen"] and leftovers_in(after) == [] and comparable(after) == comparable(before)
