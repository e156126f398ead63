"""Simulated system classes: namespaces, statuses, %Boolean returns, mounts."""

from __future__ import annotations

import os

import pytest

from _instance_helpers import ByRef, call, new_instance
from iris_ops_sim.irissim.instance import lists
from iris_ops_sim.irissim.objectscript import runtime
from iris_ops_sim.irissim.objectscript.runtime import IrisError, Process, is_error_status


@pytest.fixture
def inst(tmp_path):
    return new_instance(tmp_path)


def test_config_from_a_non_sys_namespace_fails(inst):
    proc = Process(inst, "USER", lambda s: None)
    with pytest.raises(IrisError) as err:
        runtime.lookup_class("Config.Namespaces").call_class_method(proc, "Exists", ["USER"])
    assert err.value.code == "CLASS DOES NOT EXIST"
    with pytest.raises(IrisError):
        runtime.lookup_class("SYS.Database").call_class_method(proc, "MountDatabase", ["/x/"])


def test_default_contents(inst):
    assert inst.manager_directory() == "/usr/irissys/mgr/"
    props = ByRef()
    assert call(inst, "Config.Namespaces", "Get", "user", props) == 1
    assert props.get_sub("Globals") == "USER" and props.get_sub("Routines") == "USER"
    assert call(inst, "Config.Namespaces", "Get", "APP", props) == 1
    assert (props.get_sub("Globals"), props.get_sub("Routines")) == ("APP_DATA", "APP_CODE")
    assert call(inst, "Security.Resources", "Exists", "%DB_APP_CODE") == 1
    assert inst.version.startswith("IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2024.1 (Build")
    assert inst.qlist_line().split("^")[:3] == ["IRIS", "/usr/irissys", "2024.1.0.263.0"]
    assert inst.os_authentication is True


def test_config_namespaces_create_get_exists_delete(inst):
    props = ByRef()
    props.set_sub("Globals", "user")
    assert call(inst, "Config.Namespaces", "Create", "new1", props) == 1
    assert inst.namespace_exists("NEW1")
    again = call(inst, "Config.Namespaces", "Create", "NEW1", props)
    assert is_error_status(again) and "already exists" in again.text
    got = ByRef()
    assert call(inst, "Config.Namespaces", "Get", "NEW1", got) == 1
    assert got.get_sub("Routines") == "USER" and got.get_sub("TempGlobals") == "IRISTEMP"
    obj, status = ByRef(), ByRef()
    assert call(inst, "Config.Namespaces", "Exists", "NEW1", obj, status) == 1
    assert call(inst, "Config.Namespaces", "Delete", "NEW1") == 1
    missing = call(inst, "Config.Namespaces", "Get", "NEW1", ByRef())
    assert missing.text == "ERROR #420: Namespace NEW1 does not exist"
    assert call(inst, "Config.Namespaces", "Exists", "NEW1") == 0
    assert is_error_status(call(inst, "Config.Namespaces", "Delete", "NEW1"))


def test_config_namespace_needs_globals_and_existing_databases(inst):
    props = ByRef()
    props.set_sub("Routines", "USER")
    assert is_error_status(call(inst, "Config.Namespaces", "Create", "NS2", props))
    props.set_sub("Globals", "NOSUCHDB")
    assert is_error_status(call(inst, "Config.Namespaces", "Create", "NS2", props))


def test_config_databases_edits_the_cpf_only(inst):
    props = ByRef()
    assert is_error_status(call(inst, "Config.Databases", "Create", "D1", props))  # Directory required
    props.set_sub("Directory", "/usr/irissys/mgr/d1")
    assert call(inst, "Config.Databases", "Create", "d1", props) == 1
    assert not inst.fs.exists("/usr/irissys/mgr/d1/IRIS.DAT")
    got = ByRef()
    assert call(inst, "Config.Databases", "Get", "D1", got) == 1
    assert got.get_sub("Directory") == "/usr/irissys/mgr/d1/"
    status, result = lists.parse(call(inst, "Config.Databases", "GetList", "D1"))
    assert status == 1 and ["Directory", "/usr/irissys/mgr/d1/"] in [lists.parse(x) for x in lists.parse(result)]
    assert call(inst, "Config.Databases", "Delete", "D1") == 1
    assert is_error_status(call(inst, "Config.Databases", "Delete", "USER"))  # used by namespace USER


def test_mounting_a_missing_file_returns_an_error_status(inst):
    sc = call(inst, "SYS.Database", "MountDatabase", "/usr/irissys/mgr/nothere/")
    assert is_error_status(sc) and str(sc).startswith("0 ")


def test_create_mount_dismount_delete(inst):
    d = "/usr/irissys/mgr/fresh/"
    assert is_error_status(call(inst, "SYS.Database", "CreateDatabase", d))  # directory must exist
    assert call(inst, "%Library.File", "CreateDirectoryChain", d) == 1
    assert call(inst, "SYS.Database", "CreateDatabase", d, 2) == 1
    db = call(inst, "SYS.Database", "%OpenId", d)
    p = Process(inst, "%SYS", lambda s: None)
    assert db.get_property(p, "Mounted") == 1 and db.get_property(p, "ResourceName") == "%DB_%DEFAULT"
    assert db.get_property(p, "Size") == 2 and db.get_property(p, "BlockSize") == 8192
    assert is_error_status(call(inst, "SYS.Database", "DeleteDatabase", d))  # still mounted
    assert call(inst, "SYS.Database", "DismountDatabase", d) == 1
    assert is_error_status(call(inst, "SYS.Database", "DismountDatabase", d))
    assert call(inst, "SYS.Database", "DeleteDatabase", d) == 1
    assert call(inst, "SYS.Database", "%ExistsId", d) == 0
    assert call(inst, "SYS.Database", "%OpenId", d) == ""


def test_an_empty_id_opens_no_database(inst):
    """Not the manager directory, which NormalizeDirectory would make of ""."""
    assert call(inst, "SYS.Database", "%OpenId", "/usr/irissys/mgr/") != ""
    assert call(inst, "SYS.Database", "%OpenId", "") == ""


def test_label_resource_missing_fails_the_mount(inst):
    d = "/usr/irissys/mgr/res/"
    call(inst, "%Library.File", "CreateDirectoryChain", d)
    assert call(inst, "Security.Resources", "Create", "%DB_RES", "", "") == 1
    assert call(inst, "SYS.Database", "CreateDatabase", d, 1, 8192, 0, "%DB_RES") == 1
    assert call(inst, "SYS.Database", "DismountDatabase", d) == 1
    assert call(inst, "Security.Resources", "Delete", "%DB_RES") == 1
    assert is_error_status(call(inst, "SYS.Database", "MountDatabase", d))
    assert call(inst, "Security.Resources", "Create", "%DB_RES", "", "") == 1
    assert call(inst, "SYS.Database", "MountDatabase", d) == 1


def test_root_owned_0644_file_mounts_read_only(inst):
    d = "/usr/irissys/mgr/app_data/"
    inst.sql("APP", "CREATE TABLE X (a INT)")  # the definition goes to APP_CODE, still writable
    assert call(inst, "SYS.Database", "DismountDatabase", d) == 1
    inst.fs.chown(d + "IRIS.DAT", 0, 0)
    inst.fs.chmod(d + "IRIS.DAT", 0o644)
    assert call(inst, "SYS.Database", "MountDatabase", d) == 1
    db = call(inst, "SYS.Database", "%OpenId", d)
    p = Process(inst, "%SYS", lambda s: None)
    assert db.get_property(p, "ReadOnlyMounted") == 1 and db.get_property(p, "ROReasonText")
    from iris_ops_sim.irissim.instance.sql import SqlError

    with pytest.raises(SqlError) as err:
        inst.sql("APP", "INSERT INTO X VALUES (1)")
    assert err.value.sqlcode == -400 and "<PROTECT>" in err.value.message
    assert inst.sql("APP", "SELECT COUNT(*) FROM X").rows == [(0,)]  # reads still work


def test_file_methods_return_booleans_and_honour_permissions(inst):
    f = "%Library.File"
    assert call(inst, f, "ManagerDirectory") == "/usr/irissys/mgr/"
    assert call(inst, f, "NormalizeDirectory", "user") == "/usr/irissys/mgr/user/"
    assert call(inst, f, "DirectoryExists", "/usr/irissys/mgr/user") == 1
    assert call(inst, f, "Exists", "/usr/irissys/mgr/user/IRIS.DAT") == 1
    assert call(inst, f, "CreateDirectoryChain", "/usr/irissys/mgr/a/b/c") == 1
    assert inst.fs.owner("/usr/irissys/mgr/a/b") == (51773, 51773)
    assert call(inst, f, "CopyFile", "/usr/irissys/mgr/user/IRIS.DAT", "/usr/irissys/mgr/a/b/c/IRIS.DAT") == 1
    assert call(inst, f, "GetFileSize", "/usr/irissys/mgr/a/b/c/IRIS.DAT") == 1024 * 1024
    ret = ByRef()
    assert call(inst, f, "CreateDirectoryChain", "/root/forbidden", ret) == 0  # / is root-owned 0755
    assert ret.get() == -13
    assert call(inst, f, "Delete", "/usr/irissys/mgr/a/b/c/nothere") == 0
    assert call(inst, f, "RemoveDirectoryTree", "/usr/irissys/mgr/a") == 1
    assert call(inst, f, "DirectoryExists", "/usr/irissys/mgr/a") == 0
    assert call(inst, "%File", "Exists", "/etc/passwd", namespace="USER") == 1


def test_sql_statement_results(inst):
    inst.sql("USER", "CREATE TABLE Person (Name VARCHAR(20))")
    inst.sql("USER", "INSERT INTO Person VALUES ('a')")
    p = Process(inst, "USER", lambda s: None)
    cls = runtime.lookup_class("%SQL.Statement")
    stmt = cls.call_class_method(p, "%New", [])
    assert stmt.call_method(p, "%Prepare", ['SELECT COUNT(*) FROM "SQLUser"."Person"']) == 1
    rs = stmt.call_method(p, "%Execute", [])
    assert rs.call_method(p, "%Next", []) == 1 and rs.call_method(p, "%GetData", [1]) == 1
    assert rs.call_method(p, "%Next", []) == 0 and rs.get_property(p, "%SQLCODE") == 100
    bad = stmt.call_method(p, "%Prepare", ["SELECT * FROM Nope"])
    assert bad.text == "ERROR #5540: SQLCODE: -30 Message: Table 'SQLUSER.NOPE' not found"
    rs = cls.call_class_method(p, "%ExecDirect", [ByRef(), "SELECT TABLE_SCHEMA, TABLE_NAME FROM "
                                                  "INFORMATION_SCHEMA.TABLES WHERE TABLE_TYPE='BASE TABLE'"])
    assert rs.call_method(p, "%Next", []) == 1
    assert (rs.call_method(p, "%Get", ["TABLE_SCHEMA"]), rs.call_method(p, "%Get", ["TABLE_NAME"])) == ("SQLUser", "Person")
    with pytest.raises(IrisError):
        rs.call_method(p, "%Get", ["NOPE"])
    rs = cls.call_class_method(p, "%ExecDirect", [ByRef(), "SELECT * FROM Nope"])
    assert rs.get_property(p, "%SQLCODE") == -30 and "not found" in rs.get_property(p, "%Message")
    rs = cls.call_class_method(p, "%ExecDirect", [ByRef(), "UPDATE Person SET Name = 'b'"])
    assert rs.get_property(p, "%SQLCODE") == 0 and rs.get_property(p, "%ROWCOUNT") == 1


def test_file_dates_are_its_modification_and_change_times(inst):
    import datetime

    f = "%Library.File"
    path = "/usr/irissys/mgr/user/IRIS.DAT"
    host = inst.fs.host_path(path)
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)
    ns = int(when.timestamp()) * 10**9 + 678_400_000
    os.utime(host, ns=(ns, ns))
    # $H in UTC, rounded to the millisecond; the seconds a canonical number
    assert call(inst, f, "GetFileDateModified", path, 1) == "66841,11045.678"
    os.utime(host, ns=(ns, ns - 178_400_000))
    assert call(inst, f, "GetFileDateModified", path, 1) == "66841,11045.5"
    # On Unix "the date of the last file status change": the ctime, which any change moves
    def horolog(ns: int) -> str:
        days, rest = divmod((ns + 500_000) // 1_000_000, 86_400_000)
        return f"{days + 47117},{rest // 1000}.{rest % 1000:03d}".rstrip("0").rstrip(".")

    assert call(inst, f, "GetFileDateCreated", path, 1) == horolog(os.stat(host).st_ctime_ns)
    os.chmod(host, 0o640)
    assert call(inst, f, "GetFileDateCreated", path, 1) == horolog(os.stat(host).st_ctime_ns)
    assert call(inst, f, "GetFileDateModified", path, 1) == "66841,11045.5"
    assert call(inst, f, "GetFileDateCreated", "/usr/irissys/mgr/nothere", 1) == ""


def test_a_cpf_write_cut_short_is_mended_from_the_last_whole_copy(tmp_path):
    """A container killed while iris.cpf is rewritten in place leaves a torn file; the instance
    reads back the last whole configuration (the namespace made just before included)."""
    inst = new_instance(tmp_path)
    inst.create_namespace("TORN", "USER")
    cpf = inst.fs.host_path(inst.cpf_path)
    whole = cpf.read_text()
    cpf.write_text(whole[: len(whole) // 3])  # the kill, a third of the way through
    assert {"%SYS", "USER", "APP", "TORN"} <= set(inst.read_config()["Namespaces"])
    assert cpf.read_text() == whole
