"""The simulated instance: configuration (iris.cpf), runtime state and database files on disk.

Everything lives under the container root so every process and thread sees one instance, in
its data directory (``<data>``: the install directory, or the durable directory a container's
``ISC_DATA_DIRECTORY`` names, :meth:`SimInstance.durable`):

* ``<data>/iris.cpf``: CPF-like configuration, sections ``[Databases]`` (``NAME=Directory,
  Server,MountRequired,MountAtStartup,ClusterMountMode,StreamLocation``) and ``[Namespaces]``
  (``NAME=Globals,Routines,TempGlobals,Library,SysGlobals,SysRoutines,Interop``);
* ``<data>/mgr/.sim/state.json``: mounted and dismounted databases, the freeze, security
  resources, open transactions, and the security database (users with hashed passwords, roles,
  services: ``security_users.py``);
* ``<data>/mgr/.sim/state.lock``: flock guarding both;
* ``<data>/mgr/.sim/buffers/`` and ``buffers.lock``: the write daemon's shared buffer pool
  (:mod:`.writedaemon`).

The instance's jobs are split by module: mounting in :mod:`.mounts`, the write daemon and the
freeze in :mod:`.writedaemon`, open transactions in :mod:`.journal`, SQL in :mod:`.sql`, the
background writer in :mod:`.writer`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import posixpath
import time
from pathlib import Path

from . import datfile
from .fs import USERS, ContainerFS, normalize
from .journal import JournalMixin
from .mounts import AlreadyMounted, MountError, MountsMixin
from .writedaemon import FrozenWaitCancelled, WriteDaemonMixin

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Iterator

    from .sql import SqlResult
    from .writer import Writer

__all__ = [
    "SimInstance", "MountError", "AlreadyMounted", "FrozenWaitCancelled", "IRISOWNER", "VERSION", "FREEZE_ARGS",
    "REGISTRY", "REGISTRY_ENV", "registry_path", "SYSTEM_DATABASES", "DB_FIELDS", "NS_FIELDS", "NS_DEFAULTS",
    "DB_DEFAULTS",
]

IRISOWNER = USERS["irisowner"]
VERSION = "IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2024.1 (Build 263U) Wed Mar 13 2024 15:21:28 EDT"
#: ExternalFreeze's arguments on 2024.1 (ref/2024.1/Backup/General.cls).
FREEZE_ARGS = ("LogFile", "Text", "SwitchJournalFile", "TimeOut", "Hibernate", "Verbose", "ExternalFreezeTimeOut",
               "Username", "Password", "WDSuspendLimit", "RequiredFile")
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


def _qlist_version(zversion: str) -> str:
    """``2024.1.0.263.0`` from ``... 2024.1 (Build 263U) ...``."""
    import re

    m = re.search(r" (\d+(?:\.\d+)*) \(Build (\d+)", zversion)
    if not m:
        return "0.0.0.0.0"
    parts = (m.group(1).split(".") + ["0", "0"])[:3]
    return ".".join(parts + [m.group(2), "0"])


class SimInstance(MountsMixin, WriteDaemonMixin, JournalMixin):
    """One simulated IRIS instance inside a container (see docs/ARCHITECTURE.md)."""

    def __init__(self, fs: ContainerFS, name: str, install_dir: str, data_dir: str | None = None) -> None:
        self.fs = fs
        self.name = name
        self.install_dir = install_dir.rstrip("/") or "/"
        #: Where the instance keeps its data (its manager directory, databases and CPF): the
        #: install directory, or a durable directory (IRIS's durable %SYS).
        self.data_dir = (data_dir or install_dir).rstrip("/") or "/"
        self._sim = posixpath.join(self.data_dir, "mgr", ".sim")

    @property
    def sim_directory(self) -> str:
        """The simulator's own bookkeeping (state, buffers, job and lock tables)."""
        return self._sim

    # --- creation ---------------------------------------------------------------------------

    @classmethod
    def create(cls, fs: ContainerFS, name: str = "IRIS", install_dir: str = "/usr/irissys",
               data_dir: str | None = None) -> "SimInstance":
        inst = cls(fs, name, install_dir, data_dir)
        inst._mkdirs(inst.install_dir, owner=(0, 0), mode=0o755)
        inst._mkdirs(inst.data_dir, owner=IRISOWNER, mode=0o775)
        inst._mkdirs(inst.manager_directory(), owner=IRISOWNER, mode=0o775)
        inst._mkdirs(inst._sim, owner=IRISOWNER, mode=0o775)
        inst._register()
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
            "dismounted": [],
            "freeze": None,
            "transactions": {},
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
        fs.host_path(inst._sim + "/buffers").mkdir(exist_ok=True)
        os.chmod(fs.host_path(inst._sim + "/buffers"), 0o775)
        fs.host_path(inst._sim + "/buffers.lock").touch()
        for entry in fs.host_path(inst._sim).iterdir():  # the instance's processes run as irisowner
            fs.created(inst._sim + "/" + entry.name, *IRISOWNER)
        return inst

    @classmethod
    def durable(cls, fs: ContainerFS, name: str, data_dir: str) -> "SimInstance":
        """Durable %SYS, as an IRIS container sets it up at start when ``ISC_DATA_DIRECTORY``
        names ``data_dir`` (on a mounted volume): the first start makes the instance's data
        there (a new instance's contents), a later one (the volume kept) finds it; either way
        the instance runs on it from now on."""
        current = cls.open(fs, name)
        data_dir = data_dir.rstrip("/") or "/"
        if current.data_dir == data_dir:
            return current
        if fs.host_path(data_dir + "/iris.cpf").exists():
            found = cls(fs, current.name, current.install_dir, data_dir)
            found._register()
            return found
        return cls.create(fs, current.name, current.install_dir, data_dir)

    def _register(self) -> None:
        reg_host = self.fs.host_path(registry_path())
        reg_host.parent.mkdir(parents=True, exist_ok=True)
        registry = json.loads(reg_host.read_text()) if reg_host.exists() else {}
        registry[self.name] = (self.install_dir if self.data_dir == self.install_dir
                               else {"install_dir": self.install_dir, "data_dir": self.data_dir})
        partial = reg_host.with_name(reg_host.name + f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(registry))
        os.replace(partial, reg_host)  # whole, for the sessions that read it meanwhile

    @classmethod
    def open(cls, fs: ContainerFS, name: str = "IRIS") -> "SimInstance":
        """The registered instance ``name`` (instance names are not case-sensitive)."""
        for found in cls.every(fs):
            if found.name.upper() == str(name).upper():
                return found
        raise LookupError(f"no instance {name!r} in this container")

    @classmethod
    def every(cls, fs: ContainerFS) -> list["SimInstance"]:
        """Every registered instance."""
        try:
            registry = json.loads(fs.host_path(registry_path()).read_text())
        except FileNotFoundError:
            return []
        return [cls(fs, name, entry, None) if isinstance(entry, str)
                else cls(fs, name, entry["install_dir"], entry.get("data_dir")) for name, entry in registry.items()]

    @classmethod
    def registered(cls, fs: ContainerFS) -> dict[str, str]:
        """Every registered instance: name -> install directory."""
        return {inst.name: inst.install_dir for inst in cls.every(fs)}

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
        self.write_daemon_tick()  # the lazy check of WDSuspendLimit on every state access
        with self.locked() as st:
            return json.loads(json.dumps(st))

    @property
    def cpf_path(self) -> str:
        return self.data_dir + "/iris.cpf"

    def _read_cpf(self) -> dict:
        """``{"Databases": {NAME: props}, "Namespaces": {NAME: props}, "Maps": {NS: {"Global_X": DB}}}``:
        the ``[Map.<NS>]`` sections hold a namespace's mappings as real CPFs do
        (``Global_<name>``, ``Routine_<name>``, ``Package_<name>``)."""
        cpf: dict[str, dict] = {"Databases": {}, "Namespaces": {}, "Maps": {}}
        section = None
        try:
            text = self._host(self.cpf_path).read_text()
        except FileNotFoundError:
            return cpf
        text = self._whole_cpf(text)
        for line in text.splitlines():
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            if "=" in line and section and section.startswith("Map."):
                key, value = line.split("=", 1)
                cpf["Maps"].setdefault(section[4:], {})[key] = value
                continue
            if "=" not in line or section not in ("Databases", "Namespaces"):
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
        for ns, entries in cpf.get("Maps", {}).items():
            if entries:
                lines += ["", f"[Map.{ns}]"] + [f"{key}={value}" for key, value in entries.items()]
        text = "\n".join(lines) + "\n"
        # iris.cpf is written in place (irisowner may not create files in the install directory),
        # so a kill mid-write could tear it: the whole text goes first, atomically, to a copy the
        # instance reads back when the two differ (the way IRIS keeps a last good CPF).
        copy = self._host(self._sim + "/iris.cpf.last")
        tmp = copy.with_name("iris.cpf.last.tmp")
        tmp.unlink(missing_ok=True)  # left by a kill, perhaps by another user
        tmp.write_text(text)
        os.replace(tmp, copy)
        host = self._host(self.cpf_path)
        fresh = not host.exists()
        host.write_text(text)
        if fresh:
            self.fs.created(self.cpf_path, *IRISOWNER)
            os.chmod(host, 0o664)

    def _whole_cpf(self, text: str) -> str:
        """The CPF's text, mended from the last whole copy when a write into it was cut short."""
        try:
            last = self._host(self._sim + "/iris.cpf.last").read_text()
        except FileNotFoundError:
            return text
        if text != last:
            self._host(self.cpf_path).write_text(last)
        return last

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

    # --- version ------------------------------------------------------------------------------

    @property
    def version(self) -> str:
        """``$ZVERSION``: the 2024.1 container's unless seeded (``iris-sim set-version``)."""
        return self._state().get("zversion") or VERSION

    def set_version(self, zversion: str, freeze_args: list[str] | None = None) -> None:
        """Seed another ``$ZVERSION`` and, with ``freeze_args``, the argument names of
        ``Backup.General.ExternalFreeze`` on that version (the release that added
        ``WDSuspendLimit`` is not documented, so a test says which arguments exist)."""
        with self.locked() as st:
            st["zversion"] = zversion
            if freeze_args is not None:
                st["freeze_args"] = list(freeze_args)

    def freeze_arguments(self) -> list[str]:
        return list(self._state().get("freeze_args") or FREEZE_ARGS)

    def manager_directory(self) -> str:
        return self.data_dir.rstrip("/") + "/mgr/"

    def boot(self) -> None:
        """A start of the instance (the container's, after a stop or a kill): what IRIS keeps in
        shared memory is gone.  The freeze has ended and the updates the suspended write daemon
        held are written (as recovery would), no transaction is open, and no database is
        dismounted any more: each one the instance had mounted or dismounted is mounted again,
        read-write unless its file says otherwise, as its first use after the start would."""
        with self._buffer_lock(exclusive=True):
            with self.locked() as st:
                st["freeze"] = None
            self._flush()
        with self.locked() as st:
            again = {}
            for directory in [*st["mounted"], *st.get("dismounted", [])]:
                try:
                    again[directory] = self._check_mountable(directory, st, readonly=False)
                except MountError:
                    pass  # its file went away while the instance was down
            st["mounted"], st["dismounted"], st["transactions"] = again, [], {}

    def stop_point(self, class_name: str, method: str) -> str | None:
        """Before each class method call: a test's stop point (:mod:`.stops`) may hold the
        session here, or fail the call (the error text is returned)."""
        from . import stops

        return stops.reached(self, class_name, method)

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

    def change_password_at_login(self, username: str, password: str) -> str:
        """The new password a login asked for (variant ``password-change-prompt``)."""
        from . import security

        return security.change_password_at_login(self, username, password)

    def namespace_exists(self, ns: str) -> bool:
        return str(ns).upper() in self.read_config()["Namespaces"]

    def qlist_line(self) -> str:
        started = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(self._state().get("started", time.time())))
        return "^".join([
            self.name, self.install_dir, _qlist_version(self.version), f"running, since {started}", "iris.cpf",
            "1972", "52773", "0", "ok", "IRIS", "", "", self.data_dir,
        ])

    def normalize_directory(self, directory: str) -> str:
        """IRIS's canonical database directory: absolute (relative to mgr), trailing slash."""
        directory = str(directory)
        if not directory.startswith("/"):
            directory = self.manager_directory() + directory
        return normalize(directory).rstrip("/") + "/"

    # --- databases (Python API, used by tests and the engine's control API) -------------------

    def create_database(self, name: str, directory: str | None = None, size_mb: int = 1, *,
                        resource: str | None = None, block_size: int = datfile.BLOCK, encrypted: bool = False,
                        mirrored: bool = False, volumes: int = 0, stream_files: bool = False,
                        fill: bool = False) -> str:
        """Seed a configured, mounted database.  ``resource`` defaults to ``%DB_<NAME>`` (created
        if missing); ``%DB_%DEFAULT`` is what CreateDatabase puts when none is named.  The other
        keywords make databases iris-ops must refuse: a declared ``block_size``, ``encrypted``,
        ``mirrored``, ``volumes`` extra volume files ``IRIS-000n.VOL`` beside IRIS.DAT [UNV name],
        ``stream_files``: a file stream in ``stream/`` beside IRIS.DAT [UNV location].  ``fill``:
        random bytes in every block past the contents (see :func:`datfile.create`)."""
        name = name.upper()
        directory = self.normalize_directory(directory or self.manager_directory() + name.lower() + "/")
        self._mkdirs(directory, owner=IRISOWNER, mode=0o775)
        resource = resource or "%DB_" + name
        with self.locked() as st:
            if resource.upper() not in {k.upper() for k in st["resources"]}:
                st["resources"][resource] = {"Description": "", "PublicPermission": ""}
        host = self._host(directory + "IRIS.DAT")
        datfile.create(host, directory, resource, size_mb, block_size=block_size, encrypted=encrypted,
                       mirrored=mirrored, fill=fill)
        self.fs.created(directory + "IRIS.DAT", *IRISOWNER)
        os.chmod(host, 0o660)
        for n in range(1, volumes + 1):
            volume = f"{directory}IRIS-{n:04d}.VOL"
            self._host(volume).write_bytes(b"\0" * datfile.BLOCK)
            self.fs.created(volume, *IRISOWNER)
        if stream_files:
            self._mkdirs(directory + "stream/", owner=IRISOWNER, mode=0o775)
            self._host(directory + "stream/1.stream").write_bytes(b"a file stream")
            self.fs.created(directory + "stream/1.stream", *IRISOWNER)
        with self.config() as cpf:
            cpf["Databases"][name] = dict(DB_DEFAULTS, Directory=directory)
        self.mount(directory)
        return directory

    def delete_resource(self, name: str) -> bool:
        """Remove a security resource, system ones included (``iris-sim delete-resource``): to
        seed an instance that lacks one."""
        with self.locked() as st:
            key = next((k for k in st.get("resources", {}) if k.upper() == str(name).upper()), None)
            return key is not None and st["resources"].pop(key, None) is not None

    def volume_files(self, directory: str) -> list[str]:
        """Extra volume files of a multi-volume database beside its IRIS.DAT [UNV naming]."""
        host = self._host(self.normalize_directory(directory))
        return sorted(p.name for p in host.glob("IRIS-*.VOL")) if host.is_dir() else []

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

    # --- SQL and the background writer -------------------------------------------------------

    def sql(self, namespace: str, statement: str, params: tuple = ()) -> SqlResult:
        from .sql import execute  # lazily: a session that runs no SQL never loads the SQL module

        return execute(self, namespace, statement, params)

    def start_writer(self, namespace: str, table: str, column: str, interval: float = 0.01,
                     mode: str = "update") -> "Writer":
        """A background thread that keeps writing ``table``: ``update`` adds 1 to ``column`` of
        every row; ``insert`` adds a row whose ``column`` is the next number."""
        from .writer import Writer

        writer = Writer(self, namespace, table, column, interval, mode)
        writer.start()
        return writer
