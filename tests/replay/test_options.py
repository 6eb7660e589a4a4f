"""``-o NAME=VALUE`` -> Option messages: a comma splits arguments only where the UDF takes several."""

from __future__ import annotations

import pytest

from udfs.protocol import udf_pb2 as pb
from udfs.replay.options import DefineError, OptionCall, build_options, split_option

# The recorded UDF's declaration (fixtures/kapacitor-define-errors.md) plus a names list.
DECLARED = {
    "field": pb.OptionInfo(valueTypes=[pb.STRING]),
    "algorithms": pb.OptionInfo(valueTypes=[pb.STRING]),
    "size": pb.OptionInfo(valueTypes=[pb.INT]),
    "pair": pb.OptionInfo(valueTypes=[pb.STRING, pb.DOUBLE]),
    "names": pb.OptionInfo(valueTypes=[pb.STRING, pb.STRING]),
    "flag": pb.OptionInfo(valueTypes=[]),
}


def build(*texts: str) -> list[tuple[str, list[object]]]:
    options = build_options([split_option(t) for t in texts], DECLARED)
    return [(o.name, [getattr(v, v.WhichOneof("value")) for v in o.values]) for o in options]


def test_a_comma_in_a_one_argument_option_is_part_of_the_value() -> None:
    assert build("algorithms=mad,sigma,iqr") == [("algorithms", ["mad,sigma,iqr"])]
    # Blanks inside are kept, as .algorithms('mad, sigma') passes them; only the ends are trimmed.
    assert build("algorithms= mad, sigma ") == [("algorithms", ["mad, sigma"])]


def test_several_arguments_are_cut_at_commas_into_one_option() -> None:
    assert build("pair=x,1.5") == [("pair", ["x", 1.5])]
    assert build("names=a, b") == [("names", ["a", "b"])]


def test_an_escaped_comma_never_cuts() -> None:
    assert build(r"pair=a\,b,1.5") == [("pair", ["a,b", 1.5])]
    assert build(r"names=a\,b,c\,d") == [("names", ["a,b", "c,d"])]
    assert build(r"field=a\,b") == [("field", ["a,b"])]
    # Other backslashes are data (a regular expression, a Windows path).
    assert build(r"field=C:\data\x.csv") == [("field", [r"C:\data\x.csv"])]


def test_repeated_calls_stay_separate_options_in_order() -> None:
    assert build("field=a", "size=3", "field=b,c") == [("field", ["a"]), ("size", [3]), ("field", ["b,c"])]


def test_a_flag_takes_no_value() -> None:
    assert build("flag") == [("flag", [])]
    with pytest.raises(DefineError, match="unexpected number of args to flag, got 1 expected 0"):
        build("flag=1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pair=x", "unexpected number of args to pair, got 1 expected 2"),
        ("pair=x,y,1.5", r"got 3 expected 2 \(NAME=A,B,...; write \\, for a comma"),
        ("pair=x,abc", "unexpected arg to pair, got STRING expected DOUBLE"),
        ("size=1,2", "unexpected arg to size, got STRING expected INT"),
        ("size", "unexpected number of args to size, got 0 expected 1"),
        ("nosuch=1", 'no method or property "nosuch"'),
        ("=1", "expected NAME=VALUE"),
    ],
)
def test_refusals_name_the_option(text: str, message: str) -> None:
    with pytest.raises(DefineError, match=message):
        build(text)


def test_split_option_keeps_the_raw_text() -> None:
    assert split_option("algorithms=mad,sigma") == OptionCall("algorithms", "mad,sigma")
    assert split_option(" flag ") == OptionCall("flag", None)
    assert split_option("field=") == OptionCall("field", "")
    assert split_option("expr=a=b") == OptionCall("expr", "a=b")
