"""Hook specifications of the desired state (``plan``, ``apply``): the kinds of object it holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iris_ops.hookspecs.marker import hookspec

if TYPE_CHECKING:
    from iris_ops.state.kinds import Kind

__all__ = ["state_kinds"]


# -------------------------------------------------------------------------------------------
# The desired state: kinds of object a state file or a CPF merge file describes.
# -------------------------------------------------------------------------------------------


@hookspec
def state_kinds() -> "list[Kind] | None":
    """Return the object kinds this plugin adds to the desired state (``[state]``, ``--cpf``),
    each an :class:`iris_ops.state.kinds.Kind`: a schema (its fields, their TOML types and
    checks, the IRIS property each is), a reader of the instance's current state, and the
    change builders ``apply`` runs (create, modify, remove; what a change's undo is).

    Every implementation runs.  A plugin's kinds come after iris-ops' own (resources, roles,
    databases, namespaces, mappings) in the order ``plan`` reads and ``apply`` changes them,
    and, between plugins, in the order the plugins are registered.  A kind's name must be new:
    one that clashes with another kind's stops the program (exit 1), naming both plugins.

    A kind is read, validated, planned and applied exactly like the core kinds; the core kinds
    are built through the same interface (:mod:`iris_ops.state.kinds`).  docs/plugins.md ("A kind
    of the desired state") builds a whole one, tested as written; iris-ops-security's users and
    services come through this hook too.

    Example::

        @hookimpl
        def state_kinds():
            from my_plugin.kinds import CSP_APPLICATIONS  # a Kind: schema, reader, change builders

            return [CSP_APPLICATIONS]
    """
