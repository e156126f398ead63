"""Issue 9, point 7: `run` accepts what people type.  Each line runs by Xecute of a literal, so
the wrapper's bookkeeping never shares the user's line.  Through the CLI."""

from __future__ import annotations

import pytest

from clihelp import cli, fails, ok


@pytest.mark.parametrize("code,shown", [
    ('Set x=1 If x=2 Write "no"', ""),                       # a false legacy If skips the rest of *its* line
    ('Set x=2 If x=2 Write "yes"', "yes"),
    ("For i=1:1:3 Write i", "123"),                         # counted once, not three times
    ('Write "a" ; a trailing comment', "a"),
    ('Write "b" // a trailing comment', "b"),
    ('Quit  Write "skipped"', ""),                          # Quit leaves the line, not the run
    ('Set y=1 Write:y=2 "no" Write:y=1 "post"', "post"),    # postconditionals
    ("Write 1\tWrite 2", "12"),                               # a tab between commands
    ('Write "say ""hi"""', 'say "hi"'),
], ids=["legacy-if-false", "legacy-if-true", "for", "semicolon-comment", "slash-comment", "quit",
        "postconditional", "tab", "quotes"])
def test_lines_run_as_typed(sim_container, code, shown):
    proc = ok(cli(sim_container, "run", "--ns", "USER", f'{code}\nWrite "|done"'))
    assert proc.stdout.replace("\n", "") == f"{shown}|done"


def test_a_failing_line_still_stops_the_rest(sim_container):
    proc = fails(cli(sim_container, "run", "--ns", "USER", 'For i=1:1:2 Write i\nWrite 1/0\nWrite "never"'), 5)
    assert "<DIVIDE>" in proc.stdout + proc.stderr
    assert "never" not in proc.stdout and "12" in proc.stdout


def test_the_wrapper_stays_off_the_users_line(sim_container):
    proc = ok(cli(sim_container, "run", "--ns", "USER", 'Write "x" ;', "--dry-run"))
    assert 'Xecute "Write ""x"" ;"' in proc.stdout
