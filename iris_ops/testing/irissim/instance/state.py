"""The simulated instance: configuration (iris.cpf), runtime state and database files on disk.

Everything lives under the container root so every process and thread sees one instance:

* ``<install>/iris.cpf``: CPF-like configuration, sections ``[Databases]`` (``NAME=Directory,
  Server,MountRequired,MountAtStartup,ClusterMountMode,StreamLocation``) and ``[Namespaces]``
  (``NAME=Globals,Routines,TempGlobals,Library,SysGlobals,SysRoutines,Interop``);
* ``<install>/mgr/.sim/state.json``: mounted databases, the freeze, security resources, and the
  security database (users with hashed passwords, roles, services: ``security.py``);
* ``<install>/mgr/.sim/state.lock``: flock guarding both; ``gate.lock``: writers hold it shared,
  ExternalFreeze takes it exclusively so that no write is in flight once the freeze holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import posixpath
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from . import datfile
from .fs import USERS, ContainerFS, normalize

IRISOWNER = USERS["irisowner"]
VERSION = "IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2024.1 (Build 263U) Wed Mar 13 2024 15:21:28 EDT"
QLIST_VERSION = "2024.1.0.263.0"
#: Where instances are registered (``iris.reg`` on IRIS); a host install names its own in the env.
REGISTRY = "/usr/local/etc/irissys/simregistry.json"
REGISTRY_ENV = "IRISSIM_REGISTRY"


def registry_path() -> str:
    return os.environ.get(REGISTRY_ENV) or REGISTRY
SYSTEM_DATABASES = ("IRISSYS", "IRISLIB", "IRISTEMP", "IRISLOCALDATA", "IRISAUDIT", "ENSLIB", "IRISMETRICS")
DB_FIELDS = ("Directory", "Server", "MountRequired", "MountAtStartup", "ClusterMountMode", "StreamLocation")
NS_FIELDS = ("Globals", "Routines", "TempGlobals", "Library", "SysGlobals", "SysRoutines", "Interop")
NS_DEFAULTS = {"TempGlobals": "IRISTEMP", "Library": "IRISLIB", "SysGlobals": "IRISSYS", "SysRoutines": "IRISSYS", "Interop": "0"}
DB_DEFAULTS = {"Server": "", "MountRequired": "0", "MountAtStartup": "0", "ClusterMountMode": "0", "StreamLocation": ""}


class MountError(Exception):
    """A database could not be mounted; ``str()`` is the reason."""


class FrozenWaitCancelled(Exception):
    """A writer gave up waiting for the freeze to end (its owner stopped it)."""


@dataclass
class SqlResult:
    columns: list[str]
    rows: list[tuple]
    rowcount: int


class SimInstance:
    """One simulated IRIS instance inside a container (see docs/ARCHITECTURE.md)."""

    def __init__(self, fs: ContainerFS, name: str, install_dir: str) -> None:
        self.fs = fs
        self.name = name
        self.install_dir = install_dir.rstrip("/") or "/"
        self.version = VERSION
        self._sim = posixpath.join(self.install_dir, "mgr", ".sim")

    # --- creation ---------------------------------------------------------------------------

    @classmethod
    def create(cls, fs: ContainerFS, name: str = "IRIS", install_dir: str = "/usr/irissys") -> "SimInstance":
        inst = cls(fs, name, install_dir)
        inst._mkdirs(inst.install_dir, owner=(0, 0), mode=0o755)
        inst._mkdirs(inst.manager_directory(), owner=IRISOWNER, mode=0o775)
        inst._mkdirs(inst._sim, owner=IRISOWNER, mode=0o775)
        reg_host = fs.host_path(registry_path())
        reg_host.parent.mkdir(parents=True, exist_ok=True)
        registry = json.loads(reg_host.read_text()) if reg_host.exists() else {}
        registry[name] = inst.install_dir
        reg_host.write_text(json.dumps(registry))
        mgr = inst.manager_directory()
        dbs = {
            "IRISSYS": mgr,
            "IRISLIB": mgr + "irislib/",
            "IRISTEMP": mgr + "iristemp/",
            "IRISLOCALDATA": mgr + "irislocaldata/",
            "IRISAUDIT": mgr + "irisaudit/",
            "USER": mgr + "user/",
            "APP_DATA": mgr + "app_data/",
            "APP_CODE": mgr + "app_code/",
        }
        from . import security

        state = {
            "started": time.time(),
            "os_authentication": True,
            "security": security.default_state(),
            "mounted": {},
            "freeze": None,
            "resources": {"%DB_%DEFAULT": {"Description": "", "PublicPermission": ""}},
        }
        for db in dbs:
            state["resources"]["%DB_" + db] = {"Description": "", "PublicPermission": "R" if db == "IRISLIB" else ""}
        cpf = {"Databases": {}, "Namespaces": {}}
        for db, directory in dbs.items():
            inst._mkdirs(directory, owner=IRISOWNER, mode=0o775)
            host = fs.host_path(directory + "IRIS.DAT")
            if not host.exists():
                datfile.create(host, directory, "%DB_" + db, 1)
                fs.created(directory + "IRIS.DAT", *IRISOWNER)
                os.chmod(host, 0o660)
            cpf["Databases"][db] = dict(DB_DEFAULTS, Directory=directory)
            state["mounted"][directory] = {"readonly": False, "reason": ""}
        cpf["Namespaces"]["%SYS"] = dict(NS_DEFAULTS, Globals="IRISSYS", Routines="IRISSYS")
        cpf["Namespaces"]["USER"] = dict(NS_DEFAULTS, Globals="USER", Routines="USER")
        cpf["Namespaces"]["APP"] = dict(NS_DEFAULTS, Globals="APP_DATA", Routines="APP_CODE")
        with inst.locked() as st:
            st.clear()
            st.update(state)
            inst._write_cpf(cpf)
        for entry in fs.host_path(inst._sim).iterdir():  # the instance's processes run as irisowner
            fs.created(inst._sim + "/" + entry.name, *IRISOWNER)
        return inst

    @classmethod
    def open(cls, fs: ContainerFS, name: str = "IRIS") -> "SimInstance":
        """The registered instance ``name`` (instance names are not case-sensitive)."""
        for registered, install_dir in cls.registered(fs).items():
            if registered.upper() == str(name).upper():
                return cls(fs, registered, install_dir)
        raise LookupError(f"no instance {name!r} in this container")

    @staticmethod
    def registered(fs: ContainerFS) -> dict[str, str]:
        """Every registered instance: name -> install directory."""
        try:
            return json.loads(fs.host_path(registry_path()).read_text())
        except FileNotFoundError:
            return {}

    def _mkdirs(self, directory: str, owner: tuple[int, int], mode: int) -> None:
        path = normalize(directory)
        current = ""
        for part in [p for p in path.split("/") if p]:
            current += "/" + part
            host = self.fs.host_path(current)
            if not host.exists():
                host.mkdir()
                self.fs.created(current, *owner)
                os.chmod(host, mode)

    # --- locking and files -------------------------------------------------------------------

    def _host(self, path: str) -> Path:
        return self.fs.host_path(path)

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict]:
        """Exclusive access to the runtime state (and the CPF); the dict is saved on exit."""
        lock_host = self._host(self._sim + "/state.lock")
        lock_host.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_host, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                path = self._host(self._sim + "/state.json")
                state = json.loads(path.read_text()) if path.exists() else {}
                before = json.dumps(state, sort_keys=True)
                yield state
                after = json.dumps(state, sort_keys=True)
                if after != before:
                    tmp = path.with_name("state.json.tmp")
                    tmp.write_text(after)
                    os.replace(tmp, path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _state(self) -> dict:
        with self.locked() as st:
            return json.loads(json.dumps(st))

    @property
    def cpf_path(self) -> str:
        return self.install_dir + "/iris.cpf"

    def _read_cpf(self) -> dict:
        cpf: dict[str, dict] = {"Databases": {}, "Namespaces": {}}
        section = None
        try:
            text = self._host(self.cpf_path).read_text()
        except FileNotFoundError:
            return cpf
        for line in text.splitlines():
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            if "=" not in line or section not in cpf:
                continue
            key, value = line.split("=", 1)
            if section == "Databases":
                values = value.rsplit(",", len(DB_FIELDS) - 1)
                fields = DB_FIELDS
            else:
                values = value.split(",")
                fields = NS_FIELDS
            values += [""] * (len(fields) - len(values))
            cpf[section][key] = dict(zip(fields, values))
        return cpf

    def _write_cpf(self, cpf: dict) -> None:
        lines = ["[ConfigFile]", "Product=IRIS", "Version=2024.1", "", "[config]", "DefaultPort=1972",
                 "WebServerPort=52773", "", "[Databases]"]
        for name, props in cpf["Databases"].items():
            lines.append(name + "=" + ",".join(str(props.get(f, DB_DEFAULTS.get(f, ""))) for f in DB_FIELDS))
        lines += ["", "[Namespaces]"]
        for name, props in cpf["Namespaces"].items():
            lines.append(name + "=" + ",".join(str(props.get(f, NS_DEFAULTS.get(f, ""))) for f in NS_FIELDS))
        host = self._host(self.cpf_path)
        fresh = not host.exists()
        host.write_text("\n".join(lines) + "\n")
        if fresh:
            self.fs.created(self.cpf_path, *IRISOWNER)
            os.chmod(host, 0o664)

    @contextlib.contextmanager
    def config(self) -> Iterator[dict]:
        """Read-modify-write the CPF under the instance lock."""
        with self.locked():
            cpf = self._read_cpf()
            before = json.dumps(cpf, sort_keys=True)
            yield cpf
            if json.dumps(cpf, sort_keys=True) != before:
                self._write_cpf(cpf)

    def read_config(self) -> dict:
        with self.locked():
            return self._read_cpf()

    # --- simple queries ---------------------------------------------------------------------

    def manager_directory(self) -> str:
        return self.install_dir.rstrip("/") + "/mgr/"

    @property
    def os_authentication(self) -> bool:
        return bool(self._state().get("os_authentication", True))

    @os_authentication.setter
    def os_authentication(self, value: bool) -> None:
        with self.locked() as st:
            st["os_authentication"] = bool(value)

    def authenticate(self, username: str, password: str) -> str:
        """A password login (OS authentication off): the user's name, or ``security.LoginRefused``."""
        from . import security

        return security.authenticate(self, username, password)

    def namespace_exists(self, ns: str) -> bool:
        return str(ns).upper() in self.read_config()["Namespaces"]

    def qlist_line(self) -> str:
        started = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(self._state().get("started", time.time())))
        return "^".join([
            self.name, self.install_dir, QLIST_VERSION, f"running, since {started}", "iris.cpf",
            "1972", "52773", "0", "ok", "IRIS", "", "", self.install_dir,
        ])

    def normalize_directory(self, directory: str) -> str:
        """IRIS's canonical database directory: absolute (relative to mgr), trailing slash."""
        directory = str(directory)
        if not directory.startswith("/"):
            directory = self.manager_directory() + directory
        return normalize(directory).rstrip("/") + "/"

    def database_directory(self, name: str) -> str | None:
        props = self.read_config()["Databases"].get(str(name).upper())
        return props["Directory"] if props else None

    def dat_path(self, directory: str) -> str:
        return self.normalize_directory(directory) + "IRIS.DAT"

    # --- resources --------------------------------------------------------------------------

    def resource_exists(self, name: str) -> bool:
        return str(name).upper() in {k.upper() for k in self._state().get("resources", {})}

    # --- mounting ---------------------------------------------------------------------------

    def mount_info(self, directory: str) -> dict | None:
        return self._state()["mounted"].get(self.normalize_directory(directory))

    def mount(self, directory: str, readonly: bool = False) -> dict:
        """Mount ``directory``'s IRIS.DAT; returns the mount record or raises :class:`MountError`."""
        directory = self.normalize_directory(directory)
        with self.locked() as st:
            if directory in st["mounted"]:
                return st["mounted"][directory]
            record = self._check_mountable(directory, st, readonly)
            st["mounted"][directory] = record
            return record

    def _check_mountable(self, directory: str, st: dict, readonly: bool) -> dict:
        dat = directory + "IRIS.DAT"
        host = self._host(dat)
        if not host.is_file():
            raise MountError(f"Database file {dat} does not exist")
        if not self.fs.can_read(dat, IRISOWNER[0]):
            raise MountError(f"Cannot open {dat}: permission denied")
        try:
            label, _ = datfile.read(host)
        except datfile.DatError as e:
            raise MountError(f"Cannot mount {directory}: {e}") from None
        resources = {k.upper() for k in st.get("resources", {})}
        if label.resource and label.resource.upper() not in resources:
            raise MountError(f"Cannot mount {directory}: resource {label.resource} does not exist")
        reason = ""
        if readonly:
            reason = "Mounted read-only at user request"
        elif label.readonly:
            reason = "Database label marked read-only"
        elif not self.fs.can_write(dat, IRISOWNER[0]):
            reason = "Database file is write-protected at the OS level"
        return {"readonly": bool(reason), "reason": reason}

    def ensure_mounted(self, directory: str) -> dict:
        """Implicit mount: a configured database touched by a process is mounted (IRIS.md §3)."""
        info = self.mount_info(directory)
        return info if info is not None else self.mount(directory)

    def dismount(self, directory: str) -> None:
        directory = self.normalize_directory(directory)
        with self.locked() as st:
            if directory not in st["mounted"]:
                raise MountError(f"Database {directory} is not mounted")
            if directory == self.manager_directory():
                raise MountError("Cannot dismount the system database IRISSYS")
            del st["mounted"][directory]

    # --- freeze -----------------------------------------------------------------------------

    @staticmethod
    def _frozen(st: dict) -> bool:
        fz = st.get("freeze")
        if not fz:
            return False
        if fz.get("limit") and time.time() - fz["since"] >= fz["limit"]:
            st["freeze"] = None  # the write daemon resumed on its own (WDSuspendLimit)
            return False
        return True

    def is_frozen(self) -> bool:
        with self.locked() as st:
            return self._frozen(st)

    @contextlib.contextmanager
    def _gate(self, exclusive: bool) -> Iterator[None]:
        host = self._host(self._sim + "/gate.lock")
        with open(host, "a+") as gate:
            fcntl.flock(gate, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)

    def freeze(self, limit: float = 0) -> bool:
        """ExternalFreeze: returns False when already frozen."""
        with self._gate(exclusive=True), self.locked() as st:
            if self._frozen(st):
                return False
            st["freeze"] = {"since": time.time(), "limit": float(limit or 0)}
            return True

    def thaw(self) -> bool:
        """ExternalThaw: returns False when the instance was not frozen."""
        with self.locked() as st:
            was = self._frozen(st)
            st["freeze"] = None
            return was

    @contextlib.contextmanager
    def write_gate(self, cancelled: Callable[[], bool] | None = None) -> Iterator[None]:
        """Hold while writing a database: blocks while the instance is frozen."""
        while True:
            with self._gate(exclusive=False):
                with self.locked() as st:
                    frozen = self._frozen(st)
                if not frozen:
                    yield
                    return
            if cancelled and cancelled():
                raise FrozenWaitCancelled()
            time.sleep(0.005)

    # --- databases (Python API, used by tests and the engine's control API) -------------------

    def create_database(self, name: str, directory: str | None = None, size_mb: int = 1) -> str:
        name = name.upper()
        directory = self.normalize_directory(directory or self.manager_directory() + name.lower() + "/")
        self._mkdirs(directory, owner=IRISOWNER, mode=0o775)
        resource = "%DB_" + name
        with self.locked() as st:
            st["resources"].setdefault(resource, {"Description": "", "PublicPermission": ""})
        host = self._host(directory + "IRIS.DAT")
        datfile.create(host, directory, resource, size_mb)
        self.fs.created(directory + "IRIS.DAT", *IRISOWNER)
        os.chmod(host, 0o660)
        with self.config() as cpf:
            cpf["Databases"][name] = dict(DB_DEFAULTS, Directory=directory)
        self.mount(directory)
        return directory

    def create_namespace(self, name: str, globals_db: str, routines_db: str | None = None) -> None:
        with self.config() as cpf:
            for db in (globals_db, routines_db or globals_db):
                if db.upper() not in cpf["Databases"]:
                    raise LookupError(f"Database {db.upper()} does not exist")
            cpf["Namespaces"][name.upper()] = dict(
                NS_DEFAULTS, Globals=globals_db.upper(), Routines=(routines_db or globals_db).upper()
            )

    def check_integrity(self, directory: str) -> list[str]:
        directory = self.normalize_directory(directory)
        host = self._host(directory + "IRIS.DAT")
        problems = datfile.check(host)
        if problems:
            return problems
        _, image = datfile.read(host)
        if image:
            conn = datfile.open_image(image)
            try:
                rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            except Exception as e:  # a malformed image is damage, not a crash
                rows = [str(e)]
            finally:
                conn.close()
            if rows != ["ok"]:
                return [f"database contents damaged: {r}" for r in rows]
        return []

    # --- SQL --------------------------------------------------------------------------------

    def sql(self, namespace: str, statement: str, params: tuple = ()) -> SqlResult:
        from . import sql

        return sql.execute(self, namespace, statement, params)

    def start_writer(self, namespace: str, table: str, column: str, interval: float = 0.01) -> "Writer":
        writer = Writer(self, namespace, table, column, interval)
        writer.start()
        return writer


class Writer:
    """A background thread that keeps updating ``column`` of ``table``; honours the freeze."""

    def __init__(self, inst: SimInstance, namespace: str, table: str, column: str, interval: float) -> None:
        self.inst = inst
        self.statement = f"UPDATE {table} SET {column} = {column} + 1"
        self.namespace = namespace
        self.interval = interval
        self.updates = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sim-writer-{table}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._step()
            self._stop.wait(self.interval)

    def _step(self) -> None:
        """One update (``iris-sim writer`` drives this from its own process)."""
        from . import sql

        try:
            sql.execute(self.inst, self.namespace, self.statement, (), cancelled=self._stop.is_set)
            self.updates += 1
        except FrozenWaitCancelled:
            self._stop.set()
        except Exception as e:  # recorded for the test to see; the writer keeps going
            self.errors.append(str(e))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.updates
