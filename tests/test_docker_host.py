"""Where iris_ops.transports.docker_host looks for a container's path on this host (no engine
needed): the longest mount whose destination holds the path, else the overlay's merged
directory; and Go's RFC 3339 times as the engine's stat writes them."""

from __future__ import annotations

from iris_ops.transports.docker_host import _candidate, _mtime_seconds

INFO = {
    "Mounts": [
        {"Type": "volume", "Source": "/var/lib/docker/volumes/durable/_data", "Destination": "/durable"},
        {"Type": "bind", "Source": "/home/me/db", "Destination": "/durable/mgr/app"},
    ],
    "GraphDriver": {"Name": "overlay2", "Data": {"MergedDir": "/var/lib/docker/overlay2/abc/merged"}},
}


def test_the_longest_mount_holding_the_path_wins():
    assert _candidate(INFO, "/durable/mgr/app/IRIS.DAT") == ("/home/me/db/IRIS.DAT", "/home/me/db")
    assert _candidate(INFO, "/durable/mgr/user/IRIS.DAT") == (
        "/var/lib/docker/volumes/durable/_data/mgr/user/IRIS.DAT", "/var/lib/docker/volumes/durable/_data")


def test_a_path_beside_a_mount_is_not_under_it():
    assert _candidate(INFO, "/durable2/IRIS.DAT") == (
        "/var/lib/docker/overlay2/abc/merged/durable2/IRIS.DAT", "/var/lib/docker/overlay2/abc/merged")


def test_no_mount_and_no_overlay_means_no_host_path():
    assert _candidate({"Mounts": [], "GraphDriver": {"Name": "vfs", "Data": {}}}, "/usr/irissys/mgr/user/IRIS.DAT") is None
    assert _candidate({}, "/x") is None


def test_go_times_to_whole_seconds():
    assert _mtime_seconds("1970-01-01T00:00:10.123456789Z") == 10
    assert _mtime_seconds("1970-01-01T01:00:10+01:00") == 10
    assert _mtime_seconds("1970-01-01T00:00:10Z") == 10
    assert _mtime_seconds("yesterday") is None
