"""The fixture cache's scripts (``<mgr>/iris-ops-cache/``): the steps that serve an entry and
fill one (parts of restore's session, :func:`iris_ops.script_builders.restore_databases`), and the
scripts that describe, hash and remove entries.  All file work is ``%Library.File``
(ref/2024.1/%Library/File.cls: ``CopyFile``, ``Rename``, ``GetFileSize``, ``GetFileDateModified``,
``GetFileDateCreated``, ``Delete``, ``Exists``, ``Attributes``, ``SetAttributes``,
``GetOwnerGroup``, ``SetOwnerGroup``); records are read and written with
``%Stream.FileBinary`` and parsed with ``%DynamicObject.%FromJSON``; an entry is hashed with
``$SYSTEM.Encryption.SHAHashStream`` (ref/2024.1/%SYSTEM/Encryption.cls).

An entry is ``<sha256>.DAT`` plus its record ``<sha256>.json``.  Files only ever appear under
their final name by ``Rename`` of a complete temporary file, record last.  The record holds the
DAT's identity as it stood once in place: its size, modification time and change time
(``mtime``, ``ctime``: $H in UTC, milliseconds, as %Library.File reports them; on Unix
``GetFileDateCreated`` is the time of the last status change).  An entry is served only when
its record names the manifest's digest and size and the DAT still has all three.
"""

from __future__ import annotations

import json

from iris_ops import names
from iris_ops import objectscript as o
from iris_ops.objectscript import Code, Script, call, check_true, global_ref, lit, method, op, result, set_, var
from .common import FILE, file_mode, give_owner_and_mode

__all__ = [
    "DIRECTORY", "RECORD_READ", "probe_step", "clone_steps", "fill_statements", "cache_describe",
    "cache_remove", "NO_ENTRY", "UNREADABLE", "OTHER_ENTRY", "NO_IDENTITY", "OTHER_SIZE", "CHANGED",
    "CHANGED_IN_COPY", "record_text", "cache_hash",
]

#: The fixture cache, under the manager directory.
DIRECTORY = "iris-ops-cache/"
#: One Read of a record: records are a few hundred bytes; a longer one reads as garbled.
RECORD_READ = 32000

#: Why an entry is not served (the probe's ``why``; :class:`iris_ops.cache.Entry` says the same).
NO_ENTRY = "no entry"
#: Seconds a fill waits for another fill of the same digest to place its entry (the lock below).
FILL_LOCK_WAIT = 30
FILLING = "a concurrent restore is placing it"
UNREADABLE = "its record is unreadable"
OTHER_ENTRY = "its record does not match the manifest"
NO_IDENTITY = "its record holds no identity of its file (an older iris-ops made it)"
OTHER_SIZE = "the cached file's size differs from its record"
CHANGED = "the cached file changed since it was cached (its modification or change time differs from its record)"
CHANGED_IN_COPY = "the cached file changed while it was copied"


def _path(directory: str, name: str) -> Code:
    return lit(names.instance_path(names.directory(directory) + name))


def _delete_if_there(path: Code) -> Code:
    return o.if_(call(FILE, "Exists", path), o.do(call(FILE, "Delete", path)))


def _read_record(record: Code, into: Code) -> list[Code]:
    stream = var("stm")
    return [
        set_(stream, call("%Stream.FileBinary", "%New")),
        o.check_status(method(stream, "LinkToFile", record)),
        set_(into, method(stream, "Read", RECORD_READ)),
        o.kill(stream),
    ]


def _probe(cache_dir: "str | Code", sha256: str, size: int) -> list[Code]:
    """Statements that set ``hit`` to 1 when the entry may be served (its record parses and
    names ``sha256`` and ``size``, and the cached file has ``size`` bytes), else 0 with ``why``."""
    return _probe_at(_at(cache_dir, f"{sha256}.DAT"), _at(cache_dir, f"{sha256}.json"), sha256, size)


def _modified(dat: Code) -> Code:
    return call(FILE, "GetFileDateModified", dat, 1)


def _changed(dat: Code) -> Code:
    return call(FILE, "GetFileDateCreated", dat, 1)


def _identity_differs(dat: Code, rec: Code, size: int) -> Code:
    """True when ``dat`` no longer has the size, mtime and ctime its parsed record ``rec`` holds."""
    return op(op(op(call(FILE, "GetFileSize", dat), "'=", lit(size)), "!",
                 op(_modified(dat), "'=", method(rec, "%Get", lit("mtime")))),
              "!", op(_changed(dat), "'=", method(rec, "%Get", lit("ctime"))))


def _probe_at(dat: Code, record: Code, sha256: str, size: int) -> list[Code]:
    hit, why, text, rec = var("hit"), var("why"), var("txt"), var("rec")
    agrees = op(op(method(rec, "%Get", lit("sha256")), "=", lit(sha256)), "&",
                op(method(rec, "%Get", lit("size")), "=", lit(size)))
    return [
        set_(hit, 0),
        set_(why, lit(NO_ENTRY)),
        o.if_(call(FILE, "Exists", record), o.try_(
            *_read_record(record, text),
            set_(rec, call("%Library.DynamicObject", "%FromJSON", text)),
            o.if_(o.not_(agrees), set_(why, lit(OTHER_ENTRY)), else_=[
                o.if_(op(method(rec, "%Get", lit("ctime")), "=", lit("")), set_(why, lit(NO_IDENTITY)), else_=[
                    o.if_(op(call(FILE, "GetFileSize", dat), "'=", lit(size)), set_(why, lit(OTHER_SIZE)), else_=[
                        o.if_(_identity_differs(dat, rec, size), set_(why, lit(CHANGED)),
                              else_=[set_(hit, 1)])])])]),
            catch=[set_(why, lit(UNREADABLE))],
        )),
    ]


def probe_step(script: Script, cache_dir: "str | Code", entries: list[tuple[str, int]]) -> Script:
    """Adds a read-only step to ``script``: results ``cache`` {sha256: 1 when servable, else 0}
    and ``cache_why`` {sha256: why not} for each (sha256, size) of ``entries``."""
    found, reasons = var("cached"), var("cwhy")
    statements: list[Code] = [set_(found, o.dynamic_object()), set_(reasons, o.dynamic_object())]
    for sha256, size in dict.fromkeys(entries):
        statements += [*_probe(cache_dir, sha256, size), o.do(method(found, "%Set", lit(sha256), var("hit"))),
                       o.do(method(reasons, "%Set", lit(sha256), var("why")))]
    script.step("cache", *statements, result("cache", found), result("cache_why", reasons))
    return script


def _base(directory: "str | Code") -> "str | Code":
    """A directory known here (checked), or one the script computes (``Code``, e.g. a variable)."""
    return directory if isinstance(directory, Code) else names.directory(directory)


def _at(directory: "str | Code", name: str) -> Code:
    """``directory`` + ``name`` (a file name: letters, digits, '.', '_', '-')."""
    names.instance_path("/" + name)
    if "/" in name:
        raise ValueError(f"not a file name: {name!r}")
    base = _base(directory)
    return op(base, "_", lit(name)) if isinstance(base, Code) else _path(base, name)


def clone_steps(script: Script, cache_dir: "str | Code", sha256: str, size: int, directory: str, token: str,
                key: str = "", reflinked: bool = False) -> Script:
    """Adds the steps that serve ``<sha256>`` to ``<directory>IRIS.DAT``: when the record names
    that digest and ``size`` and the cached DAT still has the size, mtime and ctime the record
    holds, ``CopyFile`` copies it (over an empty file the transport made, if there is one, whose
    owner and mode the copy must have); then the copy's size is checked, and the DAT's identity
    again (a change during the copy is a miss).  Whether IRIS's CopyFile keeps an existing
    file's owner and mode is not documented [UNV; the simulator's variant
    ``copy-takes-new-owner`` says no]: they are read before the copy and set again when it
    changed them (``SetAttributes``, and ``SetOwnerGroup``, which needs a session allowed to
    chown: the local transport's, as root); when that fails the entry is not served.  A hit also
    renews the record's modification time (the entry's last use, for ``prune``).  Leaves ``hit``
    (0/1) and ``why`` set; ``key`` suffixes the step names (several databases in one script).

    With ``reflinked`` the transport has already reflinked the cached DAT to the target (after
    the preflight's probe), as the instance owner with mode 660: nothing is copied, the target's
    size is checked, and a miss deletes the target (the restore streams the file there instead).
    The probe here is enough: a DAT whose size, mtime and ctime are still its record's has not
    changed since it was cached, so it had not when it was reflinked either."""
    dat, record = _at(cache_dir, f"{sha256}.DAT"), _at(cache_dir, f"{sha256}.json")
    used = _at(cache_dir, f"{sha256}.json.used-{token}")
    target = _path(directory, "IRIS.DAT")
    hit, why, mode, owner = var("hit"), var("why"), var("cmode"), var("cown")
    permissions = file_mode(target)
    # the placed file's owner and mode, whatever CopyFile did to them
    keep = give_owner_and_mode(target, mode, owner, what="the copy")
    script.step(f"probe{key}", *_probe_at(dat, record, sha256, size))
    if reflinked:
        script.step(
            f"copy{key}",
            o.if_(hit, o.if_(op(call(FILE, "GetFileSize", target), "'=", lit(size)),
                             set_(hit, 0), set_(why, lit("the reflinked copy is short")))),
            o.if_(o.not_(hit), _delete_if_there(target)),
        )
    else:
        script.step(
            f"copy{key}",
            set_(mode, lit("")),
            set_(owner, lit("")),
            o.if_(op(hit, "&", call(FILE, "Exists", target)), set_(mode, permissions),
                  o.do(call(FILE, "GetOwnerGroup", target, o.byref("cown")))),
            o.if_(hit, o.if_(
                o.not_(call(FILE, "CopyFile", dat, target, 0)),
                set_(hit, 0), set_(why, lit("the copy failed")),
                else_=[o.if_(op(call(FILE, "GetFileSize", target), "'=", lit(size)),
                             set_(hit, 0), set_(why, lit("the copy is short")),
                             else_=[o.if_(_identity_differs(dat, var("rec"), size),
                                          set_(hit, 0), set_(why, lit(CHANGED_IN_COPY)))])],
            )),
            o.if_(op(hit, "&", op(mode, "'=", lit(""))), o.try_(
                *keep, catch=[set_(hit, 0), set_(why, op(lit("the copy's owner or mode: "), "_",
                                                         method(var("ex"), "DisplayString")))])),
        )
    script.step(
        f"touch{key}",
        o.if_(hit, o.try_(
            check_true(call(FILE, "CopyFile", record, used), "cannot renew the record"),
            o.do(call(FILE, "Delete", record)),
            check_true(call(FILE, "Rename", used, record), "cannot renew the record"),
            catch=[_delete_if_there(used)],
        )),
    )
    return script


def record_text(fields: dict) -> tuple[str, str, str]:
    """The record of an entry as three pieces of JSON text around its mtime and its ctime (which
    only the session that puts the DAT in place can read): ``fields`` (digest, size, fixture,
    ...), then ``"mtime": "<$H>"`` and ``"ctime": "<$H>"``.  ASCII only, as a binary stream
    writes it."""
    head = json.dumps(fields)  # ensure_ascii: any other character is escaped
    return head[:-1] + ', "mtime": "', '", "ctime": "', '"}'


def fill_statements(cache_dir: str, sha256: str, size: int, source: str, token: str, record: tuple[str, str, str],
                    filled: Code, why: Code, reflinked: bool = False) -> list[Code]:
    """Statements that put a verified copy of ``source`` (``size`` bytes) in the cache as
    ``<sha256>.DAT``, with its record (:func:`record_text`): the cache directory is created
    if missing, the DAT is copied to a temporary name, any previous entry is removed (record
    first), the DAT is renamed into place, its record is written as
    ``<sha256>.json.tmp-<token>`` with the DAT's mtime and ctime as they now are (a rename
    may change the ctime), then renamed into place.  From the removal to the record's rename a
    fill holds the lock ``^IRISOPS.Cache(<sha256>)`` (waiting up to :data:`FILL_LOCK_WAIT`
    seconds): two restores filling one digest at once could otherwise leave the record of one
    beside the DAT of the other, an entry that no restore would serve.  They never throw:
    ``filled`` ends 1, or 0 with ``why`` (a failure, or a concurrent restore that placed the
    entry first or is placing it), and the temporary files are removed whatever happened.  With
    ``reflinked`` the transport has already reflinked ``source`` to the temporary name: it is
    checked, not copied."""
    dat, final_record = _path(cache_dir, f"{sha256}.DAT"), _path(cache_dir, f"{sha256}.json")
    dat_tmp = _path(cache_dir, f"{sha256}.DAT.tmp-{token}")
    record_tmp = _path(cache_dir, f"{sha256}.json.tmp-{token}")
    stream, held, lock = var("stm"), var("fheld"), global_ref("IRISOPS.Cache", sha256)
    head, middle, tail = (lit(piece) for piece in record)
    text = op(op(op(op(head, "_", _modified(dat)), "_", middle), "_", _changed(dat)), "_", tail)
    directory = lit(names.directory(cache_dir))
    exists = call(FILE, "DirectoryExists", directory)
    return [
        set_(filled, 0),
        set_(why, lit("")),
        set_(held, 0),
        o.try_(
            # made by the first fill (a concurrent one may make it first)
            o.if_(o.not_(exists), o.if_(op(o.not_(call(FILE, "CreateDirectoryChain", directory)), "&", o.not_(exists)),
                                        o.throw(lit(f"cannot create {cache_dir}")))),
            *([] if reflinked else [check_true(call(FILE, "CopyFile", lit(names.instance_path(source)), dat_tmp),
                                               f"cannot copy {source} to the cache")]),
            o.if_(op(call(FILE, "GetFileSize", dat_tmp), "'=", lit(size)), o.throw(lit("the cache copy is short"))),
            o.lock(lock, timeout=FILL_LOCK_WAIT),
            set_(held, o.TEST),
            o.if_(o.not_(held), o.throw(lit(FILLING))),
            _delete_if_there(final_record),
            _delete_if_there(dat),
            o.if_(call(FILE, "Rename", dat_tmp, dat), *[
                set_(stream, call("%Stream.FileBinary", "%New")),
                o.check_status(method(stream, "LinkToFile", record_tmp)),
                o.check_status(method(stream, "Write", text)),
                o.check_status(method(stream, "%Save")),
                o.kill(stream),
                o.if_(call(FILE, "Rename", record_tmp, final_record), set_(filled, 1),
                      else_=[set_(why, lit("cannot rename its record into place"))])],
                  else_=[set_(why, lit("a concurrent restore placed it first"))]),
            catch=[set_(why, method(var("ex"), "DisplayString"))],
        ),
        o.if_(held, o.lock(lock, release=True)),
        _delete_if_there(dat_tmp),
        _delete_if_there(record_tmp),
    ]


def cache_describe(cache_dir: str, files: list[str]) -> Script:
    """Read-only.  For each file name in the cache directory: ``sizes`` {name: bytes},
    ``modified`` {name: $H in UTC}; for each DAT: ``changed`` {name: its ctime, $H in UTC}; for
    each record (``*.json``): ``records`` {name: text, or "" when unreadable}."""
    sizes, modified, changed, records, text = var("sizes"), var("mod"), var("chg"), var("recs"), var("txt")
    statements: list[Code] = [set_(sizes, o.dynamic_object()), set_(modified, o.dynamic_object()),
                              set_(changed, o.dynamic_object()), set_(records, o.dynamic_object())]
    for name in files:
        path = _path(cache_dir, name)
        statements += [o.do(method(sizes, "%Set", lit(name), call(FILE, "GetFileSize", path))),
                       o.do(method(modified, "%Set", lit(name), _modified(path)))]
        if name.endswith(".DAT"):
            statements.append(o.do(method(changed, "%Set", lit(name), _changed(path))))
        if name.endswith(".json"):
            statements.append(o.try_(*_read_record(path, text), o.do(method(records, "%Set", lit(name), text)),
                                     catch=[o.do(method(records, "%Set", lit(name), lit("")))]))
    script = Script("%SYS", purpose="describe the fixture cache")
    script.step("describe", *statements, result("sizes", sizes), result("modified", modified),
                result("changed", changed), result("records", records))
    return script


def cache_hash(cache_dir: str, sha256: str) -> Script:
    """Read-only: the sha256 of ``<sha256>.DAT``, computed inside the instance
    (``SHAHashStream`` of a %Stream.FileBinary linked to it).  Result: ``sha256``, the digest's
    32 bytes in Base64 (``Base64Encode`` with no line breaks: older than ``ToHex``, whose case is
    not documented); "" when it could not be hashed, then ``hash_error`` says why; and ``changed`` (1
    when the file's size, mtime or ctime moved while it was hashed)."""
    dat = _path(cache_dir, f"{sha256}.DAT")
    stream, digest, status, before = var("stm"), var("dig"), var("hsc"), var("was")

    def identity() -> Code:
        return op(op(op(call(FILE, "GetFileSize", dat), "_", lit("/")), "_", _modified(dat)), "_",
                  op(lit("/"), "_", _changed(dat)))

    script = Script("%SYS", purpose=f"hash fixture cache entry {sha256[:16]}")
    script.step(
        "hash",
        result("sha256", ""), result("hash_error", ""), result("changed", 0),
        o.try_(
            set_(before, identity()),
            set_(stream, call("%Stream.FileBinary", "%New")),
            o.check_status(method(stream, "LinkToFile", dat)),
            set_(status, 1),
            set_(digest, o.system("Encryption.SHAHashStream", 256, stream, o.byref("hsc"))),
            o.check_status(status),
            o.kill(stream),
            result("sha256", o.system("Encryption.Base64Encode", digest, 1)),
            result("changed", op(identity(), "'=", before)),
            catch=[result("hash_error", method(var("ex"), "DisplayString"))],
        ),
    )
    return script


def cache_remove(cache_dir: str, files: list[str]) -> Script:
    """Deletes these files of the cache directory, in this order, where they exist.  Result:
    ``removed`` (how many)."""
    count = var("cnt")
    statements: list[Code] = [set_(count, 0)]
    for name in files:
        path = _path(cache_dir, name)
        statements.append(o.if_(call(FILE, "Exists", path),
                                check_true(call(FILE, "Delete", path), f"cannot remove {name} from the cache"),
                                set_(count, op(count, "+", 1))))
    script = Script("%SYS", purpose="remove fixture cache files")
    script.step("remove", *statements, result("removed", count))
    return script
