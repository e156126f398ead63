"""Many targets: named targets and groups in the project file (:mod:`.targets`), and a task run
on many of them, a process per target, ending in one table (:mod:`.command`, :mod:`.fanout`,
:mod:`.results`)."""

__all__: list[str] = []
