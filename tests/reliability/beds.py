"""A test bed of the fault matrix that the shared instance cannot be: a simulated instance whose
disk is a small tmpfs (the instance's disk full, for real), one container per module, reached
like any other."""

from __future__ import annotations

import contextlib
import secrets
import time

from iris_ops_sim.simcontainer import LABEL, SimContainer, wait_ready

#: The disk bed: the whole install (``/disk/irissys``) lives on a tmpfs of this size.
DISK_MB = 40
#: Of which this much is left free for the faults (a ballast file, outside the install, takes the rest).
FREE_MB = 4
#: The database the disk bed backs up: larger than what is free, smaller than the disk.
BIG_MB = 8


#: The file the disk bed's command makes once its state lives off the full disk.
BED_READY = "/tmp/bed-ready"


def run_bed(engine, image: str, kind: str) -> SimContainer:
    from iris_ops_sim.control import SimControl, docker_exec

    name = f"iris-rel-{kind}-{secrets.token_hex(4)}"
    options: dict = {}
    if kind == "disk":
        # A named volume of the local driver on a tmpfs (not --tmpfs: the engine's archive API,
        # which iris-ops transfers files with, does not see a --tmpfs mount's content).
        uid = "51773"  # irisowner in the image
        engine.client.volumes.create(name, driver="local", labels={LABEL: "1"}, driver_opts={
            "type": "tmpfs", "device": "tmpfs", "o": f"size={DISK_MB}m,uid={uid},gid={uid},mode=0755"})
        options = dict(
            volumes={name: {"bind": "/disk", "mode": "rw"}},
            environment={"IRISSIM_REGISTRY": "/disk/simregistry.json"},
            # The simulator's own bookkeeping (mgr/.sim: the freeze, mounts; IRIS keeps these in
            # shared memory) stays off the full disk; databases, CPF and staging copies are on it.
            # /tmp/bed-ready once the state has moved: a session works as soon as init is done,
            # and one that ran between the move and the link would find no state.
            command=["sh", "-c", "iris-sim init --install-dir /disk/irissys >/dev/null"
                     " && mv /disk/irissys/mgr/.sim /tmp/simstate && ln -s /tmp/simstate /disk/irissys/mgr/.sim"
                     f" && touch {BED_READY} && exec iris-sim daemon"],
        )
    sc = SimContainer(name=name, base_url=engine.base_url, instance=SimControl(docker_exec(engine.base_url, name)),
                      client=engine.client)
    try:
        engine.client.containers.run(image, name=name, detach=True, network_mode="none", labels={LABEL: "1"},
                                     hostname=name[:63], **options)
        if kind == "disk":
            deadline = time.monotonic() + 60
            while not sc.exists(BED_READY):
                assert time.monotonic() < deadline, f"the disk bed {name} never got ready"
                time.sleep(0.1)
        wait_ready(sc, timeout=60)
    except BaseException:
        remove_bed(sc)
        raise
    return sc


def remove_bed(sc: SimContainer) -> None:
    """The container, and the disk bed's volume (named: ``remove(v=True)`` keeps it)."""
    import docker

    sc.remove()
    try:
        sc.client.volumes.get(sc.name).remove(force=True)
    except docker.errors.NotFound:
        pass


def fill_disk(sc: SimContainer) -> None:
    """Another writer fills the instance's filesystem until FREE_MB are left (outside the install
    directory, so the instance's listing does not see it)."""
    code, out, err = sc.exec(["sh", "-c", "df -k /disk | awk 'NR==2 {print $4}'"])
    free_kb = int(out.decode().strip())
    ballast = max(0, free_kb // 1024 - FREE_MB)
    code, out, err = sc.exec(["dd", "if=/dev/zero", "of=/disk/ballast", "bs=1M", f"count={ballast}"])
    assert code == 0, err


def wait_for_late_sessions(sc: SimContainer, timeout: float = 60, where: str = "") -> None:
    """The instance still runs what a client gave up on: wait until no session is left."""
    deadline = time.monotonic() + timeout
    while True:
        code, out, _ = sc.exec(["sh", "-c", "ps -o pid,stat,args | grep '[i]ris.* session' || true"])
        if not out.decode().strip():
            return
        assert time.monotonic() < deadline, f"{where}: a late session never ended:\n{out.decode()}"
        time.sleep(0.2)


@contextlib.contextmanager
def big_disk_bed(engine, image: str, directory, before_fill=None):
    """A disk bed holding namespace BIG (BIG_MB) and its fixture ``directory/BIG``; ``before_fill(sc,
    fixture)`` runs next, then the disk is filled.  Yields (bed, fixture)."""
    from clihelp import cli, ok

    sc = run_bed(engine, image, "disk")
    try:
        sc.instance.create_database("BIG", size_mb=BIG_MB, namespace="BIG", fill=True)
        fixture = directory / "BIG"
        ok(cli(sc, "backup", "--ns", "BIG", "--out", fixture))
        if before_fill is not None:
            before_fill(sc, fixture)
        fill_disk(sc)
        yield sc, fixture
    finally:
        remove_bed(sc)
