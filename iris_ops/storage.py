"""Copies inside an instance that share blocks: where they can, and how each copy was made.

iris-ops copies database files inside the instance in three places: the backup's staging copy
(while the instance is frozen), the fixture cache's fill (after the first restore streamed the
file in), and every clone from the cache.  IRIS's ``%Library.File.CopyFile`` copies every byte.
On storage that shares blocks between files (XFS made with ``reflink=1``, Btrfs), a reflink
makes the same copy in about the time of a metadata update, whatever the file's size; writing
either file afterwards copies only the blocks written (copy on write), so the copy is as
independent as a full one.  IRIS cannot make one: the transport's ``reflink_files`` hook does,
outside IRIS and as the instance owner (:mod:`iris_ops.transports.reflink`).

Whether to try is found once per process and instance.  The backup asks first (:func:`probe`):
a scratch file in the manager directory, reflinked into the manager directory (which holds the
staging directories and the restored databases) and into the cache (``<mgr>/iris-ops-cache/``;
when it does not exist yet it will be made there, and the manager directory's answer holds),
because it must choose its frozen session's script before the freeze.  A restore's clones and
cache fills need no question first (:func:`share`): their own reflinks are tried, one exec where
a probe and then the reflinks took two, and a process whose first attempt the storage refused
makes full copies from then on.  Where the answer is no, every copy stays a full copy made
inside the instance, as before.  Where it is yes, each copy is tried as a reflink, and one the
storage refuses (a database on another filesystem) is made as a full copy.  The method of every
copy, :data:`REFLINK` or :data:`COPY`, is in the operation's result and in its debug log
(``copy.method``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from iris_ops import names
from iris_ops.errors import IrisOpsError

if TYPE_CHECKING:
    from iris_ops.operation import Operation
    from iris_ops.transports.base import Reflink

__all__ = ["REFLINK", "COPY", "Storage", "probe", "reflink", "share", "describe"]

REFLINK = "reflink"
COPY = "copy"


@dataclass(frozen=True)
class Storage:
    """What the probe found, for one instance."""

    manager: "Reflink"
    cache: "Reflink"

    @property
    def staging(self) -> bool:
        """Whether the backup's staging copies (``<mgr>/iris-ops-backup-*/``) may be reflinks."""
        return self.manager.done

    @property
    def cache_copies(self) -> bool:
        """Whether the cache's fills and clones may be reflinks."""
        from iris_ops.transports.reflink import ABSENT

        return self.manager.done and (self.cache.done or self.cache.reason == ABSENT)


#: (target, manager directory) -> what the probe found, for the life of this process.
_found: dict[tuple, Storage] = {}
#: (target, manager directory) -> whether the cache's copies were reflinks when first tried
#: (:func:`share`), for the life of this process.
_shared: dict[tuple, bool] = {}


def probe(op: "Operation", manager_directory: str) -> Storage:
    """What the storage under ``manager_directory`` can share, found once per process."""
    from iris_ops import cache
    from iris_ops.transports.base import Reflink

    manager = names.directory(manager_directory, what="manager directory")
    key = (op.target, manager)
    if key in _found:
        return _found[key]
    cache_dir = cache.location(manager)
    try:
        answers = op.runner.probe_reflink([manager, cache_dir], timeout=op.settings.timeout)
    except IrisOpsError as exc:
        answers = {d: Reflink(False, f"the probe failed: {exc}") for d in (manager, cache_dir)}
    if answers is None:
        answers = {d: Reflink(False, "the transport makes no reflinks") for d in (manager, cache_dir)}
    found = Storage(answers[manager], answers[cache_dir])
    op.log.debug("storage.probed", manager=manager, staging=found.staging, cache=found.cache_copies,
                 why_not=found.manager.reason or found.cache.reason or None)
    _found[key] = found
    return found


def share(op: "Operation", manager_directory: str, pairs: list[tuple[str, str]], what: str) -> list[str]:
    """:func:`reflink` for the fixture cache's clones and fills under ``manager_directory``,
    unless an earlier attempt of this process found that its storage refuses them all (or the
    probe said no): then :data:`COPY` for each, and nothing is run."""
    manager = names.directory(manager_directory, what="manager directory")
    key = (op.target, manager)
    probed = _found.get(key)
    if not _shared.get(key, True) or (probed is not None and not probed.cache_copies):
        for source, dest in pairs:
            op.log.debug("copy.method", copy=what, source=source, dest=dest, method=COPY,
                         why_not="the storage shared no blocks when this process tried")
        return [COPY] * len(pairs)
    methods = reflink(op, pairs, what)
    if methods and key not in _shared:
        _shared[key] = REFLINK in methods
    return methods


def reflink(op: "Operation", pairs: list[tuple[str, str]], what: str) -> list[str]:
    """Reflink each (source, dest) of ``pairs`` through the transport: the method each needs,
    :data:`REFLINK` (done) or :data:`COPY` (left for a full copy; no ``dest`` was left).  A
    transport that fails makes them all full copies."""
    if not pairs:
        return []
    try:
        answers = op.runner.reflink_files(pairs, timeout=op.settings.transfer_timeout)
    except IrisOpsError as exc:
        op.log.warning("storage.reflink_failed", error=str(exc), note="full copies instead")
        answers = None
    methods = []
    for index, (source, dest) in enumerate(pairs):
        answer = answers[index] if answers is not None and index < len(answers) else None
        method = REFLINK if answer is not None and answer.done else COPY
        op.log.debug("copy.method", copy=what, source=source, dest=dest, method=method,
                     why_not=(answer.reason if answer is not None else "no answer") if method == COPY else None)
        methods.append(method)
    return methods


def describe(methods: "dict[str, str]") -> str:
    """``reflink``, ``copy``, or each database's when they differ (``reflink: A; copy: B``)."""
    kinds = sorted(set(methods.values()))
    if len(kinds) <= 1:
        return kinds[0] if kinds else COPY
    return "; ".join(f"{kind}: {', '.join(n for n, m in methods.items() if m == kind)}" for kind in kinds)
