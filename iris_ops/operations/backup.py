"""Built-in plugin: `backup`, a namespace's databases into a fixture directory.

Consistency (IRIS.md §4): by default the instance is frozen with
``Backup.General.ExternalFreeze`` and a ``WDSuspendLimit`` dead-man switch, the databases are
copied *inside* the instance (page-cache speed, the shortest window), and it is thawed in the
same script whatever happens; the client thaws again on any failure or Ctrl-C.  Only then are
the copies streamed to this machine, hashed in the same pass.  Where the storage shares blocks
the staging copies are reflinks, made while frozen (:mod:`iris_ops.operations.backup_reflink`).
``--dismount`` copies quiet databases while dismounted instead.  The fixture is written to a
temporary sibling and renamed into place on success; on failure nothing is left, here or in
the container.

``--compress`` stores each DAT as zstd (``IRIS.DAT.zst``, :mod:`iris_ops.compression`),
compressed on this side as it streams out of the staging copy, after the thaw: the freeze window
is the same as without it.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from iris_ops import __version__, flags, hookimpl, names, script_builders, signals
from iris_ops.task import task
from iris_ops.errors import (
    InstanceError,
    IrisOpsError,
    ScriptError,
    SystemTargetError,
    UnsupportedError,
)

if TYPE_CHECKING:
    from iris_ops import fixture
    from iris_ops.operation import Operation

__all__ = [
    "BLOCK_SIZE", "database_file", "ensure_thawed", "cleanup_stage", "copyable", "not_recreated",
    "run_backup", "backup", "register_tasks",
]


#: The only block size iris-ops copies (IRIS.md §3; the one the offline label check knows).
BLOCK_SIZE = 8192


def database_file(name: str, *, compressed: bool = False) -> str:
    """Where a database's file lives inside a fixture."""
    return f"databases/{names.database(name)}/IRIS.DAT" + (".zst" if compressed else "")


def ensure_thawed(op: "Operation", token: str, *, ours: bool = False, frozen_at: float | None = None,
                  limit: float | None = None) -> None:
    """Thaw the freeze whose record names ``token`` (or, with ``ours``, the freeze the caller
    knows it made although no record says so): remove the record, thaw with the command-line
    form (no login, so it cannot hang on a frozen instance), then confirm with IsWDSuspended.
    Raises if the instance is still frozen.  A freeze that is not ours is left as it is.

    ``frozen_at`` (:func:`iris_ops.locks.clock` just before the freeze was asked for) bounds
    whose freeze it can be: once ``limit`` seconds (the freeze's WDSuspendLimit; by default this
    operation's ``freeze_limit``) have passed since, WDSuspendLimit has
    resumed the write daemon (IRIS.md §4), so a freeze found now is someone else's, made after
    ours ended, whatever the record or ``ours`` says: it is left as it is.  Before that, a
    freeze its record proves ours is thawed even after the operation's lock lapsed
    (:meth:`iris_ops.runner.Runner.owned`)."""
    from iris_ops import locks

    entry = script_builders.thaw_entry()
    try:
        with op.runner.owned():  # removes the record only if it is ``token``'s, and reads
            state = op.runner.run(script_builders.release_freeze(token))
    except IrisOpsError as exc:  # cannot tell whose freeze it is: only ``ours`` may decide
        op.log.error("backup.freeze_record_unknown", error=str(exc))
        state = {"suspended": 1}
    if str(state.get("suspended")) != "1":
        return
    released = str(state.get("released")) == "1"
    if not (ours or released):
        op.log.warning("backup.freeze_not_ours", note="the instance is frozen, but not (provably) by this backup: "
                       f"left frozen; a freeze of iris-ops ends by itself after freeze_limit = {op.settings.freeze_limit} s",
                       fix=f"Once its owner is done: iris session {op.target.instance} -U %SYS \"{entry}\"")
        return
    limit = op.settings.freeze_limit if limit is None else limit
    age = None if frozen_at is None else locks.clock() - frozen_at
    if age is not None and age >= limit:
        op.log.warning("backup.freeze_not_ours", seconds_since_ours=round(age, 1),
                       note=f"the instance is frozen, but the iris-ops freeze it knew of ended by itself "
                       f"(its limit of {limit:g} s has passed): this freeze is someone else's, made since; "
                       "left frozen",
                       fix=f"Once its owner is done: iris session {op.target.instance} -U %SYS \"{entry}\"")
        return
    with op.runner.owned() if released and age is not None else contextlib.nullcontext():
        try:
            result = op.runner.argument_call(entry, "%SYS", timeout=op.settings.timeout)
            op.log.info("backup.thaw", exit_status=result.exit_code, thawed=result.exit_code == 5)
        except IrisOpsError as exc:
            op.log.error("backup.thaw_failed", error=str(exc))
        state = op.runner.run(script_builders.wd_suspended(), changes=False)
    if state.get("suspended") in (1, True, "1"):
        raise InstanceError(
            f"the instance in {op.target.describe()} is still frozen",
            fix=f"Thaw it now: iris session {op.target.instance} -U %SYS \"{entry}\" "
            f"(it also thaws by itself after freeze_limit = {op.settings.freeze_limit} s).",
        )


def cleanup_stage(op: "Operation", stage: str) -> None:
    """Remove a backup's staging directory (its name holds the backup's token: only that backup
    ever uses it, so this goes on even after the backup's lock lapsed)."""
    with signals.shielded(), op.runner.owned():
        _remove_stage(op, stage)


def _remove_stage(op: "Operation", stage: str) -> None:
    try:
        op.runner.run(script_builders.remove_directory(stage))
    except IrisOpsError as exc:
        op.log.warning("backup.stage_cleanup_retry", stage=stage, error=str(exc))
        op.runner.remove_path(stage)


def _copy_in_instance(op: "Operation", copy: "Callable[[], dict]", *, dismount: bool, version: str = "",
                      token: str = "") -> dict:
    """Run the freeze (or dismount) and copy (``copy`` runs it and returns the script's result);
    on any failure make sure the instance is thawed, unless the freeze was someone else's
    (``token``: the freeze record's)."""
    from iris_ops import locks

    frozen_at = locks.clock()
    try:
        copied = copy()
        if not dismount and not copied.get("known"):
            op.log.warning("backup.freeze_arguments_unknown", version=version,
                           note="cannot read Backup.General.ExternalFreeze's arguments on this version")
        return copied
    except BaseException as exc:
        payload = exc.details.get("result") if isinstance(exc, ScriptError) else None
        ours = payload is None or bool(payload.get("frozen"))
        if not dismount and ours and not (payload and payload.get("thawed")):
            # Without a result, the record tells whether the freeze is ours; with one, the script
            # also knows when it froze without writing the record or after removing it.
            known = payload is not None and (not payload.get("recorded") or bool(payload.get("released")))
            with signals.shielded():  # a second signal must not abandon a frozen instance
                ensure_thawed(op, token, ours=known, frozen_at=frozen_at)
        if isinstance(exc, ScriptError):
            step, text = exc.details.get("step"), exc.details.get("iris_error", "")
            if step == "arguments" and payload is not None:
                raise _missing_arguments(op, payload, version) from None
            if script_builders.ALREADY_FROZEN in text:
                raise InstanceError(
                    f"refusing to back up: {script_builders.ALREADY_FROZEN} "
                    f"(IsWDSuspended is 1 in {op.target.describe()})",
                    fix="Wait for the other backup to thaw the instance, or thaw it yourself: "
                    f"iris session {op.target.instance} -U %SYS \"{script_builders.thaw_entry()}\".",
                    details=exc.details,
                ) from None
            if step == "held":
                raise InstanceError(
                    f"backup failed: {script_builders.FREEZE_EXPIRED}; freeze_limit is {op.settings.freeze_limit} s",
                    fix="Raise the setting freeze_limit (IRIS_OPS_FREEZE_LIMIT, or freeze_limit in iris-ops.toml) "
                    "above the time the copy takes, and freeze_timeout at least as high; both stay at most 1200 "
                    "(IRIS caps ExternalFreezeTimeOut there). A copy that needs longer cannot be made under a "
                    "freeze: back up with --dismount while the databases are quiet.",
                    details=exc.details,
                ) from None
        raise


def _warn_open_transactions(op: "Operation", copied: dict) -> None:
    count = copied.get("open_transactions")
    if count in (None, ""):
        if "open_transactions" in copied:
            op.log.warning("backup.open_transactions_unknown", error=copied.get("open_transactions_error", ""),
                           note="could not tell whether transactions were open at the freeze")
        return
    if int(count) > 0:
        op.log.warning("backup.open_transactions", count=int(count),
                       note="transactions were open at the freeze: the copy is physically consistent, "
                       "not transactionally; their updates may be half in it")


def _count_and_remove(op: "Operation", count_script) -> tuple[list, "object", bool]:
    """Row counts of the copied files themselves (or, if they cannot be counted, none, said
    plainly), and whether the same session removed the staging directory."""
    from iris_ops import fixture

    try:
        counted = op.runner.run(count_script)
    except ScriptError as exc:
        op.log.warning("backup.counts_not_fixed", error=str(exc),
                       note="the manifest records no row counts; restore will not verify them")
        removed = bool((exc.details.get("result") or {}).get("removed"))
        return [], fixture.RowCounts("not-fixed", f"the copied files could not be counted: {exc}"), removed
    tables = [fixture.Table(name=t["name"], row_count=int(t["row_count"])) for t in counted.get("tables", [])]
    return tables, fixture.RowCounts("copied-files", "counted in the copied files, after they were streamed"), True


def _stream(op: "Operation", writer, db: dict, copy: str, sizes: dict, compress: bool = False) -> "object":
    """Stream one staged copy into the fixture, hashing it in the same pass (and compressing it,
    with ``compress``: the transport hashes the plain bytes, the compressor the stored ones)."""
    from iris_ops import compression, fixture, progress

    relative = database_file(db["name"], compressed=compress)
    t0 = time.monotonic()
    packed = None
    with writer.create(relative) as handle:
        sink = compression.CompressingWriter(handle, hash_plain=False) if compress else handle
        bar = progress.ProgressWriter(sink, sizes.get(copy), f"{db['name']}")
        digest = op.runner.read_file(copy, bar, timeout=op.settings.transfer_timeout)
        bar.close()
        if compress:
            packed = sink.close()
    seconds = max(time.monotonic() - t0, 1e-9)
    if packed is not None and packed.bytes != digest.bytes:
        raise InstanceError(f"{db['name']}: the transport streamed {digest.bytes} bytes but the compressor "
                            f"received {packed.bytes}", fix="Retry the backup.")
    if copy in sizes and digest.bytes != sizes[copy]:
        raise InstanceError(
            f"{db['name']}: streamed {digest.bytes} bytes but the instance copied {sizes[copy]}",
            fix="Retry the backup; check free space in the container.",
        )
    op.step("backup.streamed", database=db["name"], bytes=digest.bytes, sha256=digest.sha256,
            mib_per_s=round(digest.bytes / seconds / (1 << 20), 1),
            **({"stored_bytes": packed.compressed_bytes} if packed else {}))
    return fixture.Database(
        name=db["name"], role=db["role"], file=relative, sha256=digest.sha256, bytes=digest.bytes,
        directory=db["directory"], resource=db["resource"] or None,
        block_size=_int_or_none(db.get("block_size")),
        size_mb=float(db["size_mb"]) if db.get("size_mb") not in (None, "") else None,
        checks=db.get("checks", {}),
        compressed=fixture.Compressed("zstd", packed.compressed_bytes, packed.compressed_sha256) if packed else None,
    )


def _int_or_none(value) -> int | None:
    return int(value) if value not in (None, "") else None


def copyable(op: "Operation", namespace: str, db: dict) -> dict:
    """Refuse (exit 3, before any change) a database iris-ops cannot copy faithfully; return what
    was checked, for the manifest."""
    if db.get("missing"):
        raise InstanceError(f"database {db['name']} of namespace {namespace}: no readable IRIS.DAT in {db['directory']}",
                            fix="Check the database in the Management Portal (Databases) or messages.log.")
    checks = {
        "encrypted": _flag(db.get("encrypted")),
        "multi_volume": _flag(db.get("multi_volume")),
        "mirrored": _flag(db.get("mirrored")),
        "block_size": _int_or_none(db.get("block_size")),
        "stream_files": bool(db.get("stream_location")) or bool(_flag(db.get("stream_directory"))),
    }
    reasons = []
    if checks["encrypted"]:
        reasons.append("it is encrypted (EncryptedDB=1): the copy is useless without the instance's key")
    if checks["multi_volume"]:
        reasons.append("it is a multi-volume database (MultiVolume=1): its extra volume files beside IRIS.DAT "
                       "would not be copied")
    if checks["mirrored"]:
        reasons.append("it is mirrored (Mirrored=1): a copy carries the mirror's identity")
    if checks["block_size"] not in (None, BLOCK_SIZE):
        reasons.append(f"its block size is {checks['block_size']}, not {BLOCK_SIZE}")
    if checks["stream_files"]:
        where = db.get("stream_location") or f"{db['directory']}stream/"
        reasons.append(f"it stores file streams outside IRIS.DAT ({where})")
    if reasons:
        raise UnsupportedError(
            f"refusing to back up namespace {namespace}: database {db['name']} cannot be copied faithfully: "
            + "; ".join(reasons),
        )
    if checks["multi_volume"] is None:
        op.log.warning("backup.multi_volume_unknown", database=db["name"],
                       note="this IRIS version reports no MultiVolume property; assumed single-volume")
    return checks


def _missing_arguments(op: "Operation", found: dict, zversion: str) -> InstanceError:
    """The freeze script passes ExternalFreezeTimeOut and WDSuspendLimit by position, and its
    first step refused (exit 5, before any change) a version whose ExternalFreeze lacks them
    there.  (When the signature cannot be read, the script goes on and says so: the freeze
    itself would then fail loudly.)"""
    missing = [name for name in script_builders.FREEZE_ARGUMENTS if not found.get(name)]
    return InstanceError(
        f"this IRIS ({zversion or 'version unknown'}) has no {' or '.join(missing)} argument in "
        f"Backup.General.ExternalFreeze({found.get('spec', '')}): iris-ops cannot freeze it safely",
        fix="Back up with --dismount (quiet databases), or use an IRIS version whose ExternalFreeze "
        "takes ExternalFreezeTimeOut (7th) and WDSuspendLimit (10th).",
    )


def not_recreated(info: dict) -> list[str]:
    """What the source namespace has that a restore does not recreate: its mappings, its
    interoperability, and database properties other than Globals and Routines."""
    out = []
    for kind, entries in sorted((info.get("mappings") or {}).items()):
        for entry in entries:
            out.append(f"{kind[:-1]} mapping {entry['name']} -> {entry['database']}")
    props = info.get("properties") or {}
    if str(props.get("Interop", "0")) not in ("", "0"):
        out.append("interoperability (Interop=1): the restored namespace is not interoperability-enabled")
    for key, default in (("TempGlobals", "IRISTEMP"), ("Library", "IRISLIB"), ("SysGlobals", "IRISSYS"),
                         ("SysRoutines", "IRISSYS")):
        value = str(props.get(key) or "")
        if value and value.upper() != default:
            out.append(f"namespace property {key}={value} (a restore uses {default})")
    return out


def _flag(value) -> int | None:
    return None if value in (None, "") else (1 if str(value) not in ("0", "False", "false") else 0)


def run_backup(op: "Operation", namespace: str, out: Path, *, force: bool, dismount: bool, description: str,
               compress: bool = False, confirm: "Callable[[fixture.Fixture], None] | None" = None):
    """Back ``namespace`` up into ``out``; ``confirm`` is asked (with the fixture) before
    ``force`` replaces one, and may refuse.  Returns the manifest and how each database's
    staging copy was made ({name: ``reflink`` or ``copy``}: :mod:`iris_ops.storage`), or None
    in a dry run."""
    import functools
    import secrets

    from iris_ops import compression, fixture, progress, storage, versions
    from iris_ops.operations import backup_out, backup_reflink

    # Every check of the input and of this host before any instance work: exit 2 or 3 with the
    # fix line, nothing frozen (FixtureWriter checks the replaced fixture again at the end).
    if compress:
        compression.available()
    replaced = backup_out.vet(out, op.settings, force=force)
    if replaced is not None and confirm is not None:
        confirm(replaced)
    op.hook.pre_backup(operation=op, namespace=namespace, out=str(out))
    info = op.runner.run(script_builders.describe_namespace(namespace), changes=False)
    if not info.get("exists"):
        from iris_ops.operations.context import no_such_namespace

        raise no_such_namespace(op, namespace)
    dbs = info["dbs"]
    for db in dbs:
        if names.is_system_database(db["name"]):
            raise SystemTargetError(f"namespace {namespace} uses system database {db['name']}; refusing to back it up")
    for db in dbs:
        db["checks"] = copyable(op, namespace, db)
    not_restored = not_recreated(info)
    for item in not_restored:
        op.log.warning("backup.not_restored", setting=item, note="recorded in the manifest; a restore does not recreate it")
    manager_dir = names.directory(info["manager_directory"], what="manager directory")
    stage = f"{manager_dir}iris-ops-backup-{secrets.token_hex(6)}/"
    staged = {db["name"]: f"{stage}{names.database(db['name'])}/" for db in dbs}
    copies = [(names.directory(db["directory"]) + "IRIS.DAT", staged[db["name"]] + "IRIS.DAT") for db in dbs]
    owner = script_builders.FreezeOwner.new()
    if dismount:
        script = script_builders.dismount_and_copy(stage, [db["directory"] for db in dbs], copies)
        deadline = op.settings.timeout
    else:
        script = script_builders.freeze_and_copy(
            stage, copies, freeze_timeout=op.settings.freeze_timeout, freeze_limit=op.settings.freeze_limit,
            owner=owner,
        )
        # The copy may take up to freeze_limit; the session must outlive it (and the thaw after it).
        deadline = op.settings.timeout + op.settings.freeze_limit
    count_ns = f"IRISOPS-COUNT-{secrets.token_hex(4).upper()}"
    # Counted after the stream, in the session that removes the staging directory.
    count_script = script_builders.count_staged(
        count_ns, [(f"{count_ns}-{i}", db["role"], staged[db["name"]], db["directory"]) for i, db in enumerate(dbs)],
        remove=stage,
    )
    if op.dry_run:
        op.runner.show(script)
        for (_, copy), db in zip(copies, dbs):
            op.runner.show_command(f"stream {copy} from {op.target.describe()} to "
                                   f"{out / database_file(db['name'], compressed=compress)}"
                                   + (" (zstd)" if compress else ""))
        op.runner.show(count_script)
        return None

    method = "dismount" if dismount else "external-freeze"
    # Reflinks only under a freeze: a dismounted database has no dead-man switch, and a second
    # session while it is dismounted would leave it so if this process died in between.
    reflink = not dismount and storage.probe(op, manager_dir).staging
    copied: dict = {}
    writer = fixture.FixtureWriter(out, force=force)
    writer.open()
    removed = False
    try:
        try:
            started = time.monotonic()
            state = "dismounted" if dismount else "frozen"
            expected = sum(float(db.get("size_mb") or 0) for db in dbs) * (1 << 20)
            with progress.Elapsed(f"copying {progress.mib(expected)} in the instance ({state})") as line:
                if reflink:
                    copy_now = functools.partial(backup_reflink.freeze_reflink_thaw, op, stage, copies, owner,
                                                 timeout=deadline)
                else:
                    copy_now = functools.partial(op.runner.run, script, timeout=deadline)
                copied = _copy_in_instance(op, copy_now, dismount=dismount, version=info.get("version", ""),
                                           token=owner.token)
                window = time.monotonic() - started
                sizes = {item["file"]: int(item["bytes"]) for item in copied.get("copied", [])}
                methods = dict(zip([db["name"] for db in dbs], copied.get("methods") or [storage.COPY] * len(dbs)))
                line.finish(f"copied {progress.mib(sum(sizes.values()))} in the instance ({state} {window:.2f} s, "
                            f"{storage.describe(methods)})")
            op.step("backup.copied_in_instance", method=method, window_seconds=round(window, 3),
                    bytes=sum(sizes.values()), databases=[db["name"] for db in dbs], copy=methods)
            _warn_open_transactions(op, copied)
            entries = [_stream(op, writer, db, copy, sizes, compress) for (_, copy), db in zip(copies, dbs)]
            tables, row_counts, removed = _count_and_remove(op, count_script)
        finally:
            if not removed:
                cleanup_stage(op, stage)
        zv = info.get("version", "")
        parsed = versions.parse(zv)
        manifest = fixture.Manifest(
            fixture_id=f"{namespace.lower()}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}",
            description=description or f"backup of namespace {namespace}",
            created_at=fixture.utc_now(),
            tool=f"iris-ops {__version__}",
            source=fixture.Source(iris_version=zv, container=op.target.container or None, instance=op.target.instance,
                                  product=parsed.product if parsed else None,
                                  version=parsed.version if parsed else None,
                                  build=parsed.build if parsed else None),
            namespace=fixture.NamespaceInfo(name=namespace, properties=info.get("properties", {}),
                                            mappings=info.get("mappings", {})),
            databases=entries,
            tables=tables,
            consistency=fixture.Consistency(method=method, window_seconds=round(window, 3),
                                            open_transactions=_int_or_none(copied.get("open_transactions"))),
            row_counts=row_counts,
            not_restored=not_restored,
        )
        writer.write_manifest(manifest)
        # The fixture renamed into place is the backup's outcome: a signal from here on is noted,
        # and the backup completes and says so (not "interrupted" with the fixture there).
        with signals.point_of_no_return(f"the backup of namespace {namespace}"):
            writer.commit()
    except BaseException:
        with signals.shielded():
            writer.abort()
        raise
    op.hook.post_backup(operation=op, namespace=namespace, out=str(out), manifest=manifest)
    return manifest, methods


def _default_out(flags, settings) -> Path:
    from iris_ops import fixtures_dir

    return fixtures_dir.default_out(settings, names.user_namespace(flags.get("ns", ""), action="back up"))


def _figure(doc: dict) -> str:
    """A backup's key figure: what it copied, and how long the instance was frozen."""
    manifest = doc["manifest"]
    total = sum(int(db["bytes"]) for db in manifest["databases"])
    window = manifest["consistency"]["window_seconds"]
    files = len(manifest["databases"])
    return f"{total / (1 << 20):.1f} MiB in {files} file{'s' if files != 1 else ''}, window {window:.3f} s"


@task(
    target=True,
    required=("ns",),
    per_target={"out": _default_out},
    figure=_figure,
    help={
        "ns": "namespace to back up",
        "out": "fixture directory to write (default: <fixtures_dir>/<NS>); must not exist unless --force; "
               "never the working directory, the project root, the home or fixtures directory, or one above them",
        "force": "replace the fixture at --out (only a fixture: its manifest and files, nothing else; only once "
                 "the new one is complete); asks unless --yes",
        "yes": "do not ask before --force replaces a fixture (needed when stdin is not a terminal)",
        "dismount": "copy with the databases dismounted instead of freezing the instance (quiet databases only)",
        "description": "free text stored in the manifest",
        "compress": "store each database file as zstd (IRIS.DAT.zst; needs `pip install 'iris-ops[zstd]'`)",
        "dry_run": "print the scripts and transfers that would run, and change nothing",
        "json": "print the result (or the failure) as one JSON document",
        "lock_wait": flags.LOCK_WAIT_HELP,
    },
)
def backup(c, ns="", out="", force=False, yes=False, dismount=False, description="", compress=False, dry_run=False,
           json_=False, lock_wait=None, **target):
    """Back up a namespace's databases (Globals and Routines) into a fixture directory.

    The instance is frozen (ExternalFreeze) only while the files are copied inside the container
    (reflinks where the storage shares blocks: `staging copy` in the result); the copies are
    then streamed here and hashed. Without --out the fixture is written to
    <fixtures_dir>/<NS> (setting fixtures_dir, default `fixtures` next to the project file).
    With --compress each file is stored as zstd, compressed here after the thaw; validate and
    restore read it in the stream.

    --force replaces only a fixture: a directory holding a manifest (iris-ops or iris-devtester)
    and the files it lists, nothing else (exit 3 otherwise, naming what is there). It asks first;
    without a terminal it needs --yes. --out is never the working directory, the project root,
    the home directory or the fixtures directory, nor a directory above one of them (exit 2).

    On many targets (--targets, --all-targets) each target's fixture is <out>/<target>
    (default <fixtures_dir>/<NS>/<target>).

    Examples:
        iris-ops backup --ns USER
        iris-ops backup --ns USER --out fixtures/user-v2 --description "after migration 42"
        iris-ops backup --ns USER --force --yes --dismount
        iris-ops backup --ns USER --compress
        iris-ops backup --ns USER --out fixtures/nightly --targets ci,staging-1
    """
    from iris_ops import fixtures_dir, locks, storage
    from iris_ops.operations.context import confirm, operation_from_flags, refuse_json_dry_run

    refuse_json_dry_run(json_, dry_run)
    namespace = names.user_namespace(ns, action="back up")
    op = operation_from_flags("backup", target, dry_run=dry_run)
    target_dir = Path(out).expanduser() if out else fixtures_dir.default_out(op.settings, namespace)

    def ask(replaced) -> None:
        if not yes and not dry_run:
            manifest = replaced.manifest
            confirm(f"--force: replace fixture {target_dir} (namespace {manifest.namespace.name}, written "
                    f"{manifest.created_at or 'at an unknown time'}) with a new backup of {namespace}?",
                    refused=f"refusing to replace fixture {target_dir}")

    with op.bound(ns=namespace), locks.holding(op, namespace, wait=lock_wait or 0, freeze=not dismount):
        done = run_backup(op, namespace, target_dir, force=force, dismount=dismount, description=description,
                          compress=compress, confirm=ask)
    if done is None:
        return None
    manifest, methods = done
    if json_:
        return {"fixture": str(target_dir), "manifest": manifest.to_dict(),
                "staging_copies": [{"database": name, "method": m} for name, m in methods.items()]}
    op.emit(f"fixture {target_dir}  namespace {namespace}  ({manifest.consistency.method}, "
            f"window {manifest.consistency.window_seconds:.3f} s, staging copy: {storage.describe(methods)})")
    for db in manifest.databases:
        op.emit(f"  {db.name:<24} {db.role:<17} {db.bytes:>14,} bytes  sha256 {db.sha256}")
        if db.compressed is not None:
            op.emit(f"  {'':<24} {db.compressed.format:<17} {db.compressed.bytes:>14,} bytes  "
                    f"sha256 {db.compressed.sha256}")
    for table in manifest.tables:
        op.emit(f"  table {table.name:<40} {table.row_count:>10,} rows")
    op.emit(f"  row counts: {manifest.row_counts.source}")
    for item in manifest.not_restored:
        op.emit(f"  not restored by a restore: {item}")
    return None


@hookimpl
def register_tasks(registrar):
    registrar.add_task(backup)
