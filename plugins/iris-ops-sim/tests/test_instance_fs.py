"""ContainerFS: path mapping, escape refusal, owners and permission checks."""

from __future__ import annotations

import os

import pytest

from iris_ops_sim.irissim.instance.fs import USERS, ContainerFS, ContainerPathError

IRISOWNER = USERS["irisowner"]


@pytest.fixture
def fs(tmp_path):
    return ContainerFS(tmp_path / "rootfs", tmp_path / "fsmeta.json")


def test_host_path_maps_under_rootfs(fs, tmp_path):
    assert fs.host_path("/usr/irissys/mgr/x") == tmp_path.resolve() / "rootfs/usr/irissys/mgr/x"


@pytest.mark.parametrize("bad", ["/../etc", "/a/../../b", "relative/path"])
def test_escapes_are_refused(fs, bad):
    with pytest.raises(ContainerPathError):
        fs.host_path(bad)


def test_symlinks_resolve_inside_the_container(fs, tmp_path):
    (tmp_path / "rootfs/data").mkdir()
    os.symlink("/data", tmp_path / "rootfs/link")  # absolute target: the container's /data
    assert fs.host_path("/link/f") == tmp_path.resolve() / "rootfs/data/f"
    os.symlink(str(tmp_path), tmp_path / "rootfs/out")  # points at the host dir: still under rootfs
    assert str(fs.host_path("/out/x")).startswith(str((tmp_path / "rootfs").resolve()))
    os.symlink("../../..", tmp_path / "rootfs/data/up")
    with pytest.raises(ContainerPathError):
        fs.host_path("/data/up/x")


def test_passwd_names_irisowner(fs):
    assert fs.lookup_user("irisowner") == IRISOWNER


def test_owner_defaults_to_root_and_chown_is_recorded(fs):
    fs.host_path("/f").write_text("x")
    assert fs.owner("/f") == (0, 0)
    fs.chown("/f", *IRISOWNER)
    assert fs.owner("/f") == IRISOWNER
    fs.forget("/")
    assert fs.owner("/f") == (0, 0)


def test_permissions_follow_mode_bits_and_owner(fs):
    host = fs.host_path("/f")
    host.write_text("x")
    fs.chmod("/f", 0o644)
    uid = IRISOWNER[0]
    assert fs.can_read("/f", uid) and not fs.can_write("/f", uid)
    assert fs.can_write("/f", 0)
    fs.chown("/f", *IRISOWNER)
    assert fs.can_write("/f", uid)
    fs.chmod("/f", 0o000)
    assert not fs.can_read("/f", uid) and fs.can_read("/f", 0)


def test_search_permission_on_ancestors_is_required(fs):
    fs.host_path("/d").mkdir()
    fs.host_path("/d/f").write_text("x")
    fs.chmod("/d/f", 0o666)
    fs.chmod("/d", 0o700)  # root-owned, no x for others
    assert not fs.can_read("/d/f", IRISOWNER[0])
    assert not fs.can_write("/d/new", IRISOWNER[0])
