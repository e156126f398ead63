"""Issue 22 point 4, core tasks: secret tests that reach the secret.

Every task that reaches the instance runs to success on a simulated instance that asks for the
password (OS authentication off: ``iris session`` prompts for a login, answered with
``IRIS_OPS_USERNAME`` / ``IRIS_OPS_PASSWORD``), with ``-v`` and JSON logs; failing runs too.  Each
task runs once, and everything is recorded during that run: stdout (results, ``--json``
documents, ``--dry-run`` scripts), stderr (``-v`` logs, errors), the bytes on the engine's socket
(a recording tap: exec commands and environments, the session transcript), every command line on
this host and every command line and environment in the container (sampled from /proc), and
``docker inspect`` at the end.  The tests below are cheap assertions over that one recording,
each on its own, so that a broken mask fails many of them without more runs.
"""

from __future__ import annotations

import json
import re
import secrets
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
#: Where the secret shows as ***: the user's output, as the instance wrote it or the dry run shows it.
MASKED_OUTPUT = {"run, the script writes it", "run --dry-run, the script holds it",
                 "run --json, the script writes it and fails"}


@dataclass
class Recording:
    password: str  # the login's
    wrong: str  # one the instance refuses
    runs: dict  # case name -> secrettrace.Run
    places: dict[str, bytes]  # host and container processes, docker inspect

    def given(self, name: str) -> str:
        """The password the run ``name`` was given."""
        return self.wrong if CASES[name].wrong_password else self.password

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
    with asking_for_a_login(docker_engine, sim_image, directory, USERNAME, password) as (sc, tap, env):
        sc.instance.sql("USER", "CREATE TABLE Sec.Row (Name VARCHAR(20))")
        sc.instance.sql("USER", "INSERT INTO Sec.Row (Name) VALUES ('one')")
        runs = {}
        with watching(sc) as seen:
            for name, case in CASES.items():
                args = ["-v", *(word.format(dir=directory) for word in case.args)]
                given = wrong if case.wrong_password else password
                runs[name] = record(tap, {**env, "IRIS_OPS_PASSWORD": given}, args, cwd=directory)
        return Recording(password, wrong, runs, {**seen, "docker inspect": inspected(sc)})


@pytest.fixture(scope="module")
def recording(docker_engine, sim_image, tmp_path_factory) -> Recording:
    from iris_ops_sim.secrettrace import recorded_once

    return recorded_once(docker_engine, sim_image, tmp_path_factory, "core-secrets", _record)


# --- each run -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(CASES))
def test_runs_as_it_should_with_the_password(recording, name):
    """Exit code as wanted (0 but for the failures), and the password really was typed at a login
    the instance asked for, in every run that opens a session."""
    from iris_ops_sim.secrettrace import transcript_problems

    run = recording.runs[name]
    why = run.report()
    assert run.code == CASES[name].code, why
    logins, _ = transcript_problems(run.streams, USERNAME, recording.given(name))
    assert (logins > 0) == CASES[name].logs_in, f"{logins} logins\n{why}"


@pytest.mark.parametrize("name", list(CASES))
def test_stdout_holds_no_password(recording, name):
    """Results, --json documents, dry-run scripts, what the instance wrote back."""
    from iris_ops_sim.secrettrace import leaks

    run = recording.runs[name]
    why = run.report()
    assert leaks(recording.secrets(name), {"stdout": run.stdout}) == [], why


@pytest.mark.parametrize("name", list(CASES))
def test_stderr_holds_no_password(recording, name):
    """-v's logs (every event, the settings event included) and error messages with their fix lines."""
    from iris_ops_sim.secrettrace import leaks

    run = recording.runs[name]
    why = run.report()
    assert leaks(recording.secrets(name), {"stderr": run.stderr}) == [], why


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if not case.script_has_secret])
def test_the_engine_sees_the_password_only_as_the_login(recording, name):
    """On the engine's socket (exec commands and environments, the session's input, uploads, what
    comes back): the password only as the answer to the login's password prompt."""
    from iris_ops_sim.secrettrace import transcript_problems

    run = recording.runs[name]
    why = run.report()
    assert transcript_problems(run.streams, USERNAME, recording.given(name))[1] == [], why


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case.settings])
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


def test_the_session_ran_as_the_user_who_logged_in(recording):
    assert recording.runs["run"].stdout.strip() == USERNAME
    assert json.loads(recording.runs["run --json"].stdout)["output"].strip() == USERNAME


def test_config_shows_the_mask(recording):
    run = recording.runs["config"]
    why = run.report()
    assert re.search(r"^password +'\*\*\*' +env IRIS_OPS_PASSWORD$", run.stdout, re.MULTILINE), why
    rows = {row["name"]: row["value"] for row in json.loads(recording.runs["config --json"].stdout)["settings"]}
    assert rows["password"] == redact.MASK and rows["username"] == USERNAME


# --- the whole recording: processes and the engine's view -----------------------------------------

def test_the_watchers_saw_the_runs(recording):
    """Proof that the places below were watched while iris-ops ran: iris-ops' own command lines
    here, `iris session` in the container."""
    assert b"iris_ops\x00-v\x00backup" in recording.places["host command lines"]
    in_container = recording.places["container command lines and environments"]
    assert b"iris\x00session\x00IRIS" in in_container and len(in_container) > 1000
    assert b"\x00PATH=" in in_container  # environments were read there, not only command lines


@pytest.mark.parametrize("place", ["host command lines", "host environments",
                                   "container command lines and environments", "docker inspect"])
def test_no_process_or_inspect_holds_the_password(recording, place):
    """``ps`` argv on this host and in the container, every environment iris-ops' processes got
    (a docker exec's, any child's), and the engine's record of every exec."""
    from iris_ops_sim.secrettrace import leaks

    assert leaks({"password": recording.password, "wrong": recording.wrong}, {place: recording.places[place]}) == []
