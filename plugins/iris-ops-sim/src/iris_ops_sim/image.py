"""``iris-ops-sim`` images: the simulated IRIS (:mod:`iris_ops_sim.irissim`) in a real container.

Two layers, both built locally:

* a **base** image, ``iris-ops-base:<hash>``, with ``python3`` at ``/usr/local/bin/python3``, a
  POSIX shell and the usual utilities, and the user ``irisowner`` (uid/gid 51773, as in IRIS
  images).  With registry access it is ``python:3.X-slim`` (a local copy, or a pull that finishes
  within ``pull_timeout``) plus that user.  Without one, it is imported from the root filesystem
  :mod:`iris_ops_sim.rootfs` makes of this host's Python runtime.
* the **sim** image, ``iris-ops-sim:<hash>``, ``FROM`` the base and built with the classic
  builder without network: the simulator's sources in ``/usr/irissys/sim/irissim``, the
  launchers ``iris`` and ``iris-sim`` (:mod:`iris_ops_sim.launchers`), the default instance
  (``iris-sim init``), ``USER irisowner`` and ``CMD ["iris-sim", "daemon"]``.

The sim tag hashes everything the image is made of (every file under irissim, the launchers,
the Dockerfile, the base image id), so :func:`ensure_image` builds only when the simulator
changed; a file lock makes concurrent callers (pytest-xdist workers) build once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import posixpath
import re
import sys
import tarfile
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping

import structlog

from iris_ops_sim.irissim.forkserver import SOCKET as FORK_SOCKET
from iris_ops_sim.irissim.instance.state import REGISTRY
from iris_ops_sim.launchers import LAUNCHERS, launcher_text
from iris_ops_sim.rootfs import (
    IRISOWNER_ID,
    ImageBuildError,
    digest,
    host_runtime_entries,
    tar_member,
    write_host_runtime_rootfs,
)

if TYPE_CHECKING:
    import docker

__all__ = [
    "SIM_REPOSITORY", "BASE_REPOSITORY", "SIM_LABEL", "BASE_LABEL", "SOURCE_DIR", "IMAGE_PYTHON", "IMAGE_SIM_PATH",
    "IMAGE_INSTALL_DIR", "ImageBuildError", "ensure_base_image", "sim_dockerfile", "SimImagePlan", "plan_sim_image",
    "ensure_image",
]

log = structlog.get_logger(__name__)

SIM_REPOSITORY = "iris-ops-sim"
BASE_REPOSITORY = "iris-ops-base"
SIM_LABEL = "iris-ops.sim"
BASE_LABEL = "iris-ops.base"
SOURCE_DIR = Path(__file__).resolve().parent / "irissim"

#: Where things live in the container.
IMAGE_PYTHON = "/usr/local/bin/python3"
IMAGE_SIM_PATH = "/usr/irissys/sim"
IMAGE_INSTALL_DIR = "/usr/irissys"

_IMAGE_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8")


def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    import docker

    try:
        return client.images.get(ref).id
    except docker.errors.ImageNotFound:
        return None


def _host_runtime_base(client: docker.DockerClient) -> str:
    entries = host_runtime_entries()
    ref = f"{BASE_REPOSITORY}:{digest(entries)[:12]}"
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
            tar.addfile(tar_member(path, size=len(content), mode=mode, mtime=0), io.BytesIO(content))
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
# irisowner could not write it later.  The registry is the instance owner's: durable %SYS
# (ISC_DATA_DIRECTORY) moves the instance's data when the container starts.
RUN {IMAGE_PYTHON} -m compileall -q {IMAGE_SIM_PATH} && iris-sim init --install-dir {IMAGE_INSTALL_DIR} \
    && chown -R {IRISOWNER_ID}:{IRISOWNER_ID} {posixpath.dirname(REGISTRY)}
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
        context[f"bin/{name}"] = (launcher_text(entry, IMAGE_SIM_PATH, IMAGE_PYTHON, fork_server=FORK_SOCKET).encode(), 0o755)
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
