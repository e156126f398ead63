"""The fixture directory format: manifest schema, path safety, offline validation, atomic writing.

A fixture is a directory::

    <fixture>/
      manifest.json                      schema "iris-ops/fixture/1" (see Manifest)
      databases/<NAME>/IRIS.DAT          one per distinct database of the namespace

An iris-devtester fixture (manifest ``schema_version`` "1.0", ``IRIS.DAT`` beside it) loads into
the same model as one database with role ``globals+routines``.

Malformed input (missing or unreadable manifest, wrong types, unsafe paths) raises
:class:`~iris_ops.errors.FixtureError`.  Content problems (sizes, checksums, DAT labels) are
*findings* returned by :func:`check`; only the validate operation turns them into a
:class:`~iris_ops.errors.ValidationError`.

Nothing here talks to Docker or IRIS.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Union

from . import datlabel
from .errors import ConflictError, FixtureError, InternalError
from .names import SYSTEM_DATABASES

__all__ = [
    "SCHEMA_ID",
    "DEVTESTER_SCHEMA",
    "MANIFEST_NAME",
    "ROLES",
    "CONSISTENCY_METHODS",
    "Source",
    "NamespaceInfo",
    "Database",
    "Table",
    "Consistency",
    "Manifest",
    "Fixture",
    "Finding",
    "Report",
    "FixtureWriter",
    "load",
    "check",
    "hash_file",
    "check_relative_path",
    "database_file",
    "utc_now",
]

#: Our manifest schema.  A change that old readers would misread gets a new number.
SCHEMA_ID = "iris-ops/fixture/1"
#: The iris-devtester manifest we read (its ``schema_version``); recorded as ``imported_from``.
DEVTESTER_SCHEMA = "1.0"
DEVTESTER_ORIGIN = "iris-devtester/1.0"
MANIFEST_NAME = "manifest.json"
ROLES = ("globals", "routines", "globals+routines")
CONSISTENCY_METHODS = ("external-freeze", "dismount")
#: Consistency of an imported fixture whose tool recorded none (iris-devtester copied live files).
UNKNOWN_CONSISTENCY = "unknown"


_MAX_MANIFEST_BYTES = 16 << 20
# IRIS.md §2, as in names.py but anchored with \Z: `$` would accept a trailing newline.
_NAMESPACE_RE = re.compile(r"[A-Za-z%][A-Za-z0-9_-]{0,63}\Z")
_DATABASE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}\Z")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

PathLike = Union[str, "os.PathLike[str]"]

_FIX_MANIFEST = (
    "Recreate the fixture with `iris-ops backup`, or correct the named field in manifest.json "
    f"(schema {SCHEMA_ID!r}; iris-devtester schema_version {DEVTESTER_SCHEMA!r} is also read)."
)
_FIX_PATH = (
    "File paths in manifest.json must be relative, use forward slashes, contain no '..' or "
    "control characters, and stay inside the fixture directory (no symlinks pointing out)."
)


def utc_now() -> str:
    """The current time as the manifest's ``created_at`` wants it: ``2025-01-31T12:00:00Z``."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


@dataclass
class Source:
    """Where the fixture was taken: ``iris_version`` is the instance's ``$ZVERSION``."""

    iris_version: str
    container: str | None = None
    instance: str | None = None


@dataclass
class NamespaceInfo:
    """The source namespace and its Config.Namespaces properties (Globals, Routines, TempGlobals, ...)."""

    name: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class Database:
    """One IRIS.DAT of the fixture.

    ``file`` is relative to the fixture directory (``databases/APP_DATA/IRIS.DAT``); ``bytes`` and
    ``sha256`` describe that file as written.  ``directory``, ``resource`` and ``block_size`` are
    what the source instance reported; ``None`` only in fixtures imported from iris-devtester,
    which did not record them.
    """

    name: str
    role: str
    file: str
    sha256: str
    bytes: int | None = None
    directory: str | None = None
    resource: str | None = None
    block_size: int | None = None
    size_mb: float | None = None

    @property
    def has_globals(self) -> bool:
        return self.role in ("globals", "globals+routines")

    @property
    def has_routines(self) -> bool:
        return self.role in ("routines", "globals+routines")


@dataclass
class Table:
    name: str
    row_count: int


@dataclass
class Consistency:
    """How the copy was made consistent.

    ``method`` is ``external-freeze`` (Backup.General.ExternalFreeze/Thaw around the copy) or
    ``dismount`` (database dismounted during the copy); ``window_seconds`` is how long the
    instance was frozen or the database dismounted.  ``unknown`` only for imported fixtures.
    """

    method: str
    window_seconds: float | None = None


@dataclass
class Manifest:
    """The content of ``manifest.json`` (schema :data:`SCHEMA_ID`)."""

    fixture_id: str
    description: str
    created_at: str
    tool: str
    source: Source
    namespace: NamespaceInfo
    databases: list[Database]
    tables: list[Table] = field(default_factory=list)
    consistency: Consistency = field(default_factory=lambda: Consistency(UNKNOWN_CONSISTENCY))
    #: Set when the manifest was converted from another tool's format (``"iris-devtester/1.0"``).
    imported_from: str | None = None
    #: Fields of the imported format with no place in ours (iris-devtester ``version``, ``features``, ...).
    extras: dict[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA_ID

    # -- derived ---------------------------------------------------------------------------
    @property
    def globals_database(self) -> Database:
        return next(d for d in self.databases if d.has_globals)

    @property
    def routines_database(self) -> Database:
        return next(d for d in self.databases if d.has_routines)

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        ordered: dict[str, Any] = {"schema": data.pop("schema")}
        ordered.update(data)
        if ordered["imported_from"] is None:
            del ordered["imported_from"]
        if not ordered["extras"]:
            del ordered["extras"]
        return ordered

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, *, where: str = MANIFEST_NAME) -> "Manifest":
        """Build a manifest from parsed JSON in our schema or iris-devtester "1.0".

        Raises :class:`FixtureError` naming the field (``databases[1].sha256``) and the file.
        """
        p = _Parser(where)
        obj = p.obj(data, "")
        if "schema" in obj:
            schema = obj["schema"]
            if schema == SCHEMA_ID:
                return p.ours(obj)
            if isinstance(schema, str) and schema.startswith("iris-ops/"):
                p.fail("schema", f"is {schema!r}, which this iris-ops does not know (it reads {SCHEMA_ID!r})",
                       fix="Upgrade iris-ops to read this fixture.")
            p.fail("schema", f"is {schema!r}; expected {SCHEMA_ID!r}")
        if "schema_version" in obj:
            if obj["schema_version"] == DEVTESTER_SCHEMA:
                return p.devtester(obj)
            p.fail("schema_version", f"is {obj['schema_version']!r}; the iris-devtester schema read is {DEVTESTER_SCHEMA!r}")
        p.fail("", f"has neither 'schema' ({SCHEMA_ID!r}) nor iris-devtester's 'schema_version' ({DEVTESTER_SCHEMA!r})")
        raise AssertionError("unreachable")

    @classmethod
    def from_json(cls, text: str | bytes, *, where: str = MANIFEST_NAME) -> "Manifest":
        return cls.from_dict(_parse_json(text, where), where=where)


# --------------------------------------------------------------------------------------------
# Manifest parsing and validation
# --------------------------------------------------------------------------------------------


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(text: str | bytes, where: str) -> Any:
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except UnicodeDecodeError as e:
        raise FixtureError(f"{where} is not UTF-8 text: {e}", fix=_FIX_MANIFEST) from None
    except ValueError as e:  # JSONDecodeError is a ValueError
        raise FixtureError(f"{where} is not valid JSON: {e}", fix=_FIX_MANIFEST) from None


class _Parser:
    """Typed field access that fails with the field's path and the file's name."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, problem: str, *, fix: str = _FIX_MANIFEST) -> None:
        subject = f"field {path!r}" if path else "the top level"
        raise FixtureError(f"{self.where}: {subject} {problem}", fix=fix, details={"file": self.where, "field": path})

    # -- primitives ------------------------------------------------------------------------
    def obj(self, v: Any, path: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            self.fail(path, f"must be a JSON object, got {_jtype(v)}")
        return v

    def get(self, o: dict, key: str, path: str, *, required: bool = True) -> Any:
        full = f"{path}.{key}" if path else key
        if key not in o:
            if required:
                self.fail(full, "is missing")
            return None
        return o[key]

    def str_(self, o: dict, key: str, path: str = "", *, required: bool = True, nullable: bool = False,
             empty: bool = True) -> Any:
        full = f"{path}.{key}" if path else key
        v = self.get(o, key, path, required=required)
        if v is None and (nullable or (not required and key not in o)):
            return None
        if not isinstance(v, str):
            self.fail(full, f"must be a string, got {_jtype(v)}")
        if not empty and not v:
            self.fail(full, "must not be empty")
        return v

    def int_(self, o: dict, key: str, path: str = "", *, nullable: bool = False, minimum: int = 0) -> Any:
        full = f"{path}.{key}" if path else key
        v = self.get(o, key, path)
        if v is None and nullable:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(full, f"must be an integer, got {_jtype(v)}")
        if v < minimum:
            self.fail(full, f"must be at least {minimum}, got {v}")
        return v

    def num(self, o: dict, key: str, path: str = "", *, nullable: bool = False) -> Any:
        full = f"{path}.{key}" if path else key
        v = self.get(o, key, path)
        if v is None and nullable:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.fail(full, f"must be a number, got {_jtype(v)}")
        if v < 0:
            self.fail(full, f"must not be negative, got {v}")
        return v

    def list_(self, o: dict, key: str, path: str = "", *, required: bool = True) -> list:
        full = f"{path}.{key}" if path else key
        v = self.get(o, key, path, required=required)
        if v is None and not required:
            return []
        if not isinstance(v, list):
            self.fail(full, f"must be a JSON array, got {_jtype(v)}")
        return v

    def unknown_keys(self, o: dict, known: Iterable[str], path: str) -> None:
        extra = sorted(set(o) - set(known))
        if extra:
            self.fail(path, f"has unknown key(s) {', '.join(map(repr, extra))}")

    # -- values ----------------------------------------------------------------------------
    def sha256(self, v: str, path: str) -> str:
        if not _SHA256_RE.match(v):
            self.fail(path, f"must be 64 hexadecimal digits, got {v!r}")
        return v.lower()

    def namespace_name(self, v: str, path: str) -> str:
        if not _NAMESPACE_RE.match(v):
            self.fail(path, f"is not a valid namespace name: {v!r} (1-64 characters: a letter or %, then letters, digits, - or _)")
        return v

    def database_name(self, v: str, path: str) -> str:
        if not _DATABASE_RE.match(v):
            self.fail(path, f"is not a valid database name: {v!r} (1-64 characters: a letter, then letters, digits, - or _)")
        if v.upper() in SYSTEM_DATABASES:
            self.fail(path, f"names the system database {v.upper()}; fixtures never carry system databases")
        return v

    def created_at(self, v: str, path: str) -> str:
        try:
            t = _dt.datetime.fromisoformat(v[:-1] + "+00:00" if v.endswith("Z") else v)
        except ValueError:
            t = None
        if t is None or t.utcoffset() != _dt.timedelta(0):
            self.fail(path, f"must be a UTC ISO-8601 time such as '2025-01-31T12:00:00Z', got {v!r}")
        return v

    def text(self, v: str, path: str) -> str:
        if _CONTROL_RE.search(v):
            self.fail(path, f"contains control characters: {v!r}")
        return v

    # -- schemas ---------------------------------------------------------------------------
    def ours(self, o: dict) -> Manifest:
        self.unknown_keys(o, ("schema", "fixture_id", "description", "created_at", "tool", "source", "namespace",
                              "databases", "tables", "consistency", "imported_from", "extras"), "")
        imported = self.str_(o, "imported_from", required=False, nullable=True)
        src = self.obj(self.get(o, "source", ""), "source")
        self.unknown_keys(src, ("iris_version", "container", "instance"), "source")
        ns = self.obj(self.get(o, "namespace", ""), "namespace")
        self.unknown_keys(ns, ("name", "properties"), "namespace")
        props = self.obj(self.get(ns, "properties", "namespace"), "namespace.properties")
        for k, v in props.items():
            if v is not None and not isinstance(v, (str, int, float, bool)):
                self.fail(f"namespace.properties.{k}", f"must be a string or number, got {_jtype(v)}")
        cons = self.obj(self.get(o, "consistency", ""), "consistency")
        self.unknown_keys(cons, ("method", "window_seconds"), "consistency")
        method = self.str_(cons, "method", "consistency")
        allowed = CONSISTENCY_METHODS + ((UNKNOWN_CONSISTENCY,) if imported else ())
        if method not in allowed:
            self.fail("consistency.method", f"must be one of {', '.join(map(repr, allowed))}, got {method!r}")
        dbs = []
        for i, raw in enumerate(self.list_(o, "databases")):
            path = f"databases[{i}]"
            d = self.obj(raw, path)
            self.unknown_keys(d, ("name", "role", "directory", "resource", "block_size", "size_mb", "file",
                                  "bytes", "sha256"), path)
            n = bool(imported)  # imported fixtures may lack what their tool never recorded
            role = self.str_(d, "role", path)
            if role not in ROLES:
                self.fail(f"{path}.role", f"must be one of {', '.join(map(repr, ROLES))}, got {role!r}")
            dbs.append(Database(
                name=self.database_name(self.str_(d, "name", path), f"{path}.name"),
                role=role,
                file=self.str_(d, "file", path),
                sha256=self.sha256(self.str_(d, "sha256", path), f"{path}.sha256"),
                bytes=self.int_(d, "bytes", path, nullable=n),
                directory=self.str_(d, "directory", path, nullable=n, empty=False),
                resource=self.str_(d, "resource", path, nullable=n, empty=False),
                block_size=self.int_(d, "block_size", path, nullable=n, minimum=512),
                size_mb=self.num(d, "size_mb", path, nullable=n),
            ))
        m = Manifest(
            fixture_id=self.text(self.str_(o, "fixture_id", empty=False), "fixture_id"),
            description=self.str_(o, "description"),
            created_at=(self.str_(o, "created_at") if imported
                        else self.created_at(self.str_(o, "created_at"), "created_at")),
            tool=self.str_(o, "tool"),
            source=Source(
                iris_version=self.str_(src, "iris_version", "source"),
                container=self.str_(src, "container", "source", nullable=True),
                instance=self.str_(src, "instance", "source", nullable=True),
            ),
            namespace=NamespaceInfo(
                name=self.namespace_name(self.str_(ns, "name", "namespace"), "namespace.name"),
                properties=dict(props),
            ),
            databases=dbs,
            tables=self.tables(o),
            consistency=Consistency(method=method, window_seconds=self.num(cons, "window_seconds", "consistency",
                                                                           nullable=True)),
            imported_from=imported,
            extras=dict(self.obj(o["extras"], "extras")) if "extras" in o else {},
        )
        self.coherent(m)
        return m

    def devtester(self, o: dict) -> Manifest:
        """iris-devtester schema "1.0": one IRIS.DAT for the whole namespace, ``checksum`` "sha256:<hex>"."""
        checksum = self.str_(o, "checksum")
        if not checksum.startswith("sha256:"):
            self.fail("checksum", f"must start with 'sha256:', got {checksum!r}")
        namespace = self.namespace_name(self.str_(o, "namespace"), "namespace")
        # iris-devtester recorded no database name; for USER-style namespaces it is the namespace's.
        db_name = namespace.lstrip("%") or namespace
        known = ("fixture_id", "version", "schema_version", "description", "created_at", "iris_version",
                 "namespace", "dat_file", "checksum", "tables")
        extras = {k: v for k, v in o.items() if k not in known}
        extras["version"] = self.str_(o, "version")
        m = Manifest(
            fixture_id=self.text(self.str_(o, "fixture_id", empty=False), "fixture_id"),
            description=self.str_(o, "description"),
            # Kept verbatim: iris-devtester wrote e.g. '2025-10-14T15:30:00.123456+00:00Z'.
            created_at=self.str_(o, "created_at"),
            tool="iris-devtester",
            source=Source(iris_version=self.str_(o, "iris_version")),
            namespace=NamespaceInfo(name=namespace, properties={}),
            databases=[Database(
                name=db_name,
                role="globals+routines",
                file=self.str_(o, "dat_file", empty=False),
                sha256=self.sha256(checksum[len("sha256:"):], "checksum"),
            )],
            tables=self.tables(o, required=True),
            consistency=Consistency(UNKNOWN_CONSISTENCY),
            imported_from=DEVTESTER_ORIGIN,
            extras=extras,
        )
        self.coherent(m)
        return m

    def tables(self, o: dict, *, required: bool = False) -> list[Table]:
        out = []
        seen: set[str] = set()
        for i, raw in enumerate(self.list_(o, "tables", required=required)):
            path = f"tables[{i}]"
            t = self.obj(raw, path)
            name = self.text(self.str_(t, "name", path, empty=False), f"{path}.name")
            if name.lower() in seen:
                self.fail(f"{path}.name", f"repeats table {name!r}")
            seen.add(name.lower())
            out.append(Table(name=name, row_count=self.int_(t, "row_count", path)))
        return out

    def coherent(self, m: Manifest) -> None:
        """The databases must cover the namespace exactly once each way (IRIS.md §2b)."""
        if not m.databases:
            self.fail("databases", "is empty; a namespace backup carries its Globals and Routines databases")
        names: set[str] = set()
        files: set[str] = set()
        for i, d in enumerate(m.databases):
            if d.name.upper() in names:
                self.fail(f"databases[{i}].name", f"repeats database {d.name!r}")
            names.add(d.name.upper())
            try:
                key = PurePosixPath(check_relative_path(d.file)).as_posix()
            except FixtureError as e:
                self.fail(f"databases[{i}].file", f"is unsafe: {e.message}", fix=_FIX_PATH)
            if key in files:
                self.fail(f"databases[{i}].file", f"repeats file {d.file!r}")
            files.add(key)
        for what, attr, prop in (("globals", "has_globals", "Globals"), ("routines", "has_routines", "Routines")):
            holders = [d for d in m.databases if getattr(d, attr)]
            if len(holders) != 1:
                self.fail("databases", f"must hold exactly one database with the {what} role "
                          f"('{what}' or 'globals+routines'), found {len(holders)}")
            named = m.namespace.properties.get(prop)
            if isinstance(named, str) and named and named.upper() != holders[0].name.upper():
                self.fail(f"namespace.properties.{prop}", f"is {named!r} but the {what} database is {holders[0].name!r}")


def _jtype(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null",
            int: "integer", float: "number"}.get(type(v), type(v).__name__)


# --------------------------------------------------------------------------------------------
# Path safety
# --------------------------------------------------------------------------------------------


def check_relative_path(relative: str) -> str:
    """Check the text of a manifest file path; return it, or raise :class:`FixtureError`.

    Relative, forward slashes, no ``..``, no control characters, not the manifest itself.
    The filesystem half (symlinks pointing out) is :func:`database_file`.
    """
    def bad(why: str) -> FixtureError:
        return FixtureError(f"unsafe file path {relative!r} in the manifest: {why}", fix=_FIX_PATH,
                            details={"path": relative})

    if not isinstance(relative, str) or not relative:
        raise bad("empty")
    if _CONTROL_RE.search(relative):
        raise bad("contains NUL or control characters")
    if "\\" in relative:
        raise bad("contains a backslash")
    if relative.startswith("/") or re.match(r"[A-Za-z]:", relative):
        raise bad("absolute path")
    parts = PurePosixPath(relative).parts
    if ".." in parts:
        raise bad("contains '..'")
    if not parts or parts == (".",):
        raise bad("names the fixture directory itself")
    if PurePosixPath(*parts).as_posix() == MANIFEST_NAME:
        raise bad("names the manifest itself")
    return relative


def database_file(root: PathLike, relative: str) -> Path:
    """The absolute path of a manifest file path inside fixture ``root``; FixtureError when it escapes.

    Resolves symlinks (also in intermediate directories) and requires the result to stay
    strictly inside the resolved root.  The file itself need not exist.
    """
    check_relative_path(relative)
    base = Path(root).resolve()
    candidate = base.joinpath(*PurePosixPath(relative).parts)
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as e:  # symlink loop
        raise FixtureError(f"unsafe file path {relative!r} in the manifest: cannot resolve: {e}", fix=_FIX_PATH) from None
    if resolved == base or base not in resolved.parents:
        raise FixtureError(
            f"unsafe file path {relative!r} in the manifest: resolves to {resolved}, outside the fixture {base}",
            fix=_FIX_PATH, details={"path": relative, "resolved": str(resolved)},
        )
    return candidate


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    """A loaded fixture: its resolved ``root``, its ``manifest``, and the schema its manifest.json used."""

    root: Path
    manifest: Manifest
    schema: str

    def path_of(self, db: Database) -> Path:
        """Absolute path of a database's file (already proven to stay inside the fixture)."""
        return database_file(self.root, db.file)

    @property
    def databases(self) -> list[Database]:
        return self.manifest.databases


def load(fixture_dir: PathLike) -> Fixture:
    """Read and validate ``fixture_dir/manifest.json`` (our schema or iris-devtester "1.0").

    Checks the structure and every file path (text and symlinks); does not read the database
    files: that is :func:`check`.  Raises :class:`FixtureError`.
    """
    root = Path(fixture_dir)
    if not root.exists():
        raise FixtureError(f"fixture directory {root} does not exist")
    if not root.is_dir():
        raise FixtureError(f"fixture path {root} is not a directory")
    manifest_path = root / MANIFEST_NAME
    where = str(manifest_path)
    if not manifest_path.exists():
        raise FixtureError(f"{root} holds no {MANIFEST_NAME}: it is not a fixture directory")
    real = manifest_path.resolve()
    if real.parent != root.resolve():
        raise FixtureError(f"{where} is a symlink pointing outside the fixture ({real})", fix=_FIX_PATH)
    try:
        with open(manifest_path, "rb") as f:
            if os.fstat(f.fileno()).st_size > _MAX_MANIFEST_BYTES:
                raise FixtureError(f"{where} is larger than {_MAX_MANIFEST_BYTES >> 20} MiB: not a manifest",
                                   fix=_FIX_MANIFEST)
            raw = f.read()
    except OSError as e:
        raise FixtureError(f"cannot read {where}: {e.strerror or e}") from None
    data = _parse_json(raw, where)
    manifest = Manifest.from_dict(data, where=where)
    for db in manifest.databases:
        database_file(root, db.file)
    schema = manifest.imported_from or SCHEMA_ID
    return Fixture(root=root.resolve(), manifest=manifest, schema=schema)


# --------------------------------------------------------------------------------------------
# Hashing
# --------------------------------------------------------------------------------------------


def hash_file(path: PathLike, chunk: int = 1 << 20) -> tuple[int, str]:
    """Stream ``path`` through SHA-256; return ``(bytes read, hex digest)``.  Memory: one ``chunk``."""
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    total = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            total += n
    return total, h.hexdigest()


# --------------------------------------------------------------------------------------------
# Offline validation
# --------------------------------------------------------------------------------------------


@dataclass
class Finding:
    """One check of one file.  ``expected``/``actual`` are shown to the user as they are."""

    file: str
    check: str
    ok: bool
    expected: Any = None
    actual: Any = None
    message: str = ""


@dataclass
class Report:
    fixture: str
    schema: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.findings) and all(f.ok for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"fixture": self.fixture, "schema": self.schema, "ok": self.ok,
                "findings": [asdict(f) for f in self.findings]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def table(self) -> str:
        """Aligned text: one row per finding; failing rows add ``expected``/``actual`` lines."""
        rows = [("STATUS", "FILE", "CHECK", "DETAIL")]
        extra: dict[int, list[str]] = {}
        for f in self.findings:
            detail = f.message or (str(f.actual) if f.actual is not None else "")
            rows.append(("ok" if f.ok else "FAIL", f.file, f.check, detail))
            if not f.ok and (f.expected is not None or f.actual is not None):
                extra[len(rows) - 1] = [f"expected: {_show(f.expected)}", f"actual:   {_show(f.actual)}"]
        w = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [f"fixture {self.fixture} ({self.schema})"]
        for i, r in enumerate(rows):
            lines.append(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}".rstrip())
            indent = " " * (w[0] + w[1] + w[2] + 6)
            lines.extend(indent + e for e in extra.get(i, []))
        failed = len(self.failures)
        lines.append(f"{len(self.findings) - failed} of {len(self.findings)} checks passed"
                     + ("" if self.ok else f"; {failed} failed"))
        return "\n".join(lines)


def _show(v: Any) -> str:
    return "(none)" if v is None else str(v)


def check(fixture_dir: PathLike) -> Report:
    """Validate a fixture offline; return one finding per check per file.

    Checks: manifest schema, path safety, file exists (regular file), size equals ``bytes``,
    sha256 equals, DAT label plausible (:func:`iris_ops.datlabel.check_label`, a filter, never
    proof), label resource and block size equal the manifest's.  A malformed fixture (manifest
    unreadable, wrong types, unsafe path) raises :class:`FixtureError` instead.
    """
    fx = load(fixture_dir)
    m = fx.manifest
    report = Report(fixture=str(fx.root), schema=fx.schema)
    add = report.findings.append
    add(Finding(MANIFEST_NAME, "schema", True, expected=f"{SCHEMA_ID} or iris-devtester {DEVTESTER_SCHEMA}",
                actual=fx.schema, message=f"{fx.schema}, {len(m.databases)} database(s)"))
    for db in m.databases:
        path = fx.path_of(db)
        add(Finding(db.file, "path", True, message="inside the fixture"))
        try:
            st = path.stat()
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            what = "missing" if st is None else "not a regular file"
            add(Finding(db.file, "exists", False, expected="regular file", actual=what,
                        message=f"database {db.name}: file is {what}"))
            continue
        add(Finding(db.file, "exists", True, message=f"database {db.name} ({db.role})"))
        try:
            size, digest = hash_file(path)
        except OSError as e:
            add(Finding(db.file, "sha256", False, expected=db.sha256, actual=None,
                        message=f"cannot read: {e.strerror or e}"))
            continue
        if db.bytes is not None:
            add(Finding(db.file, "size", size == db.bytes, expected=db.bytes, actual=size,
                        message=f"{size} bytes" if size == db.bytes
                        else f"size differs from the manifest by {size - db.bytes:+d} bytes"))
        add(Finding(db.file, "sha256", digest == db.sha256, expected=db.sha256, actual=digest,
                    message="matches the manifest" if digest == db.sha256 else "content differs from the manifest"))
        problems = datlabel.check_label(path)
        add(Finding(db.file, "dat-label", not problems, expected="plausible IRIS.DAT label",
                    actual="plausible" if not problems else "; ".join(problems),
                    message="plausible (a filter; the mount is the real check)" if not problems
                    else f"not a plausible IRIS.DAT: {len(problems)} problem(s)"))
        if problems:
            continue
        label = datlabel.read_label(path)
        if db.resource is not None:
            same = label.resource == db.resource
            add(Finding(db.file, "label-resource", same, expected=db.resource, actual=label.resource,
                        message=label.resource if same else "the label names another resource than the manifest"))
        if db.block_size is not None:
            same = label.block_size == db.block_size
            add(Finding(db.file, "label-block-size", same, expected=db.block_size, actual=label.block_size,
                        message=str(label.block_size) if same else "block size differs from the manifest"))
    return report


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


class FixtureWriter:
    """Write a fixture all-or-nothing.

    Files go to a hidden sibling directory ``.<name>.iris-ops-tmp-<random>`` (same parent, so the
    final rename is atomic); on success it is renamed onto ``out_dir``.  Any exception, including
    KeyboardInterrupt, removes the temporary directory.  An existing ``out_dir`` raises
    :class:`ConflictError` unless ``force``; with ``force`` the old directory is replaced only once
    the new one is complete (old renamed aside, new renamed in, old removed).

    Usage::

        with FixtureWriter(out) as w:
            copy_into(w.path_for("databases/APP_DATA/IRIS.DAT"))
            w.write_manifest(manifest)

    A process killed outright (SIGKILL) can leave the hidden directory behind; it is never
    mistaken for a fixture because it is only ever renamed whole.
    """

    def __init__(self, out_dir: PathLike, force: bool = False) -> None:
        self.out_dir = Path(out_dir).absolute()
        self.force = force
        self.tmp: Path | None = None
        self._manifest_written = False
        self._done = False

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "FixtureWriter":
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False

    def open(self) -> None:
        self._refuse_existing()
        parent = self.out_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".{self.out_dir.name}.iris-ops-tmp-{secrets.token_hex(6)}"
        tmp.mkdir(mode=0o755)
        self.tmp = tmp

    def abort(self) -> None:
        """Remove the temporary directory; ``out_dir`` is untouched."""
        if self.tmp is not None:
            _remove(self.tmp)
            self.tmp = None
        self._done = True

    def commit(self) -> Path:
        """Make the fixture visible at ``out_dir``; return it."""
        tmp = self._require_open()
        try:
            if not self._manifest_written:
                raise InternalError(f"FixtureWriter for {self.out_dir} closed without write_manifest()")
            _fsync_tree(tmp)
            self._refuse_existing()
            if os.path.lexists(self.out_dir):
                aside = self.out_dir.parent / f".{self.out_dir.name}.iris-ops-old-{secrets.token_hex(6)}"
                os.rename(self.out_dir, aside)
                try:
                    os.rename(tmp, self.out_dir)
                except BaseException:
                    os.rename(aside, self.out_dir)
                    raise
                self.tmp = None
                _fsync_dir(self.out_dir.parent)
                _remove(aside)
            else:
                os.rename(tmp, self.out_dir)
                self.tmp = None
                _fsync_dir(self.out_dir.parent)
        except BaseException:
            self.abort()
            raise
        self._done = True
        return self.out_dir

    # -- content ---------------------------------------------------------------------------
    def path_for(self, relative: str) -> Path:
        """Where to write the file the manifest will call ``relative``; parent directories exist."""
        tmp = self._require_open()
        path = database_file(tmp, relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write_manifest(self, manifest: Manifest) -> Path:
        """Validate ``manifest`` exactly as :func:`load` will, require its files, write manifest.json."""
        tmp = self._require_open()
        text = manifest.to_json()
        Manifest.from_json(text, where=f"manifest for {self.out_dir}")
        for db in manifest.databases:
            path = database_file(tmp, db.file)
            if not path.is_file():
                raise InternalError(f"manifest lists {db.file} but it was not written into the fixture")
            if db.bytes is not None and path.stat().st_size != db.bytes:
                raise InternalError(f"manifest says {db.file} has {db.bytes} bytes; the file has {path.stat().st_size}")
        target = tmp / MANIFEST_NAME
        with open(target, "w", encoding="utf-8") as f:
            f.write(text)
        self._manifest_written = True
        return target

    # -- helpers ---------------------------------------------------------------------------
    def _require_open(self) -> Path:
        if self.tmp is None or self._done:
            raise InternalError("FixtureWriter is not open (use it as a context manager)")
        return self.tmp

    def _refuse_existing(self) -> None:
        if os.path.lexists(self.out_dir) and not self.force:
            raise ConflictError(f"{self.out_dir} already exists",
                                fix="Choose another --out directory, or pass --force to replace it.")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory of the new fixture before it becomes visible."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                continue
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))
