"""Built-in plugin: the local transport.

``iris session`` on this host (inside the container, or a native install), with files moved
through the filesystem.  Claims targets whose ``transport`` is ``local``.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from iris_ops import hookimpl, redact
from iris_ops.errors import ConfigError, DeadlineExceeded, InstanceError, UnreachableError

if TYPE_CHECKING:
    from iris_ops.transports.base import ExecResult, Target

__all__ = [
    "NAME", "CHUNK", "run_objectscript", "exec_argument_call", "read_file", "write_file", "remove_path",
    "list_directory", "reflink_files", "probe_reflink", "open_session",
]

NAME = "local"
CHUNK = 1 << 20


def _run(target: Target, argv: list[str], stdin: bytes, timeout: float, *, interactive: bool) -> ExecResult:
    """``iris ARGV``: the login it asks for answered prompt by prompt, then ``stdin`` (only once
    the session is ready: :mod:`iris_ops.transports.login`), then the end of input."""
    from iris_ops.transports.base import ExecResult
    from iris_ops.transports.local_session import PipeExchange
    from iris_ops.transports.login import converse

    command = [target.iris_command, *argv]
    deadline = time.monotonic() + timeout
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=redact.child_environment())
    except FileNotFoundError:
        raise UnreachableError(
            f"the `{target.iris_command}` command was not found on this host",
            fix="Install IRIS here, run iris-ops inside the container, or set iris_command / use --transport docker.",
        ) from None
    with proc:
        try:
            exchange = PipeExchange(proc)
            _, ready = converse(exchange, target.username, target.password, deadline, interactive=interactive)
            rest, err = _communicate(proc, stdin if ready and not exchange.ended else b"", deadline)
        except (subprocess.TimeoutExpired, DeadlineExceeded):
            proc.kill()
            proc.wait()
            raise DeadlineExceeded(f"iris session did not finish within {timeout:g} s") from None
    return ExecResult(exit_code=proc.returncode, stdout=bytes(exchange.output) + rest, stderr=err)


def _communicate(proc: subprocess.Popen, data: bytes, deadline: float) -> tuple[bytes, bytes]:
    """``proc.communicate(data)`` until ``deadline``, in slices of ``waits.SLICE`` so that a
    signal meanwhile is handled at once (:mod:`iris_ops.transports.waits`); a retried
    ``communicate`` loses no output."""
    from iris_ops.transports.waits import SLICE

    first = True
    while True:
        left = deadline - time.monotonic()
        try:
            return proc.communicate(input=data if first else None, timeout=max(0.001, min(SLICE, left)))
        except subprocess.TimeoutExpired:
            if left <= SLICE:
                raise
        first = False


@hookimpl(trylast=True)
def run_objectscript(target: Target, script: str, namespace: str, timeout: float):
    if target.transport != NAME:
        return None
    return _run(target, ["session", target.instance, "-U", namespace], script.encode("utf-8"), timeout,
                interactive=True)


@hookimpl(trylast=True)
def exec_argument_call(target: Target, entry: str, namespace: str, timeout: float):
    if target.transport != NAME:
        return None
    return _run(target, ["session", target.instance, "-U", namespace, entry], b"", timeout, interactive=False)


@hookimpl(trylast=True)
def read_file(target: Target, path: str, dest, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports.base import FileDigest
    from iris_ops.transports.hashsink import copy_file

    try:
        total, sha256 = copy_file(path, dest, deadline=time.monotonic() + timeout, what=f"reading {path}")
    except FileNotFoundError:
        raise InstanceError(f"{path} does not exist on this host") from None
    return FileDigest(bytes=total, sha256=sha256)


@hookimpl(trylast=True)
def write_file(target: Target, src, size: int, path: str, timeout: float):
    if target.transport != NAME:
        return None
    import hashlib

    from iris_ops.transports.base import FileDigest

    dest = Path(path)
    # Only the file's own directory (made here, or empty: a database directory a restore just
    # created) gets our mode and owner; one that already holds files is left as it is.
    created = not dest.parent.is_dir() or not any(dest.parent.iterdir())
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    remaining = size
    try:
        with open(dest, "wb") as out:
            while remaining:
                chunk = src.read(min(CHUNK, remaining))
                if not chunk:
                    raise InstanceError(f"source ended {remaining} bytes early while writing {path}")
                digest.update(chunk)
                out.write(chunk)
                remaining -= len(chunk)
        os.chmod(dest, 0o660)
        if created:
            os.chmod(dest.parent, 0o770)
        _give_to_owner(target, dest, *([dest.parent] if created else []))
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return FileDigest(bytes=size, sha256=digest.hexdigest())


def _give_to_owner(target: Target, *paths: Path) -> None:
    """Run as root, hand what this process made to the instance owner (as it would have made it)."""
    import shutil

    if os.geteuid() != 0:
        return
    # a name, or a numeric id for a host that lacks the instance owner's name
    owner = int(target.owner) if str(target.owner).isdigit() else target.owner
    try:
        for path in paths:
            shutil.chown(path, owner, owner)
    except LookupError:
        raise ConfigError(
            f"the instance owner {target.owner!r} is not a user of this host",
            fix="Set IRIS_OPS_OWNER (setting `owner`) to the OS user the instance runs as, or its numeric id.",
        ) from None


@hookimpl(trylast=True)
def reflink_files(target: Target, pairs: list, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports.reflink import reflink_here

    answers = []
    for source, dest in pairs:
        parent = Path(dest).parent
        made = [] if parent.is_dir() else [p for p in (parent, *parent.parents) if not p.exists()]
        parent.mkdir(parents=True, exist_ok=True)
        answer = reflink_here(source, dest)
        if answer.done:
            try:
                _give_to_owner(target, Path(dest), *made)
            except BaseException:
                Path(dest).unlink(missing_ok=True)
                raise
        answers.append(answer)
    return answers


@hookimpl(trylast=True)
def probe_reflink(target: Target, directories: list, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports.reflink import probe_here

    return probe_here(directories)


@hookimpl(trylast=True)
def remove_path(target: Target, path: str, timeout: float):
    if target.transport != NAME:
        return None
    import shutil

    p = Path(path)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink(missing_ok=True)
    return True


@hookimpl(trylast=True)
def list_directory(target: Target, path: str, timeout: float):
    if target.transport != NAME:
        return None
    try:
        with os.scandir(path) as entries:
            return [e.name + ("/" if e.is_dir(follow_symlinks=False) else "") for e in entries]
    except (FileNotFoundError, NotADirectoryError):
        return []


@hookimpl(trylast=True)
def open_session(target: Target, namespace: str, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports.local_session import LocalSession

    deadline = time.monotonic() + timeout
    session = LocalSession(target, namespace)
    session.log_in(target.username, target.password, deadline)
    return session
