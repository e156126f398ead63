"""The one place that loads plugins, and the reason one bad plugin cannot take the tool down.

Order: names blocked by the ``disable_plugins`` setting (or ``IRIS_OPS_DISABLE_PLUGINS``) are
blocked; each entry point of the group ``iris_ops`` is loaded on its own; the built-in plugins
are registered through the same ``register()`` call; implementations of hooks that do not exist
are rejected.  An installed plugin that fails to import, or implements a hook wrongly, is left
out and reported with its name and the fix (``IRIS_OPS_DISABLE_PLUGINS=<name>``): every other
task keeps working, ``--list`` included.  An exception a third-party plugin raises inside a
hook names the plugin; a veto says which plugin vetoed.  Registration imports modules only: no
container or network I/O, and neither ``docker`` nor ``iris`` is imported.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable

import pluggy

from iris_ops import PROJECT_NAME, hookspecs
from iris_ops.errors import ConfigError, InternalError, IrisOpsError, repair

__all__ = [
    "BUILTIN_PLUGINS", "PluginError", "BrokenPlugin", "PluginManager", "disable_fix",
    "new_plugin_manager", "EntryPoint", "entry_point_names", "entry_points", "report_problems",
    "get_plugin_manager", "plugin_defaults", "state_kinds", "warn_once", "plugin_distribution",
]

#: Built-in plugins, registered exactly like installed ones (last registered runs first).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "iris_ops.transports.docker",
    "iris_ops.transports.local",
    "iris_ops.transports.ssh",
    "iris_ops.operations.info",
    "iris_ops.operations.run",
    "iris_ops.operations.validate",
    "iris_ops.operations.backup",
    "iris_ops.operations.restore",
    "iris_ops.operations.delete",
    "iris_ops.operations.doctor",
    "iris_ops.operations.cache_tasks",
    "iris_ops.operations.conformance",
    "iris_ops.operations.plan",
    "iris_ops.operations.apply",
    "iris_ops.operations.targets",
)


class PluginError(InternalError):
    """A plugin raised an unexpected exception inside a hook (exit 1: a bug, in that plugin)."""


@dataclass(frozen=True)
class BrokenPlugin:
    name: str
    problem: str

    @property
    def fix(self) -> str:
        return disable_fix(self.name)


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, plus: broken plugins recorded instead of raised, and every hook
    implementation of a plugin that is not built in tagged with the plugin's name."""

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        self.broken: list[BrokenPlugin] = []
        #: plugin name -> the entry point it was loaded from
        self.entry_points: dict[str, "EntryPoint"] = {}

    def register(self, plugin, name: str | None = None):
        registered = super().register(plugin, name)
        if registered and registered not in BUILTIN_PLUGINS:
            for caller in self.get_hookcallers(plugin) or ():
                for impl in caller.get_hookimpls():
                    if impl.plugin is plugin and not (impl.hookwrapper or impl.wrapper):
                        impl.function = _naming(impl.function, registered, caller.name)
        return registered

    def parse_hookimpl_opts(self, plugin, name: str):
        """pluggy's, without its descriptor-safe lookup for a module's attributes that cannot be
        hook implementations (constants, classes, imported modules): pluggy takes only functions,
        bound methods and static/class methods from a module, and looks every attribute up with
        ``inspect.getattr_static``, which was most of registering the built-ins (start-up)."""
        if isinstance(plugin, types.ModuleType):
            value = plugin.__dict__.get(name)
            if not isinstance(value, (types.FunctionType, types.MethodType, staticmethod, classmethod)):
                return None
        return super().parse_hookimpl_opts(plugin, name)

    def leave_out(self, name: str, problem: str) -> None:
        if self.has_plugin(name):
            plugin = self.get_plugin(name)
            if plugin is not None:
                self.unregister(plugin)
        self.broken.append(BrokenPlugin(name, problem))


def disable_fix(name: str) -> str:
    return f"Upgrade, fix or uninstall plugin {name}, or set IRIS_OPS_DISABLE_PLUGINS={name}."


def _naming(fn: Callable, plugin: str, hook: str) -> Callable:
    """The implementation, with its failures naming the plugin."""

    @functools.wraps(fn)
    def named(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except IrisOpsError as exc:
            repair(exc).details.setdefault("plugin", plugin)
            if hook.startswith("pre_") and plugin not in exc.message:
                exc.message = f"plugin {plugin} vetoed {hook[4:]}: {exc.message}"
                exc.args = (exc.message,)
            raise
        except Exception as exc:
            raise PluginError(f"plugin {plugin} failed in hook {hook}: {type(exc).__name__}: {exc}",
                              fix=disable_fix(plugin), details={"plugin": plugin, "hook": hook}) from exc

    return named


def new_plugin_manager(disabled: Iterable[str] = (), *, load_entry_points: bool = True) -> PluginManager:
    disabled = list(disabled)
    pm = PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)
    if load_entry_points:
        _load_entry_points(pm)
    for module_name in BUILTIN_PLUGINS:
        if pm.is_blocked(module_name):
            continue
        pm.register(importlib.import_module(module_name), name=module_name)
    _reject_unknown_hooks(pm)
    return pm


@dataclass(frozen=True)
class EntryPoint:
    """One ``[iris_ops]`` line of an installed distribution's ``entry_points.txt``."""

    name: str
    value: str
    dist_path: str  # the distribution's .dist-info (or .egg-info) directory

    def load(self):
        module_name, _, attrs = self.value.partition("[")[0].strip().partition(":")
        target = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            target = getattr(target, attr)
        return target

    def distribution(self) -> tuple[str, str]:
        import importlib.metadata
        from pathlib import Path

        meta = importlib.metadata.PathDistribution(Path(self.dist_path)).metadata
        return meta["Name"], meta["Version"]


def entry_point_names() -> list[str]:
    return sorted({ep.name for ep in entry_points()})


@lru_cache(maxsize=1)
def entry_points() -> tuple[EntryPoint, ...]:
    """The ``iris_ops`` entry points of the distributions on ``sys.path``, scanned once per
    process.  Read directly from each ``*.dist-info``/``*.egg-info`` directory's
    ``entry_points.txt``, as :mod:`importlib.metadata` reads them (the first distribution of a
    name on the path wins), without importing it: that import and its scan were the largest
    part of ``--list`` beyond invoke itself (docs/PERFORMANCE.md)."""
    import os

    found: list[EntryPoint] = []
    seen: set[str] = set()
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:  # a zip, or a missing directory
            continue
        for dirname in names:
            stem, dot, kind = dirname.rpartition(".")
            if kind not in ("dist-info", "egg-info") or not dot:
                continue
            project = stem.split("-")[0].lower().replace("-", "_").replace(".", "_")
            if project in seen:
                continue
            seen.add(project)
            found += _read_entry_points(os.path.join(entry or ".", dirname))
    return tuple(found)


def _read_entry_points(dist_path: str) -> list[EntryPoint]:
    import os

    try:
        with open(os.path.join(dist_path, "entry_points.txt"), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    out, section = [], None
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == PROJECT_NAME and "=" in line:
            name, _, value = line.partition("=")
            out.append(EntryPoint(name.strip(), value.strip(), dist_path))
    return out


def _load_entry_points(pm: PluginManager) -> None:
    for ep in entry_points():
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except pluggy.PluginValidationError as exc:
            pm.leave_out(ep.name, f"implements a hook wrongly: {exc}")
        except Exception as exc:  # noqa: BLE001 - any import failure of someone else's code
            pm.leave_out(ep.name, f"fails to import: {type(exc).__name__}: {exc}")
        else:
            pm.entry_points[ep.name] = ep


def _reject_unknown_hooks(pm: PluginManager) -> None:
    """pluggy's ``check_pending``, but the plugin is left out instead of the tool failing."""
    for hook_name in list(pm.hook.__dict__):
        if hook_name.startswith("_"):
            continue
        caller = getattr(pm.hook, hook_name)
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.optionalhook:
                if impl.plugin_name in BUILTIN_PLUGINS:
                    raise ConfigError(f"built-in plugin {impl.plugin_name} implements unknown hook {hook_name!r}")
                pm.leave_out(impl.plugin_name, f"implements {hook_name!r}, which is not an iris-ops hook "
                             "(a typo, or a hook of another iris-ops version)")


def report_problems(pm: PluginManager, disabled: Iterable[str]) -> None:
    """Once per process, on stderr: each broken plugin with its fix, and each name in
    ``disable_plugins`` that names no plugin."""
    for broken in pm.broken:
        print(f"iris-ops: warning: plugin {broken.name} was not loaded: it {broken.problem}\n"
              f"  fix: {broken.fix}", file=sys.stderr)
    disabled = list(disabled)
    known = set(entry_point_names()) | set(BUILTIN_PLUGINS) if disabled else set()
    for name in disabled:
        if name not in known:
            print(f"iris-ops: warning: disable_plugins names {name!r}, which is no installed plugin "
                  f"(known: {', '.join(sorted(known))})", file=sys.stderr)


@lru_cache(maxsize=1)
def _default(disabled: tuple[str, ...]) -> PluginManager:
    pm = new_plugin_manager(disabled)
    report_problems(pm, disabled)
    return pm


def get_plugin_manager(disabled: Iterable[str] | None = None) -> PluginManager:
    """The process-wide plugin manager (built once per disable list)."""
    if disabled is None:
        from iris_ops import config

        disabled = config.load().disable_plugins
    return _default(tuple(sorted(disabled)))


def plugin_defaults(pm: pluggy.PluginManager) -> list[tuple[str, dict]]:
    """(plugin name, defaults) from every ``config_defaults`` implementation, lowest priority first."""
    found = []
    for impl in pm.hook.config_defaults.get_hookimpls():
        try:
            defaults = impl.function() or {}
            if not isinstance(defaults, dict):
                raise PluginError(f"plugin {impl.plugin_name}: config_defaults returned "
                                  f"{type(defaults).__name__}, not a dict", fix=disable_fix(impl.plugin_name))
        except IrisOpsError as exc:
            warn_once(impl.plugin_name, "config_defaults", exc)
            continue
        found.append((impl.plugin_name, defaults))
    return found


_warned: set[tuple[str, str]] = set()


def warn_once(plugin: str, hook: str, exc: IrisOpsError) -> None:
    """A plugin hook that builds the tool itself failed: leave its part out and say so."""
    if (plugin, hook) in _warned:
        return
    _warned.add((plugin, hook))
    print(f"iris-ops: warning: {exc.message}; its {hook} was left out\n  fix: {disable_fix(plugin)}", file=sys.stderr)


def plugin_distribution(pm: pluggy.PluginManager, plugin: object) -> tuple[str, str]:
    """(distribution, version) a plugin came from; built-ins report iris-ops itself."""
    name = pm.get_name(plugin)
    ep = getattr(pm, "entry_points", {}).get(name) if name else None
    if ep is not None:
        return ep.distribution()
    for candidate, dist in pm.list_plugin_distinfo():
        if candidate is plugin:
            return dist.project_name, dist.version
    from iris_ops import __version__

    return "iris-ops", __version__


def state_kinds(pm: PluginManager | None = None) -> tuple:
    """The kinds of the desired state in dependency order: iris-ops' own, and every plugin's (the
    ``state_kinds`` hook), each right after the last kind its ``Kind.after`` names (after the
    kinds placed there before it), or else at the end, in registration order.  Exit 1, naming the
    plugin, when a plugin's kind is no :class:`iris_ops.state.kinds.Kind`, takes a name another
    kind has, or names in ``after`` a kind that is not installed (or kinds that wait for each other)."""
    from iris_ops.state.kinds import Kind, core_kinds

    pm = pm or get_plugin_manager()
    core = core_kinds()
    owner = {kind.name: "iris-ops" for kind in core}
    added: list[Kind] = []
    for impl in pm.hook.state_kinds.get_hookimpls():  # in registration order (pluggy calls them the other way)
        try:
            given = impl.function() or ()
        except Exception as exc:  # noqa: BLE001 - a broken plugin, named
            raise PluginError(f"plugin {impl.plugin_name} failed in hook state_kinds: {type(exc).__name__}: {exc}",
                              fix=disable_fix(impl.plugin_name)) from exc
        for kind in given:
            if not isinstance(kind, Kind):
                raise PluginError(f"plugin {impl.plugin_name}: state_kinds returned {kind!r}, not an "
                                  "iris_ops.state.kinds.Kind", fix=disable_fix(impl.plugin_name))
            if kind.name in owner:
                raise PluginError(f"plugin {impl.plugin_name}: the state kind {kind.name!r} exists already "
                                  f"(from {owner[kind.name]})", fix=disable_fix(impl.plugin_name))
            owner[kind.name] = impl.plugin_name
            added.append(kind)
    return _in_dependency_order(list(core), added, owner)


def _in_dependency_order(kinds: list, added: list, owner: dict[str, str]) -> tuple:
    """``kinds`` (the core's, in their order) with each of ``added`` (in registration order) put
    right after the last kind its ``after`` names, behind the kinds put there before it."""
    follows: dict[str, str] = {}  # a placed kind -> the kind it was put right after
    for kind in added:
        named = [name for name in kind.after if name not in owner]
        if named:
            listed = ", ".join(repr(name) for name in named)
            raise PluginError(f"plugin {owner[kind.name]}: the state kind {kind.name!r} is to come after {listed}, "
                              f"which no installed kind is (kinds: {', '.join(owner)})",
                              fix=f"Install the plugin that adds {listed}. " + disable_fix(owner[kind.name]))
    pending = list(added)
    while pending:
        placed = [kind.name for kind in kinds]
        kind = next((k for k in pending if all(name in placed for name in k.after)), None)
        if kind is None:  # each waits for another (or for itself)
            plugins = sorted({owner[k.name] for k in pending})
            waiting = ", ".join(repr(k.name) for k in pending)
            raise PluginError(f"plugin {', '.join(plugins)}: the state kinds {waiting} cannot be ordered: each is "
                              "to come after one of them (Kind.after)",
                              fix=disable_fix(plugins[0]))
        pending.remove(kind)
        if not kind.after:
            kinds.append(kind)
            continue
        anchor = max(kind.after, key=placed.index)
        index = placed.index(anchor) + 1
        while index < len(placed) and _follows(placed[index], anchor, follows):
            index += 1
        follows[kind.name] = anchor
        kinds.insert(index, kind)
    return tuple(kinds)


def _follows(name: str, anchor: str, follows: dict[str, str]) -> bool:
    """Whether ``name`` was put after ``anchor``, directly or after a kind that was."""
    while name in follows:
        name = follows[name]
        if name == anchor:
            return True
    return False
