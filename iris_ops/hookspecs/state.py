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

    Every implementation runs.  ``plan`` reads and ``apply`` changes the kinds in dependency
    order: iris-ops' own (resources, databases, namespaces, global, routine and package
    mappings), each plugin's kind placed right after the last kind its ``after`` names (the
    kinds it needs to exist first), behind the kinds placed there before it, and a kind naming
    none at the end; between plugins, in the order the plugins are registered.  ``--prune`` and a
    rollback remove in the reverse order.  iris-ops-security's roles name ``("resources",)``, so
    with it the order is resources, roles, databases, namespaces, mappings, users, services.

    A kind's name must be new, and its ``after`` may name only installed kinds (iris-ops' own,
    the plugin's, or those of a plugin it requires): a clash, an unknown name or kinds that wait
    for each other stop the program (exit 1), naming the plugin.

    A kind is read, validated, planned and applied exactly like the core kinds; the core kinds
    are built through the same interface (:mod:`iris_ops.state.kinds`).  docs/plugins.md ("A kind
    of the desired state") builds a whole one, tested as written; iris-ops-security's roles,
    users and services come through this hook too.

    The example is the hook of that plugin, whose module builds ``SERVICE_CLIENTS`` (the client
    systems each service accepts) whole; the suite checks that it is that module's code.

    Example::

        @hookimpl
        def state_kinds():
            return [SERVICE_CLIENTS]
    """
