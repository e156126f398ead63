"""Library classes: %DynamicObject/%DynamicArray, %SYSTEM.Status, %Exception.*."""

from __future__ import annotations

import json

import pytest
from objectscript_fakes import FakeInstance

from iris_ops_sim.irissim.objectscript import Interpreter
from iris_ops_sim.irissim.objectscript.runtime import IrisError, Process, ThrownException


@pytest.fixture
def run():
    text: list[str] = []
    interp = Interpreter(Process(FakeInstance(), "USER", text.append))

    def go(line: str) -> str:
        text.clear()
        interp.run_line(line)
        return "".join(text)

    return go


def test_json_literal_round_trip_numbers_vs_strings(run):
    run('Set x=5,s="5",o={"ok":(x),"str":(s),"lit":1.50,"t":true,"f":false,"n":null,"list":[],"sub":{"a":[1,"2"]}}')
    text = run("Write o.%ToJSON()")
    assert text == '{"ok":5,"str":"5","lit":1.50,"t":true,"f":false,"n":null,"list":[],"sub":{"a":[1,"2"]}}'
    assert json.loads(text)["ok"] == 5
    assert run("Write o.lit,o.t,o.f,\"|\",o.n,\"|\",o.%Get(\"missing\"),\"|\",o.sub.a.%Get(1)") == "1.510|||2"
    back = run('Set p=##class(%DynamicObject).%FromJSON(o.%ToJSON()) Write p.%ToJSON()')
    assert back == text


def test_set_get_push_size_isdefined_remove(run):
    run('Set o={},o.name="x",o.num=1/2 Do o.%Set("k","v") Do o.%Set("b",1,"boolean") Do o.%Set("z","","null")')
    assert run("Write o.%ToJSON()") == '{"name":"x","num":0.5,"k":"v","b":true,"z":null}'
    assert run('Write o.%Size(),o.%IsDefined("k"),o.%IsDefined("nope"),o.%Remove("k"),o.%Size()') == "510v4"
    run('Set a=[] Do a.%Push(1).%Push("two").%Push({"x":-0.25})')
    assert run("Write a.%ToJSON(),a.%Size(),a.%Get(1)") == '[1,"two",{"x":-0.25}]3two'
    assert run('Write $IsObject(a),$IsObject(""),a.%GetTypeOf(0),a.%GetTypeOf(2)') == "10numberobject"


def test_json_string_escaping(run):
    run('Set o={},o.s="a""b\\c/d",o.t=$Char(10,9)')
    assert run("Write o.%ToJSON()") == '{"s":"a\\"b\\\\c/d","t":"\\n\\t"}'


def test_iterator(run):
    run('Set o={"a":1,"b":"x"},it=o.%GetIterator(),out=""')
    run('While it.%GetNext(.k,.v) { Set out=out_k_"="_v_";" }')
    assert run("Write out") == "a=1;b=x;"


def test_from_json_parse_error_throws(run):
    with pytest.raises(ThrownException):
        run('Set o=##class(%DynamicObject).%FromJSON("{bad")')
    out = run('Try { Set o=##class(%DynamicObject).%FromJSON("{bad") } Catch e { Write e.Name }')
    assert out == "Parsing error"


def test_dynamic_object_from_new_and_class_name(run):
    assert run('Set o=##class(%DynamicObject).%New() Write o.%ClassName(1),o.%ToJSON()') == "%Library.DynamicObject{}"
    assert run('Set a=##class(%Library.DynamicArray).%New() Write a.%ToJSON()') == "[]"


def test_status_class(run):
    assert run("Write $SYSTEM.Status.OK(),$SYSTEM.Status.IsOK(1),$SYSTEM.Status.IsError(1)") == "110"
    run('Set sc=$SYSTEM.Status.Error(5001,"bad thing")')
    assert run("Write $SYSTEM.Status.IsError(sc),$SYSTEM.Status.IsOK(sc),$Extract(sc)") == "100"
    assert run("Write $SYSTEM.Status.GetErrorText(sc)") == "ERROR #5001: bad thing"
    assert run("Write $SYSTEM.Status.GetErrorText(1)") == ""


def test_exception_properties_of_system_exception_are_read_only(run):
    with pytest.raises(IrisError):
        run('Try { Write zz } Catch e { Set e.Name="x" }')
