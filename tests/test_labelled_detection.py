"""The demo data's labelled anomalies are found by the core detectors, end to end.

The ingestion scripts generate printer telemetry and ADSL line states with anomalies
at known times (their labels files); each is replayed through a detector UDF as a
real subprocess over the real protocol, with the options of the shipped TICKscript,
and every labelled anomaly must be detected while it lasts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from udfs.io.lineprotocol import parse_lines
from udfs.replay.session import ReplayConfig, replay_records

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "ingestion-scripts"


def generate(script: str, tmp_path: Path, *args: str) -> tuple[list, list[dict]]:
    labels = tmp_path / f"{script}.labels.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / f"{script}.py"), "--dry-run", "--no-progress", "--labels", str(labels), *args],
        capture_output=True, text=True, timeout=120, check=True,
    )
    records = list(parse_lines(done.stdout.splitlines()))
    document = json.loads(labels.read_text())
    rows = document["anomalies"] if isinstance(document, dict) and "anomalies" in document else document
    return records, rows


def label_times(row: dict) -> tuple[int, int]:
    return int(row["start_ns"]), int(row["end_ns"])


@pytest.mark.parametrize("field", ["temperature", "humidity", "ink_level"])
def test_mad_finds_every_labelled_printer_anomaly(tmp_path: Path, field: str) -> None:
    records, labels = generate("printer_data", tmp_path, "--start", "2024-01-01T00:00:00Z", "--duration", "2h",
                               "--anomalies", "9", "--seed", "3")
    wanted = [row for row in labels if row["field"] == field]
    assert wanted, "the generator must inject anomalies on every field"
    found: list = []
    # calibration=none, cooldown=0s: the raw threshold verdicts; the calibration's learning period (288 points
    # per group) is most of this 2-hour sample, and nothing is flagged while it learns.
    config = ReplayConfig(name="mad", options=(f"field={field}", "window=288", "threshold=6.0", "emit=anomalies",
                                                  "calibration=none", "cooldown=0s"),
                          group_by=("printer",), log_level="warning")
    replay_records(config, records, found.append)
    for row in wanted:
        start, end = label_times(row)
        hits = [r for r in found if r.tags["printer"] == row["printer"] and start <= r.time <= end]
        assert hits, f"labelled {row['kind']} on {row['printer']} at {row['start']} was not detected"
    # Detections outside the labelled spans stay rare (< 0.5 % of the points).
    spans = [(r["printer"], *label_times(r)) for r in labels]
    outside = [r for r in found if not any(p == r.tags["printer"] and s <= r.time <= e + 300_000_000_000
                                           for p, s, e in spans)]
    assert len(outside) < 0.005 * len(records), f"{len(outside)} false alarms"


def test_edge_reports_every_labelled_retrain(tmp_path: Path) -> None:
    records, labels = generate("adsl_data", tmp_path, "--start", "2024-01-01T00:00:00Z", "--duration", "1d",
                               "--routers", "3", "--seed", "5")
    assert labels
    found: list = []
    config = ReplayConfig(name="edge", options=("field=value", "emit=changes"), group_by=("host",),
                          log_level="warning")
    replay_records(config, records, found.append)
    for row in labels:
        start, end = label_times(row)
        into_training = [r for r in found if r.tags["host"] == row["host"] and start <= r.time <= end
                         and r.fields.get("current") == "TRAINING"]
        assert into_training, f"retrain of {row['host']} at {row['start']} not reported"
