"""How iris-ops reaches an instance: the built-in transport plugins (docker, local, ssh) and what
every transport speaks (:mod:`.base`)."""

__all__: list[str] = []
