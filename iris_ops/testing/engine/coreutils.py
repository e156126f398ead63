"""The few file utilities a script in an IRIS container needs, over ``ContainerFS``.

Messages and exit statuses follow GNU coreutils in the C locale (ASCII quotes), as the Ubuntu
based IRIS images print them.  Permissions are those of the exec user as ``ContainerFS`` records
them: irisowner cannot write into a root-owned directory or over a root-owned file.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
from datetime import datetime
from typing import BinaryIO, Callable

from iris_ops.testing.engine.process import Proc, Write, group_id

CHUNK = 1 << 20
UMASK = 0o022


class Fail(Exception):
    """One failed operand: the message is printed, the program carries on and exits 1."""


def _host(proc: Proc, path: str):
    """Host path of ``path`` without following a final symlink; Fail(ENOENT) when unreachable."""
    try:
        if path == "/":
            return proc.fs.host_path("/")
        return proc.fs.host_path(posixpath.dirname(path)) / posixpath.basename(path)
    except (FileNotFoundError, NotADirectoryError):
        raise Fail("No such file or directory") from None
    except (ValueError, PermissionError, OSError) as exc:
        raise Fail(str(exc) or "Permission denied") from None


def _exists(proc: Proc, path: str) -> bool:
    try:
        return os.path.lexists(_host(proc, path))
    except Fail:
        return False


def _can_write(proc: Proc, path: str) -> bool:
    return proc.uid == 0 or bool(proc.fs.can_write(path, proc.uid))


def _can_delete(proc: Proc, path: str) -> bool:
    check = getattr(proc.fs, "can_delete", None)
    if check is None:
        return _can_write(proc, posixpath.dirname(path))
    return proc.uid == 0 or bool(check(path, proc.uid))


def _can_read(proc: Proc, path: str) -> bool:
    return proc.uid == 0 or bool(proc.fs.can_read(path, proc.uid))


def _names(proc: Proc) -> tuple[dict[int, str], dict[int, str]]:
    users = proc.backend.users()
    return ({u: n for n, (u, _g) in users.items()}, {g: n for n, (_u, g) in users.items()})


def _split_flags(argv: list[str], allowed: str) -> tuple[set[str], list[str]]:
    flags: set[str] = set()
    rest: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg == "--":
            rest.extend(it)
            break
        if arg.startswith("-") and len(arg) > 1 and not rest and all(ch in allowed for ch in arg[1:]):
            flags.update(arg[1:])
        else:
            rest.append(arg)
    return flags, rest


def _each(prog: str, operands: list[str], err: Write, action: Callable[[str], None]) -> int:
    status = 0
    for operand in operands:
        try:
            action(operand)
        except Fail as exc:
            err(f"{prog}: {exc}\n".encode())
            status = 1
    return status


# --- programs ---------------------------------------------------------------------------------


def true_(proc, argv, stdin, out, err) -> int:
    return 0


def false_(proc, argv, stdin, out, err) -> int:
    return 1


def echo(proc, argv, stdin, out, err) -> int:
    args = argv[1:]
    newline = True
    if args and args[0] == "-n":
        newline, args = False, args[1:]
    out((" ".join(args) + ("\n" if newline else "")).encode())
    return 0


def whoami(proc, argv, stdin, out, err) -> int:
    out(f"{proc.user}\n".encode())
    return 0


def id_(proc, argv, stdin, out, err) -> int:
    if "-u" in argv:
        out(f"{proc.uid}\n".encode())
    elif "-g" in argv:
        out(f"{proc.gid}\n".encode())
    else:
        users, groups = _names(proc)
        g = groups.get(proc.gid, str(proc.gid))
        out(f"uid={proc.uid}({proc.user}) gid={proc.gid}({g}) groups={proc.gid}({g})\n".encode())
    return 0


def mkdir(proc, argv, stdin, out, err) -> int:
    flags, operands = _split_flags(argv[1:], "pv")
    if not operands:
        err(b"mkdir: missing operand\n")
        return 1

    def make_one(path: str, quoted: str) -> None:
        parent = posixpath.dirname(path)
        host = _host(proc, path)
        if os.path.lexists(host):
            if "p" in flags and os.path.isdir(host):
                return
            raise Fail(f"cannot create directory '{quoted}': File exists")
        parent_host = _host(proc, parent)
        if not os.path.isdir(parent_host):
            why = "Not a directory" if os.path.lexists(parent_host) else "No such file or directory"
            raise Fail(f"cannot create directory '{quoted}': {why}")
        if not _can_write(proc, parent):
            raise Fail(f"cannot create directory '{quoted}': Permission denied")
        os.mkdir(host)
        os.chmod(host, 0o777 & ~UMASK)
        proc.fs.created(path, proc.uid, proc.gid)

    def action(operand: str) -> None:
        path = proc.path(operand)
        if "p" in flags:
            parts = [p for p in path.split("/") if p]
            for i in range(1, len(parts) + 1):
                make_one("/" + "/".join(parts[:i]), operand)
        else:
            make_one(path, operand)

    return _each("mkdir", operands, err, action)


def _parse_owner(proc: Proc, spec: str) -> tuple[int | None, int | None]:
    users = proc.backend.users()
    user_part, sep, group_part = spec.partition(":")
    if not sep:
        user_part, sep, group_part = spec.partition(".")
    uid = gid = None
    if user_part:
        if user_part in users:
            uid = users[user_part][0]
            if sep and not group_part:
                gid = users[user_part][1]
        elif user_part.isdigit():
            uid = int(user_part)
        else:
            raise Fail(f"invalid user: '{spec}'")
    if group_part:
        gid = group_id(group_part, users)
        if gid is None:
            raise Fail(f"invalid group: '{spec}'")
    return uid, gid


def _tree(proc: Proc, path: str, recursive: bool):
    yield path
    host = _host(proc, path)
    if recursive and os.path.isdir(host) and not os.path.islink(host):
        for entry in sorted(os.listdir(host)):
            yield from _tree(proc, posixpath.join(path, entry), True)


def chown(proc, argv, stdin, out, err) -> int:
    flags, operands = _split_flags(argv[1:], "RhfvH")
    if len(operands) < 2:
        err(f"chown: missing operand after '{operands[0]}'\n".encode() if operands else b"chown: missing operand\n")
        return 1
    try:
        uid, gid = _parse_owner(proc, operands[0])
    except Fail as exc:
        err(f"chown: {exc}\n".encode())
        return 1

    def action(operand: str) -> None:
        top = proc.path(operand)
        if not _exists(proc, top):
            raise Fail(f"cannot access '{operand}': No such file or directory")
        for path in _tree(proc, top, "R" in flags):
            old_uid, old_gid = proc.fs.owner(path)
            new = (old_uid if uid is None else uid, old_gid if gid is None else gid)
            if proc.uid != 0 and (new[0] != old_uid or old_uid != proc.uid or new[1] != old_gid):
                shown = operand if path == top else posixpath.join(operand, posixpath.relpath(path, top))
                raise Fail(f"changing ownership of '{shown}': Operation not permitted")
            proc.fs.chown(path, *new)

    return _each("chown", operands[1:], err, action)


def chmod(proc, argv, stdin, out, err) -> int:
    flags, operands = _split_flags(argv[1:], "Rvf")
    if len(operands) < 2:
        err(b"chmod: missing operand\n")
        return 1
    spec = operands[0]
    if not spec or any(ch not in "01234567" for ch in spec) or len(spec) > 4:
        err(f"chmod: invalid mode: '{spec}'\n".encode())
        return 1
    mode = int(spec, 8)

    def action(operand: str) -> None:
        top = proc.path(operand)
        if not _exists(proc, top):
            raise Fail(f"cannot access '{operand}': No such file or directory")
        for path in _tree(proc, top, "R" in flags):
            if os.path.islink(_host(proc, path)):
                continue
            if proc.uid != 0 and proc.fs.owner(path)[0] != proc.uid:
                shown = operand if path == top else posixpath.join(operand, posixpath.relpath(path, top))
                raise Fail(f"changing permissions of '{shown}': Operation not permitted")
            proc.fs.chmod(path, mode)

    return _each("chmod", operands[1:], err, action)


def rm(proc, argv, stdin, out, err) -> int:
    flags, operands = _split_flags(argv[1:], "rRfvd")
    recursive = bool(flags & {"r", "R"})
    force = "f" in flags
    if not operands:
        if force:
            return 0
        err(b"rm: missing operand\n")
        return 1

    def remove(path: str, shown: str) -> None:
        host = _host(proc, path)
        if os.path.isdir(host) and not os.path.islink(host):
            if not recursive:
                raise Fail(f"cannot remove '{shown}': Is a directory")
            for entry in sorted(os.listdir(host)):
                child = posixpath.join(path, entry)
                if not _can_write(proc, path):
                    raise Fail(f"cannot remove '{posixpath.join(shown, entry)}': Permission denied")
                remove(child, posixpath.join(shown, entry))
            if not _can_delete(proc, path):
                raise Fail(f"cannot remove '{shown}': Permission denied")
            os.rmdir(host)
        else:
            if not _can_delete(proc, path):
                raise Fail(f"cannot remove '{shown}': Permission denied")
            os.unlink(host)
        proc.fs.forget(path)

    def action(operand: str) -> None:
        path = proc.path(operand)
        if path == "/":
            raise Fail("it is dangerous to operate recursively on '/'")
        if not _exists(proc, path):
            if force:
                return
            raise Fail(f"cannot remove '{operand}': No such file or directory")
        remove(path, operand)

    return _each("rm", operands, err, action)


def _copy_file(proc: Proc, src: str, dst: str, src_shown: str, dst_shown: str, preserve: bool) -> None:
    src_host = proc.fs.host_path(src)
    if not _can_read(proc, src):
        raise Fail(f"cannot open '{src_shown}' for reading: Permission denied")
    dst_host = _host(proc, dst)
    existed = os.path.lexists(dst_host)
    if existed and os.path.isdir(dst_host):
        raise Fail(f"cannot overwrite directory '{dst_shown}' with non-directory")
    if not _can_write(proc, dst if existed else posixpath.dirname(dst)):
        raise Fail(f"cannot create regular file '{dst_shown}': Permission denied")
    with open(src_host, "rb") as s, open(dst_host, "wb") as d:
        shutil.copyfileobj(s, d, CHUNK)
    st = os.stat(src_host)
    if preserve:
        os.chmod(dst_host, st.st_mode & 0o7777)
        os.utime(dst_host, (st.st_atime, st.st_mtime))
    elif not existed:
        os.chmod(dst_host, st.st_mode & 0o777 & ~UMASK)
    if preserve and proc.uid == 0:
        owner = proc.fs.owner(src)
    else:
        owner = (proc.uid, proc.gid)
    if existed:
        if preserve:
            proc.fs.chown(dst, *owner)
    else:
        proc.fs.created(dst, *owner)


def _copy_tree(proc: Proc, src: str, dst: str, src_shown: str, dst_shown: str, preserve: bool) -> None:
    src_host = proc.fs.host_path(src)
    dst_host = _host(proc, dst)
    if not os.path.lexists(dst_host):
        if not _can_write(proc, posixpath.dirname(dst)):
            raise Fail(f"cannot create directory '{dst_shown}': Permission denied")
        os.mkdir(dst_host)
        os.chmod(dst_host, os.stat(src_host).st_mode & (0o7777 if preserve else 0o777 & ~UMASK))
        owner = proc.fs.owner(src) if preserve and proc.uid == 0 else (proc.uid, proc.gid)
        proc.fs.created(dst, *owner)
    for entry in sorted(os.listdir(src_host)):
        s, d = posixpath.join(src, entry), posixpath.join(dst, entry)
        ss, ds = posixpath.join(src_shown, entry), posixpath.join(dst_shown, entry)
        if os.path.isdir(src_host / entry):
            _copy_tree(proc, s, d, ss, ds, preserve)
        else:
            _copy_file(proc, s, d, ss, ds, preserve)


def cp(proc, argv, stdin, out, err) -> int:
    flags, operands = _split_flags(argv[1:], "rRapfvL")
    recursive = bool(flags & {"r", "R", "a"})
    preserve = bool(flags & {"a", "p"})
    if len(operands) < 2:
        err(b"cp: missing file operand\n" if not operands else f"cp: missing destination file operand after '{operands[0]}'\n".encode())
        return 1
    *sources, target = operands
    target_path = proc.path(target)
    target_is_dir = _exists(proc, target_path) and os.path.isdir(_host(proc, target_path))
    if len(sources) > 1 and not target_is_dir:
        err(f"cp: target '{target}' is not a directory\n".encode())
        return 1

    def action(operand: str) -> None:
        src = proc.path(operand)
        if not _exists(proc, src):
            raise Fail(f"cannot stat '{operand}': No such file or directory")
        dst, shown = target_path, target
        if target_is_dir:
            dst = posixpath.join(target_path, posixpath.basename(src))
            shown = posixpath.join(target, posixpath.basename(src))
        if os.path.isdir(proc.fs.host_path(src)):
            if not recursive:
                raise Fail(f"-r not specified; omitting directory '{operand}'")
            _copy_tree(proc, src, dst, operand, shown, preserve)
        else:
            _copy_file(proc, src, dst, operand, shown, preserve)

    return _each("cp", sources, err, action)


def _stream(src: BinaryIO, out: Write) -> None:
    while True:
        block = src.read(CHUNK)
        if not block:
            return
        out(block)


def cat(proc, argv, stdin, out, err) -> int:
    operands = argv[1:] or ["-"]

    def action(operand: str) -> None:
        if operand == "-":
            _stream(stdin, out)
            return
        path = proc.path(operand)
        if not _exists(proc, path):
            raise Fail(f"{operand}: No such file or directory")
        host = proc.fs.host_path(path)
        if os.path.isdir(host):
            raise Fail(f"{operand}: Is a directory")
        if not _can_read(proc, path):
            raise Fail(f"{operand}: Permission denied")
        with open(host, "rb") as f:
            _stream(f, out)

    return _each("cat", operands, err, action)


def touch(proc, argv, stdin, out, err) -> int:
    _flags, operands = _split_flags(argv[1:], "c")

    def action(operand: str) -> None:
        path = proc.path(operand)
        host = _host(proc, path)
        if os.path.lexists(host):
            if not _can_write(proc, path):
                raise Fail(f"cannot touch '{operand}': Permission denied")
            os.utime(host)
            return
        if not os.path.isdir(_host(proc, posixpath.dirname(path))):
            raise Fail(f"cannot touch '{operand}': No such file or directory")
        if not _can_write(proc, posixpath.dirname(path)):
            raise Fail(f"cannot touch '{operand}': Permission denied")
        with open(host, "wb"):
            pass
        os.chmod(host, 0o666 & ~UMASK)
        proc.fs.created(path, proc.uid, proc.gid)

    return _each("touch", operands, err, action)


def test(proc, argv, stdin, out, err) -> int:
    args = argv[1:]
    if argv[0].endswith("["):
        if not args or args[-1] != "]":
            err(b"[: missing ]\n")
            return 2
        args = args[:-1]
    negate = False
    if args and args[0] == "!":
        negate, args = True, args[1:]

    def check() -> bool:
        if not args:
            return False
        if len(args) == 1:
            return args[0] != ""
        if len(args) == 2:
            op, operand = args
            if op == "-n":
                return operand != ""
            if op == "-z":
                return operand == ""
            path = proc.path(operand)
            try:
                host = proc.fs.host_path(path)
                st = os.stat(host)
            except (FileNotFoundError, NotADirectoryError, ValueError, PermissionError, OSError):
                return op == "-L" and _exists(proc, path) and os.path.islink(_host(proc, path))
            return {
                "-e": True,
                "-f": stat.S_ISREG(st.st_mode),
                "-d": stat.S_ISDIR(st.st_mode),
                "-s": st.st_size > 0,
                "-r": _can_read(proc, path),
                "-w": _can_write(proc, path),
                "-x": bool(st.st_mode & 0o111),
                "-L": os.path.islink(_host(proc, path)),
            }.get(op, False)
        if len(args) == 3:
            a, op, b = args
            if op in ("=", "=="):
                return a == b
            if op == "!=":
                return a != b
            numeric = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
                       "-gt": int.__gt__, "-ge": int.__ge__}
            if op in numeric:
                return numeric[op](int(a), int(b))
        raise ValueError(" ".join(args))

    try:
        result = check()
    except ValueError:
        err(b"test: syntax error\n")
        return 2
    return 0 if result != negate else 1


def _mode_string(st: os.stat_result) -> str:
    kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "-"
    return kind + stat.filemode(st.st_mode)[1:]


def ls(proc, argv, stdin, out, err) -> int:
    flags, operands = _split_flags(argv[1:], "la1dnh")
    users, groups = _names(proc)

    def line(path: str, name: str) -> str:
        if "l" not in flags:
            return name
        st = os.lstat(_host(proc, path))
        uid, gid = proc.fs.owner(path)
        owner = str(uid) if "n" in flags else users.get(uid, str(uid))
        group = str(gid) if "n" in flags else groups.get(gid, str(gid))
        when = datetime.fromtimestamp(st.st_mtime).strftime("%b %e %H:%M")
        return f"{_mode_string(st)} 1 {owner} {group} {st.st_size} {when} {name}"

    def action(operand: str) -> None:
        path = proc.path(operand)
        if not _exists(proc, path):
            raise Fail(f"cannot access '{operand}': No such file or directory")
        host = _host(proc, path)
        if os.path.isdir(host) and "d" not in flags:
            entries = sorted(os.listdir(proc.fs.host_path(path)))
            if "a" not in flags:
                entries = [e for e in entries if not e.startswith(".")]
            for entry in entries:
                out((line(posixpath.join(path, entry), entry) + "\n").encode())
        else:
            out((line(path, operand) + "\n").encode())

    return _each("ls", operands or ["."], err, action)


def stat_(proc, argv, stdin, out, err) -> int:
    fmt = None
    args = argv[1:]
    operands = []
    i = 0
    while i < len(args):
        if args[i] in ("-c", "--format") and i + 1 < len(args):
            fmt = args[i + 1]
            i += 2
            continue
        if args[i].startswith("--format="):
            fmt = args[i].split("=", 1)[1]
        elif args[i] != "-L":
            operands.append(args[i])
        i += 1
    if not operands:
        err(b"stat: missing operand\n")
        return 1
    users, groups = _names(proc)

    def action(operand: str) -> None:
        path = proc.path(operand)
        if not _exists(proc, path):
            raise Fail(f"cannot statx '{operand}': No such file or directory")
        st = os.lstat(_host(proc, path))
        uid, gid = proc.fs.owner(path)
        fields = {
            "s": str(st.st_size), "a": f"{st.st_mode & 0o7777:o}", "A": _mode_string(st),
            "u": str(uid), "g": str(gid), "U": users.get(uid, "UNKNOWN"), "G": groups.get(gid, "UNKNOWN"),
            "n": operand, "Y": str(int(st.st_mtime)),
            "F": "directory" if stat.S_ISDIR(st.st_mode) else "regular file" if st.st_size else "regular empty file",
        }
        text = fmt if fmt is not None else "%n %s %A %U %G"
        result, j = [], 0
        while j < len(text):
            if text[j] == "%" and j + 1 < len(text):
                result.append(fields.get(text[j + 1], "%" + text[j + 1]) if text[j + 1] != "%" else "%")
                j += 2
            else:
                result.append(text[j])
                j += 1
        out(("".join(result) + "\n").encode())

    return _each("stat", operands, err, action)


def sha256sum(proc, argv, stdin, out, err) -> int:
    operands = argv[1:] or ["-"]

    def action(operand: str) -> None:
        digest = hashlib.sha256()
        if operand == "-":
            while block := stdin.read(CHUNK):
                digest.update(block)
        else:
            path = proc.path(operand)
            if not _exists(proc, path):
                raise Fail(f"{operand}: No such file or directory")
            if os.path.isdir(proc.fs.host_path(path)):
                raise Fail(f"{operand}: Is a directory")
            if not _can_read(proc, path):
                raise Fail(f"{operand}: Permission denied")
            with open(proc.fs.host_path(path), "rb") as f:
                while block := f.read(CHUNK):
                    digest.update(block)
        out(f"{digest.hexdigest()}  {operand}\n".encode())

    return _each("sha256sum", operands, err, action)


COMMANDS = {
    "true": true_, "false": false_, "echo": echo, "whoami": whoami, "id": id_,
    "mkdir": mkdir, "chown": chown, "chmod": chmod, "rm": rm, "cp": cp, "cat": cat, "touch": touch,
    "test": test, "[": test, "ls": ls, "stat": stat_, "sha256sum": sha256sum,
}
