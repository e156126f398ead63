"""The simulator's variants (issue 21, point 8): each open IRIS question answered both ways.

In-process for the class-level switch points (the variant is the environment of the instance's
processes, here this one's), and through a host install's real processes for what lives at the
process level: the end of input, and ``$SYSTEM.Process.Terminate`` of another session.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from _instance_helpers import ByRef, call, new_instance
from iris_ops_sim.irissim import variants
from iris_ops_sim.irissim.objectscript import iris_main
from iris_ops_sim.irissim.objectscript.runtime import is_error_status

F = "%Library.File"
MGR = "/usr/irissys/mgr/"


@pytest.fixture
def inst(tmp_path):
    return new_instance(tmp_path)


@pytest.fixture
def variant(monkeypatch):
    """Turn one variant on for the instance's processes (this one, in-process)."""
    def turn_on(name: str) -> None:
        monkeypatch.setenv(variants.ENV, name)
    monkeypatch.delenv(variants.ENV, raising=False)
    return turn_on


def test_names_are_checked_and_the_environment_is_canonical(monkeypatch):
    assert variants.environment([]) == {}
    assert variants.environment(["rename-replaces", "eof-keeps-session", "rename-replaces"]) == {
        variants.ENV: "eof-keeps-session,rename-replaces"}
    with pytest.raises(variants.UnknownVariant, match="renames-replace"):
        variants.environment(["renames-replace"])
    monkeypatch.setenv(variants.ENV, "rename-replaces, nope")
    assert "nope" in variants.check_environment()
    with pytest.raises(variants.UnknownVariant):
        variants.on(variants.RENAME_REPLACES)
    with pytest.raises(variants.UnknownVariant):
        variants.on("no-such-switch")
    from iris_ops_sim.irissim import ctl, iris

    assert iris.main(["qlist"]) == 1 and ctl.main(["state"]) == 1  # refused before anything runs


def _two_files(inst) -> tuple[str, str]:
    a, b = MGR + "a.bin", MGR + "b.bin"
    assert call(inst, F, "CopyFile", MGR + "user/IRIS.DAT", a) == 1
    assert call(inst, F, "Truncate", b) == 1
    return a, b


def test_rename_onto_an_existing_file(inst, variant):
    a, b = _two_files(inst)
    rc = ByRef()
    assert call(inst, F, "Rename", a, b, rc) == 0 and rc.get() == -17  # default: refused, both stay
    assert call(inst, F, "GetFileSize", b) == 0 and call(inst, F, "Exists", a) == 1
    variant(variants.RENAME_REPLACES)
    assert call(inst, F, "Rename", a, b) == 1
    assert call(inst, F, "Exists", a) == 0 and call(inst, F, "GetFileSize", b) == 1024 * 1024
    assert call(inst, F, "Rename", b, MGR + "user") == 0  # a directory is never replaced


def test_copy_onto_an_existing_file_keeps_or_takes_owner_and_mode(inst, variant):
    a, b = _two_files(inst)
    inst.fs.chown(b, 0, 0)  # root's file that irisowner may rewrite
    inst.fs.chmod(b, 0o666)
    assert call(inst, F, "CopyFile", a, b) == 1  # default: rewritten in place
    assert (inst.fs.owner(b), inst.fs.mode(b), call(inst, F, "GetFileSize", b)) == ((0, 0), 0o666, 1024 * 1024)
    variant(variants.COPY_TAKES_NEW_OWNER)
    assert call(inst, F, "CopyFile", a, b) == 1
    assert (inst.fs.owner(b), inst.fs.mode(b)) == ((51773, 51773), 0o644)


def test_resource_creation_and_the_implicit_role(inst, variant):
    assert call(inst, "Security.Resources", "Create", "%DB_PLAIN", "", "") == 1
    assert call(inst, "Security.Roles", "Exists", "%DB_PLAIN") == 0
    variant(variants.RESOURCE_CREATES_ROLE)
    assert call(inst, "Security.Resources", "Create", "%DB_IMPLICIT", "", "") == 1
    assert call(inst, "Security.Roles", "Exists", "%DB_IMPLICIT") == 1
    assert is_error_status(call(inst, "Security.Roles", "Create", "%DB_IMPLICIT", "", "%DB_IMPLICIT:RW", ""))
    assert call(inst, "Security.Resources", "Create", "OTHER", "", "") == 1
    assert call(inst, "Security.Roles", "Exists", "OTHER") == 0  # only %DB_ resources have one
    assert call(inst, "Security.Resources", "Delete", "%DB_IMPLICIT") == 1
    assert call(inst, "Security.Roles", "Exists", "%DB_IMPLICIT") == 0


def test_sql_on_a_read_only_routines_database(inst, variant):
    inst.sql("APP", "CREATE TABLE X (a INT)")
    code = MGR + "app_code/"
    assert call(inst, "SYS.Database", "DismountDatabase", code) == 1
    assert call(inst, "SYS.Database", "MountDatabase", code, 1) == 1
    assert inst.sql("APP", "SELECT COUNT(*) FROM X").rows == [(0,)]  # default: reads work
    variant(variants.READONLY_SQL_FAILS)
    from iris_ops_sim.irissim.instance.sql import SqlError

    with pytest.raises(SqlError) as err:
        inst.sql("APP", "SELECT COUNT(*) FROM X")
    assert err.value.sqlcode == -400 and "<PROTECT>" in err.value.message and "cached query" in err.value.message
    assert inst.sql("USER", "SELECT 1").rows == [(1,)]  # a namespace on writable databases is untouched


def _login(inst, text: str) -> tuple[int, str]:
    chunks: list[bytes] = []
    code = iris_main(inst, ["session", "IRIS", "-U", "%SYS"], io.BytesIO(text.encode()), chunks.append)
    return code, b"".join(chunks).decode()


def test_a_login_that_needs_a_password_change(inst, variant):
    from iris_ops_sim.irissim.instance import security

    inst.os_authentication = False
    code, out = _login(inst, "_SYSTEM\nSYS\nWrite \"in\",!\nHalt\n")
    assert code == 1 and out.endswith("Password change required\nAccess Denied\n") and "New password" not in out
    variant(variants.PASSWORD_CHANGE_PROMPT)
    code, out = _login(inst, "_SYSTEM\nSYS\nWrite \"in\",!\nHalt\n")  # code typed at the new-password prompt
    assert code == 1 and "New password: \nConfirm new password: \nPasswords do not match\nAccess Denied" in out
    code, out = _login(inst, "_SYSTEM\nSYS\nab\nab\nHalt\n")  # too short for 3.128ANP
    assert code == 1 and "pattern" in out and "Access Denied" in out
    code, out = _login(inst, "_SYSTEM\nSYS\n")
    assert code == 1 and out.endswith("New password: \n")  # the end of input at the prompt
    code, out = _login(inst, "_SYSTEM\nSYS\nN3w-Secret\nN3w-Secret\nWrite $USERNAME,!\nHalt\n")
    assert code == 0 and "\n_SYSTEM\n" in out and "N3w-Secret" not in out
    with inst.locked() as st:
        record = security.find_user(security.of(st), "_SYSTEM")
        assert security.check_password(record, "N3w-Secret") and not record["ChangePassword"]


# --- processes: a host install's real sessions ------------------------------------------------------

@pytest.fixture(scope="module")
def hosts():
    """Two host installs, one with the default answers and one with ``eof-keeps-session``."""
    from iris_ops_sim.simcontainer import HostSim

    homes = [tempfile.mkdtemp(prefix="iris-ops-variants-") for _ in range(2)]
    try:
        yield HostSim(Path(homes[0])).install(), HostSim(Path(homes[1]), variants=(variants.EOF_KEEPS_SESSION,)).install()
    finally:
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)


class Session:
    """An ``iris session`` that wrote its ``$JOB`` and waits on its input."""

    def __init__(self, host, first_line: str = "") -> None:
        self.proc = subprocess.Popen([str(host.iris_command), "session", "IRIS", "-U", "%SYS"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.proc.stdin.write(f'{first_line} Write "<<<"_"JOB:",$JOB,">>>",!\n'.encode())
        self.proc.stdin.flush()
        seen = b""
        while b">>>" not in seen.split(b"<<<JOB:", 1)[-1]:
            chunk = self.proc.stdout.read1(4096)
            assert chunk, seen.decode()
            seen += chunk
        self.pid = int(seen.split(b"<<<JOB:", 1)[1].split(b">>>", 1)[0])

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        for pipe in (self.proc.stdin, self.proc.stdout):
            pipe.close()


def _run(host, text: str) -> str:
    done = subprocess.run([str(host.iris_command), "session", "IRIS", "-U", "%SYS"], input=text.encode(),
                          capture_output=True, timeout=60, check=False)
    return done.stdout.decode()


def test_terminate_ends_another_session_with_its_status_and_releases_its_locks(hosts):
    host = hosts[0]
    victim = Session(host, "Lock +^Victim")
    try:
        out = _run(host, f'Write "T=",$SYSTEM.Process.Terminate({victim.pid},7),!\nHalt\n')
        assert "T=1\n" in out
        assert victim.wait(30) == 7
        out = _run(host, 'Lock +^Victim:0 Write "free=",$Test,!\nHalt\n')
        assert "free=1\n" in out
        out = _run(host, f'Write "T=",$SYSTEM.Process.Terminate({victim.pid}),!\nHalt\n')
        assert "T=-3\n" in out  # no longer an IRIS process
    finally:
        victim.close()


def test_end_of_input_ends_the_session_unless_the_variant_keeps_it(hosts):
    default, keeps = hosts
    ending = Session(default)
    try:
        ending.proc.stdin.close()
        assert ending.wait(30) == 1 and b"<ENDOFFILE>" in ending.proc.stdout.read()
    finally:
        ending.close()
    alive = Session(keeps)
    try:
        alive.proc.stdin.close()
        # It reads no end of input: it is still there when another process looks, and only
        # Terminate ends it.
        out = _run(keeps, f'Write "T=",$SYSTEM.Process.Terminate({alive.pid},3),!\nHalt\n')
        assert "T=1\n" in out
        assert alive.wait(30) == 3 and b"<ENDOFFILE>" not in alive.proc.stdout.read()
    finally:
        alive.close()
    assert keeps.instance.state()["variants"] == [variants.EOF_KEEPS_SESSION]


def test_file_attributes_owner_and_truncate(inst):
    path = MGR + "t.bin"
    assert call(inst, F, "Attributes", path) == ""
    assert call(inst, F, "Truncate", path) == 1 and call(inst, F, "GetFileSize", path) == 0
    assert call(inst, F, "Attributes", path) == 0o100644
    assert call(inst, F, "SetAttributes", path, 0o600) == 1 and inst.fs.mode(path) == 0o600
    owner = ByRef()
    assert call(inst, F, "GetOwnerGroup", path, owner) == 1 and owner.get() == "irisowner:irisowner"
    inst.fs.chown(path, 0, 0)
    rc = ByRef()
    assert call(inst, F, "SetAttributes", path, 0o666, rc) == 0 and rc.get() == -1  # not the owner
    assert is_error_status(call(inst, F, "GetOwnerGroup", MGR + "nope", ByRef()))
