"""What a restore checks (:mod:`iris_ops.operations.restore`): before its first change, the
fixture's files without reading them whole, the target's version, and in one read-only session
the manager directory, the targets, the resources and the fixture cache, for each planned
database (:class:`PlannedDatabase`); and while the instance copies files from the fixture cache,
the sha256 of the fixture's own files (:class:`ServedFilesCheck`)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from iris_ops import names, script_builders
from iris_ops.errors import IrisOpsError, SystemTargetError, ValidationError

if TYPE_CHECKING:
    from iris_ops.fixture import Database, Fixture
    from iris_ops.operation import Operation

__all__ = [
    "PlannedDatabase", "warn_if_older", "Facts", "preflight", "check_fixture", "content_differs", "ServedFilesCheck",
    "fixture_check_always",
]


@dataclass
class PlannedDatabase:
    """A database the restore will create (:func:`iris_ops.operations.restore.plan` names it,
    :func:`preflight` places its directory)."""

    source: "Database"
    name: str
    directory: str
    resource: str
    #: Bytes of the file (the manifest's, else the file's own size).
    size: int = 0
    #: True when the file was copied from the instance's fixture cache instead of streamed.
    cached: bool = False
    #: The name it has once restored (``name`` is a staging name while a --force restore runs).
    final: str = ""
    #: How the file was put in place: ``stream``, or from the cache ``reflink`` or ``copy``
    #: (:mod:`iris_ops.storage`).
    method: str = "stream"
    #: How a streamed file was left in the cache (``reflink``, ``copy``), or None.
    cache_fill: str | None = None

    def __post_init__(self) -> None:
        self.final = self.final or self.name


def warn_if_older(op: "Operation", source, target_zversion: str) -> None:
    """A database written by a newer IRIS is not guaranteed to mount on an older one (IRIS.md §7)."""
    from iris_ops import versions

    src = versions.parse(source.iris_version)
    dst = versions.parse(target_zversion)
    if src is None or dst is None:
        op.log.warning("restore.version_unknown", source=source.iris_version, target=target_zversion,
                       note="cannot compare the IRIS versions")
        return
    if dst.older_than(src):
        op.log.warning("restore.older_target", source=str(src), target=str(dst),
                       note="the fixture was written by a newer IRIS: its databases are not guaranteed "
                       "to mount on this one")


@dataclass
class Facts:
    """What :func:`preflight` learnt in its one session."""

    manager_directory: str
    version: str
    #: User resources the instance lacks, each with whether its role is missing too.
    new_resources: dict[str, bool]
    #: The fixture cache (None with ``--no-cache``), and which digests it may serve {sha256: 0/1}.
    cache_dir: str | None
    in_cache: dict[str, int]
    #: What exists of the targets and whether a journal of an earlier restore into the namespace
    #: does, for :func:`iris_ops.operations.restore.check_targets`.
    found: dict
    #: Why the fixture cache may not serve a digest {sha256: why} (e.g. its file changed).
    cache_why: dict[str, str] = field(default_factory=dict)


def preflight(op: "Operation", namespace: str, planned: list[PlannedDatabase], use_cache: bool) -> Facts:
    """Everything that can be refused is refused here, before the first change, in one
    read-only session: the manager directory (which places each database's directory, set here
    on ``planned``), the target's version, what exists of the targets, the resources, and with
    ``use_cache`` what the fixture cache holds.  Every name and path is checked (building each
    script validates them), and a label naming a system resource the instance lacks is refused
    (iris-ops never creates a system resource: exit 3)."""
    from iris_ops import cache
    from iris_ops.operations import restore_journal

    globals_db = next(p.name for p in planned if p.source.has_globals)
    routines_db = next(p.name for p in planned if p.source.has_routines)
    script_builders.create_namespace(namespace, globals_db, routines_db)
    facts = op.runner.run(script_builders.restore_facts(
        namespace, [p.name for p in planned], [p.resource for p in planned],
        [(p.source.sha256, p.size) for p in planned] if use_cache else None,
        restore_journal.journal_names(namespace)), changes=False)
    manager_directory = names.directory(str(facts.get("manager_directory")), what="manager directory")
    for item in planned:
        item.directory = f"{manager_directory}{item.name.lower()}/"
        script_builders.make_directory(item.directory)
        if not names.is_system_resource(item.resource):
            script_builders.delete_resource(item.resource, with_role=True)
        script_builders.create_database(item.name, item.directory,
                                        None if names.is_system_resource(item.resource) else item.resource)
    if any(item.directory not in (facts.get("directories") or {}) for item in planned):
        # The instance placed them elsewhere than we would (a manager directory IRIS reports
        # unlike we normalise it): ask again about exactly our paths.
        facts.update(op.runner.run(script_builders.existing(namespace, [p.name for p in planned],
                                                            [p.directory for p in planned]), changes=False))
    cache_dir = cache.location(manager_directory) if use_cache else None
    in_cache = {sha: int(str(v) == "1") for sha, v in (facts.get("cache") or {}).items()}
    cache_why = {sha: str(v) for sha, v in (facts.get("cache_why") or {}).items()}
    if use_cache and facts.get("cache_dir") != cache_dir:
        op.log.warning("restore.cache_elsewhere", expected=cache_dir, instance=facts.get("cache_dir"),
                       note="the fixture cache is not used by this restore")
        in_cache = {}
    found = facts["resources"]
    missing: dict[str, bool] = {}
    for item in planned:
        status = found.get(names.resource(item.resource)) or {}
        if str(status.get("exists")) == "1":
            continue
        if names.is_system_resource(item.resource):
            raise SystemTargetError(
                f"the label of {item.source.name} names system resource {item.resource}, which "
                f"{op.target.describe()} lacks; iris-ops never creates system resources",
                fix="Restore into an instance that has it (every IRIS has %DB_%DEFAULT).",
            )
        missing[item.resource] = str(status.get("role_exists")) != "1"
    return Facts(manager_directory, str(facts.get("version") or ""), missing, cache_dir, in_cache, facts, cache_why)


def _compressed_findings(db: "Database", path: Path) -> list:
    from iris_ops import compression
    from iris_ops.fixture import Finding, hash_file

    compression.available()  # exit 2 with the install line, before reaching the instance
    size, digest = hash_file(path)
    wanted = db.compressed
    return [Finding(db.file, check, False, expected=expected, actual=actual, message="the compressed file differs "
                    "from the manifest") for check, expected, actual in (("compressed-size", wanted.bytes, size),
                                                                         ("compressed-sha256", wanted.sha256, digest))
            if expected != actual]


def check_fixture(op: "Operation", loaded: "Fixture", src: Path) -> None:
    """What can be checked without reading whole files: each file exists with the manifest's
    size, its label is plausible and names the manifest's resource and block size (a compressed
    file: its size and sha256); and what any other plugin's ``validate`` finds.  The sha256 is
    checked later: while the file streams, or, when the cache serves it, by
    :class:`ServedFilesCheck` while the instance copies the cached file."""
    from iris_ops import datlabel
    from iris_ops.fixture import Finding
    from iris_ops.operations import validate

    findings = []
    for db in loaded.databases:
        path = loaded.path_of(db)
        if not path.is_file():
            findings.append(Finding(db.file, "exists", False, expected="regular file", actual="missing",
                                    message=f"database {db.name}: file is missing"))
            continue
        if db.compressed is not None:
            # The compressed file is hashed here (it is small); its uncompressed bytes are checked
            # as they stream (the reader refuses other content), and its label by the mount.
            findings += _compressed_findings(db, path)
            continue
        size = path.stat().st_size
        if db.bytes is not None and size != db.bytes:
            findings.append(Finding(db.file, "size", False, expected=db.bytes, actual=size,
                                    message=f"size differs from the manifest by {size - db.bytes:+d} bytes"))
        problems = datlabel.check_label(path)
        if problems:
            findings.append(Finding(db.file, "dat-label", False, expected="plausible IRIS.DAT label",
                                    actual="; ".join(problems), message="not a plausible IRIS.DAT"))
            continue
        label = datlabel.read_label(path)
        if db.resource is not None and label.resource != db.resource:
            findings.append(Finding(db.file, "label-resource", False, expected=db.resource, actual=label.resource,
                                    message="the label names another resource than the manifest"))
        if db.block_size is not None and label.block_size != db.block_size:
            findings.append(Finding(db.file, "label-block-size", False, expected=db.block_size,
                                    actual=label.block_size, message="block size differs from the manifest"))
    others = op.pm.subset_hook_caller("validate", remove_plugins=[validate])
    findings += [f for group in others(operation=op, fixture=loaded, online=False, namespace=None) if group
                 for f in group]
    if any(not f.ok for f in findings):
        raise validate.failure(findings, str(src))


def content_differs(file: str, expected: str, actual: str) -> ValidationError:
    """A fixture's file whose bytes are not the manifest's (found while streaming it, or while
    the cache served it): the restore is rolled back."""
    return ValidationError(
        f"{file}: content differs from the manifest (expected sha256 {expected}, found {actual}); nothing was kept",
        fix="The fixture's file is damaged or changed: `iris-ops validate` shows it; recreate the fixture "
        "with `iris-ops backup`.",
        details={"file": file},
    )


def fixture_check_always(op: "Operation") -> bool:
    """The setting ``fixture_check``: whether every restore reads every byte of the fixture."""
    value = str(op.settings.fixture_check).strip().lower()
    if value not in ("changed", "always"):
        from iris_ops.errors import ConfigError

        raise ConfigError(f"fixture_check must be changed or always, got {op.settings.fixture_check!r}",
                          fix="Set fixture_check = \"changed\" (the default) or \"always\" in iris-ops.toml, "
                          "or IRIS_OPS_FIXTURE_CHECK.")
    return value == "always"


class ServedFilesCheck:
    """The sha256 of the fixture's files that the fixture cache serves, found on this side while
    the instance copies them: a restore checks every file of its fixture, cache or not.

    A plain file that an earlier check read whole and found right, and that is provably the same
    file since (:mod:`iris_ops.checked`), is not read again unless ``always``; any other is read
    whole in a thread of this process (hashlib and file reads release the GIL, and this process
    mostly waits for the instance meanwhile).  A compressed file is decompressed as it is hashed,
    every time, so its digest is that of what the cache holds.  :meth:`result` waits for the end
    and raises :class:`ValidationError` naming the first file that differs from the manifest;
    :meth:`abandon` stops the pass after a failure."""

    def __init__(self, loaded: "Fixture", databases: list["Database"], *, always: bool = False) -> None:
        self.loaded = loaded
        self.databases = databases
        self.always = always
        self.failure: BaseException | None = None
        self.found: dict[str, str] = {}
        self.read = 0
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fixture-check", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from iris_ops import checked
        from iris_ops.fixture import content

        started = time.monotonic()
        try:
            for db in self.databases:
                path = self.loaded.path_of(db)
                if db.compressed is None:
                    digest, read = checked.sha256_of(path, db.sha256, always=self.always, abandon=self._stop.is_set)
                    self.read += int(read)
                else:
                    digest = content.scan(path, db).sha256 or "(it does not decompress)"
                    self.read += 1
                self.found[db.file] = digest
        except InterruptedError:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self.failure = exc
        self.seconds = time.monotonic() - started

    def result(self, log) -> None:
        """Wait for the pass; raise when a file is not the manifest's."""
        began = time.monotonic()
        self._thread.join()
        log.info("restore.fixture_checked", files=len(self.databases), read=self.read,
                 seconds=round(self.seconds, 3), waited=round(time.monotonic() - began, 3))
        if isinstance(self.failure, IrisOpsError):
            raise self.failure
        for db in self.databases:
            found = self.found.get(db.file)
            if found is None:
                reason = f"{type(self.failure).__name__}: {self.failure}" if self.failure else "not read"
                raise ValidationError(f"{db.file}: cannot be read to check it against the manifest ({reason}); "
                                      "nothing was kept", details={"file": db.file})
            if found != db.sha256:
                raise content_differs(db.file, db.sha256, found)

    def abandon(self) -> None:
        """Stop the pass (a plain file within 64 MiB of reading; the thread only ever reads)."""
        self._stop.set()
        self._thread.join(timeout=1)
