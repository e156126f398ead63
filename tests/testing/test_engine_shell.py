"""``sh -c`` and the file utilities, run in-process on a stand-in container."""

from __future__ import annotations

import io

import docker
import pytest

from _engine_standins import BANNER, box, run_exec, standin_engine  # noqa: F401 (fixtures)
from iris_ops.testing.engine.process import Proc
from iris_ops.testing.engine.shell import parse, sh_main

IRISOWNER = ("irisowner", 51773, 51773)
ROOT = ("root", 0, 0)


def sh(container, script: str, who=IRISOWNER, stdin: bytes = b""):
    proc = Proc(container, *who, cwd="/")
    out, err = bytearray(), bytearray()
    code = sh_main(proc, ["sh", "-c", script], io.BytesIO(stdin), out.extend, err.extend)
    return code, bytes(out).decode(), bytes(err).decode()


@pytest.fixture
def ctr(box):
    engine, name = box
    return engine.container(name)


def test_lists_and_operators(ctr):
    assert sh(ctr, "true && echo a; false && echo b; false || echo c; echo d") == (0, "a\nc\nd\n", "")
    assert sh(ctr, "false; echo $?") == (0, "1\n", "")
    assert sh(ctr, "X='a b'; echo \"$X\" 'lit $X' \\$X")[1] == "a b lit $X $X\n"


def test_unknown_command_like_dash(ctr):
    assert sh(ctr, "foo bar") == (127, "", "sh: 1: foo: not found\n")
    assert sh(ctr, "true\nnope")[2] == "sh: 2: nope: not found\n"


def test_heredocs_quoted_and_unquoted(ctr):
    code, out, _ = sh(ctr, "cat <<'EOF'\nWrite $ZV\nEOF\necho after")
    assert (code, out) == (0, "Write $ZV\nafter\n")
    # unquoted: sh expands $ZV to nothing, exactly the trap real scripts fall into
    assert sh(ctr, "cat <<EOF\nWrite $ZV!\nEOF")[1] == "Write !\n"
    assert sh(ctr, "cat <<-EOF\n\tindented\n\tEOF")[1] == "indented\n"


def test_iris_session_from_heredoc_and_file(ctr):
    code, out, _ = sh(ctr, "iris session IRIS -U %SYS <<'EOF'\nWrite \"hi\"\nHalt\nEOF")
    assert code == 0 and out.startswith(BANNER.decode()) and "hi" in out
    assert sh(ctr, "printf_x=1; echo 'Terminate 4' > /tmp/s.txt && iris session IRIS -U %SYS < /tmp/s.txt")[0] == 4
    assert sh(ctr, "iris session IRIS < /tmp/missing") == (2, "", "sh: 1: cannot open /tmp/missing: No such file\n")


def test_permission_denied_for_irisowner_on_root_owned_files(ctr):
    sh(ctr, "echo secret > /tmp/root.txt && chmod 644 /tmp/root.txt", who=ROOT)
    assert ctr.fs.owner("/tmp/root.txt") == (0, 0)
    assert sh(ctr, "echo x > /tmp/root.txt") == (2, "", "sh: 1: cannot create /tmp/root.txt: Permission denied\n")
    assert sh(ctr, "cp /tmp/s.txt /usr/x") [0] == 1
    code, _out, err = sh(ctr, "mkdir /usr/newdir")
    assert (code, err) == (1, "mkdir: cannot create directory '/usr/newdir': Permission denied\n")
    code, _out, err = sh(ctr, "chown irisowner /tmp/root.txt")
    assert (code, err) == (1, "chown: changing ownership of '/tmp/root.txt': Operation not permitted\n")
    code, _out, err = sh(ctr, "rm /usr/irissys/mgr/user/IRIS.DAT", who=("irisowner", 51773, 51773))
    assert code == 0  # irisowner owns the directory
    code, _out, err = sh(ctr, "rm -f /usr/irissys/x; rm /usr/irissys")
    assert (code, err) == (1, "rm: cannot remove '/usr/irissys': Is a directory\n")
    code, _out, err = sh(ctr, "rm -r /usr/irissys")
    assert code == 1 and "Permission denied" in err
    assert sh(ctr, "cat /tmp/root.txt") == (0, "secret\n", "")


def test_file_utilities(ctr):
    script = (
        "mkdir -p /tmp/a/b/c && echo hello > /tmp/a/b/c/f && cp /tmp/a/b/c/f /tmp/a/g && "
        "chmod 600 /tmp/a/g && stat -c '%s %a %U' /tmp/a/g && test -f /tmp/a/g && test -d /tmp/a/b && "
        "test -s /tmp/a/g && ! test -e /tmp/nope; test -e /tmp/nope || echo absent; ls /tmp/a"
    )
    code, out, err = sh(ctr, script, who=ROOT)
    assert err == "" and out == "6 600 root\nabsent\nb\ng\n"
    assert sh(ctr, "chown -R irisowner:irisowner /tmp/a", who=ROOT)[0] == 0
    assert ctr.fs.owner("/tmp/a/b/c/f") == (51773, 51773)
    out = sh(ctr, "sha256sum /tmp/a/g")[1]
    assert out == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  /tmp/a/g\n"
    assert sh(ctr, "rm -r /tmp/a && test -e /tmp/a")[0] == 1
    assert sh(ctr, "cat /tmp/nope") == (1, "", "cat: /tmp/nope: No such file or directory\n")
    assert sh(ctr, "chmod u+x /tmp")[2] == "chmod: invalid mode: 'u+x'\n"


def test_unsupported_syntax_is_reported(ctr):
    code, _out, err = sh(ctr, "if true; then echo x; fi")
    assert code == 2 and "not supported" in err
    with pytest.raises(Exception):
        parse("echo 'unterminated")


def test_sh_c_heredoc_through_the_api(standin_engine, box):
    _engine, name = box
    api = docker.APIClient(base_url=standin_engine.base_url)
    script = "iris session IRIS -U %SYS <<'EOF'\nWrite \"via api\"\nTerminate 5\nEOF"
    code, out, _err = run_exec(api, name, ["sh", "-c", script])
    assert code == 5 and b"via api" in out
    code, out, err = run_exec(api, name, ["sh", "-c", "touch /usr/x"])
    assert (code, err) == (1, b"touch: cannot touch '/usr/x': Permission denied\n")
    code, _out, err = run_exec(api, name, ["sh", "-c", "touch /usr/x"], user="root")
    assert (code, err) == (0, b"")
