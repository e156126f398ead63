"""What a restore checks before its first change (:mod:`iris_ops.operations.restore`): the
fixture's files without reading them whole, the target's version, and in one read-only session
the targets, the resources and the fixture cache."""

from __future__ import annotations

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


def preflight(op: "Operation", namespace: str, planned: list[PlannedDatabase],
              cache_dir: str | None = None) -> tuple[dict[str, bool], dict[str, int], dict]:
    """Everything that can be refused is refused here, before the first change: every name and
    path (building each script validates them), and a label naming a system resource the
    instance lacks (iris-ops never creates a system resource: exit 3).  Returns, from one
    session, the user resources the instance lacks (each with whether its role is missing too),
    with ``cache_dir`` which digests the fixture cache holds {sha256: 0/1}, and what exists of
    the targets (for :func:`check_targets`)."""
    globals_db = next(p.name for p in planned if p.source.has_globals)
    routines_db = next(p.name for p in planned if p.source.has_routines)
    scripts.create_namespace(namespace, globals_db, routines_db)
    for item in planned:
        scripts.make_directory(item.directory)
        if not names.is_system_resource(item.resource):
            scripts.delete_resource(item.resource, with_role=True)
        scripts.create_database(item.name, item.directory,
                                None if names.is_system_resource(item.resource) else item.resource)
    facts = op.runner.run(scripts.restore_facts(namespace, [p.name for p in planned], [p.directory for p in planned],
                                                [p.resource for p in planned], cache_dir,
                                                [(p.source.sha256, p.size) for p in planned]), changes=False)
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
    return missing, {sha: int(str(v) == "1") for sha, v in (facts.get("cache") or {}).items()}, facts


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
