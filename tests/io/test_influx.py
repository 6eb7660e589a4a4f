"""Writing records to a real influxd and reading them back; errors that name the server."""

from __future__ import annotations

import re
import socket

import pytest

from udfs.io.influx import InfluxQueryError, InfluxTarget, InfluxWriteError
from udfs.io.lineprotocol import format_record
from udfs.io.records import Record

# -- targets (no server needed) ---------------------------------------------------------------


def test_from_url_takes_the_database_from_the_path() -> None:
    target = InfluxTarget.from_url("http://localhost:8086/metrics")
    assert (target.url, target.database, target.username) == ("http://localhost:8086", "metrics", None)


def test_from_url_database_argument_is_the_fallback() -> None:
    assert InfluxTarget.from_url("http://localhost:8086", database="anomalies").database == "anomalies"
    assert InfluxTarget.from_url("http://localhost:8086/", database="anomalies").database == "anomalies"
    assert InfluxTarget.from_url("http://localhost:8086/mine", database="anomalies").database == "mine"


def test_from_url_credentials_prefix_port_and_ipv6() -> None:
    target = InfluxTarget.from_url("https://us%40er:p%3Ass@db.example/proxy/influx/my%20db")
    assert target.url == "https://db.example:8086/proxy/influx"
    assert (target.database, target.username, target.password) == ("my db", "us@er", "p:ss")
    assert "p:ss" not in repr(target)
    assert InfluxTarget.from_url("http://[::1]:9999/db").url == "http://[::1]:9999"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("localhost:8086/db", "expected an http(s)://host"),
        ("ftp://localhost/db", "expected an http(s)://host"),
        ("http://localhost:8086", "no database in 'http://localhost:8086'"),
    ],
)
def test_from_url_refuses_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        InfluxTarget.from_url(url)


def test_constructor_refuses_credentials_in_the_url() -> None:
    with pytest.raises(ValueError, match="without credentials"):
        InfluxTarget("http://user:pw@localhost:8086", "db")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


def test_unreachable_server_is_a_clear_write_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    target = InfluxTarget.from_url(f"http://u:secret@{url[7:]}/db", timeout=5)
    records = [Record(1, "m", {}, {"v": 1.0})]
    with pytest.raises(InfluxWriteError) as caught:
        target.write_records(records, retries=2, backoff=0, progress=False)
    message = str(caught.value)
    assert url in message and "'db'" in message and "after 3 attempts" in message
    assert "Connection refused" in message and "secret" not in message
    with pytest.raises(InfluxWriteError, match="after 1 attempt: "):
        target.write_records(records, retries=0, create_database=False, progress=False)


def test_unreachable_server_is_a_clear_query_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(InfluxQueryError, match=f"cannot reach InfluxDB at {url}: .*Connection refused"):
        InfluxTarget(url, "db", timeout=5).query_records("SELECT * FROM m")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        InfluxTarget("http://localhost:8086", "db").write_records([], batch_size=0)


# -- with a real influxd ----------------------------------------------------------------------

TRICKY = [
    Record(
        1_404_172_800_000_000_000,
        "taxi rides",
        {"city": "New York", "borough": "Manhattan, NY", "zone": "a=b"},
        {"count": 10844.0, "trips": 17, "busy": True, "note": 'rush "hour" \\ peak\nend'},
    ),
    Record(1_404_172_800_000_000_001, "taxi rides", {"city": "New York"}, {"count": 1.0, "busy": False}),
    Record(-1_000_000_000, "taxi rides", {"city": "Old York"}, {"count": -0.5, "trips": -(2**63)}),
    Record(5, "ünïcödé ✓", {"ключ": "значение"}, {"v": 1e-300, "big": 2**63 - 1, "empty": ""}),
    Record(6, "m", {}, {"x": 1.7976931348623157e308}),
]


def key(record: Record) -> tuple[str, int]:
    return record.measurement, record.time


@pytest.mark.influxdb
def test_records_of_every_field_type_round_trip(influxdb_server, influxdb_database) -> None:  # noqa: ANN001
    target = InfluxTarget.from_url(f"{influxdb_server.url}/{influxdb_database}")
    assert target.write_records(TRICKY, progress=False) == len(TRICKY)
    stored = [
        r
        for m in ("taxi rides", "ünïcödé ✓", "m")
        for r in target.query_records(f'SELECT * FROM "{m}" GROUP BY *')
    ]
    assert sorted(stored, key=key) == sorted(TRICKY, key=key)
    # Without GROUP BY the tags come back as columns; SHOW TAG KEYS tells them apart.
    assert sorted(target.query_records('SELECT * FROM "taxi rides"'), key=key) == sorted(TRICKY[:3], key=key)
    value = target.query_records('SELECT count FROM "taxi rides" WHERE time = 1404172800000000001')
    assert value == [Record(1_404_172_800_000_000_001, "taxi rides", {}, {"count": 1.0})]
    assert type(value[0].fields["count"]) is float  # JSON said 1


@pytest.mark.influxdb
def test_batches_and_generators(influxdb_server, influxdb_database) -> None:  # noqa: ANN001
    target = InfluxTarget(influxdb_server.url, influxdb_database)
    records = (Record(i * 10**9, "load", {"host": f"h{i % 3}"}, {"v": float(i)}) for i in range(12_345))
    assert target.write_records(records, batch_size=1000, progress=False) == 12_345
    [counted] = target.query_records("SELECT count(v) FROM load")
    assert counted.fields == {"count": 12_345}


@pytest.mark.influxdb
def test_progress_bar_goes_to_stderr(influxdb_server, influxdb_database, capsys) -> None:  # noqa: ANN001
    target = InfluxTarget(influxdb_server.url, influxdb_database)
    target.write_records([Record(i, "m", {}, {"v": 1.0}) for i in range(10)], progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "10/10" in captured.err


@pytest.mark.influxdb
def test_refused_writes_are_not_retried_and_name_the_url(influxdb_server, influxdb_database) -> None:  # noqa: ANN001
    target = InfluxTarget(influxdb_server.url, influxdb_database)
    target.write_records([Record(1, "m", {}, {"v": 1.0})], progress=False)
    with pytest.raises(InfluxWriteError) as caught:  # a float field cannot take a string
        target.write_records([Record(2, "m", {}, {"v": "text"})], retries=5, backoff=60, progress=False)
    message = str(caught.value)
    assert influxdb_server.url in message and "HTTP 400" in message and "field type conflict" in message
    missing = InfluxTarget(influxdb_server.url, "no_such_database")
    with pytest.raises(InfluxWriteError, match=r"refused to write: HTTP 404: database not found"):
        missing.write_records([Record(1, "m", {}, {"v": 1.0})], create_database=False, progress=False)


@pytest.mark.influxdb
def test_bad_query_is_a_clear_query_error(influxdb_server, influxdb_database) -> None:  # noqa: ANN001
    target = InfluxTarget(influxdb_server.url, influxdb_database)
    with pytest.raises(InfluxQueryError, match=f"InfluxDB at {influxdb_server.url} refused 'SELEKT 1'"):
        target.query_records("SELEKT 1")
    with pytest.raises(InfluxQueryError, match="no time column"):
        target.write_records([Record(1, "m", {}, {"v": 1.0})], progress=False)
        target.query_records("SHOW MEASUREMENTS")


@pytest.mark.influxdb
def test_formatted_lines_are_what_influxd_stores(influxdb_server, influxdb_database) -> None:  # noqa: ANN001
    # The same records sent by the influxdb client's own writer, as formatted lines.
    client = influxdb_server.client(influxdb_database)
    client.write_points([format_record(r) for r in TRICKY], time_precision="n", protocol="line")
    stored = InfluxTarget(influxdb_server.url, influxdb_database).query_records(
        "SELECT * FROM /.*/ GROUP BY *"
    )
    assert sorted(stored, key=key) == sorted(TRICKY, key=key)
