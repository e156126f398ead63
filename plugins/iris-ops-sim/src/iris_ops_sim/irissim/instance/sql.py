"""SQL for the simulated instance: SQLite does the SQL, IRIS decides where things live.

As on IRIS, a table's DEFINITION lives in the namespace's Routines database (a catalog table
``^oddDEF`` in that database's image) and its ROWS in the Globals database (a table
``^<Schema>.<Table>D`` there).  A namespace whose Routines database lacks the definitions has
rows but no tables.  Each statement builds a private in-memory SQLite connection: one attached
database per SQL schema (default ``SQLUser``) holding the defined tables filled with their rows,
plus ``INFORMATION_SCHEMA.TABLES``.  Reads and writes go through the write daemon
(:mod:`.writedaemon`): while it is suspended, updates land in the shared buffers, which reads
see, and the IRIS.DAT files stay as they were.

Errors are raised as :class:`SqlError` with IRIS's SQLCODE and message.
"""

from __future__ import annotations

import re
from collections import namedtuple

from . import datfile
from .datfile import quote
from .mounts import MountError

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    import sqlite3
    from contextlib import AbstractContextManager
    from typing import Callable, Protocol
else:
    Protocol = object  # SqlInstance is a Protocol for type checkers only

__all__ = ["CATALOG", "RTN", "DEFAULT_SCHEMA", "SqlInstance", "SqlResult", "SqlError", "execute"]

CATALOG = "^oddDEF"
RTN = "^RTN"
DEFAULT_SCHEMA = "SQLUser"

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z%_][A-Za-z0-9_%$@#]*)'
_QNAME = rf"({_IDENT})(?:\s*\.\s*({_IDENT}))?"
_CREATE = re.compile(rf"^\s*CREATE\s+TABLE\s+{_QNAME}\s*(\(.*)$", re.I | re.S)
_DROP = re.compile(rf"^\s*DROP\s+TABLE\s+{_QNAME}\s*;?\s*$", re.I | re.S)


class SqlInstance(Protocol):
    """What :func:`execute` needs of the instance (:class:`~.state.SimInstance`, whose module
    imports this one): the configuration, mounts and write daemon its other modules give it."""

    def read_config(self) -> dict: ...

    def ensure_mounted(self, directory: str) -> dict: ...

    def mount_info(self, directory: str) -> dict | None: ...

    def read_image(self, directory: str) -> bytes: ...

    def writing(self, directories: list[str],
                cancelled: Callable[[], bool] | None = None) -> AbstractContextManager[dict]: ...

    def processes(self) -> list[dict]: ...


class SqlResult(namedtuple("SqlResult", "columns rows rowcount")):
    """What a statement answered: column names, rows (tuples) and the row count."""

    __slots__ = ()


class SqlError(Exception):
    def __init__(self, sqlcode: int, message: str) -> None:
        self.sqlcode = sqlcode
        self.message = message
        super().__init__(f"SQLCODE {sqlcode}: {message}")


def _unquote(ident: str | None) -> str | None:
    if ident is None:
        return None
    if ident.startswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident


def _data_table(schema: str, table: str) -> str:
    return f"^{schema}.{table}D"


def execute(inst: SqlInstance, namespace: str, statement: str, params: tuple = (),
            cancelled: Callable[[], bool] | None = None, dry_run: bool = False,
            journal: Callable[[dict], None] | None = None) -> SqlResult:
    """Run ``statement`` in ``namespace``.  ``dry_run`` compiles without executing or writing
    (what ``%Prepare`` does): unknown tables and columns and syntax errors surface, nothing else.
    ``journal`` (a process inside a transaction) is told what an update changed:
    ``{directory: (image before, image after)}``."""
    cpf = inst.read_config()
    ns = cpf["Namespaces"].get(str(namespace).upper())
    if ns is None:
        raise SqlError(-400, f"<NAMESPACE> namespace {namespace} does not exist")
    dbs = cpf["Databases"]
    gname, rname = ns["Globals"], ns["Routines"]
    if gname not in dbs or rname not in dbs:
        raise SqlError(-400, "<DIRECTORY> database of the namespace is not configured")
    gdir, rdir = dbs[gname]["Directory"], dbs[rname]["Directory"]
    for d in {gdir, rdir}:
        try:
            inst.ensure_mounted(d)
        except MountError as e:
            raise SqlError(-400, f"<DIRECTORY> {e}") from None
    _cached_query_writable(inst, rdir)

    text = statement.strip().rstrip(";").strip()
    verb = text.split(None, 1)[0].upper() if text else ""
    create = _CREATE.match(text)
    drop = _DROP.match(text)
    if verb == "SELECT":
        targets: set[str] = set()
    elif verb in ("INSERT", "UPDATE", "DELETE"):
        targets = {gdir}
    elif create:
        targets = {rdir}
    elif drop:
        targets = {rdir, gdir}
    else:
        raise SqlError(-1, f"Invalid SQL statement: {verb or '(empty)'} is not supported here")

    if dry_run:
        return _run(inst, text, params, gdir, rdir, {}, create, drop, dry_run=True)
    if not targets:
        return _run(inst, text, params, gdir, rdir, {}, create, drop)
    for d in targets:
        info = inst.mount_info(d)
        if info and info["readonly"]:
            raise SqlError(-400, f"<PROTECT> database {d} is mounted read-only ({info['reason']})")
    try:
        with inst.writing(sorted(targets), cancelled) as boxes:
            before = {d: box["image"] for d, box in boxes.items()}
            done = _run(inst, text, params, gdir, rdir, boxes, create, drop)
            if journal is not None:
                journal({d: (before[d], boxes[d]["image"]) for d in boxes})
            return done
    except datfile.DatError as e:
        raise SqlError(-400, f"<DATABASE> {e}") from None


def _cached_query_writable(inst: SqlInstance, routines_dir: str) -> None:
    """[UNV] Every prepare writes a cached query (GSOC_cachedqueries); where is not documented.
    By default reads work on a read-only routines database; the variant ``readonly-sql-fails``
    puts the cached query there, so every statement of such a namespace fails."""
    from .. import variants

    if not variants.on(variants.READONLY_SQL_FAILS):
        return
    info = inst.mount_info(routines_dir)
    if info and info["readonly"]:
        raise SqlError(-400, f"<PROTECT> cannot save the cached query: routines database {routines_dir} "
                             f"is mounted read-only ({info['reason']})")


def _image(inst: SqlInstance, directory: str, boxes: dict) -> bytes:
    if directory in boxes:
        return boxes[directory]["image"]
    try:
        return inst.read_image(directory)
    except datfile.DatError as e:
        raise SqlError(-400, f"<DATABASE> {directory}: {e}") from None


def _open(image: bytes, schema: str, conn: sqlite3.Connection | None) -> sqlite3.Connection:
    conn = datfile.open_image(image, schema, conn)
    if not image:
        conn.execute(f"PRAGMA {quote(schema)}.page_size=8192")
    return conn


def _run(inst, text, params, gdir, rdir, boxes, create, drop, dry_run: bool = False) -> SqlResult:
    import sqlite3  # lazily: a session that runs no SQL never loads it (nor datetime with it)

    conn = _open(_image(inst, gdir, boxes), "main", None)
    try:
        cat_schema = "main"
        if rdir != gdir:
            _open(_image(inst, rdir, boxes), RTN, conn)
            cat_schema = RTN
        conn.execute(f"CREATE TABLE IF NOT EXISTS {quote(cat_schema)}.{quote(CATALOG)} "
                     "(schema TEXT, name TEXT, body TEXT, PRIMARY KEY (schema, name)) WITHOUT ROWID")
        catalog = list(conn.execute(f"SELECT schema, name, body FROM {quote(cat_schema)}.{quote(CATALOG)}"))
        schemas: dict[str, str] = {DEFAULT_SCHEMA.upper(): DEFAULT_SCHEMA}
        for schema, _, _ in catalog:
            schemas.setdefault(schema.upper(), schema)
        for schema in schemas.values():
            conn.execute(f"ATTACH ':memory:' AS {quote(schema)}")
        main_tables = {r[0] for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type='table'")}
        for schema, name, body in catalog:
            s = schemas[schema.upper()]
            conn.execute(f"CREATE TABLE {quote(s)}.{quote(name)} {body}")
            data = _data_table(schema, name)
            if data in main_tables:
                cols = [r[1] for r in conn.execute(f"PRAGMA {quote(s)}.table_info({quote(name)})")]
                have = {r[1] for r in conn.execute(f"PRAGMA main.table_info({quote(data)})")}
                common = [c for c in cols if c in have]
                collist = ", ".join(quote(c) for c in common)
                conn.execute(f"INSERT INTO {quote(s)}.{quote(name)} (rowid{', ' if common else ''}{collist}) "
                             f"SELECT \"%ID\"{', ' if common else ''}{collist} FROM main.{quote(data)}")
        conn.execute("ATTACH ':memory:' AS INFORMATION_SCHEMA")
        conn.execute("CREATE TABLE INFORMATION_SCHEMA.TABLES (TABLE_CATALOG TEXT, TABLE_SCHEMA TEXT, "
                     "TABLE_NAME TEXT, TABLE_TYPE TEXT, SELF_REFERENCING_COLUMN_NAME TEXT, "
                     "REFERENCE_GENERATION TEXT, USER_DEFINED_TYPE_SCHEMA TEXT, USER_DEFINED_TYPE_NAME TEXT, "
                     "IS_INSERTABLE_INTO TEXT, IS_TYPED TEXT, CLASSNAME TEXT, DESCRIPTION TEXT, OWNER TEXT, "
                     "IS_SHARDED TEXT)")
        conn.executemany("INSERT INTO INFORMATION_SCHEMA.TABLES (TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, "
                         "IS_INSERTABLE_INTO, IS_TYPED, CLASSNAME, OWNER, IS_SHARDED) "
                         "VALUES (?, ?, 'BASE TABLE', 'YES', 'NO', ?, '_SYSTEM', 'NO')",
                         [(s, n, _classname(s, n)) for s, n, _ in catalog])
        conn.execute(f"ATTACH ':memory:' AS {quote('%SYS')}")
        # Pid: the OS process id, what $JOB is (the row's ID on IRIS).
        conn.execute(f"CREATE TABLE {quote('%SYS')}.ProcessQuery (Pid INTEGER, JobNumber INTEGER, NameSpace TEXT, "
                     "InTransaction INTEGER)")
        conn.executemany(f"INSERT INTO {quote('%SYS')}.ProcessQuery VALUES (?, ?, ?, ?)",
                         [(p.get("Pid", p["JobNumber"]), p["JobNumber"], p["NameSpace"], p["InTransaction"])
                          for p in inst.processes()])
        text = _quote_percent_schemas(text)
        before = conn.total_changes

        if dry_run:
            if create:
                probe = datfile.open_image(b"")
                try:
                    probe.execute(f"CREATE TABLE t {create.group(3)}")
                except sqlite3.Error as e:
                    raise _translate(e, None, None) from None
                finally:
                    probe.close()
            elif not drop:
                try:
                    conn.execute("EXPLAIN " + text, tuple(params) or ())
                except sqlite3.ProgrammingError:
                    pass  # parameter count: supplied at %Execute time
                except sqlite3.Error as e:
                    raise _translate(e, None, None) from None
            return SqlResult([], [], 0)

        if create:
            schema = _unquote(create.group(2) and create.group(1)) or DEFAULT_SCHEMA
            name = _unquote(create.group(2) or create.group(1))
            if any(s.upper() == schema.upper() and n.upper() == name.upper() for s, n, _ in catalog):
                raise SqlError(-201, f"Table '{schema}.{name}' already exists")
            body = create.group(3)
            if schema.upper() not in schemas:
                conn.execute(f"ATTACH ':memory:' AS {quote(schema)}")
            try:
                conn.execute(f"CREATE TABLE {quote(schema)}.{quote(name)} {body}")
            except sqlite3.Error as e:
                raise _translate(e, schema, name) from None
            conn.execute(f"INSERT INTO {quote(cat_schema)}.{quote(CATALOG)} VALUES (?, ?, ?)", (schema, name, body))
            _persist(conn, boxes, gdir, rdir, cat_schema, write_data=False)
            return SqlResult([], [], 0)

        if drop:
            schema = _unquote(drop.group(2) and drop.group(1)) or DEFAULT_SCHEMA
            name = _unquote(drop.group(2) or drop.group(1))
            match = [(s, n) for s, n, _ in catalog if s.upper() == schema.upper() and n.upper() == name.upper()]
            if not match:
                raise SqlError(-30, f"Table '{schema.upper()}.{name.upper()}' not found")
            s, n = match[0]
            conn.execute(f"DELETE FROM {quote(cat_schema)}.{quote(CATALOG)} WHERE schema=? AND name=?", (s, n))
            conn.execute(f"DROP TABLE IF EXISTS main.{quote(_data_table(s, n))}")
            conn.execute(f"DROP TABLE {quote(schemas[s.upper()])}.{quote(n)}")
            _persist(conn, boxes, gdir, rdir, cat_schema, write_data=True, catalog=[])
            return SqlResult([], [], 0)

        try:
            cur = conn.execute(text, tuple(params))
            rows = cur.fetchall() if cur.description else []
        except sqlite3.Error as e:
            raise _translate(e, None, None) from None
        if cur.description:
            columns = [_column_name(d[0], i + 1) for i, d in enumerate(cur.description)]
            return SqlResult(columns, [tuple(r) for r in rows], len(rows))
        count = cur.rowcount if cur.rowcount >= 0 else 0
        if conn.total_changes != before:
            _persist(conn, boxes, gdir, rdir, cat_schema, write_data=True,
                     catalog=[(schemas[s.upper()], s, n) for s, n, _ in catalog])
        return SqlResult([], [], count)
    finally:
        conn.close()


_PERCENT_SCHEMA = re.compile(r"""('(?:[^']|'')*')|(?<![\w"%])(%[A-Za-z][A-Za-z0-9]*)(?=\s*\.)""")


def _quote_percent_schemas(text: str) -> str:
    """IRIS schema names such as ``%SYS`` are not SQLite identifiers: quote them (not inside
    string literals)."""
    return _PERCENT_SCHEMA.sub(lambda m: m.group(1) or quote(m.group(2)), text)


def _persist(conn, boxes, gdir, rdir, cat_schema, write_data: bool, catalog: list | None = None) -> None:
    if write_data:
        for attached, schema, name in catalog or []:
            data = _data_table(schema, name)
            conn.execute(f"DROP TABLE IF EXISTS main.{quote(data)}")
            cols = [r[1] for r in conn.execute(f"PRAGMA {quote(attached)}.table_info({quote(name)})")]
            collist = ", ".join(quote(c) for c in cols)
            conn.execute(f"CREATE TABLE main.{quote(data)} (\"%ID\" INTEGER PRIMARY KEY{', ' if cols else ''}{collist})")
            conn.execute(f"INSERT INTO main.{quote(data)} SELECT rowid{', ' if cols else ''}{collist} "
                         f"FROM {quote(attached)}.{quote(name)}")
        if conn.execute("PRAGMA main.freelist_count").fetchone()[0] > 16:
            conn.execute("VACUUM main")
    if gdir in boxes:
        boxes[gdir]["image"] = conn.serialize(name="main")
    if rdir in boxes and rdir != gdir:
        boxes[rdir]["image"] = conn.serialize(name=cat_schema)


def _classname(schema: str, table: str) -> str:
    package = "User" if schema.upper() == "SQLUSER" else schema.replace("_", ".")
    return f"{package}.{re.sub(r'[^A-Za-z0-9]', '', table)}"


def _column_name(name: str, position: int) -> str:
    if re.fullmatch(r"[A-Za-z%_][A-Za-z0-9_]*", name):
        return name
    if re.match(r"\s*(COUNT|SUM|AVG|MIN|MAX)\s*\(", name, re.I):
        return f"Aggregate_{position}"
    return f"Expression_{position}"


def _translate(e: sqlite3.Error, schema: str | None, name: str | None) -> SqlError:
    msg = str(e)
    m = re.match(r"no such table: (?:(\S+)\.)?(\S+)", msg)
    if m:
        s = m.group(1) or DEFAULT_SCHEMA
        return SqlError(-30, f"Table '{s.upper()}.{m.group(2).upper()}' not found")
    m = re.match(r"no such column: (\S+)", msg)
    if m:
        return SqlError(-29, f"Field '{m.group(1).upper()}' not found in the applicable tables")
    if msg.startswith("UNIQUE constraint failed"):
        return SqlError(-119, "UNIQUE or PRIMARY KEY constraint failed uniqueness check")
    if msg.startswith("NOT NULL constraint failed"):
        field = msg.rsplit(".", 1)[-1]
        return SqlError(-108, f"Required field '{field}' does not have a value")
    if "syntax error" in msg or "incomplete input" in msg:
        return SqlError(-1, f"Invalid SQL statement: {msg}")
    if "already exists" in msg:
        return SqlError(-201, f"Table '{schema}.{name}' already exists")
    return SqlError(-400, f"Fatal error occurred: {msg}")


