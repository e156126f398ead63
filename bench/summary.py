"""The table bench/run.py prints at the end of a run: every figure, then the ratios and targets."""

from __future__ import annotations

from measure import RUNS


def print_table(result: dict) -> None:
    """The figures of each storage the run measured, then every ratio with its target."""
    m = result["machine"]
    halves = result.get("storage") or {"plain": {"raw": result["raw"], "filesystem": "?"}}
    engine = next(iter(halves.values()))["raw"]["engine"]
    print(f"\niris-ops benchmark, {result['size_mib']} MiB, {result['date']}; {m['nproc']} cores, {m['memory']}, "
          f"kernel {m['kernel']}, Docker {engine['version']} ({engine['storage_driver']})")
    for name, half in halves.items():
        print(f"\n== {name} storage: the instance's data on {half['filesystem']}")
        print_figures(half["raw"], result["size_mib"])
    print_ratios(result)


def print_figures(raw: dict, size: int) -> None:
    spreads = {"hash_seconds": raw.get("hash_spread"), "archive_read_seconds": raw.get("archive_read_spread"),
               "archive_write_seconds": raw.get("archive_write_spread"),
               "container_cp_seconds": raw.get("container_cp_spread")}

    def fig(key: str, field: str = "wall"):
        """(median, min, max) of a figure: a run dict's ``field`` or a ``*_seconds`` key."""
        if key in spreads:
            sp = spreads[key] or {}
            return raw.get(key), sp.get("min"), sp.get("max")
        run = raw.get(key) or {}
        return run.get(field), run.get(f"{field}_min"), run.get(f"{field}_max")

    def one(value):
        return value, None, None

    zstd = raw.get("zstd") or {}
    rows = [
        ("sha256 on the host", fig("hash_seconds"), size),
        ("raw archive read", fig("archive_read_seconds"), size),
        ("raw archive write", fig("archive_write_seconds"), size),
        ("in-container cp (a new file)", fig("container_cp_seconds"), size),
        ("docker exec round trip", one(raw["exec_round_trip_seconds"]), None),
        ("docker-cp method, same hash (total)", fig("docker_cp_method", "total"), size),
        ("  its sha256sum, apart", one((raw.get("docker_cp_method") or {}).get("sha256sum_apart")), size),
        ("backup (through the engine)", fig("backup"), size),
        ("  frozen window", one(raw["backup"]["window"]), None),
        ("backup, host-side read (root, local engine)", fig("backup_host_read"), size),
        ("validate (offline)", one(raw["validate"]["wall"]), size),
        ("restore --no-cache", fig("restore"), size),
        ("first restore, cache fill included", fig("restore_fill"), size),
        ("clone (alternated with the cp)", fig("clone"), size),
        ("  its fixture check: hashing (in a thread)", one((raw["clone"].get("fixture_check") or {}).get("seconds")), size),
        ("  its fixture check: waited for it", one((raw["clone"].get("fixture_check") or {}).get("waited")), None),
        ("small (8 MiB) clone", one(raw["small_clone"]["wall"]), None),
        ("typical backup", one(raw["typical_backup"]["wall"]), None),
        ("typical backup --compress", one((zstd.get("backup") or {}).get("wall")), None),
        ("typical restore", one(raw["typical_restore"]["wall"]), None),
        ("typical restore (zstd)", one((zstd.get("restore") or {}).get("wall")), None),
        ("typical validate (zstd)", one((zstd.get("validate") or {}).get("wall")), None),
        ("iris-ops --list", one(raw["startup"]["iris_ops_list"]), None),
        ("inv --version", one(raw["startup"]["inv_version"]), None),
        ("iris-ops run 'Write 1'", one(raw["startup"]["iris_ops_run"]), None),
    ]
    print(f"\n{'measure':44} {'seconds':>9} {'MiB/s':>8}  range of {RUNS} runs")
    for label, (seconds, low, high), mib in rows:
        if seconds is None:
            print(f"{label:44} {'-':>9}")
            continue
        rate = f"{mib / seconds:8.0f}" if mib and seconds else " " * 8
        rng = f"  {low:.3f}-{high:.3f}" if low is not None and high is not None else ""
        print(f"{label:44} {seconds:9.3f} {rate}{rng}")
    if raw.get("clone_4g"):
        print(f"{'clone of a 4 GiB database':44} {raw['clone_4g']['wall']:9.3f}")
    print(f"peak client RSS (MiB): backup {raw['backup']['peak_rss_mib']}, restore {raw['restore']['peak_rss_mib']}, "
          f"validate {raw['validate']['peak_rss_mib']}")


def print_ratios(result: dict) -> None:
    halves = result.get("storage") or {}
    ratios = result["ratios"]
    if "xfs" in halves:  # the XFS half's own ratios, beside plain storage's
        print(f"\n{'ratio':34} {'xfs':>8}")
        for name, value in halves["xfs"]["ratios"].items():
            print(f"{name:34} {'-' if value is None else f'{value:.2f}':>8}")
    print(f"\n{'ratio':34} {'value':>8} {'target':>8}  met")
    for name, value in ratios.items():
        met = result["met"].get(name)
        shown = "-" if value is None else f"{value:.2f}"
        target = result["targets"].get(name, "")
        print(f"{name:34} {shown:>8} {target:>8}  {'-' if met is None else ('yes' if met else 'NO')}")
    for what, why in result["missing"].items():
        print(f"missing: {what}: {why}")

