"""``iris-ops plan`` as a process, where it needs no instance: a desired state it refuses is exit 2,
named line by line, before any instance is reached (kept apart from the in-process tests that
mutation testing runs)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from clihelp import command

DATA = Path(__file__).parent / "data" / "cpf"


def test_plan_refuses_an_unsupported_merge_file_before_reaching_any_instance(tmp_path):
    """Exit 2 naming each refused line, with no instance configured at all: the file is read first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(IRIS_OPS_LOG_FORMAT="console", IRIS_OPS_CONTAINER="no-such-container")
    run = lambda *args: subprocess.run(command("plan", *args), env=env, cwd=tmp_path, capture_output=True, text=True,
                                       stdin=subprocess.DEVNULL, timeout=60)
    refused = run("--cpf", DATA / "refused.cpf")
    assert refused.returncode == 2, refused.stderr
    assert refused.stdout == ""
    assert f"{DATA / 'refused.cpf'}:15: [actions]: IRIS reads section headers with their case" in refused.stderr
    # ModifyService, ModifyUser and CreateRole are the security plugin's (installed with the
    # suite), read as its kinds; without it they are refused, naming it
    assert f"{DATA / 'refused.cpf'}:8:" not in refused.stderr and f"{DATA / 'refused.cpf'}:9:" not in refused.stderr
    env["IRIS_OPS_DISABLE_PLUGINS"] = "security"
    without = run("--cpf", DATA / "refused.cpf")
    assert without.returncode == 2
    for line, action in ((8, "ModifyService"), (13, "CreateRole")):
        assert f"{DATA / 'refused.cpf'}:{line}: {action}: roles, users and services are kinds of the security " \
               "plugin: install iris-ops-security" in without.stderr
    del env["IRIS_OPS_DISABLE_PLUGINS"]
    nothing = run()
    assert nothing.returncode == 2
    assert "no desired state: give --state FILE or --cpf FILE, or add a [state] table to iris-ops.toml" in nothing.stderr
    both = run("--cpf", DATA / "refused.cpf", "--state", "x.toml")
    assert both.returncode == 2
    assert "--state and --cpf cannot be combined" in both.stderr



def test_apply_check_refuses_flags_that_would_change_something(tmp_path):
    """--check changes nothing: with --prune or --dry-run it is exit 2, before any file or instance."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRIS_OPS_")}
    env.update(IRIS_OPS_LOG_FORMAT="console", IRIS_OPS_CONTAINER="no-such-container")
    for extra in ("--prune", "--dry-run"):
        done = subprocess.run(command("apply", "--check", extra), env=env, cwd=tmp_path, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=60)
        assert done.returncode == 2, done.stderr
        assert f"--check changes nothing: {extra} means nothing with it" in done.stderr
        assert done.stdout == ""
