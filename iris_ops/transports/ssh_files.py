"""Files in and out of an instance's host over SSH, streamed with bounded memory and hashed in the
same pass.

A native install's files move over SFTP (a channel of the target's one connection): read in
chunks Paramiko prefetches, and written under a temporary name beside the target, then given
their owner and mode and renamed into place in one command
(:data:`iris_ops.transports.file_scripts.PLACE`).  A container's files move through an exec's
channel: ``cat`` out of it, and :data:`iris_ops.transports.file_scripts.WRITE_STDIN` into it,
which checks the size it received before it renames.  Either way a failed write leaves nothing
under the final name, nor a temporary file.
"""

from __future__ import annotations

import contextlib
import posixpath
import secrets
import socket
import stat
import time
from typing import TYPE_CHECKING, BinaryIO, Iterator

from iris_ops import errors
from iris_ops.transports import file_scripts
from iris_ops.transports.base import FileDigest
from iris_ops.transports.hashsink import HashingReader, HashSink
from iris_ops.transports.ssh_connect import connection, lost
from iris_ops.transports.ssh_exec import RemoteProcess, checked, ending, where

if TYPE_CHECKING:  # pragma: no cover
    from iris_ops.transports.base import Target

__all__ = ["CHUNK", "read_file", "write_file"]

#: Transfer chunk: SFTP requests are at most 32 KiB each; Paramiko pipelines them.
CHUNK = 1 << 20
_SFTP_CHUNK = 32 * 1024
#: Bytes asked for at once when reading over SFTP: enough requests in flight to fill the link.
_WINDOW = 8 << 20
#: Seconds a failed write may take to remove its temporary file, even past the deadline.
_CLEANUP_GRACE = 10.0
#: Exit status 65: no such file; 66: not a regular file (a directory, a link).  Argument: $1 path.
_CAT_REGULAR = ('if [ -f "$1" ] && [ ! -L "$1" ]; then exec cat -- "$1"; fi; '
                'if [ -e "$1" ] || [ -L "$1" ]; then exit 66; fi; exit 65')


def _check_path(path: str) -> str:
    if not path.startswith("/") or path.endswith("/") or "\0" in path or posixpath.normpath(path) != path:
        raise errors.UsageError(f"path {path!r} must be absolute and normalised, and name a file",
                                fix="Give the full path of the file as the instance sees it.")
    return path


def _missing(target: Target, path: str) -> errors.InstanceError:
    return errors.InstanceError(f"'{path}' does not exist on {where(target)}",
                                fix="Check the path; database directories are the ones IRIS reports for the namespace.")


def read_file(target: Target, path: str, dest: BinaryIO, *, deadline: float) -> FileDigest:
    """Copy the regular file ``path`` into ``dest``; its size and sha256."""
    _check_path(path)
    what = f"reading '{path}' from {where(target)}"
    if target.container:
        return _read_through_exec(target, path, dest, deadline, what)
    with _sftp(target, deadline, what) as sftp, HashSink(dest) as sink:
        for piece in _sftp_pieces(target, sftp, path, deadline, what):
            sink.put(piece)  # (this host's disk full: its own error, not the connection's)
    return FileDigest(bytes=sink.count, sha256=sink.hexdigest())


def _sftp_pieces(target: Target, sftp, path: str, deadline: float, what: str) -> Iterator[bytes]:
    """The file's bytes over SFTP, a window at a time: Paramiko's prefetch of a whole file keeps
    every answer it has not handed out, so memory stays bounded when the sink is slower."""
    with _over_ssh(target, what):
        try:
            info = sftp.lstat(path)
        except FileNotFoundError:
            raise _missing(target, path) from None
        if not stat.S_ISREG(info.st_mode or 0):
            raise errors.UsageError(f"'{path}' on {where(target)} is not a regular file",
                                    fix="Give the path of a single regular file (not a link or a directory).")
        with sftp.open(path, "rb") as src:
            for start in range(0, info.st_size, _WINDOW):
                end = min(start + _WINDOW, info.st_size)
                yield from src.readv([(at, min(_SFTP_CHUNK, end - at)) for at in range(start, end, _SFTP_CHUNK)])
                _in_time(deadline, what)
            src.seek(info.st_size)
            if src.read(1):
                raise errors.InstanceError(f"{what}: the file grew while it was read",
                                           fix="Read a file nothing writes to (the backup's staging copy).")


@contextlib.contextmanager
def _over_ssh(target: Target, what: str) -> Iterator[None]:
    """SFTP's failures as iris-ops errors: only around what goes over the connection (a failure of
    this host's own disk or source file is not the connection's)."""
    try:
        yield
    except (socket.timeout, TimeoutError) as exc:
        raise errors.DeadlineExceeded(f"{what}: the host stopped answering before the deadline") from exc
    except (OSError, EOFError) as exc:
        raise _broken(target, what, exc) from exc


def _read_through_exec(target: Target, path: str, dest: BinaryIO, deadline: float, what: str) -> FileDigest:
    proc = RemoteProcess(target, ["sh", "-c", _CAT_REGULAR, "sh", path], deadline=deadline, what=what, user="root")
    proc.keep_output = False  # the file's bytes go to the sink only
    with ending(proc):
        with HashSink(dest) as sink:
            while (piece := proc.read(deadline)) is not None:
                sink.put(piece)
        result = proc.result(deadline)
    if result.exit_code == 65:
        raise _missing(target, path)
    if result.exit_code == 66:
        raise errors.UsageError(f"'{path}' on {where(target)} is not a regular file",
                                fix="Give the path of a single regular file (not a link or a directory).")
    if result.exit_code != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise errors.InstanceError(f"{what} failed with exit status {result.exit_code}: {message}")
    return FileDigest(bytes=sink.count, sha256=sink.hexdigest())


def write_file(target: Target, src: BinaryIO, path: str, *, size: int, file_mode: int = 0o660,
               dir_mode: int | None = 0o770, deadline: float) -> FileDigest:
    """Copy ``size`` bytes of ``src`` to ``path``, owned by the instance owner with ``file_mode``
    (and the file's own directory with ``dir_mode``); their sha256, computed as they were sent."""
    _check_path(path)
    if size < 0:
        raise errors.UsageError(f"negative size {size} for {path}")
    what = f"writing '{path}' to {where(target)}"
    parent = posixpath.dirname(path)
    temporary = f"{path}.tmp-{secrets.token_hex(6)}"
    ownership = f"{target.owner}:{target.owner}"
    reader = HashingReader(src, deadline, what)
    if target.container:
        argv = file_scripts.write_stdin_argv(parent, path, temporary, size, ownership, file_mode, dir_mode)
        _send_through_exec(target, argv, reader, size, deadline, what)
        return FileDigest(bytes=size, sha256=reader.digest.hexdigest())
    made = checked(target, ["sh", "-c", file_scripts.MAKE_PARENT, "sh", parent, path], deadline=deadline, what=what)
    own = made.strip() == b"own"
    placed = False
    try:
        with _sftp(target, deadline, what) as sftp:
            with _over_ssh(target, what):
                out = sftp.open(temporary, "wb")
            try:
                with _over_ssh(target, what):
                    out.chmod(0o600)  # a copy of the instance's data: nobody else's while it arrives
                    out.set_pipelined(True)
                _copy(target, reader, out, size, what)
            finally:
                with _over_ssh(target, what):
                    out.close()  # (waits for the pipelined writes' answers)
        try:
            checked(target, file_scripts.place_argv(temporary, path, ownership, file_mode, parent,
                                                    dir_mode if own else None), deadline=deadline, what=what)
        except errors.InstanceError as exc:
            if "invalid user" in exc.message or "invalid group" in exc.message:
                raise errors.ConfigError(
                    f"the instance owner {target.owner!r} is not a user (and group) of {where(target)}",
                    fix="Set IRIS_OPS_OWNER (setting `owner`) to the OS user the instance runs as there, or its "
                    "numeric id.") from exc
            raise
        placed = True
    finally:
        if not placed:
            _remove(target, temporary, deadline)
    return FileDigest(bytes=size, sha256=reader.digest.hexdigest())


def write_texts(target: Target, files: "list[tuple[bytes, str]]", *, file_mode: int = 0o660,
                dir_mode: int | None = 0o770, deadline: float) -> bool:
    """Several small files in the target's container, each as :func:`write_file` writes one, in
    order, in one command run as root there (:data:`file_scripts.WRITE_ARGUMENTS`).  False, and
    nothing written, on a host (the SSH user need not be root: :func:`write_file`'s rules) or
    when they cannot travel as arguments.  A failure raises; the files before it stay written."""
    if not target.container:
        return False
    for _, path in files:
        _check_path(path)
    argv = file_scripts.write_arguments_argv(files, f"{target.owner}:{target.owner}", file_mode, dir_mode)
    if argv is None:
        return False
    checked(target, argv, deadline=deadline, what=f"writing {', '.join(repr(p) for _, p in files)} to {where(target)}",
            user="root")
    return True


def _copy(target: Target, reader: HashingReader, out, size: int, what: str) -> None:
    left = size
    while left:
        piece = reader.read(min(CHUNK, left))
        if not piece:
            raise _short(what, reader.count, size)
        with _over_ssh(target, what):
            for at in range(0, len(piece), _SFTP_CHUNK):
                out.write(piece[at:at + _SFTP_CHUNK])
        left -= len(piece)
    if reader.read(1):
        raise _short(what, reader.count, size)


def _short(what: str, count: int, size: int) -> errors.UsageError:
    held = f"ended after {count} bytes" if count < size else "holds more bytes"
    return errors.UsageError(f"{what}: the source {held}, but {size} were announced",
                             fix="The source file changed while being sent, or the announced size is wrong.")


def _send_through_exec(target: Target, argv: list[str], reader: HashingReader, size: int, deadline: float,
                       what: str) -> None:
    proc = RemoteProcess(target, argv, deadline=deadline, what=what, user="root", stdin=True)
    with ending(proc):
        left = size
        while left and not proc.input_gone:
            piece = reader.read(min(CHUNK, left))
            if not piece:
                break  # the shell finds fewer bytes than announced, and says so
            proc.channel.settimeout(max(0.001, deadline - time.monotonic()))
            proc.send(piece)
            left -= len(piece)
        if not left and reader.read(1):
            raise _short(what, reader.count, size)
        proc.close_input()
        proc.drain(deadline)
        result = proc.result(deadline)
    if result.exit_code == 3:
        raise _short(what, reader.count, size)
    if result.exit_code != 0:
        message = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
        raise errors.InstanceError(f"{what}: the write failed with exit status {result.exit_code}: {message}",
                                   fix="Check that the path exists and the owner is a user in the container.",
                                   details={"exit_code": result.exit_code, "output": message})


def _remove(target: Target, path: str, deadline: float) -> None:
    with contextlib.suppress(errors.IrisOpsError):
        checked(target, ["rm", "-f", "--", path], deadline=max(deadline, time.monotonic() + _CLEANUP_GRACE),
                what=f"removing {path}")


@contextlib.contextmanager
def _sftp(target: Target, deadline: float, what: str):
    """An SFTP session on the target's connection, for one transfer: its reads and writes time out
    at the deadline."""
    import paramiko

    conn = connection(target, deadline)
    channel = None
    try:
        # not Transport.open_sftp_client(): its channel waits up to an hour, and its handshake forever
        channel = conn.transport.open_session(timeout=max(0.001, deadline - time.monotonic()))
        channel.settimeout(max(0.001, deadline - time.monotonic()))
        channel.invoke_subsystem("sftp")
        sftp = paramiko.SFTPClient(channel)
    except Exception as exc:  # noqa: BLE001 - Paramiko's and the socket's
        if channel is not None:
            channel.close()
        if isinstance(exc, (socket.timeout, TimeoutError)):
            raise errors.DeadlineExceeded(f"{what}: the host's SFTP server did not answer before the deadline") from exc
        raise _broken(target, what, exc) from exc
    try:
        yield sftp
    finally:
        with contextlib.suppress(Exception):
            sftp.close()


def _broken(target: Target, what: str, exc: BaseException) -> errors.IrisOpsError:
    if isinstance(exc, PermissionError):
        return errors.InstanceError(f"{what}: permission denied on {where(target)}",
                                    fix="The SSH user must be able to read and write the instance's files "
                                    "(log in as root or as the instance owner).")
    return lost(target, what, exc)


def _in_time(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise errors.DeadlineExceeded(f"{what} did not finish before its deadline")
