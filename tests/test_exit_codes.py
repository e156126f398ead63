"""Issue 9, point 8: exit codes that match the table (README, errors.py).  Through the CLI."""

from __future__ import annotations

import pytest

from clihelp import cli, fails


def test_an_unknown_instance_is_unreachable_with_a_fix_naming_qlist(sim_container):
    proc = fails(cli(sim_container, "run", "--ns", "USER", "Write 1", IRIS_OPS_INSTANCE="NOPE"), 6)
    assert "Instance 'NOPE' not found" in proc.stderr
    assert "iris qlist" in proc.stderr


@pytest.mark.parametrize("args,env", [
    (("--timeout", "0"), {}),
    (("--timeout", "-1"), {}),
    (("--timeout", "soon"), {}),
    ((), {"IRIS_OPS_TIMEOUT": "0"}),
    ((), {"IRIS_OPS_TRANSFER_TIMEOUT": "0"}),
    ((), {"IRIS_OPS_FREEZE_LIMIT": "0"}),
], ids=["timeout-0", "timeout-negative", "timeout-text", "env-timeout-0", "transfer-timeout-0", "freeze-limit-0"])
def test_impossible_values_are_usage_errors(sim_container, args, env):
    proc = fails(cli(sim_container, "run", "--ns", "USER", "Write 1", *args, **env), 2)
    assert "must be" in proc.stderr or "needs a number" in proc.stderr


def test_the_fix_names_the_engine_address_that_failed(sim_container, tmp_path):
    address = f"unix://{tmp_path}/no-engine.sock"
    proc = fails(cli(sim_container, "run", "--ns", "USER", "Write 1", DOCKER_HOST=address), 6)
    fix_lines = [line for line in proc.stderr.splitlines() if "fix" in line.lower()] or proc.stderr.splitlines()
    assert any(address in line for line in fix_lines), proc.stderr
