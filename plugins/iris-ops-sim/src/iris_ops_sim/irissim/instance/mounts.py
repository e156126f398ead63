"""Mounting databases and the security resources a mount needs (IRIS.md §3).

* A configured database that nothing has touched yet is mounted implicitly the first time a
  process uses it. [DOC %SYS.Namespace.Enabled: "will implicitly mount a database which has not
  yet been accessed by the system"]
* A database that was explicitly dismounted stays dismounted until ``MountDatabase`` (or a
  restart, not simulated): using it fails. [DOC GSA_manage_databases_details; %SYS.Namespace.Enabled]
* ``MountDatabase`` of a mounted database is an error (``$$$AlreadyMounted``). [CODE intersystems/ipm
  Build.cls; number and text UNV]
* SYS.Database ``%Save`` of an existing database (its ``Size`` and ``ResourceName``) changes the
  file of a database mounted read-write only: IRIS expands a database it has open and writes its
  label.  [UNV] the reference does not say; a database not mounted, mounted read-only, or while
  the write daemon is suspended (ExternalFreeze) is refused, the stricter reading.
"""

from __future__ import annotations

from . import datfile
from .fs import USERS

__all__ = ["IRISOWNER", "MountError", "AlreadyMounted", "ChangeRefused", "MountsMixin"]

IRISOWNER = USERS["irisowner"]


class MountError(Exception):
    """A database could not be mounted; ``str()`` is the reason."""


class AlreadyMounted(MountError):
    """MountDatabase of a database that is mounted."""


class ChangeRefused(Exception):
    """A database's size or label resource could not be changed; ``str()`` is the reason."""


class MountsMixin:
    """Mount state of :class:`SimInstance`: ``mounted`` {dir: {readonly, reason}} and
    ``dismounted`` [dir, ...] in the runtime state."""

    # --- resources -----------------------------------------------------------------------------

    def resource_exists(self, name: str) -> bool:
        return str(name).upper() in {k.upper() for k in self._state().get("resources", {})}

    # --- mounting ------------------------------------------------------------------------------

    def mount_info(self, directory: str) -> dict | None:
        return self._state()["mounted"].get(self.normalize_directory(directory))

    def mount(self, directory: str, readonly: bool = False) -> dict:
        """MountDatabase: returns the mount record; raises :class:`AlreadyMounted` when it is
        mounted, :class:`MountError` when it cannot be mounted."""
        directory = self.normalize_directory(directory)
        with self.locked() as st:
            if directory in st["mounted"]:
                raise AlreadyMounted(f"Database {directory} is already mounted")
            record = self._check_mountable(directory, st, readonly)
            st["mounted"][directory] = record
            st["dismounted"] = [d for d in st.get("dismounted", []) if d != directory]
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
        """What a process using a database gets: the implicit mount of a database not used yet;
        an explicitly dismounted one raises :class:`MountError`."""
        directory = self.normalize_directory(directory)
        with self.locked() as st:
            if directory in st["mounted"]:
                return st["mounted"][directory]
            if directory in st.get("dismounted", []):
                raise MountError(f"Database {directory} is dismounted")
            record = self._check_mountable(directory, st, readonly=False)
            st["mounted"][directory] = record
            return record

    def dismount(self, directory: str) -> None:
        directory = self.normalize_directory(directory)
        if self.has_pending_updates(directory):
            # [UNV] IRIS would have to write the buffers first; refusing is the stricter reading.
            raise MountError(f"Database {directory} has updates the suspended write daemon has not written")
        with self.locked() as st:
            if directory not in st["mounted"]:
                raise MountError(f"Database {directory} is not mounted")
            if directory == self.manager_directory():
                raise MountError("Cannot dismount the system database IRISSYS")
            del st["mounted"][directory]
            st.setdefault("dismounted", [])
            if directory not in st["dismounted"]:
                st["dismounted"].append(directory)

    def change_database(self, directory: str, size_mb: int | None = None, resource: str | None = None) -> None:
        """SYS.Database %Save: grow the database to ``size_mb`` MB and/or name ``resource`` in its
        label (see the module's notes); raises :class:`ChangeRefused`.  The buffer lock (the write
        daemon's, :mod:`.writedaemon`) keeps every update out meanwhile, as a freeze does."""
        directory = self.normalize_directory(directory)
        self.write_daemon_tick()
        with self._buffer_lock(exclusive=True), self.locked() as st:
            info = st["mounted"].get(directory)
            if info is None:
                raise ChangeRefused(f"Database {directory} is not mounted")
            if info["readonly"]:
                raise ChangeRefused(f"Database {directory} is mounted read-only ({info['reason']})")
            if self._frozen(st):
                raise ChangeRefused("The write daemon is suspended (ExternalFreeze): the database cannot change now")
            if resource is not None and resource.upper() not in {k.upper() for k in st.get("resources", {})}:
                raise ChangeRefused(f"Resource {resource} does not exist")
            self._flush()
            try:
                datfile.relabel(self._host(directory + "IRIS.DAT"), size_mb=size_mb, resource=resource)
            except datfile.DatError as e:
                raise ChangeRefused(f"Cannot change database {directory}: {e}") from None

    def forget_database(self, directory: str) -> None:
        """The database file was deleted: no mount record of any kind remains."""
        directory = self.normalize_directory(directory)
        with self.locked() as st:
            st["mounted"].pop(directory, None)
            st["dismounted"] = [d for d in st.get("dismounted", []) if d != directory]
