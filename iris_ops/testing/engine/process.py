"""A "process" in a simulated container: who runs it, where, and which program its argv names.

No real process is started: programs are Python functions ``(proc, argv, stdin, out, err) -> int``
working on the container root through ``ContainerFS``, with the permissions of the exec user.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable

Write = Callable[[bytes], None]
Program = Callable[["Proc", list[str], BinaryIO, Write, Write], int]

#: Directories of the container's PATH; ``/usr/bin/cat`` and ``cat`` are the same program.
PATH_DIRS = ("/usr/irissys/bin", "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


class ExecStartError(Exception):
    """The runtime could not start the process (moby writes the text into the stream)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Proc:
    container: Any
    user: str
    uid: int
    gid: int
    cwd: str = "/"
    env: dict[str, str] = field(default_factory=dict)

    @property
    def fs(self) -> Any:
        return self.container.fs

    @property
    def backend(self) -> Any:
        return self.container.backend

    def path(self, p: str) -> str:
        return posixpath.normpath(posixpath.join(self.cwd, p)) if p else p


def _iris(proc: Proc, argv: list[str], stdin: BinaryIO, out: Write, err: Write) -> int:
    return proc.backend.iris_main(proc.container.instance, argv[1:], stdin, out, proc.user)


def programs() -> dict[str, Program]:
    from iris_ops.testing.engine import coreutils, shell

    table: dict[str, Program] = dict(coreutils.COMMANDS)
    table.update({"sh": shell.sh_main, "bash": shell.sh_main, "dash": shell.sh_main, "iris": _iris})
    return table


def lookup(name: str) -> Program | None:
    """The program ``name`` (bare, or under a PATH directory) runs, or None."""
    table = programs()
    if "/" in name:
        directory, base = posixpath.split(posixpath.normpath(name))
        return table.get(base) if directory in PATH_DIRS else None
    return table.get(name)


def start_error(name: str) -> ExecStartError:
    """What runc reports for an executable that does not exist, as the daemon relays it."""
    if "/" in name:
        why = f"exec: \"{name}\": stat {name}: no such file or directory"
    else:
        why = f"exec: \"{name}\": executable file not found in $PATH"
    return ExecStartError(f"OCI runtime exec failed: exec failed: unable to start container process: {why}: unknown", 127)


def resolve_user(spec: str, users: dict[str, tuple[int, int]], default: str) -> tuple[str, int, int]:
    """``""`` → the container's user; ``name``, ``uid``, ``name:group`` or ``uid:gid`` otherwise."""
    spec = spec or default
    user_part, _, group_part = spec.partition(":")
    by_uid = {uid: name for name, (uid, _gid) in users.items()}
    if user_part in users:
        name = user_part
    elif user_part.isdigit() and int(user_part) in by_uid:
        name = by_uid[int(user_part)]
    else:
        raise ExecStartError(f"unable to find user {user_part}: no matching entries in passwd file", 126)
    uid, gid = users[name]
    if group_part:
        gid = group_id(group_part, users)
        if gid is None:
            raise ExecStartError(f"unable to find group {group_part}: no matching entries in group file", 126)
    return name, uid, gid


def group_id(group: str, users: dict[str, tuple[int, int]]) -> int | None:
    """A group name (each user has a like-named primary group here) or a numeric gid."""
    groups = {n: g for n, (_u, g) in users.items()}
    if group in groups:
        return groups[group]
    return int(group) if group.isdigit() else None
