"""The sha256 pass over a plain file, and starting it before anyone asks for it.

:func:`hash_plain` is the pass itself: one read of the file that yields its size, its sha256 and
its first bytes (for the DAT label check), a reader thread filling chunks while this one hashes.

:func:`prefetch_for` is why this module is light (the standard library only): the console
script calls it first thing, before invoke, pluggy's plugins and the rest of iris-ops are
imported.  When the command line is ``validate`` of a fixture directory, a forked child starts
the pass over each of its plain database files at once, on the other core, while the program
starts up (0.25-0.3 s on a two-core machine: a third of a 1 GiB pass).  ``validate`` later asks
:func:`take` for the result of a file it has checked; it gets it only when the file is the very
one that was hashed and has not changed since (device, inode, size, modification and change
times, before and after the pass, and again when it is taken).  Otherwise it hashes the file
itself, as without a prefetch.

The prefetch only ever reads: regular files named by the fixture's manifest, inside the fixture
directory, one at a time.  What it reports decides nothing by itself.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import queue
import signal
import stat
import threading
from typing import Union

__all__ = [
    "PathLike", "CHUNK", "AHEAD", "hash_plain", "hash_stable", "signature", "prefetch", "take", "forget",
    "fixture_files",
    "prefetch_for",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Bytes per read; chunks the reader may run ahead of the hashing.
CHUNK = 1 << 20
AHEAD = 4
#: A manifest larger than this is not read by the prefetch (validate reports what is wrong).
_MANIFEST_LIMIT = 16 << 20


def hash_plain(path: PathLike, head_bytes: int, chunk: int = CHUNK, abandon=None) -> tuple[int, str, bytes]:
    """``(size, sha256, first head_bytes)`` of a plain file, in one pass.

    A reader thread fills chunks while this one hashes (hashlib and file reads both release the
    GIL): with a spare core the pass takes about the hashing time alone instead of reading +
    hashing.  Measured against it on a 1 GiB file (page cache warm, loaded two-core machine): a
    ring of preallocated ``readinto`` buffers was no faster, and a mapped file hashed in place
    took 12 % less CPU but was not faster on the clock (its page faults stay on the hashing
    thread).  Memory: at most ``AHEAD + 2`` chunks.  ``abandon()``, asked every 64 chunks, may
    stop the pass (:class:`InterruptedError`)."""
    with open(path, "rb", buffering=0) as f:
        return _hash_open(f, head_bytes, chunk, abandon)


def hash_stable(path: PathLike, abandon=None) -> tuple[str, os.stat_result | None]:
    """The sha256 of a plain file, and its status when nothing about the file changed while it
    was read (the same :func:`signature` before and after, and as many bytes as its size), else
    None with the digest of what was read."""
    with open(path, "rb", buffering=0) as f:
        before = os.fstat(f.fileno())
        total, digest, _ = _hash_open(f, 0, abandon=abandon)
        after = os.fstat(f.fileno())
    stable = signature(before) == signature(after) and total == before.st_size
    return digest, before if stable else None


def _hash_open(f, head_bytes: int, chunk: int = CHUNK, abandon=None) -> tuple[int, str, bytes]:
    """:func:`hash_plain` of an open file; ``abandon()``, asked every 64 chunks, may stop it
    (:class:`InterruptedError`)."""
    h = hashlib.sha256()
    pieces: queue.Queue = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()

    def read() -> None:
        try:
            count = 0
            while not stop.is_set():
                count += 1
                if abandon is not None and count % 64 == 0 and abandon():
                    raise InterruptedError("abandoned")
                data = f.read(chunk)
                pieces.put(data)
                if not data:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the hashing thread
            pieces.put(exc)

    reader = threading.Thread(target=read, name="hash-pass-reader", daemon=True)
    reader.start()
    total = 0
    head = b""
    try:
        while True:
            data = pieces.get()
            if isinstance(data, BaseException):
                raise data
            if not data:
                break
            if len(head) < head_bytes:
                head += data[: head_bytes - len(head)]
            h.update(data)
            total += len(data)
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting on a full queue, then let it end
            try:
                pieces.get_nowait()
            except queue.Empty:
                reader.join(0.01)
    return total, h.hexdigest(), head


# --- the prefetch ----------------------------------------------------------------------------
# A thread would share the GIL with the importing main thread and get it back only every switch
# interval (5 ms) per read and per update: measured, a 1 GiB pass in a thread took 1.3 s while
# the program started, against 0.78 s alone, and validate got slower.  A forked child has its
# own interpreter: it hashes on the second core at full speed.  It is forked first thing, before
# any thread exists (the console script; never in a process with threads), and writes one line
# per file to a pipe.  It watches its parent and stops when the parent is gone.

def signature(st: os.stat_result) -> list:
    """What identifies a file's content without reading it: device, inode, size, modification
    and change times."""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _child(paths: list[str], out: int, parent: int) -> None:
    for path in paths:
        line: dict = {"path": path}
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb", buffering=0) as f:
                before = os.fstat(f.fileno())
                if stat.S_ISREG(before.st_mode):  # never a FIFO or a device
                    total, digest, _ = _hash_open(f, 0, abandon=lambda: os.getppid() != parent)
                    if signature(os.fstat(f.fileno())) == signature(before) and total == before.st_size:
                        line.update(size=total, sha256=digest, signature=signature(before))
        except InterruptedError:  # the parent is gone
            return
        except OSError:
            pass
        os.write(out, (json.dumps(line) + "\n").encode())


class _Prefetch:
    def __init__(self, pid: int, pipe: int) -> None:
        self.pid, self.pipe = pid, pipe
        self.results: dict[str, dict] = {}
        self.pending = b""
        self.open = True

    def wait_for(self, key: str) -> dict | None:
        while key not in self.results and self.open:
            data = os.read(self.pipe, 65536)
            if not data:
                self.close()
                break
            self.pending += data
            *lines, self.pending = self.pending.split(b"\n")
            for line in lines:
                try:
                    item = json.loads(line)
                    self.results[item["path"]] = item
                except (ValueError, KeyError, TypeError):
                    continue
        return self.results.pop(key, None)

    def close(self, kill: bool = False) -> None:
        if not self.open:
            return
        self.open = False
        os.close(self.pipe)
        if kill:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGTERM)
        with contextlib.suppress(OSError):
            os.waitpid(self.pid, 0)


_prefetch: _Prefetch | None = None


def prefetch(paths: list[str]) -> bool:
    """Fork a child that hashes ``paths`` in order; False when it cannot here (no fork, threads
    running, a prefetch already started)."""
    global _prefetch
    if _prefetch is not None or not hasattr(os, "fork") or threading.active_count() != 1 or not paths:
        return False
    keys = [os.path.realpath(p) for p in paths]
    read_end, write_end = os.pipe()
    parent = os.getpid()  # taken before the fork: the parent may be gone before the child looks
    pid = os.fork()
    if pid == 0:  # the child: hash, report, and leave without running anything of the parent's
        code = 0
        try:
            os.close(read_end)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            # Let go of the parent's terminal and pipes: a caller reading iris-ops' output to
            # its end must not wait for this child.
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            _child(keys, write_end, parent)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    _prefetch = _Prefetch(pid, read_end)
    atexit.register(forget)
    return True


def take(path: PathLike, head_bytes: int) -> tuple[int, str, bytes] | None:
    """The prefetched ``(size, sha256, head)`` of ``path`` (waiting for the child to report
    it), or None when there was none, it failed, or the file is not the one hashed or changed
    since.  The head is read here, from the same unchanged file."""
    if _prefetch is None:
        return None
    item = _prefetch.wait_for(os.path.realpath(path))
    if not item or "sha256" not in item:
        return None
    try:
        with open(path, "rb", buffering=0) as f:
            head = f.read(head_bytes)
            if signature(os.fstat(f.fileno())) != item["signature"]:
                return None
    except OSError:
        return None
    return item["size"], item["sha256"], head


def forget() -> None:
    """Stop the child (if it still runs) and drop what it did not report yet."""
    global _prefetch
    if _prefetch is not None:
        _prefetch.close(kill=True)
        _prefetch = None


def fixture_files(fixture_dir: str) -> list[str]:
    """The plain database files the manifest of ``fixture_dir`` names that lie inside it; []
    when anything is off (validate will say what)."""
    try:
        root = os.path.realpath(fixture_dir)
        with open(os.path.join(root, "manifest.json"), "rb") as f:
            text = f.read(_MANIFEST_LIMIT + 1)
        if len(text) > _MANIFEST_LIMIT:
            return []
        manifest = json.loads(text)
        files = []
        for db in manifest.get("databases") or []:
            name = db.get("file") if isinstance(db, dict) else None
            if not isinstance(name, str) or db.get("compressed") or name.startswith("/") or "\0" in name:
                continue
            path = os.path.realpath(os.path.join(root, name))
            if path.startswith(root + os.sep):
                files.append(path)
        return files
    except (OSError, ValueError, AttributeError, TypeError):  # whatever a hostile manifest holds
        return []


def prefetch_for(argv: list[str]) -> None:
    """When ``argv`` (the command line after the program name) validates a fixture given as a
    directory, start the passes over its plain database files.  Anything else, and anything
    that goes wrong here: nothing (validate then hashes as usual, and reports what is wrong)."""
    try:
        _prefetch_for(argv)
    except Exception:  # noqa: BLE001 - an optimisation must never be why a command fails
        return


def _prefetch_for(argv: list[str]) -> None:
    words = [word for word in argv if not word.startswith("-")]
    if not words or words[0] != "validate":  # the task's name first (an option's value before it: no prefetch)
        return
    rest = argv[argv.index("validate") + 1:]
    candidates = []
    for word in rest:
        if word.startswith("--src="):
            candidates.append(word[len("--src="):])
        elif not word.startswith("-"):
            candidates.append(word)
    dirs = {os.path.realpath(c) for c in candidates if os.path.isfile(os.path.join(c, "manifest.json"))}
    if len(dirs) == 1:
        files = fixture_files(dirs.pop())
        if files:
            prefetch(files)
