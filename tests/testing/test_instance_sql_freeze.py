"""SQL placement (definitions in Routines, rows in Globals) and the external freeze."""

from __future__ import annotations

import time

import pytest

from _instance_helpers import call, new_instance
from iris_ops.testing.irissim.instance.sql import SqlError
from iris_ops.testing.irissim.objectscript.runtime import Halt, Process, is_error_status
from iris_ops.testing.irissim.objectscript import runtime


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


def test_freeze_blocks_a_writer_until_thaw(inst):
    inst.sql("USER", "CREATE TABLE C (n INT)")
    inst.sql("USER", "INSERT INTO C VALUES (0)")
    writer = inst.start_writer("USER", "C", "n", interval=0.002)
    try:
        time.sleep(0.1)
        assert call(inst, "Backup.General", "ExternalFreeze") == 1
        assert call(inst, "Backup.General", "IsWDSuspended") == 1
        dat = inst.fs.host_path("/usr/irissys/mgr/user/IRIS.DAT")
        frozen_bytes = dat.read_bytes()  # no write is in flight once ExternalFreeze returns
        time.sleep(0.02)  # let the counter of the last write before the freeze settle
        frozen_updates = writer.updates
        time.sleep(0.2)
        assert dat.read_bytes() == frozen_bytes
        assert writer.updates == frozen_updates
        assert call(inst, "Backup.General", "ExternalThaw") == 1
        time.sleep(0.1)
        assert writer.updates > frozen_updates
    finally:
        writer.stop()
        inst.thaw()
    assert not writer.errors


def test_wdsuspendlimit_thaws_on_its_own(inst):
    inst.sql("USER", "CREATE TABLE C (n INT)")
    inst.sql("USER", "INSERT INTO C VALUES (0)")
    assert call(inst, "Backup.General", "ExternalFreeze", "", "", 1, 10, 0, 0, 0, "", "", 0.2) == 1
    started = time.monotonic()
    inst.sql("USER", "UPDATE C SET n = n + 1")  # blocks until the limit passes
    assert time.monotonic() - started >= 0.15
    assert call(inst, "Backup.General", "IsWDSuspended") == 0
    assert is_error_status(call(inst, "Backup.General", "ExternalThaw"))  # nothing left to thaw


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


def test_dismounted_configured_database_is_remounted_by_sql(inst):
    inst.sql("USER", "CREATE TABLE T (x INT)")
    assert call(inst, "SYS.Database", "DismountDatabase", "/usr/irissys/mgr/user/") == 1
    assert inst.mount_info("/usr/irissys/mgr/user/") is None
    assert inst.sql("USER", "SELECT COUNT(*) FROM T").rows == [(0,)]
    assert inst.mount_info("/usr/irissys/mgr/user/") is not None
