"""What a kind's reader builds for each object, for the readers of plugins' kinds (the
``state_kinds`` hook): the entry ``{key fields..., "exists": 0|1, field: value...}`` pushed onto
its kind's result, exactly as iris-ops' own readers make it (:mod:`iris_ops.script_builders.state`).

A reader returns, per object, ``[*start_entry(found, name=...), if_exists(..., put(field, value)),
push_entry(kind)]``.
"""

from __future__ import annotations

from iris_ops.script_builders.state import if_exists, push_entry, put, start_entry

__all__ = ["start_entry", "put", "if_exists", "push_entry"]
