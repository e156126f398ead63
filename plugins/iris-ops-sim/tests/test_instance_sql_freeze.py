"""SQL placement (definitions in Routines, rows in Globals) and the external freeze."""

from __future__ import annotations

import threading
import time

import pytest

from _instance_helpers import ByRef, call, new_instance
from iris_ops_sim.irissim.instance import datfile
from iris_ops_sim.irissim.instance.sql import SqlError
from iris_ops_sim.irissim.objectscript.runtime import Halt, Process, is_error_status
from iris_ops_sim.irissim.objectscript import runtime


@pytest.fixture
def inst(tmp_path):
    return new_instance(tmp_path)


def test_definitions_live_in_code_rows_in_data(inst):
    inst.sql("APP", "CREATE TABLE Item (Sku VARCHAR(10), Qty INT)")
    inst.sql("APP", "INSERT INTO Item VALUES ('a', 1)")
    inst.sql("APP", "INSERT INTO Item VALUES ('b', 2)")
    # A namespace over APP_DATA alone has the rows but no table definition.
    inst.create_namespace("DATAONLY", "APP_DATA")
    with pytest.raises(SqlError) as err:
        inst.sql("DATAONLY", "SELECT COUNT(*) FROM Item")
    assert err.value.sqlcode == -30
    # A namespace over APP_CODE alone has the table but no rows.
    inst.create_namespace("CODEONLY", "APP_CODE")
    assert inst.sql("CODEONLY", "SELECT COUNT(*) FROM Item").rows == [(0,)]
    # Both together: the rows again.
    inst.create_namespace("BOTH", "APP_DATA", "APP_CODE")
    assert inst.sql("BOTH", 'SELECT COUNT(*) FROM "SQLUser"."Item"').rows == [(2,)]


def _rows_in_file(path, table: str) -> int:
    """Rows of SQLUser.<table> held by the IRIS.DAT file at ``path`` itself."""
    _, image = datfile.read(path)
    conn = datfile.open_image(image)
    try:
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        data = f"^SQLUser.{table}D"
        return conn.execute(f'SELECT COUNT(*) FROM "{data}"').fetchone()[0] if data in have else 0
    finally:
        conn.close()


def _count(inst, table: str = "C") -> int:
    return inst.sql("USER", f"SELECT COUNT(*) FROM {table}").rows[0][0]


def test_freeze_keeps_writers_running_and_the_file_unchanged(inst, tmp_path):
    inst.sql("USER", "CREATE TABLE C (n INT)")
    writer = inst.start_writer("USER", "C", "n", interval=0.002, mode="insert")
    dat = inst.fs.host_path("/usr/irissys/mgr/user/IRIS.DAT")
    try:
        time.sleep(0.1)
        assert call(inst, "Backup.General", "ExternalFreeze") == 1
        assert call(inst, "Backup.General", "IsWDSuspended") == 1
        at_freeze = _rows_in_file(dat, "C")  # no write is in flight once ExternalFreeze returns
        frozen_bytes = dat.read_bytes()
        updates = writer.updates
        time.sleep(0.2)
        assert writer.updates > updates  # processes keep running: writers do not block
        assert _count(inst) > at_freeze  # and their updates are visible to SQL
        assert dat.read_bytes() == frozen_bytes  # but the file on disk does not change
        copy = tmp_path / "IRIS.DAT"
        copy.write_bytes(dat.read_bytes())
        assert datfile.check(copy) == []
        assert _rows_in_file(copy, "C") == at_freeze  # a copy holds the pre-freeze state
        assert call(inst, "Backup.General", "ExternalThaw") == 1
    finally:
        writer.stop()
        inst.thaw()
    assert not writer.errors
    assert _rows_in_file(dat, "C") == _count(inst)  # the thaw wrote the buffers
    assert inst.check_integrity("/usr/irissys/mgr/user/") == []


def test_wdsuspendlimit_resumes_the_write_daemon(inst):
    inst.sql("USER", "CREATE TABLE C (n INT)")
    assert call(inst, "Backup.General", "ExternalFreeze", "", "", 1, 10, 0, 0, 0, "", "", 0.2) == 1
    dat = inst.fs.host_path("/usr/irissys/mgr/user/IRIS.DAT")
    inst.sql("USER", "INSERT INTO C VALUES (1)")  # does not block
    assert _rows_in_file(dat, "C") == 0
    time.sleep(0.25)
    assert call(inst, "Backup.General", "IsWDSuspended") == 0
    assert _rows_in_file(dat, "C") == 1  # the write daemon wrote the buffers when it resumed
    assert is_error_status(call(inst, "Backup.General", "ExternalThaw"))  # nothing left to thaw


def test_the_daemon_tick_resumes_without_any_session(inst):
    inst.sql("USER", "CREATE TABLE C (n INT)")
    assert call(inst, "Backup.General", "ExternalFreeze", "", "", 1, 10, 0, 0, 0, "", "", 0.1) == 1
    inst.sql("USER", "INSERT INTO C VALUES (1)")
    dat = inst.fs.host_path("/usr/irissys/mgr/user/IRIS.DAT")
    time.sleep(0.15)
    assert _rows_in_file(dat, "C") == 0  # nobody looked yet
    assert inst.write_daemon_tick() is True
    assert _rows_in_file(dat, "C") == 1


def test_writers_block_after_external_freeze_timeout(inst):
    inst.sql("USER", "CREATE TABLE C (n INT)")
    # A write that blocks here would block for good: a thaw after 30 s makes it a failure instead
    # (the writer below then writes while it must not), never a hung suite.
    watchdog = threading.Timer(30, inst.thaw)
    watchdog.start()
    timeout = 1.0
    frozen_at = time.monotonic()
    assert call(inst, "Backup.General", "ExternalFreeze", "", "", 1, 10, 0, 0, timeout) == 1
    inst.sql("USER", "INSERT INTO C VALUES (1)")  # within the timeout: runs
    time.sleep(max(0.0, frozen_at + timeout + 0.1 - time.monotonic()))
    writer = inst.start_writer("USER", "C", "n", interval=0.002, mode="insert")
    try:
        time.sleep(0.1)
        assert writer.updates == 0  # blocked
        assert _count(inst) == 1  # reads still run
        assert call(inst, "Backup.General", "ExternalThaw") == 1
        time.sleep(0.1)
        assert writer.updates > 0
    finally:
        watchdog.cancel()
        writer.stop()
        inst.thaw()


def test_external_freeze_timeout_is_capped_at_1200_seconds(inst):
    """A larger ExternalFreezeTimeOut is used as 1200; 0 is the default of 600."""
    for asked, used in ((5000, 1200.0), (1200, 1200.0), (900, 900.0), (0, 600.0)):
        assert call(inst, "Backup.General", "ExternalFreeze", "", "", 1, 10, 0, 0, asked) == 1
        try:
            assert inst.freeze_info()["timeout"] == used
        finally:
            inst.thaw()


def test_second_freeze_fails_and_first_parameter_is_the_log_file(inst):
    assert call(inst, "Backup.General", "ExternalFreeze", "0") == 1
    assert inst.fs.exists("/usr/irissys/mgr/0")  # ExternalFreeze(0) names a log file "0"
    assert is_error_status(call(inst, "Backup.General", "ExternalFreeze"))
    assert call(inst, "Backup.General", "ExternalThaw") == 1


def test_argument_mode_exit_statuses(inst):
    proc = Process(inst, "%SYS", lambda s: None)
    proc.argument_mode = True
    cls = runtime.lookup_class("Backup.General")
    with pytest.raises(Halt) as h:
        cls.call_class_method(proc, "ExternalFreeze", [])
    assert h.value.exit_code == 5
    with pytest.raises(Halt) as h:
        cls.call_class_method(proc, "ExternalFreeze", [])
    assert h.value.exit_code == 3
    with pytest.raises(Halt) as h:
        cls.call_class_method(proc, "ExternalThaw", [])
    assert h.value.exit_code == 5


def test_a_dismounted_database_stays_dismounted(inst):
    inst.sql("USER", "CREATE TABLE T (x INT)")
    assert call(inst, "SYS.Database", "DismountDatabase", "/usr/irissys/mgr/user/") == 1
    assert inst.mount_info("/usr/irissys/mgr/user/") is None
    with pytest.raises(SqlError) as err:
        inst.sql("USER", "SELECT COUNT(*) FROM T")
    assert err.value.sqlcode == -400
    assert inst.mount_info("/usr/irissys/mgr/user/") is None
    assert call(inst, "SYS.Database", "MountDatabase", "/usr/irissys/mgr/user/") == 1
    assert inst.sql("USER", "SELECT COUNT(*) FROM T").rows == [(0,)]


def test_mounting_a_mounted_database_is_an_error(inst):
    inst.sql("USER", "SELECT 1")  # first use: the implicit mount
    status = call(inst, "SYS.Database", "MountDatabase", "/usr/irissys/mgr/user/")
    assert is_error_status(status) and "already mounted" in status


def test_a_database_not_used_yet_is_mounted_implicitly(inst):
    inst.create_database("FRESH")
    inst.dismount("/usr/irissys/mgr/fresh/")
    assert call(inst, "SYS.Database", "MountDatabase", "/usr/irissys/mgr/fresh/") == 1
    inst.create_namespace("FRESH", "FRESH")
    assert inst.sql("FRESH", "SELECT 1").rows == [(1,)]


def test_list_all_has_implicit_namespaces(inst):
    array = ByRef()
    assert call(inst, "%SYS.Namespace", "ListAll", array) == 1
    keys = [k for k, _ in array.items()]
    assert {"%SYS", "USER", "APP"} <= set(keys)
    assert {"^^/usr/irissys/mgr/", "^^/usr/irissys/mgr/user/"} <= set(keys)


def test_a_start_of_the_instance_ends_the_freeze_and_every_dismount(inst):
    """What IRIS keeps in shared memory does not outlive a restart (the container killed while
    frozen and dismounted, then started): the held updates are written, the database mounts."""
    inst.sql("USER", "CREATE TABLE C (n INT)")
    inst.sql("APP", "SELECT 1")
    assert call(inst, "SYS.Database", "DismountDatabase", "/usr/irissys/mgr/app_data/") == 1
    assert call(inst, "Backup.General", "ExternalFreeze") == 1
    inst.sql("USER", "INSERT INTO C VALUES (1)")
    dat = inst.fs.host_path("/usr/irissys/mgr/user/IRIS.DAT")
    assert _rows_in_file(dat, "C") == 0
    inst.boot()
    assert call(inst, "Backup.General", "IsWDSuspended") == 0
    assert _rows_in_file(dat, "C") == 1
    assert inst.mount_info("/usr/irissys/mgr/app_data/") == {"readonly": False, "reason": ""}
    inst.ensure_mounted("/usr/irissys/mgr/app_data/")  # no longer dismounted: no MountError
    assert inst.mount_info("/usr/irissys/mgr/user/") == {"readonly": False, "reason": ""}
