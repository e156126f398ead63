"""The shell scripts that put a file in place on the instance's machine, with its owner and mode:
shared by the transports that run commands there (docker: in the container; ssh: on the host, or
in its container).

Values always travel as positional arguments (``sh -c SCRIPT sh ARG...``), never inside the
script text.  Only the file's own directory (made here, or empty: a database directory a restore
just created) gets the file's owner and the directory mode; one that already holds files (the
manager directory, say) is never changed behind IRIS's back.  A directory where the file goes is
refused (exit status 4).  The utilities they use (sh, mkdir, ls, cat, wc, chown, chmod, mv, rm,
id) exist in IRIS images, in the simulated image and on every Linux host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from iris_ops.transports.base import ExecResult

__all__ = [
    "MAKE_PARENT", "WRITE_STDIN", "WRITE_ARGUMENTS", "ARGUMENTS_LIMIT", "PLACE", "finish_argv", "write_stdin_argv", "write_arguments_argv",
    "place_argv", "list_argv", "read_listing",
]

#: Arguments: $1 parent, $2 target.  Creates the parent when missing and prints whether it is
#: the file's own (``own``) or ``shared``.
MAKE_PARENT = (
    'if [ -d "$2" ]; then echo "$2 is a directory" >&2; exit 4; fi; '
    'if [ ! -d "$1" ]; then mkdir -p "$1" && echo own; '
    'elif [ -z "$(ls -A "$1")" ]; then echo own; else echo shared; fi'
)

#: One command for a file whose bytes come on stdin: the parent is made (and said to be the
#: file's own as in :data:`MAKE_PARENT`), the bytes land in a temporary file beside the target,
#: which must hold exactly the announced size (a client that dies mid-write sends end of input
#: early), gets its owner and mode and is renamed into place; the file's own directory gets the
#: owner and ``dir_mode`` last.  A failure before the rename removes the temporary file (the
#: trap).  Arguments: $1 parent, $2 target, $3 temporary name, $4 size, $5 owner:group, $6 file
#: mode, $7 directory mode or "".
WRITE_STDIN = (
    'set -e; own=0; '
    'if [ ! -d "$1" ]; then mkdir -p "$1"; own=1; elif [ -z "$(ls -A "$1")" ]; then own=1; fi; '
    'if [ -d "$2" ]; then echo "$2 is a directory" >&2; exit 4; fi; '
    "trap 'rm -f \"$3\"' EXIT; cat > \"$3\"; n=$(wc -c < \"$3\"); "
    'if [ $((n)) -ne "$4" ]; then echo "received $((n)) of $4 bytes" >&2; exit 3; fi; '
    'chown "$5" "$3"; chmod "$6" "$3"; mv -f "$3" "$2"; trap - EXIT; '
    'if [ "$own" = 1 ] && [ -n "$7" ]; then chown "$5" "$1"; chmod "$7" "$1"; fi'
)

#: Several small text files in one command, each as :data:`WRITE_STDIN` writes one (parent,
#: temporary file of exactly the announced size, owner and mode, rename, the file's own
#: directory last), in order; their bytes travel as arguments (``printf '%s'``), so only text
#: without NUL bytes, shown in the process list while it runs (never a secret).  A failure
#: stops at that file and removes its temporary file; the files before it stay written.
#: Arguments: $1 owner:group, $2 file mode, $3 directory mode or "", then five for each file:
#: parent, target, temporary name, size, text.
WRITE_ARGUMENTS = (
    'set -e; o=$1; fm=$2; dm=$3; shift 3; '
    'while [ $# -gt 0 ]; do '
    'own=0; if [ ! -d "$1" ]; then mkdir -p "$1"; own=1; elif [ -z "$(ls -A "$1")" ]; then own=1; fi; '
    'if [ -d "$2" ]; then echo "$2 is a directory" >&2; exit 4; fi; '
    "t=$3; trap 'rm -f \"$t\"' EXIT; printf '%s' \"$5\" > \"$t\"; n=$(wc -c < \"$t\"); "
    'if [ $((n)) -ne "$4" ]; then echo "$2: wrote $((n)) of $4 bytes" >&2; exit 3; fi; '
    'chown "$o" "$t"; chmod "$fm" "$t"; mv -f "$t" "$2"; trap - EXIT; '
    'if [ "$own" = 1 ] && [ -n "$dm" ]; then chown "$o" "$1"; chmod "$dm" "$1"; fi; '
    'shift 5; done'
)

#: At most this many bytes of files in all travel as the arguments of one :data:`WRITE_ARGUMENTS`
#: (Linux takes one argument of up to 128 KiB, and all of them with the environment up to a
#: quarter of the stack limit, 2 MiB by default).
ARGUMENTS_LIMIT = 64 * 1024

#: A file already written under a temporary name beside its target (by SFTP, say), put in place:
#: owner (only when run by root: anyone else cannot give a file away, as the local transport
#: does), mode, rename; then the file's own directory.  A failure before the rename removes the
#: temporary file.  Arguments: $1 temporary name, $2 target, $3 owner:group, $4 file mode,
#: $5 parent, $6 directory mode or "" (the parent is not the file's own).
PLACE = (
    'set -e; root=0; [ "$(id -u)" = 0 ] && root=1; '
    "trap 'rm -f \"$1\"' EXIT; "
    'if [ $root = 1 ]; then chown "$3" "$1"; fi; chmod "$4" "$1"; mv -f "$1" "$2"; trap - EXIT; '
    'if [ -n "$6" ]; then if [ $root = 1 ]; then chown "$3" "$5"; fi; chmod "$6" "$5"; fi'
)


def finish_argv(ownership: str, path: str, file_mode: int, parent: str, dir_mode: int | None) -> list[str]:
    """Owner and mode of the file (and of the directory we created) in one command: each command is
    a round trip (about 50 ms through a real engine), and a restore writes one file per database."""
    script = 'set -e; chown "$1" "$2"; chmod "$3" "$2"'
    argv = ["sh", "-c", script, "sh", ownership, path, format(file_mode, "o")]
    if dir_mode is not None:
        argv[2] = script + '; chown "$1" "$4"; chmod "$5" "$4"'
        argv += [parent, format(dir_mode, "o")]
    return argv


def write_stdin_argv(parent: str, path: str, temporary: str, size: int, ownership: str, file_mode: int,
                     dir_mode: int | None) -> list[str]:
    """The command that runs :data:`WRITE_STDIN`."""
    mode = "" if dir_mode is None else format(dir_mode, "o")
    return ["sh", "-c", WRITE_STDIN, "sh", parent, path, temporary, str(size), ownership, format(file_mode, "o"), mode]


def write_arguments_argv(files: "list[tuple[bytes, str]]", ownership: str, file_mode: int,
                         dir_mode: int | None) -> list[str] | None:
    """The command that runs :data:`WRITE_ARGUMENTS` for ``files`` ((bytes, path) each), or
    None when they cannot travel as arguments: more than :data:`ARGUMENTS_LIMIT` bytes in all,
    or one that is not UTF-8 text without NUL bytes."""
    import posixpath
    import secrets

    if not files or sum(len(data) for data, _ in files) > ARGUMENTS_LIMIT:
        return None
    mode = "" if dir_mode is None else format(dir_mode, "o")
    argv = ["sh", "-c", WRITE_ARGUMENTS, "sh", ownership, format(file_mode, "o"), mode]
    token = secrets.token_hex(6)
    for data, path in files:
        if b"\0" in data:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        argv += [posixpath.dirname(path), path, f"{path}.tmp-{token}", str(len(data)), text]
    return argv


def place_argv(temporary: str, path: str, ownership: str, file_mode: int, parent: str,
               dir_mode: int | None) -> list[str]:
    """The command that runs :data:`PLACE`."""
    mode = "" if dir_mode is None else format(dir_mode, "o")
    return ["sh", "-c", PLACE, "sh", temporary, path, ownership, format(file_mode, "o"), parent, mode]


def list_argv(path: str) -> list[str]:
    """The command that lists a directory's entries, a directory's name ending in ``/``."""
    return ["ls", "-1Ap", "--", path]


def read_listing(result: "ExecResult") -> list[str]:
    """The entries :func:`list_argv` printed; none for a directory that is not there."""
    if result.exit_code != 0:
        return []
    return [line for line in result.stdout.decode("utf-8", "replace").splitlines() if line]
