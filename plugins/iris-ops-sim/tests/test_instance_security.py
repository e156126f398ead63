"""Simulated security: Security.Users / Roles / Services, the SQLUsers query, %SYSTEM.Encryption,
%Stream.FileBinary, $ZCONVERT UTF8, and password logins at the terminal."""

from __future__ import annotations

import io
import json
import os

import pytest

from _instance_helpers import ByRef, call, new_instance
from iris_ops_sim.irissim.instance import security
from iris_ops_sim.irissim.objectscript import iris_main
from iris_ops_sim.irissim.objectscript.runtime import IrisError, is_error_status

USERS = "Security.Users"


@pytest.fixture
def inst(tmp_path):
    return new_instance(tmp_path)


def props(**values) -> ByRef:
    ref = ByRef()
    for key, value in values.items():
        ref.set_sub(key, value)
    return ref


def get(inst, name: str) -> dict:
    ref = ByRef()
    assert call(inst, USERS, "Get", name, ref) == 1
    return dict(ref.items())


def session(inst, script: str, namespace: str = "%SYS") -> tuple[int, str]:
    chunks: list[bytes] = []
    code = iris_main(inst, ["session", "IRIS", "-U", namespace], io.BytesIO(script.encode()), chunks.append)
    return code, b"".join(chunks).decode()


def stored(inst, name: str) -> dict:
    with inst.locked() as st:
        return dict(security.find_user(security.of(st), name))


def test_a_fresh_instance_has_the_predefined_accounts_with_sys_to_be_changed(inst):
    for name in ("_SYSTEM", "SuperUser", "Admin", "CSPSystem", "UnknownUser"):
        user = get(inst, name)
        assert user["ChangePassword"] == 1 and user["Enabled"] == 1, name
        assert security.check_password(stored(inst, name), "SYS")
    assert get(inst, "_system")["Roles"] == "%All"  # names are not case-sensitive
    assert get(inst, "Admin")["Roles"] == "%Manager"
    assert get(inst, "IAM")["Enabled"] == 0
    assert get(inst, "irisowner")["ChangePassword"] == 0
    assert not security.check_password(stored(inst, "irisowner"), "SYS")  # OS authentication only
    assert "Password" not in get(inst, "_SYSTEM")  # Get does not list the hash


def test_passwords_are_stored_as_salted_pbkdf2_hashes(inst):
    record = stored(inst, "_SYSTEM")
    assert record["PasswordHashAlgorithm"] == "SHA512" and record["PasswordHashWorkFactor"] == 10000
    assert len(bytes.fromhex(record["Password"])) == len(bytes.fromhex(record["Salt"])) == 64
    assert record["Salt"] != stored(inst, "Admin")["Salt"]
    state = json.loads(inst.fs.host_path(inst.manager_directory() + ".sim/state.json").read_text())

    def strings(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield key
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)
        elif isinstance(node, str):
            yield node

    assert "SYS" not in set(strings(state)) and b"SYS".hex() not in set(strings(state))


def test_modify_changes_only_the_keys_passed_and_checks_them(inst):
    assert call(inst, USERS, "Modify", "_SYSTEM", props(ChangePassword=0, PasswordNeverExpires=1)) == 1
    user = get(inst, "_SYSTEM")
    assert (user["ChangePassword"], user["PasswordNeverExpires"], user["Roles"]) == (0, 1, "%All")
    for bad in (props(Salt="x"), props(SuperUser=1), props(Nonsense=1), props(Enabled="yes"),
                props(Roles="%NoSuchRole"), props(Roles="%All,%all"), props(ExpirationDate="31/12/2030")):
        status = call(inst, USERS, "Modify", "_SYSTEM", bad)
        assert is_error_status(status), bad.subscripts
    missing = call(inst, USERS, "Modify", "nobody", props(Enabled=0))
    assert is_error_status(missing) and "does not exist" in missing.text


def test_modify_password_follows_the_pattern_and_never_echoes_it(inst):
    secret = "a" * 129  # longer than the default pattern 3.128ANP allows
    status = call(inst, USERS, "Modify", "Admin", props(Password=secret))
    assert is_error_status(status) and secret not in status.text and "pattern" in status.text
    assert is_error_status(call(inst, USERS, "Modify", "Admin", props(Password="tab\there")))
    assert call(inst, USERS, "Modify", "Admin", props(Password="Grüße-1 x!")) == 1
    assert security.check_password(stored(inst, "Admin"), "Grüße-1 x!")
    assert get(inst, "Admin")["ChangePassword"] == 1  # [UNV] a new password does not clear the flag
    assert call(inst, USERS, "Modify", "Admin", props(ExternalPassword="\x00x")) == 1  # $c(0): no pattern check
    assert security.check_password(stored(inst, "Admin"), "x")


def test_create_in_both_forms_and_its_refusals(inst):
    assert call(inst, USERS, "Create", "alice", "%Developer,%SQL", "pw-Alice1", "Alice A") == 1
    alice = get(inst, "ALICE")
    assert (alice["Roles"], alice["FullName"], alice["Enabled"], alice["ChangePassword"]) == ("%Developer,%SQL", "Alice A", 1, 0)
    assert security.check_password(stored(inst, "alice"), "pw-Alice1")
    assert call(inst, USERS, "Create", "bob", props(Roles="%Operator", Password="pw-Bob1", FullName="B")) == 1
    assert get(inst, "bob")["Roles"] == "%Operator"
    cases = {
        "exists": ("Alice", "", "pw-x1234"),
        "star": ("a*b", "", "pw-x1234"),
        "at": ("a@b", "", "pw-x1234"),
        "role name": ("%Developer", "", "pw-x1234"),
        "unknown role": ("carol", "%Nope", "pw-x1234"),
        "no password": ("dave", ""),
        "too long": ("e" * 161, "", "pw-x1234"),
    }
    for case, args in cases.items():
        assert is_error_status(call(inst, USERS, "Create", *args)), case
    assert "does not exist" in call(inst, USERS, "Get", "carol", ByRef()).text


def test_exists_and_the_user_object(inst):
    obj, status = ByRef(), ByRef()
    assert call(inst, USERS, "Exists", "admin", obj, status) == 1
    assert 'User "Admin" already exists' in status.get().text  # Status says so, as documented
    user = obj.get()
    assert user.get_property(None, "Name") == "Admin" and user.get_property(None, "ChangePassword") == 1
    assert len(user.get_property(None, "Password")) == 64
    with pytest.raises(IrisError):
        user.get_property(None, "Roles")  # a list collection: not simulated
    assert call(inst, USERS, "Exists", "nobody", obj, status) == 0
    assert obj.get() == "" and "does not exist" in status.get().text


def test_delete_keeps_one_superuser(inst):
    assert call(inst, USERS, "Delete", "Admin") == 1
    assert is_error_status(call(inst, USERS, "Delete", "Admin"))
    for name in ("SuperUser", "_Ensemble", "irisowner"):
        assert call(inst, USERS, "Delete", name) == 1
    last = call(inst, USERS, "Delete", "_SYSTEM")
    assert is_error_status(last) and "%All" in last.text
    assert is_error_status(call(inst, USERS, "Modify", "_SYSTEM", props(Roles="%Developer")))


def test_roles_exist_case_insensitively(inst):
    role, status = ByRef(), ByRef()
    assert call(inst, "Security.Roles", "Exists", "%all", role, status) == 1 and status.get() == 1
    assert call(inst, "Security.Roles", "Exists", "%Nope", role, status) == 0 and is_error_status(status.get())


def test_services_get_modify_exists(inst):
    got = ByRef()
    assert call(inst, "Security.Services", "Get", "%Service_CallIn", got) == 1
    assert got.get_sub("Enabled") == 0
    assert call(inst, "Security.Services", "Modify", "%Service_CallIn", props(Enabled=1)) == 1
    assert call(inst, "Security.Services", "Get", "%Service_CallIn", got) == 1 and got.get_sub("Enabled") == 1
    for bad in (props(Enabled=2), props(Description="x"), props(Capabilities=0), props(AutheEnabled=1024)):
        assert is_error_status(call(inst, "Security.Services", "Modify", "%Service_CallIn", bad)), bad.subscripts
    obj, status = ByRef(), ByRef()
    assert call(inst, "Security.Services", "Exists", "%Service_CallIn", obj, status) == 1 and status.get() == 1
    assert obj.get().get_property(None, "Enabled") == 1
    assert call(inst, "Security.Services", "Exists", "%service_callin", obj, status) == 0  # exact names
    assert call(inst, "Security.Services", "Exists", "%Service_Telnet") == 0  # a Windows service


def test_security_classes_live_in_sys(inst):
    with pytest.raises(IrisError) as caught:
        call(inst, USERS, "Exists", "Admin", namespace="USER")
    assert caught.value.code == "CLASS DOES NOT EXIST"


def test_sqlusers_query_lists_every_user(inst):
    code, out = session(inst, 'Set st=##class(%SQL.Statement).%New()\n'
                        'Write st.%PrepareClassQuery("%Library.SQLCatalogPriv","SQLUsers"),!\n'
                        'Set rs=st.%Execute() While rs.%Next() { Write rs.%GetData(1),"=",rs.%Get("ENABLED"),! }\n'
                        'Write $SYSTEM.Status.IsError(st.%PrepareClassQuery("Security.Users","Nope")),!\nHalt\n')
    assert code == 0
    prepared, *rows, unknown = [line for line in out.split("\n") if line and not line.endswith(">")][1:]
    assert prepared == "1" and unknown == "1"  # an unknown query fails to prepare
    assert "_SYSTEM=Yes" in rows and "IAM=No" in rows and len(rows) == 9


def test_encryption_and_utf8_conversion(inst):
    code, out = session(inst, 'Write $SYSTEM.Encryption.Base64Encode("any carnal pleasure.",1),!\n'
                        'Write $SYSTEM.Encryption.Base64Decode("YWJj"),!\n'
                        'Set k=$SYSTEM.Encryption.PBKDF2("password",1,"salt",20)\n'
                        'For i=1:1:$Length(k) { Write $Justify($Ascii(k,i),4) }\nWrite !\n'
                        'Set u=$ZCVT("Grüße","O","UTF8") Write $Length(u)," ",$ZCVT(u,"I","UTF8"),!\n'
                        'Write $SYSTEM.Encryption.Base64Decode("not base64!"),!\nHalt\n')
    assert code == 0
    assert "YW55IGNhcm5hbCBwbGVhc3VyZS4=\n" in out and "\nabc\n" in out
    rfc6070 = bytes.fromhex("0c60c80f961f0e71f3a9b524af6012062fe037a6")
    assert "".join(f"{b:4d}" for b in rfc6070) in out
    assert "7 Grüße\n" in out
    assert "<ILLEGAL VALUE>" in out


def test_file_stream_reads_with_the_process_users_permissions(inst):
    path = inst.manager_directory() + "secret.txt"
    host = inst.fs.host_path(path)
    host.write_bytes(b"line1\x00\xff")
    inst.fs.created(path, 51773, 51773)
    os.chmod(host, 0o600)
    script = (f'Set f=##class(%Stream.FileBinary).%New() Write f.LinkToFile("{path}"),!\n'
              'Set d=f.Read(3) Write d,"|",f.AtEnd,!\nSet d=f.Read(100,.sc) Write $Length(d),"|",f.AtEnd,"|",sc,!\n'
              'Set n=10 Set d=f.Read(.n) Write "[",d,"]",n,!\nHalt\n')
    code, out = session(inst, script)
    assert code == 0 and "\nlin|0\n" in out and "\n4|1|1\n" in out and "\n[]-1\n" in out
    inst.fs.created(path, 0, 0)  # root's file, mode 600: irisowner may not read it
    code, out = session(inst, f'Set f=##class(%Stream.FileBinary).%New() Do f.LinkToFile("{path}")\n'
                        'Set d=f.Read(10,.sc) Write $Length(d)," ",$SYSTEM.Status.IsError(sc),!\nHalt\n')
    assert "\n0 1\n" in out


def test_password_login_when_os_authentication_is_off(inst):
    inst.os_authentication = False
    code, out = session(inst, "_SYSTEM\nwrong\nWrite $USERNAME,!\nHalt\n")
    assert code == 1 and out.endswith("Username: \nPassword: \nAccess Denied\n") and "wrong" not in out
    code, out = session(inst, "_SYSTEM\nSYS\nWrite $USERNAME,!\nHalt\n")
    assert code == 1 and "Password change required\nAccess Denied" in out  # [UNV] stricter than IRIS
    assert call(inst, USERS, "Modify", "_SYSTEM", props(ChangePassword=0)) == 1
    code, out = session(inst, "_SYSTEM\nSYS\nWrite $USERNAME,!\nHalt\n")
    assert code == 0 and "\n_SYSTEM\n" in out and "SYS\n" not in out.replace("%SYS", "")
    code, out = session(inst, "IAM\nSYS\nHalt\n")  # disabled account
    assert code == 1 and "Access Denied" in out
    code, out = session(inst, "irisowner\n\nHalt\n")  # no password login for the owner
    assert code == 1 and "Access Denied" in out


def test_os_authentication_keeps_the_exec_user_as_username(inst):
    code, out = session(inst, "Write $USERNAME,!\nHalt\n")
    assert code == 0 and "\nirisowner\n" in out


def test_state_json_holds_the_security_database(inst):
    state = json.loads(inst.fs.host_path(inst.manager_directory() + ".sim/state.json").read_text())
    assert set(state["security"]) == {"system", "users", "roles", "services"}
    assert state["security"]["services"]["%Service_CallIn"]["Enabled"] == 0


def test_sha_hash_stream_hashes_a_file_stream(inst):
    import base64
    import hashlib

    path = inst.manager_directory() + "blob.bin"
    data = bytes(range(256)) * 5000
    inst.fs.host_path(path).write_bytes(data)
    inst.fs.created(path, 51773, 51773)
    code, out = session(inst, f'Set f=##class(%Stream.FileBinary).%New() Do f.LinkToFile("{path}")\n'
                        'Set h=$SYSTEM.Encryption.SHAHashStream(256,f,.sc) Write $Length(h),"|",sc,"|",'
                        '$SYSTEM.Encryption.Base64Encode(h,1),!\n'
                        'Set g=##class(%Stream.FileBinary).%New() Do g.LinkToFile("' + path + '") Set x=g.Read(1000)\n'
                        'Write $SYSTEM.Encryption.Base64Encode($SYSTEM.Encryption.SHAHashStream(512,g),1),!\n'
                        'Set m=##class(%Stream.FileBinary).%New() Do m.LinkToFile("/usr/irissys/mgr/nothere")\n'
                        'Set h=$SYSTEM.Encryption.SHAHashStream(256,m,.sc) Write "[",h,"]",$SYSTEM.Status.IsError(sc),!\n'
                        'Write $SYSTEM.Encryption.SHAHashStream(100,f),!\nHalt\n')
    assert code == 0
    # one byte per character; a stream already read from is hashed from where it stands [UNV]
    assert f"\n32|1|{base64.b64encode(hashlib.sha256(data).digest()).decode()}\n" in out
    assert f"\n{base64.b64encode(hashlib.sha512(data[1000:]).digest()).decode()}\n" in out
    assert "\n[]1\n" in out  # a file that cannot be read: an error status, no hash
    assert "<ILLEGAL VALUE>" in out  # 100 is no SHA width


def test_file_stream_writes_a_new_file_only_on_save(inst):
    path = inst.manager_directory() + "new.json"
    host = inst.fs.host_path(path)
    code, out = session(inst, f'Set f=##class(%Stream.FileBinary).%New() Do f.LinkToFile("{path}")\n'
                        'Write f.Write("{""a"":"),f.Write("1}"),!\n'
                        f'Write ##class(%File).Exists("{path}"),!\n'
                        'Write f.%Save(),!\nHalt\n')
    assert code == 0 and [line for line in out.split("\n") if line and not line.endswith(">")][1:] == ["11", "0", "1"]
    assert host.read_bytes() == b'{"a":1}' and inst.fs.owner(path) == (51773, 51773)
    code, out = session(inst, f'Set f=##class(%Stream.FileBinary).%New() Do f.LinkToFile("{path}")\n'
                        'Do f.Write("x")\nHalt\n')
    assert "<UNIMPLEMENTED>" in out and host.read_bytes() == b'{"a":1}'  # never an existing file [UNV]
    code, out = session(inst, 'Set f=##class(%Stream.FileBinary).%New() Do f.LinkToFile("/usr/irissys/mgr/w.bin")\n'
                        'Do f.Write($Char(256))\nHalt\n')
    assert "<WIDE CHAR>" in out and not inst.fs.exists("/usr/irissys/mgr/w.bin")
    code, out = session(inst, 'Set f=##class(%Stream.FileBinary).%New() Do f.LinkToFile("/etc/iris-ops-test")\n'
                        'Do f.Write("x") Write $SYSTEM.Status.IsError(f.%Save()),!\nHalt\n')
    assert "\n1\n" in out and not inst.fs.exists("/etc/iris-ops-test")  # / and /etc are root's
