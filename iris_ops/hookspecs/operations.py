"""Hook specifications of the operations: observe or veto backup, restore, delete-ns and validate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iris_ops.hookspecs.marker import hookspec

if TYPE_CHECKING:
    from iris_ops.fixture import Fixture, Manifest
    from iris_ops.operation import Operation

__all__ = ["pre_backup", "post_backup", "pre_restore", "post_restore", "pre_delete", "post_delete", "validate"]


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
