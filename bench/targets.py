"""The benchmark's targets (issues 12 and 24) and the ratios bench/run.py computes from its raw
figures: one set per storage, and the XFS headline figures of the issue from the XFS half."""

from __future__ import annotations

from measure import ratio

#: the targets (issues 12 and 24): ratio name -> (comparison, bound).  Every time is taken through
#: the engine, as a user of Docker Desktop or a remote engine gets it: the host-side read (root
#: and a local engine) is measured apart, under ``*_host_read`` keys, and has no target.
TARGETS = {
    "backup_over_archive_read": ("<=", 1.5),
    "backup_speedup_vs_docker_cp": (">=", 1.3),
    "window_over_container_cp": ("<=", 1.2),
    "restore_over_archive_write": ("<=", 1.5),
    "restore_fill_over_archive_write": ("<=", 2.3),
    "clone_over_container_cp": ("<=", 1.3),
    "small_clone_over_run": ("<=", 4.0),
    "validate_over_hash": ("<=", 1.15),
    "peak_rss_mib": ("<=", 80.0),
    "list_over_inv_version": ("<=", 1.3),
    "zstd_size_ratio": (">=", 10.0),
    "zstd_backup_over_plain": ("<=", 1.2),
    "zstd_restore_over_plain": ("<=", 1.2),
    # on XFS (issue 24): clones that share blocks cost next to nothing, whatever the size
    "xfs_clone_1g_s": ("<=", 0.5),
    "xfs_clone_4g_s": ("<=", 0.5),
    "xfs_clone_4g_over_1g": ("<=", 1.5),
    "xfs_restore_over_archive_write": ("<=", 1.2),
    "xfs_backup_over_archive_read": ("<=", 1.2),
    # issue 25: a backup on three targets at once, over the slowest of them alone (bench/fleet.py,
    # bench/results-fleet.json; bench/run.py does not take it)
    "fleet_over_slowest": ("<=", 1.3),
}


def ratios_of(raw: dict) -> dict:
    zstd = raw.get("zstd") or {}
    cp_total = (raw.get("docker_cp_method") or {}).get("total")
    write = raw["archive_write_seconds"]
    return {
        "backup_over_archive_read": ratio(raw["backup"]["wall"], raw["archive_read_seconds"]),
        "backup_speedup_vs_docker_cp": ratio(cp_total, raw["backup"]["wall"]),
        "window_over_container_cp": ratio(raw["backup"]["window"], raw["container_cp_seconds"]),
        "restore_over_archive_write": ratio(raw["restore"]["wall"], write),
        "restore_fill_over_archive_write": ratio(raw["restore_fill"]["wall"], write),
        "clone_over_container_cp": ratio(raw["clone"]["wall"], raw["container_cp_seconds"]),
        "small_clone_over_run": ratio(raw["small_clone"]["wall"], raw["startup"]["iris_ops_run"]),
        "validate_over_hash": ratio(raw["validate"]["wall"], raw["hash_seconds"]),
        "peak_rss_mib": max(raw[k]["peak_rss_mib"] for k in
                            ("backup", "backup_host_read", "restore", "restore_fill", "clone", "validate")),
        "list_over_inv_version": ratio(raw["startup"]["iris_ops_list"], raw["startup"]["inv_version"]),
        "zstd_size_ratio": ratio(zstd.get("plain_bytes"), zstd.get("zstd_bytes")),
        "zstd_backup_over_plain": ratio((zstd.get("backup") or {}).get("wall"), raw["typical_backup"]["wall"]),
        "zstd_restore_over_plain": ratio((zstd.get("restore") or {}).get("wall"), raw["typical_restore"]["wall"]),
        # the shortcut apart, for the record (no target)
        "backup_host_read_over_archive_read": ratio(raw["backup_host_read"]["wall"], raw["archive_read_seconds"]),
    }


def xfs_headlines(size_mib: int, xfs: dict, ratios: dict) -> dict:
    """The issue's XFS figures from the XFS half: clones in seconds, the rest as ratios."""
    clone_1g = xfs["clone"]["wall"] if size_mib == 1024 else None
    clone_4g = (xfs.get("clone_4g") or {}).get("wall")
    return {
        "xfs_clone_1g_s": clone_1g,
        "xfs_clone_4g_s": clone_4g,
        "xfs_clone_4g_over_1g": ratio(clone_4g, clone_1g),
        # the first restore, its cache fill included
        "xfs_restore_over_archive_write": ratios["restore_fill_over_archive_write"],
        "xfs_backup_over_archive_read": ratios["backup_over_archive_read"],
    }


def verdicts_of(ratios: dict) -> dict:
    verdicts = {}
    for name, (op, bound) in TARGETS.items():
        value = ratios.get(name)
        verdicts[name] = None if value is None else (value <= bound if op == "<=" else value >= bound)
    return verdicts
