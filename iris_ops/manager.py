"""The one place that loads plugins.

Order: names blocked by the ``disable_plugins`` setting (or ``IRIS_OPS_DISABLE_PLUGINS``) are
blocked; the entry-point group ``iris_ops`` is loaded; the built-in plugins are registered
through the same ``register()`` call; ``check_pending()`` rejects implementations of hooks
that do not exist.  Registration imports modules only: no container or network I/O, and
neither ``docker`` nor ``iris`` is imported (built-ins import them inside functions).
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Iterable

import pluggy

from iris_ops import PROJECT_NAME, hookspecs
from iris_ops.errors import ConfigError

#: Built-in plugins, registered exactly like installed ones (last registered runs first).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "iris_ops.transports.docker",
    "iris_ops.transports.local",
    "iris_ops.operations.info",
    "iris_ops.operations.run",
    "iris_ops.operations.validate",
    "iris_ops.operations.backup",
    "iris_ops.operations.restore",
    "iris_ops.operations.delete",
    "iris_ops.testing.tasks",
)


def new_plugin_manager(disabled: Iterable[str] = (), *, load_entry_points: bool = True) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)
    if load_entry_points:
        try:
            pm.load_setuptools_entrypoints(PROJECT_NAME)
        except pluggy.PluginValidationError as exc:
            raise ConfigError(f"an installed plugin is invalid: {exc}", fix=_disable_fix(exc.plugin_name)) from exc
    for module_name in BUILTIN_PLUGINS:
        if pm.is_blocked(module_name):
            continue
        pm.register(importlib.import_module(module_name), name=module_name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ConfigError(f"plugin {exc.plugin_name!r}: {exc}", fix=_disable_fix(exc.plugin_name)) from exc
    return pm


def _disable_fix(name: str) -> str:
    return f"Upgrade or uninstall it, or set IRIS_OPS_DISABLE_PLUGINS={name}."


@lru_cache(maxsize=1)
def _default(disabled: tuple[str, ...]) -> pluggy.PluginManager:
    return new_plugin_manager(disabled)


def get_plugin_manager(disabled: Iterable[str] | None = None) -> pluggy.PluginManager:
    """The process-wide plugin manager (built once per disable list)."""
    if disabled is None:
        from iris_ops import config

        disabled = config.load().disable_plugins
    return _default(tuple(sorted(disabled)))


def plugin_defaults(pm: pluggy.PluginManager) -> list[tuple[str, dict]]:
    """(plugin name, defaults) from every ``config_defaults`` implementation, lowest priority first."""
    found = []
    for impl in pm.hook.config_defaults.get_hookimpls():
        found.append((impl.plugin_name, impl.function() or {}))
    return found


def plugin_distribution(pm: pluggy.PluginManager, plugin: object) -> tuple[str, str]:
    """(distribution, version) a plugin came from; built-ins report iris-ops itself."""
    for candidate, dist in pm.list_plugin_distinfo():
        if candidate is plugin:
            return dist.project_name, dist.version
    from iris_ops import __version__

    return "iris-ops", __version__
