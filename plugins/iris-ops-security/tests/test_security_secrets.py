"""Issue 22 point 4 for iris-ops-security: secret tests that reach the secret.

Every task runs to success on a simulated instance that asks for a login (OS authentication off;
``IRIS_OPS_USERNAME`` / ``IRIS_OPS_PASSWORD``), the new passwords given by ``--password-env``,
``--password-stdin`` and ``IRIS_OPS_NEW_PASSWORD``, with ``-v`` and JSON logs; dry runs and
failing runs too.  Each runs once, recorded (stdout, stderr, the engine's socket, command lines
and environments on this host and in the container, ``docker inspect``), and the tests are cheap
assertions over that recording: neither the login's password nor any new one shows anywhere but
the login's answer to the password prompt, -v's settings show ``***``, and each new password
arrived where it should (a dry run's and a refused one did not).
"""

from __future__ import annotations

import io
import json
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("iris_ops_security")

from iris_ops import redact  # noqa: E402
from iris_ops_security import secret  # noqa: E402

pytestmark = pytest.mark.docker

USERNAME = "Ops"


def new_passwords() -> dict[str, str]:
    """The new passwords, by what each is for: fresh for each test session (nothing an earlier
    run left can match); they travel with the recording, since under pytest-xdist a worker that
    reads it never made them."""
    token = secrets.token_hex(5)
    return {"created": f"Créé-{token}-1", "updated": f"Updated-{token}-2", "set by stdin": f"Stdin {token} 3!",
            "dry run": f"DryRun-{token}-4", "set by env": f"Env-{token}-5", "unknown user": f"Nobody-{token}-6",
            "exists": f"Exists-{token}-7", "too long": f"TooLong-{token}-" + "x" * 120,
            "created, dry run": f"Bob-{token}-8"}


@dataclass(frozen=True)
class Step:
    args: tuple[str, ...]
    code: int = 0
    stdin: str | None = None  # which new password is piped in
    env: dict = field(default_factory=dict)  # variable -> which new password it holds
    then: str | None = None  # alice's password after it (a dry run's or a refused one must not arrive)


_ALICE = ("--user", "alice")
STEPS = {  # in the order they run
    "security-report --json": Step(("security-report", "--json")),
    "unexpire-passwords --dry-run": Step(("unexpire-passwords", "--dry-run")),
    "unexpire-passwords": Step(("unexpire-passwords",)),
    "enable-service --dry-run": Step(("enable-service", "--service", "%Service_CallIn", "--dry-run")),
    "enable-service": Step(("enable-service", "--service", "%Service_CallIn")),
    "disable-service": Step(("disable-service", "--service", "%Service_CallIn")),
    "create-user --dry-run": Step(("create-user", "--user", "bob", "--dry-run"),
                                  env={"IRIS_OPS_NEW_PASSWORD": "created, dry run"}),
    "create-user --password-env": Step(("create-user", *_ALICE, "--roles", "%Developer", "--password-env", "ALICE_PW"),
                                       env={"ALICE_PW": "created"}, then="created"),
    "create-user --update --password-stdin": Step(("create-user", *_ALICE, "--update", "--full-name", "Alice",
                                                   "--password-stdin"), stdin="updated", then="updated"),
    "set-password --password-stdin": Step(("set-password", *_ALICE, "--password-stdin"),
                                          stdin="set by stdin", then="set by stdin"),
    "set-password --dry-run": Step(("set-password", *_ALICE, "--password-stdin", "--dry-run"),
                                   stdin="dry run", then="set by stdin"),
    "set-password, IRIS_OPS_NEW_PASSWORD": Step(("set-password", *_ALICE),
                                                env={"IRIS_OPS_NEW_PASSWORD": "set by env"}, then="set by env"),
    # failures: the error, its fix line
    "set-password, no such user": Step(("set-password", "--user", "nobody"), code=2,
                                       env={"IRIS_OPS_NEW_PASSWORD": "unknown user"}),
    "create-user, exists": Step(("create-user", *_ALICE), code=3, env={"IRIS_OPS_NEW_PASSWORD": "exists"},
                                then="set by env"),
    "set-password, refused by IRIS": Step(("set-password", *_ALICE, "--password-stdin"), code=5,
                                          stdin="too long", then="set by env"),
}


@dataclass
class Recording:
    login: str  # the login's password
    new: dict[str, str]  # the new passwords, by what each is for
    runs: dict  # step name -> secrettrace.Run
    arrived: dict[str, bool]  # step name -> alice's password was the wanted one after it
    places: dict[str, bytes]  # host and container processes, docker inspect
    left: list[str]  # one-time secret directories left in the instance
    report: dict  # the instance's security, at the end


def _record(docker_engine, sim_image, directory: Path) -> Recording:
    from iris_ops_sim.secrettrace import asking_for_a_login, inspected, record, watching
    from security_helpers import secret_dirs

    login, new = f"Login-{secrets.token_hex(5)}-pw", new_passwords()
    with asking_for_a_login(docker_engine, sim_image, directory, USERNAME, login) as (sc, tap, env):
        runs, arrived = {}, {}
        with watching(sc) as seen:
            for name, step in STEPS.items():
                given = {variable: new[which] for variable, which in step.env.items()}
                stdin = new[step.stdin] + "\n" if step.stdin else None
                runs[name] = record(tap, {**env, **given}, ["-v", *step.args], stdin=stdin, cwd=directory)
                if step.then:
                    arrived[name] = sc.instance.check_password("alice", new[step.then])
            arrived["create-user --dry-run"] = "bob" not in sc.instance.security()["users"]
        return Recording(login, new, runs, arrived, {**seen, "docker inspect": inspected(sc)}, secret_dirs(sc),
                         sc.instance.security())


@pytest.fixture(scope="module")
def recording(docker_engine, sim_image, tmp_path_factory) -> Recording:
    from iris_ops_sim.secrettrace import recorded_once

    return recorded_once(docker_engine, sim_image, tmp_path_factory, "security-secrets", _record)


@pytest.mark.parametrize("name", list(STEPS))
def test_runs_as_it_should_with_a_login(recording, name):
    """Exit code as wanted, after a login the instance asked for (the password typed at its prompt)."""
    from iris_ops_sim.secrettrace import transcript_problems

    run = recording.runs[name]
    why = run.report()
    assert run.code == STEPS[name].code, why
    assert transcript_problems(run.streams, USERNAME, recording.login)[0] > 0, why


@pytest.mark.parametrize("name", [name for name in STEPS if STEPS[name].then] + ["create-user --dry-run"])
def test_the_new_password_arrived_or_not(recording, name):
    """The password given arrived; a dry run's and a refused one did not (the old one stays)."""
    assert recording.arrived[name]


@pytest.mark.parametrize("name", list(STEPS))
def test_stdout_holds_no_password(recording, name):
    from iris_ops_sim.secrettrace import leaks

    run = recording.runs[name]
    why = run.report()
    assert leaks({"login": recording.login, **recording.new}, {"stdout": run.stdout}) == [], why


@pytest.mark.parametrize("name", list(STEPS))
def test_stderr_holds_no_password(recording, name):
    """-v's logs and error messages (the refusals' too)."""
    from iris_ops_sim.secrettrace import leaks

    run = recording.runs[name]
    why = run.report()
    assert leaks({"login": recording.login, **recording.new}, {"stderr": run.stderr}) == [], why


@pytest.mark.parametrize("name", list(STEPS))
def test_the_engine_sees_the_login_only_at_its_prompt_and_no_new_password(recording, name):
    """A new password travels masked in a one-time file: in no form on the engine's socket."""
    from iris_ops_sim.secrettrace import leaks, transcript_problems

    run = recording.runs[name]
    why = run.report()
    assert transcript_problems(run.streams, USERNAME, recording.login)[1] == [], why
    traffic = b"".join(bytes(stream.sent) + bytes(stream.received) for stream in run.streams)
    assert leaks(recording.new, {"engine traffic": traffic}) == [], why


@pytest.mark.parametrize("name", list(STEPS))
def test_verbose_settings_show_the_mask(recording, name):
    run = recording.runs[name]
    why = run.report()
    [event] = run.events("operation.settings")
    assert event["settings"]["password"] == redact.MASK and event["settings"]["username"] == USERNAME, why


@pytest.mark.parametrize("place", ["host command lines", "host environments",
                                   "container command lines and environments", "docker inspect"])
def test_no_process_or_inspect_holds_a_password(recording, place):
    from iris_ops_sim.secrettrace import leaks

    assert leaks({"login": recording.login, **recording.new}, {place: recording.places[place]}) == []


def test_the_watchers_saw_the_runs_and_the_tasks_did_their_work(recording):
    assert b"iris_ops\x00-v\x00set-password" in recording.places["host command lines"]
    in_container = recording.places["container command lines and environments"]
    assert b"iris\x00session\x00IRIS" in in_container and len(in_container) > 1000
    assert b"\x00PATH=" in in_container  # environments were read there, not only command lines
    assert json.loads(recording.runs["security-report --json"].stdout)["users"]
    assert recording.report["users"]["alice"]["FullName"] == "Alice"
    assert recording.left == []


@pytest.mark.parametrize("source", ["--password-env", "--password-stdin"])
def test_a_password_read_is_masked_from_then_on(monkeypatch, source):
    """A password named by no secret-looking variable (or piped in) is masked as one that is:
    anything that would show it later (a log event, an error) shows ``***``."""
    password = f"Unnamed-{secrets.token_hex(5)}"
    if source == "--password-env":
        monkeypatch.setenv("MY_PW", password)
        read = secret.read_password("MY_PW")
    else:
        monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
        read = secret.read_password(from_stdin=True)
    assert read == password
    assert redact.text(f"user alice, password {password}.") == "user alice, password ***."
