"""``iris-ops-sim`` images: the simulated IRIS (:mod:`iris_ops_sim.irissim`) in a real container.

Two layers, both built locally:

* a **base** image, ``iris-ops-base:<hash>``, with ``python3`` at ``/usr/local/bin/python3``, a
  POSIX shell and the usual utilities, and the user ``irisowner`` (uid/gid 51773, as in IRIS
  images).  With registry access it is ``python:3.X-slim`` (a local copy, or a pull that finishes
  within ``pull_timeout``) plus that user.  Without one, it is made from *this host's* Python
  runtime: the interpreter, the shared libraries ``ldd`` names for it and for every stdlib
  extension, the stdlib (no test suites, idlelib, tkinter, ensurepip, nor site-packages
  contents), under ``/usr/local`` so that Python finds its stdlib by the usual prefix landmark,
  plus Debian's static busybox for the shell utilities.  Host paths are not kept: the host's
  Python may live under ``/root/.pyenv``, which irisowner could not traverse.
* the **sim** image, ``iris-ops-sim:<hash>``, ``FROM`` the base and built with the classic
  builder without network: the simulator's sources in ``/usr/irissys/sim/irissim``, the
  launchers ``iris`` and ``iris-sim``, the default instance (``iris-sim init``), ``USER
  irisowner`` and ``CMD ["iris-sim", "daemon"]``.

The sim tag hashes everything the image is made of (every file under irissim, the launchers,
the Dockerfile, the base image id), so :func:`ensure_image` builds only when the simulator
changed; a file lock makes concurrent callers (pytest-xdist workers) build once.

:func:`write_launchers` writes the same launchers for a native install on a host, so the
container and the host run the simulator through one code path.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping

import structlog

from iris_ops.errors import InternalError

if TYPE_CHECKING:
    import docker

__all__ = [
    "SIM_REPOSITORY", "BASE_REPOSITORY", "SIM_LABEL", "BASE_LABEL", "IRISOWNER_ID", "SOURCE_DIR",
    "IMAGE_PYTHON", "IMAGE_SIM_PATH", "IMAGE_INSTALL_DIR", "LAUNCHERS", "BUSYBOX_APPLETS",
    "ImageBuildError", "launcher_text", "write_launchers", "write_host_runtime_rootfs",
    "ensure_base_image", "sim_dockerfile", "SimImagePlan", "plan_sim_image", "ensure_image",
]

log = structlog.get_logger(__name__)

SIM_REPOSITORY = "iris-ops-sim"
BASE_REPOSITORY = "iris-ops-base"
SIM_LABEL = "iris-ops.sim"
BASE_LABEL = "iris-ops.base"
IRISOWNER_ID = 51773
SOURCE_DIR = Path(__file__).resolve().parent / "irissim"

#: Where things live in the container.
IMAGE_PYTHON = "/usr/local/bin/python3"
IMAGE_SIM_PATH = "/usr/irissys/sim"
IMAGE_INSTALL_DIR = "/usr/irissys"

#: launcher name -> "module:function" (modules of the relocatable package ``irissim``).
LAUNCHERS = {"iris": "irissim.iris:main", "iris-sim": "irissim.ctl:main"}

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
_IMAGE_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8")


class ImageBuildError(InternalError):
    """An image of the testing kit could not be made; the message carries the build's tail."""

    default_fix = "Read the build output in the message; `docker images` lists what the engine has."


# --- launchers (shared by the image and host installs) -------------------------------------------

def launcher_text(entry: str, sys_path_dir: str, python: str, env: Mapping[str, str] | None = None,
                  pycache: str | None = None) -> str:
    """A small Python script that runs ``entry`` ("module:function") with ``sys_path_dir`` first on sys.path.

    ``pycache`` (a host install) keeps the simulator's bytecode there, even where the caller's
    environment says PYTHONDONTWRITEBYTECODE: every ``iris`` call is a process of its own, and
    compiling the simulator each time would triple what a session costs."""
    module, function = entry.split(":")
    lines = [
        f"#!{python}",
        "# Generated by iris_ops_sim.image: the simulated IRIS's command line.",
        "import os",
        "import sys",
        "",
    ]
    lines += [f"os.environ.setdefault({key!r}, {value!r})" for key, value in sorted((env or {}).items())]
    if pycache:
        lines += [f"sys.pycache_prefix = {pycache!r}", "sys.dont_write_bytecode = False"]
    lines += [
        f"sys.path.insert(0, {sys_path_dir!r})",
        f"from {module} import {function}",
        "",
        f"sys.exit({function}(sys.argv[1:]))",
        "",
    ]
    return "\n".join(lines)


def write_launchers(
    bin_dir: str | os.PathLike,
    sys_path_dir: str | os.PathLike,
    python: str = sys.executable,
    env: Mapping[str, str] | None = None,
    pycache: str | os.PathLike | None = None,
) -> list[Path]:
    """Write ``iris`` and ``iris-sim`` into ``bin_dir`` (mode 755) for ``sys_path_dir/irissim``.

    ``env`` holds defaults the launched program sees unless the caller's environment sets
    them (a host install names its registry with ``IRISSIM_REGISTRY``).
    """
    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, entry in LAUNCHERS.items():
        target = bin_dir / name
        partial = bin_dir / f".{name}.{os.getpid()}.tmp"
        partial.write_text(launcher_text(entry, str(sys_path_dir), python, env, str(pycache) if pycache else None))
        partial.chmod(0o755)
        os.replace(partial, target)  # whole or absent, for a concurrent reader
        written.append(target)
    return written


# --- the host-runtime rootfs ----------------------------------------------------------------------

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
def _host_runtime_entries() -> tuple[_Entry, ...]:
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


def _plan_digest(entries: Iterable[_Entry], extra: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256(f"rootfs {_ROOTFS_FORMAT}\n".encode())
    for entry in entries:
        stat = os.stat(entry.source) if entry.kind == "file" else None
        fingerprint = (stat.st_size, stat.st_mtime_ns) if stat else entry.source
        digest.update(f"{entry.path}\0{entry.kind}\0{entry.mode:o}\0{entry.uid}\0{fingerprint}\n".encode())
    for path, content in sorted(extra.items()):
        digest.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()


def _tarinfo(path: str, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path.lstrip("/"))
    info.uname = info.gname = ""
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def write_host_runtime_rootfs(out: io.BufferedIOBase, entries: Iterable[_Entry] | None = None) -> None:
    """Write the host-runtime rootfs as an uncompressed tar to ``out``, one file at a time."""
    entries = _host_runtime_entries() if entries is None else entries
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            if entry.kind == "dir":
                tar.addfile(_tarinfo(entry.path, type=tarfile.DIRTYPE, mode=entry.mode,
                                     uid=entry.uid, gid=entry.uid, mtime=int(time.time())))
            elif entry.kind == "symlink":
                tar.addfile(_tarinfo(entry.path, type=tarfile.SYMTYPE, linkname=entry.source, mode=0o777))
            else:
                stat = os.stat(entry.source)
                # Readable by all, executable where the host file is: irisowner runs python.
                mode = 0o755 if stat.st_mode & 0o111 else 0o644
                # mtime kept: .pyc files are validated against their source's mtime.
                info = _tarinfo(entry.path, size=stat.st_size, mode=mode, mtime=int(stat.st_mtime))
                with open(entry.source, "rb") as f:
                    tar.addfile(info, f)
        for path, content in _etc_files().items():
            tar.addfile(_tarinfo(path, size=len(content), mode=0o644, mtime=int(time.time())), io.BytesIO(content))


# --- images ---------------------------------------------------------------------------------------

def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    import docker

    try:
        return client.images.get(ref).id
    except docker.errors.ImageNotFound:
        return None


def _host_runtime_base(client: docker.DockerClient) -> str:
    entries = _host_runtime_entries()
    ref = f"{BASE_REPOSITORY}:{_plan_digest(entries, _etc_files())[:12]}"
    if _image_id(client, ref) is not None:
        return ref
    began = time.monotonic()
    # On disk, not in memory: the stdlib and its libraries are tens of MB, and requests streams
    # a file object to the engine in blocks.
    with tempfile.NamedTemporaryFile(prefix="iris-ops-rootfs-", suffix=".tar") as tmp:
        write_host_runtime_rootfs(tmp, entries)
        tmp.flush()
        size = tmp.tell()
        repository, tag = ref.split(":")
        changes = [f"ENV {pair}" for pair in _IMAGE_ENV]
        changes += [f"LABEL {BASE_LABEL}=host-runtime", f'CMD ["{IMAGE_PYTHON}"]']
        client.api.import_image(src=tmp.name, repository=repository, tag=tag, changes=changes)
    if _image_id(client, ref) is None:
        raise ImageBuildError(f"docker import did not produce {ref}")
    log.info("base image imported", image=ref, source="host-runtime", mib=round(size / 2**20, 1),
             seconds=round(time.monotonic() - began, 2))
    return ref


_SLIM_DOCKERFILE = """\
FROM {slim}
RUN grep -q '^irisowner:' /etc/passwd || {{ \\
      echo 'irisowner:x:{uid}:{uid}:irisowner:/home/irisowner:/bin/sh' >> /etc/passwd && \\
      echo 'irisowner:x:{uid}:' >> /etc/group; }} && \\
    mkdir -p /home/irisowner && chown {uid}:{uid} /home/irisowner && chmod 1777 /tmp
LABEL {label}=python-slim
"""


def _local_slim(client: docker.DockerClient) -> str | None:
    """A python:3.X-slim image the engine already has, this host's minor version first."""
    tags = [tag for image in client.images.list(name="python") for tag in image.tags]
    slim = sorted((t for t in tags if re.fullmatch(r"python:3\.\d+(\.\d+)?-slim(-\w+)?", t)), reverse=True)
    mine = [t for t in slim if t.startswith(f"python:{sys.version_info[0]}.{sys.version_info[1]}")]
    return (mine or slim or [None])[0]


def _pull_slim(client: docker.DockerClient, timeout: float) -> str | None:
    """Pull python:3.X-slim when it arrives within ``timeout`` s; an unfinished pull is abandoned.

    In a thread: the SDK reads a pull's progress stream with no timeout, and an engine that
    cannot reach its registry may say nothing for a long while.
    """
    if timeout <= 0:
        return None
    ref = f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim"
    outcome: dict[str, object] = {}

    def pull() -> None:
        try:
            client.images.pull(ref)
            outcome["ok"] = True
        except Exception as exc:  # no registry, no DNS, rate limit: all mean "no"
            outcome["error"] = exc

    worker = threading.Thread(target=pull, name="iris-ops-pull", daemon=True)
    worker.start()
    worker.join(timeout)
    if outcome.get("ok"):
        return ref
    log.info("no python-slim base", image=ref, reason=str(outcome.get("error", f"pull not done in {timeout} s")))
    return None


def _build(client: docker.DockerClient, context: io.BytesIO, ref: str) -> None:
    """Classic builder (the API's default), no network, no pull; raise with the output's tail."""
    output: list[str] = []
    context.seek(0)
    for event in client.api.build(fileobj=context, custom_context=True, tag=ref, rm=True, forcerm=True,
                                  network_mode="none", pull=False, decode=True):
        if "stream" in event:
            output.append(event["stream"])
        if "error" in event:
            tail = "".join(output)[-3000:]
            raise ImageBuildError(f"building {ref} failed: {event['error'].strip()}\n{tail}")


def _context_tar(files: Mapping[str, tuple[bytes, int]]) -> io.BytesIO:
    """A build context (the simulator's sources are a few hundred KB) from path -> (content, mode)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, (content, mode) in sorted(files.items()):
            tar.addfile(_tarinfo(path, size=len(content), mode=mode, mtime=0), io.BytesIO(content))
    return buffer


def _slim_base(client: docker.DockerClient, slim: str) -> str:
    slim_id = client.images.get(slim).id
    dockerfile = _SLIM_DOCKERFILE.format(slim=slim_id, uid=IRISOWNER_ID, label=BASE_LABEL)
    ref = f"{BASE_REPOSITORY}:{hashlib.sha256((slim_id + dockerfile).encode()).hexdigest()[:12]}"
    if _image_id(client, ref) is None:
        _build(client, _context_tar({"Dockerfile": (dockerfile.encode(), 0o644)}), ref)
    return ref


def ensure_base_image(client: docker.DockerClient, base: str = "auto", pull_timeout: float = 5.0) -> str:
    """The base image's reference, made if missing.

    ``base``: ``"host-runtime"`` (this host's Python, no registry needed), ``"python-slim"``
    (a local or pulled python:3.X-slim; an error without one) or ``"auto"`` (python-slim when
    there is one, else host-runtime).
    """
    if base not in ("auto", "host-runtime", "python-slim"):
        raise ValueError(f"unknown base {base!r}")
    if base != "host-runtime":
        slim = _local_slim(client) or _pull_slim(client, pull_timeout)
        if slim is not None:
            return _slim_base(client, slim)
        if base == "python-slim":
            raise ImageBuildError("no python:3-slim image on the engine and none could be pulled",
                                  fix="docker pull python:3-slim, or use the host-runtime base.")
    return _host_runtime_base(client)


def _sim_sources(source_dir: Path) -> dict[str, bytes]:
    """irissim's files by path relative to it (no bytecode: the image compiles its own)."""
    files = {}
    for path in sorted(source_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[path.relative_to(source_dir).as_posix()] = path.read_bytes()
    if not files:
        raise ImageBuildError(f"no simulator sources under {source_dir}")
    return files


def sim_dockerfile(base_ref: str) -> str:
    launcher_copies = "\n".join(
        [f"COPY bin/iris {IMAGE_INSTALL_DIR}/bin/iris", "COPY bin/iris /usr/bin/iris", "COPY bin/iris-sim /usr/bin/iris-sim"]
    )
    return f"""\
FROM {base_ref}
COPY irissim {IMAGE_SIM_PATH}/irissim
{launcher_copies}
# As root: the instance is created as the installer creates it; bytecode is compiled where
# irisowner could not write it later.
RUN {IMAGE_PYTHON} -m compileall -q {IMAGE_SIM_PATH} && iris-sim init --install-dir {IMAGE_INSTALL_DIR}
USER irisowner
WORKDIR /home/irisowner
LABEL {SIM_LABEL}=1
CMD ["iris-sim", "daemon"]
"""


@dataclass(frozen=True)
class SimImagePlan:
    """What ``iris-ops-sim:<tag>`` is made of; ``tag`` hashes all of it."""

    base_ref: str
    base_id: str
    context: Mapping[str, tuple[bytes, int]]

    @property
    def tag(self) -> str:
        digest = hashlib.sha256(f"base {self.base_id}\n".encode())
        for path, (content, mode) in sorted(self.context.items()):
            digest.update(f"{path}\0{mode:o}\0{len(content)}\0".encode() + content)
        return digest.hexdigest()[:12]

    @property
    def ref(self) -> str:
        return f"{SIM_REPOSITORY}:{self.tag}"


def plan_sim_image(base_ref: str, base_id: str, source_dir: Path = SOURCE_DIR) -> SimImagePlan:
    context: dict[str, tuple[bytes, int]] = {
        f"irissim/{path}": (content, 0o644) for path, content in _sim_sources(Path(source_dir)).items()
    }
    for name, entry in LAUNCHERS.items():
        context[f"bin/{name}"] = (launcher_text(entry, IMAGE_SIM_PATH, IMAGE_PYTHON).encode(), 0o755)
    context["Dockerfile"] = (sim_dockerfile(base_ref).encode(), 0o644)
    return SimImagePlan(base_ref, base_id, context)


@contextmanager
def _image_lock(client: docker.DockerClient, lock_dir: str | os.PathLike | None) -> Iterator[None]:
    """One builder per engine at a time, across processes.  The lock file is removed when the
    lock is released (no file left in the temp directory): whoever then holds a lock on the
    removed file finds the path gone or another file there, and locks again."""
    engine_id = str(client.info().get("ID", "unknown"))
    directory = Path(lock_dir) if lock_dir is not None else Path(tempfile.gettempdir())
    path = directory / f"iris-ops-image-{hashlib.sha256(engine_id.encode()).hexdigest()[:12]}.lock"
    while True:
        lock = open(path, "a+b")
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(lock.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        lock.close()
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def ensure_image(
    client: docker.DockerClient,
    *,
    base: str = "auto",
    source_dir: str | os.PathLike = SOURCE_DIR,
    lock_dir: str | os.PathLike | None = None,
    pull_timeout: float = 5.0,
) -> str:
    """``iris-ops-sim:<tag>`` on ``client``'s engine, built only when that tag is missing.

    ``lock_dir`` holds the lock file that serialises builders (default: the temp directory;
    the owner of a :class:`~iris_ops_sim.dockerd.PrivateEngine` passes its ``dir``).
    ``source_dir`` is the ``irissim`` package to ship (tests may point at a copy).
    """
    with _image_lock(client, lock_dir):
        began = time.monotonic()
        base_ref = ensure_base_image(client, base, pull_timeout)
        plan = plan_sim_image(base_ref, client.images.get(base_ref).id, Path(source_dir))
        if _image_id(client, plan.ref) is None:
            _build(client, _context_tar(plan.context), plan.ref)
            log.info("sim image built", image=plan.ref, base=base_ref, seconds=round(time.monotonic() - began, 2))
        return plan.ref
