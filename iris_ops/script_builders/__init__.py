"""The builders of every admin script iris-ops runs, made of :mod:`iris_ops.objectscript` helpers.

Operations call these and never write ObjectScript themselves.  Each function validates its
names and paths and returns a :class:`~iris_ops.objectscript.Script` whose result keys are
documented in its docstring.  The test suite parses every one of them with
``tree-sitter-objectscript``.  APIs: IRIS.md §3-§7 (IRIS 2024.1 class reference).

One module per job: :mod:`.describe` (read-only facts), :mod:`.backup`, :mod:`.restore`,
:mod:`.delete`, :mod:`.freeze`, :mod:`.cache`, :mod:`.replace` (restore --force's swap),
:mod:`.conformance`, :mod:`.state` (the current state ``iris-ops plan`` compares); :mod:`.common` holds
what they share.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

#: Public name -> the submodule that defines it.  Loaded on first use (PEP 562): building the task
#: list (`--list`, `--help`, completion) imports the operation plugins, which need none of this yet.
_WHERE = {
    "ALREADY_FROZEN": "backup",
    "FREEZE_EXPIRED": "backup",
    "OPEN_TRANSACTIONS_QUERY": "backup",
    "copy_and_thaw": "backup",
    "count_staged": "backup",
    "dismount_and_copy": "backup",
    "freeze_and_copy": "backup",
    "remove_directory": "backup",
    "cache_describe": "cache",
    "cache_hash": "cache",
    "cache_remove": "cache",
    "ConformanceScratch": "conformance",
    "conformance_checks": "conformance",
    "conformance_cleanup": "conformance",
    "conformance_end_session": "conformance",
    "conformance_facts": "conformance",
    "conformance_session_lines": "conformance",
    "conformance_setup": "conformance",
    "conformance_transaction": "conformance",
    "FILE": "common",
    "NAMESPACE_PROPERTIES": "common",
    "RESOURCE_DESCRIPTION": "common",
    "RESOURCE_WITH_ROLE_DESCRIPTION": "common",
    "ROLE_DESCRIPTION": "common",
    "TABLES_QUERY": "common",
    "table_counts": "common",
    "RESOURCE_ABSENT": "delete",
    "RESOURCE_DELETED": "delete",
    "RESOURCE_DELETED_WITH_ROLE": "delete",
    "RESOURCE_IN_USE": "delete",
    "RESOURCE_NOT_OURS": "delete",
    "delete_all": "delete",
    "delete_database": "delete",
    "delete_namespace": "delete",
    "file_exists": "delete",
    "remove_file": "delete",
    "resource_steps": "delete",
    "configured_names": "describe",
    "counts": "describe",
    "database_users": "describe",
    "describe_namespace": "describe",
    "namespace_exists": "describe",
    "namespace_names": "describe",
    "resource_status": "describe",
    "restored_databases": "describe",
    "sql_statement": "describe",
    "FREEZE_ARGUMENTS": "freeze",
    "FREEZE_ARGUMENTS_MISSING": "freeze",
    "FREEZE_RECORD": "freeze",
    "FreezeOwner": "freeze",
    "freeze_arguments": "freeze",
    "freeze_state": "freeze",
    "release_freeze": "freeze",
    "thaw_entry": "freeze",
    "wd_suspended": "freeze",
    "create_database": "restore",
    "create_namespace": "restore",
    "delete_resource": "restore",
    "ensure_resource": "restore",
    "existing": "restore",
    "make_directory": "restore",
    "manager_directory": "restore",
    "restore_facts": "restore",
    "NewDatabase": "restore",
    "restore_databases": "restore",
    "Guard": "restore",
    "guard_step": "restore",
    "revoke_step": "restore",
    "swap": "replace",
    "current_state": "state",
    "read_databases": "state",
    "read_mappings": "state",
    "read_namespaces": "state",
    "read_resources": "state",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


if TYPE_CHECKING:  # pragma: no cover - what type checkers and IDEs see
    from .backup import ALREADY_FROZEN, FREEZE_EXPIRED, OPEN_TRANSACTIONS_QUERY, copy_and_thaw, count_staged, dismount_and_copy, freeze_and_copy, remove_directory  # noqa: F401
    from .cache import cache_describe, cache_hash, cache_remove  # noqa: F401
    from .conformance import ConformanceScratch, conformance_checks, conformance_cleanup, conformance_end_session, conformance_facts, conformance_session_lines, conformance_setup, conformance_transaction  # noqa: F401
    from .common import FILE, NAMESPACE_PROPERTIES, RESOURCE_DESCRIPTION, RESOURCE_WITH_ROLE_DESCRIPTION, ROLE_DESCRIPTION, TABLES_QUERY, table_counts  # noqa: F401
    from .delete import RESOURCE_ABSENT, RESOURCE_DELETED, RESOURCE_DELETED_WITH_ROLE, RESOURCE_IN_USE, RESOURCE_NOT_OURS, delete_all, delete_database, delete_namespace, file_exists, remove_file, resource_steps  # noqa: F401
    from .describe import configured_names, counts, database_users, describe_namespace, namespace_names, resource_status, restored_databases, sql_statement  # noqa: F401
    from .freeze import FREEZE_ARGUMENTS, FREEZE_ARGUMENTS_MISSING, FREEZE_RECORD, FreezeOwner, freeze_arguments, freeze_state, release_freeze, thaw_entry, wd_suspended  # noqa: F401
    from .replace import swap  # noqa: F401
    from .state import current_state, read_databases, read_mappings, read_namespaces, read_resources  # noqa: F401
    from .restore import Guard, create_database, create_namespace, delete_resource, ensure_resource, existing, guard_step, make_directory, manager_directory, restore_facts, revoke_step, NewDatabase, restore_databases  # noqa: F401
