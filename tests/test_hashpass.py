"""validate's hash pass, started by the console script before the program (iris_ops.hashpass).

The prefetch forks, so it is refused in a process with threads (an xdist worker is one): these
tests run it in fresh interpreters.  What they check: it is used only for the very file it
hashed, unchanged; anything else falls back to validate's own pass; a corrupted file still fails
validation; and a child whose parent is gone stops.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from iris_ops import hashpass

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


def _fixture(tmp_path: Path, data: bytes, *, compressed: bool = False) -> Path:
    fx = tmp_path / "fx"
    (fx / "databases" / "A").mkdir(parents=True)
    (fx / "databases" / "A" / "IRIS.DAT").write_bytes(data)
    db = {"file": "databases/A/IRIS.DAT", "compressed": {"sha256": "x"} if compressed else None}
    (fx / "manifest.json").write_text(json.dumps({"databases": [db, {"file": "../outside"}, {"file": "/etc/passwd"}]}))
    (tmp_path / "outside").write_bytes(b"not in the fixture")
    return fx


def test_the_pass_gives_size_digest_and_head(tmp_path):
    data = os.urandom(3 * hashpass.CHUNK + 17)
    (tmp_path / "f").write_bytes(data)
    assert hashpass.hash_plain(tmp_path / "f", 100) == (len(data), hashlib.sha256(data).hexdigest(), data[:100])


def test_only_plain_files_inside_the_fixture_are_prefetched(tmp_path):
    fx = _fixture(tmp_path, b"x")
    assert hashpass.fixture_files(str(fx)) == [str(fx / "databases/A/IRIS.DAT")]
    assert hashpass.fixture_files(str(_fixture(tmp_path / "z", b"x", compressed=True))) == []
    assert hashpass.fixture_files(str(tmp_path / "nowhere")) == []
    for hostile in ("{not json", '{"databases": 7}', "[1, 2]", '{"databases": [7, {"file": 5}, {"file": null}]}',
                    '{"databases": [{"file": "databases/A/IRIS.DAT", "compressed": 1}]}'):
        (fx / "manifest.json").write_text(hostile)
        assert hashpass.fixture_files(str(fx)) == [], hostile
        hashpass.prefetch_for(["validate", str(fx)])  # never raises


def test_a_process_with_threads_never_forks(tmp_path):
    import threading

    (tmp_path / "f").write_bytes(b"x")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not hashpass.prefetch([str(tmp_path / "f")])
    finally:
        stop.set()
        other.join()
    assert hashpass.take(tmp_path / "f", 10) is None  # nothing prefetched in this process


_TAKE = """
    import os, sys, time
    from iris_ops import hashpass
    path = sys.argv[1]
    hashpass.prefetch_for(["validate", "--json", "--src=" + sys.argv[2]])
    if sys.argv[3] == "change":  # the same size, other bytes: the file is not the one hashed
        stat = "/proc/%d/stat" % hashpass._prefetch.pid
        while open(stat).read().rsplit(")", 1)[1].split()[0] != "Z":  # its pass is over, its line in the pipe
            time.sleep(0.01)
        time.sleep(0.05)  # a later clock tick for the file's times
        with open(path, "r+b") as f:
            f.write(b"Z")
    got = hashpass.take(path, 4)
    print(repr(got))
"""


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("when", ["unchanged", "change"])
def test_take_gives_the_prefetch_only_for_the_unchanged_file(tmp_path, when):
    data = os.urandom(2 * hashpass.CHUNK)
    fx = _fixture(tmp_path, data)
    done = _python(_TAKE, str(fx / "databases/A/IRIS.DAT"), str(fx), when)
    assert done.returncode == 0, done.stderr
    if when == "unchanged":
        assert done.stdout.strip() == repr((len(data), hashlib.sha256(data).hexdigest(), data[:4]))
    else:
        assert done.stdout.strip() == "None"  # validate hashes it itself


def test_the_command_line_forms(tmp_path):
    fx = _fixture(tmp_path, b"abc")
    code = """
        import sys
        from iris_ops import hashpass
        hashpass.prefetch_for(sys.argv[1:])
        print(hashpass._prefetch is not None)
    """
    assert _python(code, "validate", str(fx)).stdout.strip() == "True"
    assert _python(code, "validate", "--src", str(fx), "--json").stdout.strip() == "True"
    assert _python(code, "backup", "--out", str(fx)).stdout.strip() == "False"
    assert _python(code, "validate", "USER").stdout.strip() == "False"  # a name in fixtures_dir: not guessed
    assert _python(code, "run", "--ns", "USER", "validate", str(fx)).stdout.strip() == "False"  # not the task


def test_a_corrupted_file_still_fails_validation(tmp_path):
    """Through the console script (which prefetches): the real digest is what is compared."""
    from test_fixture import CODE, DATA, dat_bytes, manifest_for

    from iris_ops import fixture

    files = {DATA: dat_bytes(filler=b"rows"), CODE: dat_bytes(directory="/usr/irissys/mgr/app_code/",
                                                             resource="%DB_APP_CODE", filler=b"classes")}
    fx = tmp_path / "fx"
    with fixture.FixtureWriter(fx) as w:
        for rel, content in files.items():
            w.path_for(rel).write_bytes(content)
        w.write_manifest(manifest_for(files))
    manifest = json.loads((fx / "manifest.json").read_text())
    dat = fx / manifest["databases"][0]["file"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(PYTHONPATH=str(ROOT), IRIS_OPS_LOG_FORMAT="json")
    ok = subprocess.run([sys.executable, "-m", "iris_ops", "validate", "--src", str(fx)], capture_output=True,
                        text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    with open(dat, "r+b") as f:
        f.seek(os.path.getsize(dat) - 1)
        f.write(b"\x01")
    bad = subprocess.run([sys.executable, "-m", "iris_ops", "validate", "--src", str(fx)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert bad.returncode == 4 and "sha256" in (bad.stdout + bad.stderr), bad.stderr


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_the_child_stops_when_its_parent_is_gone(tmp_path):
    big = tmp_path / "sparse.DAT"
    with open(big, "wb") as f:
        f.truncate(64 << 30)  # sparse: its pass would take half a minute
    code = """
        import os, sys
        from iris_ops import hashpass
        hashpass.prefetch([sys.argv[1]])
        print(hashpass._prefetch.pid, flush=True)
        os._exit(0)  # gone without a word to the child
    """
    done = _python(code, str(big))
    child = int(done.stdout.strip())
    deadline = time.monotonic() + 8
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(child)
