"""Built-in plugin: delete (in progress)."""
