"""The iris-ops benchmark: every byte path against the real engine's limits, in one run.

    .venv/bin/python bench/run.py                 # 1 GiB database (about 2-3 minutes)
    .venv/bin/python bench/run.py --quick         # 128 MiB, fewer repeats (about a minute)
    .venv/bin/python bench/run.py --size 4G --json bench/results-4g.json

It uses the suite's test bed: a reachable Docker engine or a private dockerd
(:func:`iris_ops_sim.dockerd.engine`), the ``iris-ops-sim`` image built from this checkout,
and one container of it.  In that container it creates three databases:

* ``BIG``: ``--size`` bytes, filled end to end (``iris-sim create-db --fill``), for throughput;
* ``TYP``: a "typical" test database, mostly empty blocks and a few tables of rows, for
  compression;
* ``SMALL``: 8 MiB with a table of rows, for the cost of a small clone.

Then it measures, on the same files: the limits (host sha256 pass, raw archive read and write,
an in-container ``cp``, one exec round trip), what users run today through the ``docker`` CLI
(``exec cp``, ``docker cp`` out, ``sha256sum``, ``rm``), ``iris-ops backup`` / ``validate`` /
``restore`` (wall time, frozen window, client peak RSS), a second restore of the same fixture
into other namespaces (clones: three, alternated with three in-container copies), zstd on the typical fixture, and start-up times.  It prints a
table with the targets of issue 12 and writes the raw figures and the ratios as JSON.
Figures it cannot take (a feature not built yet) are ``null`` and say why under ``missing``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
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

from iris_ops import tarstream  # noqa: E402
from iris_ops_sim import dockerd, image, simcontainer  # noqa: E402
from iris_ops.transports import docker_exec, docker_files  # noqa: E402

MIB = 1 << 20
CHUNK = 4 * MIB
BIN = Path(sys.executable).parent

#: issue 12's targets: ratio name -> (comparison, bound)
TARGETS = {
    "backup_over_archive_read": ("<=", 1.3),
    "backup_speedup_vs_docker_cp": (">=", 2.5),
    "window_over_container_cp": ("<=", 1.2),
    "restore_over_archive_write": ("<=", 1.5),
    "clone_over_container_cp": ("<=", 1.3),
    "small_clone_over_run": ("<=", 4.0),
    "validate_over_hash": ("<=", 1.15),
    "peak_rss_mib": ("<=", 80.0),
    "list_over_inv_version": ("<=", 1.3),
    "zstd_size_ratio": (">=", 10.0),
    "zstd_backup_over_plain": ("<=", 1.2),
    "zstd_restore_over_plain": ("<=", 1.2),
}


def parse_size(text: str) -> int:
    """``1G``, ``256M``, ``1024`` (MiB) -> MiB."""
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text.endswith("G"):
        return int(float(text[:-1]) * 1024)
    if text.endswith("M"):
        return int(text[:-1])
    return int(text)


def settle() -> None:
    """Start every measurement with no dirty pages of the one before: this VM writes back
    slowly, and a copy that follows a 2 GiB restore would otherwise pay for that restore's
    writes (the in-container cp it is compared with was measured after a sync too)."""
    os.sync()


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    settle()
    began = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - began, result


def run_cli(argv: list[str], env: dict) -> tuple[float, str]:
    """Wall seconds and stdout of a command that must succeed."""
    began = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')[-2000:]}")
    return wall, proc.stdout.decode(errors="replace")


def run_measured(argv: list[str], env: dict) -> tuple[float, float, str, str]:
    """Wall seconds, the peak RSS in MiB of the console script ``argv[0]`` (its own ``VmHWM``,
    reported by bench/peak.py: ``wait4`` would count this benchmark's memory as the child's),
    stdout, stderr."""
    out_file = tempfile.TemporaryFile()
    err_file = tempfile.TemporaryFile()
    with tempfile.NamedTemporaryFile(prefix="iris-ops-peak-", delete=False) as peak_file:
        peak_path = peak_file.name
    try:
        settle()
        began = time.perf_counter()
        proc = subprocess.run([sys.executable, str(ROOT / "bench" / "peak.py"), peak_path, *argv], env=env,
                              stdout=out_file, stderr=err_file, cwd=ROOT)
        wall = time.perf_counter() - began
        peak_kib = int(Path(peak_path).read_text() or 0)
    finally:
        os.unlink(peak_path)
    out_file.seek(0)
    err_file.seek(0)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{err_file.read().decode(errors='replace')[-2000:]}")
    return wall, peak_kib / 1024, out_file.read().decode(errors="replace"), err_file.read().decode(errors="replace")


def sessions(stderr: str) -> int:
    """How many ObjectScript sessions the command ran (its debug log's ``script.start`` events)."""
    return stderr.count('"script.start"')


def medians_alternated(n: int, commands: dict[str, list[str]], env: dict) -> dict[str, float]:
    """The median wall time of ``n`` runs of each command, the commands taking turns: a change in
    the machine's load during the measure then weighs on all of them alike, not on one."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(n):
        for name, argv in commands.items():
            times[name].append(run_cli(argv, env)[0])
    return {name: statistics.median(values) for name, values in times.items()}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def drop_host_copy(path: Path) -> None:
    """Keep the host's page cache honest between runs (best effort: needs no privilege)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    except OSError:
        pass


class Bench:
    def __init__(self, args: argparse.Namespace, eng: dockerd.Engine, sc: simcontainer.SimContainer, work: Path):
        self.args = args
        self.sc = sc
        self.api = docker_exec.connect(eng.url, timeout=600)
        self.env = dict(os.environ, **sc.env, IRIS_OPS_LOG_LEVEL="debug", IRIS_OPS_LOG_FORMAT="json",
                        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
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
        """What a Makefile does today, through the real docker CLI."""
        docker = shutil.which("docker")
        if docker is None:
            self.missing["docker_cp_method"] = "no docker CLI on PATH"
            return {}
        out = self.work / "docker-cp.DAT"
        env = self.env
        settle()
        began = time.perf_counter()
        steps = {}
        for label, argv in (
            ("exec_cp", [docker, "exec", self.sc.name, "cp", path, "/tmp/x.DAT"]),
            ("docker_cp_out", [docker, "cp", f"{self.sc.name}:/tmp/x.DAT", str(out)]),
            ("sha256sum", ["sha256sum", str(out)]),
            ("rm", [docker, "exec", self.sc.name, "rm", "-f", "/tmp/x.DAT"]),
        ):
            steps[label] = round(run_cli(argv, env)[0], 3)
        steps["total"] = round(time.perf_counter() - began, 3)
        out.unlink()
        return steps

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


def ratio(a, b) -> float | None:
    if a is None or b is None or not b:
        return None
    return round(a / b, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="size of the filled database: 256M, 1G, 4G (default 1G)")
    parser.add_argument("--quick", action="store_true", help="128 MiB and fewer repeats: about a minute")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results.json"), help="where to write the figures")
    args = parser.parse_args(argv)
    args.size_mib = 128 if args.quick else parse_size(args.size)
    args.typical_mib = 64 if args.quick else 256
    args.typical_batches = 2 if args.quick else 8
    args.repeats = 5 if args.quick else 10
    args.compress_supported = compress_supported()
    started = datetime.datetime.now(datetime.timezone.utc)

    with bench_container("iris-ops-bench-") as (work, eng, client, sc):
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

        # backup first: the fixture's file is the host copy every other limit reads
        fx_big = work / "fx-big"
        raw["backup"] = b.backup("BIG", fx_big)
        # The same backup with the host-side read turned off: every byte through the engine's
        # archive endpoint (what a remote engine, or a user who cannot read the engine's data
        # root, gets).
        raw["backup_via_engine"] = b.backup("BIG", work / "fx-big-engine", env={"IRIS_OPS_HOST_READ": "0"})
        shutil.rmtree(work / "fx-big-engine")
        host_dat = b.fixture_dat(fx_big)
        raw["hash_seconds"] = round(timed(sha256_file, host_dat)[0], 3)
        raw["archive_read_seconds"] = round(b.archive_read(big_dat), 3)
        raw["archive_write_seconds"] = round(b.archive_write(host_dat, size), 3)
        raw["exec_round_trip_seconds"] = round(b.exec_round_trip(), 4)
        raw["docker_cp_method"] = b.docker_cp_method(big_dat)
        raw["validate"] = b.validate(fx_big)
        raw["restore"] = b.restore(fx_big, "R1")
        # The in-container cp and the clone, alternated (cp, clone, cp, clone, cp, clone), each
        # writing a new file that stays until all six are done: the same conditions for both;
        # medians of three.
        copies, clones = [], []
        for k in range(3):
            copies.append(b.container_cp(big_dat, f"/tmp/bench-cp-{k}.DAT"))
            clones.append(b.restore(fx_big, f"R{k + 2}"))
        b.exec(["rm", "-f", *(f"/tmp/bench-cp-{k}.DAT" for k in range(3))])
        raw["container_cp_samples"] = copies
        raw["container_cp_seconds"] = statistics.median(copies)
        raw["clone_samples"] = clones
        raw["clone"] = sorted(clones, key=lambda c: c["wall"])[1]
        raw["container_cp_into_freed_space_samples"] = b.container_cp_into_freed_space(big_dat)

        fx_small = work / "fx-small"
        raw["small_backup"] = b.backup("SMALL", fx_small)
        raw["small_restore"] = b.restore(fx_small, "S1")
        raw["small_clone"] = b.restore(fx_small, "S2")

        fx_typ = work / "fx-typ"
        raw["typical_backup"] = b.backup("TYP", fx_typ)
        raw["typical_restore"] = b.restore(fx_typ, "TYPR")
        raw["zstd"] = b.zstd()

        n = args.repeats
        # Start-up is measured as an installed copy runs: with its modules' bytecode cached
        # (pip compiles it at install).  A checkout run with PYTHONDONTWRITEBYTECODE=1
        # compiles every iris-ops module on every start instead, and inv's own (installed)
        # modules would not be: the comparison would be unfair.  One warm-up run each fills
        # a private cache.
        quiet = dict(b.env, IRIS_OPS_LOG_LEVEL="warning", PYTHONPYCACHEPREFIX=str(work / "pycache"))
        quiet.pop("PYTHONDONTWRITEBYTECODE", None)
        for warm in (["iris-ops", "--list"], ["inv", "--version"], ["iris-ops", "run", "--ns", "%SYS", "Write 1"]):
            run_cli([str(BIN / warm[0]), *warm[1:]], quiet)
        startup = medians_alternated(n, {
            "iris_ops_list": [str(BIN / "iris-ops"), "--list"],
            "inv_version": [str(BIN / "inv"), "--version"],
            "iris_ops_run": [str(BIN / "iris-ops"), "run", "--ns", "%SYS", "Write 1"],
        }, quiet)
        raw["startup"] = {**{k: round(v, 4) for k, v in startup.items()}, "runs": n, "bytecode": "cached"}

    zstd = raw.get("zstd") or {}
    cp_total = (raw.get("docker_cp_method") or {}).get("total")
    ratios = {
        "backup_over_archive_read": ratio(raw["backup"]["wall"], raw["archive_read_seconds"]),
        "backup_speedup_vs_docker_cp": ratio(cp_total, raw["backup"]["wall"]),
        "window_over_container_cp": ratio(raw["backup"]["window"], raw["container_cp_seconds"]),
        "restore_over_archive_write": ratio(raw["restore"]["wall"], raw["archive_write_seconds"]),
        "clone_over_container_cp": ratio(raw["clone"]["wall"], raw["container_cp_seconds"]),
        "small_clone_over_run": ratio(raw["small_clone"]["wall"], raw["startup"]["iris_ops_run"]),
        "validate_over_hash": ratio(raw["validate"]["wall"], raw["hash_seconds"]),
        "peak_rss_mib": max([raw[k]["peak_rss_mib"] for k in ("backup", "restore", "clone", "validate")]
                            + [c["peak_rss_mib"] for c in raw.get("clone_samples", [])]),
        "list_over_inv_version": ratio(raw["startup"]["iris_ops_list"], raw["startup"]["inv_version"]),
        "zstd_size_ratio": ratio(zstd.get("plain_bytes"), zstd.get("zstd_bytes")),
        "zstd_backup_over_plain": ratio((zstd.get("backup") or {}).get("wall"), raw["typical_backup"]["wall"]),
        "zstd_restore_over_plain": ratio((zstd.get("restore") or {}).get("wall"), raw["typical_restore"]["wall"]),
    }
    verdicts = {}
    for name, (op, bound) in TARGETS.items():
        value = ratios[name]
        verdicts[name] = None if value is None else (value <= bound if op == "<=" else value >= bound)

    result = {
        "date": started.isoformat(timespec="seconds"),
        "size_mib": args.size_mib,
        "quick": args.quick,
        "machine": machine(),
        "raw": raw,
        "ratios": ratios,
        "targets": {k: f"{op} {bound}" for k, (op, bound) in TARGETS.items()},
        "met": verdicts,
        "missing": b.missing,
    }
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"\nwritten: {args.json}")
    return 0


def machine() -> dict:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "memory": mem, "kernel": platform.release(), "python": platform.python_version()}


def print_table(result: dict) -> None:
    raw, ratios = result["raw"], result["ratios"]
    m = result["machine"]
    print(f"\niris-ops benchmark, {result['size_mib']} MiB, {result['date']}; {m['nproc']} cores, {m['memory']}, "
          f"kernel {m['kernel']}, Docker {raw['engine']['version']} ({raw['engine']['storage_driver']})")
    size = result["size_mib"]
    rows = [
        ("sha256 on the host", raw["hash_seconds"], size),
        ("raw archive read", raw["archive_read_seconds"], size),
        ("raw archive write", raw["archive_write_seconds"], size),
        ("in-container cp (a new file, median of 3)", raw["container_cp_seconds"], size),
        ("docker exec round trip", raw["exec_round_trip_seconds"], None),
        ("docker-cp method (total)", (raw.get("docker_cp_method") or {}).get("total"), size),
        ("backup", raw["backup"]["wall"], size),
        ("  frozen window", raw["backup"]["window"], None),
        ("backup, all via the engine", (raw.get("backup_via_engine") or {}).get("wall"), size),
        ("validate (offline)", raw["validate"]["wall"], size),
        ("restore", raw["restore"]["wall"], size),
        ("clone (median of 3, alternated with the cp)", raw["clone"]["wall"], size),
        ("  its fixture check: hashing (in a thread)", (raw["clone"].get("fixture_check") or {}).get("seconds"), size),
        ("  its fixture check: waited for it", (raw["clone"].get("fixture_check") or {}).get("waited"), None),
        ("small (8 MiB) clone", raw["small_clone"]["wall"], None),
        ("typical backup", raw["typical_backup"]["wall"], None),
        ("typical backup --compress", (raw.get("zstd") or {}).get("backup", {}).get("wall"), None),
        ("typical restore", raw["typical_restore"]["wall"], None),
        ("typical restore (zstd)", (raw.get("zstd") or {}).get("restore", {}).get("wall"), None),
        ("typical validate (zstd)", (raw.get("zstd") or {}).get("validate", {}).get("wall"), None),
        ("iris-ops --list", raw["startup"]["iris_ops_list"], None),
        ("inv --version", raw["startup"]["inv_version"], None),
        ("iris-ops run 'Write 1'", raw["startup"]["iris_ops_run"], None),
    ]
    print(f"\n{'measure':44} {'seconds':>9} {'MiB/s':>8}")
    for label, seconds, mib in rows:
        if seconds is None:
            print(f"{label:44} {'-':>9}")
            continue
        rate = f"{mib / seconds:8.0f}" if mib and seconds else ""
        print(f"{label:44} {seconds:9.3f} {rate}")
    print(f"peak client RSS (MiB): backup {raw['backup']['peak_rss_mib']}, restore {raw['restore']['peak_rss_mib']}, "
          f"validate {raw['validate']['peak_rss_mib']}")
    print(f"\n{'ratio':30} {'value':>8} {'target':>8}  met")
    for name, value in ratios.items():
        met = result["met"][name]
        shown = "-" if value is None else f"{value:.2f}"
        print(f"{name:30} {shown:>8} {result['targets'][name]:>8}  {'-' if met is None else ('yes' if met else 'NO')}")
    for what, why in result["missing"].items():
        print(f"missing: {what}: {why}")


if __name__ == "__main__":
    sys.exit(main())
