"""Built-in plugin: backup (in progress)."""
