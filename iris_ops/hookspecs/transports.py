"""Hook specifications of the transports: how scripts and files reach an instance."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from iris_ops.hookspecs.marker import hookspec

if TYPE_CHECKING:
    from iris_ops.transports.base import ExecResult, FileDigest, OpenSession, Reflink, Target

__all__ = [
    "run_objectscript", "exec_argument_call", "open_session", "read_file", "write_file", "write_files",
    "remove_path", "list_directory", "reflink_files", "probe_reflink",
]


# -------------------------------------------------------------------------------------------
# Transports: how scripts and files reach an instance.  All are firstresult.
# -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def run_objectscript(target: "Target", script: str, namespace: str, timeout: float) -> "ExecResult | None":
    """Run an ObjectScript ``script`` with ``iris session`` on the instance ``target`` names.

    Stops at the first non-None result.  Return None when ``target.transport`` is not yours.
    When the instance has OS authentication off, ``iris session`` asks for a login first.  Read
    the session's output as it comes and let :func:`iris_ops.transports.login.converse` answer
    it (``target.username`` to a ``Username:`` prompt, ``target.password`` to the ``Password:``
    prompt after it, nothing to any other question); send the script only when it returns True,
    and never put the credentials in argv, the environment, or ahead of the script.

    :param target: where to run: transport name, container, instance name, docker host, user.
    :param script: the complete script text, one statement per line, ending with ``Halt``.
    :param namespace: the namespace the session starts in (``-U``), already validated.
    :param timeout: seconds the whole call may take; raise
        :class:`iris_ops.errors.DeadlineExceeded` past it.
    :returns: the process exit status and its raw output.

    Example::

        import subprocess
        from iris_ops.transports.base import ExecResult

        @hookimpl
        def run_objectscript(target, script, namespace, timeout):
            if target.transport != "podman":
                return None  # not ours: another transport answers
            done = subprocess.run(["podman", "exec", "-i", target.container, "iris", "session", target.instance, "-U",
                                   namespace], input=script.encode(), capture_output=True, timeout=timeout)
            return ExecResult(exit_code=done.returncode, stdout=done.stdout, stderr=done.stderr)
    """


@hookspec(firstresult=True)
def exec_argument_call(target: "Target", entry: str, namespace: str, timeout: float) -> "ExecResult | None":
    """Run ``iris session <instance> -U <namespace> "<entry>"``: a single call passed as argument.

    Stops at the first non-None result.  Used where IRIS documents the command-line form, such
    as ``Backup.General.ExternalThaw()`` (exit status 5 on success, 3 on failure), which skips
    the normal login that can hang while the instance is frozen.  A login it asks for is
    answered as in :func:`run_objectscript` (``converse(..., interactive=False)``).

    :param target: where to run (see :func:`run_objectscript`).
    :param entry: the call, built by :mod:`iris_ops.objectscript`, e.g.
        ``##Class(Backup.General).ExternalThaw()``.
    :param namespace: the namespace for ``-U``.
    :param timeout: seconds the call may take.

    Example::

        import subprocess
        from iris_ops.transports.base import ExecResult

        @hookimpl
        def exec_argument_call(target, entry, namespace, timeout):
            if target.transport != "podman":
                return None
            done = subprocess.run(["podman", "exec", target.container, "iris", "session", target.instance, "-U",
                                   namespace, entry], capture_output=True, timeout=timeout)
            return ExecResult(exit_code=done.returncode, stdout=done.stdout, stderr=done.stderr)
    """


@hookspec(firstresult=True)
def open_session(target: "Target", namespace: str, timeout: float) -> "OpenSession | None":
    """Start ``iris session`` on the instance ``target`` names and keep its stdin open.

    Stops at the first non-None result.  Return None when ``target.transport`` is not yours.
    iris-ops holds its per-namespace locks (:mod:`iris_ops.locks`) in such a session: the lock
    lives exactly as long as the process, so the session must end when its stdin is closed
    **and** when this iris-ops process dies (a pipe, or a connection the far side closes).
    Answer a login it asks for first (``OpenSession.log_in``, see :func:`run_objectscript`).

    :param target: where to run (see :func:`run_objectscript`).
    :param namespace: the namespace for ``-U``.
    :param timeout: seconds starting the session may take.
    :returns: an :class:`iris_ops.transports.base.OpenSession` (``send``, ``read_until``, ``close``).

    Example::

        from iris_ops.transports.base import OpenSession

        @hookimpl
        def open_session(target, namespace, timeout):
            if target.transport != "podman":
                return None
            return MyPodmanSession(target, namespace)  # an OpenSession over `podman exec -i ... iris session`
    """


@hookspec(firstresult=True)
def read_file(target: "Target", path: str, dest: BinaryIO, timeout: float) -> "FileDigest | None":
    """Stream the file at ``path`` inside the instance's host or container into ``dest``.

    Stops at the first non-None result.  Memory stays bounded whatever the file size, and the
    sha256 is computed in the same pass as the copy.

    :param target: where the file lives.
    :param path: absolute path of a regular file, as the instance sees it.
    :param dest: a binary file object open for writing on this machine.
    :param timeout: seconds the transfer may take.
    :returns: bytes copied and their sha256.

    Example::

        import hashlib, subprocess
        from iris_ops.transports.base import FileDigest

        @hookimpl
        def read_file(target, path, dest, timeout):
            if target.transport != "podman":
                return None
            proc = subprocess.Popen(["podman", "exec", target.container, "cat", path], stdout=subprocess.PIPE)
            digest, size = hashlib.sha256(), 0
            for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
                dest.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            proc.wait(timeout=timeout)
            return FileDigest(bytes=size, sha256=digest.hexdigest())
    """


@hookspec(firstresult=True)
def write_file(target: "Target", src: BinaryIO, size: int, path: str, timeout: float) -> "FileDigest | None":
    """Stream ``src`` into the file ``path`` on the instance's host or container.

    Stops at the first non-None result.  The parent directory is created if needed; afterwards
    the file is owned by the instance owner (``target.owner``) with mode 660 and its directory
    770.  Nothing temporary is left behind on failure.

    :param target: where the file goes.
    :param src: a binary file object positioned at the start of the data.
    :param size: the number of bytes to copy from ``src``.
    :param path: absolute destination path as the instance sees it.
    :param timeout: seconds the transfer may take.
    :returns: bytes written and their sha256.

    Example::

        import hashlib, subprocess
        from iris_ops.transports.base import FileDigest

        @hookimpl
        def write_file(target, src, size, path, timeout):
            if target.transport != "podman":
                return None
            data = src.read(size)  # a real transport streams; this keeps the example short
            install = ["install", "-D", "-m", "660", "-o", target.owner, "/dev/stdin", path]
            subprocess.run(["podman", "exec", "-i", "-u", "root", target.container, *install], input=data, check=True,
                           timeout=timeout)
            return FileDigest(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    """


@hookspec(firstresult=True)
def write_files(target: "Target", files: "list[tuple[bytes, str]]", timeout: float) -> "bool | None":
    """Write several small files, in order, in one round trip: ``files`` is a list of
    ``(data, path)``, each written whole as :func:`write_file` writes one (its parent created,
    owner and modes the same).  iris-ops writes a restore's journal and the provenance marker of
    each database it creates this way: one exec through a real engine instead of one per file.

    Stops at the first non-None result.  A transport that does not take them all in one call
    (or cannot, for these files) returns None: iris-ops then calls :func:`write_file` for each.
    A failure raises, leaving the files before the one that failed written, as separate calls
    would; none is left half written.  The built-in transports send the bytes as the arguments of
    one command, so they show in the process list while it runs: never a secret.

    :param target: where the files go.
    :param files: (bytes, absolute path as the instance sees it), in the order to write them.
    :param timeout: seconds the call may take.
    :returns: True once every file is written, or None.

    Example::

        @hookimpl
        def write_files(target, files, timeout):
            return None  # one write_file each: always correct, one round trip per file
    """


@hookspec(firstresult=True)
def remove_path(target: "Target", path: str, timeout: float) -> "bool | None":
    """Remove ``path`` (file or directory tree) on the instance's host or container, as root.

    Stops at the first non-None result.  Used only for cleanup of what iris-ops itself
    created; removing a path that does not exist is not an error.

    :param target: where the path lives.
    :param path: absolute path as the instance sees it.
    :param timeout: seconds the call may take.
    :returns: True once the path no longer exists.

    Example::

        import subprocess

        @hookimpl
        def remove_path(target, path, timeout):
            if target.transport != "podman":
                return None
            subprocess.run(["podman", "exec", "-u", "root", target.container, "rm", "-rf", "--", path], check=True,
                           timeout=timeout)
            return True
    """


@hookspec(firstresult=True)
def list_directory(target: "Target", path: str, timeout: float) -> "list[str] | None":
    """The names in directory ``path`` on the instance's host or container (directories end in
    ``/``; ``[]`` when it does not exist).

    Stops at the first non-None result.  ``iris-ops doctor`` uses it to find what a crashed
    run of iris-ops left in the manager directory (staging directories, unfinished plans).

    :param target: where the directory lives.
    :param path: absolute path as the instance sees it.
    :param timeout: seconds the call may take.
    :returns: the names, unsorted.

    Example::

        import subprocess

        @hookimpl
        def list_directory(target, path, timeout):
            if target.transport != "podman":
                return None
            done = subprocess.run(["podman", "exec", target.container, "ls", "-1Ap", "--", path],
                                  capture_output=True, text=True, timeout=timeout)
            return done.stdout.splitlines() if done.returncode == 0 else []
    """


@hookspec(firstresult=True)
def reflink_files(target: "Target", pairs: list[tuple[str, str]], timeout: float) -> "list[Reflink] | None":
    """Make each ``(source, dest)`` of ``pairs`` a copy that shares its blocks with its source
    (a reflink: ``cp --reflink=always``, the FICLONE ioctl), as the instance owner would.

    Stops at the first non-None result; return None when ``target.transport`` is not yours (or
    you cannot reflink: iris-ops then copies every byte inside the instance, as without this
    hook).  ``dest`` does not exist yet; its directory is created if missing.  A reflink the
    storage refuses (another filesystem, one that cannot share blocks) is not an error: answer
    ``Reflink(False, reason)`` and leave no ``dest`` behind.  A made ``dest`` is owned by
    ``target.owner`` with mode 660.

    :param target: where the files live.
    :param pairs: absolute (source, dest) paths as the instance sees them.
    :param timeout: seconds the call may take.
    :returns: one :class:`iris_ops.transports.base.Reflink` per pair, in order.

    Example::

        import subprocess
        from iris_ops.transports.base import Reflink

        @hookimpl
        def reflink_files(target, pairs, timeout):
            if target.transport != "podman":
                return None
            done = [subprocess.run(["podman", "exec", target.container, "cp", "--reflink=always", "--", src, dst],
                                   capture_output=True, text=True, timeout=timeout) for src, dst in pairs]
            return [Reflink(d.returncode == 0, d.stderr.strip()) for d in done]
    """


@hookspec(firstresult=True)
def probe_reflink(target: "Target", directories: list[str], timeout: float) -> "dict[str, Reflink] | None":
    """Whether a file in ``directories[0]`` can share its blocks with a copy in each of
    ``directories``, tried with a scratch file as :func:`reflink_files` would copy.

    Stops at the first non-None result; None as for :func:`reflink_files`.  The scratch files
    are gone when the call returns, also when it is interrupted (removed in the same process
    that makes them, or never given a name).  A directory that does not exist answers
    ``Reflink(False, "absent")``.

    :param target: where the directories live.
    :param directories: absolute paths as the instance sees them (the manager directory first).
    :param timeout: seconds the call may take.
    :returns: a :class:`iris_ops.transports.base.Reflink` for each directory.

    Example::

        import subprocess
        from iris_ops.transports.base import ExecResult
        from iris_ops.transports.reflink import probe_argv, read_answers

        @hookimpl
        def probe_reflink(target, directories, timeout):
            if target.transport != "podman":
                return None
            command = probe_argv("0" * 12, directories)  # the docker transport's shell
            done = subprocess.run(["podman", "exec", target.container, *command], capture_output=True, timeout=timeout)
            return dict(zip(directories, read_answers(ExecResult(done.returncode, done.stdout, done.stderr),
                                                      len(directories))))
    """
