"""SYS.Database objects saved (issue 26, ``iris-ops apply``): ``%OpenId(Directory)``, set ``Size``
and ``ResourceName``, ``%Save()``.  The file grows and its label changes, for every later reader:
``%OpenId``, the mount, the label iris-ops' backup and restore read, ``iris-sim integrity``."""

from __future__ import annotations

import io
import os
import resource
import signal

import pytest

from _instance_helpers import call, new_instance
from iris_ops.datlabel import read_label as core_label
from iris_ops_sim.irissim.instance import datfile
from iris_ops_sim.irissim.objectscript import iris_main

USER = "/usr/irissys/mgr/user/"
MB = 1024 * 1024


@pytest.fixture
def inst(tmp_path):
    return new_instance(tmp_path)


def session(inst, *lines: str) -> str:
    chunks: list[bytes] = []
    script = "\n".join([*lines, "Halt"]) + "\n"
    assert iris_main(inst, ["session", "IRIS", "-U", "%SYS"], io.BytesIO(script.encode()), chunks.append) == 0
    return b"".join(chunks).decode()


def save(inst, directory: str = USER, **props) -> str:
    """Open the database, set ``props``, %Save(): the status as the session wrote it."""
    sets = " ".join(f'Set db.{k}="{v}"' for k, v in props.items())
    out = session(inst, f'Set db=##class(SYS.Database).%OpenId("{directory}") {sets} Write "sc=",db.%Save(),!')
    return next(line[3:] for line in out.splitlines() if line.startswith("sc="))


def opened(inst, directory: str = USER) -> dict[str, str]:
    out = session(inst, f'Set db=##class(SYS.Database).%OpenId("{directory}")',
                  'Write "Size=",db.Size,! Write "ResourceName=",db.ResourceName,!')
    return dict(line.split("=", 1) for line in out.splitlines() if line.startswith(("Size=", "ResourceName=")))


def dat(inst, directory: str = USER):
    return inst.fs.host_path(directory + "IRIS.DAT")


def test_a_saved_size_grows_the_file_and_keeps_its_contents(inst):
    inst.sql("USER", "CREATE TABLE Kept (a INT)")
    inst.sql("USER", "INSERT INTO Kept VALUES (7)")
    assert opened(inst)["Size"] == "1"
    assert save(inst, Size=3) == "1"
    assert os.path.getsize(dat(inst)) == 3 * MB
    assert os.stat(dat(inst)).st_blocks * 512 >= 3 * MB  # allocated, as IRIS allocates a database's blocks
    assert opened(inst)["Size"] == "3"
    assert inst.check_integrity(USER) == []  # what `iris-sim integrity` reports
    assert datfile.read_label(dat(inst)).size_mb == 3
    assert inst.sql("USER", "SELECT a FROM Kept").rows == [(7,)]
    assert save(inst, Size=3) == "1" and os.path.getsize(dat(inst)) == 3 * MB  # the same size: no change


@pytest.mark.parametrize("size,why", [
    ("2", "cannot be shrunk to 2 MB"),
    # Size As %Integer(MINVAL = 1), at most MaxSize's largest value for 8 KB blocks (33553904 MB)
    *[(size, "Datatype validation failed on property 'SYS.Database:Size'")
      for size in ("0", "-4", "2.5", "abc", "", "33553905")],
])
def test_a_size_below_the_current_one_or_not_a_whole_number_of_mb_is_refused(inst, size, why):
    assert save(inst, Size=3) == "1"
    status = save(inst, Size=size)
    assert status.startswith("0 ERROR #") and why in status
    assert os.path.getsize(dat(inst)) == 3 * MB and inst.check_integrity(USER) == []


def test_the_object_keeps_what_was_set_and_saves_it_again(inst):
    out = session(inst, 'Set db=##class(SYS.Database).%OpenId("' + USER + '") Set db.Size=2',
                  'Write "set=",db.Size,! Write "first=",db.%Save(),! Write "again=",db.%Save(),!')
    assert "set=2" in out and "first=1" in out and "again=1" in out
    assert session(inst, 'Set db=##class(SYS.Database).%OpenId("' + USER + '") Write "saved=",db.%Save(),!') \
        .count("saved=1") == 1  # nothing set: nothing to save


def test_a_saved_resource_name_is_in_the_label_for_every_later_reader(inst):
    assert call(inst, "Security.Resources", "Create", "%DB_SHARED", "", "") == 1
    assert save(inst, ResourceName="%DB_SHARED") == "1"
    assert opened(inst)["ResourceName"] == "%DB_SHARED"
    assert datfile.read_label(dat(inst)).resource == "%DB_SHARED"
    assert core_label(dat(inst)).resource == "%DB_SHARED"  # what backup and restore read
    assert inst.check_integrity(USER) == []
    # the mount checks the new resource, no longer the old one
    assert call(inst, "SYS.Database", "DismountDatabase", USER) == 1
    assert call(inst, "Security.Resources", "Delete", "%DB_USER") == 1
    assert call(inst, "SYS.Database", "MountDatabase", USER) == 1
    assert call(inst, "SYS.Database", "DismountDatabase", USER) == 1
    assert call(inst, "Security.Resources", "Delete", "%DB_SHARED") == 1
    assert str(call(inst, "SYS.Database", "MountDatabase", USER)).startswith("0 ERROR #")


@pytest.mark.parametrize("name", [
    "%DB_NO_SUCH_RES",   # must exist
    "APP_RES",           # "All database resource names must begin with %DB_"
    "",
    "%DB_" + "X" * 47,   # a %String: MAXLEN 50
])
def test_a_resource_name_that_is_not_a_database_resource_is_refused(inst, name):
    assert call(inst, "Security.Resources", "Create", "APP_RES", "", "") == 1
    assert call(inst, "Security.Resources", "Create", "%DB_" + "X" * 47, "", "") == 1
    assert save(inst, ResourceName=name).startswith("0 ERROR #")
    assert datfile.read_label(dat(inst)).resource == "%DB_USER"


def test_create_database_takes_only_a_database_resource_too(inst):
    d = "/usr/irissys/mgr/new/"
    assert call(inst, "%Library.File", "CreateDirectoryChain", d) == 1
    assert call(inst, "Security.Resources", "Create", "APP_RES", "", "") == 1
    assert str(call(inst, "SYS.Database", "CreateDatabase", d, 1, 8192, 0, "APP_RES")).startswith("0 ERROR #")
    assert not inst.fs.exists(d + "IRIS.DAT")
    assert call(inst, "SYS.Database", "CreateDatabase", d, 1, 8192, 0, "%db_user") == 1


def test_size_and_resource_change_together_or_not_at_all(inst):
    assert call(inst, "Security.Resources", "Create", "%DB_SHARED", "", "") == 1
    assert save(inst, Size=1, ResourceName="%DB_NONE").startswith("0 ERROR #")
    assert save(inst, Size=2, ResourceName="%DB_shared") == "1"
    label = datfile.read_label(dat(inst))
    assert (label.size_mb, label.resource, os.path.getsize(dat(inst))) == (2, "%DB_shared", 2 * MB)


def test_a_database_not_mounted_read_write_is_not_changed(inst):
    assert call(inst, "SYS.Database", "DismountDatabase", USER) == 1
    assert save(inst, Size=2).startswith("0 ERROR #")
    assert call(inst, "SYS.Database", "MountDatabase", USER, 1) == 1  # read-only
    assert save(inst, Size=2).startswith("0 ERROR #")
    assert os.path.getsize(dat(inst)) == 1 * MB
    assert call(inst, "SYS.Database", "DismountDatabase", USER) == 1
    assert call(inst, "SYS.Database", "MountDatabase", USER) == 1
    assert save(inst, Size=2) == "1"


def test_nothing_changes_while_the_write_daemon_is_suspended(inst):
    assert inst.freeze()
    try:
        assert save(inst, Size=2).startswith("0 ERROR #")
        assert os.path.getsize(dat(inst)) == 1 * MB
    finally:
        assert inst.thaw()
    assert save(inst, Size=2) == "1"


def test_an_expansion_the_file_system_refuses_leaves_the_database_as_it_was(inst):
    """The file size limit (`ulimit -f`) makes the kernel refuse the growth, as a full disk does."""
    before = dat(inst).read_bytes()
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 * MB, old[1]))
    try:
        status = save(inst, Size=3)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, previous)
    assert status.startswith("0 ERROR #") and "File too large" in status
    assert dat(inst).read_bytes() == before
    assert inst.check_integrity(USER) == []


def test_other_properties_cannot_be_set_on_a_database_object(inst):
    out = session(inst, 'Set db=##class(SYS.Database).%OpenId("' + USER + '")',
                  "Set db.Mounted=0", "Set db.MaxSize=10", "Set db.NoSuchProperty=1")
    assert "<CANNOT SET THIS PROPERTY> *Mounted,SYS.Database" in out  # ReadOnly in the reference
    assert "<UNIMPLEMENTED>" in out and "MaxSize" in out              # writable there, not simulated here
    assert "<PROPERTY DOES NOT EXIST> *NoSuchProperty,SYS.Database" in out


def test_a_directory_that_is_not_valid_is_an_error_status_everywhere(inst):
    for method in ("MountDatabase", "DismountDatabase", "DeleteDatabase", "CreateDatabase"):
        assert str(call(inst, "SYS.Database", method, "/../x/")).startswith("0 ERROR #5001: Invalid directory")
    assert call(inst, "SYS.Database", "%ExistsId", "/../x/") == 0
    assert call(inst, "SYS.Database", "%OpenId", "/../x/") == ""
