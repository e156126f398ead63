"""Hook specifications: every extension point of iris-ops, in one place.

Plugins implement these with the :data:`iris_ops.hookimpl` marker, by name.  Built-in plugins
(backup, restore, delete-ns, validate, the transports) use exactly the same hooks and are
registered through the same call as installed plugins; built-in implementations of
``firstresult`` hooks are ``trylast`` so an installed plugin can take over.

Hooks are always called with keyword arguments; an implementation may accept any subset of
the parameters documented below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO, Callable

import pluggy

from iris_ops import PROJECT_NAME

if TYPE_CHECKING:
    from iris_ops.fixture import Fixture, Manifest
    from iris_ops.leftovers import Leftover
    from iris_ops.operation import Operation
    from iris_ops.registrar import TaskRegistrar
    from iris_ops.transports.base import ExecResult, FileDigest, OpenSession, Reflink, Target

__all__ = [
    "hookspec", "config_defaults", "register_tasks", "run_objectscript", "exec_argument_call",
    "open_session", "read_file", "write_file", "remove_path", "list_directory", "reflink_files", "probe_reflink",
    "pre_backup", "post_backup", "pre_restore", "post_restore", "pre_delete", "post_delete", "validate",
    "doctor_findings", "start_simulated_instance",
]

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# -------------------------------------------------------------------------------------------
# Start-up: configuration and tasks
# -------------------------------------------------------------------------------------------


@hookspec
def config_defaults() -> dict[str, Any]:
    """Return default values for settings this plugin adds (or changes).

    Called once when settings are loaded, before the project file, the ``IRIS_OPS_*``
    environment variables and task flags are applied on top.  Keys are setting names
    (``snake_case``); each becomes configurable as ``IRIS_OPS_<NAME>`` and in the project file.

    Takes no parameters.

    Example::

        @hookimpl
        def config_defaults():
            # now settable as IRIS_OPS_PROTECTED_NAMESPACES=PROD,BILLING or in iris-ops.toml
            return {"protected_namespaces": []}
    """


@hookspec
def register_tasks(registrar: "TaskRegistrar") -> None:
    """Contribute invoke tasks to the ``iris-ops`` / ``inv`` collection.

    Called once while the task collection is built, which must do no I/O and import neither
    ``docker`` nor ``iris`` (keep heavy imports inside task bodies).

    :param registrar: call ``registrar.add_task(task)`` or ``registrar.add_collection(coll)``.
        Two plugins registering the same task name is an error naming both.

    Example::

        from iris_ops.task import task

        @task(required=("ns",), help={"ns": "namespace to greet"})
        def hello(c, ns=""):
            "Say hello to a namespace."
            print(f"hello {ns}")

        @hookimpl
        def register_tasks(registrar):
            registrar.add_task(hello)
    """


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
            if target.transport != "ssh":
                return None  # not ours: another transport answers
            done = subprocess.run(["ssh", target.container, "iris", "session", target.instance, "-U", namespace],
                                  input=script.encode(), capture_output=True, timeout=timeout)
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
            if target.transport != "ssh":
                return None
            done = subprocess.run(["ssh", target.container, "iris", "session", target.instance, "-U", namespace,
                                   entry], capture_output=True, timeout=timeout)
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
            if target.transport != "ssh":
                return None
            return MySshSession(target, namespace)  # an OpenSession over `ssh host iris session ...`
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
            if target.transport != "ssh":
                return None
            proc = subprocess.Popen(["ssh", target.container, "cat", path], stdout=subprocess.PIPE)
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
            if target.transport != "ssh":
                return None
            data = src.read(size)  # a real transport streams; this keeps the example short
            install = f"install -D -m 660 -o {target.owner} /dev/stdin {path}"
            subprocess.run(["ssh", target.container, install], input=data, check=True, timeout=timeout)
            return FileDigest(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
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
            if target.transport != "ssh":
                return None
            subprocess.run(["ssh", target.container, "rm", "-rf", "--", path], check=True, timeout=timeout)
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
            if target.transport != "ssh":
                return None
            done = subprocess.run(["ssh", target.container, "ls", "-1Ap", "--", path],
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

        import shlex, subprocess
        from iris_ops.transports.base import Reflink

        @hookimpl
        def reflink_files(target, pairs, timeout):
            if target.transport != "ssh":
                return None
            done = [subprocess.run(["ssh", target.container, shlex.join(["cp", "--reflink=always", "--", src, dst])],
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

        import shlex, subprocess
        from iris_ops.transports.base import ExecResult
        from iris_ops.transports.reflink import probe_argv, read_answers

        @hookimpl
        def probe_reflink(target, directories, timeout):
            if target.transport != "ssh":
                return None
            command = shlex.join(probe_argv("0" * 12, directories))  # the docker transport's shell
            done = subprocess.run(["ssh", target.container, command], capture_output=True, timeout=timeout)
            return dict(zip(directories, read_answers(ExecResult(done.returncode, done.stdout, done.stderr),
                                                      len(directories))))
    """


# -------------------------------------------------------------------------------------------
# Operations: observe or veto.  Raise an IrisOpsError (e.g. VetoedError) from a pre_* hook to
# refuse the operation before it touches the instance.
# -------------------------------------------------------------------------------------------


@hookspec
def pre_backup(operation: "Operation", namespace: str, out: str) -> None:
    """Called before a backup touches the instance, after names are validated.

    Raise :class:`iris_ops.errors.VetoedError` (or another IrisOpsError) to refuse.

    :param operation: the running operation: settings, runner, logger, dry-run flag.
    :param namespace: the namespace to back up (upper case).
    :param out: the fixture directory that will be written.

    Example::

        from iris_ops.errors import VetoedError

        @hookimpl
        def pre_backup(operation, namespace):
            if namespace in operation.settings.get("protected_namespaces", []):
                raise VetoedError(f"my-plugin: namespace {namespace} is protected")
    """


@hookspec
def post_backup(operation: "Operation", namespace: str, out: str, manifest: "Manifest") -> None:
    """Called after a backup wrote its fixture directory successfully.

    :param operation: the running operation.
    :param namespace: the namespace that was backed up.
    :param out: the fixture directory, complete and renamed into place.
    :param manifest: the manifest written to ``out/manifest.json``.

    Example::

        @hookimpl
        def post_backup(operation, out, manifest):
            operation.log.info("my_plugin.backed_up", fixture=out, tables=len(manifest.tables))
    """


@hookspec
def pre_restore(operation: "Operation", fixture: "Fixture", namespace: str) -> None:
    """Called after the fixture validated offline and before the instance is changed.

    Raise :class:`iris_ops.errors.VetoedError` to refuse.

    :param operation: the running operation.
    :param fixture: the loaded fixture (``fixture.manifest``, ``fixture.path``).
    :param namespace: the namespace that will be created (upper case).

    Example::

        from iris_ops.errors import VetoedError

        @hookimpl
        def pre_restore(fixture, namespace):
            if not namespace.startswith("TEST"):
                raise VetoedError(f"my-plugin: restore only into TEST* namespaces, not {namespace}")
    """


@hookspec
def post_restore(operation: "Operation", fixture: "Fixture", namespace: str, databases: list[str]) -> None:
    """Called after a restore completed and verified.

    Raising here fails the restore, which is then rolled back completely.  With ``--force`` over
    an existing namespace, the new one is verified under a staging name (``IRISOPS-NEW-<8 hex>``,
    databases ``IRISOPS-NEW-<8 hex>-<n>``) beside the old one, and this is called then: the names
    given are the staging ones, and raising still keeps the old namespace exactly as it was.  It
    takes the old one's place (and its final names) once this returns.

    :param operation: the running operation.
    :param fixture: the fixture that was restored.
    :param namespace: the namespace created (the staging one when replacing).
    :param databases: names of the databases created for it.

    Example::

        @hookimpl
        def post_restore(operation, namespace):
            # Raising here rolls the restore back; this only records it.
            operation.log.info("my_plugin.restored", namespace=namespace)
    """


@hookspec
def pre_delete(operation: "Operation", namespace: str) -> None:
    """Called before a namespace and its databases are deleted.

    Raise :class:`iris_ops.errors.VetoedError` to refuse.

    :param operation: the running operation.
    :param namespace: the namespace to delete (upper case).

    Example::

        from iris_ops.errors import VetoedError

        @hookimpl
        def pre_delete(namespace):
            if namespace == "APP":
                raise VetoedError("my-plugin: APP is never deleted")
    """


@hookspec
def post_delete(operation: "Operation", namespace: str, steps: list[dict]) -> None:
    """Called after a namespace was deleted (or found absent).

    :param operation: the running operation.
    :param namespace: the namespace deleted.
    :param steps: one dict per step taken (``{"step": ..., "target": ..., "result": ...}``).

    Example::

        @hookimpl
        def post_delete(operation, namespace, steps):
            kept = [s["target"] for s in steps if s["result"].startswith("kept")]
            operation.log.info("my_plugin.deleted", namespace=namespace, kept=kept)
    """


@hookspec
def validate(operation: "Operation", fixture: "Fixture", online: bool, namespace: "str | None") -> "list | None":
    """Check a fixture; return a list of :class:`iris_ops.fixture.Finding` (or None).

    Every implementation runs and all findings are reported together.  The built-in plugin
    checks schema, paths, sizes, sha256 digests and DAT labels; online, it also checks the
    namespace and row counts.

    :param operation: the running operation.
    :param fixture: the loaded fixture.
    :param online: True when ``--online`` asked to compare with a live namespace.
    :param namespace: the live namespace to compare with when ``online`` (else None).

    Example::

        from iris_ops.fixture import Finding

        @hookimpl
        def validate(fixture):
            described = bool(fixture.manifest.description.strip())
            return [Finding(file="manifest.json", check="description", ok=described,
                            expected="a description", actual="present" if described else "empty")]
    """


# -------------------------------------------------------------------------------------------
# Doctor: what an interrupted run left behind.
# -------------------------------------------------------------------------------------------


@hookspec
def doctor_findings(operation: "Operation", manager_directory: str, entries: list[str]) -> "list[Leftover] | None":
    """Report what an interrupted run of this plugin's tasks (``kill -9``, a lost container) left
    in the instance, for ``iris-ops doctor``.

    Every implementation runs; the findings are shown with doctor's own, doctor exits 4 while any
    remains, and ``doctor --fix`` calls each finding's ``action`` after confirmation (``--yes``:
    without asking), then looks again.  Report only what the plugin itself creates, recognised by
    a name only it gives, and repair only that: doctor never touches anything iris-ops did not
    create.  Called after doctor's own checks of the manager directory; not in a dry run.

    :param operation: the running ``doctor`` operation (``operation.runner`` reaches the instance).
    :param manager_directory: the instance's manager directory, ending in ``/``.
    :param entries: the names in it (a directory's ends in ``/``), listed once by doctor.
    :returns: a list of :class:`iris_ops.leftovers.Leftover` (``kind``, ``where``,
        ``problem``, ``repair``, ``action``; ``action=None`` reports what iris-ops must not
        repair), or None.

    Example::

        import re
        from iris_ops.leftovers import Leftover

        @hookimpl
        def doctor_findings(operation, manager_directory, entries):
            found = []
            for entry in entries:
                if re.fullmatch(r"my-plugin-tmp-[0-9a-f]{16}/", entry):
                    path = manager_directory + entry
                    found.append(Leftover("my-plugin", path, "a temporary directory of an interrupted run",
                                          "remove the directory", lambda p=path: operation.runner.remove_path(p)))
            return found
    """


# -------------------------------------------------------------------------------------------
# Test runs: instances made for a test session
# -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def start_simulated_instance(name: str) -> "tuple[dict[str, Any], Callable[[], None], str] | None":
    """Start a simulated IRIS instance for a test session (``pytest --iris-sim``).

    Stops at the first non-None result.

    iris-ops itself has no simulator: the ``iris-ops-sim`` plugin implements this hook.  When no
    plugin does, the pytest plugin says how to install one.

    :param name: a name for the instance, unique to the session (a container name, say).
    :return: ``(settings, stop, where)``: the settings that aim iris-ops at the instance (as
        ``iris-ops.toml`` keys: ``container``, ``docker_host``, ``transport``, ...), a callable
        that stops and removes it, and a phrase that says where it runs, for the test summary.

    Example::

        import subprocess

        @hookimpl
        def start_simulated_instance(name):
            subprocess.run(["my-iris-double", "start", name], check=True)
            stop = lambda: subprocess.run(["my-iris-double", "rm", name], check=True)
            return {"container": name, "transport": "docker"}, stop, f"my IRIS double {name}"
    """
