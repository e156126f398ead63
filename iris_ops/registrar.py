"""The object handed to ``register_tasks`` implementations: plugins add tasks through it and
never touch the collection itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iris_ops.errors import ConfigError

if TYPE_CHECKING:
    from invoke import Collection, Task

__all__ = ["TaskRegistrar"]


class TaskRegistrar:
    """Collects tasks from every plugin, refusing two plugins that claim the same name."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}
        self._tasks: list[tuple[str, "Task"]] = []
        self._collections: list[tuple[str, "Collection"]] = []
        self._plugin = "?"

    def for_plugin(self, plugin_name: str) -> "TaskRegistrar":
        """Attribute the following registrations to ``plugin_name`` (used by the manager)."""
        self._plugin = plugin_name
        return self

    def add_task(self, task: "Task", name: str | None = None) -> None:
        """Add an invoke task (decorate it with :func:`iris_ops.task.task`) under ``name``."""
        name = name or task.name
        self._claim(name)
        self._tasks.append((name, task))

    def add_collection(self, collection: "Collection", name: str | None = None) -> None:
        """Add a sub-collection, e.g. ``sim`` holding ``sim.up`` and ``sim.down``."""
        name = name or collection.name
        if not name:
            raise ConfigError(f"plugin {self._plugin} added a collection without a name")
        self._claim(name)
        self._collections.append((name, collection))

    def _claim(self, name: str) -> None:
        key = _normal(name)
        previous = self._owners.get(key)
        if previous is not None:
            raise ConfigError(
                f"plugins {previous!r} and {self._plugin!r} both register a task named {key!r}",
                fix=f"Disable one of them with IRIS_OPS_DISABLE_PLUGINS={self._plugin} (or {previous}), "
                "or rename the task in the plugin.",
            )
        self._owners[key] = self._plugin

    def populate(self, root: "Collection") -> "Collection":
        for name, task in self._tasks:
            root.add_task(task, name=name)
        for name, collection in self._collections:
            root.add_collection(collection, name=name)
        return root


def _normal(name: str) -> str:
    return name.replace("_", "-").lower()
