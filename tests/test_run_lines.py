"""Issue 9, point 7: `run` accepts what people type.  Each line runs by Xecute of a literal, so
the wrapper's bookkeeping never shares the user's line.  Through the CLI."""

from __future__ import annotations

import json

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


# --- issue 20: a HALT is refused, never silently dropped -----------------------------------------

HALTS = [
    ("H", 1), ("Halt", 1), ("  halt  ", 3), ("hALT", 1), ("H:x", 1), ("HALT:$Get(x)", 1), ('H:x="a b"', 1),
    ("Write 1 H", 9), ('Write "x"  H', 12), ("Set x = 1 H", 11), ("If x H", 6), ("If x  H", 7), ("Else  H", 7),
    ("For  H", 6), ("For i=1:1:3 H", 13), ("Quit:x  H", 9), ("Try { H } Catch e { }", 7),
    ("If x { Write 1 H }", 16), ("H}", 1), ("H ; bye", 1), ("H  ; bye", 1), ("H // bye", 1), ("Write ! H", 9),
    ("Write !!,x H", 12), ("Write x?1A H", 12), ("Set h=1 H", 9), (". H", 3), ("Write (1) H", 11),
    ("Do ##class(X).Y(1, 2) H", 23), ("Write 1\tH", 9), ("Write 1 /* c */ H", 17), ("Write 1 H:x=1  Write 2", 9),
]
NOT_HALTS = [
    'Write "Halt"', 'Write "H"', "Set halt=1", "Write halt", "Set x = halt", "Write h", "Kill h", "Do halt",
    'Set $Halt="trap"', "Write $HALT", "Hang 1", "H 5", "H:x 5", "Write 1 ; H", "Write 1 // H", "Write 1 /* H */",
    "Write obj.Halt", "Do ..Halt()", "Write:halt 1", "Write x,h", "Write x, h", 'Write $Select(x:"Halt",1:"H")',
    "Set ^halt(1)=2", "Write x _ h", "New h  Write h", "Write 'h", "Write -h", "Write @h", "Write x#2",
    'Write "say ""H"""', "Write 1 ;H  H",
]


@pytest.mark.parametrize("line,column", HALTS, ids=[line for line, _ in HALTS])
def test_a_halt_command_is_found_wherever_a_command_stands(line, column):
    from iris_ops.haltscan import find_halt

    found = find_halt(line)
    assert found is not None and found.column == column
    assert found.text.lower().startswith("h")


@pytest.mark.parametrize("line", NOT_HALTS)
def test_halt_in_a_string_a_comment_a_name_or_hang_is_not_a_halt(line):
    from iris_ops.haltscan import find_halt

    assert find_halt(line) is None


def test_a_halt_line_is_refused_and_nothing_runs(sim_container):
    code = 'Write "before"\nSet x=1\n  h:1=1  ; leave\nWrite "after"'
    proc = fails(cli(sim_container, "run", "--ns", "USER", code), 2)
    event = json.loads(proc.stderr.strip().splitlines()[-1])
    assert event["event"] == ("line 3, column 3: `h:1=1` is a HALT command: it would end the session before "
                              "iris-ops reads the result, and no line after it would run")
    assert event["fix"].startswith("Remove it")
    assert proc.stdout == ""  # not one line ran, not even the first
    shown = ok(cli(sim_container, "run", "--help")).stdout
    assert "A line with a HALT command is refused (exit 2)" in shown


def test_lines_that_only_name_halt_run(sim_container):
    code = 'Write "Halt",!\nSet halt=2,h=3 Write halt+h,!\nHang 0 Write "hung",!'
    assert ok(cli(sim_container, "run", "--ns", "USER", code)).stdout == "Halt\n5\nhung\n"
