"""`udfs demo`, the README's main job, runs end to end and writes what it reports; with
``--influx-url`` it writes the raw series and the output where the Grafana dashboard looks."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from udfs.io.csvinput import read_records
from udfs.io.lineprotocol import parse_lines
from udfs.replay.demo import LISTED_CHANGES, SHIFT_STEP_NS

NS = 1_000_000_000


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "udfs", "demo", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def test_demo_runs_and_writes_the_anomalies_it_reports(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_demo("--output-dir", str(out))
    for name in ("sigma", "mad", "zscore", "iqr", "edge"):
        lines = (out / f"{name}.lp").read_text().splitlines()
        assert lines, f"{name} wrote nothing"
        records = list(parse_lines(lines))
        assert all(r.measurement == "anomalies" and r.tags["detector"] == name for r in records)
        count = f"{len(lines)} output points -> {out / (name + '.lp')}"
        assert count in done.stdout, f"the summary does not match {name}.lp"
        # Without InfluxDB the data keeps its own times (NAB's are from 2013-14, the ADSL sample's 2023).
        assert all(r.time < 1_704_067_200 * NS for r in records)
    # Every temperature detector says where it first hit each of the four labelled windows.
    hits = re.findall(r"first anomaly in each window: (.*); (\d+) of (\d+) anomalies outside", done.stdout)
    assert len(hits) == 4 and all(len(line.split(" | ")) == 4 for line, _, _ in hits)
    assert "windows: 1 2013-12-10 06:25 - 2013-12-12 05:35 | 2 " in done.stdout
    # One picture per data set, said where.
    for picture in ("machine_temperature.png", "adsl.png"):
        assert f"Picture: {out / picture}" in done.stdout
        with Image.open(out / picture) as image:
            assert image.format == "PNG" and image.width >= 800 and image.height >= 400
            assert len(image.convert("RGB").getcolors(1 << 24) or []) > 20, f"{picture} is blank"


def test_demo_lists_the_state_changes_it_counts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_demo("--output-dir", str(out), "--only", "edge", "--no-plots")
    changes = [r for r in parse_lines((out / "edge.lp").read_text().splitlines()) if "previous" in r.fields]
    lines = done.stdout.splitlines()
    for host in ("router1", "router2"):
        mine = [r for r in changes if r.tags["host"] == host]
        (i,) = [i for i, line in enumerate(lines) if line.strip().startswith(f"{host}: ")]
        header = lines[i]
        assert f"{host}: {len(mine)} state changes" in header
        listed = min(LISTED_CHANGES, len(mine))
        if listed < len(mine):
            assert header.endswith(f"the first {listed} of {len(mine)}:"), header
        shown = lines[i + 1:i + 1 + listed]
        for line, record in zip(shown, mine[:listed], strict=True):
            stamp = datetime.fromtimestamp(record.time / NS, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
            assert line.split()[:5] == [*stamp.split(), record.fields["previous"], "->", record.fields["current"]]
        assert i + 1 + listed == len(lines) or not lines[i + 1 + listed].startswith("            ")
    assert sum(len([r for r in changes if r.tags["host"] == h]) for h in ("router1", "router2")) == len(changes)


def query(server: Any, database: str, text: str) -> list[dict[str, Any]]:
    client = server.client(database)
    try:
        result = client.query(text, epoch="ns")
    finally:
        client.close()
    return list(result.get_points())


@pytest.mark.influxdb
def test_demo_writes_raw_series_and_anomalies_ending_now(influxdb_server: Any, tmp_path: Path) -> None:
    database = f"demo_{uuid.uuid4().hex[:10]}"
    out = tmp_path / "out"
    before = time.time_ns()
    try:
        done = run_demo("--output-dir", str(out), "--no-plots", "--influx-url", influxdb_server.url,
                        "--influx-db", database)
        after = time.time_ns()
        assert f"InfluxDB {influxdb_server.url} db {database}" in done.stdout
        # The raw series, each moved to end within one shift step of now.
        files = {"machine_temperature": "machine_temperature.csv", "adsl_connection": "adsl_sample.lp"}
        for measurement, name in files.items():
            with resources.as_file(resources.files("udfs.data").joinpath(name)) as path:
                points = {(r.time, tuple(sorted(r.tags.items()))) for r in read_records(path, measurement=measurement)}
            rows = query(influxdb_server, database, f'SELECT "value" FROM "{measurement}" GROUP BY *')
            # (NAB's file repeats 12 timestamps: InfluxDB keeps one point for each.)
            assert len(rows) == len(points) > 3000, measurement
            last = max(row["time"] for row in rows)
            assert before - SHIFT_STEP_NS - 300 * NS < last <= after, f"{measurement} does not end now"
        tags = query(influxdb_server, database, 'SHOW TAG VALUES FROM "machine_temperature" WITH KEY = "host"')
        assert [row["value"] for row in tags] == ["nab_machine"], "the dashboard needs a group tag"
        # The output, as written to the files (same shifted times), in measurement anomalies.
        for name in ("sigma", "mad", "zscore", "iqr", "edge"):
            written = list(parse_lines((out / f"{name}.lp").read_text().splitlines()))
            rows = query(influxdb_server, database, f"SELECT * FROM \"anomalies\" WHERE \"detector\" = '{name}'")
            assert sorted(row["time"] for row in rows) == sorted(r.time for r in written), name
            assert all(before - 90 * 86_400 * NS < r.time <= after for r in written)
        # What the demo prints is what the database holds: router2's flapping starts at an anomaly.
        match = re.search(r"router2: .*flapping from (\S+ [0-9:]+)", done.stdout)
        assert match, done.stdout
        flagged = query(influxdb_server, database,
                        "SELECT \"current\" FROM \"anomalies\" WHERE \"detector\" = 'edge' AND \"is_anomaly\" = true")
        stamps = {datetime.fromtimestamp(row["time"] / NS, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
                  for row in flagged}
        assert match.group(1) in stamps
        assert "moved +" in done.stdout and "days to end now" in done.stdout
        assert "measurement machine_temperature, field value, last 90 days" in done.stdout
    finally:
        client = influxdb_server.client()
        client.drop_database(database)
        client.close()
