"""The simulated IRIS.DAT: label layout, integrity, copies."""

from __future__ import annotations

import shutil
import struct

import pytest

from _instance_helpers import call, new_instance
from iris_ops_sim.irissim.instance import datfile


@pytest.fixture
def inst(tmp_path):
    return new_instance(tmp_path)


def _dat(inst, directory="/usr/irissys/mgr/user/"):
    return inst.fs.host_path(directory + "IRIS.DAT")


def test_label_matches_the_offline_plausibility_rules(inst):
    data = _dat(inst).read_bytes()
    assert len(data) % 8192 == 0 and len(data) >= 3 * 8192
    assert data[0x5F4:0x5FC] == b"Cache DB"
    (n,) = struct.unpack_from("<H", data, 0x5FC)
    assert data[0x5FE : 0x5FE + n] == b"/usr/irissys/mgr/user/"
    (n,) = struct.unpack_from("<H", data, 0x700)
    assert data[0x702 : 0x702 + n] == b"%DB_USER"
    assert data[0x2020:0x2028] == b"CacheMap"
    assert struct.unpack_from("<I", data, 0x4004)[0] == 9


def test_create_database_size_in_mb(tmp_path):
    path = tmp_path / "IRIS.DAT"
    datfile.create(path, "/x/", "%DB_X", size_mb=64)
    assert path.stat().st_size == 64 * 1024 * 1024
    assert datfile.check(path) == []


def test_a_filled_database_is_full_and_sound(inst):
    inst.create_database("FULL", size_mb=4, fill=True)
    inst.sql("USER", "SELECT 1")  # the instance still answers
    path = inst.fs.host_path("/usr/irissys/mgr/full/IRIS.DAT")
    data = path.read_bytes()
    assert len(data) == 4 * 1024 * 1024
    assert data[-8192:].count(0) < 200  # random bytes to the very end, not zero padding
    assert inst.check_integrity("/usr/irissys/mgr/full/") == []
    inst.create_namespace("FULLNS", "FULL")
    inst.sql("FULLNS", "CREATE TABLE T (C INT)")  # the image grows over the filled blocks
    inst.sql("FULLNS", "INSERT INTO T (C) VALUES (7)")
    assert inst.sql("FULLNS", "SELECT C FROM T").rows == [(7,)]
    assert inst.check_integrity("/usr/irissys/mgr/full/") == []


def _copy_with_rows(inst, tmp_path):
    inst.sql("USER", "CREATE TABLE Person (Name VARCHAR(20), Age INT)")
    for i in range(50):
        inst.sql("USER", f"INSERT INTO Person (Name, Age) VALUES ('p{i}', {i})")
    inst.create_database("COPY")
    dst = inst.fs.host_path("/usr/irissys/mgr/copy/IRIS.DAT")
    dst.unlink()
    shutil.copyfile(_dat(inst), dst)
    return dst


def test_copied_dat_mounted_elsewhere_returns_the_same_rows(inst, tmp_path):
    _copy_with_rows(inst, tmp_path)
    assert call(inst, "SYS.Database", "DismountDatabase", "/usr/irissys/mgr/copy/") == 1
    assert call(inst, "SYS.Database", "MountDatabase", "/usr/irissys/mgr/copy/") == 1
    inst.create_namespace("COPYNS", "COPY")
    want = inst.sql("USER", "SELECT Name, Age FROM Person ORDER BY Age").rows
    got = inst.sql("COPYNS", "SELECT Name, Age FROM Person ORDER BY Age").rows
    assert got == want and len(got) == 50
    assert inst.sql("COPYNS", 'SELECT COUNT(*) FROM "SQLUser"."Person"').rows == [(50,)]


def test_a_flipped_byte_in_a_copy_fails_the_integrity_check(inst, tmp_path):
    dst = _copy_with_rows(inst, tmp_path)
    assert inst.check_integrity("/usr/irissys/mgr/copy/") == []
    lab = datfile.read_label(dst)
    for offset in (0x10, 0x5FE, datfile.CRC_TABLE_OFFSET + 1, datfile.IMAGE_OFFSET + lab.image_length - 100):
        data = bytearray(dst.read_bytes())
        data[offset] ^= 0x01
        flipped = tmp_path / f"flip{offset}.DAT"
        flipped.write_bytes(bytes(data))
        assert datfile.check(flipped), f"flip at {offset:#x} went unnoticed"


def test_truncation_and_appended_bytes_fail_the_mount(inst, tmp_path):
    dst = _copy_with_rows(inst, tmp_path)
    call(inst, "SYS.Database", "DismountDatabase", "/usr/irissys/mgr/copy/")
    data = dst.read_bytes()
    dst.write_bytes(data[:-8192])
    sc = call(inst, "SYS.Database", "MountDatabase", "/usr/irissys/mgr/copy/")
    assert sc != 1 and str(sc).startswith("0 ")
    dst.write_bytes(data + b"\x00")
    assert call(inst, "SYS.Database", "MountDatabase", "/usr/irissys/mgr/copy/") != 1
    dst.write_bytes(data)
    assert call(inst, "SYS.Database", "MountDatabase", "/usr/irissys/mgr/copy/") == 1


def test_writes_land_in_the_file_in_place(inst):
    path = _dat(inst)
    ino = path.stat().st_ino
    inst.sql("USER", "CREATE TABLE T (x INT)")
    inst.sql("USER", "INSERT INTO T VALUES (1)")
    assert path.stat().st_ino == ino
    assert datfile.read_label(path).generation >= 3
