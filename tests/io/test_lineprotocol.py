"""Line protocol: InfluxDB 1.x parsing rules, formatting, and parse(format(r)) == r."""

from __future__ import annotations

import io
import math
import random
import time

import numpy as np
import pytest

from udfs.io import lineprotocol
from udfs.io.lineprotocol import PRECISIONS, LineProtocolError, format_record, parse_line, parse_lines
from udfs.io.records import FieldValue, Record

TIME_MAX = 2**63 - 2  # influxd's last valid nanosecond
TIME_MIN = -(2**63) + 2


def parse(line: str) -> Record:
    record = parse_line(line, default_time=0)
    assert record is not None
    return record


# -- field values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1.0),
        ("1.5", 1.5),
        ("-1e3", -1000.0),
        ("1E+3", 1000.0),
        ("2.5e-3", 0.0025),
        (".5", 0.5),
        ("1.", 1.0),
        ("-.5", -0.5),
        ("007", 7.0),
        ("1e-400", 0.0),  # underflow is fine for influxd too
        ("1i", 1),
        ("-42i", -42),
        ("9223372036854775807i", 2**63 - 1),
        ("-9223372036854775808i", -(2**63)),
        ('""', ""),
        ('"hello world, a=b"', "hello world, a=b"),
        ('"say \\"hi\\""', 'say "hi"'),
        ('"back\\\\slash"', "back\\slash"),
        ('"keep \\n and \\d"', "keep \\n and \\d"),  # only \" and \\ are escapes
        ('"ends with \\\\"', "ends with \\"),
        ('"tab\there"', "tab\there"),
        ('"ünïcödé ✓"', "ünïcödé ✓"),
    ]
    + [(word, True) for word in ("t", "T", "true", "True", "TRUE")]
    + [(word, False) for word in ("f", "F", "false", "False", "FALSE")],
)
def test_field_values(text: str, expected: object) -> None:
    value = parse(f"m v={text} 1").fields["v"]
    assert value == expected
    assert type(value) is type(expected)


def test_all_field_types_on_one_line() -> None:
    record = parse('weather,city=Paris temp=21.5,count=3i,ok=true,note="sunny, mild" 1700000000000000000')
    assert record == Record(
        1700000000000000000,
        "weather",
        {"city": "Paris"},
        {"temp": 21.5, "count": 3, "ok": True, "note": "sunny, mild"},
    )
    assert list(record.fields) == ["temp", "count", "ok", "note"]


def test_repeated_field_key_keeps_the_last_value_like_influxd() -> None:
    assert parse("m v=1,v=2 1").fields == {"v": 2.0}


# -- names and escapes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "measurement", "tags", "fields"),
    [
        ("my\\ cpu v=1 1", "my cpu", {}, {"v": 1.0}),
        ("my\\,cpu v=1 1", "my,cpu", {}, {"v": 1.0}),
        ("a=b v=1 1", "a=b", {}, {"v": 1.0}),  # '=' needs no escape in a measurement
        ("a\\=b v=1 1", "a=b", {}, {"v": 1.0}),  # ... but influxd drops the backslash
        ('a\\"b v=1 1', 'a"b', {}, {"v": 1.0}),
        ("c\\pu v=1 1", "c\\pu", {}, {"v": 1.0}),  # other backslashes are literal
        ("m,k\\ 1=v\\ 1 v=1 1", "m", {"k 1": "v 1"}, {"v": 1.0}),
        ("m,k\\,1=v\\,1 v=1 1", "m", {"k,1": "v,1"}, {"v": 1.0}),
        ("m,k\\=1=v\\=1 v=1 1", "m", {"k=1": "v=1"}, {"v": 1.0}),
        ('m,k"=v" v=1 1', "m", {'k"': 'v"'}, {"v": 1.0}),
        ('m,k\\"=v\\" v=1 1', "m", {'k\\"': 'v\\"'}, {"v": 1.0}),  # tags keep \"
        ("m,k==v v=1 1", "m", {"k": "=v"}, {"v": 1.0}),  # influxd's quirk
        ("m f\\ 1=1,f\\,2=2,f\\=3=3 1", "m", {}, {"f 1": 1.0, "f,2": 2.0, "f=3": 3.0}),
        ('m f\\"q=1 1', "m", {}, {'f"q': 1.0}),
        ('m f"q=1 1', "m", {}, {'f"q': 1.0}),
        ("m,b=2,a=1 v=1 1", "m", {"a": "1", "b": "2"}, {"v": 1.0}),
        ("  \tm v=1 1", "m", {}, {"v": 1.0}),  # leading blanks are skipped
        ("m  v=1 \t 1  ", "m", {}, {"v": 1.0}),  # so are blanks between sections
        ("m v=1 1\r\n", "m", {}, {"v": 1.0}),  # CRLF files
        ("m v=1 1\n", "m", {}, {"v": 1.0}),
    ],
)
def test_names_and_escapes(
    line: str, measurement: str, tags: dict[str, str], fields: dict[str, FieldValue]
) -> None:
    assert parse(line) == Record(1, measurement, tags, fields)


@pytest.mark.parametrize("line", ["", "   ", "\t", "\n", "# a comment", "   # indented comment", "#m v=1 1"])
def test_blank_lines_and_comments_are_skipped(line: str) -> None:
    assert parse_line(line) is None


# -- time -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("precision", "factor"),
    [
        ("ns", 1),
        ("n", 1),
        ("u", 1000),
        ("us", 1000),
        ("ms", 10**6),
        ("s", 10**9),
        ("m", 60 * 10**9),
        ("h", 3600 * 10**9),
    ],
)
def test_precision_scales_the_timestamp_to_ns(precision: str, factor: int) -> None:
    assert PRECISIONS[precision] == factor
    record = parse_line("m v=1 1700", precision=precision)
    assert record is not None and record.time == 1700 * factor
    negative = parse_line("m v=1 -3", precision=precision)
    assert negative is not None and negative.time == -3 * factor


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown precision 'sec'"):
        parse_line("m v=1 1", precision="sec")
    with pytest.raises(ValueError, match="unknown precision"):
        format_record(Record(0, "m", {}, {"v": 1.0}), precision="minutes")


def test_missing_timestamp_takes_the_default_time() -> None:
    assert parse_line("m v=1", default_time=123) == Record(123, "m", {}, {"v": 1.0})
    before = time.time_ns()
    record = parse_line("m v=1", precision="s")
    assert record is not None
    assert before // 10**9 * 10**9 <= record.time <= time.time_ns() and record.time % 10**9 == 0
    times = {r.time for r in parse_lines(["m v=1", "m v=2", "m v=3"])}
    assert len(times) == 1  # one request, one time, as influxd does


def test_timestamp_range_edges() -> None:
    assert parse(f"m v=1 {TIME_MAX}").time == TIME_MAX
    assert parse(f"m v=1 {TIME_MIN}").time == TIME_MIN
    for bad in (TIME_MAX + 1, TIME_MIN - 1, 2**64):
        with pytest.raises(LineProtocolError, match="out of range"):
            parse(f"m v=1 {bad}")
    with pytest.raises(LineProtocolError, match="out of range"):
        parse_line(f"m v=1 {TIME_MAX // 1000 + 1}", precision="u")


# -- malformed lines --------------------------------------------------------------------------

MALFORMED = [
    ("cpu", "missing fields"),
    ("cpu ", "missing fields"),
    ("cpu,host=a", "missing fields"),
    (",host=a v=1", "missing measurement"),
    ("cpu,=a v=1", "missing tag key"),
    ("cpu, v=1", "missing tag key"),
    ("cpu,host v=1", "missing tag value"),
    ("cpu,host= v=1", "missing tag value"),
    ("cpu,host=a=b v=1", "'='"),
    ("cpu,a=1,a=2 v=1", "duplicate tag key 'a'"),
    ("cpu v", "missing field value"),
    ("cpu v=", "missing field value"),
    ("cpu v=,w=1", "missing field value"),
    ("cpu =1", "missing field key"),
    ("cpu v=1,=2", "missing field key"),
    ("cpu v=abc", "invalid value 'abc' for field 'v'"),
    ("cpu v=tru", "invalid value 'tru'"),
    ("cpu v=yes", "invalid value 'yes'"),
    ("cpu v=NaN", "invalid value 'NaN'"),
    ("cpu v=nan", "invalid value 'nan'"),
    ("cpu v=inf", "invalid value 'inf'"),
    ("cpu v=+1", "invalid value '+1'"),
    ("cpu v=-", "invalid number '-'"),
    ("cpu v=.", "invalid number '.'"),
    ("cpu v=1.2.3", "invalid number '1.2.3'"),
    ("cpu v=1.5i", "invalid number '1.5i'"),
    ("cpu v=1e3i", "invalid number"),
    ("cpu v=1u", "invalid number '1u'"),  # unsigned ints are off in influxd 1.x
    ("cpu v=1_000", "invalid number"),
    ("cpu v=1e", "invalid number"),
    ("cpu v=1e400", "invalid number"),
    ("cpu v=9223372036854775808i", "invalid number"),
    ('cpu v="abc', "unbalanced quotes"),
    ('cpu v="a"b', "unexpected text after the closing quote"),
    ("cpu v=1 12a", "bad timestamp '12a'"),
    ("cpu v=1 1.5", "bad timestamp"),
    ("cpu v=1 -", "bad timestamp"),
    ("cpu v=1 1 2", "unexpected text after the timestamp"),
    ("cpu\\ v=1", "missing fields"),  # the escaped space is part of the measurement
]


@pytest.mark.parametrize(("line", "reason"), MALFORMED, ids=[line for line, _ in MALFORMED])
def test_malformed_line_names_its_number_and_the_problem(line: str, reason: str) -> None:
    with pytest.raises(LineProtocolError) as caught:
        parse_line(line, lineno=42)
    assert reason in caught.value.reason
    assert caught.value.lineno == 42
    assert str(caught.value).startswith("line 42: ")
    assert repr(line) in str(caught.value)


@pytest.mark.parametrize(("line", "reason"), MALFORMED, ids=[line for line, _ in MALFORMED])
def test_both_scanners_reject_the_same_lines(line: str, reason: str) -> None:
    # A backslash in the measurement sends a line down the general scanner instead of
    # the split-based fast one; both must reject it for the same reason.
    slow = line.replace("cpu", "c\\pu", 1)
    with pytest.raises(LineProtocolError) as caught:
        parse_line(slow)
    assert reason in caught.value.reason


def test_parse_lines_counts_lines_from_one_including_blanks_and_comments() -> None:
    text = "# header\n\nm v=1 1\nm v=oops 2\nm v=3 3\n"
    with pytest.raises(LineProtocolError, match=r"^line 4: invalid value 'oops'") as caught:
        list(parse_lines(io.StringIO(text)))
    assert caught.value.lineno == 4 and caught.value.line == "m v=oops 2\n"


def test_on_error_skips_bad_lines_and_goes_on() -> None:
    errors: list[LineProtocolError] = []
    lines = ["m v=1 1", "bad", "m v=2 2", "m,a=1,a=2 v=3 3", "m v=4 4"]
    records = list(parse_lines(lines, on_error=errors.append))
    assert [r.fields["v"] for r in records] == [1.0, 2.0, 4.0]
    assert [(e.lineno, e.reason) for e in errors] == [(2, "missing fields"), (4, "duplicate tag key 'a'")]


def test_on_error_may_stop_by_raising() -> None:
    def stop(error: LineProtocolError) -> None:
        raise RuntimeError(f"stopped at {error.lineno}")

    with pytest.raises(RuntimeError, match="stopped at 2"):
        list(parse_lines(["m v=1 1", "bad", "m v=2 2"], on_error=stop))


# -- strings spanning lines -------------------------------------------------------------------


def test_string_field_may_span_lines() -> None:
    text = 'm v="first\nsecond\n\nfourth",w=1 5\nm v="x" 6\n'
    records = list(parse_lines(io.StringIO(text)))
    assert records == [
        Record(5, "m", {}, {"v": "first\nsecond\n\nfourth", "w": 1.0}),
        Record(6, "m", {}, {"v": "x"}),
    ]
    # Items without their newline (a list of lines) are joined with one.
    assert list(parse_lines(text.split("\n"))) == records


def test_error_after_a_multiline_string_names_the_first_line() -> None:
    with pytest.raises(LineProtocolError, match=r"^line 2: bad timestamp"):
        list(parse_lines(["m v=1 1", 'm v="a', 'b" x', "m v=2 2"]))


def test_string_never_closed_is_reported_at_its_first_line() -> None:
    errors: list[LineProtocolError] = []
    records = list(parse_lines(["m v=1 1", 'm v="open', "m v=2 2"], on_error=errors.append))
    assert [r.time for r in records] == [1]
    assert [(e.lineno, "unbalanced quotes" in e.reason) for e in errors] == [(2, True)]


def test_stray_quote_does_not_swallow_a_whole_file() -> None:
    lines = ['m v="stray 1'] + [f"m v={i} {i}" for i in range(1, 20_000)]
    errors: list[LineProtocolError] = []
    records = list(parse_lines(lines, on_error=errors.append))
    assert errors and errors[0].lineno == 1
    assert len(records) > 15_000  # parsing resumes once influxd's 64 KiB string limit is passed


# -- formatting -------------------------------------------------------------------------------


def test_format_escapes_sorts_tags_and_keeps_field_order() -> None:
    record = Record(
        1_000_000_000,
        "my cpu,x=y",
        {"z key": "a,b", "a=key": "=v", "host": 'say "hi"'},
        {"z": 1.5, "a b": 2, "ok": True, "note": 'a "q" \\ b'},
    )
    line = format_record(record)
    assert line == (
        'my\\ cpu\\,x=y,a\\=key=\\=v,host=say\\ "hi",z\\ key=a\\,b'
        ' z=1.5,a\\ b=2i,ok=true,note="a \\"q\\" \\\\ b" 1000000000'
    )
    assert parse_line(line) == record
    assert format_record(record, precision="s").endswith(" 1")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (-0.0, "-0.0"),
        (1e16, "1e+16"),
        (0.1, "0.1"),
        (5e-324, "5e-324"),
        (2**63 - 1, "9223372036854775807i"),
        (-(2**63), "-9223372036854775808i"),
        (False, "false"),
        ("", '""'),
        (np.float64(2.5), "2.5"),
        (np.float32(0.5), "0.5"),
        (np.int64(7), "7i"),
        (np.bool_(True), "true"),
    ],
)
def test_format_field_values(value: object, text: str) -> None:
    line = format_record(Record(0, "m", {}, {"v": value}))  # type: ignore[dict-item]
    assert line == f"m v={text} 0"
    assert parse(line).fields["v"] == value


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (Record(0, "m", {}, {}), "at least one field"),
        (Record(0, "", {}, {"v": 1.0}), "measurement ''"),
        (Record(0, "#m", {}, {"v": 1.0}), "measurement '#m'"),  # would read as a comment
        (Record(0, "\tm", {}, {"v": 1.0}), "measurement"),  # would be skipped as blank
        (Record(0, "a\nb", {}, {"v": 1.0}), "measurement"),
        (Record(0, "m\\", {}, {"v": 1.0}), "measurement"),  # would escape the separator
        (Record(0, "a\\ b", {}, {"v": 1.0}), "measurement"),  # influxd would drop the backslash
        (Record(0, "m", {"k": ""}, {"v": 1.0}), "tag value ''"),
        (Record(0, "m", {"": "v"}, {"v": 1.0}), "tag key ''"),
        (Record(0, "m", {"k": "v\\"}, {"v": 1.0}), "tag value"),
        (Record(0, "m", {"k\\=": "v"}, {"v": 1.0}), "tag key"),
        (Record(0, "m", {}, {"": 1.0}), "field key ''"),
        (Record(0, "m", {}, {'f\\"': 1.0}), "field key"),
        (Record(0, "m", {}, {"\tf": 1.0}), "field key"),
        (Record(0, "m", {}, {"v": math.nan}), "cannot store nan"),
        (Record(0, "m", {}, {"v": -math.inf}), "cannot store -inf"),
        (Record(0, "m", {}, {"v": 2**63}), "int64"),
        (Record(TIME_MAX + 1, "m", {}, {"v": 1.0}), "outside InfluxDB's range"),
    ],
)
def test_format_refuses_what_line_protocol_cannot_carry(record: Record, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        format_record(record)
    assert message in str(caught.value)


def test_format_refuses_unsupported_types_and_lossy_precision() -> None:
    with pytest.raises(TypeError, match="unsupported value type list"):
        format_record(Record(0, "m", {}, {"v": [1]}))  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="not a whole number of 's'"):
        format_record(Record(1_500_000_000, "m", {}, {"v": 1.0}), precision="s")
    assert format_record(Record(-3_000_000_000, "m", {}, {"v": 1.0}), precision="s") == "m v=1.0 -3"
    tab_later = Record(0, "m", {}, {"v": 1.0, "\tw": 2.0})  # only the first key is at risk
    assert parse(format_record(tab_later)) == tab_later


# -- round trips of random records ------------------------------------------------------------

# Mostly letters, with every character that needs care in some position.
ALPHABET = "abcdefgxyzAB019_-." + ' ,="\\#\t\r\n\0' + "é€😀"


def random_text(rng: random.Random, *, empty: bool = False) -> str:
    size = rng.randint(0 if empty else 1, 8)
    return "".join(rng.choice(ALPHABET) if rng.random() < 0.3 else rng.choice("abcxyz") for _ in range(size))


def random_value(rng: random.Random) -> object:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.choice([0.0, -0.0, 1.0, 1e16, 5e-324, 1.7976931348623157e308, rng.uniform(-1, 1)])
    if kind == 1:
        return rng.uniform(-1, 1) * 10.0 ** rng.randint(-300, 300)
    if kind == 2:
        return rng.choice([0, -1, 2**63 - 1, -(2**63), rng.randint(-(2**63), 2**63 - 1)])
    if kind == 3:
        return rng.random() < 0.5
    return random_text(rng, empty=True)


def random_record(rng: random.Random) -> Record:
    tags = {random_text(rng): random_text(rng) for _ in range(rng.randint(0, 4))}
    fields = {random_text(rng): random_value(rng) for _ in range(rng.randint(1, 5))}
    return Record(rng.randint(TIME_MIN, TIME_MAX), random_text(rng), tags, fields)  # type: ignore[arg-type]


def representable(record: Record) -> bool:
    """Independent statement of what format_record must refuse (see its docstring)."""

    def ok(name: str, unescaped: str, bad_first: str = "") -> bool:
        if not name or "\n" in name or name[0] in bad_first or name.endswith("\\"):
            return False
        return not any(a == "\\" and b in unescaped for a, b in zip(name, name[1:], strict=False))

    keys = list(record.fields)
    return (
        ok(record.measurement, ' ,="', "#\t\0")
        and all(ok(k, " ,=") and ok(v, " ,=") for k, v in record.tags.items())
        and all(ok(k, ' ,="', "\t\0" if i == 0 else "") for i, k in enumerate(keys))
    )


def test_random_records_round_trip_one_line_at_a_time() -> None:
    rng = random.Random(20240601)
    refused = 0
    for _ in range(5000):
        record = random_record(rng)
        if representable(record):
            assert parse_line(format_record(record)) == record, record
        else:
            refused += 1
            with pytest.raises(ValueError, match="cannot be written in line protocol"):
                format_record(record)
    assert 0 < refused < 2500  # both branches are exercised


def test_random_records_round_trip_as_a_file() -> None:
    rng = random.Random(7)
    records = [r for r in (random_record(rng) for _ in range(3000)) if representable(r)]
    text = "".join(format_record(r) + "\n" for r in records)
    assert list(parse_lines(io.StringIO(text))) == records


@pytest.mark.parametrize("precision", sorted(PRECISIONS))
def test_round_trip_at_every_precision(precision: str) -> None:
    rng = random.Random(precision)
    factor = PRECISIONS[precision]
    for _ in range(200):
        ns = rng.randint(TIME_MIN // factor + 1, TIME_MAX // factor) * factor
        record = Record(ns, "m", {"k": "v"}, {"v": rng.random()})
        assert parse_line(format_record(record, precision=precision), precision=precision) == record


def test_fast_and_general_scanners_agree_on_plain_lines() -> None:
    # The split-based scanner must be a pure shortcut: on lines it accepts, the general
    # scanner (which it bypasses) gives the same record.
    rng = random.Random(3)
    for _ in range(2000):
        record = random_record(rng)
        record.measurement = "m" + "".join(c for c in record.measurement if c.isalnum())
        record.tags = {f"t{i}{k.isalnum()}": f"v{i}" for i, k in enumerate(record.tags)}
        record.fields = {f"f{i}": v for i, v in enumerate(record.fields.values()) if not isinstance(v, str)}
        if not record.fields:
            continue
        line = format_record(record)
        plain = lineprotocol._parse_plain(line, 0, 1)
        assert plain == lineprotocol._parse_escaped(line, 0, 1) == record


@pytest.mark.slow
def test_a_million_lines_parse_well_under_a_minute() -> None:
    lines = [f"cpu,host=h{i % 50},region=eu usage={i * 0.001},n={i}i,ok=t {1_700_000_000_000_000_000 + i}\n"
             for i in range(1_000_000)]  # fmt: skip
    started = time.perf_counter()
    count = sum(1 for _ in parse_lines(lines))
    elapsed = time.perf_counter() - started
    assert count == 1_000_000
    assert elapsed < 30, f"{elapsed:.1f} s for 10^6 lines"


# -- agreement with a real influxd --------------------------------------------------------------

# Lines influxd accepts, each in its own measurement so what it stores can be compared.
ACCEPTED = [
    'a1,host=server\\ 01,region=us\\,west temp=21.5,count=3i,ok=T,msg="say \\"hi\\" \\\\ ok" 1',
    "a2\\ b\\,c,k\\=1=v\\=1 f\\ 1=1,f\\,2=2,f\\=3=3 2",
    'a3\\=x\\"y v=.5,w=1.,x=-1E+3,y=007 3',
    'a4,k"=v" f\\"q=1,s="keep \\n \\d",e="" 4',
    "a5,k==v v=t,w=FALSE,x=True,y=false 5",
    "a6 v=1,v=2 6",
    "  \ta7 v=9223372036854775807i,w=-9223372036854775808i \t 7  ",
    "a8,z=1,a=2 v=1e-400 8",
    'a9 s="multi\nline" 9',
    "c\\pu v=1 10",
    f"a10 v=1 {TIME_MAX}",
    f"a11 v=1 {TIME_MIN}",
]


@pytest.mark.influxdb
def test_influxd_stores_what_parse_line_reads(influxdb_server, influxdb_database) -> None:  # noqa: ANN001
    from influxdb.line_protocol import quote_ident

    from udfs.io.influx import InfluxTarget

    client = influxdb_server.client(influxdb_database)
    client.write(ACCEPTED, params={"db": influxdb_database, "precision": "n"}, protocol="line")
    target = InfluxTarget(influxdb_server.url, influxdb_database)
    for expected in parse_lines(ACCEPTED):
        # One measurement per query: across measurements InfluxQL casts a field to one type.
        query = f"SELECT * FROM {quote_ident(expected.measurement)} GROUP BY *"
        assert target.query_records(query) == [expected]


# Lines influxd 1.6 rejects; the one it takes and mangles (v="a"b) is left out.
REJECTED = [(line, reason) for line, reason in MALFORMED if line != 'cpu v="a"b']


@pytest.mark.influxdb
@pytest.mark.parametrize(("line", "reason"), REJECTED, ids=[line for line, _ in REJECTED])
def test_influxd_rejects_what_parse_line_rejects(influxdb_server, influxdb_database, line, reason) -> None:  # noqa: ANN001
    from influxdb.exceptions import InfluxDBClientError

    client = influxdb_server.client(influxdb_database)
    with pytest.raises(InfluxDBClientError) as caught:
        client.write([line], params={"db": influxdb_database, "precision": "n"}, protocol="line")
    assert caught.value.code == 400
    with pytest.raises(LineProtocolError):
        parse_line(line)
