"""Built-in plugin: validate (in progress)."""
