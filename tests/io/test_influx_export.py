"""InfluxDB 1.x's own CSV export (``influx -format csv -execute 'SELECT ...'``) read as records.

The texts below are what ``influx`` 1.6.7 printed for these queries over the points in
``POINTS`` (recorded once; the last test makes the real CLI print them again).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from udfs.io.csvinput import CsvInputError, read_csv, read_records
from udfs.io.lineprotocol import parse_lines
from udfs.io.records import Record

POINTS = [
    'cpu,host=a,dc=x usage=0.5,n=3i,ok=true,msg="hi, there" 1700000000000000000',
    "cpu,host=b,dc=x usage=1.5,n=4i,ok=false 1700000001000000000",
    "cpu,host=a,dc=x usage=2.5 1700000002500000000",
    "mem,host=a used=7 1700000000000000000",
]
T0 = 1_700_000_000_000_000_000

SELECT_FIELD = """\
name,time,usage
cpu,1700000000000000000,0.5
cpu,1700000001000000000,1.5
cpu,1700000002500000000,2.5
"""
SELECT_STAR_TWO_MEASUREMENTS = """\
name,time,dc,host,msg,n,ok,usage,used
cpu,1700000000000000000,x,a,"hi, there",3,true,0.5,
cpu,1700000001000000000,x,b,,4,false,1.5,
cpu,1700000002500000000,x,a,,,,2.5,
name,time,dc,host,msg,n,ok,usage,used
mem,1700000000000000000,,a,,,,,7
"""
GROUP_BY_STAR_RFC3339 = """\
name,tags,time,usage
cpu,"dc=x,host=a",2023-11-14T22:13:20Z,0.5
cpu,"dc=x,host=a",2023-11-14T22:13:22.5Z,2.5
name,tags,time,usage
cpu,"dc=x,host=b",2023-11-14T22:13:21Z,1.5
"""
MEAN_BY_HOST_SECONDS = """\
name,tags,time,mean
cpu,host=a,1700000000,0.5
cpu,host=a,1700000001,
cpu,host=a,1700000002,2.5
name,tags,time,mean
cpu,host=b,1700000001,1.5
cpu,host=b,1700000002,
"""


def read(text: str, **options: Any) -> list[Record]:
    options.setdefault("measurement", "file_stem")
    return list(read_csv(io.StringIO(text), **options))


def test_a_plain_select_takes_the_measurement_from_the_name_column() -> None:
    assert read(SELECT_FIELD) == [
        Record(T0, "cpu", {}, {"usage": 0.5}),
        Record(T0 + 10**9, "cpu", {}, {"usage": 1.5}),
        Record(T0 + 2_500_000_000, "cpu", {}, {"usage": 2.5}),
    ]


def test_select_star_over_two_measurements_with_tags_named_as_tag_columns() -> None:
    records = read(SELECT_STAR_TWO_MEASUREMENTS, tag_columns=["dc", "host"])
    assert records == [
        Record(T0, "cpu", {"dc": "x", "host": "a"}, {"msg": "hi, there", "n": 3.0, "ok": True, "usage": 0.5}),
        Record(T0 + 10**9, "cpu", {"dc": "x", "host": "b"}, {"n": 4.0, "ok": False, "usage": 1.5}),
        Record(T0 + 2_500_000_000, "cpu", {"dc": "x", "host": "a"}, {"usage": 2.5}),
        Record(T0, "mem", {"host": "a"}, {"used": 7.0}),
    ]


def test_a_group_by_gives_each_series_its_tags_and_rfc3339_times_are_exact() -> None:
    assert read(GROUP_BY_STAR_RFC3339) == [
        Record(T0, "cpu", {"dc": "x", "host": "a"}, {"usage": 0.5}),
        Record(T0 + 2_500_000_000, "cpu", {"dc": "x", "host": "a"}, {"usage": 2.5}),
        Record(T0 + 10**9, "cpu", {"dc": "x", "host": "b"}, {"usage": 1.5}),
    ]


def test_empty_aggregate_cells_are_skipped_and_epoch_seconds_are_recognised() -> None:
    assert read(MEAN_BY_HOST_SECONDS) == [
        Record(T0, "cpu", {"host": "a"}, {"mean": 0.5}),
        Record(T0 + 2 * 10**9, "cpu", {"host": "a"}, {"mean": 2.5}),
        Record(T0 + 10**9, "cpu", {"host": "b"}, {"mean": 1.5}),
    ]


def test_precision_fixes_the_epoch_unit_the_size_cannot_tell() -> None:
    # `influx -precision h`: hours since the epoch look like seconds from 1970 to a guess.
    text = "name,time,v\ncpu,472222,1\ncpu,472223,2\n"
    assert [r.time for r in read(text, precision="h")] == [472222 * 3600 * 10**9, 472223 * 3600 * 10**9]
    assert [r.time for r in read(text)] == [472222 * 10**9, 472223 * 10**9]
    assert [r.time for r in read("timestamp,v\n1700000000000,1\n", precision="ms")] == [T0]
    with pytest.raises(ValueError, match="unknown precision 'd'"):
        read(text, precision="d")


def test_a_bad_tags_cell_names_its_line() -> None:
    with pytest.raises(CsvInputError, match="line 3: bad tags cell 'host'"):
        read('name,tags,time,v\ncpu,host=a,0,1\ncpu,host,1,2\n')


def test_the_export_from_stdin_needs_no_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(GROUP_BY_STAR_RFC3339))
    assert [r.tags["host"] for r in read_records("-", fmt="csv")] == ["a", "a", "b"]
    monkeypatch.setattr("sys.stdin", io.StringIO(SELECT_FIELD))
    assert {r.measurement for r in read_records("-", fmt="csv", measurement="renamed")} == {"renamed"}


@pytest.mark.influxdb
@pytest.mark.parametrize(
    ("precision", "query", "tag_columns"),
    [
        ([], "SELECT * FROM cpu, mem", ["dc", "host"]),
        (["-precision", "rfc3339"], "SELECT usage, n, ok, msg FROM cpu GROUP BY *", []),
        (["-precision", "ns"], "SELECT * FROM cpu GROUP BY host", ["dc"]),
    ],
)
def test_what_the_real_influx_cli_exports_reads_back_as_the_points_written(
    influxdb_server: Any, influxdb_database: str, tmp_path: Path, precision: list[str], query: str,
    tag_columns: list[str],
) -> None:
    influx = shutil.which("influx")
    if influx is None:
        message = "the influx CLI is not installed (Debian: apt-get install influxdb-client)"
        if os.environ.get("CI") or os.environ.get("UDFS_REQUIRE_INFLUXDB"):
            pytest.fail(message)
        pytest.skip(message)
    influxdb_server.client(influxdb_database).write_points(POINTS, protocol="line")
    export = tmp_path / "export.csv"
    done = subprocess.run(
        [influx, "-host", influxdb_server.host, "-port", str(influxdb_server.port), "-database", influxdb_database,
         "-format", "csv", *precision, "-execute", query], capture_output=True, text=True, timeout=60, check=True,
    )
    export.write_text(done.stdout)
    # Every query selects every field of its measurements; integers come back as floats (CSV rule).
    written = [r for r in parse_lines(POINTS) if r.measurement in query]
    for record in written:
        record.fields = {k: float(v) if type(v) is int else v for k, v in record.fields.items()}
    got = list(read_records(export, tag_columns=tag_columns))
    assert len(got) == len(written) > 0, done.stdout
    assert sorted(got, key=lambda r: (r.measurement, r.time)) == sorted(written, key=lambda r: (r.measurement, r.time))
