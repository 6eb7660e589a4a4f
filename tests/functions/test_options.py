"""Options declared once: InitRequest parsing, InfoResponse, docs table.

The InitRequest/InfoResponse used here are the ones a real Kapacitor 1.5.7 sent and
received (``tests/protocol/kapacitor-transcripts/``); expected values are read off the
TICKscripts that produced them (``stream.tick``: ``.field('state').size(10)
.threshold(2.5).enabled(TRUE).window(5m).pair('x', 1.5).flag()``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from udfs.functions.options import OptionError, OptionSet, OptionSpec, ValueType
from udfs.params.constraints import Interval, OneOf
from udfs.protocol import udf_pb2 as pb

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "protocol" / "kapacitor-transcripts"
MINUTE_NS = 60 * 10**9

#: The options the recorded UDFs (@recstream, @recbatch, @recsock) declared.
RECORDED = OptionSet(
    [
        OptionSpec("field", (ValueType.STRING,), default="value", help="Field to read."),
        OptionSpec("size", (ValueType.INT,), default=10, constraint=Interval(int, 1, None), help="Window size."),
        OptionSpec("threshold", (ValueType.DOUBLE,), default=3.0, help="Alert threshold."),
        OptionSpec("enabled", (ValueType.BOOL,), default=True, help="Switch."),
        OptionSpec("window", (ValueType.DURATION,), default=5 * MINUTE_NS, help="Time window."),
        OptionSpec("pair", (ValueType.STRING, ValueType.DOUBLE), default=None, help="A name and a weight."),
        OptionSpec("flag", (), help="Turn something on."),
    ]
)

_ONEOF = {
    ValueType.BOOL: "boolValue",
    ValueType.INT: "intValue",
    ValueType.DOUBLE: "doubleValue",
    ValueType.STRING: "stringValue",
    ValueType.DURATION: "durationValue",
}


def value(vtype: ValueType, v: Any) -> pb.OptionValue:
    """An OptionValue as Kapacitor sends it: ``type`` and the matching oneof member."""
    return pb.OptionValue(type=int(vtype), **{_ONEOF[vtype]: v})


def option(name: str, *values: pb.OptionValue) -> pb.Option:
    return pb.Option(name=name, values=list(values))


def over_the_wire(*options: pb.Option) -> list[pb.Option]:
    """The options after a trip through the wire, as the UDF receives them."""
    request = pb.InitRequest(options=list(options))
    return list(pb.InitRequest.FromString(request.SerializeToString()).options)


def recorded_json(name: str, kind: str) -> str:
    lines = (TRANSCRIPTS / name).read_text().splitlines()
    (line,) = [line for line in lines if kind in json.loads(line)]
    return line


# -- value types ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "vtype, wire, expected",
    [
        (ValueType.BOOL, True, True),
        (ValueType.BOOL, False, False),  # a oneof member set to its default is still set
        (ValueType.INT, 10, 10),
        (ValueType.INT, -3, -3),  # Kapacitor does not check values (define-errors.md)
        (ValueType.INT, 2**63 - 1, 2**63 - 1),
        (ValueType.DOUBLE, 2.5, 2.5),
        (ValueType.DOUBLE, 0.0, 0.0),
        (ValueType.STRING, "a 1", "a 1"),
        (ValueType.STRING, "", ""),
        (ValueType.DURATION, 5 * MINUTE_NS, 300_000_000_000),
        (ValueType.DURATION, 1, 1),
        (ValueType.DURATION, -(10**9), -(10**9)),
    ],
)
def test_every_value_type(vtype: ValueType, wire: Any, expected: Any) -> None:
    spec = OptionSet([OptionSpec("opt", (vtype,), default=None)])
    parsed = spec.parse(over_the_wire(option("opt", value(vtype, wire))))["opt"]
    assert parsed == expected
    assert type(parsed) is type(expected)


def test_multi_valued_option() -> None:
    parsed = RECORDED.parse(over_the_wire(option("pair", value(ValueType.STRING, "x"), value(ValueType.DOUBLE, 1.5))))
    assert parsed["pair"] == ("x", 1.5)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_multi_valued_option_wrong_count(count: int) -> None:
    values = [value(ValueType.STRING, "x"), value(ValueType.DOUBLE, 1.5), value(ValueType.DOUBLE, 2.0)][:count]
    with pytest.raises(OptionError) as info:
        RECORDED.parse(over_the_wire(option("pair", *values)))
    message = str(info.value)
    assert "pair()" in message and "2 value(s)" in message and f"got {count}" in message
    assert "STRING, DOUBLE" in message


def test_multi_valued_option_wrong_type_names_the_position() -> None:
    with pytest.raises(OptionError) as info:
        RECORDED.parse(over_the_wire(option("pair", value(ValueType.STRING, "x"), value(ValueType.INT, 2))))
    assert str(info.value) == "value 2 of option pair() must be DOUBLE, got INT"


def test_flag() -> None:
    assert RECORDED.parse([])["flag"] is False
    assert RECORDED.parse(over_the_wire(option("flag")))["flag"] is True
    with pytest.raises(OptionError, match=r"flag\(\) takes 0 value\(s\)"):
        RECORDED.parse(over_the_wire(option("flag", value(ValueType.INT, 1))))


def test_defaults_fill_every_absent_option() -> None:
    assert RECORDED.parse([]) == {
        "field": "value", "size": 10, "threshold": 3.0, "enabled": True,
        "window": 5 * MINUTE_NS, "pair": None, "flag": False,
    }


# -- repeated options -------------------------------------------------------------------

def test_repeated_option_collects_a_list_in_call_order() -> None:
    spec = OptionSet(
        [
            OptionSpec("field", (ValueType.STRING,), default=("value",), repeated=True),
            OptionSpec("weight", (ValueType.STRING, ValueType.DOUBLE), default=(), repeated=True),
        ]
    )
    assert spec.parse([]) == {"field": ["value"], "weight": []}
    parsed = spec.parse(
        over_the_wire(
            option("field", value(ValueType.STRING, "b")),
            option("weight", value(ValueType.STRING, "x"), value(ValueType.DOUBLE, 1.0)),
            option("field", value(ValueType.STRING, "a")),
            option("weight", value(ValueType.STRING, "y"), value(ValueType.DOUBLE, 2.0)),
        )
    )
    # `.field('b').field('a')` replaces the default, it does not extend it.
    assert parsed == {"field": ["b", "a"], "weight": [("x", 1.0), ("y", 2.0)]}


def test_repeated_option_checks_each_call() -> None:
    at_least_one = Interval(int, 1, None)
    spec = OptionSet([OptionSpec("size", (ValueType.INT,), default=(), repeated=True, constraint=at_least_one)])
    with pytest.raises(OptionError, match=r"size\(\) must be an integer >= 1, got 0"):
        spec.parse(over_the_wire(option("size", value(ValueType.INT, 3)), option("size", value(ValueType.INT, 0))))


def test_non_repeated_option_given_twice_is_rejected() -> None:
    # `.field('a').field('b')` passes `kapacitor define` and arrives as two Options.
    with pytest.raises(OptionError) as info:
        RECORDED.parse(
            over_the_wire(option("field", value(ValueType.STRING, "a")), option("field", value(ValueType.STRING, "b")))
        )
    message = str(info.value)
    assert "field()" in message and "2 times" in message


# -- rejections -------------------------------------------------------------------------

def test_unknown_option_is_named_with_the_known_ones() -> None:
    with pytest.raises(OptionError) as info:
        RECORDED.parse(over_the_wire(option("nosuch", value(ValueType.INT, 1))))
    message = str(info.value)
    assert "unknown option nosuch()" in message
    for spec in RECORDED:
        assert spec.name in message
    assert OptionSet().parse([]) == {}
    with pytest.raises(OptionError, match="accepts: none"):
        OptionSet().parse(over_the_wire(option("field", value(ValueType.STRING, "x"))))


# The cases `kapacitor define` rejects (kapacitor-define-errors.md), as a UDF would see
# them from a client that skipped Kapacitor's check.
@pytest.mark.parametrize(
    "name, given, wire, expected",
    [
        ("size", ValueType.DOUBLE, 10.0, "INT"),
        ("threshold", ValueType.INT, 2, "DOUBLE"),
        ("window", ValueType.STRING, "5m", "DURATION"),
        ("enabled", ValueType.STRING, "true", "BOOL"),
        ("field", ValueType.INT, 1, "STRING"),
        ("window", ValueType.INT, 300, "DURATION"),
    ],
)
def test_wrong_type_names_option_and_types(name: str, given: ValueType, wire: Any, expected: str) -> None:
    with pytest.raises(OptionError) as info:
        RECORDED.parse(over_the_wire(option(name, value(given, wire))))
    assert str(info.value) == f"option {name}() must be {expected}, got {given.name}"


def test_wrong_type_named_from_the_value_not_the_type_tag() -> None:
    # `type` left at its default (0 = BOOL) while stringValue is set.
    with pytest.raises(OptionError, match=r"size\(\) must be INT, got STRING"):
        RECORDED.parse(over_the_wire(option("size", pb.OptionValue(stringValue="10"))))
    with pytest.raises(OptionError, match=r"size\(\) must be INT, got no value"):
        RECORDED.parse(over_the_wire(option("size", pb.OptionValue(type=pb.INT))))


@pytest.mark.parametrize(
    "spec, wire, words",
    [
        (OptionSpec("size", (ValueType.INT,), default=1, constraint=Interval(int, 1, None)),
         value(ValueType.INT, 0), ["size()", "an integer >= 1", "got 0"]),
        (OptionSpec("alpha", (ValueType.DOUBLE,), default=0.5, constraint=Interval(float, 0, 1, closed="neither")),
         value(ValueType.DOUBLE, 1.0), ["alpha()", "> 0", "< 1", "got 1.0"]),
        (OptionSpec("alpha", (ValueType.DOUBLE,), default=0.5, constraint=Interval(float, 0, 1)),
         value(ValueType.DOUBLE, float("nan")), ["alpha()", "got nan"]),
        (OptionSpec("mode", (ValueType.STRING,), default="a", constraint=OneOf(["a", "b"])),
         value(ValueType.STRING, "c"), ["mode()", "one of 'a', 'b'", "got 'c'"]),
        (OptionSpec("window", (ValueType.DURATION,), default=MINUTE_NS, constraint=Interval(int, 10**9, None)),
         value(ValueType.DURATION, 5), ["window()", ">= 1000000000", "got 5ns"]),
    ],
    ids=["int-low", "open-interval", "nan", "choice", "duration"],
)
def test_constraint_violation_is_named(spec: OptionSpec, wire: pb.OptionValue, words: list[str]) -> None:
    with pytest.raises(OptionError) as info:
        OptionSet([spec]).parse(over_the_wire(option(spec.name, wire)))
    for word in words:
        assert word in str(info.value)


def test_required_options() -> None:
    specs = OptionSet(
        [
            OptionSpec("field", (ValueType.STRING,)),
            OptionSpec("size", (ValueType.INT,)),
            OptionSpec("flag", ()),  # a flag is never required
        ]
    )
    assert [s.name for s in specs if s.required] == ["field", "size"]
    with pytest.raises(OptionError) as info:
        specs.parse([])
    assert str(info.value) == "missing required option(s): field(), size()"
    with pytest.raises(OptionError, match=r"missing required option\(s\): size\(\)$"):
        specs.parse(over_the_wire(option("field", value(ValueType.STRING, "v"))))
    assert specs.parse(
        over_the_wire(option("field", value(ValueType.STRING, "v")), option("size", value(ValueType.INT, 2)))
    ) == {"field": "v", "size": 2, "flag": False}


def test_declaring_an_option_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="'x' declared twice"):
        OptionSet([OptionSpec("x", (ValueType.INT,)), OptionSpec("x", (ValueType.DOUBLE,))])


# -- the recordings -------------------------------------------------------------------

TICKSCRIPT_VALUES = {
    "field": "state", "size": 10, "threshold": 2.5, "enabled": True,
    "window": 5 * MINUTE_NS, "pair": ("x", 1.5), "flag": True,
}


@pytest.mark.parametrize("name", ["stream.requests.jsonl", "socket.conn2.requests.jsonl"])
def test_recorded_init_request_parses(name: str) -> None:
    request = json_format.Parse(recorded_json(name, "init"), pb.Request())
    # TRUE arrives as BOOL, enum 0, which the JSON leaves out; it is a value, not "no value".
    (enabled,) = [o for o in request.init.options if o.name == "enabled"]
    assert enabled.values[0].type == pb.BOOL and enabled.values[0].WhichOneof("value") == "boolValue"
    assert RECORDED.parse(request.init.options) == TICKSCRIPT_VALUES


@pytest.mark.parametrize(
    "name, edge",
    [("stream.responses.jsonl", pb.STREAM), ("socket.conn1.responses.jsonl", pb.STREAM),
     ("batch.responses.jsonl", pb.BATCH)],
)
def test_info_equals_the_recorded_info_response(name: str, edge: int) -> None:
    recorded = json_format.Parse(recorded_json(name, "info"), pb.Response()).info
    assert pb.InfoResponse(wants=edge, provides=edge, options=RECORDED.info()) == recorded
    assert {k: list(v.valueTypes) for k, v in RECORDED.info().items()} == {
        k: list(v.valueTypes) for k, v in recorded.options.items()
    }


def test_markdown_table_mentions_every_option() -> None:
    specs = OptionSet(
        [
            *RECORDED,
            OptionSpec("tags", (ValueType.STRING,), default=(), repeated=True, help="Tags to copy."),
            OptionSpec("model", (ValueType.STRING,), help="Required model name."),
        ]
    )
    table = specs.markdown_table()
    lines = table.splitlines()
    assert lines[0].startswith("| option |") and set(lines[1]) <= set("|- ")
    rows = {re.match(r"\| `\.(\w+)\(\)` \|", line).group(1): line for line in lines[2:]}  # type: ignore[union-attr]
    assert list(rows) == [s.name for s in specs]
    expected_cells = {
        "field": ["STRING", "'value'", "Field to read."],
        "size": ["INT", "10", "Window size.", "an integer >= 1"],
        "threshold": ["DOUBLE", "3.0", "Alert threshold."],
        "enabled": ["BOOL", "TRUE", "Switch."],
        "window": ["DURATION", "5m", "Time window."],
        "pair": ["STRING, DOUBLE", "none", "A name and a weight."],
        "flag": ["(none)", "off", "Turn something on."],
        "tags": ["STRING", "several times", "Tags to copy."],
        "model": ["STRING", "required", "Required model name."],
    }
    for name, cells in expected_cells.items():
        for cell in cells:
            assert cell in rows[name], f"{cell!r} missing from the row of {name}: {rows[name]}"
