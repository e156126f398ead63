"""The desired state of an instance (issue 26): what a state file (``[state]`` in iris-ops.toml,
``--state FILE``) or a CPF merge file (``--cpf FILE``) says the instance should hold, and the
kinds of object it is made of.

:mod:`.model` (objects, schemas), :mod:`.kinds` (the kind interface and the core kinds),
:mod:`.toml_reader` and :mod:`.tomllines` (TOML, with the line of every key), :mod:`.cpf_reader`
(CPF merge files).
"""

from __future__ import annotations

from .cpf_reader import read_cpf
from .kinds import CORE_KINDS, Kind
from .model import DesiredState, Field, Origin, Schema, StateObject
from .toml_reader import read_project_state, read_state_file

__all__ = ["read_cpf", "CORE_KINDS", "Kind", "DesiredState", "Field", "Origin", "Schema", "StateObject",
           "read_project_state", "read_state_file"]
