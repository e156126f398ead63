"""Issue 22 point 4, core tasks: secret tests that reach the secret.

Every task that reaches the instance runs to success on a simulated instance that asks for the
password (OS authentication off: ``iris session`` prompts for a login, answered with
``IRIS_OPS_USERNAME`` / ``IRIS_OPS_PASSWORD``), with ``-v`` and JSON logs; failing runs too.  Each
task runs once, and everything is recorded during that run: stdout (results, ``--json``
documents, ``--dry-run`` scripts), stderr (``-v`` logs, errors), the bytes on the engine's socket
(a recording tap: exec commands and environments, the session transcript), every command line on
this host and every command line and environment in the container (sampled from /proc), and
``docker inspect`` at the end.  Seven of the cases run through the local transport too, on an
instance installed on this host (the `iris` it starts read from /proc, its stdin kept).  The
tests below are cheap assertions over that one recording, each on its own, so that a broken mask
fails many of them without more runs; the recording is made once per test session, whichever
pytest-xdist worker needs it first.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from iris_ops import redact

pytestmark = pytest.mark.docker

USERNAME = "Ops"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int = 0
    logs_in: bool = True  # it opens a session (a dry run of `run` and `config` only print)
    settings: bool = True  # it builds an operation, whose -v settings event shows
    script_has_secret: bool = False  # the user's own script holds the password (so the traffic does)
    wrong_password: bool = False  # it is given one the instance refuses


#: In the order they run: each restore's namespace is deleted later; {dir} is a fresh directory.
CASES = {
    "backup": Case(("backup", "--ns", "USER", "--out", "{dir}/fx")),
    "backup --json": Case(("backup", "--ns", "USER", "--out", "{dir}/fx2", "--json")),
    "backup --dry-run": Case(("backup", "--ns", "USER", "--out", "{dir}/fx3", "--dry-run")),
    "validate --online --json": Case(("validate", "{dir}/fx", "--online", "--ns", "USER", "--json")),
    "restore --dry-run": Case(("restore", "{dir}/fx", "--ns", "SECA", "--dry-run")),
    "restore": Case(("restore", "{dir}/fx", "--ns", "SECA")),
    "restore --json": Case(("restore", "{dir}/fx", "--ns", "SECB", "--json")),
    "run": Case(("run", "--ns", "SECA", "Write $USERNAME")),
    "run --json": Case(("run", "--ns", "SECA", "Write $USERNAME", "--json")),
    "run --dry-run": Case(("run", "--ns", "SECA", "Write $USERNAME", "--dry-run"), logs_in=False),
    "run, console logs": Case(("--log-format", "console", "run", "--ns", "SECA", "Write $USERNAME")),
    "run, the script writes it": Case(("run", "--ns", "%SYS", "--file", "{dir}/secret.mac"), script_has_secret=True),
    "run --dry-run, the script holds it": Case(("run", "--ns", "%SYS", "--file", "{dir}/secret.mac", "--dry-run"),
                                                logs_in=False, script_has_secret=True),
    "run --json, the script writes it and fails": Case(("run", "--ns", "%SYS", "--file", "{dir}/fails.mac", "--json"),
                                                        code=5, script_has_secret=True),
    "delete-ns --dry-run": Case(("delete-ns", "--ns", "SECB", "--yes", "--dry-run")),
    "delete-ns": Case(("delete-ns", "--ns", "SECA", "--yes")),
    "delete-ns --json": Case(("delete-ns", "--ns", "SECB", "--yes", "--json")),
    "doctor --json": Case(("doctor", "--json")),
    "cache list --json": Case(("cache", "list", "--json")),
    "cache verify": Case(("cache", "verify")),
    "cache prune --json": Case(("cache", "prune", "--json")),
    "conformance --json": Case(("conformance", "--json")),
    "config": Case(("config",), logs_in=False, settings=False),
    "config --json": Case(("config", "--json"), logs_in=False, settings=False),
    # failures: the error, its fix line and the --json document
    "no such namespace": Case(("backup", "--ns", "NOSUCH", "--out", "{dir}/fx4", "--json"), code=2),
    "namespace exists": Case(("restore", "{dir}/fx", "--ns", "USER", "--json"), code=3),
    "a line fails": Case(("run", "--ns", "%SYS", "Set x=1/0", "--json"), code=5),
    "login refused": Case(("run", "--ns", "%SYS", "Write 1"), code=6, wrong_password=True),
}
#: Through the local transport too (`iris session` started on this host, its input on its stdin).
LOCAL = ("backup", "restore", "run", "run --json", "delete-ns", "doctor --json", "login refused")
#: Every recorded run: "TRANSPORT: CASE".
RUNS = [f"docker: {name}" for name in CASES] + [f"local: {name}" for name in LOCAL]
#: Where the secret shows as ***: the user's output, as the instance wrote it or the dry run shows it.
MASKED_OUTPUT = {"docker: run, the script writes it", "docker: run --dry-run, the script holds it",
                 "docker: run --json, the script writes it and fails"}


def case_of(run: str) -> Case:
    return CASES[run.split(": ", 1)[1]]


@dataclass
class Recording:
    password: str  # the login's
    wrong: str  # one the instance refuses
    runs: dict  # "TRANSPORT: CASE" -> secrettrace.Run
    places: dict[str, bytes]  # "TRANSPORT: PLACE" -> what it held: processes, docker inspect

    def given(self, name: str) -> str:
        """The password the run ``name`` was given."""
        return self.wrong if case_of(name).wrong_password else self.password

    def secrets(self, name: str) -> dict[str, str]:
        return {"password": self.password, "given": self.given(name)}


def _record(docker_engine, sim_image, directory: Path) -> Recording:
    """Every case run once, recorded.  The passwords are made here, fresh for each test session
    (nothing an earlier run left can match), and travel with the recording: under pytest-xdist,
    a worker that reads it never made them."""
    from iris_ops_sim.secrettrace import asking_for_a_login, inspected, record, watching

    password, wrong = f"Pw-{secrets.token_hex(5)}-Hunter2", f"Wrong-{secrets.token_hex(5)}"
    script = f'Write "user {USERNAME} has {password}",!'
    (directory / "secret.mac").write_text(script + "\n")
    (directory / "fails.mac").write_text(script + "\nSet x=1/0\n")
    runs, places = {}, {}
    with asking_for_a_login(docker_engine, sim_image, directory, USERNAME, password) as (sc, tap, env):
        _table(sc.instance)
        with watching(sc) as seen:
            for name, case in CASES.items():
                args = ["-v", *(word.format(dir=directory) for word in case.args)]
                given = wrong if case.wrong_password else password
                runs[f"docker: {name}"] = record(tap, {**env, "IRIS_OPS_PASSWORD": given}, args, cwd=directory)
        places.update({f"docker: {place}": held for place, held in {**seen, "docker inspect": inspected(sc)}.items()})
    runs.update(_record_local(directory / "local", password, wrong, places))
    return Recording(password, wrong, runs, places)


def _table(instance) -> None:
    instance.sql("USER", "CREATE TABLE Sec.Row (Name VARCHAR(20))")
    instance.sql("USER", "INSERT INTO Sec.Row (Name) VALUES ('one')")


#: An `iris` that keeps what it is typed in TYPED/<pid>.in and hands it to the real one.  In
#: Python, not `tee | iris`: a shell pipeline would outlive an `iris` that ends before its input
#: does (a refused login), and iris-ops would wait for it until its deadline.
TRANSCRIBING = """#!{python}
import os, subprocess, sys, threading
log = open("{typed}/%d.in" % os.getpid(), "wb")
child = subprocess.Popen(["{iris}", *sys.argv[1:]], stdin=subprocess.PIPE)
def pump():
    try:
        while True:
            chunk = os.read(0, 65536)
            if not chunk:
                break
            log.write(chunk)
            log.flush()
            child.stdin.write(chunk)
            child.stdin.flush()
    except OSError:
        pass
    finally:
        try:
            child.stdin.close()
        except OSError:
            pass
threading.Thread(target=pump, daemon=True).start()
sys.exit(child.wait())
"""


def _record_local(directory: Path, password: str, wrong: str, places: dict) -> dict:
    """The LOCAL cases through the local transport, on an instance installed on this host that
    asks for the login.  Its `iris` is a wrapper that keeps what each call is typed (its stdin):
    the session transcripts, one stream per call."""
    import shutil
    import tempfile

    from iris_ops_sim.secrettrace import Run, Stream, iris_ops, watching
    from iris_ops_sim.simcontainer import HostSim

    typed = directory / "typed"
    typed.mkdir(parents=True)
    home = tempfile.mkdtemp(prefix="iris-ops-secrets-")  # irisowner must reach it: not under pytest's 0700 tmp
    sim = HostSim(home)
    try:
        sim.install()
        _table(sim.instance)
        sim.instance.seed_user(USERNAME, roles="%All", change_password=0, password=password)
        sim.instance.set_os_authentication(False)
        wrapper = directory / "iris"
        wrapper.write_text(TRANSCRIBING.format(python=sys.executable, typed=typed, iris=sim.iris_command))
        wrapper.chmod(0o755)
        env = {**sim.env, "IRIS_OPS_IRIS_COMMAND": str(wrapper), "IRIS_OPS_USERNAME": USERNAME,
               "IRIS_OPS_LOG_FORMAT": "json"}
        runs = {}
        with watching() as seen:
            for name in LOCAL:
                case = CASES[name]
                before = set(typed.iterdir())
                done = iris_ops({**env, "IRIS_OPS_PASSWORD": wrong if case.wrong_password else password},
                                ["-v", *(word.format(dir=directory) for word in case.args)], cwd=directory)
                streams = [Stream(number, sent=bytearray(path.read_bytes()))
                           for number, path in enumerate(sorted(set(typed.iterdir()) - before))]
                runs[f"local: {name}"] = Run(tuple(done.args[3:]), done.returncode, done.stdout, done.stderr, streams)
        places.update({f"local: {place}": held for place, held in seen.items()})
        return runs
    finally:
        sim.end_sessions()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def recording(docker_engine, sim_image, tmp_path_factory) -> Recording:
    from iris_ops_sim.secrettrace import recorded_once

    return recorded_once(docker_engine, sim_image, tmp_path_factory, "core-secrets", _record)


# --- each run -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", RUNS)
def test_runs_as_it_should_with_the_password(recording, name):
    """Exit code as wanted (0 but for the failures), and the password really was typed at a login
    the instance asked for, in every run that opens a session."""
    from iris_ops_sim.secrettrace import transcript_problems

    run = recording.runs[name]
    why = run.report()
    assert run.code == case_of(name).code, why
    logins, _ = transcript_problems(run.streams, USERNAME, recording.given(name))
    assert (logins > 0) == case_of(name).logs_in, f"{logins} logins\n{why}"


@pytest.mark.parametrize("name", RUNS)
def test_stdout_holds_no_password(recording, name):
    """Results, --json documents, dry-run scripts, what the instance wrote back."""
    from iris_ops_sim.secrettrace import leaks

    run = recording.runs[name]
    why = run.report()
    assert leaks(recording.secrets(name), {"stdout": run.stdout}) == [], why


@pytest.mark.parametrize("name", RUNS)
def test_stderr_holds_no_password(recording, name):
    """-v's logs (every event, the settings event included) and error messages with their fix lines."""
    from iris_ops_sim.secrettrace import leaks

    run = recording.runs[name]
    why = run.report()
    assert leaks(recording.secrets(name), {"stderr": run.stderr}) == [], why


@pytest.mark.parametrize("name", [name for name in RUNS if not case_of(name).script_has_secret])
def test_the_sessions_see_the_password_only_as_the_login(recording, name):
    """On the engine's socket (exec commands and environments, the session's input, uploads, what
    comes back), and on the stdin of every `iris` the local transport starts: the password only
    as the answer to the login's password prompt."""
    from iris_ops_sim.secrettrace import transcript_problems

    run = recording.runs[name]
    why = run.report()
    assert transcript_problems(run.streams, USERNAME, recording.given(name))[1] == [], why


@pytest.mark.parametrize("name", [name for name in RUNS if case_of(name).settings])
def test_verbose_settings_show_the_mask(recording, name):
    """-v's ``operation.settings`` event names every setting: the password reads ***."""
    run = recording.runs[name]
    why = run.report()
    if "console" in run.args:
        [line] = [line for line in run.stderr.splitlines() if "operation.settings" in line]
        assert "'password': '***'" in line and f"'username': '{USERNAME}'" in line, why
        return
    [event] = run.events("operation.settings")
    assert event["settings"]["password"] == redact.MASK, why
    assert event["settings"]["username"] == USERNAME and event["sources"]["password"] == "env IRIS_OPS_PASSWORD"


@pytest.mark.parametrize("name", sorted(MASKED_OUTPUT))
def test_the_password_in_the_users_script_shows_as_the_mask(recording, name):
    """What the instance writes back, the script a dry run shows, the failure's document: ***
    where the password was."""
    run = recording.runs[name]
    why = run.report()
    assert f"user {USERNAME} has {redact.MASK}" in run.stdout, why


@pytest.mark.parametrize("transport", ["docker", "local"])
def test_the_session_ran_as_the_user_who_logged_in(recording, transport):
    assert recording.runs[f"{transport}: run"].stdout.strip() == USERNAME
    assert json.loads(recording.runs[f"{transport}: run --json"].stdout)["output"].strip() == USERNAME


def test_config_shows_the_mask(recording):
    run = recording.runs["docker: config"]
    why = run.report()
    assert re.search(r"^password +'\*\*\*' +env IRIS_OPS_PASSWORD$", run.stdout, re.MULTILINE), why
    rows = {row["name"]: row["value"] for row in json.loads(recording.runs["docker: config --json"].stdout)["settings"]}
    assert rows["password"] == redact.MASK and rows["username"] == USERNAME


# --- the whole recording: processes and the engine's view -----------------------------------------

def test_the_watchers_saw_the_runs(recording):
    """Proof that the places below were watched while iris-ops ran: iris-ops' own command lines
    here, `iris session` in the container and, for the local transport, here."""
    assert b"iris_ops\x00-v\x00backup" in recording.places["docker: host command lines"]
    in_container = recording.places["docker: container command lines and environments"]
    assert b"iris\x00session\x00IRIS" in in_container and len(in_container) > 1000
    assert b"\x00PATH=" in in_container  # environments were read there, not only command lines
    here = recording.places["local: host command lines"]
    assert b"iris_ops\x00-v\x00restore" in here and re.search(rb"/iris\x00session\x00IRIS\x00", here)
    assert b"\x00PATH=" in recording.places["local: host environments"]


PLACES = ["docker: host command lines", "docker: host environments",
          "docker: container command lines and environments", "docker: docker inspect",
          "local: host command lines", "local: host environments"]


@pytest.mark.parametrize("place", PLACES)
def test_no_process_or_inspect_holds_the_password(recording, place):
    """``ps`` argv on this host and in the container, every environment iris-ops' processes got
    (a docker exec's, a local `iris`'s, any child's), and the engine's record of every exec."""
    from iris_ops_sim.secrettrace import leaks

    assert leaks({"password": recording.password, "wrong": recording.wrong}, {place: recording.places[place]}) == []
