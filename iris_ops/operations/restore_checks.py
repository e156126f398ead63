"""What a restore checks before its first change (:mod:`iris_ops.operations.restore`): the
fixture's files without reading them whole, the target's version, and in one read-only session
the manager directory, the targets, the resources and the fixture cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from iris_ops import names, scripts
from iris_ops.errors import SystemTargetError

if TYPE_CHECKING:
    from iris_ops.fixture import Database, Fixture
    from iris_ops.operations.context import Operation
    from iris_ops.operations.restore import PlannedDatabase


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
    scripts.create_namespace(namespace, globals_db, routines_db)
    facts = op.runner.run(scripts.restore_facts(namespace, [p.name for p in planned], [p.resource for p in planned],
                                                [(p.source.sha256, p.size) for p in planned] if use_cache else None,
                                                restore_journal.journal_names(namespace)),
                          changes=False)
    manager_directory = names.directory(str(facts.get("manager_directory")), what="manager directory")
    for item in planned:
        item.directory = f"{manager_directory}{item.name.lower()}/"
        scripts.make_directory(item.directory)
        if not names.is_system_resource(item.resource):
            scripts.delete_resource(item.resource, with_role=True)
        scripts.create_database(item.name, item.directory,
                                None if names.is_system_resource(item.resource) else item.resource)
    if any(item.directory not in (facts.get("directories") or {}) for item in planned):
        # The instance placed them elsewhere than we would (a manager directory IRIS reports
        # unlike we normalise it): ask again about exactly our paths.
        facts.update(op.runner.run(scripts.existing(namespace, [p.name for p in planned],
                                                    [p.directory for p in planned]), changes=False))
    cache_dir = cache.directory(manager_directory) if use_cache else None
    in_cache = {sha: int(str(v) == "1") for sha, v in (facts.get("cache") or {}).items()}
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
    return Facts(manager_directory, str(facts.get("version") or ""), missing, cache_dir, in_cache, facts)


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
    file: its size and sha256); and what any other plugin's ``validate`` finds.  The sha256 is checked while the file streams (a cache
    hit serves bytes verified when they entered the cache, and reads no file here)."""
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
