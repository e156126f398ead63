"""Built-in plugin: restore (in progress)."""
