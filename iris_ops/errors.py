"""The one exception hierarchy of iris-ops.

Every error a user can meet is an :class:`IrisOpsError`.  Each class carries the process exit
code it maps to and a ``fix`` line telling the user what to do.  Library code raises these; only
the task boundary (:mod:`iris_ops.task`) and the CLI (:mod:`iris_ops.cli`) turn them into exit
codes and messages.

| code | class                    | meaning                                                        |
|------|--------------------------|----------------------------------------------------------------|
| 1    | InternalError            | unexpected internal error                                      |
| 2    | UsageError               | bad input: invalid name, missing or malformed fixture; this    |
|      |                          | host's disk full (HostDiskFullError: the remedy is the user's) |
| 3    | ConflictError            | target exists, or refused operation on a system namespace/db   |
| 4    | ValidationError          | checksum, DAT label, row counts                                |
| 5    | InstanceError            | the instance refused or failed an operation                    |
| 6    | UnreachableError         | the container or instance cannot be reached (a container with  |
|      |                          | no `iris` command has no instance to reach)                    |
"""

from __future__ import annotations

__all__ = [
    "IrisOpsError", "repair", "InternalError", "UsageError", "InvalidNameError", "FixtureError",
    "ConfigError", "StateFileError", "HostDiskFullError", "from_host_oserror", "ConflictError", "SystemTargetError",
    "UnsupportedError", "VetoedError", "ValidationError", "InstanceError", "ScriptError",
    "UnreachableError", "AuthenticationError", "DeadlineExceeded", "EXIT_INTERRUPTED", "EXIT_HANGUP",
    "EXIT_TERMINATED", "EXIT_STDOUT_CLOSED", "EXIT_CODES",
]


class IrisOpsError(Exception):
    """Base class.  ``message`` says what went wrong, ``fix`` how to fix it."""

    exit_code = 1
    default_fix = ""

    def __init__(self, message: str, *, fix: str | None = None, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix if fix is not None else self.default_fix
        #: Structured extras (IRIS error text, output tail, file names) for logs and JSON output.
        self.details = details or {}

    def __str__(self) -> str:
        return self.message


def repair(exc: IrisOpsError) -> IrisOpsError:
    """Give an error that a plugin built wrongly (a subclass that skipped ``__init__``, details
    that are not a dict) the attributes every handler reads, so no handler crashes on it."""
    if not isinstance(getattr(exc, "message", None), str):
        exc.message = str(exc.args[0]) if exc.args else type(exc).__name__
    if not isinstance(getattr(exc, "fix", None), str):
        exc.fix = str(getattr(type(exc), "default_fix", "") or "")
    if not isinstance(getattr(exc, "details", None), dict):
        exc.details = {}
    exc.details = {str(k): v for k, v in exc.details.items()
                   if k not in ("event", "exit_code", "error", "fix", "level", "timestamp", "logger")}
    return exc


class InternalError(IrisOpsError):
    exit_code = 1
    default_fix = "This is a bug in iris-ops or a plugin; rerun with -v and report the traceback."


class UsageError(IrisOpsError):
    exit_code = 2
    default_fix = "Check the command's arguments with `iris-ops --help <task>`."


class InvalidNameError(UsageError):
    default_fix = (
        "Namespace names are 1-64 characters: a letter or % first, then letters, digits, - or _. "
        "Database names follow the same rule without %."
    )


class FixtureError(UsageError):
    """A fixture directory is missing or malformed (as opposed to failing its checksums)."""

    default_fix = "Point --src at a directory written by `iris-ops backup` (or an iris-devtester fixture)."


class ConfigError(UsageError):
    default_fix = "Fix the setting in iris-ops.toml, [tool.iris-ops] in pyproject.toml, or the IRIS_OPS_* variable."


class StateFileError(UsageError):
    """A desired-state file (``[state]``, ``--state``, ``--cpf``) that iris-ops will not act on: an
    unknown key, a bad value, a CPF action or section it does not support.  The message names
    the file and line of each problem."""

    default_fix = "Fix each line named above; docs/STATE.md describes the file formats."


class HostDiskFullError(UsageError):
    """This host's disk (or quota, or ``ulimit -f``) cannot take what iris-ops writes here.

    Exit 2, with the usage errors: it is expected, not a bug (1), and not the instance (5) nor
    the engine (6); as with an unwritable ``--out``, the remedy is the user's (free space, or
    write elsewhere).  The partial file has been removed by then."""

    default_fix = ("Free space on that filesystem (or raise its quota or `ulimit -f`), or pass --out "
                   "on another filesystem; nothing partial was kept.")


def from_host_oserror(exc: OSError, path: object = None) -> "UsageError | None":
    """The usage error for an OSError of this host's filesystem that the user can fix (the disk
    full, a path too long), else None (the OSError stays an internal error)."""
    import errno

    where = exc.filename or path
    reason = exc.strerror or str(exc)
    details = {"path": str(where) if where else None, "errno": exc.errno}
    if exc.errno in {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", 122)}:
        return HostDiskFullError(f"this host's disk is full: cannot write {where or 'a file'} ({reason})",
                                 details=details)
    if exc.errno == errno.ENAMETOOLONG:
        return UsageError(f"a path on this host is too long: {str(where)[:80]}... ({reason})",
                          fix="Choose a shorter path (each name at most 255 bytes).", details=details)
    return None


class ConflictError(IrisOpsError):
    exit_code = 3
    default_fix = "Choose another name, or pass --force to replace what exists."


class SystemTargetError(ConflictError):
    default_fix = "System namespaces and databases are never backed up, restored over or deleted."


class UnsupportedError(ConflictError):
    """A database iris-ops cannot copy faithfully (encrypted, multi-volume, mirrored, ...)."""

    default_fix = (
        "iris-ops copies plain IRIS.DAT files only; use InterSystems' own backup (Backup.General, "
        "mirroring tools) for this database."
    )


class VetoedError(ConflictError):
    """A plugin's ``pre_*`` hook refused the operation."""

    default_fix = "The plugin named in the message refused this operation; see its documentation."


class ValidationError(IrisOpsError):
    exit_code = 4
    default_fix = "The fixture does not match its manifest: recreate it with `iris-ops backup`."


class InstanceError(IrisOpsError):
    """IRIS answered, and the answer was a failure (error status, failed freeze or mount)."""

    exit_code = 5
    default_fix = "Read the IRIS error above; the instance's messages.log has more."


class ScriptError(InstanceError):
    """A generated script did not report success.  ``details`` holds ``iris_error`` and ``output_tail``."""


class UnreachableError(IrisOpsError):
    exit_code = 6
    default_fix = "Check that the container is running (`docker ps`) and that DOCKER_HOST / --container are right."


class AuthenticationError(UnreachableError):
    default_fix = (
        "iris session asked for a login. Enable OS authentication for the instance "
        "(Security.System AutheEnabled includes OS), or configure a user with "
        "IRIS_OPS_USERNAME / IRIS_OPS_PASSWORD."
    )


class DeadlineExceeded(UnreachableError):
    default_fix = "The instance did not answer in time; raise --timeout or check the container's load."


#: Exit status of a run stopped by Ctrl-C (after cleanup ran); SIGTERM and SIGHUP give 128 + signal.
EXIT_INTERRUPTED = 130
EXIT_HANGUP = 129
EXIT_TERMINATED = 143
#: Exit status of a task whose stdout was closed by its reader (``iris-ops plugins | head -1``).
EXIT_STDOUT_CLOSED = 141

#: Every exit status of every task, and what it means (the README's table is generated from it).
EXIT_CODES = {
    0: "success",
    1: "unexpected internal error (a bug: rerun with -v and report the traceback)",
    2: "bad input or usage: invalid name or flag, missing or malformed fixture, unconfirmed destruction, "
       "this host's disk full (free space or write elsewhere)",
    3: "conflict: the target already exists, or a refused operation on a system namespace or database",
    4: "validation failed: checksum, DAT label, row counts",
    5: "the instance refused or failed an operation (error status, freeze, mount)",
    6: "the container or instance cannot be reached (also: a container without an `iris` command, not an IRIS "
       "container)",
    EXIT_HANGUP: "stopped by SIGHUP (terminal closed); the same cleanup as Ctrl-C ran",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); cleanup ran",
    EXIT_STDOUT_CLOSED: "stdout was closed by its reader (e.g. piped into `head`) while a task was writing",
    EXIT_TERMINATED: "stopped by SIGTERM (how CI runners stop a job); the same cleanup as Ctrl-C ran",
}
