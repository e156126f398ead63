"""The ObjectScript subset: commands, operators, values, functions, Try/Catch."""

from __future__ import annotations

import pytest
from objectscript_fakes import FakeInstance

from iris_ops_sim.irissim.objectscript import Interpreter, ParseError, parse_line
from iris_ops_sim.irissim.objectscript.interpreter import QuitSignal
from iris_ops_sim.irissim.objectscript.runtime import Halt, IrisError, Process


class Box:
    def __init__(self, ns="USER"):
        self.text = []
        self.proc = Process(FakeInstance(), ns, self.text.append)
        self.interp = Interpreter(self.proc)

    def __call__(self, line: str) -> str:
        self.text.clear()
        self.interp.run_line(line)
        return "".join(self.text)


@pytest.fixture
def run():
    return Box()


def w(run, expr: str) -> str:
    return run(f"Write {expr}")


@pytest.mark.parametrize(
    "expr,expected",
    [
        ("1+2*3", "9"),  # strict left to right, no precedence
        ("2*(1+2)", "6"),
        ("10-2-3", "5"),
        ("1+2=3", "1"),
        ("3=1+2", "2"),  # (3=1)+2
        ('"1.50"+0', "1.5"),
        ("1.50", "1.5"),
        ("0.5", ".5"),
        ("-0.5", "-.5"),
        ("1.0", "1"),
        ('+"3abc"', "3"),
        ('+"abc"', "0"),
        ('-"-5"', "5"),
        ('"1.0"=1', "0"),  # = compares strings
        ("1.0=1", "1"),  # numeric literal is canonical first
        ("7\\2", "3"),
        ("-7\\2", "-3"),
        ("-7#3", "2"),
        ("7#-3", "-2"),
        ("2**10", "1024"),
        ("0.1+0.2", ".3"),
        ('"abc"_1.50', "abc1.5"),
        ("'0", "1"),
        ("'5", "0"),
        ("1&0", "0"),
        ("1!0", "1"),
        ("1'=2", "1"),
        ("2'<1", "1"),
        ("2<=2", "1"),
        ('"abc"["b"', "1"),
        ('"abc"\'["z"', "1"),
        ('"b"]"a"', "1"),
        ("10]]9", "1"),
        ('"10"]"9"', "0"),
        ("-(3)", "-3"),
        ("--3", "3"),
        ("1E3", "1000"),
        ("1/4", ".25"),
    ],
)
def test_operators_and_canonical_numbers(run, expr, expected):
    assert w(run, expr) == expected


def test_short_circuit_and_or(run):
    assert w(run, "0&&undefinedvar") == "0"
    assert w(run, "1||undefinedvar") == "1"
    with pytest.raises(IrisError) as e:
        w(run, "0&undefinedvar")
    assert e.value.zerror == "<UNDEFINED> *undefinedvar"


def test_divide_by_zero(run):
    with pytest.raises(IrisError) as e:
        w(run, "1/0")
    assert e.value.code == "DIVIDE"


def test_locals_subscripts_and_undefined(run):
    run('Set a=1,b=2,x("a",1)="v",(c,d)=5')
    assert w(run, 'a+b_x("a",1)_c_d') == "3v55"
    assert w(run, 'x("a","1")') == "v"  # "1" and 1 are the same subscript
    with pytest.raises(IrisError) as e:
        w(run, 'x("a",2)')
    assert e.value.zerror == '<UNDEFINED> *x("a",2)'
    assert w(run, '$Data(x)_$Data(x("a"))_$Data(x("a",1))_$Data(zz)') == "101010"
    assert w(run, '$Get(zz,"d")_$G(a)') == "d1"
    run("Kill x(\"a\",1)")
    assert w(run, "$Data(x)") == "0"
    run("Kill")
    assert w(run, "$Data(a)") == "0"


def test_order_over_locals(run):
    run('Set t(2)="b",t(1)="a",t("z")="c",t(10)="d"')
    run('Set k="",out="" For { Set k=$Order(t(k)) Quit:k=""  Set out=out_k_"," }')
    assert w(run, "out") == "1,2,10,z,"
    assert w(run, '$Order(t(""),-1)') == "z"


def test_functions(run):
    assert w(run, '$Piece("a^b^c","^",2)') == "b"
    assert w(run, '$P("a^b^c","^",2,3)') == "b^c"
    assert w(run, '$Length("abc")_$L("a,b",",")') == "32"
    assert w(run, '$Extract("hello",2,3)_$E("hello")') == "elh"
    assert w(run, '$Select(0:"a",1:"b")') == "b"
    assert w(run, '$Case(2,1:"one",2:"two",:"other")_$Case(9,1:"one",:"other")') == "twoother"
    assert w(run, '$Replace("a-b-c","-","+")') == "a+b+c"
    assert w(run, '$Find("abc","b")') == "3"
    assert w(run, '$ZCVT("Ab","U")_$Char(65)_$Ascii("A")') == "ABA65"
    assert w(run, '$Translate("a-b","-")') == "ab"
    with pytest.raises(IrisError) as e:
        w(run, "$Select(0:1)")
    assert e.value.code == "SELECT"


def test_special_variables(run):
    assert w(run, "$ZV").startswith("IRIS for UNIX")
    assert w(run, "$ZVERSION") == w(run, "$zversion")
    assert w(run, "$J") == str(run.proc.job)
    assert w(run, "$NAMESPACE") == "USER"
    assert "," in w(run, "$H") and "." in w(run, "$ZTIMESTAMP")
    with pytest.raises(IrisError):
        run("Write x")
    run("Try { Write y } Catch { }")
    assert w(run, "$ZE") == "<UNDEFINED> *y"


def test_if_elseif_else_blocks(run):
    line = 'If x=1 {{ Write "one" }} ElseIf x=2 {{ Write "two" }} Else {{ Write "many" }}'
    for x, expected in ((1, "one"), (2, "two"), (3, "many")):
        run(f"Set x={x}")
        assert run(line.format()) == expected
    assert run('If 1,0 { Write "both" } Else { Write "not" }') == "not"
    assert run('If 0 Write "skip" Write "also skipped"') == ""
    assert run('If 1 Write "a" Write "b"') == "ab"


def test_only_the_legacy_if_sets_test(run):
    """RCOS_CIF_LEGACY: "The new version of IF does not use the $TEST special variable"."""
    assert run('If 0 Write "x"') == "" and w(run, "$Test") == "0"
    assert run('If 1 { Write "y" } Else { Write "n" }') == "y" and w(run, "$Test") == "0"
    assert run('If 1 Write "z"') == "z" and w(run, "$Test") == "1"
    assert run('If 0 { Write "y" }') == "" and w(run, "$Test") == "1"


def test_for_while_and_quit(run):
    assert run("For i=1:1:5 { Write i }") == "12345"
    assert run("For i=5:-2:1 { Write i }") == "531"
    assert run('For i=1,"x",3 { Write i }') == "1x3"
    assert run("For i=1:1 { Quit:i>3  Write i }") == "123"
    assert run("Set n=0 For { Set n=n+1 Quit:n=4 } Write n") == "4"
    assert run("Set n=0 While n<3 { Set n=n+1 Write n }") == "123"
    assert run("Set n=0 While 1 { Set n=n+1 If n>2 { Quit } } Write n") == "3"
    assert run("Set n=0 Do { Set n=n+1 } While n<5 Write n") == "5"
    assert run("For i=1:1:4 { Continue:i=2  Write i }") == "134"
    assert run("For i=1:1:3 Write i") == "123"
    # Quit in a loop ends the loop, not the line
    assert run('For i=1:1:3 { Quit } Write "after"') == "after"
    with pytest.raises(IrisError) as e:
        run("For i=1:1:3 { Quit 1 }")
    assert e.value.code == "COMMAND"


def test_quit_at_top_level_ends_the_line(run):
    with pytest.raises(QuitSignal):
        run('Write "a" Quit  Write "b"')
    assert "".join(run.text) == "a"
    run('Quit:0  Write "c"')
    assert "".join(run.text) == "c"


def test_postconditionals(run):
    assert run('Set:1 a=1 Set:0 a=2 Write:a=1 "yes" Write:0 "no"') == "yes"


def test_try_catch_system_exception(run):
    out = run('Try { Write "a" Write nope Write "b" } Catch e { Write "|",e.Name,"|",e.Code,"|",e.Data,"|",e.DisplayString() }')
    assert out == "a|<UNDEFINED>|9|nope|<UNDEFINED> 9 nope"
    out = run("Try { Write 1/0 } Catch e { Write $SYSTEM.Status.GetErrorText(e.AsStatus()) }")
    assert out == "ERROR #5002: ObjectScript error: <DIVIDE>"
    # a caught error does not stop the line
    assert run('Try { Set x=undefined } Catch { Write "caught" } Write "-next"') == "caught-next"
    # Quit leaves the Try block
    assert run('Try { Write "in" Quit  Write "never" } Catch { } Write "-out"') == "in-out"


def test_try_catch_status_exception(run):
    line = (
        'Set sc=$SYSTEM.Status.Error(5001,"It broke") '
        "Try { If $SYSTEM.Status.IsError(sc) { Throw ##class(%Exception.StatusException).CreateFromStatus(sc) } "
        'Write "not reached" } Catch e { Write e.DisplayString(),"|",e.Code,"|",$SYSTEM.Status.GetErrorText(e.AsStatus()) }'
    )
    assert run(line) == "ERROR #5001: It broke|5001|ERROR #5001: It broke"


def test_general_exception_and_rethrow(run):
    out = run('Try { Throw ##class(%Exception.General).%New("MyErr",42,"here","data") } Catch e { Write e.DisplayString(),"|",e.Name }')
    assert out == "MyErr 42 here data|MyErr"
    out = run("Try { Try { Write zz } Catch e1 { Throw e1 } } Catch e2 { Write e2.Name,e2.Data }")
    assert out == "<UNDEFINED>zz"


def test_throw_of_a_non_exception_is_an_error(run):
    with pytest.raises(IrisError) as e:
        run("Throw 1")
    assert e.value.code == "INVALID OREF"


def test_uncaught_runtime_error_stops_rest_of_line_only(run):
    with pytest.raises(IrisError) as e:
        run('Write "a" Write x Write "b"')
    assert "".join(run.text) == "a"
    assert e.value.cmd_pos == 10


def test_class_calls_byref_and_namespace_restriction():
    box = Box("%SYS")
    box('Set sc=##class(Test.OSFake.Namespaces).Get("USER",.p)')
    assert box('Write sc,p("Globals"),$Data(p)') == "1USER10"
    assert box('Write $SYSTEM.Status.IsError(##class(Test.OSFake.Namespaces).Get("NOPE",.q))') == "1"
    with pytest.raises(IrisError) as e:
        box("Write ##class(Test.OSFake.Namespaces).NoValue()")
    assert e.value.zerror == "<COMMAND> *Function must return a value"
    box("Do ##class(Test.OSFake.Namespaces).NoValue()")  # fine as a Do
    user = Box("USER")
    with pytest.raises(IrisError) as e:
        user('Do ##class(Test.OSFake.Namespaces).Get("USER",.p)')
    assert e.value.zerror == "<CLASS DOES NOT EXIST> *Test.OSFake.Namespaces"
    with pytest.raises(IrisError) as e:
        user("Do ##class(No.Such).M()")
    assert e.value.code == "CLASS DOES NOT EXIST"
    with pytest.raises(IrisError) as e:
        user("Do ##class(%SYSTEM.Status).NoSuch()")
    assert e.value.zerror == "<METHOD DOES NOT EXIST> *NoSuch,%SYSTEM.Status"
    with pytest.raises(IrisError) as e:
        user("Do ##class(%SYSTEM.Status).OK(1,2)")
    assert e.value.code == "PARAMETER"


def test_class_keyword_is_case_insensitive_class_name_is_not(run):
    assert run("Write ##CLASS(%SYSTEM.Status).OK(),##class(%SYSTEM.Status).OK()") == "11"
    with pytest.raises(IrisError) as e:
        run("Write ##class(%system.status).OK()")
    assert e.value.code == "CLASS DOES NOT EXIST"


def test_terminate_raises_halt(run):
    with pytest.raises(Halt) as h:
        run("Do ##class(%SYSTEM.Process).Terminate($JOB,4)")
    assert h.value.exit_code == 4
    with pytest.raises(Halt) as h:
        run("Do ##class(%SYSTEM.Process).Terminate()")
    assert h.value.exit_code == 1
    with pytest.raises(Halt) as h:
        run("Halt")
    assert h.value.exit_code == 0


def test_version(run):
    assert run("Write $SYSTEM.Version.GetNumber()") == "2024.1"
    assert run("Write $SYSTEM.Version.GetVersion()=$ZV") == "1"


@pytest.mark.parametrize(
    "line",
    [
        "Write 1 + 2",  # no whitespace inside expressions
        "Set  x=1",  # two spaces: argumentless Set
        "Set x=1Write 2",  # commands need a separator
        "Wri 1",  # not an abbreviation IRIS has
        "Frobnicate 1",
        'Write "unterminated',
        "Write $$$OK",
        "Write $NoSuchFunction(1)",
        "Write $NOSUCHVAR",
        "If 1 { Write 1",
        "Try { Write 1 }",  # Try without Catch
        "Catch e { }",
        "Write (1",
        "Set x=",
        "Do nosuchlabel^rtn",
        "Set ^glob=1",
        "Write 1,",
        'Set o={"a":1,}',
        "Quit:1 2 3",
    ],
)
def test_rejected_lines_run_nothing(run, line):
    run("Set marker=0")
    with pytest.raises(ParseError):
        run(f"Set marker=1 {line}")
    assert run("Write marker") == "0"


def test_abbreviations_and_case(run):
    assert run('s a=1 w a,! i a=1 { w "y" } e { w "n" }') == "1\ny"
    assert run('SET b=2 WRITE b k b WRITE $D(b)') == "20"
    assert run("f i=1:1:2 { w i }") == "12"


def test_script_builder_lines_are_accepted():
    box = Box("%SYS")
    box('Set ns="USER",n=0,tok="TOK123",r={}')
    box(
        ' Try { Set sc=##class(Test.OSFake.Namespaces).Get(ns,.p) If $SYSTEM.Status.IsError(sc) '
        "{ Throw ##class(%Exception.StatusException).CreateFromStatus(sc) } "
        'Set r.globals=p("Globals"),n=n+1 } Catch e { Set err=e.DisplayString(),step="resolve" }'
    )
    out = box(' Write !,"<<<",tok,":BEGIN>>>",!,r.%ToJSON(),!,"<<<",tok,":END>>>",!')
    assert out == '\n<<<TOK123:BEGIN>>>\n{"globals":"USER"}\n<<<TOK123:END>>>\n'
    box('Set ns="NOPE"')
    box(
        ' Try { Set sc=##class(Test.OSFake.Namespaces).Get(ns,.p) If $SYSTEM.Status.IsError(sc) '
        "{ Throw ##class(%Exception.StatusException).CreateFromStatus(sc) } "
        'Set r.globals=p("Globals"),n=n+1 } Catch e { Set err=e.DisplayString(),step="resolve" }'
    )
    assert box("Write err,step,n") == "ERROR #5001: Namespace NOPE does not existresolve1"


def test_script_builder_lines_parse_with_tree_sitter_too():
    """Cross-check: what we accept here, InterSystems' own grammar parses without errors."""
    ts = pytest.importorskip("tree_sitter")
    tso = pytest.importorskip("tree_sitter_objectscript_routine")
    lang_fn = tso.language_objectscript_routine
    parser = ts.Parser(ts.Language(lang_fn()))
    src = (
        ' Try { Set sc=##class(Config.Namespaces).Get(ns,.p) If $SYSTEM.Status.IsError(sc) '
        "{ Throw ##class(%Exception.StatusException).CreateFromStatus(sc) } "
        'Set r.globals=p("Globals"),n=n+1 } Catch e { Set err=e.DisplayString(),step="resolve" }\n'
        ' Write !,"<<<",tok,":BEGIN>>>",!,r.%ToJSON(),!,"<<<",tok,":END>>>",!\n'
    )
    tree = parser.parse(src.encode())
    assert not tree.root_node.has_error
    for line in src.splitlines():
        parse_line(line)


def test_caret_in_string_argument_is_not_a_routine_reference(run):
    assert run('Do ##class(%SYSTEM.Status).GetErrorText("a^b") Write "ok"') == "ok"
    with pytest.raises(ParseError) as e:
        run("Do label^routine")
    assert e.value.code == "UNIMPLEMENTED"
