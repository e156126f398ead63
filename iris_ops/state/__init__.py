"""The desired state of an instance (issue 26): what a state file (``[state]`` in iris-ops.toml,
``--state FILE``) or a CPF merge file (``--cpf FILE``) says the instance should hold, and the
kinds of object it is made of.

:mod:`.model` (objects, schemas), :mod:`.kinds` (the kind interface and the core kinds),
:mod:`.toml_reader` and :mod:`.tomllines` (TOML, with the line of every key), :mod:`.cpf_reader`
(CPF merge files).
"""
