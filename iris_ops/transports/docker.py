"""Built-in plugin: the docker transport.

Runs ``iris session`` through the Docker Engine API (the docker SDK) with the script on stdin,
sent once the session shows its prompt (a login it asks for is answered first, prompt by prompt:
:mod:`iris_ops.transports.login`), and moves files as streamed tar
archives (or, when the engine is on this machine and the file is readable here, reads it from
the host side: :mod:`iris_ops.transports.docker_host`).  Claims targets whose ``transport`` is ``docker``.  docker is imported only when a
hook runs, so listing tasks stays fast.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import TYPE_CHECKING

from iris_ops import hookimpl

if TYPE_CHECKING:
    from iris_ops.transports.base import ExecResult, Target

__all__ = [
    "NAME", "run_objectscript", "exec_argument_call", "read_file", "write_file", "remove_path",
    "list_directory", "reflink_files", "probe_reflink", "open_session",
]

NAME = "docker"


@lru_cache(maxsize=8)
def _api(docker_host: str, timeout: float):
    from iris_ops.transports.docker_exec import connect

    return connect(docker_host or None, timeout)


def _session_argv(target: Target, namespace: str, *extra: str) -> list[str]:
    return ["iris", "session", target.instance, "-U", namespace, *extra]


def _login(target: Target, interactive: bool):
    """The conversation that answers ``iris session``'s login for ``target`` (see the module)."""
    from iris_ops.transports.login import converse

    return lambda exchange, deadline: converse(exchange, target.username, target.password, deadline,
                                               interactive=interactive)[1]


def _exec(target: Target, argv: list[str], timeout: float, stdin: bytes | None = None, user: str | None = None,
          login=None) -> ExecResult:
    from iris_ops.transports.base import ExecResult
    from iris_ops.transports.docker_exec import exec_command

    result = exec_command(
        _api(target.docker_host, timeout), target.container, argv,
        stdin=stdin, user=user, deadline=time.monotonic() + timeout, converse=login,
    )
    return ExecResult(exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def _iris(target: Target, argv: list[str], timeout: float, stdin: bytes, login=None) -> ExecResult:
    """``iris ...`` in the container; a container without that command says so (exit 6)."""
    from iris_ops.transports.docker_exec import no_iris_command

    result = _exec(target, argv, timeout, stdin=stdin, login=login)
    if result.exit_code in (126, 127):  # the runtime could not start it
        missing = no_iris_command(target.container, result.stdout + result.stderr)
        if missing is not None:
            raise missing
    return result


@hookimpl(trylast=True)
def run_objectscript(target: Target, script: str, namespace: str, timeout: float):
    if target.transport != NAME:
        return None
    return _iris(target, _session_argv(target, namespace), timeout, stdin=script.encode("utf-8"),
                 login=_login(target, interactive=True))


@hookimpl(trylast=True)
def exec_argument_call(target: Target, entry: str, namespace: str, timeout: float):
    if target.transport != NAME:
        return None
    return _iris(target, _session_argv(target, namespace, entry), timeout, stdin=b"",
                 login=_login(target, interactive=False))


@hookimpl(trylast=True)
def read_file(target: Target, path: str, dest, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports import docker_files, docker_host
    from iris_ops.transports.base import FileDigest

    api, deadline = _api(target.docker_host, timeout), time.monotonic() + timeout
    local = docker_host.host_path(api, target.container, path)
    if local is not None:  # the engine is on this machine and its file is readable here
        what = f"reading '{path}' of container '{target.container}' from {local[0]}"
        count, sha256 = docker_host.read_host_file(local[0], local[1], dest, deadline=deadline, what=what)
        return FileDigest(bytes=count, sha256=sha256)
    digest = docker_files.read_file(api, target.container, path, dest, deadline=deadline)
    return FileDigest(bytes=digest.bytes, sha256=digest.sha256)


@hookimpl(trylast=True)
def write_file(target: Target, src, size: int, path: str, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports import docker_files
    from iris_ops.transports.base import FileDigest

    digest = docker_files.write_file(
        _api(target.docker_host, timeout), target.container, src, path,
        size=size, owner=target.owner, group=target.owner, deadline=time.monotonic() + timeout,
    )
    return FileDigest(bytes=digest.bytes, sha256=digest.sha256)


@hookimpl(trylast=True)
def write_files(target: Target, files: list, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports import docker_files

    return docker_files.write_texts(_api(target.docker_host, timeout), target.container, files, owner=target.owner,
                                    group=target.owner, deadline=time.monotonic() + timeout) or None


@hookimpl(trylast=True)
def remove_path(target: Target, path: str, timeout: float):
    if target.transport != NAME:
        return None
    result = _exec(target, ["rm", "-rf", "--", path], timeout, user="root")
    return result.exit_code == 0


@hookimpl(trylast=True)
def list_directory(target: Target, path: str, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports import file_scripts

    return file_scripts.read_listing(_exec(target, file_scripts.list_argv(path), timeout, user="root"))


@hookimpl(trylast=True)
def reflink_files(target: Target, pairs: list, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports import reflink

    # as the instance owner, as IRIS itself would make the file
    result = _exec(target, reflink.shell_argv(pairs), timeout, user=target.owner)
    return reflink.read_answers(result, len(pairs))


@hookimpl(trylast=True)
def probe_reflink(target: Target, directories: list, timeout: float):
    if target.transport != NAME:
        return None
    import secrets

    from iris_ops.transports import reflink

    result = _exec(target, reflink.probe_argv(secrets.token_hex(6), directories), timeout, user=target.owner)
    return dict(zip(directories, reflink.read_answers(result, len(directories))))


@hookimpl(trylast=True)
def open_session(target: Target, namespace: str, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports.docker_session import DockerSession

    deadline = time.monotonic() + timeout
    session = DockerSession(_api(target.docker_host, timeout), target.container, _session_argv(target, namespace),
                            deadline=deadline)
    session.log_in(target.username, target.password, deadline)
    return session
