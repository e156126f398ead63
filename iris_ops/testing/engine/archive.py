"""``/containers/{id}/archive``: tar streams out of and into a container root, in bounded memory.

Behaviour follows moby (daemon/archive.go, go-archive):
* GET/HEAD carry ``X-Docker-Container-Path-Stat``: base64 of JSON ``{name, size, mode, mtime,
  linkTarget}`` with ``mode`` a Go ``os.FileMode`` (directory bit 1<<31, symlink 1<<27);
* the tar's top entry is named after the last element of the requested path;
* PUT extracts into an existing directory; entries keep the uid/gid of their tar headers unless
  ``copyUIDGID=1``, which gives every entry the container's configured user (irisowner).
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import stat
import tarfile
from datetime import datetime, timezone
from typing import Any, BinaryIO, Iterator

from iris_ops.testing.engine.containers import BadRequest, NotFound

CHUNK = 1 << 20
BLOCK = 512

_GO_MODE_BITS = (
    (stat.S_ISDIR, 1 << 31),
    (stat.S_ISLNK, 1 << 27),
    (stat.S_ISFIFO, 1 << 25),
    (stat.S_ISSOCK, 1 << 24),
    (stat.S_ISBLK, 1 << 26),
    (stat.S_ISCHR, (1 << 26) | (1 << 21)),
)


def go_file_mode(st_mode: int) -> int:
    mode = st_mode & 0o777
    for test, bit in _GO_MODE_BITS:
        if test(st_mode):
            mode |= bit
    if st_mode & stat.S_ISUID:
        mode |= 1 << 23
    if st_mode & stat.S_ISGID:
        mode |= 1 << 22
    if st_mode & stat.S_ISVTX:
        mode |= 1 << 20
    return mode


def _rfc3339(ts: float) -> str:
    whole = datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    nanos = int(round((ts - int(ts)) * 1e9))
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    return whole + frac + "Z"


def container_path(path: str) -> str:
    """Absolute, normalised container path; ``/.`` suffixes are kept for the entry name."""
    if not path:
        raise BadRequest("path must not be empty")
    return posixpath.normpath(posixpath.join("/", path))


def _not_found(path: str, container) -> NotFound:
    return NotFound(f"Could not find the file {path} in container {container}")


def _lstat(fs, path: str, ref: str) -> tuple[os.stat_result, Any]:
    try:
        host = fs.host_path(path)
        return os.lstat(host), host
    except (FileNotFoundError, NotADirectoryError):
        raise _not_found(path, ref) from None
    except (ValueError, PermissionError) as exc:  # escapes refused by ContainerFS
        raise BadRequest(str(exc)) from None


def path_stat(fs, raw_path: str, ref: str) -> dict[str, Any]:
    path = container_path(raw_path)
    st, host = _lstat(fs, path, ref)
    link = ""
    if stat.S_ISLNK(st.st_mode):
        link = os.readlink(host)
    name = posixpath.basename(path) or "/"
    return {"name": name, "size": st.st_size, "mode": go_file_mode(st.st_mode), "mtime": _rfc3339(st.st_mtime),
            "linkTarget": link}


def stat_header(info: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(info, separators=(",", ":")).encode()).decode()


# --- GET: container -> tar ----------------------------------------------------------------


def _header(name: str, st: os.stat_result, owner: tuple[int, int], link: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.mode = st.st_mode & 0o7777
    info.mtime = int(st.st_mtime)
    info.uid, info.gid = owner
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        info.name = name.rstrip("/") + "/"
    elif stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = link
    else:
        info.type = tarfile.REGTYPE
        info.size = st.st_size
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


def write_tar(fs, raw_path: str, ref: str, out: BinaryIO) -> None:
    """Stream ``raw_path`` (file or tree) as a tar into ``out``, one file block at a time."""
    path = container_path(raw_path)
    _lstat(fs, path, ref)
    top = "." if raw_path.rstrip("/").endswith("/.") else (posixpath.basename(path) or ".")
    for cpath, arcname in _walk(fs, path, top):
        host = _host_no_follow(fs, cpath) if cpath != "/" else fs.host_path("/")
        st = os.lstat(host)
        owner = _owner(fs, cpath)
        link = os.readlink(host) if stat.S_ISLNK(st.st_mode) else ""
        out.write(_header(arcname, st, owner, link))
        if stat.S_ISREG(st.st_mode):
            written = 0
            with open(host, "rb") as src:
                while written < st.st_size:
                    block = src.read(min(CHUNK, st.st_size - written))
                    if not block:  # file shrank while we read it: pad as tar requires
                        block = b"\0" * min(CHUNK, st.st_size - written)
                    out.write(block)
                    written += len(block)
            if st.st_size % BLOCK:
                out.write(b"\0" * (BLOCK - st.st_size % BLOCK))
    out.write(b"\0" * (BLOCK * 2))


def _host_no_follow(fs, cpath: str):
    parent = fs.host_path(posixpath.dirname(cpath))
    return parent / posixpath.basename(cpath)


def _owner(fs, cpath: str) -> tuple[int, int]:
    try:
        return tuple(fs.owner(cpath))  # type: ignore[return-value]
    except Exception:
        return (0, 0)


def _walk(fs, path: str, arcname: str) -> Iterator[tuple[str, str]]:
    yield path, arcname
    host = fs.host_path(path)
    if os.path.isdir(host) and not os.path.islink(host):
        for entry in sorted(os.listdir(host)):
            child = posixpath.join(path, entry)
            child_host = host / entry
            if os.path.isdir(child_host) and not os.path.islink(child_host):
                yield from _walk(fs, child, posixpath.join(arcname, entry))
            else:
                yield child, posixpath.join(arcname, entry)


# --- PUT: tar -> container ----------------------------------------------------------------


def _read_exact(src: BinaryIO, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        block = src.read(n - len(data))
        if not block:
            break
        data += block
    return bytes(data)


def _pax_records(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        key, _, value = data[space + 1 : pos + length - 1].partition(b"=")
        records[key.decode()] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def _safe_join(dest: str, name: str) -> str:
    name = name.lstrip("/")
    joined = posixpath.normpath(posixpath.join(dest, name))
    if joined != dest and not joined.startswith(dest.rstrip("/") + "/"):
        raise BadRequest(f'invalid path: "{name}" is outside of "{dest}"')
    return joined


def extract_tar(fs, raw_path: str, ref: str, src: BinaryIO, chown_to: tuple[int, int] | None) -> None:
    """Extract the tar stream ``src`` under the existing directory ``raw_path``."""
    dest = container_path(raw_path)
    st, _ = _lstat(fs, dest, ref)
    if not stat.S_ISDIR(os.stat(fs.host_path(dest)).st_mode):
        raise BadRequest("extraction point is not a directory")
    pax: dict[str, str] = {}
    long_name = long_link = None
    dir_times: list[tuple[Any, int]] = []
    while True:
        block = _read_exact(src, BLOCK)
        if len(block) < BLOCK or block == b"\0" * BLOCK:
            break
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as exc:
            raise BadRequest(f"archive/tar: invalid tar header: {exc}") from None
        padded = (info.size + BLOCK - 1) // BLOCK * BLOCK
        if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
            data = _read_exact(src, padded)[: info.size]
            if info.type == tarfile.XHDTYPE:
                pax = _pax_records(data)
            elif info.type == tarfile.GNUTYPE_LONGNAME:
                long_name = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
            elif info.type == tarfile.GNUTYPE_LONGLINK:
                long_link = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
            continue
        name = pax.get("path") or long_name or info.name
        link = pax.get("linkpath") or long_link or info.linkname
        size = int(pax.get("size", info.size))
        uid = int(pax.get("uid", info.uid))
        gid = int(pax.get("gid", info.gid))
        mtime = float(pax.get("mtime", info.mtime))
        pax, long_name, long_link = {}, None, None
        padded = (size + BLOCK - 1) // BLOCK * BLOCK
        target = _safe_join(dest, name)
        owner = chown_to or (uid, gid)
        if target == dest:
            _skip(src, padded)
            continue
        _ensure_parents(fs, dest, posixpath.dirname(target))
        host = _host_no_follow(fs, target)
        existed = os.path.lexists(host)
        if info.type == tarfile.DIRTYPE:
            if existed and not os.path.isdir(host):
                os.unlink(host)
                existed = False
            os.makedirs(host, exist_ok=True)
            dir_times.append((host, int(mtime)))
        elif info.type == tarfile.SYMTYPE:
            if existed:
                _remove(host)
            os.symlink(link, host)
        elif info.type == tarfile.LNKTYPE:
            source = fs.host_path(_safe_join(dest, link))
            if existed:
                _remove(host)
            with open(source, "rb") as s, open(host, "wb") as d:
                while block := s.read(CHUNK):
                    d.write(block)
        elif info.type in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE):
            if existed and os.path.isdir(host) and not os.path.islink(host):
                raise BadRequest(f'cannot overwrite directory "{target}" with non-directory "{name}"')
            remaining = size
            with open(host, "wb") as out:
                while remaining:
                    block = src.read(min(CHUNK, remaining))
                    if not block:
                        raise BadRequest("unexpected EOF")
                    out.write(block)
                    remaining -= len(block)
            _skip(src, padded - size)
        else:  # devices, fifos: nothing a test needs
            _skip(src, padded)
            continue
        if info.type != tarfile.SYMTYPE:
            os.chmod(host, info.mode & 0o7777)
            if info.type != tarfile.DIRTYPE:
                os.utime(host, (mtime, mtime))
        if existed:
            fs.chown(target, *owner)
        else:
            fs.created(target, *owner)
    # whatever follows the end-of-archive blocks (record padding) is read and dropped
    while src.read(CHUNK):
        pass
    for host, mtime in reversed(dir_times):
        os.utime(host, (mtime, mtime))


def _skip(src: BinaryIO, n: int) -> None:
    while n > 0:
        block = src.read(min(CHUNK, n))
        if not block:
            return
        n -= len(block)


def _remove(host) -> None:
    if os.path.isdir(host) and not os.path.islink(host):
        import shutil

        shutil.rmtree(host)
    else:
        os.unlink(host)


def _ensure_parents(fs, dest: str, parent: str) -> None:
    """Directories a tar implies without listing them are created root-owned, 0755 (go-archive)."""
    missing = []
    while parent != dest and not os.path.lexists(_host_no_follow(fs, parent)):
        missing.append(parent)
        parent = posixpath.dirname(parent)
    for path in reversed(missing):
        host = _host_no_follow(fs, path)
        os.mkdir(host, 0o755)
        fs.created(path, 0, 0)
