"""The ingestion scripts, run as real subprocesses, writing into a real influxd."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from udfs.io.influx import InfluxTarget
from udfs.io.lineprotocol import parse_lines

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "ingestion-scripts"
NS = 1_000_000_000
START = "2024-03-01T00:00:00Z"
START_NS = 1_709_251_200 * NS


def run(script: str, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args], capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert result.returncode == 0, f"{script} {args} failed:\n{result.stderr}"
    return result


def query(server: Any, database: str, text: str) -> list[dict[str, Any]]:
    client = server.client()
    try:
        return list(client.query(text, database=database, epoch="ns").get_points())
    finally:
        client.close()


def field_types(server: Any, database: str, measurement: str) -> dict[str, str]:
    rows = query(server, database, f'SHOW FIELD KEYS FROM "{measurement}"')
    return {row["fieldKey"]: row["fieldType"] for row in rows}


def dry_run(script: str, *args: str) -> list[Any]:
    return list(parse_lines(run(script, "--dry-run", *args).stdout.splitlines()))


# -- every script ------------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["printer_data.py", "adsl_data.py", "import_file.py", "replay_live.py"])
def test_help_names_the_sink_options(script: str) -> None:
    out = run(script, "--help").stdout
    for option in ("--url", "--database", "--batch-size", "--retries", "--dry-run"):
        assert option in out


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("printer_data.py", ["--duration", "soon"], "not a duration: 'soon'"),
        ("printer_data.py", ["--duration", "0s"], "'0s' is not a positive duration"),
        ("printer_data.py", ["--start", "yesterday"], "'yesterday' is not a time"),
        ("printer_data.py", ["--labels", "labels.txt"], "'labels.txt' must end in .json or .csv"),
        ("printer_data.py", ["--duration", "2m", "--anomalies", "40"], "do not fit"),
        ("printer_data.py", ["--url", "localhost:8086"], "expected an http(s)://host"),
        ("adsl_data.py", ["--routers", "0"], "0 is not in the range 1<=x<=10000"),
        ("adsl_data.py", ["--duration", "1m"], "--interval: must not exceed --duration"),
        ("import_file.py", ["/no/such/file.csv"], "no such input file"),
        ("import_file.py", ["data.csv", "--tag", "novalue"], "expected KEY=VALUE, got 'novalue'"),
        ("replay_live.py", ["x.csv", "--speed", "2", "--step", "1"], "give --speed or --step, not both"),
        ("replay_live.py", ["x.csv", "--speed", "0"], "0.0 is not in the range x>0"),
    ],
)
def test_bad_arguments_are_clear_errors(script: str, args: list[str], message: str) -> None:
    result = run(script, "--dry-run", *args, check=False)
    assert result.returncode in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_server_is_a_clear_error() -> None:
    result = run("printer_data.py", "--duration", "1m", "--anomalies", "0", "--url", "http://127.0.0.1:9",
                 "--retries", "0", "--no-progress", check=False)
    assert result.returncode == 1
    assert "could not create the database at InfluxDB at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


# -- printer_data.py ---------------------------------------------------------------------------


@pytest.mark.influxdb
def test_printer_data_writes_every_point(influxdb_server: Any, influxdb_database: str, tmp_path: Path) -> None:
    result = run("printer_data.py", "--url", influxdb_server.url, "-d", influxdb_database, "--start", START,
                 "--duration", "10m", "--printers", "2", "--anomalies", "3", "--batch-size", "500",
                 "--no-progress", "--labels", str(tmp_path / "labels.json"))
    assert "1200 points of printer" in result.stderr
    counts = query(influxdb_server, influxdb_database, 'SELECT count(*) FROM "printer" GROUP BY "printer"')
    assert [row["count_temperature"] for row in counts] == [600, 600]
    assert all(row["count_humidity"] == row["count_ink_level"] == 600 for row in counts)
    assert field_types(influxdb_server, influxdb_database, "printer") == dict.fromkeys(
        ("humidity", "ink_level", "temperature"), "float")
    tags = query(influxdb_server, influxdb_database, 'SHOW TAG VALUES FROM "printer" WITH KEY = "printer"')
    assert [row["value"] for row in tags] == ["printer1", "printer2"]
    times = query(influxdb_server, influxdb_database, 'SELECT "temperature" FROM "printer" WHERE "printer" = '
                  "'printer1'")
    assert [row["time"] for row in times] == [START_NS + i * NS for i in range(600)]


def _printer_points(*args: str) -> dict[tuple[str, int, str], float]:
    points = dry_run("printer_data.py", "--start", START, "--duration", "30m", "--seed", "7", *args)
    return {(r.tags["printer"], r.time, name): value for r in points for name, value in r.fields.items()}


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_printer_labels_are_exactly_the_injected_anomalies(tmp_path: Path, suffix: str) -> None:
    labels_path = tmp_path / f"labels{suffix}"
    with_anomalies = _printer_points("--anomalies", "6", "--labels", str(labels_path))
    without = _printer_points("--anomalies", "0")
    changed = {key for key, value in with_anomalies.items() if without[key] != value}
    if suffix == ".json":
        document = json.loads(labels_path.read_text())
        assert document["measurement"] == "printer"
        labels = document["anomalies"]
    else:
        with open(labels_path, newline="") as file:
            labels = [{**row, "start_ns": int(row["start_ns"]), "end_ns": int(row["end_ns"])}
                      for row in csv.DictReader(file)]
    assert len(labels) == 6
    assert {label["kind"] for label in labels} == {"overheat", "humidity_spike", "ink_sensor_glitch"}
    labelled = {(label["printer"], t, label["field"])
                for label in labels for t in range(label["start_ns"], label["end_ns"], NS)}
    assert changed == labelled
    # Anomalies stand out: an overheat is at least 12 degrees above the normal signal.
    for label in labels:
        if label["kind"] == "overheat":
            key = (label["printer"], label["start_ns"], "temperature")
            assert with_anomalies[key] - without[key] >= 12.0
        assert label["start"].endswith("Z") and label["start_ns"] >= START_NS + 180 * NS  # after the warm-up


def test_printer_data_is_reproducible_by_seed() -> None:
    assert _printer_points("--anomalies", "2") == _printer_points("--anomalies", "2")
    assert _printer_points("--anomalies", "2") != _printer_points("--anomalies", "2", "--seed", "8")


# -- adsl_data.py ------------------------------------------------------------------------------


@pytest.mark.influxdb
def test_adsl_data_writes_states_snr_and_crc(influxdb_server: Any, influxdb_database: str) -> None:
    run("adsl_data.py", "--url", f"{influxdb_server.url}/{influxdb_database}", "--start", START, "--duration", "1d",
        "--routers", "3", "--no-progress")
    assert field_types(influxdb_server, influxdb_database, "adsl_connection") == {
        "crc": "integer", "snr": "float", "value": "string"}
    rows = InfluxTarget.from_url(influxdb_server.url, database=influxdb_database).query_records(
        'SELECT * FROM "adsl_connection"')
    by_host: dict[str, list[Any]] = defaultdict(list)
    for record in rows:
        by_host[record.tags["host"]].append(record)
    assert sorted(by_host) == ["router1", "router2", "router3"]
    for records in by_host.values():
        assert [r.time for r in records] == [START_NS + i * 90 * NS for i in range(960)]
        assert {r.fields["value"] for r in records} == {"SHOWTIME", "TRAINING"}
        crc = [r.fields["crc"] for r in records]
        assert crc == sorted(crc), "crc is a counter"


def test_adsl_labels_cover_every_training_poll(tmp_path: Path) -> None:
    labels_path = tmp_path / "adsl.json"
    points = dry_run("adsl_data.py", "--start", START, "--duration", "2d", "--routers", "2", "--flapping", "2",
                     "--seed", "11", "--labels", str(labels_path))
    labels = json.loads(labels_path.read_text())["anomalies"]
    training = {(r.tags["host"], r.time) for r in points if r.fields["value"] == "TRAINING"}
    retrains = [label for label in labels if label["kind"] == "retrain"]
    labelled = {(label["host"], t) for label in retrains for t in range(label["start_ns"], label["end_ns"], 90 * NS)}
    assert training == labelled
    # A retrain ends with SHOWTIME at its end time.
    states = {(r.tags["host"], r.time): r.fields["value"] for r in points}
    assert all(states[(label["host"], label["end_ns"])] == "SHOWTIME" for label in retrains)
    flapping = [label for label in labels if label["kind"] == "flapping"]
    assert sorted(label["host"] for label in flapping) == ["router1", "router2"]  # hosts in turn
    for episode in flapping:
        inside = [r for r in retrains
                  if r["host"] == episode["host"] and episode["start_ns"] <= r["start_ns"] < episode["end_ns"]]
        # More than @edge()'s default flap_count=5 changes within its flap_window=1h.
        assert len(inside) >= 7
        assert episode["end_ns"] - episode["start_ns"] <= 3600 * NS


# -- import_file.py ----------------------------------------------------------------------------


@pytest.mark.influxdb
def test_import_csv_with_measurement_and_tags(influxdb_server: Any, influxdb_database: str) -> None:
    source = ROOT / "data" / "nab" / "data" / "realKnownCause" / "nyc_taxi.csv"
    rows = sum(1 for line in source.read_text().splitlines()[1:] if line.strip())
    result = run("import_file.py", str(source), "--url", influxdb_server.url, "-d", influxdb_database,
                 "-m", "nab", "--tag", "series=nyc_taxi", "--tag", "corpus=nab", "--no-progress")
    assert f"{rows} points from" in result.stderr
    count = query(influxdb_server, influxdb_database, 'SELECT count("value") FROM "nab" WHERE "series" = '
                  "'nyc_taxi' AND \"corpus\" = 'nab'")
    assert count[0]["count"] == rows
    assert field_types(influxdb_server, influxdb_database, "nab") == {"value": "float"}
    first = query(influxdb_server, influxdb_database, 'SELECT first("value") FROM "nab"')[0]
    assert (first["time"], first["first"]) == (1_404_172_800 * NS, 10844.0)  # 2014-07-01 00:00:00


@pytest.mark.influxdb
def test_import_line_protocol_replacing_the_measurement(influxdb_server: Any, influxdb_database: str,
                                                         tmp_path: Path) -> None:
    source = tmp_path / "points.lp"
    source.write_text('cpu,host=a usage=1.5,state="ok",n=3i 1000000000\ncpu,host=b usage=2 2000000000\n')
    run("import_file.py", str(source), "--url", influxdb_server.url, "-d", influxdb_database, "-m", "load",
        "--tag", "dc=west", "--no-progress")
    records = InfluxTarget.from_url(influxdb_server.url, database=influxdb_database).query_records(
        'SELECT * FROM "load"')
    assert [(r.time, r.tags, r.fields) for r in records] == [
        (NS, {"dc": "west", "host": "a"}, {"usage": 1.5, "state": "ok", "n": 3}),
        (2 * NS, {"dc": "west", "host": "b"}, {"usage": 2.0}),
    ]


@pytest.mark.influxdb
def test_a_bad_line_writes_nothing(influxdb_server: Any, influxdb_database: str, tmp_path: Path) -> None:
    source = tmp_path / "broken.lp"
    source.write_text("m v=1 1\nm v=2 2\nm v=oops 3\n")
    result = run("import_file.py", str(source), "--url", influxdb_server.url, "-d", influxdb_database, check=False)
    assert result.returncode == 1
    assert "line 3" in result.stderr and "Traceback" not in result.stderr
    assert query(influxdb_server, influxdb_database, "SHOW MEASUREMENTS") == []


# -- replay_live.py ----------------------------------------------------------------------------

OFFSETS_S = [0, 10, 30, 35, 100, 101, 160]


def _series(tmp_path: Path) -> Path:
    path = tmp_path / "series.csv"
    lines = ["timestamp,value"] + [f"{1_500_000_000 + s},{i}" for i, s in enumerate(OFFSETS_S)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.influxdb
def test_replay_live_at_high_speed_keeps_the_spacing(influxdb_server: Any, influxdb_database: str,
                                                     tmp_path: Path) -> None:
    before = time.time_ns()
    started = time.monotonic()
    run("replay_live.py", str(_series(tmp_path)), "--speed", "400", "--url", influxdb_server.url,
        "-d", influxdb_database, "-m", "live", "--tag", "host=m1", "--no-progress")
    elapsed = time.monotonic() - started
    rows = query(influxdb_server, influxdb_database, 'SELECT "value", "host" FROM "live"')
    times = [row["time"] for row in rows]
    assert [t - times[0] for t in times] == [s * NS for s in OFFSETS_S]
    assert before <= times[0] <= time.time_ns()  # the first point is stamped "now"
    assert [row["value"] for row in rows] == [float(i) for i in range(len(OFFSETS_S))]
    assert {row["host"] for row in rows} == {"m1"}
    assert elapsed >= OFFSETS_S[-1] / 400  # paced, not dumped at once


def test_replay_live_step_stamps_regularly_from_start(tmp_path: Path) -> None:
    started = time.monotonic()
    points = dry_run("replay_live.py", str(_series(tmp_path)), "--step", "0.05", "--start", START)
    assert time.monotonic() - started >= 0.05 * (len(OFFSETS_S) - 1)
    assert [r.time for r in points] == [START_NS + i * 50_000_000 for i in range(len(OFFSETS_S))]
