"""%SQL.Statement and %SQL.StatementResult (%SQL/Statement.cls, %SQL/StatementResult.cls)."""

from __future__ import annotations

from ...objectscript import runtime
from ...objectscript.runtime import (
    ByRef,
    IrisError,
    Process,
    SimClass,
    SimObject,
    error_status,
    ok_status,
    register_class,
)
from .. import sql
from .common import E_GENERAL, E_SQL, arg, instance_of, set_ref

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "StatementResult", "StatementObject", "CLASS_QUERIES", "run_class_query", "run_sql", "SqlStatement",
]


def _sql_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _statement_text(value: Any) -> str:
    if isinstance(value, ByRef):
        if value.subscripts:
            return "\n".join(str(v) for _, v in value.items())
        return str(value.get(""))
    return str(value)


class StatementResult(SimObject):
    """%SQL.StatementResult (ref/2024.1/%SQL/StatementResult.cls)."""

    class_name = "%SQL.StatementResult"

    def __init__(self, columns: list[str], rows: list[tuple], sqlcode: int = 0, message: str = "", rowcount: int = 0) -> None:
        self.columns = columns
        self.rows = rows
        self.sqlcode = sqlcode
        self.message = message
        self.rowcount = rowcount
        self.cursor = -1
        self.is_select = bool(columns)

    def get_property(self, proc: Process, name: str) -> Any:
        if name == "%SQLCODE":
            return self.sqlcode
        if name == "%Message":
            return self.message
        if name == "%ROWCOUNT":
            return self.rowcount
        if name == "%StatementType":
            return 1 if self.is_select else 0
        if name == "%ResultColumnCount":  # [CODE] rs.%ResultColumnCount in InterSystems' samples
            return len(self.columns)
        return super().get_property(proc, name)

    def set_property(self, proc: Process, name: str, value: Any) -> None:
        if name == "%SQLCODE":
            self.sqlcode = value
        elif name == "%Message":
            self.message = value
        elif name == "%ROWCOUNT":
            self.rowcount = value
        else:
            super().set_property(proc, name, value)

    def call_method(self, proc: Process, name: str, args: list[Any]) -> Any:
        if name == "%Next":
            if not self.is_select or self.sqlcode < 0:
                return 0
            self.cursor += 1
            if self.cursor >= len(self.rows):
                self.sqlcode = 100
                return 0
            self.rowcount = self.cursor + 1
            return 1
        if name == "%GetData":
            n = int(arg(args, 0, 0) or 0)
            if not self._on_row() or n < 1 or n > len(self.columns):
                return ""
            return _sql_value(self.rows[self.cursor][n - 1])
        if name == "%Get":
            col = str(arg(args, 0, ""))
            if col not in self.columns:
                raise IrisError("PROPERTY DOES NOT EXIST", f"*{col},{self.class_name}")
            if not self._on_row():
                return ""
            return _sql_value(self.rows[self.cursor][self.columns.index(col)])
        if name == "%GetMetadata":  # [CODE] rs.%GetMetadata().columns.GetAt(i).colName
            return _Metadata(self.columns)
        if name == "%Display":
            delim = str(arg(args, 0, "\t"))
            if self.is_select:
                proc.write(delim.join(self.columns) + "\n")
                while self.call_method(proc, "%Next", []):
                    proc.write(delim.join(str(_sql_value(v)) for v in self.rows[self.cursor]) + "\n")
                proc.write(f"\n{self.rowcount} Rows(s) Affected")
            elif self.sqlcode >= 0:
                proc.write(f"{self.rowcount} Row(s) Affected")
            else:
                proc.write(f"[SQLCODE: <{self.sqlcode}>:<{self.message}>]")
            return ""
        return super().call_method(proc, name, args)

    def _on_row(self) -> bool:
        return 0 <= self.cursor < len(self.rows)


class _Column(SimObject):
    """%SQL.StatementColumn: only ``colName``."""

    class_name = "%SQL.StatementColumn"

    def __init__(self, name: str) -> None:
        self.name = name

    def get_property(self, proc: Process, name: str) -> Any:
        if name == "colName":
            return self.name
        return super().get_property(proc, name)


class _Columns(SimObject):
    """The ``columns`` list of %SQL.StatementMetadata: ``Count()`` and ``GetAt(i)`` (1-based)."""

    class_name = "%Library.ListOfObjects"

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns

    def call_method(self, proc: Process, name: str, args: list[Any]) -> Any:
        if name == "Count":
            return len(self.columns)
        if name == "GetAt":
            n = int(arg(args, 0, 0) or 0)
            return _Column(self.columns[n - 1]) if 1 <= n <= len(self.columns) else ""
        return super().call_method(proc, name, args)


class _Metadata(SimObject):
    """%SQL.StatementMetadata: only ``columns``."""

    class_name = "%SQL.StatementMetadata"

    def __init__(self, columns: list[str]) -> None:
        self._columns = _Columns(columns)

    def get_property(self, proc: Process, name: str) -> Any:
        if name == "columns":
            return self._columns
        return super().get_property(proc, name)


class StatementObject(SimObject):
    """An instance of %SQL.Statement (ref/2024.1/%SQL/Statement.cls)."""

    class_name = "%SQL.Statement"

    def __init__(self) -> None:
        self.text: str | None = None
        self.class_query: tuple[str, str] | None = None

    def call_method(self, proc: Process, name: str, args: list[Any]) -> Any:
        if name == "%Prepare":
            text = _statement_text(args[0]) if args else ""
            try:
                sql.execute(instance_of(proc), proc.namespace, text, (), dry_run=True)
            except sql.SqlError as e:
                self.text = None
                return error_status(E_SQL, f"SQLCODE: {e.sqlcode} Message: {e.message}")
            self.text = text
            return ok_status()
        if name == "%PrepareClassQuery":
            return self._prepare_class_query(proc, str(arg(args, 0)), str(arg(args, 1)))
        if name == "%Execute":
            if self.class_query is not None:
                return run_class_query(proc, *self.class_query, [arg(args, i) for i in range(len(args))])
            if self.text is None:
                return StatementResult([], [], -400, "Statement has not been prepared")  # [UNV]
            return run_sql(proc, self.text, [arg(args, i) for i in range(len(args))])
        return super().call_method(proc, name, args)


    def _prepare_class_query(self, proc: Process, class_name: str, query: str) -> Any:
        """%PrepareClassQuery(pClassName, pQueryName) As %Status."""
        self.text = self.class_query = None
        if runtime.lookup_query(class_name, query) is not None:  # registered by a class module
            self.class_query = (class_name, query)
            return ok_status()
        if (class_name, query) not in CLASS_QUERIES:
            return error_status(E_GENERAL, f"Query {class_name}:{query} is not simulated")  # [UNV] number and text
        cls = runtime.lookup_class(class_name)
        if cls.namespace and proc.namespace.upper() != cls.namespace:
            return error_status(E_GENERAL, f"Class {class_name} does not exist in namespace {proc.namespace}")
        self.class_query = (class_name, query)
        return ok_status()


#: Class queries %PrepareClassQuery knows, with the rows they return: the name first [UNV: the
#: other columns and their order are not documented; only the first is relied upon].
CLASS_QUERIES = {
    ("Config.MapGlobals", "List"), ("Config.MapRoutines", "List"), ("Config.MapPackages", "List"),
    ("Config.Databases", "List"), ("Config.Namespaces", "List"),
}


def run_class_query(proc: Process, class_name: str, query: str, params: list) -> StatementResult:
    registered = runtime.lookup_query(class_name, query)
    if registered is not None:
        columns, rows = registered(proc, *params)
        return StatementResult(columns, rows)
    cpf = instance_of(proc).read_config()
    if class_name == "Config.Databases":
        columns, rows = ["Name", "Directory"], [(n, p["Directory"]) for n, p in sorted(cpf["Databases"].items())]
    elif class_name == "Config.Namespaces":
        columns = ["Namespace", "Globals", "Routines"]
        rows = [(n, p["Globals"], p["Routines"]) for n, p in sorted(cpf["Namespaces"].items())]
    else:
        namespace = str(params[0]) if params else ""
        if namespace.upper() not in cpf["Namespaces"] and namespace.upper() != "%ALL":
            return StatementResult([], [], -400, f"Namespace {namespace} does not exist")  # [UNV]
        columns, rows = runtime.lookup_class(class_name).list_rows(proc, namespace)
    return StatementResult(columns, rows, 0, "", 0)


def run_sql(proc: Process, text: str, params: list) -> StatementResult:
    from ...objectscript import transactions

    journal = (lambda images: transactions.journal(proc, images)) if proc.in_transaction else None
    try:
        result = sql.execute(instance_of(proc), proc.namespace, text, tuple(params), journal=journal)
    except sql.SqlError as e:
        return StatementResult([], [], e.sqlcode, e.message)
    return StatementResult(result.columns, result.rows, 0, "", 0 if result.columns else result.rowcount)


@register_class
class SqlStatement(SimClass):
    """%SQL.Statement (ref/2024.1/%SQL/Statement.cls)."""

    name = "%SQL.Statement"

    def _pct_New(self, proc: Process, *args: Any) -> Any:
        return StatementObject()

    def _pct_ExecDirect(self, proc: Process, *args: Any) -> Any:
        """%ExecDirect(ByRef pHStatement, ByRef pStatementText, %parm...) As %SQL.StatementResult."""
        args = list(args)
        stmt = StatementObject()
        set_ref(args, 0, stmt)
        text = _statement_text(args[1]) if len(args) > 1 else ""
        try:
            sql.execute(instance_of(proc), proc.namespace, text, (), dry_run=True)
        except sql.SqlError as e:
            return StatementResult([], [], e.sqlcode, e.message)
        stmt.text = text
        return run_sql(proc, text, [arg(args, i) for i in range(2, len(args))])
