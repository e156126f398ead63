"""The ssh transport against a real OpenSSH server (Debian's sshd on a loopback address, the test
bed's ``ssh_bed``) and a simulated native instance on that host: tasks round trip, a hung session
is ended on the host, and every way a connection fails is exit 6 with its own message."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import time

import pytest

from iris_ops import errors
from iris_ops.transports import ssh, ssh_connect, ssh_exec
from iris_ops.transports.base import Target


@pytest.fixture
def cli(ssh_bed, monkeypatch, tmp_path, capsys):
    """``iris-ops`` in this process aimed at the bed's host; extra settings per call."""
    from cli_helpers import make_inproc

    def run(*args, **settings):
        for key, value in settings.items():
            monkeypatch.setenv(f"IRIS_OPS_{key.upper()}", str(value))
        return inproc(*args)

    inproc = make_inproc(ssh_bed.env, monkeypatch, tmp_path, capsys)
    return run


def target_of(env: dict, **fields) -> Target:
    values = dict(transport="ssh", ssh_host=env["IRIS_OPS_SSH_HOST"], ssh_config=env["IRIS_OPS_SSH_CONFIG"],
                  known_hosts=env["IRIS_OPS_KNOWN_HOSTS"], iris_command=env["IRIS_OPS_IRIS_COMMAND"],
                  owner=env["IRIS_OPS_OWNER"])
    values.update(fields)
    return Target(**values)


def error_of(err: str) -> dict:
    """The error event a failed task logged (JSON logs)."""
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return [e for e in events if "exit_code" in e and e.get("level") == "error"][-1]


def live_sessions(ssh_bed) -> list[int]:
    """The instance's `iris session` processes that still run, once the ones just killed are reaped."""
    from iris_ops_sim.irissim.instance import jobtable

    jobs = ssh_bed.sim.install_dir / "mgr" / ".sim" / "jobs"
    for _ in range(100):
        live = [pid for pid in jobtable.live(jobs) if _running(pid)]
        if not live:
            return []
        time.sleep(0.05)
    return live


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# -- tasks over SSH ---------------------------------------------------------------------------------


def test_run_backup_and_restore_over_ssh(ssh_bed, cli, tmp_path):
    code, out, err = cli("run", "--ns", "USER", 'Write "over ssh in ",$Namespace,!')
    assert code == 0, err
    assert "over ssh in USER" in out

    ssh_connect.close_all()  # (connections of this test process's earlier tasks)
    logins = ssh_bed.host.logins()
    code, out, err = cli("backup", "--ns", "USER", "--out", tmp_path / "fx")
    assert code == 0, err
    assert ssh_bed.host.logins() == logins + 1  # one connection served the whole backup
    manifest = json.loads((tmp_path / "fx" / "manifest.json").read_text())
    entry = manifest["databases"][0]
    copied = (tmp_path / "fx" / entry["file"]).read_bytes()
    assert hashlib.sha256(copied).hexdigest() == entry["sha256"]
    on_host = ssh_bed.sim.install_dir / "mgr" / "user" / "IRIS.DAT"
    assert copied == on_host.read_bytes()  # the instance's own file, through SFTP

    code, out, err = cli("restore", "--src", tmp_path / "fx", "--ns", "SSHCOPY")
    assert code == 0, err
    restored = ssh_bed.sim.install_dir / "mgr" / "sshcopy" / "IRIS.DAT"
    assert restored.read_bytes() == copied
    assert stat.S_IMODE(restored.stat().st_mode) == 0o660
    code, out, err = cli("run", "--ns", "SSHCOPY", 'Write "in ",$Namespace,!')
    assert code == 0 and "in SSHCOPY" in out, err
    assert cli("delete-ns", "--ns", "SSHCOPY", "--yes")[0] == 0
    assert live_sessions(ssh_bed) == []  # the lock holder's session ended with the restore


def test_a_session_past_its_deadline_is_ended_on_the_host(ssh_bed, cli):
    """Without a pty the host's `iris session` outlives its channel: the transport kills it by pid."""
    assert cli("run", "--ns", "USER", "Write 1")[0] == 0  # connected: the deadline is the session's alone
    code, out, err = cli("run", "--ns", "USER", "--timeout", "3", "Hang 120")
    assert code == 6
    event = error_of(err)
    assert "did not finish within" in event["event"] and "it was ended on host" in event["event"]
    assert live_sessions(ssh_bed) == []


def test_a_command_past_its_deadline_ends_with_what_it_started(ssh_bed):
    """Its process group goes with it: a child it started does not outlive it on the host."""
    seconds = str(300 + os.getpid() % 97)  # a sleep of our own to look for
    target = target_of(ssh_bed.env)
    ssh_exec.run(target, ["true"], deadline=time.monotonic() + 60, what="connecting first")  # (the deadline
    with pytest.raises(errors.DeadlineExceeded, match="it was ended on host"):  # is the command's alone)
        ssh_exec.run(target, ["sh", "-c", f"sleep {seconds} & wait"], deadline=time.monotonic() + 1,
                     what="a command with a child")

    def sleeping() -> list[int]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f.read() == f"sleep\0{seconds}\0".encode():
                        found.append(int(pid))
            except OSError:
                pass
        return found

    for _ in range(100):
        if not sleeping():
            break
        time.sleep(0.05)
    assert sleeping() == []


def test_an_argument_reaches_the_host_as_one_word(ssh_bed, tmp_path):
    hostile = f"$(touch {tmp_path}/a); `touch {tmp_path}/b`; 'q' \"d\" \\ * ;touch {tmp_path}/c"
    result = ssh_exec.run(target_of(ssh_bed.env), ["printf", "%s", hostile], deadline=time.monotonic() + 30,
                          what="printf")
    assert result.exit_code == 0 and result.stdout.decode() == hostile
    assert list(tmp_path.iterdir()) == []


def test_a_login_is_answered_over_ssh_and_only_to_its_prompts(ssh_bed):
    """OS authentication off: the session asks, and the transport answers each prompt it sees."""
    from iris_ops import script_builders
    from iris_ops.errors import AuthenticationError
    from iris_ops.manager import new_plugin_manager
    from iris_ops.runner import Runner

    secret = "Ssh-Login-Check-51c2"
    ssh_bed.sim.instance.seed_user("SshOps", roles="%All", change_password=0, password=secret)
    ssh_bed.sim.instance.set_os_authentication(False)
    try:
        pm = new_plugin_manager(load_entry_points=False)
        target = target_of(ssh_bed.env, username="SshOps", password=secret)
        assert Runner(pm, target, timeout=30).run(script_builders.manager_directory(), changes=False)
        wrong = target_of(ssh_bed.env, username="SshOps", password="nope")
        with pytest.raises(AuthenticationError, match="refused"):
            Runner(pm, wrong, timeout=30).run(script_builders.manager_directory(), changes=False)
    finally:
        ssh_bed.sim.instance.set_os_authentication(True)


# -- files ------------------------------------------------------------------------------------------


def test_files_stream_over_sftp_with_their_owner_and_mode(ssh_bed, tmp_path):
    tmp_path.chmod(0o755)
    data = os.urandom(9 * (1 << 20) + 17)  # more than one window of SFTP reads
    target = target_of(ssh_bed.env, owner="daemon")
    dest = tmp_path / "db" / "new" / "IRIS.DAT"
    digest = ssh.write_file(target=target, src=io.BytesIO(data), size=len(data), path=str(dest), timeout=30)
    assert digest.sha256 == hashlib.sha256(data).hexdigest() and dest.read_bytes() == data
    assert stat.S_IMODE(dest.stat().st_mode) == 0o660 and stat.S_IMODE(dest.parent.stat().st_mode) == 0o770
    import pwd

    assert dest.stat().st_uid == dest.parent.stat().st_uid == pwd.getpwnam("daemon").pw_uid  # root gave them away
    assert os.listdir(dest.parent) == ["IRIS.DAT"]
    back = io.BytesIO()
    assert ssh.read_file(target=target, path=str(dest), dest=back, timeout=30) == digest
    assert back.getvalue() == data
    assert sorted(ssh.list_directory(target=target, path=str(tmp_path / "db"), timeout=30)) == ["new/"]
    assert ssh.remove_path(target=target, path=str(tmp_path / "db"), timeout=30) is True
    assert not (tmp_path / "db").exists()


def test_a_short_source_leaves_nothing_on_the_host(ssh_bed, tmp_path):
    dest = tmp_path / "IRIS.DAT"
    with pytest.raises(errors.UsageError, match="ended after 3 bytes"):
        ssh.write_file(target=target_of(ssh_bed.env), src=io.BytesIO(b"abc"), size=10, path=str(dest), timeout=30)
    assert list(tmp_path.iterdir()) == []


def test_reading_a_missing_file_is_the_instance_refusing(ssh_bed, tmp_path):
    with pytest.raises(errors.InstanceError, match="does not exist on host") as caught:
        ssh.read_file(target=target_of(ssh_bed.env), path=str(tmp_path / "none"), dest=io.BytesIO(), timeout=30)
    assert caught.value.exit_code == 5


def test_reflinks_are_made_on_the_host_for_the_owner(ssh_bed, xfs_volume):
    """On storage that shares blocks, the host makes the copy (the owner's, mode 660); where it
    cannot (a directory that is not there), it says why and leaves no copy."""
    import pwd

    shared = xfs_volume.new_directory(f"ssh-{os.getpid()}")
    (shared / "IRIS.DAT").write_bytes(os.urandom(65536))
    target = target_of(ssh_bed.env, owner="daemon")
    probed = ssh.probe_reflink(target=target, directories=[str(shared), str(shared / "none")], timeout=30)
    assert probed[str(shared)].done and probed[str(shared / "none")].reason == "absent"
    assert [p.name for p in shared.iterdir()] == ["IRIS.DAT"]  # the probe's scratch files are gone
    made, refused = ssh.reflink_files(target=target, pairs=[(str(shared / "IRIS.DAT"), str(shared / "copy.DAT")),
                                                            (str(shared / "none.DAT"), str(shared / "x.DAT"))],
                                      timeout=30)
    assert made.done and (shared / "copy.DAT").read_bytes() == (shared / "IRIS.DAT").read_bytes()
    copied = (shared / "copy.DAT").stat()
    assert stat.S_IMODE(copied.st_mode) == 0o660 and copied.st_uid == pwd.getpwnam("daemon").pw_uid
    assert not refused.done and refused.reason and not (shared / "x.DAT").exists()


# -- reaching the host ------------------------------------------------------------------------------


def test_an_unknown_host_key_is_refused_or_accepted_as_new(ssh_bed, cli, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    code, out, err = cli("run", "--ns", "USER", 'Write "reached",!', known_hosts=known)
    assert code == 6 and "reached" not in out
    event = error_of(err)
    assert "is unknown" in event["event"] and "accept_new_host_key" in event["fix"]
    assert known.read_text() == ""

    code, out, err = cli("run", "--ns", "USER", 'Write "reached",!', known_hosts=known, accept_new_host_key=1)
    assert code == 0 and "reached" in out, err
    assert known.read_text() == ssh_bed.host.known_hosts_line()  # like accept-new: the key, recorded

    code, out, err = cli("run", "--ns", "USER", 'Write "again",!', known_hosts=known, accept_new_host_key=0)
    assert code == 0 and "again" in out, err


def test_a_changed_host_key_is_refused_even_with_accept_new(ssh_bed, cli, tmp_path):
    host = ssh_bed.bed.add_host()
    try:
        host.stop()
        host.new_host_key()  # the host reinstalled, or another in its place
        host.start()
        code, out, err = cli("run", "--ns", "USER", 'Write "reached",!', ssh_host=host.alias,
                             accept_new_host_key=1)
        assert code == 6 and "reached" not in out
        event = error_of(err)
        assert "has CHANGED" in event["event"] and "ssh-keygen -R" in event["fix"]
    finally:
        host.stop()


def test_a_proxyjump_hosts_key_is_checked_too(ssh_bed, cli, tmp_path):
    """Fabric reaches the host through the jump host of ssh_config's ProxyJump; Fabric alone
    would take the jump host's key unchecked."""
    jump = ssh_bed.bed.add_host()
    try:
        config = tmp_path / "ssh_config"
        config.write_text(ssh_bed.bed.ssh_config.read_text() + f"Host behind\n    HostName {ssh_bed.host.address}\n"
                          f"    Port {ssh_bed.host.port}\n    ProxyJump {jump.alias}\n"
                          f"    IdentityFile {ssh_bed.bed.client_key}\n")
        known = tmp_path / "known_hosts"
        known.write_text(ssh_bed.host.known_hosts_line())  # the target's key, not the jump host's
        code, out, err = cli("run", "--ns", "USER", 'Write "reached",!', ssh_host="behind", ssh_config=config,
                             known_hosts=known)
        assert code == 6 and "reached" not in out
        assert f"{jump.address}]:{jump.port}" in error_of(err)["event"] and "is unknown" in error_of(err)["event"]
        known.write_text(ssh_bed.host.known_hosts_line() + jump.known_hosts_line())
        code, out, err = cli("run", "--ns", "USER", 'Write "reached",!', ssh_host="behind", ssh_config=config,
                             known_hosts=known)
        assert code == 0 and "reached" in out, err
    finally:
        jump.stop()


def _connected(err: str) -> dict:
    return [e for e in map(json.loads, filter(None, err.splitlines())) if e.get("event") == "ssh.connected"][-1]


def test_aes_gcm_is_chosen_where_offered_and_a_host_without_it_still_connects(ssh_bed, cli):
    """One pass of authenticated encryption instead of two (ssh_connect.AEAD_CIPHERS), named in
    the debug log; a host that offers only AES-CTR is reached as before."""
    ssh_connect.close_all()
    code, out, err = cli("-v", "run", "--ns", "USER", 'Write "reached",!')
    assert code == 0 and "reached" in out, err
    assert _connected(err)["cipher"] == "aes128-gcm@openssh.com"
    host = ssh_bed.bed.add_host(ciphers="aes128-ctr")
    try:
        code, out, err = cli("-v", "run", "--ns", "USER", 'Write "reached",!', ssh_host=host.alias)
        assert code == 0 and "reached" in out, err
        assert _connected(err)["cipher"] == "aes128-ctr"
    finally:
        host.stop()


def test_a_host_whose_sshd_is_down_is_unreachable(ssh_bed, cli):
    host = ssh_bed.bed.add_host()
    host.stop()
    code, out, err = cli("run", "--ns", "USER", 'Write 1', ssh_host=host.alias)
    assert code == 6
    event = error_of(err)
    assert "nothing answers SSH" in event["event"] and f"{host.address}:{host.port}" in event["event"]


def test_a_host_that_goes_down_mid_session_is_unreachable(ssh_bed, tmp_path):
    """The host's sshd (and with it the connection) goes away while a session runs."""
    host = ssh_bed.bed.add_host()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(ssh_bed.env, IRIS_OPS_SSH_HOST=host.alias, IRIS_OPS_LOG_FORMAT="json")
    proc = subprocess.Popen([sys.executable, "-m", "iris_ops", "run", "--ns", "USER", "Hang 60"], env=env,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        from iris_ops_sim.irissim.instance import jobtable

        jobs = ssh_bed.sim.install_dir / "mgr" / ".sim" / "jobs"
        for _ in range(600):  # until its session runs on the host
            if jobtable.live(jobs) or proc.poll() is not None:
                break
            time.sleep(0.05)
        host.stop()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        ssh_bed.sim.end_sessions()  # the session went on alone, as the message says it may
    assert proc.returncode == 6, err
    event = error_of(err.decode())
    assert "broke" in event["event"] and "may still be running there" in event["event"]


def test_a_refused_login_is_unreachable(ssh_bed, cli, tmp_path):
    other = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    config = ssh_bed.bed.ssh_config.read_text().replace(str(ssh_bed.bed.client_key), str(other))
    (tmp_path / "ssh_config").write_text(config)
    code, out, err = cli("run", "--ns", "USER", 'Write 1', ssh_config=tmp_path / "ssh_config")
    assert code == 6
    event = error_of(err)
    assert "refused to authenticate" in event["event"] and "authorized_keys" in event["fix"]


def test_a_host_that_never_answers_times_out(ssh_bed, cli, tmp_path):
    """A host that takes the connection and says nothing (a hung sshd): ConnectTimeout."""
    import socket

    silent = socket.socket()
    silent.bind((ssh_bed.host.address, 0))
    silent.listen(4)
    try:
        config = tmp_path / "ssh_config"
        config.write_text(f"Host silent\n    HostName {ssh_bed.host.address}\n    Port {silent.getsockname()[1]}\n"
                          "    ConnectTimeout 1\n")
        code, out, err = cli("run", "--ns", "USER", 'Write 1', ssh_host="silent", ssh_config=config)
    finally:
        silent.close()
    assert code == 6
    assert "timed out after 1 s" in error_of(err)["event"]


def test_without_fabric_the_ssh_transport_says_how_to_install_it(ssh_bed, cli, monkeypatch):
    from iris_ops.transports import ssh_connect

    monkeypatch.setitem(sys.modules, "fabric", None)  # an import of it fails, as when not installed
    monkeypatch.setattr(ssh_connect, "_open", {})
    code, out, err = cli("run", "--ns", "USER", 'Write 1')
    assert code == 2
    assert "pip install 'iris-ops[fleet]'" in error_of(err)["fix"]


def test_the_ssh_transport_needs_a_host(cli):
    code, out, err = cli("run", "--ns", "USER", 'Write 1', ssh_host="")
    assert code == 2 and "IRIS_OPS_SSH_HOST" in error_of(err)["fix"]


# -- a container on the host, through docker exec over SSH ------------------------------------------


def test_a_container_on_the_host_through_docker_exec(ssh_bed, sim_container, tmp_path):
    """The host's engine runs the instance: `docker exec` there, as the instance owner for its
    sessions and as root for its files; a session past its deadline is killed inside the container."""
    target = target_of(ssh_bed.env, container=sim_container.name, docker_host=sim_container.base_url,
                       owner="irisowner", iris_command="iris")
    result = ssh.run_objectscript(target=target, script='Write "in ",$Namespace," as ",$USERNAME,!\nHalt\n',
                                  namespace="USER", timeout=30)
    assert result.exit_code == 0 and "in USER" in result.text, result

    data = os.urandom((1 << 20) + 5)
    path = "/usr/irissys/mgr/sshdb/IRIS.DAT"
    digest = ssh.write_file(target=target, src=io.BytesIO(data), size=len(data), path=path, timeout=30)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    code, out, _ = sim_container.exec(["stat", "-c", "%a %u", path, "/usr/irissys/mgr/sshdb"])
    assert out.decode().split("\n")[:2] == ["660 51773", "770 51773"]
    back = io.BytesIO()
    assert ssh.read_file(target=target, path=path, dest=back, timeout=30) == digest and back.getvalue() == data
    assert ssh.list_directory(target=target, path="/usr/irissys/mgr/sshdb", timeout=30) == ["IRIS.DAT"]
    assert ssh.remove_path(target=target, path="/usr/irissys/mgr/sshdb", timeout=30)
    assert not sim_container.exists("/usr/irissys/mgr/sshdb")

    with pytest.raises(errors.DeadlineExceeded, match="ended on container"):
        ssh.run_objectscript(target=target, script="Hang 120\nHalt\n", namespace="USER", timeout=2)
    code, out, _ = sim_container.exec(["sh", "-c", "ps -o args | grep -c '[i]ris session' || true"])
    assert out.strip() == b"0", out

    gone = target_of(ssh_bed.env, container="no-such-container", docker_host=sim_container.base_url)
    with pytest.raises(errors.UnreachableError, match="could not start") as caught:
        ssh.run_objectscript(target=gone, script="Halt\n", namespace="USER", timeout=30)
    assert "No such container" in caught.value.message


def test_small_files_go_in_one_command_in_a_container_and_one_by_one_on_a_host(ssh_bed, sim_container, monkeypatch):
    """In a container: a journal and a marker in one command as root, each file's bytes, owner
    and mode as write_file leaves them.  On a host: None (iris-ops then calls write_file for each:
    the SSH user need not be root)."""
    from iris_ops.transports import ssh_files

    commands = []
    real = ssh_files.checked
    monkeypatch.setattr(ssh_files, "checked", lambda target, argv, **kw: commands.append(argv[:2]) or real(target, argv, **kw))
    target = target_of(ssh_bed.env, container=sim_container.name, docker_host=sim_container.base_url,
                       owner="irisowner", iris_command="iris")
    files = [(b'{"token": "it\'s $x"}\n', "/usr/irissys/mgr/iris-ops-restore-SSHB.json"),
             (b'{"database": "SSHB"}', "/usr/irissys/mgr/sshb/iris-ops-restore.json")]
    assert ssh.write_files(target=target, files=files, timeout=30) is True
    assert len(commands) == 1
    for data, path in files:
        back = io.BytesIO()
        ssh.read_file(target=target, path=path, dest=back, timeout=30)
        assert back.getvalue() == data
    code, out, _ = sim_container.exec(["stat", "-c", "%a %u", files[1][1], "/usr/irissys/mgr/sshb"])
    assert out.decode().split("\n")[:2] == ["660 51773", "770 51773"]
    assert ssh.write_files(target=target_of(ssh_bed.env), files=files, timeout=30) is None
    assert len(commands) == 1


def test_a_lock_held_over_ssh_dies_with_its_iris_ops_process(ssh_bed, cli, tmp_path):
    """The lock lives in an `iris session` on the host: killed with -9, iris-ops closes nothing,
    yet its connection's end closes the session's stdin there, and the lock is free again."""
    from cli_helpers import kill_holder, start_lock_holder

    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    holder = start_lock_holder({**env, **ssh_bed.env}, tmp_path, "USER")
    code, out, err = cli("backup", "--ns", "USER", "--out", tmp_path / "while-held")
    assert code == 3 and "is locked by" in error_of(err)["event"]
    kill_holder(holder)
    # gone within live_sessions' 5 s: its input ended (the holder's own silence limit is 10 s)
    assert live_sessions(ssh_bed) == []


def test_a_host_without_that_iris_command_is_unreachable(cli, tmp_path):
    code, out, err = cli("run", "--ns", "USER", 'Write 1', iris_command=tmp_path / "no-iris")
    assert code == 6
    event = error_of(err)
    assert "has no" in event["event"] and "IRIS_OPS_IRIS_COMMAND" in event["fix"]


def test_this_hosts_full_disk_is_its_own_error_not_the_connections(ssh_bed, tmp_path):
    """A backup over SSH whose fixture cannot be written here (`ulimit -f`: EFBIG, as a full disk)."""
    import resource

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(ssh_bed.env, IRIS_OPS_LOG_FORMAT="json")
    done = subprocess.run([sys.executable, "-m", "iris_ops", "backup", "--ns", "USER", "--out", str(tmp_path / "fx")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, preexec_fn=small_files)
    assert done.returncode == 2, done.stderr
    assert "this host's disk is full" in error_of(done.stderr)["event"]
    assert not (tmp_path / "fx").exists()


def _holding(path) -> list[int]:
    """The processes with ``path`` open (the host's sshd and everything it started log there)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{entry}/fd/{fd}").removesuffix(" (deleted)") == str(path):
                    found.append(int(entry))
                    break
            except OSError:
                continue
    return found


def test_stopping_a_host_ends_the_connections_it_was_still_negotiating(ssh_bed):
    """A connection in its pre-authentication stage is a monitor and, below it, an unprivileged
    `sshd: [net]` child: stopping the host ends both (the child of a monitor that died first was
    given to init and stayed for good)."""
    import socket

    host = ssh_bed.bed.add_host()
    log = host.home / "sshd.log"
    client = socket.create_connection((host.address, host.port), timeout=10)
    try:
        assert client.recv(64).startswith(b"SSH-2.0-")  # the banner: the connection's processes run
        client.sendall(b"SSH-2.0-iris-ops-test\r\n")
        deadline = time.monotonic() + 10
        while len(_holding(log)) < 3 and time.monotonic() < deadline:  # sshd, the monitor, [net]
            time.sleep(0.05)
        assert len(_holding(log)) >= 3
        host.stop()
        deadline = time.monotonic() + 10
        while _holding(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _holding(log) == []
    finally:
        client.close()
