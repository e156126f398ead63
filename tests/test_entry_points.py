"""The entry-point scan of iris_ops.manager (read without importing importlib.metadata): it finds
what importlib.metadata finds, in the same order, and loads ``module:attr [extra]`` values."""

from __future__ import annotations

import importlib.metadata
import sys

from iris_ops import manager


def test_the_scan_finds_what_importlib_metadata_finds(tmp_path, monkeypatch):
    first = tmp_path / "a"
    second = tmp_path / "b"
    for root, version, value in ((first, "1.0", "json:dumps"), (second, "2.0", "json:loads")):
        dist = root / f"iris_ops_demo-{version}.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: iris-ops-demo\nVersion: {version}\n")
        (dist / "entry_points.txt").write_text(
            "[console_scripts]\ndemo = json:dumps\n\n[iris_ops]\n# a comment\ndemo = " + value + "\n"
            "other = os.path:join [extra]\n")
    monkeypatch.setattr(sys, "path", [str(first), str(second), *sys.path])
    manager.entry_points.cache_clear()
    try:
        ours = {ep.name: ep for ep in manager.entry_points()}
        theirs = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="iris_ops")}
        assert {name: ep.value for name, ep in ours.items()} == theirs  # the first distribution wins
        import json
        import os

        assert ours["demo"].load() is json.dumps
        assert ours["other"].load() is os.path.join
        assert ours["demo"].distribution() == ("iris-ops-demo", "1.0")
    finally:
        manager.entry_points.cache_clear()
