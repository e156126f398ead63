"""Built-in plugin: `backup`, a namespace's databases into a fixture directory.

Consistency (IRIS.md §4): by default the instance is frozen with
``Backup.General.ExternalFreeze`` and a ``WDSuspendLimit`` dead-man switch, the databases are
copied *inside* the instance (page-cache speed, the shortest window), and it is thawed in the
same script whatever happens; the client thaws again on any failure or Ctrl-C.  Only then are
the copies streamed to this machine, hashed in the same pass.  ``--dismount`` copies quiet
databases while dismounted instead.  The fixture is written to a temporary sibling and renamed
into place on success; on failure nothing is left, here or in the container.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from iris_ops import __version__, hookimpl, names, scripts
from iris_ops.cli import task
from iris_ops.errors import ConflictError, InstanceError, IrisOpsError, ScriptError, SystemTargetError, UsageError

if TYPE_CHECKING:
    from iris_ops.operations.context import Operation


def database_file(name: str) -> str:
    """Where a database's file lives inside a fixture."""
    return f"databases/{names.database(name)}/IRIS.DAT"


def ensure_thawed(op: "Operation") -> None:
    """Thaw with the command-line form (no login, so it cannot hang on a frozen instance), then
    confirm with IsWDSuspended.  Raises if the instance is still frozen."""
    entry = scripts.thaw_entry()
    try:
        result = op.runner.argument_call(entry, "%SYS", timeout=op.settings.timeout)
        op.log.info("backup.thaw", exit_status=result.exit_code, thawed=result.exit_code == 5)
    except IrisOpsError as exc:
        op.log.error("backup.thaw_failed", error=str(exc))
    state = op.runner.run(scripts.wd_suspended(), changes=False)
    if state.get("suspended") in (1, True, "1"):
        raise InstanceError(
            f"the instance in {op.target.describe()} is still frozen",
            fix=f"Thaw it now: iris session {op.target.instance} -U %SYS \"{entry}\" "
            f"(it also thaws by itself after freeze_limit = {op.settings.freeze_limit} s).",
        )


def _cleanup_stage(op: "Operation", stage: str) -> None:
    try:
        op.runner.run(scripts.remove_directory(stage))
    except IrisOpsError as exc:
        op.log.warning("backup.stage_cleanup_retry", stage=stage, error=str(exc))
        op.runner.remove_path(stage)


def run_backup(op: "Operation", namespace: str, out: Path, *, force: bool, dismount: bool, description: str):
    from iris_ops import fixture, progress

    if out.exists() and not force:  # before any instance work (FixtureWriter checks again)
        raise ConflictError(f"{out} already exists", fix="Choose another --out, or pass --force to replace it.")
    op.hook.pre_backup(operation=op, namespace=namespace, out=str(out))
    info = op.runner.run(scripts.describe_namespace(namespace), changes=False)
    if not info.get("exists"):
        raise UsageError(
            f"namespace {namespace} does not exist in {op.target.describe()}",
            fix="Check the name: `iris-ops run --ns %SYS 'Do ##class(%SYS.Namespace).ListAll(.n) zwrite n'`.",
        )
    dbs = info["dbs"]
    for db in dbs:
        if names.is_system_database(db["name"]):
            raise SystemTargetError(f"namespace {namespace} uses system database {db['name']}; refusing to back it up")
    manager_dir = names.directory(info["manager_directory"], what="manager directory")
    stage = f"{manager_dir}iris-ops-backup-{secrets.token_hex(6)}/"
    copies = [
        (names.directory(db["directory"]) + "IRIS.DAT", f"{stage}{names.database(db['name'])}.DAT") for db in dbs
    ]
    if dismount:
        script = scripts.dismount_and_copy(namespace, stage, [db["directory"] for db in dbs], copies)
    else:
        script = scripts.freeze_and_copy(
            namespace, stage, copies,
            freeze_timeout=op.settings.freeze_timeout, freeze_limit=op.settings.freeze_limit,
        )
    if op.dry_run:
        op.runner.show(script)
        for (_, staged), db in zip(copies, dbs):
            op.runner.show_command(f"stream {staged} from {op.target.describe()} to {out / database_file(db['name'])}")
        op.runner.show(scripts.remove_directory(stage))
        return None

    method = "dismount" if dismount else "external-freeze"
    copied: dict = {}
    writer = fixture.FixtureWriter(out, force=force)
    writer.open()
    try:
        try:
            started = time.monotonic()
            state = "dismounted" if dismount else "frozen"
            expected = sum(float(db.get("size_mb") or 0) for db in dbs) * (1 << 20)
            with progress.Elapsed(f"copying {progress.mib(expected)} in the instance ({state})") as line:
                try:
                    copied = op.runner.run(script)
                except BaseException as exc:
                    payload = exc.details.get("result") if isinstance(exc, ScriptError) else None
                    if not dismount and not (payload and payload.get("thawed")) and (payload is None or payload.get("frozen")):
                        ensure_thawed(op)
                    raise
                window = time.monotonic() - started
                sizes = {item["file"]: int(item["bytes"]) for item in copied.get("copied", [])}
                line.finish(f"copied {progress.mib(sum(sizes.values()))} in the instance ({state} {window:.2f} s)")
            op.step("backup.copied_in_instance", method=method, window_seconds=round(window, 3),
                    bytes=sum(sizes.values()), databases=[db["name"] for db in dbs])
            entries = []
            for (_, staged), db in zip(copies, dbs):
                relative = database_file(db["name"])
                target_path = writer.path_for(relative)
                target_path.parent.mkdir(parents=True, exist_ok=True)
                t0 = time.monotonic()
                with open(target_path, "wb") as handle:
                    bar = progress.ProgressWriter(handle, sizes.get(staged), f"{db['name']}")
                    digest = op.runner.read_file(staged, bar, timeout=op.settings.transfer_timeout)
                    bar.close()
                seconds = max(time.monotonic() - t0, 1e-9)
                if staged in sizes and digest.bytes != sizes[staged]:
                    raise InstanceError(
                        f"{db['name']}: streamed {digest.bytes} bytes but the instance copied {sizes[staged]}",
                        fix="Retry the backup; check free space in the container.",
                    )
                op.step("backup.streamed", database=db["name"], bytes=digest.bytes, sha256=digest.sha256,
                        mib_per_s=round(digest.bytes / seconds / (1 << 20), 1))
                entries.append(
                    fixture.Database(
                        name=db["name"], role=db["role"], file=relative, sha256=digest.sha256, bytes=digest.bytes,
                        directory=db["directory"], resource=db["resource"] or None,
                        block_size=int(db["block_size"]) if db.get("block_size") not in (None, "") else None,
                        size_mb=float(db["size_mb"]) if db.get("size_mb") not in (None, "") else None,
                    )
                )
        finally:
            _cleanup_stage(op, stage)
        manifest = fixture.Manifest(
            fixture_id=f"{namespace.lower()}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}",
            description=description or f"backup of namespace {namespace}",
            created_at=fixture.utc_now(),
            tool=f"iris-ops {__version__}",
            source=fixture.Source(iris_version=info.get("version", ""), container=op.target.container or None,
                                  instance=op.target.instance),
            namespace=fixture.NamespaceInfo(name=namespace, properties=info.get("properties", {})),
            databases=entries,
            tables=[fixture.Table(name=t["name"], row_count=int(t["row_count"])) for t in copied.get("tables", [])],
            consistency=fixture.Consistency(method=method, window_seconds=round(window, 3)),
        )
        writer.write_manifest(manifest)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    op.hook.post_backup(operation=op, namespace=namespace, out=str(out), manifest=manifest)
    return manifest


@task(
    target=True,
    required=("ns",),
    help={
        "ns": "namespace to back up",
        "out": "fixture directory to write (default: <fixtures_dir>/<NS>); must not exist unless --force",
        "force": "replace an existing fixture directory (only once the new one is complete)",
        "dismount": "copy with the databases dismounted instead of freezing the instance (quiet databases only)",
        "description": "free text stored in the manifest",
        "dry_run": "print the scripts and transfers that would run, and change nothing",
        "json": "print the result (or the failure) as one JSON document",
    },
)
def backup(c, ns="", out="", force=False, dismount=False, description="", dry_run=False, json_=False, **target):
    """Back up a namespace's databases (Globals and Routines) into a fixture directory.

    The instance is frozen (ExternalFreeze) only while the files are copied inside the container;
    the copies are then streamed here and hashed. Without --out the fixture is written to
    <fixtures_dir>/<NS> (setting fixtures_dir, default `fixtures` next to the project file).

    Examples:
        iris-ops backup --ns USER
        iris-ops backup --ns USER --out fixtures/user-v2 --description "after migration 42"
        iris-ops backup --ns USER --force --dismount
    """
    from iris_ops import fixtures_dir
    from iris_ops.operations.context import Operation, refuse_json_dry_run

    refuse_json_dry_run(json_, dry_run)
    namespace = names.user_namespace(ns, action="back up")
    op = Operation.from_flags("backup", target, dry_run=dry_run)
    target_dir = Path(out) if out else fixtures_dir.default_out(op.settings, namespace)
    with op.bound(ns=namespace):
        manifest = run_backup(op, namespace, target_dir, force=force, dismount=dismount, description=description)
    if manifest is None:
        return None
    if json_:
        return {"fixture": str(target_dir), "manifest": manifest.to_dict()}
    op.emit(f"fixture {target_dir}  namespace {namespace}  ({manifest.consistency.method}, "
            f"window {manifest.consistency.window_seconds:.3f} s)")
    for db in manifest.databases:
        op.emit(f"  {db.name:<24} {db.role:<17} {db.bytes:>14,} bytes  sha256 {db.sha256}")
    for table in manifest.tables:
        op.emit(f"  table {table.name:<40} {table.row_count:>10,} rows")
    return None


@hookimpl
def register_tasks(registrar):
    registrar.add_task(backup)
