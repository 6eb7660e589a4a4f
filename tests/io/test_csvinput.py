"""CSV input (NAB files and others) and the format-dispatching reader."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from udfs.io.csvinput import CsvInputError, read_csv, read_records
from udfs.io.lineprotocol import LineProtocolError
from udfs.io.records import Record

NAB_TAXI = Path(__file__).resolve().parents[2] / "data/nab/data/realKnownCause/nyc_taxi.csv"
T0 = 1_404_172_800_000_000_000  # 2014-07-01 00:00:00 UTC in ns


def read(text: str, **options: object) -> list[Record]:
    options.setdefault("measurement", "m")
    return list(read_csv(io.StringIO(text), **options))  # type: ignore[arg-type]


def times(text: str) -> list[int]:
    return [r.time for r in read("timestamp,value\n" + "".join(f"{t},1\n" for t in text.split("|")))]


# -- the NAB file -----------------------------------------------------------------------------


def test_nab_nyc_taxi() -> None:
    records = list(read_records(NAB_TAXI))
    assert len(records) == 10320
    assert records[0] == Record(T0, "nyc_taxi", {}, {"value": 10844.0})
    assert records[-1] == Record(
        1_422_747_000_000_000_000, "nyc_taxi", {}, {"value": 26288.0}
    )  # 2015-01-31 23:30
    steps = {b.time - a.time for a, b in zip(records, records[1:], strict=False)}
    assert steps == {30 * 60 * 10**9}
    assert all(type(r.fields["value"]) is float and not r.tags for r in records)


def test_nab_with_explicit_options() -> None:
    records = list(read_csv(NAB_TAXI, measurement="taxi", value_columns=["value"], time_column="timestamp"))
    assert records[1] == Record(T0 + 1800 * 10**9, "taxi", {}, {"value": 8127.0})


# -- times ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "ns"),
    [
        ("2014-07-01 00:00:00", T0),
        ("2014-07-01 00:00:00.5", T0 + 500_000_000),
        ("2014-07-01 00:00:00.123456", T0 + 123_456_000),
        ("2014-07-01 00:00:00.123456789", T0 + 123_456_789),
        ("2014-07-01T00:00:00", T0),
        ("2014-07-01T00:00:00Z", T0),
        ("2014-07-01t00:00:00z", T0),
        ("2014-07-01T00:00:00.25Z", T0 + 250_000_000),
        ("2014-07-01T02:00:00+02:00", T0),
        ("2014-07-01T02:00:00+0200", T0),
        ("2014-07-01T02:00:00+02", T0),
        ("2014-06-30T19:30:00-04:30", T0),
        ("2014-07-01 00:00", T0),
        ("2014-07-01", T0),
        ("1969-12-31 23:59:59", -(10**9)),
        ("1404172800", T0),  # seconds
        ("1404172800000", T0),  # milliseconds
        ("1404172800000000", T0),  # microseconds
        ("1404172800000000000", T0),  # nanoseconds
        ("0", 0),
        ("-86400", -86400 * 10**9),
    ],
)
def test_time_forms(stamp: str, ns: int) -> None:
    assert times(stamp) == [ns]


def test_epoch_unit_comes_from_the_first_row_and_holds() -> None:
    # 0 reads as seconds, so 1500 is 1500 s too, not 1500 ms.
    assert times("0|1500") == [0, 1500 * 10**9]
    assert times("1404172800000|1404172801000") == [T0, T0 + 10**9]


@pytest.mark.parametrize(
    ("stamp", "reason"),
    [
        ("yesterday", "neither YYYY-MM-DD HH:MM:SS, ISO 8601 nor an integer epoch"),
        ("2014-13-01 00:00:00", "month must be in 1..12"),
        ("2014-02-30", "day is out of range"),
        ("2014-07-01 25:00:00", "hour must be in 0..23"),
        ("2014-07-01T00:00:00+25:00", "bad UTC offset"),
        ("2014-07-01 00:00:00.1234567891", "neither"),
        ("1404172800.5", "neither"),
        ("", "neither"),
    ],
)
def test_bad_times_name_the_line(stamp: str, reason: str) -> None:
    with pytest.raises(CsvInputError, match=r"^line 3: ") as caught:
        read(f"timestamp,value\n2014-07-01 00:00:00,1\n{stamp},2\n")
    assert reason in caught.value.reason and caught.value.lineno == 3


def test_epoch_out_of_range() -> None:
    with pytest.raises(CsvInputError, match="out of InfluxDB's range"):
        times("99999999999999999999")


# -- values and tags --------------------------------------------------------------------------


def test_value_types_by_column() -> None:
    text = (
        "timestamp,count,flag,label,host\n"
        "2014-07-01 00:00:00,3,true,a,h1\n"
        "2014-07-01 00:30:00,2.5,FALSE,42,h2\n"
        "2014-07-01 01:00:00,-1e3,True, spaced ,\n"
    )
    records = read(text, tag_columns=["host"])
    assert [r.fields for r in records] == [
        {"count": 3.0, "flag": True, "label": "a"},
        {"count": 2.5, "flag": False, "label": "42"},  # a string column keeps numbers as text
        {"count": -1000.0, "flag": True, "label": "spaced"},
    ]
    assert type(records[0].fields["count"]) is float  # an int-looking column stays float
    assert [r.tags for r in records] == [{"host": "h1"}, {"host": "h2"}, {}]  # empty tag: left out


def test_empty_and_nan_cells_leave_the_field_out_and_empty_rows_are_skipped() -> None:
    text = "timestamp,a,b\n0,1,\n1,,2\n2,NaN,nan\n3,,\n\n4,5,6\n,,\n"
    assert [(r.time // 10**9, r.fields) for r in read(text)] == [
        (0, {"a": 1.0}),
        (1, {"b": 2.0}),
        (4, {"a": 5.0, "b": 6.0}),
    ]


def test_value_columns_subset_and_custom_time_column() -> None:
    text = "when,a,b,c\n2014-07-01,1,2,3\n"
    assert read(text, time_column="when", value_columns=["c", "a"]) == [
        Record(T0, "m", {}, {"c": 3.0, "a": 1.0})
    ]


def test_unnamed_index_column_and_bom_and_blanks_in_header() -> None:
    text = "\ufeff, timestamp , value \n0,2014-07-01,7\n"
    assert read(text) == [Record(T0, "m", {}, {"value": 7.0})]


def test_quoted_cells_and_line_numbers_after_a_multiline_cell() -> None:
    text = 'timestamp,note,v\n0,"two\nlines",1\n1,"a, b",x\n'
    with pytest.raises(CsvInputError, match=r"line 4: 'x' is not a number"):
        read(text)
    assert read(text.replace(",x", ",2"))[0].fields == {"note": "two\nlines", "v": 1.0}


@pytest.mark.parametrize(
    ("text", "options", "lineno", "reason"),
    [
        ("", {}, 1, "header row"),
        ("time,value\n0,1\n", {}, 1, "no column named ['timestamp']"),
        ("timestamp,value\n0,1\n", {"tag_columns": ["host"]}, 1, "no column named ['host']"),
        ("timestamp,value\n0,1\n", {"value_columns": ["v"]}, 1, "no column named ['v']"),
        ("timestamp,value,value\n0,1,2\n", {}, 1, "duplicate column names ['value']"),
        ("timestamp,v,h\n0,1,a\n", {"tag_columns": ["h"], "value_columns": ["v", "h"]}, 1, "used twice"),
        ("timestamp\n0\n", {}, 1, "no value columns"),
        ("timestamp,value\n0,1\n1,2,3\n", {}, 3, "expected 2 cells as in the header, found 3"),
        ("timestamp,value\n0,1\n1\n", {}, 3, "found 1"),
        ("timestamp,value\n0,1\n1,abc\n", {}, 3, "'abc' is not a number"),
        ("timestamp,value\n0,true\n1,2\n", {}, 3, "'2' is not true/false"),
        ("timestamp,value\n0,inf\n", {}, 2, "infinite"),
        ("timestamp,value\n0,1\n1,1_000\n", {}, 3, "not a number"),
    ],
)
def test_bad_files_name_the_line_and_the_problem(
    text: str, options: dict[str, object], lineno: int, reason: str
) -> None:
    with pytest.raises(CsvInputError) as caught:
        read(text, **options)
    assert caught.value.lineno == lineno
    assert reason in str(caught.value)


def test_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,value\n0,1\n1,x\n")
    with pytest.raises(CsvInputError, match=r"bad\.csv: line 3: 'x' is not a number"):
        list(read_csv(path, measurement="m"))


# -- read_records -----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".lp", ".txt", ".line", ".LP"])
def test_line_protocol_suffixes(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"points{suffix}"
    path.write_bytes(b'# comment\r\ncpu,host=a v=1,s="x\r\ny" 5\r\n')
    assert list(read_records(path)) == [Record(5, "cpu", {"host": "a"}, {"v": 1.0, "s": "x\r\ny"})]
    assert [r.measurement for r in read_records(path, measurement="renamed")] == ["renamed"]


def test_line_protocol_precision_and_on_error(tmp_path: Path) -> None:
    path = tmp_path / "points.lp"
    path.write_text("m v=1 1\nm v=? 2\nm v=3 3\n")
    errors: list[LineProtocolError] = []
    records = list(read_records(path, precision="s", on_error=errors.append))
    assert [r.time for r in records] == [10**9, 3 * 10**9] and [e.lineno for e in errors] == [2]


def test_line_protocol_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "points.lp"
    path.write_bytes(b'm v=1 1\nm s="caf\xe9" 2\n')
    with pytest.raises(LineProtocolError, match="line 2: not UTF-8"):
        list(read_records(path))


def test_csv_by_suffix_and_by_fmt(tmp_path: Path) -> None:
    path = tmp_path / "machine_temp.csv"
    path.write_text("timestamp,value,host\n2014-07-01 00:00:00,1,a\n")
    expected = [Record(T0, "machine_temp", {"host": "a"}, {"value": 1.0})]
    assert list(read_records(path, tag_columns=["host"])) == expected
    other = tmp_path / "export.dat"
    other.write_text(path.read_text())
    assert list(read_records(other, fmt="csv", measurement="machine_temp", tag_columns=["host"])) == expected


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def test_dash_reads_line_protocol_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(b"m v=1 1\nm v=2i 2\n"))
    assert [r.fields["v"] for r in read_records("-")] == [1.0, 2]


def test_dash_reads_csv_from_stdin_with_fmt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("timestamp,value\n0,1\n"))
    assert list(read_records("-", fmt="csv", measurement="m")) == [Record(0, "m", {}, {"value": 1.0})]
    with pytest.raises(ValueError, match="needs a measurement name"):
        read_records("-", fmt="csv")


def test_unknown_formats_and_missing_files_are_refused_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"cannot tell the format of '.*data\.json' from its suffix; pass fmt="
    ):
        read_records(tmp_path / "data.json")
    with pytest.raises(ValueError, match="unknown input format 'parquet'"):
        read_records(tmp_path / "data.csv", fmt="parquet")
    with pytest.raises(FileNotFoundError, match="no such input file"):
        read_records(tmp_path / "missing.csv")
    path = tmp_path / "points.lp"
    path.write_text("m v=1 1\n")
    with pytest.raises(ValueError, match="apply to CSV input only"):
        read_records(path, tag_columns=["host"])
