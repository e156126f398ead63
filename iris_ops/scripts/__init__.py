"""Every admin script iris-ops runs, built from :mod:`iris_ops.objectscript` helpers.

Operations call these and never write ObjectScript themselves.  Each function validates its
names and paths and returns a :class:`~iris_ops.objectscript.Script` whose result keys are
documented in its docstring.  The test suite parses every one of them with
``tree-sitter-objectscript``.  APIs: IRIS.md §3-§7 (IRIS 2024.1 class reference).

One module per job: :mod:`.describe` (read-only facts), :mod:`.backup`, :mod:`.restore`,
:mod:`.delete`, :mod:`.freeze`; :mod:`.common` holds what they share.
"""

from __future__ import annotations

from .backup import (
    ALREADY_FROZEN,
    FREEZE_EXPIRED,
    OPEN_TRANSACTIONS_QUERY,
    count_staged,
    dismount_and_copy,
    freeze_and_copy,
    remove_directory,
)
from .common import (
    FILE,
    NAMESPACE_PROPERTIES,
    RESOURCE_DESCRIPTION,
    RESOURCE_WITH_ROLE_DESCRIPTION,
    TABLES_QUERY,
    table_counts,
)
from .delete import delete_database, delete_namespace, file_exists, remove_file
from .describe import (
    counts,
    database_users,
    describe_namespace,
    namespace_names,
    resource_status,
    sql_statement,
)
from .freeze import FREEZE_ARGUMENTS, freeze_arguments, thaw_entry, wd_suspended
from .restore import (
    create_database,
    create_namespace,
    delete_resource,
    ensure_resource,
    existing,
    make_directory,
    manager_directory,
    resource_exists,
)
