"""A container root filesystem made from *this host's* Python runtime, for an image base without
a registry: the interpreter, the shared libraries ``ldd`` names for it and for every stdlib
extension, the stdlib (no test suites, idlelib, tkinter, ensurepip, nor site-packages contents),
under ``/usr/local`` so that Python finds its stdlib by the usual prefix landmark, plus Debian's
static busybox for the shell utilities, and the user ``irisowner`` (uid/gid 51773, as in IRIS
images).  Host paths are not kept: the host's Python may live under ``/root/.pyenv``, which
irisowner could not traverse.  :mod:`iris_ops_sim.image` imports it as a base image.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from functools import lru_cache
from typing import Iterable

import structlog

from iris_ops.errors import InternalError

__all__ = ["IRISOWNER_ID", "BUSYBOX_APPLETS", "ImageBuildError", "host_runtime_entries", "digest",
           "tar_member", "write_host_runtime_rootfs"]

log = structlog.get_logger(__name__)

IRISOWNER_ID = 51773
#: Bump when the host-runtime rootfs changes in a way its file list does not show.
_ROOTFS_FORMAT = "1"
#: Applets the kit and its tests use; each becomes /bin/<name> -> busybox.
BUSYBOX_APPLETS = (
    "sh", "cp", "mkdir", "chown", "chmod", "rm", "cat", "ls", "mv", "ln", "sleep", "stat", "sha256sum",
    "test", "[", "true", "false", "id", "env", "head", "tail", "dd", "du", "df", "find", "kill", "ps", "tar",
    "grep", "echo", "printf", "touch", "wc", "sed", "xargs", "readlink", "basename", "dirname", "pwd",
    "date", "sync", "uname", "whoami", "mktemp", "rmdir", "sort", "cut", "tr", "tee", "which",
)
#: Not worth shipping: test suites and GUI/installer packages (stdlib top level) ...
_STDLIB_EXCLUDED_TOP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "site-packages"}
#: ... test directories anywhere below it ...
_STDLIB_EXCLUDED_ANYWHERE = {"test", "tests", "idle_test", "__phello__"}
#: ... and extension modules that exist only for CPython's own tests, or for Tk.
_DYNLOAD_EXCLUDED = re.compile(r"^(_test|_ctypes_test|_xxtestfuzz|xxlimited|_tkinter|xxsubtype)")


class ImageBuildError(InternalError):
    """An image of the testing kit could not be made; the message carries the build's tail."""

    default_fix = "Read the build output in the message; `docker images` lists what the engine has."



@dataclass(frozen=True)
class _Entry:
    """One member of the rootfs: a host file copied (``source``), a directory, or a symlink."""

    path: str  # absolute path in the image
    kind: str  # "file" | "dir" | "symlink"
    source: str = ""  # host file (file) or link target (symlink)
    mode: int = 0o755
    uid: int = 0


def _ldd(paths: Iterable[str]) -> tuple[set[str], str | None]:
    """(shared libraries the ELF ``paths`` load, as ldd names them; the program interpreter)."""
    libraries: set[str] = set()
    interpreter = None
    paths = list(paths)
    if not paths:
        return libraries, None
    result = subprocess.run(["ldd", *paths], capture_output=True, text=True)
    for line in result.stdout.splitlines():
        if not line.startswith("\t"):
            continue  # "path:" headers, "not a dynamic executable"
        line = line.strip()
        if "=>" in line:
            name, _, rest = line.partition("=>")
            target = rest.strip().split(" (")[0].strip()
            if target.startswith("/"):
                libraries.add(target)
            elif target == "not found":
                log.warning("ldd: library not found on this host; skipped", library=name.strip())
        elif line.startswith("/"):
            interpreter = line.split(" (")[0]
    return libraries, interpreter


def _loader_default_dirs(interpreter: str | None, libraries: set[str]) -> list[str]:
    """Directories the program interpreter searches without ld.so.cache (the image has none)."""
    if interpreter:
        result = subprocess.run([interpreter, "--help"], capture_output=True, text=True)
        dirs = [line.split()[0] for line in result.stdout.splitlines() if "(system search path)" in line]
        if dirs:
            return dirs
    # An older glibc prints no help: libc's own directory is searched by default by definition.
    libc = next((lib for lib in libraries if os.path.basename(lib).startswith("libc.so")), None)
    return [os.path.dirname(libc)] if libc else ["/lib", "/usr/lib"]


def _find_busybox() -> str:
    found = shutil.which("busybox") or ("/bin/busybox" if os.path.exists("/bin/busybox") else None)
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        log.info("installing busybox-static with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "busybox-static"]
        if subprocess.run(install, capture_output=True, env=env).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
            subprocess.run(install, capture_output=True, env=env)
        found = shutil.which("busybox") or ("/bin/busybox" if os.path.exists("/bin/busybox") else None)
    if found is None:
        raise ImageBuildError(
            "no busybox on this host for the image's shell utilities",
            fix="Install Debian's busybox-static (apt-get install busybox-static), or give the engine "
                "registry access so that a python:3-slim base can be used.",
        )
    return os.path.realpath(found)


@lru_cache(maxsize=1)
def host_runtime_entries() -> tuple[_Entry, ...]:
    """Everything the host-runtime rootfs holds, in tar order (parents first).

    Computed once a process (about 0.5 s: a walk of the stdlib and one ldd run).
    """
    executable = os.path.realpath(sys.executable)  # a venv's python links to the real one
    stdlib = Path(sysconfig.get_path("stdlib"))
    image_stdlib = f"/usr/local/lib/{stdlib.name}"
    pyc_suffix = f".{sys.implementation.cache_tag}.pyc"
    entries: dict[str, _Entry] = {}

    def add(entry: _Entry) -> None:
        parent = os.path.dirname(entry.path)
        while parent != "/" and parent not in entries:
            add(_Entry(parent, "dir"))
        entries[entry.path] = entry

    for path, mode in (("/tmp", 0o1777), ("/root", 0o700), ("/etc", 0o755), ("/proc", 0o555),
                       ("/sys", 0o555), ("/dev", 0o755), ("/var/tmp", 0o1777), ("/home", 0o755)):
        add(_Entry(path, "dir", mode=mode))
    add(_Entry("/home/irisowner", "dir", uid=IRISOWNER_ID))

    name = os.path.basename(executable)
    add(_Entry(f"/usr/local/bin/{name}", "file", executable))
    for alias in ("python3", "python"):
        if alias != name:
            add(_Entry(f"/usr/local/bin/{alias}", "symlink", name))

    elf_files = [executable]
    for root, dirs, files in os.walk(stdlib):
        relative = Path(root).relative_to(stdlib)
        dirs[:] = sorted(
            d for d in dirs
            if d not in _STDLIB_EXCLUDED_ANYWHERE
            and not (relative == Path(".") and (d in _STDLIB_EXCLUDED_TOP or d.startswith("config-")))
        )
        image_dir = image_stdlib if relative == Path(".") else f"{image_stdlib}/{relative.as_posix()}"
        add(_Entry(image_dir, "dir"))
        for file in sorted(files):
            if os.path.basename(root) == "__pycache__" and not file.endswith(pyc_suffix):
                continue  # optimised (-O) variants: never used here
            if relative == Path("lib-dynload") and _DYNLOAD_EXCLUDED.match(file):
                continue
            host = os.path.join(root, file)
            if not os.path.isfile(host):
                continue
            add(_Entry(f"{image_dir}/{file}", "file", host))
            if file.endswith(".so"):
                elf_files.append(host)
    add(_Entry(f"{image_stdlib}/site-packages", "dir"))

    busybox = _find_busybox()
    elf_files.append(busybox)
    libraries, interpreter = _ldd(elf_files)
    default_dirs = _loader_default_dirs(interpreter, libraries)
    if interpreter:
        add(_Entry(interpreter, "file", os.path.realpath(interpreter)))
    for library in sorted(libraries):
        if os.path.dirname(library) in default_dirs:
            add(_Entry(library, "file", os.path.realpath(library)))
        else:
            # libpython of a pyenv or /opt build: its RUNPATH names a host path the image lacks,
            # and the image has no ld.so.cache; the loader's own directory finds it.
            base = os.path.basename(library)
            add(_Entry(f"/usr/local/lib/{base}", "file", os.path.realpath(library)))
            add(_Entry(f"{default_dirs[0]}/{base}", "symlink", f"/usr/local/lib/{base}"))

    # glibc loads libgcc_s.so.1 by dlopen (no ldd names it) when a thread ends: CPython ends
    # each thread with pthread_exit, which without it aborts the process ("libgcc_s.so.1 must
    # be installed for pthread_exit to work", exit status 134).
    libc = next((lib for lib in libraries if os.path.basename(lib).startswith("libc.so")), None)
    gcc_s = os.path.join(os.path.dirname(libc), "libgcc_s.so.1") if libc else ""
    if not os.path.exists(gcc_s):
        raise ImageBuildError("libgcc_s.so.1 not found beside this host's libc",
                              fix="Install Debian's libgcc-s1, which every Python thread's end needs.")
    add(_Entry(f"{default_dirs[0]}/libgcc_s.so.1", "file", os.path.realpath(gcc_s)))

    add(_Entry("/bin/busybox", "file", busybox))
    available = set(subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout.split())
    missing = [a for a in BUSYBOX_APPLETS if a not in available and a != "["]
    if missing:
        raise ImageBuildError(f"busybox at {busybox} lacks applets {', '.join(missing)}",
                              fix="Install Debian's busybox-static, which has them all.")
    for applet in BUSYBOX_APPLETS:
        if applet in available:
            add(_Entry(f"/bin/{applet}", "symlink", "busybox"))
    add(_Entry("/usr/bin/env", "symlink", "/bin/busybox"))
    return tuple(entries.values())


def _etc_files() -> dict[str, bytes]:
    owner = IRISOWNER_ID
    return {
        "/etc/passwd": (f"root:x:0:0:root:/root:/bin/sh\n"
                        f"irisowner:x:{owner}:{owner}:irisowner:/home/irisowner:/bin/sh\n").encode(),
        "/etc/group": f"root:x:0:\nirisowner:x:{owner}:\n".encode(),
        "/etc/nsswitch.conf": b"passwd: files\ngroup: files\nhosts: files\n",
    }


def digest(entries: Iterable[_Entry]) -> str:
    """What the rootfs of ``entries`` is made of (files by size and mtime), as a sha256: it names the
    base image, so a changed host runtime makes a new one."""
    extra = _etc_files()
    sha = hashlib.sha256(f"rootfs {_ROOTFS_FORMAT}\n".encode())
    for entry in entries:
        stat = os.stat(entry.source) if entry.kind == "file" else None
        fingerprint = (stat.st_size, stat.st_mtime_ns) if stat else entry.source
        sha.update(f"{entry.path}\0{entry.kind}\0{entry.mode:o}\0{entry.uid}\0{fingerprint}\n".encode())
    for path, content in sorted(extra.items()):
        sha.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
    return sha.hexdigest()


def tar_member(path: str, **fields: object) -> tarfile.TarInfo:
    """A tar header for ``path`` in an image (relative, no owner names), with ``fields`` set."""
    info = tarfile.TarInfo(path.lstrip("/"))
    info.uname = info.gname = ""
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def write_host_runtime_rootfs(out: io.BufferedIOBase, entries: Iterable[_Entry] | None = None) -> None:
    """Write the host-runtime rootfs as an uncompressed tar to ``out``, one file at a time."""
    entries = host_runtime_entries() if entries is None else entries
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            if entry.kind == "dir":
                tar.addfile(tar_member(entry.path, type=tarfile.DIRTYPE, mode=entry.mode,
                                     uid=entry.uid, gid=entry.uid, mtime=int(time.time())))
            elif entry.kind == "symlink":
                tar.addfile(tar_member(entry.path, type=tarfile.SYMTYPE, linkname=entry.source, mode=0o777))
            else:
                stat = os.stat(entry.source)
                # Readable by all, executable where the host file is: irisowner runs python.
                mode = 0o755 if stat.st_mode & 0o111 else 0o644
                # mtime kept: .pyc files are validated against their source's mtime.
                info = tar_member(entry.path, size=stat.st_size, mode=mode, mtime=int(stat.st_mtime))
                with open(entry.source, "rb") as f:
                    tar.addfile(info, f)
        for path, content in _etc_files().items():
            tar.addfile(tar_member(path, size=len(content), mode=0o644, mtime=int(time.time())), io.BytesIO(content))
