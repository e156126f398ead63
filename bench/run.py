"""The iris-ops benchmark: every byte path against the real engine's limits, in one run.

    .venv/bin/python bench/run.py                 # 1 GiB, plain storage and XFS (about 15 minutes)
    .venv/bin/python bench/run.py --quick         # 128 MiB, fewer repeats (a few minutes)
    .venv/bin/python bench/run.py --size 4G --json bench/results-4g.json
    .venv/bin/python bench/run.py --storage plain # without the XFS half (no root or xfsprogs needed)

It uses the suite's test bed: a reachable Docker engine or a private dockerd
(:func:`iris_ops_sim.dockerd.engine`), the ``iris-ops-sim`` image built from this checkout,
and one container of it.  In that container it creates three databases:

* ``BIG``: ``--size`` bytes, filled end to end (``iris-sim create-db --fill``), for throughput;
* ``TYP``: a "typical" test database, mostly empty blocks and a few tables of rows, for
  compression;
* ``SMALL``: 8 MiB with a table of rows, for the cost of a small clone.

Then it measures, on the same files, through the engine (``IRIS_OPS_HOST_READ=0``), as a user
of Docker Desktop or of a remote engine gets it:

* the limits: a sha256 pass on the host, a raw archive read and write, an in-container ``cp``,
  one exec round trip;
* what a Makefile does today through the ``docker`` CLI (``exec cp``, ``docker cp`` out, a hash,
  ``rm``), hashed with the same hash as ours so that only the copies are compared (coreutils'
  ``sha256sum`` is timed apart);
* ``iris-ops backup`` (wall, frozen window, client peak RSS), ``validate``, ``restore --no-cache``,
  a first restore that fills the fixture cache, and clones (restores the cache serves),
  alternated with in-container copies;
* the backup with the host-side read (root and a local engine) apart, under ``*_host_read``;
* small and typical databases, zstd on the typical fixture, start-up times.

Each headline figure is the median of three runs, with their min and max.

Every figure but start-up is taken twice (``--storage both``, the default): once with the
instance's data on the container's own filesystem (plain storage: overlay2 on this host), and once
with it on an XFS filesystem that shares blocks (``mkfs.xfs -m reflink=1`` in a loop file, bound
into the container as ``--data-dir``, removed at the end; root and Debian's ``xfsprogs``), where
the backup's staging copy, the cache fill and every clone are reflinks. On XFS a 1 GiB run also
clones a 4 GiB database (``clone_4g``), for the ratio of the two clones. The JSON keeps both halves
under ``storage`` (each with the filesystem it measured); its top-level ``raw`` and ``ratios`` are
plain storage's, with the XFS headline figures (``xfs_*``) among the ratios. It prints a table with
the targets of issues 12 and 24 per storage. Figures it cannot take (a feature not built yet) are
``null`` and say why under ``missing``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from summary import print_table  # noqa: E402  (bench/summary.py: the table it prints)
from targets import TARGETS, ratios_of, verdicts_of, xfs_headlines  # noqa: E402  (bench/targets.py)
from measure import (  # noqa: E402  (bench/measure.py: how the benchmark measures)
    CHUNK,
    MIB,
    RUNS,
    machine,
    median_run,
    medians_alternated,
    parse_size,
    run_cli,
    run_measured,
    sessions,
    settle,
    sha256_file,
    spread,
    timed,
)

from iris_ops import tarstream  # noqa: E402
from iris_ops_sim import dockerd, image, simcontainer  # noqa: E402
from iris_ops.transports import docker_exec, docker_files  # noqa: E402

BIN = Path(sys.executable).parent

class Bench:
    def __init__(self, args: argparse.Namespace, eng: dockerd.Engine, sc: simcontainer.SimContainer, work: Path):
        self.args = args
        self.sc = sc
        self.api = docker_exec.connect(eng.url, timeout=600)
        # Every figure goes through the engine (IRIS_OPS_HOST_READ=0) unless it says otherwise.
        # The per-user record of checked fixture files (iris_ops.checked) lives in the work
        # directory, so that a run leaves nothing in the home directory.
        self.env = dict(os.environ, **sc.env, IRIS_OPS_LOG_LEVEL="debug", IRIS_OPS_LOG_FORMAT="json",
                        IRIS_OPS_HOST_READ="0", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                        XDG_CACHE_HOME=str(work / "cache"))
        self.env.pop("IRIS_OPS_FIXTURES_DIR", None)
        self.work = work
        self.raw: dict[str, object] = {}
        self.missing: dict[str, str] = {}

    # -- the instance ---------------------------------------------------------------------
    def exec(self, argv: list[str], user: str = "root") -> bytes:
        result = docker_exec.exec_command(self.api, self.sc.name, argv, user=user, deadline=time.monotonic() + 3600)
        if result.exit_code != 0:
            raise RuntimeError(f"{argv}: {result.stderr.decode(errors='replace')}")
        return result.stdout

    def sql(self, ns: str, statement: str) -> None:
        self.sc.instance.sql(ns, statement)

    def seed(self) -> dict[str, str]:
        ctl = self.sc.instance
        size = self.args.size_mib
        began = time.perf_counter()
        dirs = {"BIG": ctl.create_database("BIG", size_mb=size, namespace="BIG", fill=True)}
        self.sql("BIG", "CREATE TABLE Marker (Name VARCHAR(20))")
        self.sql("BIG", "INSERT INTO Marker (Name) VALUES ('big')")
        dirs["TYP"] = ctl.create_database("TYP", size_mb=self.args.typical_mib, namespace="TYP")
        for t in range(3):
            self.sql("TYP", f"CREATE TABLE Item{t} (Id INT, Name VARCHAR(40), Price DOUBLE, Note VARCHAR(80))")
            for batch in range(self.args.typical_batches):
                values = ", ".join(
                    f"({batch * 500 + i}, 'item-{t}-{batch * 500 + i}', {i * 1.25}, 'note {i % 17} for table {t}')"
                    for i in range(500)
                )
                self.sql("TYP", f"INSERT INTO Item{t} (Id, Name, Price, Note) VALUES {values}")
        dirs["SMALL"] = ctl.create_database("SMALL", size_mb=8, namespace="SMALL")
        self.sql("SMALL", "CREATE TABLE Person (Name VARCHAR(20), Age INT)")
        self.sql("SMALL", "INSERT INTO Person (Name, Age) VALUES " + ", ".join(f"('p{i}', {i % 90})" for i in range(200)))
        self.raw["seed_seconds"] = round(time.perf_counter() - began, 2)
        return dirs

    # -- limits ---------------------------------------------------------------------------
    def archive_read(self, path: str) -> float:
        response = docker_files._open_archive(self.api, self.sc.name, path, time.monotonic() + 3600, "bench read")
        settle()
        began = time.perf_counter()
        try:
            for _ in response.raw.stream(CHUNK, decode_content=False):
                pass
        finally:
            response.close()
        return time.perf_counter() - began

    def archive_write(self, host_file: Path, size: int) -> float:
        self.exec(["mkdir", "-p", "/tmp/bench-w"])
        with open(host_file, "rb") as src:
            body = tarstream.single_file_tar("IRIS.DAT", size, 0o660, 0, 0, time.time(), src, CHUNK)
            settle()
            began = time.perf_counter()
            self.api.put_archive(self.sc.name, "/tmp/bench-w", body)
            seconds = time.perf_counter() - began
        self.exec(["rm", "-rf", "/tmp/bench-w"])
        return seconds

    def container_cp(self, path: str, name: str) -> float:
        """One in-container ``cp`` of ``path`` to a new file that stays (as a clone's copy and a
        backup's staged copy do): the caller removes it at the end.  Why it must stay: on this
        kind of VM a copy into the space a just-deleted copy of the same size left took 0.4-0.5 s,
        and a copy into fresh space 3.5-4.5 s (both into the page cache; docs/PERFORMANCE.md), so
        a baseline that deletes each copy before the next compares a state no operation meets."""
        seconds, _ = timed(self.exec, ["cp", path, name])
        return round(seconds, 3)

    def container_cp_into_freed_space(self, path: str, samples: int = 3) -> list[float]:
        """For the record: copies each deleted before the next (what the baseline must not be)."""
        times = []
        for _ in range(samples):
            seconds, _ = timed(self.exec, ["cp", path, "/tmp/bench-cp-freed.DAT"])
            self.exec(["rm", "-f", "/tmp/bench-cp-freed.DAT"])
            times.append(round(seconds, 3))
        return times

    def exec_round_trip(self) -> float:
        times = [timed(self.exec, ["true"])[0] for _ in range(10)]
        return statistics.median(times)

    def docker_cp_method(self, path: str) -> dict:
        """What a Makefile does today, through the real docker CLI: ``exec cp``, ``docker cp``
        out, a hash, ``rm``.  The hash is Python's hashlib in this process, the same hash at the
        same speed as iris-ops' own, so that the comparison is of the copies alone; coreutils'
        ``sha256sum`` (five times slower on this machine) is timed on the same file apart."""
        docker = shutil.which("docker")
        if docker is None:
            self.missing["docker_cp_method"] = "no docker CLI on PATH"
            return {}
        out = self.work / "docker-cp.DAT"
        env = self.env
        settle()
        began = time.perf_counter()
        steps = {}
        steps["exec_cp"] = round(run_cli([docker, "exec", self.sc.name, "cp", path, "/tmp/x.DAT"], env)[0], 3)
        steps["docker_cp_out"] = round(run_cli([docker, "cp", f"{self.sc.name}:/tmp/x.DAT", str(out)], env)[0], 3)
        hash_began = time.perf_counter()
        sha256_file(out)
        steps["hash"] = round(time.perf_counter() - hash_began, 3)
        steps["rm"] = round(run_cli([docker, "exec", self.sc.name, "rm", "-f", "/tmp/x.DAT"], env)[0], 3)
        steps["total"] = round(time.perf_counter() - began, 3)
        steps["sha256sum_apart"] = round(run_cli(["sha256sum", str(out)], env)[0], 3)
        out.unlink()
        return steps

    def delete_ns(self, *namespaces: str) -> None:
        """Untimed: the namespaces a measure made, so that the disk does not fill at 4 GiB."""
        for ns in namespaces:
            run_cli([str(BIN / "iris-ops"), "delete-ns", "--ns", ns, "--yes"], self.env)

    def empty_cache(self) -> None:
        """Untimed: the next restore is a first one again, and fills the cache."""
        run_cli([str(BIN / "iris-ops"), "cache", "prune", "--all"], self.env)

    # -- iris-ops ---------------------------------------------------------------------------
    def iris_ops(self, *argv: str, env: dict | None = None) -> tuple[float, float, str, str]:
        return run_measured([str(BIN / "iris-ops"), *argv], {**self.env, **(env or {})})

    def backup(self, ns: str, out: Path, *extra: str, env: dict | None = None) -> dict:
        wall, rss, _, err = self.iris_ops("backup", "--ns", ns, "--out", str(out), "--force", "--yes", *extra, env=env)
        manifest = json.loads((out / "manifest.json").read_text())
        window = (manifest.get("consistency") or {}).get("window_seconds")
        size = sum(int(db.get("bytes") or 0) for db in manifest.get("databases", []))
        return {"wall": round(wall, 3), "window": window, "peak_rss_mib": round(rss, 1),
                "mib_per_s": round(size / MIB / wall, 1), "bytes": size, "sessions": sessions(err)}

    def fixture_dat(self, fixture: Path) -> Path:
        manifest = json.loads((fixture / "manifest.json").read_text())
        return fixture / manifest["databases"][0]["file"]

    def restore(self, fixture: Path, ns: str, *extra: str) -> dict:
        wall, rss, _, err = self.iris_ops("restore", "--src", str(fixture), "--ns", ns, *extra)
        figures = {"wall": round(wall, 3), "peak_rss_mib": round(rss, 1), "sessions": sessions(err)}
        # A clone hashes the fixture's file while the instance copies the cached one: how long
        # that took, and how long the restore waited for it once the instance was done.
        checked = [json.loads(line) for line in err.splitlines() if '"restore.fixture_checked"' in line]
        if checked:
            figures["fixture_check"] = {k: checked[-1][k] for k in ("seconds", "waited")}
        return figures

    def validate(self, fixture: Path) -> dict:
        wall, rss, _, _ = self.iris_ops("validate", "--src", str(fixture))
        return {"wall": round(wall, 3), "peak_rss_mib": round(rss, 1)}

    # -- compression ------------------------------------------------------------------------
    def zstd(self) -> dict:
        """``backup --compress`` of the typical database and a restore of that fixture: the stored
        size comes from the fixture itself (the manifest's ``compressed`` entries)."""
        figures: dict[str, object] = {}
        try:
            import zstandard  # noqa: F401 - the fixture's extra; backup --compress needs it
        except ImportError:
            self.missing["zstd"] = "the zstandard package is not installed (pip install '.[bench]')"
            return figures
        if not self.args.compress_supported:
            self.missing["zstd"] = "this iris-ops has no backup --compress"
            return figures
        out = self.work / "fx-typ-zstd"
        figures["backup"] = self.backup("TYP", out, "--compress")
        manifest = json.loads((out / "manifest.json").read_text())
        figures["plain_bytes"] = sum(int(db["bytes"]) for db in manifest["databases"])
        figures["zstd_bytes"] = sum(int((db.get("compressed") or {}).get("bytes") or 0) for db in manifest["databases"])
        figures["fixture_bytes"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        figures["validate"] = self.validate(out)
        figures["restore"] = self.restore(out, "TYPZ")
        return figures


@contextlib.contextmanager
def bench_container(prefix: str, data_dir: Path | None = None):
    """A work directory, the engine (reachable, or a private dockerd), the ``iris-ops-sim`` image
    built from this checkout and one container of it (its data in ``data_dir`` when given), all
    removed at the end."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, dockerd.engine() as eng:
        client = eng.client(timeout=600)
        ref = image.ensure_image(client, lock_dir=eng.lock_dir)
        sc = simcontainer.run_container(client, eng.url, ref, f"iris-ops-bench-{uuid.uuid4().hex[:8]}",
                                        data_dir=data_dir)
        try:
            yield Path(tmp), eng, client, sc
        finally:
            sc.remove()


def compress_supported() -> bool:
    out = subprocess.run([str(BIN / "iris-ops"), "backup", "--help"], capture_output=True, text=True)
    return "--compress" in out.stdout


def keep(raw: dict, name: str, samples: list[float]) -> None:
    """``<name>_seconds`` (the median) and ``<name>_spread`` (min, max, every sample)."""
    raw[f"{name}_spread"] = spread(samples)
    raw[f"{name}_seconds"] = raw[f"{name}_spread"]["seconds"]


def measure_big(b: Bench, big_dat: str, size: int, work: Path) -> None:
    """The headline figures on the filled database, each the median of ``RUNS`` runs with their
    min and max, through the engine; the host-side read apart."""
    raw = b.raw
    # backups first: the fixture's file is the host copy every other limit reads
    fx_big = work / "fx-big"
    backups = [b.backup("BIG", fx_big)]
    for k in range(1, RUNS):
        backups.append(b.backup("BIG", work / f"fx-big-{k}"))
        shutil.rmtree(work / f"fx-big-{k}")
    raw["backup"] = median_run(backups)
    # The shortcut of a local engine and a process that may read its data root (root): apart.
    host_reads = []
    for k in range(RUNS):
        host_reads.append(b.backup("BIG", work / "fx-big-host", env={"IRIS_OPS_HOST_READ": "1"}))
        shutil.rmtree(work / "fx-big-host")
    raw["backup_host_read"] = median_run(host_reads)
    host_dat = b.fixture_dat(fx_big)
    keep(raw, "hash", [timed(sha256_file, host_dat)[0] for _ in range(RUNS)])
    keep(raw, "archive_read", [b.archive_read(big_dat) for _ in range(RUNS)])
    keep(raw, "archive_write", [b.archive_write(host_dat, size) for _ in range(RUNS)])
    raw["exec_round_trip_seconds"] = round(b.exec_round_trip(), 4)
    cp_runs = [b.docker_cp_method(big_dat) for _ in range(RUNS)]
    raw["docker_cp_method"] = median_run(cp_runs, "total") if all(cp_runs) else {}
    raw["validate"] = b.validate(fx_big)
    # Restores that neither read nor fill the cache, then first restores that fill it (the
    # cache emptied before each): each into a namespace deleted after it, untimed.
    plain, fills = [], []
    for k in range(RUNS):
        plain.append(b.restore(fx_big, f"NC{k}", "--no-cache"))
        b.delete_ns(f"NC{k}")
    for k in range(RUNS):
        b.empty_cache()
        fills.append(b.restore(fx_big, f"F{k}"))
        if k < RUNS - 1:
            b.delete_ns(f"F{k}")
    raw["restore"] = median_run(plain)
    raw["restore_fill"] = median_run(fills)
    # The in-container cp and the clone, alternated (cp, clone, cp, clone, cp, clone), each
    # writing a new file that stays until all six are done: the same conditions for both.
    copies, clones = [], []
    for k in range(RUNS):
        copies.append(b.container_cp(big_dat, f"/tmp/bench-cp-{k}.DAT"))
        clones.append(b.restore(fx_big, f"R{k}"))
    b.exec(["rm", "-f", *(f"/tmp/bench-cp-{k}.DAT" for k in range(RUNS))])
    b.delete_ns(f"F{RUNS - 1}", *(f"R{k}" for k in range(RUNS)))
    keep(raw, "container_cp", copies)
    raw["clone"] = median_run(clones)
    raw["container_cp_into_freed_space_samples"] = b.container_cp_into_freed_space(big_dat)


def measure_clone_at(b: Bench, size_mib: int, work: Path) -> dict:
    """A clone of a ``size_mib`` database (the median of ``RUNS``): seeded, backed up, restored
    once (which fills the cache), then cloned; everything it made removed, untimed."""
    ns = f"C{size_mib}"
    b.sc.instance.create_database(ns, size_mb=size_mib, namespace=ns, fill=True)
    os.sync()
    fixture = work / f"fx-{ns}"
    b.backup(ns, fixture)
    b.restore(fixture, f"{ns}F")
    clones = [b.restore(fixture, f"{ns}R{k}") for k in range(RUNS)]
    b.delete_ns(f"{ns}F", *(f"{ns}R{k}" for k in range(RUNS)), ns)
    b.empty_cache()
    shutil.rmtree(fixture)
    return median_run(clones)


def filesystem(b: Bench) -> str:
    """The filesystem under the instance's manager directory, as the container sees it."""
    lines = b.exec(["df", "-T", b.sc.instance.manager_directory()]).decode(errors="replace").split("\n")
    return " ".join(lines[1].split()[:2]) if len(lines) > 1 else "unknown"


def measure_startup(b: Bench, work: Path) -> dict:
    """The medians of ``iris-ops --list``, ``inv --version`` and ``iris-ops run``.

    Start-up is measured as an installed copy runs: with its modules' bytecode cached (pip
    compiles it at install).  A checkout run with PYTHONDONTWRITEBYTECODE=1 compiles every
    iris-ops module on every start instead, and inv's own (installed) modules would not be: the
    comparison would be unfair.  One warm-up run each fills a private cache."""
    n = b.args.repeats
    quiet = dict(b.env, IRIS_OPS_LOG_LEVEL="warning", PYTHONPYCACHEPREFIX=str(work / "pycache"))
    quiet.pop("PYTHONDONTWRITEBYTECODE", None)
    for warm in (["iris-ops", "--list"], ["inv", "--version"], ["iris-ops", "run", "--ns", "%SYS", "Write 1"]):
        run_cli([str(BIN / warm[0]), *warm[1:]], quiet)
    startup = medians_alternated(n, {
        "iris_ops_list": [str(BIN / "iris-ops"), "--list"],
        "inv_version": [str(BIN / "inv"), "--version"],
        "iris_ops_run": [str(BIN / "iris-ops"), "run", "--ns", "%SYS", "Write 1"],
    }, quiet)
    return {**{k: round(v, 4) for k, v in startup.items()}, "runs": n, "bytecode": "cached"}


def measure_storage(args: argparse.Namespace, data_dir: Path | None,
                    startup: dict | None = None) -> tuple[dict, dict]:
    """Every figure with the instance's data in ``data_dir`` (None: the container's own
    filesystem): (raw figures, missing figures).  ``startup``: the start-up figures of an earlier
    half, taken again when None."""
    with bench_container("iris-ops-bench-", data_dir) as (work, eng, client, sc):
        b = Bench(args, eng, sc, work)
        dirs = b.seed()
        # What seeding wrote must not be billed to the first measure (the backup's staged copy
        # queued behind it: docs/PERFORMANCE.md).
        os.sync()
        big_dat = dirs["BIG"] + "IRIS.DAT"
        size = args.size_mib * MIB
        raw = b.raw
        engine_info = client.version()
        raw["engine"] = {"version": engine_info.get("Version"), "api": engine_info.get("ApiVersion"),
                         "storage_driver": client.info().get("Driver"), "private": eng.private is not None}
        raw["filesystem"] = filesystem(b)

        measure_big(b, big_dat, size, work)
        fx_small = work / "fx-small"
        raw["small_backup"] = b.backup("SMALL", fx_small)
        raw["small_restore"] = b.restore(fx_small, "S1")
        raw["small_clone"] = b.restore(fx_small, "S2")

        fx_typ = work / "fx-typ"
        raw["typical_backup"] = b.backup("TYP", fx_typ)
        raw["typical_restore"] = b.restore(fx_typ, "TYPR")
        raw["zstd"] = b.zstd()

        # storage plays no part in start-up: measured in the first half only, shared by the next
        raw["startup"] = startup or measure_startup(b, work)
        if data_dir is not None and args.size_mib == 1024:
            raw["clone_4g"] = measure_clone_at(b, 4096, work)
    return raw, b.missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="size of the filled database: 256M, 1G, 4G (default 1G)")
    parser.add_argument("--quick", action="store_true", help="128 MiB and fewer repeats: a few minutes")
    parser.add_argument("--storage", choices=("plain", "xfs", "both"), default="both",
                        help="where the instance keeps its data: the container's filesystem, XFS, or both (default)")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results.json"), help="where to write the figures")
    args = parser.parse_args(argv)
    args.size_mib = 128 if args.quick else parse_size(args.size)
    args.typical_mib = 64 if args.quick else 256
    args.typical_batches = 2 if args.quick else 8
    args.repeats = 5 if args.quick else 10
    args.compress_supported = compress_supported()
    wanted = ("plain", "xfs") if args.storage == "both" else (args.storage,)
    if "xfs" in wanted:
        from iris_ops_sim import xfs

        why = xfs.blocker()
        if why:
            print(f"bench/run.py: XFS figures need an XFS volume, and {why}; run as root with Debian's xfsprogs, "
                  "or pass --storage plain", file=sys.stderr)
            return 2
    started = datetime.datetime.now(datetime.timezone.utc)

    halves: dict[str, dict] = {}
    for storage in wanted:
        with contextlib.ExitStack() as stack:
            data_dir = None
            if storage == "xfs":
                # sparse: it costs what is written (the 4 GiB clone's database and fixture included)
                volume = xfs.XfsVolume(size_mb=8 * max(args.size_mib, 4096) + 8192).create()
                stack.callback(volume.remove)
                data_dir = volume.new_directory("bench")
            raw, missing = measure_storage(args, data_dir, next((h["raw"]["startup"] for h in halves.values()), None))
        ratios = ratios_of(raw)
        halves[storage] = {"raw": raw, "ratios": ratios, "met": verdicts_of(ratios), "missing": missing}

    main_half = halves.get("plain") or halves["xfs"]
    ratios = dict(main_half["ratios"])
    if "xfs" in halves:
        ratios.update(xfs_headlines(args.size_mib, halves["xfs"]["raw"], halves["xfs"]["ratios"]))
    result = {
        "date": started.isoformat(timespec="seconds"),
        "size_mib": args.size_mib,
        "quick": args.quick,
        "machine": machine(),
        "storage": {name: {"filesystem": half["raw"]["filesystem"], **half} for name, half in halves.items()},
        "raw": main_half["raw"],
        "ratios": ratios,
        "targets": {k: f"{op} {bound}" for k, (op, bound) in TARGETS.items()},
        "met": verdicts_of(ratios),
        "missing": main_half["missing"],
    }
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
