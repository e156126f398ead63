"""Copies that share their blocks with their source (reflinks), made outside IRIS, whose
``%Library.File.CopyFile`` copies every byte.

Two ways, one per built-in transport:

* in a container, ``cp --reflink=always`` run by a shell as the instance owner (GNU coreutils
  and busybox both have it), through one ``docker exec`` for a whole batch
  (:func:`shell_argv`, :func:`read_answers`);
* on this host, the ``FICLONE`` ioctl in this process (:func:`reflink_here`,
  :func:`probe_here`).

A copy the storage refuses (another filesystem, one that cannot share blocks, a ``cp`` without
``--reflink``) is an answer, not an error: ``Reflink(False, why)``, with no destination left.
The probe's scratch files never outlive the call: in a container the same shell removes them
when it exits (on a signal too); here they have no name at all (``O_TMPFILE``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from iris_ops.transports.base import Reflink

if TYPE_CHECKING:
    from iris_ops.transports.base import ExecResult

__all__ = ["FICLONE", "ABSENT", "SCRATCH", "shell_argv", "probe_argv", "read_answers", "reflink_here", "probe_here"]

#: ``_IOW(0x94, 9, int)``: clone a whole file (Linux 4.5, XFS and Btrfs).
FICLONE = 0x40049409
#: A directory the probe was asked about that does not exist.
ABSENT = "absent"
#: The probe's scratch file (``<dir>/iris-ops-reflink-probe-<token>``, and ``.copy``).
SCRATCH = "iris-ops-reflink-probe-"
#: One full block of data: some filesystems answer for an empty file without trying.
_SCRATCH_BYTES = 4096

# Arguments: source dest [source dest ...].  One answer line per pair: "ok", or "no<TAB>why".
_COPY = r"""
while [ $# -ge 2 ]; do
  if [ -e "$2" ]; then printf 'no\t%s exists\n' "$2"
  else
    mkdir -p -- "${2%/*}" 2>/dev/null
    if e=$(cp --reflink=always -- "$1" "$2" 2>&1) && e=$(chmod 660 -- "$2" 2>&1); then echo ok
    else rm -f -- "$2"; printf 'no\t%s\n' "$(printf %s "$e" | tr '\n\t' '  ')"; fi
  fi
  shift 2
done
"""

# Arguments: token dir [dir ...].  A scratch file in the first directory, reflinked into each.
_PROBE = r"""
t=$1; shift
s="$1/iris-ops-reflink-probe-$t"
trap 'for d in "$@"; do rm -f -- "$d/iris-ops-reflink-probe-$t" "$d/iris-ops-reflink-probe-$t.copy"; done' EXIT
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
if ! e=$(dd if=/dev/zero of="$s" bs=4096 count=1 2>&1); then
  for d in "$@"; do printf 'no\tcannot write a scratch file in %s: %s\n' "$1" "$(printf %s "$e" | tr '\n\t' '  ')"; done
  exit 0
fi
for d in "$@"; do
  if [ ! -d "$d" ]; then printf 'no\tabsent\n'
  elif e=$(cp --reflink=always -- "$s" "$d/iris-ops-reflink-probe-$t.copy" 2>&1); then echo ok
  else printf 'no\t%s\n' "$(printf %s "$e" | tr '\n\t' '  ')"; fi
done
"""


def shell_argv(pairs: list[tuple[str, str]]) -> list[str]:
    """The command that reflinks ``pairs`` (run as the instance owner)."""
    return ["sh", "-c", _COPY, "sh", *(path for pair in pairs for path in pair)]


def probe_argv(token: str, directories: list[str]) -> list[str]:
    return ["sh", "-c", _PROBE, "sh", token, *(d.rstrip("/") or "/" for d in directories)]


def read_answers(result: "ExecResult", count: int) -> list[Reflink]:
    """One :class:`Reflink` per line the shell printed; a line it never printed (it was killed,
    it could not start) is a refusal carrying its exit status and error output."""
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    why = result.stderr.decode("utf-8", "replace").strip().replace("\n", " ") or f"exit status {result.exit_code}"
    answers = []
    for index in range(count):
        line = lines[index] if index < len(lines) else f"no\t{why}"
        word, _, reason = line.partition("\t")
        answers.append(Reflink(True) if word == "ok" else Reflink(False, reason or why))
    return answers


# --- on this host -------------------------------------------------------------------------------

def _clone(source_fd: int, dest_fd: int) -> None:
    import fcntl

    fcntl.ioctl(dest_fd, FICLONE, source_fd)


def reflink_here(source: str, dest: str) -> Reflink:
    """Reflink ``source`` to the new file ``dest`` (mode 660) in this process."""
    if os.path.lexists(dest):
        return Reflink(False, f"{dest} exists")
    try:
        src = os.open(source, os.O_RDONLY)
    except OSError as exc:
        return Reflink(False, f"{source}: {exc.strerror}")
    try:
        try:
            dst = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o660)
        except OSError as exc:
            return Reflink(False, f"{dest}: {exc.strerror}")
        try:
            _clone(src, dst)
            os.fchmod(dst, 0o660)
        except OSError as exc:
            os.unlink(dest)
            return Reflink(False, exc.strerror or str(exc))
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return Reflink(True)


def probe_here(directories: list[str]) -> dict[str, Reflink]:
    """A nameless scratch file (``O_TMPFILE``) in ``directories[0]``, cloned into a nameless file
    in each directory: nothing to remove, whatever happens to this process."""
    tmpfile = getattr(os, "O_TMPFILE", None)
    if tmpfile is None:
        return {d: Reflink(False, "this system has no O_TMPFILE") for d in directories}
    try:
        src = os.open(directories[0], tmpfile | os.O_RDWR, 0o600)
    except OSError as exc:
        return {d: Reflink(False, f"cannot make a scratch file in {directories[0]}: {exc.strerror}")
                for d in directories}
    found: dict[str, Reflink] = {}
    try:
        os.write(src, b"\0" * _SCRATCH_BYTES)
        for directory in directories:
            if not os.path.isdir(directory):
                found[directory] = Reflink(False, ABSENT)
                continue
            try:
                dst = os.open(directory, tmpfile | os.O_WRONLY, 0o600)
                try:
                    _clone(src, dst)
                finally:
                    os.close(dst)
                found[directory] = Reflink(True)
            except OSError as exc:
                found[directory] = Reflink(False, exc.strerror or str(exc))
    finally:
        os.close(src)
    return found
