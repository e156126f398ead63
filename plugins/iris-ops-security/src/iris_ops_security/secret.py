"""Where a password comes from (an environment variable or stdin, never argv) and how it reaches
the instance without appearing in a script, a command line or a log.

The password is encoded as UTF-8 and masked with a one-time pad of random bytes (byte-wise
addition modulo 256).  The masked bytes, Base64-encoded, go into a file of a fresh directory
under the manager directory, through the transport's ``write_file`` hook (a tar stream for
docker, the filesystem for the local transport; mode 660, directory 770, owner irisowner).  The
pad goes into the script.  Neither half alone says anything about the password; the script
removes the directory whatever happens, and the task removes it again if the script could not.
"""

from __future__ import annotations

import base64
import io
import os
import re
import sys
from typing import TYPE_CHECKING

from iris_ops import redact
from iris_ops.errors import InstanceError, IrisOpsError, UsageError

if TYPE_CHECKING:
    from iris_ops.operation import Operation

    from .script_builders import Secret

__all__ = ["PASSWORD_ENV", "read_password", "password_from_env", "stage", "discard", "STAGED", "leftovers"]

#: The environment variable read by default.
PASSWORD_ENV = "IRIS_OPS_NEW_PASSWORD"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The one-time directory :func:`stage` makes, as the manager directory's listing shows it.
STAGED = re.compile(r"^iris-ops-secret-[0-9a-f]{16}/$")


def read_password(env_name: str = "", from_stdin: bool = False) -> str:
    """The new password: the first line of stdin with ``from_stdin`` (asked for without echo when
    stdin is a terminal), else the environment variable ``env_name`` (default
    :data:`PASSWORD_ENV`).  Errors never quote it."""
    if from_stdin and sys.stdin.isatty():
        import getpass

        try:
            password = getpass.getpass("New password: ")  # a terminal: ask without echo
        except EOFError:  # Ctrl-D at the prompt: the user gave no password and changed nothing
            raise UsageError("no password given: the prompt was closed (Ctrl-D); nothing was changed",
                             fix="Run it again and type the new password at the prompt, or pipe it in with "
                             f"--password-stdin, or set {PASSWORD_ENV}.") from None
        where = "the terminal"
    elif from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
        where = "stdin"
    else:
        env_name = env_name or PASSWORD_ENV
        if not _ENV_NAME.match(env_name):
            # not quoted: someone may have typed the password itself here
            raise UsageError("--password-env is not the name of an environment variable",
                             fix="--password-env takes a variable's name (letters, digits, _), never a password.")
        password = os.environ.get(env_name, "")
        where = f"the environment variable {env_name}"
    if not password:
        raise UsageError(f"no password in {where}",
                         fix=f"Set {env_name or PASSWORD_ENV} (or name another one with --password-env), "
                         "or pipe it in with --password-stdin. Passwords are never command-line arguments.")
    return _usable(password, where)


def password_from_env(env_name: str, what: str) -> str:
    """The password of ``what`` (a user of a desired state) in the environment variable
    ``env_name``, which its ``password_env`` names (checked as a name already)."""
    password = os.environ.get(env_name, "")
    if not password:
        raise UsageError(f"{what}: no password in the environment variable {env_name} (its password_env)",
                         fix=f"Set {env_name} to the password before running iris-ops; a state file names the "
                             "variable, never the password.")
    return _usable(password, f"the environment variable {env_name}")


def _usable(password: str, where: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):
        raise UsageError(f"the password from {where} holds a control character",
                         fix="Use letters, digits, punctuation and spaces (IRIS's default password pattern).")
    # masked wherever it could surface, as IRIS_OPS_NEW_PASSWORD is by its name; --password-env
    # may name any variable, and stdin has no name at all
    redact.remember(password)
    return password


def stage(op: "Operation", password: str, manager_directory: str, *, for_read: bool = False) -> "Secret":
    """Write the masked password to a one-time file inside the instance (not in a dry run,
    unless it is ``for_read``: for a read-only script, which runs in a dry run too) and return
    where it is and the pad the script needs."""
    import secrets

    from .script_builders import Secret

    data = password.encode("utf-8")
    pad = secrets.token_bytes(len(data))
    payload = base64.b64encode(bytes((d + p) % 256 for d, p in zip(data, pad)))
    directory = f"{manager_directory.rstrip('/')}/iris-ops-secret-{secrets.token_hex(8)}/"
    staged = Secret(directory=directory, path=directory + "s", pad=base64.b64encode(pad).decode("ascii"),
                    size=len(payload))
    if op.dry_run and not for_read:
        op.runner.show_command(f"write a one-time file {staged.path} (the masked password; mode 660, "
                               "removed by the script)")
    else:
        op.runner.write_file(io.BytesIO(payload), len(payload), staged.path, timeout=op.settings.timeout)
    return staged


def discard(op: "Operation", staged: "Secret", removed: bool, *, for_read: bool = False) -> None:
    """Remove the one-time directory when the script could not say it did.  A failure here is
    logged, not raised: it must not hide the error that stopped the script."""
    if removed or (op.dry_run and not for_read):
        return
    try:
        op.runner.remove_path(staged.directory.rstrip("/"))
        op.log.info("secret.removed", by="transport", directory=staged.directory)
    except IrisOpsError as exc:
        op.log.warning("secret.not_removed", directory=staged.directory, error=exc.message,
                       fix="Remove that directory by hand; it holds the masked password.")


def leftovers(op: "Operation", manager_directory: str, entries: list[str]) -> list:
    """``doctor``'s findings: one-time directories a task killed before its script ran (or
    before it removed them) left in the manager directory; each holds a masked password."""
    from iris_ops.leftovers import Leftover

    found = []
    for entry in entries:
        if STAGED.match(entry):
            path = manager_directory.rstrip("/") + "/" + entry
            found.append(Leftover("secret", path, "a one-time password directory of an interrupted security task "
                                  "(it holds a masked password)", "remove the directory",
                                  lambda p=path: _remove_staged(op, p)))
    return found


def _remove_staged(op: "Operation", path: str) -> None:
    if not op.runner.remove_path(path.rstrip("/"), timeout=op.settings.timeout):
        raise InstanceError(f"could not remove {path}", fix="Remove that directory by hand; it holds a masked password.")
