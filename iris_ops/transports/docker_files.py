"""Moving single files in and out of a container with bounded memory, hashing as they pass.

Both directions go through Docker's archive endpoints as tar streams that are never held whole:
:func:`read_file` parses ``get_archive``'s stream as it arrives (:mod:`iris_ops.tarstream`) and
writes + hashes each slice; :func:`write_file` builds the tar on the fly from the source file
object and hands ``put_archive`` a generator (sent with chunked encoding).

:func:`write_file` leaves nothing behind when it fails: the parent directory is created, the file
extracted under its final name, then owner and mode are set, all as root through ``exec``
(``mkdir -p`` before the upload, then ``chown`` and ``chmod`` in one ``sh -c``); after any failure
from the upload on, ``rm -f`` removes the destination.  A small file (a journal, a marker, a cache
record: at most :data:`SMALL_FILE` bytes) takes one ``exec`` instead, its bytes on stdin, written
to a temporary name, checked for size and renamed into place (``mv``).  Those utilities exist in
IRIS images and in the simulated image.
"""

from __future__ import annotations

import os
import posixpath
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Iterator

from iris_ops import errors, tarstream
from iris_ops.transports import file_scripts
from iris_ops.transports.docker_errors import translate_errors
from iris_ops.transports.docker_exec import exec_command, supports_stdin_half_close
from iris_ops.transports.exec_stream import remaining
from iris_ops.transports.hashsink import HashingReader, HashSink

if TYPE_CHECKING:  # pragma: no cover
    import docker

__all__ = ["FileDigest", "read_file", "write_file", "CHUNK_SIZE"]

#: Transfer chunk: large enough that per-chunk Python overhead vanishes next to hashing, small
#: enough to keep the client's memory flat.
CHUNK_SIZE = 1 << 20
#: Files up to this size are written in one exec (:func:`_write_small`) where the transport can
#: half-close an exec's stdin; larger ones, or on TLS and ssh engines, through ``put_archive``.
SMALL_FILE = 64 * 1024
#: Go's os.FileMode bits in the X-Docker-Container-Path-Stat header
_MODE_DIR = 1 << 31
_MODE_SYMLINK = 1 << 27
#: Time a failed write_file may take to remove its partial file, even past the deadline.
_CLEANUP_GRACE = 10.0


@dataclass(frozen=True)
class FileDigest:
    """What passed through: byte count and sha256 (hex) of the file's contents."""

    bytes: int
    sha256: str


def _check_path(path: str) -> str:
    if not path.startswith("/") or path.endswith("/") or "\0" in path or posixpath.normpath(path) != path:
        raise errors.UsageError(
            f"container path {path!r} must be absolute and normalised, and name a file",
            fix="Give the full path of the file inside the container, e.g. /usr/irissys/mgr/user/IRIS.DAT.",
        )
    return path


def _path_missing(container: str, path: str) -> errors.InstanceError:
    return errors.InstanceError(
        f"'{path}' does not exist in container '{container}'",
        fix=f"Check the path (`docker exec {container} ls -l {posixpath.dirname(path) or '/'}`); "
        "database directories are the ones IRIS reports for the namespace.",
    )


def _open_archive(api, container: str, path: str, deadline: float, what: str):
    """GET the archive with a read timeout bounded by the deadline (the SDK's get_archive
    disables socket timeouts once streaming starts: a stalled engine would hang us forever).

    ``Accept-Encoding: identity``: asked for gzip (as requests does by default), a real engine
    compresses the archive on the fly, which costs it CPU and us throughput for database files
    that are mostly incompressible or that we hash anyway."""
    import docker

    url = api._url("/containers/{0}/archive", container)
    timeout = min(remaining(deadline, what), float(api.timeout or 60))
    with translate_errors(api, container, what):
        response = api._get(url, params={"path": path}, stream=True, timeout=timeout,
                            headers={"Accept-Encoding": "identity"})
        try:
            api._raise_for_status(response)
        except docker.errors.NotFound as exc:
            response.close()
            if _is_container_gone(api, container, exc):
                raise
            raise _path_missing(container, path) from exc
        except BaseException:
            response.close()
            raise
    return response


def _is_container_gone(api, container: str, exc) -> bool:
    import docker

    text = f"{getattr(exc, 'explanation', '') or ''}".lower()
    if "no such container" in text:
        return True
    if "could not find the file" in text or "no such file" in text:
        return False
    try:
        api.inspect_container(container)
    except docker.errors.NotFound:
        return True
    except Exception:  # noqa: BLE001 - the original 404 is what we report
        return False
    return False


def _stat(response) -> dict:
    import docker

    encoded = response.headers.get("X-Docker-Container-Path-Stat")
    if not encoded:
        return {}
    try:
        return docker.utils.decode_json_header(encoded) or {}
    except Exception:  # noqa: BLE001 - the stat is advisory; the tar stream decides
        return {}


def read_file(
    api: "docker.APIClient", container: str, path: str, dest: BinaryIO, *, deadline: float
) -> FileDigest:
    """Copy the regular file ``path`` out of ``container`` into ``dest``, hashing in the same pass.

    Memory stays at a few transfer chunks whatever the file size (hashing and writing run in a
    second thread, :mod:`iris_ops.transports.hashsink`).  Refuses directories,
    symlinks and archives holding more than one member (:class:`errors.UsageError`); a missing
    path is :class:`errors.InstanceError`.  On any error ``dest`` may hold a partial copy: write
    to a temporary file and rename on success.
    """
    import docker

    _check_path(path)
    what = f"reading '{path}' from container '{container}'"
    response = _open_archive(api, container, path, deadline, what)
    try:
        stat = _stat(response)
        mode = int(stat.get("mode") or 0)
        if mode & _MODE_DIR:
            raise errors.UsageError(
                f"'{path}' in container '{container}' is a directory, not a file",
                fix="Give the path of a single file.",
            )
        if mode & _MODE_SYMLINK:
            target = stat.get("linkTarget") or "?"
            raise errors.UsageError(
                f"'{path}' in container '{container}' is a symlink (to {target}), not a file",
                fix="Give the path the link points to.",
            )

        # An engine that compresses anyway (a proxy in between) is decoded rather than misread.
        encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
        chunks = _deadline_chunks(response.raw.stream(CHUNK_SIZE, decode_content=encoded), deadline, what)
        members = tarstream.iter_members(chunks)
        try:
            member = next(members, None)
            if member is None:
                raise errors.UsageError(f"'{path}' in container '{container}': the engine sent an empty archive")
            if not member.isfile():
                kind = "directory" if member.isdir() else "link or special file"
                raise errors.UsageError(
                    f"'{path}' in container '{container}' is a {kind}, not a regular file",
                    fix="Give the path of a single regular file.",
                )
            if member.name != posixpath.basename(path):  # an engine (or proxy) we must not trust
                raise errors.UsageError(
                    f"{what}: the engine's archive holds {member.name!r}, not {posixpath.basename(path)!r}",
                    fix="Nothing was written outside the fixture; check the Docker engine (or proxy) in between.",
                )
            # The pieces are slices of chunks the stream never reuses: another thread may hold them.
            with HashSink(dest) as sink:
                for piece in member.iter_data():
                    sink.put(piece)
            written = sink.count
            extra = next(members, None)
            if extra is not None:
                raise errors.UsageError(
                    f"'{path}' in container '{container}' is not a single file "
                    f"(the archive also holds {extra.name!r})",
                    fix="Give the path of a single regular file.",
                )
        except tarstream.TruncatedTarError as exc:
            raise errors.UnreachableError(
                f"{what}: the transfer ended early ({exc})",
                fix="The Docker engine closed the connection mid-transfer; check `docker ps` and retry.",
            ) from exc
        except tarstream.TarError as exc:
            raise errors.ValidationError(f"{what}: the engine sent an archive we cannot read: {exc}",
                                         fix="Nothing was written outside the fixture; retry, and check the "
                                         "Docker engine (or proxy) in between.") from exc
        except docker.errors.DockerException as exc:
            raise errors.UnreachableError(f"{what}: {exc}", fix="Check `docker ps` and retry.") from exc
        if member.size != written:  # pragma: no cover - iter_data guarantees it
            raise errors.InternalError(f"{what}: got {written} of {member.size} bytes")
        return FileDigest(bytes=written, sha256=sink.hexdigest())
    finally:
        response.close()


def _deadline_chunks(chunks: Iterator[bytes], deadline: float, what: str) -> Iterator[bytes]:
    import requests
    import urllib3

    try:
        for chunk in chunks:
            if time.monotonic() > deadline:
                raise errors.DeadlineExceeded(f"{what} did not finish before its deadline")
            yield chunk
    except (urllib3.exceptions.ReadTimeoutError, requests.exceptions.Timeout, TimeoutError) as exc:
        raise errors.DeadlineExceeded(f"{what}: the engine stopped sending before the deadline") from exc
    except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError) as exc:
        raise errors.UnreachableError(
            f"{what}: the transfer broke off ({exc})",
            fix="The Docker engine closed the connection mid-transfer; check `docker ps` and retry.",
        ) from exc


def _guarded(body: Iterator[bytes], failure: list[BaseException]) -> Iterator[bytes]:
    """Remember why the body stopped: the HTTP stack may wrap or swallow the exception."""
    try:
        yield from body
    except BaseException as exc:
        failure.append(exc)
        raise


def _failed(result, what: str, argv: list[str] | None = None) -> errors.InstanceError:
    """A file command that exited non-zero, as the user sees it (``argv`` shown when given)."""
    message = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
    command = f"`{' '.join(argv)}`" if argv is not None else "the write"
    details = {"exit_code": result.exit_code, "output": message, **({"argv": argv} if argv is not None else {})}
    return errors.InstanceError(f"{what}: {command} failed with exit status {result.exit_code}: {message}",
                                fix="Check that the path, owner and group exist in the container.", details=details)


def _root(api, container: str, argv: list[str], deadline: float, what: str) -> bytes:
    result = exec_command(api, container, argv, user="root", deadline=deadline)
    if result.exit_code != 0:
        raise _failed(result, what, argv)
    return result.stdout


def write_file(
    api: "docker.APIClient",
    container: str,
    src: BinaryIO | str | os.PathLike,
    dest_path: str,
    *,
    size: int,
    owner: str = "irisowner",
    group: str = "irisowner",
    file_mode: int = 0o660,
    dir_mode: int | None = 0o770,
    deadline: float,
) -> FileDigest:
    """Copy ``size`` bytes from ``src`` (a binary file object, or a host path) to ``dest_path``
    in ``container``, hashing what is sent in the same pass.

    The parent directory is created (``mkdir -p``) if missing.  The file ends up owned by
    ``owner:group`` with ``file_mode``; the file's own directory (created here, or empty) gets
    ``owner:group`` and ``dir_mode`` too (``dir_mode=None`` leaves it as it is).  A directory that
    already holds files keeps its owner and mode.  An existing file at ``dest_path`` is replaced.  If anything fails once the
    upload has started, ``dest_path`` is removed: no partial file is left (but neither is the
    one it replaced).  Directories created by ``mkdir -p`` are left in place.

    :class:`errors.UsageError` when ``src`` does not hold exactly ``size`` bytes.
    """
    _check_path(dest_path)
    if size < 0:
        raise errors.UsageError(f"negative size {size} for {dest_path}")
    if isinstance(src, (str, os.PathLike)):
        with open(src, "rb") as fileobj:
            return write_file(
                api, container, fileobj, dest_path, size=size, owner=owner, group=group,
                file_mode=file_mode, dir_mode=dir_mode, deadline=deadline,
            )

    what = f"writing '{dest_path}' to container '{container}'"
    parent, name = posixpath.split(dest_path)
    ownership = f"{owner}:{group}"
    remaining(deadline, what)
    if size <= SMALL_FILE and supports_stdin_half_close(api):
        return _write_small(api, container, src, parent, dest_path, size=size, ownership=ownership,
                            file_mode=file_mode, dir_mode=dir_mode, deadline=deadline, what=what)

    # (MAKE_PARENT refuses a directory where the file goes: the engine's extraction would
    # replace it, and everything in it, with the file)
    made = _root(api, container, ["sh", "-c", file_scripts.MAKE_PARENT, "sh", parent, dest_path], deadline, what)
    own = made.strip() == b"own"
    dir_mode = dir_mode if own else None
    uploaded = False
    try:
        reader = HashingReader(src, deadline, what)
        failure: list[BaseException] = []
        body = _guarded(
            tarstream.single_file_tar(name, size, file_mode, 0, 0, time.time(), reader, CHUNK_SIZE),
            failure,
        )
        uploaded = True  # from here on a partial file may exist
        try:
            with translate_errors(api, container, what):
                api.put_archive(container, parent, body)
        except BaseException as exc:
            if failure:
                raise _source_error(failure[0], what, reader.count, size) from exc
            raise
        if failure:  # pragma: no cover - an exception in the body always surfaces above
            raise _source_error(failure[0], what, reader.count, size)

        _root(api, container, file_scripts.finish_argv(ownership, dest_path, file_mode, parent, dir_mode),
              deadline, what)
        uploaded = False
        return FileDigest(bytes=reader.count, sha256=reader.digest.hexdigest())
    finally:
        if uploaded:
            _cleanup(api, container, dest_path, deadline)


def _write_small(api, container: str, src: BinaryIO, parent: str, dest_path: str, *, size: int, ownership: str,
                 file_mode: int, dir_mode: int | None, deadline: float, what: str) -> FileDigest:
    """:func:`write_file` for a file of at most :data:`SMALL_FILE` bytes: one round trip instead
    of three (``mkdir``, ``put_archive``, ``chown``/``chmod``), about 0.1 s less per journal,
    marker or cache record through a real engine.  Same outcome, same errors."""
    reader = HashingReader(src, deadline, what)
    data = reader.read(size + 1)
    while len(data) <= size:  # a short read is not the end of a file object that is not a file
        more = reader.read(size + 1 - len(data))
        if not more:
            break
        data += more
    if len(data) != size:
        raise _source_error(tarstream.SourceSizeError(), what, len(data), size)
    temporary = f"{dest_path}.tmp-{secrets.token_hex(6)}"
    argv = file_scripts.write_stdin_argv(parent, dest_path, temporary, size, ownership, file_mode, dir_mode)
    written = False
    try:
        result = exec_command(api, container, argv, stdin=data, user="root", deadline=deadline)
        if result.exit_code != 0:
            raise _failed(result, what)
        written = True
        return FileDigest(bytes=size, sha256=reader.digest.hexdigest())
    finally:
        if not written:  # as the archive path: nothing under the final name after a failure
            _cleanup(api, container, dest_path, deadline)


def write_texts(api, container: str, files: "list[tuple[bytes, str]]", *, owner: str = "irisowner",
                group: str = "irisowner", file_mode: int = 0o660, dir_mode: int | None = 0o770,
                deadline: float) -> bool:
    """Several small files, each as :func:`write_file` writes one, in order, in one exec (their
    bytes as arguments, :data:`file_scripts.WRITE_ARGUMENTS`).  False, and nothing written, when
    they cannot travel so (over :data:`file_scripts.ARGUMENTS_LIMIT` bytes in all, not UTF-8,
    or holding a NUL):
    the caller writes them one by one.  A failure raises :class:`errors.InstanceError` naming
    the files; those before the one that failed stay written."""
    for _, path in files:
        _check_path(path)
    argv = file_scripts.write_arguments_argv(files, f"{owner}:{group}", file_mode, dir_mode)
    if argv is None:
        return False
    what = f"writing {', '.join(repr(path) for _, path in files)} to container '{container}'"
    remaining(deadline, what)
    result = exec_command(api, container, argv, user="root", deadline=deadline)
    if result.exit_code != 0:
        raise _failed(result, what)
    return True


def _source_error(exc: BaseException, what: str, count: int, size: int) -> BaseException:
    if isinstance(exc, tarstream.SourceSizeError):
        held = f"ended after {count} bytes" if count < size else "holds more bytes"
        return errors.UsageError(
            f"{what}: the source {held}, but {size} were announced",
            fix="The source file changed while being sent, or the announced size is wrong.",
        )
    return exc


def _cleanup(api, container: str, path: str, deadline: float) -> None:
    grace = max(deadline, time.monotonic() + _CLEANUP_GRACE)
    try:
        exec_command(api, container, ["rm", "-f", path], user="root", deadline=grace)
    except errors.IrisOpsError:
        # Nothing more we can do; the original error is what the user needs to see.
        pass
