"""The desired-state model: what a state file says an instance should hold, kind by kind.

A *kind* (databases, namespaces, roles, ...) is described by a :class:`Schema`: the fields an
object of that kind may have, which of them identify it, how each is checked, and which IRIS
property each one is.  An object of the file is a :class:`StateObject`: its kind, its key, the
fields the file gave (a field the file leaves out is not managed: it is neither compared nor
changed), and where it was declared.  Every reader (``[state]`` in TOML, a CPF merge file)
produces the same :class:`DesiredState`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from iris_ops import names
from iris_ops.errors import StateFileError

__all__ = ["Origin", "Field", "Schema", "StateObject", "DesiredState", "Problems", "read_text"]


@dataclass(frozen=True)
class Origin:
    """Where an object (or a value) was declared: a file, and a line in it (1-based; 0: unknown)."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Field:
    """One field of a kind.

    ``name`` is its key in a TOML state file, ``prop`` the IRIS property it is (what a reader of
    the instance reads and a CPF action names), ``check`` turns a value the file gave into the
    value iris-ops compares, raising an :class:`iris_ops.errors.UsageError` with the reason, and
    ``toml_type`` is the TOML type the file must use (``str``, ``int``, ``bool``, ``list``, ``dict``).
    ``prop`` is ``""`` for a field that is no IRIS property (a namespace's ``fixture``): it is
    never compared with the instance.
    """

    name: str
    prop: str
    toml_type: type
    check: Callable[[Any], Any]
    help: str
    required: bool = False
    #: What the instance's value (as its reader gives it) is in this field's terms.
    from_iris: Callable[[Any], Any] = str
    #: Whether the instance's value (``from_iris``'d) satisfies the wanted one.
    same: Callable[[Any, Any], bool] = lambda wanted, current: wanted == current
    #: The wanted value as the instance holds it, given its manager directory (a database
    #: directory relative to it becomes absolute).
    in_instance: Callable[[Any, str], Any] = lambda value, manager_directory: value
    #: A secret (a user's password): the plan shows only that it changes, never a value.
    secret: bool = False
    #: The value a CPF merge file's text gives, in the field's TOML type, for a field whose
    #: CPF form is not the TOML type's plain text (a service's ``AutheEnabled``: a number or
    #: ``$$$`` macros); :class:`~iris_ops.errors.UsageError` when it cannot be read.
    from_cpf: Callable[[str], Any] | None = None


@dataclass(frozen=True)
class Schema:
    """A kind's fields.  ``key`` names the fields that identify an object (``("name",)``, or
    ``("namespace", "name")`` for a mapping).  ``one_of`` lists groups of fields of which an
    object must give at least one, and ``exclusive`` pairs that may not be given together."""

    kind: str
    title: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    one_of: tuple[tuple[str, ...], ...] = ()
    exclusive: tuple[tuple[str, str], ...] = ()
    #: ``(key, why)``: keys of a state file, or CPF properties, refused with a reason of their
    #: own rather than as unknown (a user's ``password``: a state never holds one).
    refused: tuple[tuple[str, str], ...] = ()

    def refusal(self, key: str) -> str | None:
        return next((why for name, why in self.refused if name == key), None)

    def field(self, name: str) -> Field:
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.fields)

    def by_prop(self, prop: str) -> Field | None:
        """The field whose IRIS property is ``prop``, exactly as IRIS spells it (case included)."""
        return next((item for item in self.fields if item.prop == prop), None)


@dataclass(frozen=True)
class StateObject:
    """One object the state file describes: ``values`` holds the fields it gave, checked."""

    kind: str
    key: tuple[str, ...]
    values: Mapping[str, Any]
    origin: Origin

    @property
    def label(self) -> str:
        return "/".join(self.key)


class Problems:
    """What is wrong with a file, every line of it, raised together as one exit-2 error."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, origin: Origin, text: str) -> None:
        self.items.append(f"{origin}: {text}")

    def raise_if_any(self, what: str, fix: str | None = None) -> None:
        if self.items:
            count = len(self.items)
            head = f"{self.source}: {count} problem{'s' if count > 1 else ''} in {what}"
            raise StateFileError(head + ":\n  " + "\n  ".join(self.items), fix=fix,
                                 details={"problems": list(self.items)})


@dataclass(frozen=True)
class DesiredState:
    """Every object a state file names, by kind, in the order the file gave them."""

    source: str
    objects: tuple[StateObject, ...] = field(default_factory=tuple)

    def of(self, kind: str) -> list[StateObject]:
        return [obj for obj in self.objects if obj.kind == kind]

    def __iter__(self) -> Iterator[StateObject]:
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)

    def as_data(self) -> dict[str, list[dict[str, Any]]]:
        """The objects as plain data, by kind (keys in the file's order): for tests and ``--json``."""
        out: dict[str, list[dict[str, Any]]] = {}
        for obj in self.objects:
            out.setdefault(obj.kind, []).append(dict(obj.values))
        return out


def read_text(path: Path, what: str, flag: str) -> str:
    """The text of the file ``path`` that ``flag`` gave; exit 2 when it cannot be read (it is
    missing, unreadable, not UTF-8, or a name no filesystem takes)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StateFileError(f"{what} {names.shown(str(path), 200)} does not exist",
                             fix=f"Check the path given to {flag}.") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StateFileError(f"cannot read {what} {names.shown(str(path), 200)}: {exc}",
                             fix=f"Check the path given to {flag}.") from None
