"""``iris-sim``: seeding and inspection of a simulated instance, from inside its container
(``docker exec <c> iris-sim ...``) or on the host of a native install.

Real IRIS has no such command: it is the testing kit's back door, for what a test must set up
or look at without going through the instance's own APIs.  Every answer is one JSON document on
stdout; errors go to stderr with exit status 1 (2 for usage).

    iris-sim init --install-dir /usr/irissys [--name IRIS] [--data-dir DIR]
    iris-sim daemon                                   the container's main process (durable %SYS in
                                                      $ISC_DATA_DIRECTORY, when set, first)
    iris-sim sql --ns USER "SELECT 1"
    iris-sim create-db --name DB --size-mb 64 [--namespace NS] [--directory D] [--resource R] [--fill]
                       [--block-size N] [--encrypted] [--mirrored] [--volumes N] [--stream-files]
    iris-sim create-ns --name NS --globals DB [--routines DB]
    iris-sim writer start --ns NS --table T --column C [--interval S] [--mode update|insert]  -> {"id": ...}
    iris-sim writer stop ID                                              -> {"updates": N}
    iris-sim transaction open --ns NS                 -> {"id": ...}  (a process in a transaction)
    iris-sim transaction close ID
    iris-sim set-version ZVERSION [--freeze-args A,B,...]   $ZVERSION and ExternalFreeze's arguments
    iris-sim integrity DIRECTORY                      -> {"problems": [...]}
    iris-sim state                                    -> configuration, mounts, freeze, resources
    iris-sim delete-resource NAME
    iris-sim listing                                  -> every file under the install directory
    iris-sim os-auth on|off                           OS authentication (off: iris session asks for a login)
    iris-sim security                                 -> users (no hashes), services, roles, settings
    iris-sim check-password USER  < password          -> {"ok": ...}: passwords travel on stdin only
    iris-sim user USER [--roles R,..] [--change-password 0|1] [--password-never-expires 0|1]
                       [--enabled 0|1] [--password-stdin]
    iris-sim stop arm CLASS.METHOD [--fail] | wait [--timeout S] | release | clear
                                                      a test's stop point (instance/stops.py)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from decimal import Decimal

from . import variants
from .instance import SimInstance
from .instance.fs import NativeFS

TYPE_CHECKING = False  # typing's own flag would cost every simulator process the import of typing
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "DATA_DIRECTORY_ENV", "cmd_init", "cmd_daemon", "cmd_sql", "cmd_create_db", "cmd_create_ns", "cmd_writer",
    "cmd_transaction", "cmd_set_version", "cmd_integrity", "cmd_state", "cmd_delete_resource",
    "cmd_os_auth", "cmd_security", "cmd_check_password", "cmd_user", "cmd_listing", "parser", "main",
]


def _instance(name: str) -> SimInstance:
    return SimInstance.open(NativeFS(), name)


def _emit(doc: Any) -> None:
    def default(value: Any) -> Any:
        if isinstance(value, (bytes, bytearray)):
            return value.decode("utf-8", "replace")
        if isinstance(value, Decimal):
            return str(value)
        return str(value)

    sys.stdout.write(json.dumps(doc, default=default) + "\n")
    sys.stdout.flush()


# --- commands -----------------------------------------------------------------------------------

def cmd_init(args: argparse.Namespace) -> Any:
    inst = SimInstance.create(NativeFS(), args.name, args.install_dir, args.data_dir)
    return {"name": inst.name, "install_dir": inst.install_dir, "data_dir": inst.data_dir,
            "manager_directory": inst.manager_directory()}


#: What an IRIS container reads at start to keep %SYS and its databases on a volume.
DATA_DIRECTORY_ENV = "ISC_DATA_DIRECTORY"


def cmd_daemon(args: argparse.Namespace) -> Any:
    """PID 1 of the container: sets up durable %SYS when ``ISC_DATA_DIRECTORY`` names a
    directory (as IRIS's container entry point does, before the instance answers), then reaps
    orphans (writers, sessions) and runs the write daemon's clock, so that ``WDSuspendLimit``
    ends a freeze even when no session looks.  As a container's PID 1 it starts the fork server
    that the image's ``iris`` and ``iris-sim`` launchers ask first (:mod:`irissim.forkserver`),
    and again a second after it ends."""
    stop = {"now": False}

    def ask_stop(signum, frame):  # noqa: ARG001
        stop["now"] = True

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    durable = os.environ.get(DATA_DIRECTORY_ENV, "")
    inst = SimInstance.durable(NativeFS(), args.name, durable) if durable else _instance(args.name)
    inst.boot()  # a restarted container is a restarted instance
    from . import forkserver

    # a container's main process only: a native instance's launchers never ask for it, and its
    # daemon (one per instance of a fleet on one machine) is not where its processes end
    in_container = os.getpid() == 1
    server, restart_at = (forkserver.start() if in_container else None), 0.0
    while not stop["now"]:
        try:
            while (pid := os.waitpid(-1, os.WNOHANG)[0]) > 0:
                if pid == server:
                    server, restart_at = None, time.monotonic() + 1.0
        except ChildProcessError:
            pass
        if server is None and restart_at and time.monotonic() >= restart_at:
            server, restart_at = forkserver.start(), 0.0
        inst.write_daemon_tick()
        time.sleep(0.2)
    return None


def cmd_sql(args: argparse.Namespace) -> Any:
    result = _instance(args.name).sql(args.ns, " ".join(args.statement))
    return {"columns": result.columns, "rows": [list(r) for r in result.rows], "rowcount": result.rowcount}


def cmd_create_db(args: argparse.Namespace) -> Any:
    inst = _instance(args.name)
    directory = inst.create_database(args.db, args.directory, args.size_mb, resource=args.resource,
                                     block_size=args.block_size, encrypted=args.encrypted, mirrored=args.mirrored,
                                     volumes=args.volumes, stream_files=args.stream_files,
                                     fill=args.fill)
    if args.namespace:
        inst.create_namespace(args.namespace, args.db)
    return {"name": args.db.upper(), "directory": directory, "namespace": (args.namespace or "").upper() or None}


def cmd_create_ns(args: argparse.Namespace) -> Any:
    _instance(args.name).create_namespace(args.ns, args.globals, args.routines)
    return {"namespace": args.ns.upper()}


def _writers_dir(inst: SimInstance) -> str:
    path = str(inst.fs.host_path(inst.manager_directory() + ".sim/writers"))
    os.makedirs(path, exist_ok=True)
    return path


def cmd_writer(args: argparse.Namespace) -> Any:
    inst = _instance(args.name)
    directory = _writers_dir(inst)
    if args.action == "start":
        if not (args.ns and args.table and args.column):
            raise _Usage("writer start needs --ns, --table and --column")
        return {"id": _start_writer(inst, directory, args)}
    if not args.id:
        raise _Usage("writer stop needs the writer id")
    return _stop_writer(directory, args.id)


def _start_writer(inst: SimInstance, directory: str, args: argparse.Namespace) -> str:
    from .instance.writer import Writer

    read, write = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write)
        writer_id = os.read(read, 64).decode().strip()
        os.close(read)
        if not writer_id:
            raise RuntimeError("the writer process died on start")
        return writer_id
    # the writer: its own session, so that the exec that started it can end
    os.close(read)
    os.setsid()
    writer_id = f"w{os.getpid()}"
    record = os.path.join(directory, writer_id + ".json")
    writer = Writer(inst, args.ns, args.table, args.column, args.interval, args.mode)

    def finish(signum, frame):  # noqa: ARG001
        writer._stop.set()

    signal.signal(signal.SIGTERM, finish)
    _save(record, {"pid": os.getpid(), "updates": 0, "errors": [], "done": False})
    os.write(write, writer_id.encode())
    os.close(write)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        while not writer._stop.is_set():
            writer._step()
            _save(record, {"pid": os.getpid(), "updates": writer.updates, "errors": writer.errors[-5:], "done": False})
            writer._stop.wait(writer.interval)
    finally:
        _save(record, {"pid": os.getpid(), "updates": writer.updates, "errors": writer.errors[-5:], "done": True})
        os._exit(0)


def _stop_writer(directory: str, writer_id: str) -> Any:
    record = os.path.join(directory, os.path.basename(writer_id) + ".json")
    try:
        info = json.loads(open(record).read())
    except FileNotFoundError:
        raise _Usage(f"no writer {writer_id}") from None
    try:
        os.kill(info["pid"], signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        info = json.loads(open(record).read())
        if info.get("done"):
            break
        time.sleep(0.02)
    os.unlink(record)
    return {"updates": info["updates"], "errors": info["errors"]}


def _save(path: str, doc: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def cmd_transaction(args: argparse.Namespace) -> Any:
    inst = _instance(args.name)
    if args.action == "open":
        if not args.ns:
            raise _Usage("transaction open needs --ns")
        return {"id": inst.open_transaction(args.ns)}
    if not args.id:
        raise _Usage("transaction close needs the transaction id")
    return {"id": args.id, "closed": inst.close_transaction(args.id)}


def cmd_set_version(args: argparse.Namespace) -> Any:
    inst = _instance(args.name)
    freeze_args = [a for a in args.freeze_args.split(",") if a] if args.freeze_args is not None else None
    inst.set_version(args.zversion, freeze_args)
    return {"zversion": inst.version, "freeze_args": inst.freeze_arguments()}


def cmd_integrity(args: argparse.Namespace) -> Any:
    return {"problems": _instance(args.name).check_integrity(args.directory)}


def cmd_state(args: argparse.Namespace) -> Any:
    inst = _instance(args.name)
    with inst.locked() as st:
        state = json.loads(json.dumps(st))
        state["frozen"] = inst._frozen(st)
    state["pending"] = sorted(inst._pending_dirs())
    state.pop("security", None)  # users, services: `iris-sim security`
    state["config"] = inst.read_config()
    state["version"] = inst.version
    state["manager_directory"] = inst.manager_directory()
    state["variants"] = sorted(variants.active())
    state["data_directory"] = inst.data_dir
    return state


def cmd_delete_resource(args: argparse.Namespace) -> Any:
    return {"resource": args.resource, "removed": _instance(args.name).delete_resource(args.resource)}


def cmd_os_auth(args: argparse.Namespace) -> Any:
    """OS authentication on (the official images' default) or off: then every ``iris session``
    asks for a username and password."""
    inst = _instance(args.name)
    inst.os_authentication = args.state == "on"
    return {"os_authentication": inst.os_authentication}


def cmd_security(args: argparse.Namespace) -> Any:
    """Users (without hash or salt), services and system settings of the security database."""
    from .instance import security

    with _instance(args.name).locked() as st:
        db = security.of(st)
        return {"users": {r["Name"]: security.public_user(r) for r in db["users"].values()},
                "services": {name: dict(r) for name, r in db["services"].items()},
                "roles": sorted(db["roles"]), "system": dict(db["system"])}


def cmd_check_password(args: argparse.Namespace) -> Any:
    """Whether the password on stdin (one line) is the user's: read from stdin, never argv."""
    from .instance import security

    password = sys.stdin.readline().rstrip("\n")
    with _instance(args.name).locked() as st:
        record = security.find_user(security.of(st), args.user)
        return {"user": args.user, "exists": record is not None,
                "ok": bool(record) and security.check_password(record, password)}


def cmd_user(args: argparse.Namespace) -> Any:
    """Create or change a user behind the instance's back (seeding): flags as given; with
    ``--password-stdin`` the password is the first line of stdin."""
    from .instance import security

    with _instance(args.name).locked() as st:
        db = security.of(st)
        record = security.find_user(db, args.user) or security.new_user(db, args.user, [], None)
        if args.roles is not None:
            record["Roles"] = [r for r in args.roles.split(",") if r]
        for key, value in (("ChangePassword", args.change_password), ("Enabled", args.enabled),
                           ("PasswordNeverExpires", args.password_never_expires)):
            if value is not None:
                record[key] = value
        if args.password_stdin:
            security.set_password(db, record, sys.stdin.readline().rstrip("\n"))
        return security.public_user(record)


def cmd_stop(args: argparse.Namespace) -> Any:
    from .instance import stops

    inst = _instance(args.name)
    if args.action == "arm":
        if not args.call:
            raise _Usage("stop arm needs CLASS.METHOD")
        return stops.arm(inst, args.call, fail=args.fail)
    if args.action == "wait":
        return stops.wait(inst, args.timeout)
    return getattr(stops, args.action)(inst)


def cmd_listing(args: argparse.Namespace) -> Any:
    """Every file and directory under the install directory and the data directory (the
    instance's own bookkeeping under ``mgr/.sim`` left out), with mode, owner, size and sha256:
    compare two to see what changed."""
    inst = _instance(args.name)
    roots = dict.fromkeys(str(inst.fs.host_path(d)) for d in (inst.install_dir, inst.data_dir))
    skip = {os.path.join(root, "mgr", ".sim") for root in roots}
    files = {}
    for directory, dirs, names in (step for root in roots for step in os.walk(root)):
        dirs[:] = [d for d in dirs if os.path.join(directory, d) not in skip]
        for name in sorted(dirs) + sorted(names):
            path = os.path.join(directory, name)
            st = os.lstat(path)
            entry = {"mode": oct(st.st_mode & 0o7777), "uid": st.st_uid, "gid": st.st_gid, "dir": os.path.isdir(path)}
            if not entry["dir"]:
                entry["size"] = st.st_size
                entry["sha256"] = _sha256(path)
            files[path] = entry
    state = cmd_state(args)
    return {"files": files, "config": state["config"], "mounted": state["mounted"],
            "resources": state["resources"], "frozen": state["frozen"]}


def _sha256(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- the program --------------------------------------------------------------------------------

class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 itself; keep it a usage error
        raise _Usage(message)


class _Unused:
    """A subcommand's parser that this call does not need: what is added to it is dropped."""

    def add_argument(self, *args, **kwargs) -> None:
        pass

    def set_defaults(self, **kwargs) -> None:
        pass


def _command(argv: list[str]) -> str | None:
    """The subcommand ``argv`` names (the first word past ``--name NAME``), or None when it asks
    for help or names none."""
    words = iter(argv)
    for word in words:
        if word in ("-h", "--help"):
            return None
        if word == "--name":
            next(words, None)
        elif not word.startswith("-"):
            return None if any(w in ("-h", "--help") for w in words) else word
    return None


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``command``, only that subcommand's parser is built (each
    ``iris-sim`` call is a process of its own, and building all of them, with argparse's
    translation lookups for each, cost a fifth of a call).  An unknown ``command`` gets them all,
    so that its error lists the choices."""
    p = _Parser(prog="iris-sim", description="Seed and inspect the simulated IRIS instance.")
    p.add_argument("--name", default="IRIS", help="instance name (default IRIS)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    if command is not None:
        add, built = sub.add_parser, []

        def only(name: str, **kwargs):
            if name != command:
                return _Unused()
            built.append(name)
            return add(name, **kwargs)

        sub.add_parser = only
    s = sub.add_parser("init", help="create the instance with its default contents")
    s.add_argument("--install-dir", default="/usr/irissys")
    s.add_argument("--data-dir", help="keep the instance's data (mgr, databases, CPF) there (durable %%SYS)")
    s.set_defaults(run=cmd_init)
    sub.add_parser("daemon", help="the container's main process").set_defaults(run=cmd_daemon)
    s = sub.add_parser("sql", help="run one SQL statement")
    s.add_argument("--ns", required=True)
    s.add_argument("statement", nargs="+")
    s.set_defaults(run=cmd_sql)
    s = sub.add_parser("create-db", help="create a database (and a namespace on it)")
    s.add_argument("--name", dest="db", required=True)
    s.add_argument("--size-mb", type=int, default=1)
    s.add_argument("--directory")
    s.add_argument("--namespace")
    s.add_argument("--resource", help="the label's resource (default %%DB_<NAME>; %%DB_%%DEFAULT is the system default)")
    s.add_argument("--block-size", type=int, default=8192, help="the block size the database declares")
    s.add_argument("--encrypted", action="store_true", help="EncryptedDB=1")
    s.add_argument("--mirrored", action="store_true", help="Mirrored=1")
    s.add_argument("--volumes", type=int, default=0, help="extra volume files beside IRIS.DAT (MultiVolume=1)")
    s.add_argument("--stream-files", action="store_true", help="a file stream in stream/ beside IRIS.DAT")
    s.add_argument("--fill", action="store_true", help="random bytes in every block past the contents (a full file)")
    s.set_defaults(run=cmd_create_db)
    s = sub.add_parser("create-ns", help="create a namespace on existing databases")
    s.add_argument("--name", dest="ns", required=True)
    s.add_argument("--globals", required=True)
    s.add_argument("--routines")
    s.set_defaults(run=cmd_create_ns)
    s = sub.add_parser("writer", help="a background process that keeps updating a column")
    s.add_argument("action", choices=("start", "stop"))
    s.add_argument("id", nargs="?")
    s.add_argument("--ns")
    s.add_argument("--table")
    s.add_argument("--column")
    s.add_argument("--interval", type=float, default=0.01)
    s.add_argument("--mode", choices=("update", "insert"), default="update",
                   help="update: add 1 to the column of every row; insert: add a row per step")
    s.set_defaults(run=cmd_writer)
    s = sub.add_parser("transaction", help="a process holding an open transaction (InTransaction in %%SYS.ProcessQuery)")
    s.add_argument("action", choices=("open", "close"))
    s.add_argument("id", nargs="?")
    s.add_argument("--ns")
    s.set_defaults(run=cmd_transaction)
    s = sub.add_parser("set-version", help="another $ZVERSION (and ExternalFreeze's arguments on it)")
    s.add_argument("zversion")
    s.add_argument("--freeze-args", help="comma-separated argument names of Backup.General.ExternalFreeze")
    s.set_defaults(run=cmd_set_version)
    s = sub.add_parser("integrity", help="check one database file")
    s.add_argument("directory")
    s.set_defaults(run=cmd_integrity)
    sub.add_parser("state", help="configuration, mounts, freeze, resources").set_defaults(run=cmd_state)
    s = sub.add_parser("delete-resource", help="remove a security resource")
    s.add_argument("resource")
    s.set_defaults(run=cmd_delete_resource)
    sub.add_parser("listing", help="every file under the install directory").set_defaults(run=cmd_listing)
    s = sub.add_parser("os-auth", help="turn OS authentication on or off")
    s.add_argument("state", choices=("on", "off"))
    s.set_defaults(run=cmd_os_auth)
    sub.add_parser("security", help="users, services, roles and settings").set_defaults(run=cmd_security)
    s = sub.add_parser("check-password", help="is the password on stdin the user's?")
    s.add_argument("user")
    s.set_defaults(run=cmd_check_password)
    s = sub.add_parser("user", help="create or change a user (seeding)")
    s.add_argument("user")
    s.add_argument("--roles", help="comma-separated roles (replaces them)")
    s.add_argument("--change-password", type=int, choices=(0, 1))
    s.add_argument("--password-never-expires", type=int, choices=(0, 1))
    s.add_argument("--enabled", type=int, choices=(0, 1))
    s.add_argument("--password-stdin", action="store_true", help="set the password read from stdin")
    s.set_defaults(run=cmd_user)
    s = sub.add_parser("stop", help="a test's stop point: hold (or fail) the next session calling CLASS.METHOD")
    s.add_argument("action", choices=("arm", "wait", "release", "clear"))
    s.add_argument("call", nargs="?", help="CLASS.METHOD, e.g. %%Library.File.CopyFile (arm)")
    s.add_argument("--fail", action="store_true", help="the call returns an error status instead of holding")
    s.add_argument("--timeout", type=float, default=60.0, help="seconds wait blocks at most")
    s.set_defaults(run=cmd_stop)
    if command is not None and not built:
        return parser()
    return p


def main(argv: list[str] | None = None) -> int:
    problem = variants.check_environment()
    if problem:
        sys.stderr.write(f"iris-sim: {problem}\n")
        return 1
    try:
        argv = sys.argv[1:] if argv is None else argv
        args = parser(_command(argv)).parse_args(argv)
        doc = args.run(args)
    except _Usage as e:
        sys.stderr.write(f"iris-sim: {e}\n")
        return 2
    except Exception as e:  # a clear line for the test that called us, not a traceback
        sys.stderr.write(f"iris-sim: {type(e).__name__}: {e}\n")
        return 1
    if doc is not None:
        _emit(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
