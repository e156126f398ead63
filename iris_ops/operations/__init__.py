"""The built-in operations: plugins registered through the very same call as installed ones
(backup, restore, delete-ns, validate, run, doctor, cache, config and plugins)."""

__all__: list[str] = []
