"""Built-in plugin: the ssh transport.

Reaches an instance on another host over SSH, through Fabric (``pip install 'iris-ops[fleet]'``):
``iris session`` runs on the host (a native install: ``Target.iris_command``), or in a container
of the host's engine through ``docker exec -i`` as the instance owner (``Target.container``).
Scripts, logins and markers are the local and docker transports' own: the script goes on stdin
once the session shows its prompt (a login it asks for answered first, prompt by prompt:
:mod:`iris_ops.transports.login`).  Every call has its deadline, and a command past it is ended
on the host too (:mod:`iris_ops.transports.ssh_exec`); files stream with bounded memory, hashed
as they pass (:mod:`iris_ops.transports.ssh_files`).  One connection per target serves the whole
process (:mod:`iris_ops.transports.ssh_connect`).  Claims targets whose ``transport`` is ``ssh``.
Fabric is imported only when a hook runs, so listing tasks stays fast.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from iris_ops import hookimpl

if TYPE_CHECKING:
    from iris_ops.transports.base import ExecResult, Target

__all__ = [
    "NAME", "run_objectscript", "exec_argument_call", "read_file", "write_file", "remove_path",
    "list_directory", "reflink_files", "probe_reflink", "open_session",
]

NAME = "ssh"
#: What ``sh`` says when ``exec`` finds no such command (dash: "exec: iris: not found"; bash:
#: "iris: command not found"; busybox: "exec: iris: not found"; a path: "No such file or directory").
_NO_COMMAND = re.compile(rb"not found|No such file or directory|Permission denied")


def _session_argv(target: Target, namespace: str, *extra: str) -> list[str]:
    command = "iris" if target.container else target.iris_command
    return [command, "session", target.instance, "-U", namespace, *extra]


def _iris_user(target: Target) -> str | None:
    """The user ``iris session`` runs as: the instance owner in a container (as ``docker exec``
    of the docker transport runs it in an IRIS image), whoever logs in on a native host."""
    return target.owner if target.container else None


def _login(target: Target, interactive: bool):
    from iris_ops.transports.login import converse

    return lambda exchange, deadline: converse(exchange, target.username, target.password, deadline,
                                               interactive=interactive)[1]


def _what(target: Target) -> str:
    from iris_ops.transports.ssh_exec import where

    return f"`iris session` {'in' if target.container else 'on'} {where(target)}"


def _check_iris(target: Target, pid: int | None, stdout: bytes, stderr: bytes, status: int | None) -> None:
    """An ``iris session`` that ended: one that never started (no pid line), or whose ``iris``
    command does not exist there, cannot reach the instance (exit 6)."""
    from iris_ops.errors import UnreachableError
    from iris_ops.transports.base import ExecResult
    from iris_ops.transports.ssh_exec import not_started, where

    if pid is None:
        raise not_started(target, _what(target), ExecResult(-1 if status is None else status, stdout, stderr))
    if status in (126, 127) and not stdout and _NO_COMMAND.search(stderr):
        said = stderr.decode("utf-8", "replace").strip()
        raise UnreachableError(
            f"{where(target)} has no `{_session_argv(target, '%SYS')[0]}` command to run: {said}",
            fix=("Point --container at the container that runs IRIS on that host." if target.container else
                 "Set iris_command (IRIS_OPS_IRIS_COMMAND) to the `iris` of the host's IRIS install, "
                 "e.g. /usr/irissys/bin/iris."),
        )


def _session_ended(target: Target):
    """:func:`_check_iris` for an open session whose output ended."""
    def ended(proc, deadline: float) -> None:
        status = proc.exit_status(max(deadline, time.monotonic() + 1)) if proc.pid is not None else None
        _check_iris(target, proc.pid, bytes(proc.output), bytes(proc.stderr), status)
    return ended


def _iris(target: Target, argv: list[str], timeout: float, stdin: bytes, login) -> ExecResult:
    from iris_ops.transports.ssh_exec import run

    result = run(target, argv, deadline=time.monotonic() + timeout, what=_what(target), user=_iris_user(target),
                 stdin=stdin, login=login)
    _check_iris(target, 0, result.stdout, result.stderr, result.exit_code)
    return result


@hookimpl(trylast=True)
def run_objectscript(target: Target, script: str, namespace: str, timeout: float):
    if target.transport != NAME:
        return None
    return _iris(target, _session_argv(target, namespace), timeout, script.encode("utf-8"),
                 _login(target, interactive=True))


@hookimpl(trylast=True)
def exec_argument_call(target: Target, entry: str, namespace: str, timeout: float):
    if target.transport != NAME:
        return None
    return _iris(target, _session_argv(target, namespace, entry), timeout, b"", _login(target, interactive=False))


@hookimpl(trylast=True)
def open_session(target: Target, namespace: str, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports.ssh_session import SshSession

    deadline = time.monotonic() + timeout
    session = SshSession(target, _session_argv(target, namespace), deadline=deadline, what=_what(target),
                         user=_iris_user(target), on_end=_session_ended(target))
    session.log_in(target.username, target.password, deadline)
    return session


@hookimpl(trylast=True)
def read_file(target: Target, path: str, dest, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports import ssh_files

    return ssh_files.read_file(target, path, dest, deadline=time.monotonic() + timeout)


@hookimpl(trylast=True)
def write_file(target: Target, src, size: int, path: str, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports import ssh_files

    return ssh_files.write_file(target, src, path, size=size, deadline=time.monotonic() + timeout)


@hookimpl(trylast=True)
def write_files(target: Target, files: list, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports import ssh_files

    return ssh_files.write_texts(target, files, deadline=time.monotonic() + timeout) or None


def _root_user(target: Target) -> str | None:
    """Cleanup runs as root in a container; on a host, as the SSH user (who is root, or the owner)."""
    return "root" if target.container else None


def _run(target: Target, argv: list[str], timeout: float, what: str, user: str | None) -> ExecResult:
    from iris_ops.transports.ssh_exec import run

    return run(target, argv, deadline=time.monotonic() + timeout, what=what, user=user)


@hookimpl(trylast=True)
def remove_path(target: Target, path: str, timeout: float):
    if target.transport != NAME:
        return None
    return _run(target, ["rm", "-rf", "--", path], timeout, f"removing {path}", _root_user(target)).exit_code == 0


@hookimpl(trylast=True)
def list_directory(target: Target, path: str, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports import file_scripts

    return file_scripts.read_listing(_run(target, file_scripts.list_argv(path), timeout, f"listing {path}",
                                          _root_user(target)))


@hookimpl(trylast=True)
def reflink_files(target: Target, pairs: list, timeout: float):
    if target.transport != NAME:
        return None
    from iris_ops.transports import reflink

    deadline = time.monotonic() + timeout
    # as the instance owner, as IRIS itself would make the file: in a container by `docker exec
    # -u`; on a host the SSH user makes it, and gives it to the owner when it is root
    result = _run(target, reflink.shell_argv(pairs), timeout, "reflinking files", _iris_user(target))
    answers = reflink.read_answers(result, len(pairs))
    made = [dest for (_, dest), answer in zip(pairs, answers) if answer.done]
    if made and not target.container:
        give = ['[ "$(id -u)" != 0 ] || chown "$0" "$@"', f"{target.owner}:{target.owner}", *made]
        _run(target, ["sh", "-c", *give], max(1.0, deadline - time.monotonic()), "giving reflinks to the owner", None)
    return answers


@hookimpl(trylast=True)
def probe_reflink(target: Target, directories: list, timeout: float):
    if target.transport != NAME:
        return None
    import secrets

    from iris_ops.transports import reflink

    result = _run(target, reflink.probe_argv(secrets.token_hex(6), directories), timeout, "probing reflinks",
                  _iris_user(target))
    return dict(zip(directories, reflink.read_answers(result, len(directories))))
