"""The kinds of object a desired state describes, and the core ones iris-ops knows.

A :class:`Kind` is what a plugin will contribute through a hook (issue 26, point 6): a schema
(:class:`~iris_ops.state.model.Schema`), the CPF merge actions it answers (``Create<noun>`` and
``Modify<noun>``), and a reader of the instance's current state.  The change builder and its
undo join it with ``apply``.  The core kinds below are built through this same interface, so a
plugin's kind (the security plugin's roles, users and services) is read, validated, planned and
applied exactly like them.

Field names are the TOML keys of a state file; ``prop`` is the IRIS property each one is, as the
class reference spells it (docs/STATE.md lists the sources).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from iris_ops import names
from iris_ops.errors import ConflictError, UsageError
from iris_ops.objectscript import Code
from iris_ops.script_builders import state as readers
from iris_ops.script_builders import state_changes as changes
from iris_ops.state.model import DesiredState, Field, Origin, Problems, Schema, StateObject

__all__ = ["ChangeContext", "Kind", "CORE_KINDS", "core_kinds", "FIRST_PARTY_KINDS", "kind_named", "plugin_of", "assemble",
           "permission", "text", "size_mb", "database_directory", "flag", "role_list", "iris_permission"]


@dataclass
class ChangeContext:
    """What a change builder may use besides the object: the instance's manager directory, the
    operation (its runner, settings and log: to put a file in the instance before the session),
    and ``on_end``, callables run after the session whatever happened (newest first)."""

    manager_directory: str
    operation: Any = None
    ends: list[Callable[[], object]] = field(default_factory=list)
    #: The session's result object, set by whoever ran the session before the ends run (the
    #: partial one a failed script reported; None when it reported nothing): an end can tell
    #: from it whether the script already undid what the end would (a staged file removed).
    result: Mapping[str, Any] | None = None

    def on_end(self, action: Callable[[], object]) -> None:
        self.ends.append(action)


@dataclass(frozen=True)
class Kind:
    """An object kind: its schema, the reader of its current state, the CPF action noun it
    answers (``"Database"`` answers ``CreateDatabase`` and ``ModifyDatabase``; ``""`` for none)
    and the keys of its entries in TOML: one table per object keyed by name
    (``[state.databases.APP]``) when its key is a single ``name`` field, else an array of tables
    (``[[state.global_mappings]]``)."""

    schema: Schema
    #: The reader of the current state: one list of statements per key, each pushing an entry
    #: ``{key fields..., "exists": 0|1, field: value...}`` (:mod:`iris_ops.script_builders.state`).
    reader: Callable[[list[tuple[str, ...]]], list[list[Code]]]
    cpf_noun: str = ""
    caseless_key: tuple[str, ...] = ()
    #: ``apply``'s change builders, each returning the statements of one script step (run in
    #: %SYS; a failure is a thrown error or a failing ``check_status``).  None where apply cannot
    #: make that change: a plan that needs it is refused before anything changes (exit 2).
    #:
    #: * ``create(key, fields, ctx)``: make the object.  ``fields`` holds every field the state
    #:   gives, key fields included, each value as the instance holds it (``Field.in_instance``:
    #:   a database directory is absolute).
    #: * ``modify(key, fields, ctx)``: set those fields (field name -> value) of the existing
    #:   object and leave the others.  A change's undo is ``modify`` with the old values the plan
    #:   read (``Field.from_iris``'d).
    #: * ``remove(key, fields, ctx)``: remove the object when it exists, and do nothing when it
    #:   does not (the undo of a create, and ``--prune``).  ``fields``: what apply knows of it (the
    #:   create's fields, or what the plan read), for a kind whose removal needs more than its
    #:   key (a database's directory).
    #:
    #: ``ctx`` is a :class:`ChangeContext`.  A builder runs before the session does: one that
    #: must put something in the instance first (a password, see the security plugin) does it
    #: through ``ctx.operation`` and registers its removal with ``ctx.on_end``.
    create: "Callable[[tuple[str, ...], Mapping[str, Any], ChangeContext], list[Code]] | None" = None
    modify: "Callable[[tuple[str, ...], Mapping[str, Any], ChangeContext], list[Code]] | None" = None
    remove: "Callable[[tuple[str, ...], Mapping[str, Any], ChangeContext], list[Code]] | None" = None
    #: Fields whose change cannot be undone (a database's size: IRIS does not shrink a database;
    #: a password: the old one cannot be read).  Apply makes those changes after every other one
    #: of the session, and a rollback leaves them.
    one_way: tuple[str, ...] = ()
    #: A reader that needs more than the keys, used instead of ``reader``: it gets the objects
    #: (their values) and a :class:`ChangeContext`, to put something in the instance before the
    #: session (a password the instance compares with the stored hash; its removal through
    #: ``ctx.on_end``).  ``ctx.manager_directory`` may be ``""`` (not known before the read).
    read_objects: "Callable[[list[StateObject], ChangeContext], list[list[Code]]] | None" = None
    #: Objects of this kind exist or not (a service): iris-ops never creates or removes them,
    #: and a state naming one the instance lacks is refused (exit 2).  Its CPF noun answers
    #: ``Modify<noun>`` only.
    must_exist: bool = False
    #: The kinds this one needs to exist first (a role grants resources: ``("resources",)``).
    #: :func:`iris_ops.manager.state_kinds` places a plugin's kind right after the last of them
    #: (after the kinds placed there before it), so that ``plan`` reads and ``apply`` creates it
    #: after them, and ``--prune`` and a rollback remove it before them; a kind naming none comes
    #: last.  A name no installed kind has stops the program (exit 1), naming the plugin.
    after: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.schema.kind

    @property
    def keyed_by_name(self) -> bool:
        return self.schema.key == ("name",)

    def identity(self, key: tuple[str, ...]) -> tuple[str, ...]:
        """The key as IRIS compares it: resource and role names without case (IRIS stores
        namespace and database names upper-cased already)."""
        return tuple(part.upper() if name in self.caseless_key else part for name, part in zip(self.schema.key, key))

    def build(self, raw: dict[str, Any], origin: Origin, problems: Problems,
              where: Callable[[str], Origin] | None = None, *, partial: bool = False) -> StateObject | None:
        """The object ``raw`` (field name -> value as the file gave it) describes, every value
        checked; None after adding each problem (``where(field)`` says the line of a field).
        ``partial`` (a CPF ``Modify`` action) asks for the key fields only."""
        where = where or (lambda _name: origin)
        schema = self.schema
        values: dict[str, Any] = {}
        before = len(problems.items)
        for item in schema.fields:
            if item.name not in raw:
                if item.required and (not partial or item.name in schema.key):
                    problems.add(origin, f"{schema.title} needs {item.name!r} ({item.help})")
                continue
            given = raw[item.name]
            if item.toml_type is int and isinstance(given, bool) or not isinstance(given, item.toml_type):
                problems.add(where(item.name), f"{schema.title} {item.name!r} must be "
                                               f"{_TYPE_WORDS[item.toml_type]}, got {_given(given)}")
                continue
            try:
                values[item.name] = item.check(given)
            except UsageError as exc:
                problems.add(where(item.name), f"{schema.title} {item.name!r}: {exc.message}")
        for group in () if partial else schema.one_of:
            if not any(name in raw for name in group):
                problems.add(origin, f"{schema.title} needs one of {', '.join(repr(n) for n in group)}")
        for first, second in schema.exclusive:
            if first in raw and second in raw:
                problems.add(where(second), f"{schema.title} takes {first!r} or {second!r}, not both")
        if len(problems.items) > before:
            return None
        key = tuple(values[name] for name in schema.key)
        return StateObject(self.name, key, values, origin)


_TYPE_WORDS = {str: "a string", int: "a whole number", bool: "true or false", list: "a list", dict: "a table"}


def assemble(source: str, objects: list[StateObject], kinds: tuple[Kind, ...], problems: Problems) -> DesiredState:
    """The desired state of ``objects``: each object once.  Two declarations of one object (its
    key as IRIS compares it) are merged when they give no field two different values, which is
    how a CPF file's ``Create`` and ``Modify`` of one object read; otherwise each clash is a
    problem naming both lines."""
    merged: dict[tuple[str, tuple[str, ...]], StateObject] = {}
    for obj in objects:
        kind = kind_named(obj.kind, kinds)
        ident = (obj.kind, kind.identity(obj.key) if kind else obj.key)
        earlier = merged.get(ident)
        if earlier is None:
            merged[ident] = obj
            continue
        key_fields = kind.schema.key if kind else ()
        clashes = [name for name, value in obj.values.items()
                   if name not in key_fields and name in earlier.values and earlier.values[name] != value]
        if clashes:
            for name in clashes:
                problems.add(obj.origin, f"{kind.schema.title if kind else obj.kind} {obj.label}: {name!r} is "
                                         f"{earlier.values[name]!r} at {earlier.origin} and {obj.values[name]!r} here")
            continue
        values = {**earlier.values, **{k: v for k, v in obj.values.items() if k not in key_fields}}
        merged[ident] = StateObject(obj.kind, earlier.key, values, earlier.origin)
    order = {kind.name: index for index, kind in enumerate(kinds)}
    ordered = sorted(merged.values(), key=lambda item: order.get(item.kind, len(order)))
    return DesiredState(source, tuple(ordered))


# --- value checks -------------------------------------------------------------------------------


def text(value: Any, *, limit: int = 256) -> str:
    """A description: printable text (a CR or LF would end a generated script line, IRIS.md §5)."""
    if not isinstance(value, str) or len(value) > limit or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise UsageError(f"expected text of at most {limit} characters without control characters, got "
                         f"{names.shown(value)}")
    return value


_RWU = "RWU"


def _given(value: Any) -> str:
    """A value the file gave, for a message: text quoted (:func:`iris_ops.names.shown`), others
    as Python shows them."""
    return names.shown(value) if isinstance(value, str) else repr(value)


def permission(value: Any, *, empty: bool = True) -> str:
    """A permission: letters of R (read), W (write), U (use), in any case and order, given back
    in IRIS's order (``RWU``); ``""`` (no permission) only where ``empty``."""
    letters = value.upper() if isinstance(value, str) else ""
    if not isinstance(value, str) or any(ch not in _RWU for ch in letters) or len(set(letters)) != len(value):
        raise UsageError(f"invalid permission {names.shown(value)}: use the letters R, W and U, each at most once")
    if not value and not empty:
        raise UsageError("an empty permission grants nothing: give R, W and/or U")
    return "".join(ch for ch in _RWU if ch in value.upper())


def role_list(value: Any) -> list[str]:
    """Role names, each once (compared without case)."""
    if not isinstance(value, list):
        raise UsageError("expected a list of role names")
    out: list[str] = []
    for item in value:
        role = names.role(item)
        if role.upper() in {known.upper() for known in out}:
            raise UsageError(f"role {role} is named twice")
        out.append(role)
    return out


def size_mb(value: Any) -> int:
    """A database size in MB: a whole number from 1 (SYS.Database ``Size``)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 33553904:
        raise UsageError(f"invalid size {_given(value)}: a whole number of MB from 1 to 33553904 "
                         "(the largest MaxSize of an 8 KB database, SYS.Database)")
    return value


def database_directory(value: Any) -> str:
    """Absolute (``/data/app/``), or relative to the manager directory (``app-data/``); with a
    trailing ``/`` either way, as IRIS reports directories."""
    if isinstance(value, str) and value.startswith("/"):
        return names.directory(value, what="database directory")
    return names.relative_directory(value, what="database directory")


def database_resource(value: Any) -> str:
    """A database's resource: "All database resource names must begin with %DB_" (SYS.Database)."""
    name = names.resource(value) if isinstance(value, str) else value
    if not isinstance(name, str) or not name.upper().startswith("%DB_"):
        raise UsageError(f"invalid database resource {_given(value)}: a database's resource name begins with %DB_ "
                         "(e.g. %DB_APP_DATA)")
    return name


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"expected true or false, got {_given(value)}")
    return value


def _caseless(wanted: Any, current: Any) -> bool:
    return str(wanted).upper() == str(current).upper()


def _at_least(wanted: Any, current: Any) -> bool:
    return isinstance(current, int) and current >= wanted


def _integer(value: Any) -> Any:
    return int(value) if isinstance(value, int) or str(value).isdigit() else value


def _iris_flag(value: Any) -> Any:
    return {0: False, 1: True, "0": False, "1": True, "": False}.get(value, value)


def iris_permission(value: Any) -> str:
    """A permission as IRIS gives it: letters (``RW``), or the bitmap of Security.Datatype.Permission
    (bit 0 read, bit 1 write, bit 2 use) where a release gives the number (docs/STATE.md)."""
    text = str(value)
    if text.isdigit():
        bits = int(text)
        return "".join(letter for bit, letter in enumerate(_RWU) if bits & (1 << bit))
    return "".join(ch for ch in _RWU if ch in text.upper())



# --- the core kinds -------------------------------------------------------------------------------


def _required_directory(name: str, fields: Mapping[str, Any]) -> str:
    """A database to create needs its directory (as ``CreateDatabase`` of a merge file does)."""
    if not fields.get("directory"):
        raise UsageError(f"database {name} is to be created, and the state gives no directory for it",
                         fix=f"Add directory = \"...\" to [state.databases.{name}] (relative to the manager directory).")
    return fields["directory"]


def _movable(name: str, fields: Mapping[str, Any]) -> Mapping[str, Any]:
    """apply changes a database's size and resource; it does not move one to another directory."""
    if "directory" in fields:
        raise ConflictError(f"database {name} is in another directory than the state gives: apply does not move "
                               "a database", fix="Give the directory it has, or move it yourself (dismount, move "
                               "the file, Config.Databases.Modify) and apply again.")
    return fields

DATABASES = Kind(Schema(
    kind="databases", title="database", key=("name",),
    fields=(
        Field("name", "Name", str, names.database, "the database name (upper-cased, as IRIS stores it)",
              required=True),
        Field("directory", "Directory", str, database_directory,
              "its directory: relative to the manager directory, or absolute",
              in_instance=lambda value, mgr: value if value.startswith("/") else mgr + value),
        Field("size", "Size", int, size_mb, "its size in MB, at least (a database only grows)",
              from_iris=_integer, same=_at_least),
        Field("resource", "ResourceName", str, database_resource, "the resource in its label (%DB_...)",
              same=_caseless),
    ),
), reader=lambda keys: readers.read_databases([key[0] for key in keys]), cpf_noun="Database",
    create=lambda key, fields, ctx: changes.create_database(key[0], _required_directory(key[0], fields), fields),
    modify=lambda key, fields, ctx: changes.modify_database(key[0], _movable(key[0], fields)),
    remove=lambda key, fields, ctx: changes.remove_database(key[0], fields["directory"]),
    one_way=("size",))

NAMESPACES = Kind(Schema(
    kind="namespaces", title="namespace", key=("name",),
    fields=(
        Field("name", "Name", str, names.namespace, "the namespace name", required=True),
        Field("globals", "Globals", str, names.database, "its globals database", same=_caseless),
        Field("routines", "Routines", str, names.database, "its routines database", same=_caseless),
        Field("temp_globals", "TempGlobals", str, names.database, "its temporary globals database",
              same=_caseless),
        Field("interop", "Interop", bool, flag, "whether interoperability is enabled in it", from_iris=_iris_flag),
        Field("fixture", "", str, names.fixture_name,
              "a fixture to restore into it when it is missing (instead of globals and routines)"),
    ),
    one_of=(("globals", "fixture"),),
    exclusive=(("fixture", "globals"), ("fixture", "routines")),
), reader=lambda keys: readers.read_namespaces([key[0] for key in keys]), cpf_noun="Namespace",
    create=lambda key, fields, ctx: changes.create_namespace(key[0], fields),
    modify=lambda key, fields, ctx: changes.modify_namespace(key[0], fields),
    remove=lambda key, fields, ctx: changes.remove_namespace(key[0]),
    # Enabling interoperability creates what it needs; whether IRIS can disable it again is not
    # documented (docs/STATE.md): made last and never undone, right whichever way IRIS answers.
    one_way=("interop",))


def _mapping(kind: str, title: str, noun: str, check: Callable[[str], str], what: str, of: str) -> Kind:
    return Kind(Schema(
        kind=kind, title=title, key=("namespace", "name"),
        fields=(
            Field("namespace", "Namespace", str, names.namespace, "the namespace it belongs to (%ALL for every one)",
                  required=True),
            Field("name", "Name", str, check, what, required=True),
            Field("database", "Database", str, names.database, "the database it maps to", required=True,
                  same=_caseless),
        ),
    ), reader=lambda keys: readers.read_mappings(of, list(keys)), cpf_noun=noun,
        create=lambda key, fields, ctx: changes.create_mapping(of, key[0], key[1], fields),
        modify=lambda key, fields, ctx: changes.modify_mapping(of, key[0], key[1], fields),
        remove=lambda key, fields, ctx: changes.remove_mapping(of, key[0], key[1]))


#: The mapping kinds, as :func:`_mapping` makes them: kind, title, CPF noun, name check, what the
#: name is, and the Config class family (``Config.MapGlobals``...).
_MAPPINGS = (
    ("global_mappings", "global mapping", "MapGlobal", names.global_mapping,
     "the global (without ^), Name*, or Name(subscripts)", "globals"),
    ("routine_mappings", "routine mapping", "MapRoutine", names.routine_mapping,
     "the routine, Name*, optionally with _MAC, _INT, _INC or _OBJ", "routines"),
    ("package_mappings", "package mapping", "MapPackage", names.package, "the class package", "packages"),
)
GLOBAL_MAPPINGS, ROUTINE_MAPPINGS, PACKAGE_MAPPINGS = (_mapping(*spec) for spec in _MAPPINGS)

RESOURCES = Kind(Schema(
    kind="resources", title="resource", key=("name",),
    fields=(
        Field("name", "Name", str, names.resource, "the resource name", required=True),
        Field("description", "Description", str, text, "its description"),
        Field("public_permission", "PublicPermission", str, permission,
              "what everyone may do with it: R, W, U, or \"\" for nothing", from_iris=iris_permission),
    ),
), reader=lambda keys: readers.read_resources([key[0] for key in keys]), cpf_noun="Resource",
    caseless_key=("name",),
    create=lambda key, fields, ctx: changes.create_resource(key[0], fields),
    modify=lambda key, fields, ctx: changes.modify_resource(key[0], fields),
    remove=lambda key, fields, ctx: changes.remove_resource(key[0]))



def core_kinds() -> tuple[Kind, ...]:
    """The kinds iris-ops itself knows, in dependency order (what apply follows; plugins' kinds
    join it through ``Kind.after``).  Made at each call, as a plugin's kinds are by its hook: the
    mapping kinds come from :func:`_mapping` then (and mutation testing sees that code run)."""
    return (RESOURCES, DATABASES, NAMESPACES, *(_mapping(*spec) for spec in _MAPPINGS))


#: :func:`core_kinds` as made at import, for code that compares kinds by name.
CORE_KINDS: tuple[Kind, ...] = (RESOURCES, DATABASES, NAMESPACES, GLOBAL_MAPPINGS, ROUTINE_MAPPINGS, PACKAGE_MAPPINGS)

_SECURITY_PLUGIN = ("roles, users and services are kinds of the security plugin: install iris-ops-security "
                    "(pip install ./plugins/iris-ops-security from an iris-ops checkout), "
                    "or, where it is installed, take 'security' out of disable_plugins (IRIS_OPS_DISABLE_PLUGINS)")
#: The kinds of iris-ops' first-party plugins, each with what to tell a state or merge file that
#: names it when that plugin is not installed (the file is refused, exit 2).
FIRST_PARTY_KINDS: dict[str, str] = {"roles": _SECURITY_PLUGIN, "users": _SECURITY_PLUGIN,
                                     "services": _SECURITY_PLUGIN}


def kind_named(name: str, kinds: tuple[Kind, ...] | None = None) -> Kind | None:
    return next((kind for kind in (core_kinds() if kinds is None else kinds) if kind.name == name), None)


def plugin_of(name: str) -> str | None:
    """Which first-party plugin adds the kind ``name`` and how to install it (None: no such kind)."""
    return FIRST_PARTY_KINDS.get(name)
