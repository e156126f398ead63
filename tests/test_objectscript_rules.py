"""What the ObjectScript builders mean, run on the simulated IRIS in this process
(tests/inproc_sim.py), and the exact refusal of what they must not build."""

from __future__ import annotations

import pytest

from inproc_sim import sim  # noqa: F401 - sim is a fixture
from iris_ops import objectscript as o
from iris_ops.errors import ScriptError
from iris_ops.objectscript import Script, lit, var


def value_of(sim, expr, *setup) -> object:
    script = Script("%SYS", purpose="evaluate")
    script.step("eval", *setup, o.result("v", expr))
    return sim.run(script)["v"]


@pytest.mark.parametrize("value,expected", [
    (True, 1), (False, 0), (-7, -7), (2.5, 2.5), (1e-7, 0), (123456789.125, 123456789.125), (1e21, 1e21),
    ('say "hi"', 'say "hi"'), ("", ""), ("naïve", "naïve"),
])
def test_literals_mean_their_python_value(sim, value, expected):
    assert value_of(sim, lit(value)) == expected


def test_literal_refusals():
    with pytest.raises(ValueError, match=r"^refusing a string with control characters: 'a\\x7fb'$"):
        lit("a\x7fb")
    with pytest.raises(TypeError, match="^lit\\(\\) takes a Python value, not code$"):
        lit(o.SPECIAL["$JOB"])
    with pytest.raises(TypeError, match="^cannot make an ObjectScript literal of list$"):
        lit([1])


def test_user_code_runs_as_typed_tabs_included(sim):
    script = Script("%SYS", purpose="user code")
    script.step("run", o.user_code('Set x="a\tb" Set y=$Length(x)'), o.result("x", var("x")), o.result("y", var("y")))
    assert sim.run(script) | {} == {"x": "a\tb", "y": 3, "ok": 1, "error": "", "step": "", "steps": 1}
    two = Script("%SYS", purpose="user code")
    two.step("run", o.user_code("Set x=1\tSet y=2\tSet z=3"), o.result("s", o.op(o.op(var("x"), "+", var("y")), "+", var("z"))))
    assert sim.run(two)["s"] == 6
    for bad in ("a\nb", "a\rb", "a\x7f", "a\x00"):
        with pytest.raises(ValueError, match="^a script line may not contain control characters$"):
            o.user_code(bad)
    assert o.user_code("Write 1") == 'Xecute "Write 1"'


def test_expressions_mean_what_they_say(sim):
    assert value_of(sim, o.op(lit(7), "#", lit(3))) == 1
    assert value_of(sim, o.op(lit("ab"), "[", lit("b"))) == 1
    assert value_of(sim, o.not_(o.op(lit(1), "'=", lit(1)))) == 1
    assert value_of(sim, o.select((o.op(lit(1), "=", lit(2)), lit("no")), (lit(1), lit("yes")), default=lit("d"))) == "yes"
    assert value_of(sim, o.select((lit(0), lit("no")), default="fallback")) == "fallback"
    assert value_of(sim, o.func("$Piece", lit("a,b,c"), lit(","), lit(2))) == "b"
    assert value_of(sim, o.func("$Char", 65, 66)) == "AB"
    assert value_of(sim, o.dynamic_object(a=lit(1), b="x")) == {"a": 1, "b": "x"}
    assert value_of(sim, o.new_array()) == []
    assert value_of(sim, o.call("%Library.File", "NormalizeDirectory", "/tmp/x", None)) == "/tmp/x/"
    assert value_of(sim, o.method(var("s"), "%Get", lit("k")), o.set_(var("s"), o.dynamic_object(k=lit(5)))) == 5
    assert value_of(sim, o.prop(var("s"), "%SQLCODE"),
                    o.set_(var("s"), o.call("%SQL.Statement", "%ExecDirect", None, lit("SELECT 1")))) == 0
    assert value_of(sim, o.system("Status.IsError", o.call("Config.Namespaces", "Get", "NOPE", o.byref("p")))) == 1
    assert value_of(sim, var("arr", lit("k"), 2), o.set_(var("arr", "k", 2), lit("deep"))) == "deep"
    assert value_of(sim, o.SPECIAL["$Namespace"]) == "%SYS"


def test_statements_mean_what_they_say(sim):
    script = Script("%SYS", purpose="statements")
    i, total, a = var("i"), var("total"), var("arr")
    script.step(
        "loops",
        o.set_(total, 0),
        o.for_(i, 1, 4, o.set_(total, o.op(total, "+", i))),
        o.set_(a, o.new_array()),
        o.while_(o.op(o.method(a, "%Size"), "<", 3), o.push(a, o.method(a, "%Size"))),
        o.set_(var("n2"), 0),
        o.for_ever(o.set_(var("n2"), o.op(var("n2"), "+", 1)), o.quit_if(o.op(var("n2"), ">", 4))),
        o.if_(o.op(total, "=", 10), o.set_(var("branch"), lit("then")), else_=[o.set_(var("branch"), lit("else"))]),
        o.if_(lit(0), o.set_(var("never"), 1)),
        o.try_(o.throw(lit("inside")), catch=[o.set_(var("caught"), o.method(var("ex"), "DisplayString"))]),
        o.sequence(o.set_(var("s1"), 1), o.set_(var("s2"), 2)),
        o.kill(var("s2")),
        o.do(o.method(a, "%Push", lit("pushed"))),
        o.result("total", total), o.result("a", a), o.result("n2", var("n2")), o.result("branch", var("branch")),
        o.result("never", o.func("$Get", var("never"), lit("unset"))), o.result("caught", var("caught")),
        o.result("s", o.op(var("s1"), "_", o.func("$Get", var("s2"), lit("-")))),
    )
    got = sim.run(script)
    assert (got["total"], got["a"], got["n2"], got["branch"], got["never"], got["s"]) == \
        (10, [0, 1, 2, "pushed"], 5, "then", "unset", "1-")
    assert got["caught"].endswith("inside")


def test_checks_throw_what_went_wrong(sim):
    for stmt, message in [
        (o.check_true(o.call("%Library.File", "Exists", "/nope"), "the file is not there"), "the file is not there"),
        (o.check_status(o.call("Config.Namespaces", "Get", "NOPE", o.byref("p"))), "NOPE"),
        (o.check_sql(o.call("%SQL.Statement", "%ExecDirect", None, lit("SELECT * FROM No.T"))),
         "SQL error -30: Table 'NO.T' not found"),
    ]:
        script = Script("%SYS", purpose="checks")
        script.step("first", stmt).step("second", o.result("reached", 1))
        with pytest.raises(ScriptError) as caught:
            sim.run(script)
        assert message in str(caught.value) and caught.value.details["step"] == "first"
        assert "reached" not in caught.value.details["result"]
    script = Script("%SYS", purpose="checks")
    script.step("ok", o.check_true(o.call("%Library.File", "Exists", "/usr/irissys/mgr/"), "not there"),
                o.check_sql(o.call("%SQL.Statement", "%ExecDirect", None, lit("SELECT 1"))), o.result("passed", 1))
    assert sim.run(script)["passed"] == 1


def test_a_failed_step_skips_the_rest_but_not_the_always_steps(sim):
    script = Script("%SYS", purpose="steps")
    script.step("one", o.result("one", 1))
    script.step("two", o.throw(lit("boom")))
    script.step("three", o.result("three", 1))
    script.step("cleanup", o.result("cleaned", 1), always=True)
    script.step("cleanup2", o.throw(lit("second failure")), always=True)
    with pytest.raises(ScriptError) as caught:
        sim.run(script)
    result = caught.value.details["result"]
    assert (result["one"], result["cleaned"], result["step"], result["steps"]) == (1, 1, "two", 2)
    assert "three" not in result and result["error"].endswith("boom")
    assert script.step_names == ["one", "two", "three", "cleanup", "cleanup2"]


def test_a_folded_script_runs_as_one_step_of_another(sim):
    inner = Script("%SYS", purpose="inner")
    inner.step("a", o.set_(var("x"), 1)).step("b", o.set_(var("y"), o.op(var("x"), "+", 1)))
    outer = Script("%SYS", purpose="outer")
    outer.step("folded", *inner.folded(), o.result("y", var("y")))
    assert sim.run(outer)["y"] == 2
    inner.step("c", o.result("z", 1), always=True)
    with pytest.raises(ValueError, match="^inner: a script with always steps cannot be folded into another$"):
        inner.folded()


def test_locks_and_hangs(sim):
    ref = o.global_ref("IrisOps.Lock", "ns", 1)
    script = Script("%SYS", purpose="locks")
    script.step("lock", o.lock(ref, timeout=0), o.result("got", o.TEST),
                o.lock(ref, shared=True, timeout=0.5), o.result("shared", o.TEST),
                o.result("first", o.lock_order(lit(""))),
                o.lock(ref, release=True), o.lock(ref, release=True, shared=True), o.hang(0.01), o.hang(0))
    got = sim.run(script)
    assert (got["got"], got["shared"]) == (1, 1) and got["first"] == '^IrisOps.Lock("ns",1)'
    assert o.lock(ref, timeout=-3) == 'Lock +^IrisOps.Lock("ns",1):0'
    assert o.lock(ref, timeout=2.5, shared=True) == 'Lock +^IrisOps.Lock("ns",1)#"S":2.5'
    assert o.lock(o.global_ref("G")) == "Lock +^G"
    assert (o.hang(60), o.hang(0.25), o.hang(2.0)) == ("Hang 60", "Hang 0.25", "Hang 2")


def test_markers_are_assembled_at_run_time(sim):
    token = "abcdef123456"
    script = Script("%SYS", purpose="marker")
    script.step("w", o.set_(var("t"), o.split_token(token)), o.write_marker(var("t"), "HELD", lit(1), var("t")))
    out = sim.session("\n".join(script.lines()[:2]))
    assert "<<<abcdef123456:HELD>>>1abcdef123456" in out
    assert "<<<abcdef123456" not in "\n".join(script.lines())


@pytest.mark.parametrize("build,message", [
    (lambda: var("1x"), "invalid local variable name '1x'"),
    (lambda: o.call("Bad Class", "M"), "invalid class name 'Bad Class'"),
    (lambda: o.call("A.B", "bad-m"), "invalid method name 'bad-m'"),
    (lambda: o.method(var("x"), "bad-m"), "invalid method name 'bad-m'"),
    (lambda: o.prop(var("x"), "bad p"), "invalid property name 'bad p'"),
    (lambda: o.system("Status", "x"), "invalid $SYSTEM call 'Status'"),
    (lambda: o.system("Bad Cls.M"), "invalid $SYSTEM call 'Bad Cls.M'"),
    (lambda: o.func("$ZF", 1), "function $ZF is not in the supported subset"),
    (lambda: o.op(1, "**", 2), "unsupported operator '**'"),
    (lambda: o.dynamic_object(**{"bad key": 1}), "invalid JSON key 'bad key'"),
    (lambda: o.set_(var("n"), 1), "n is reserved by the script frame"),
    (lambda: o.kill(var("x"), var("tok")), "tok is reserved by the script frame"),
    (lambda: o.for_(var("step"), 1, 2), "step is reserved by the script frame"),
    (lambda: o.result("bad key", 1), "invalid result key 'bad key'"),
    (lambda: o.result("error", ""), "result key 'error' is the script frame's own"),
    (lambda: Script("%SYS").step("bad step"), "invalid step name 'bad step'"),
    (lambda: o.global_ref("bad name"), "invalid global name 'bad name'"),
    (lambda: o.lock(var("x")), "lock names built here are global names (global_ref)"),
    (lambda: o.lock(o.global_ref("G"), release=True, timeout=1), "an unlock takes no timeout"),
    (lambda: o.hang(61), "a hang of 61 s is outside 0..60"),
    (lambda: o.hang(-1), "a hang of -1 s is outside 0..60"),
    (lambda: o.write_marker(var("t"), "bad word"), "invalid marker word 'bad word'"),
])
def test_what_the_builders_refuse_to_build(build, message):
    with pytest.raises(ValueError) as caught:
        build()
    assert str(caught.value) == message


@pytest.mark.parametrize("build", [
    lambda: o.method("x", "M"), lambda: o.prop("x", "P"), lambda: o.set_("x", 1), lambda: o.kill("x"),
    lambda: o.do("x"), lambda: o.check_status("x"), lambda: o.check_true("x", "m"), lambda: o.check_sql("x"),
    lambda: o.if_(1, "x"), lambda: o.if_(1, else_=["x"]), lambda: o.try_("x"), lambda: o.try_(catch=["x"]),
    lambda: o.while_(1, "x"), lambda: o.for_("i", 1, 2), lambda: o.for_(var("i"), 1, 2, "x"), lambda: o.push("a", 1),
    lambda: o.lock("^G"), lambda: o.write_marker("t", "W"), lambda: o.for_ever("x"), lambda: o.sequence("x"),
    lambda: Script("%SYS").step("s", "x"),
])
def test_plain_strings_are_never_code(build):
    with pytest.raises(TypeError, match="^expected code built by iris_ops.objectscript, got str$"):
        build()


def test_a_script_names_its_namespace_and_purpose():
    script = Script("user", purpose="count")
    assert (script.namespace, script.purpose) == ("USER", "count")
    assert Script().namespace == "%SYS" and Script().purpose == "script"
    assert script.render() == "\n".join(script.lines()) + "\n" and script.lines()[-1] == "Halt"
    begin, end = script.markers
    assert (begin, end) == (f"<<<{script.token}:BEGIN>>>", f"<<<{script.token}:END>>>")
    assert o.argument_call("Backup.General", "ExternalThaw") == "##Class(Backup.General).ExternalThaw()"
    assert o.argument_call("A.B", "C") == "##Class(A.B).C()"


def test_reads_lock_owners_jobs_and_loops(sim):
    """What the lock holder's helpers mean (iris_ops.locks uses them): a timed Read of the next
    input line, the owner of a held lock, whether a process exists, and a loop left by Quit."""
    x = var("x")
    assert 'got:hello:1' in sim.session(f'{o.read(x, timeout=1)} Write "got:",x,":",$Test,!\nhello')
    ref = o.global_ref("IrisOps.Lock", "ns")
    job = o.SPECIAL["$JOB"]
    held = sim.session(f'{o.lock(ref, timeout=0)} Write "owner:",{o.lock_owner(ref)}={job},":",'
                       f'{o.job_exists(job)},":",{o.job_exists(lit(999999))},":",{o.lock_owner(o.global_ref("Free"))},"|",!')
    assert "owner:1:1:0:|" in held
    counted = o.for_ever(o.sequence(o.set_(var("i"), o.op(var("i"), "+", lit(1)))), o.quit_if(o.op(var("i"), "=", lit(3))))
    assert "i:3" in sim.session(f'Set i=0 {counted} Write "i:",i,!')
    assert o.read(x, timeout=2.0) == "Read x:2" and o.read(x, timeout=0.5) == "Read x:0.5"
    assert o.lock_owner(ref) == '^$LOCK("^IrisOps.Lock(""ns"")","OWNER")'
    assert o.job_exists(lit(7)) == "$Data(^$JOB(7))" and o.quit_if(lit(1)) == "Quit:1 "
    assert o.sequence(o.HALT, o.HALT) == "Halt Halt" and o.for_ever(o.HALT) == "For  { Halt }"


@pytest.mark.parametrize("build,message", [
    (lambda: o.read(var("x"), timeout=0), "a read timeout of 0 s is outside 0..3600"),
    (lambda: o.read(var("x"), timeout=3601), "a read timeout of 3601 s is outside 0..3600"),
    (lambda: o.read(var("x", 1), timeout=1), "read into a plain local variable, not 'x(1)'"),
    (lambda: o.read(var("tok"), timeout=1), "read into a plain local variable, not 'tok'"),
    (lambda: o.lock_owner(var("x")), "lock names built here are global names (global_ref)"),
])
def test_what_the_lock_helpers_refuse(build, message):
    with pytest.raises(ValueError) as caught:
        build()
    assert str(caught.value) == message
    assert o.read(var("x"), timeout=3600) == "Read x:3600"


def test_kill_several_system_classes_with_dots_and_what_a_throw_says(sim):
    setup = (o.set_(var("x"), 1), o.set_(var("y"), 2), o.set_(var("z"), 3), o.kill(var("x"), var("y")))
    assert value_of(sim, o.op(o.op(o.func("$Data", var("x")), "+", o.func("$Data", var("y"))), "+",
                              o.func("$Data", var("z"))), *setup) == 1
    assert o.kill(var("x"), var("y")) == "Kill x,y"
    assert o.system("SQL.Schema.Exists", lit("T")) == '$SYSTEM.SQL.Schema.Exists("T")'
    script = Script("%SYS", purpose="boom")
    script.step("b", o.throw(lit("it broke")))
    with pytest.raises(ScriptError) as caught:
        sim.run(script)
    assert str(caught.value) == "boom failed at step 'b' (exit status 1): iris-ops 5001 it broke"


def test_arithmetic_operators_and_a_released_lock(sim):
    assert value_of(sim, o.op(o.op(lit(7), "-", lit(2)), "*", lit(3))) == 15
    assert value_of(sim, o.op(lit(7), "/", lit(2))) == 3.5
    ref = o.global_ref("IrisOps.Held", "ns")
    assert o.lock(ref, release=True) == 'Lock -^IrisOps.Held("ns")'
    held = sim.session(f'{o.lock(ref, timeout=0)} Write "held:",{o.lock_owner(ref)}\'="",! '
                       f'{o.lock(ref, release=True)} Write "after:",{o.lock_owner(ref)}\'="",!')
    assert "held:1" in held and "after:0" in held


def test_floats_are_written_in_canonical_form():
    assert (lit(2.0), lit(-0.5), lit(1e-7), lit(0.1234567), lit(1e21)) == (
        "2", "-0.5", "0", "0.1234567", "1000000000000000000000")
