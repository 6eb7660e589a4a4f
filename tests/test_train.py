"""``udfs train isolation_forest``: files and metadata written, and a trained model used end to end.

The end-to-end test trains on generated printer telemetry (measurement ``printer``,
tag ``printer``, fields temperature/humidity/ink_level), then replays a later stretch
with injected faults through ``@isolation_forest().model(...)`` run as a real
subprocess by the replay driver, as Kapacitor would run it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from printer_data import FIELDS, T0, printer_records

from udfs.cli import main
from udfs.io.influx import InfluxTarget
from udfs.io.records import Record
from udfs.models.store import load_model
from udfs.replay.session import ReplayConfig, replay_records


def write_csv(path: Path, records: list[Record]) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["timestamp", "printer", *FIELDS])
        for r in records:
            writer.writerow([r.time, r.tags["printer"], *(repr(r.fields[f]) for f in FIELDS)])
    return path


def train(*args: str) -> Result:
    return CliRunner().invoke(main, ["train", "isolation_forest", "--no-progress", *args])


@pytest.fixture(scope="module")
def training_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    records, _ = printer_records(2000, seed=1)
    return write_csv(tmp_path_factory.mktemp("train") / "printer.csv", records)


def test_help_explains_inputs_and_safety() -> None:
    result = CliRunner().invoke(main, ["train", "isolation_forest", "--help"])
    assert result.exit_code == 0
    for words in ("--influx-query", "--fields", "--lags", "--model-dir", "$MODEL_PATH"):
        assert words in result.output
    assert "runs code" in CliRunner().invoke(main, ["train", "--help"]).output


def test_writes_the_model_and_its_metadata(training_csv: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    result = train("-i", str(training_csv), "--tag-column", "printer", "--fields", ",".join(FIELDS),
                   "--name", "printer", "--model-dir", str(models), "--n-estimators", "50", "--seed", "3")
    assert result.exit_code == 0, result.output
    meta = json.loads((models / "printer.json").read_text())
    assert meta["sha256"] == hashlib.sha256((models / "printer.joblib").read_bytes()).hexdigest()
    assert meta["fields"] == list(FIELDS) and meta["lags"] == 0 and meta["rows"] == 4000
    assert meta["time_range"]["start_ns"] == T0 and meta["time_range"]["start"] == "2023-11-14T22:13:20.000000000Z"
    assert meta["params"]["n_estimators"] == 50 and meta["params"]["seed"] == 3
    assert meta["params"]["contamination"] == "auto" and meta["params"]["max_samples"] == 256
    for key in ("sklearn_version", "joblib_version", "python_version", "trained_at"):
        assert meta[key]
    assert meta["source"] == {"input": str(training_csv)}
    model, _ = load_model(models, "printer", detector="isolation_forest", fields=FIELDS, lags=0)
    assert model.n_estimators == 50 and model.n_features_in_ == 3


def test_lags_are_built_per_series(training_csv: Path, tmp_path: Path) -> None:
    result = train("-i", str(training_csv), "--tag-column", "printer", "--fields", "temperature", "--lags", "5",
                   "--name", "lagged", "--model-dir", str(tmp_path), "--n-estimators", "10")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "lagged.json").read_text())
    assert meta["rows"] == 2 * (2000 - 5) and meta["lags"] == 5  # two printers, 5 points each fill the lags


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--fields", "a,a", "--name", "x"], "distinct"),
        (["--fields", "a,b", "--lags", "2", "--name", "x"], "exactly one field"),
        (["--fields", "a", "--name", "../x"], "must not contain '..'"),
        (["--fields", "a", "--name", "x", "--contamination", "0.9"], "contamination"),
        (["--fields", "nope", "--name", "x"], "0 usable rows"),
    ],
)
def test_refusals(args: list[str], words: str, training_csv: Path, tmp_path: Path) -> None:
    result = train("-i", str(training_csv), "--model-dir", str(tmp_path), *args)
    assert result.exit_code != 0 and words in result.output, result.output


def test_an_existing_model_is_kept_without_force(training_csv: Path, tmp_path: Path) -> None:
    args = ["-i", str(training_csv), "--fields", "humidity", "--name", "m", "--model-dir", str(tmp_path),
            "--n-estimators", "5"]
    assert train(*args).exit_code == 0
    again = train(*args)
    assert again.exit_code != 0 and "--force" in again.output
    assert train(*args, "--force").exit_code == 0
    assert train("--fields", "a", "--name", "m").exit_code != 0  # no input at all


def test_a_trained_model_finds_the_injected_faults_through_the_replay_driver(
    training_csv: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    result = train("-i", str(training_csv), "--tag-column", "printer", "--fields", ",".join(FIELDS),
                   "--name", "printer", "--model-dir", str(models))
    assert result.exit_code == 0, result.output
    records, faults = printer_records(1000, seed=2, start=T0 + 10**15, anomalies=10)
    # calibration=none, cooldown=0s: the model's own verdicts at an explicit threshold are what this tests
    options = [*(f"field={f}" for f in FIELDS), "model=printer", f"model_dir={models}", "threshold=0.13",
               "calibration=none", "cooldown=0s"]
    out: list[Record] = []
    # The deployer's MODEL_PATH, inherited by the UDF process (kapacitor.conf's [udf.functions.NAME.env]).
    env = {**os.environ, "MODEL_PATH": str(models)}
    task, _ = replay_records(ReplayConfig(name="isolation_forest", options=options, group_by=["printer"], env=env),
                             records, out.append)
    assert task.points_sent == len(out) == 2000
    assert all(r.tags["field"] == "temperature,humidity,ink_level" and "anomaly_score" in r.fields for r in out)
    flagged = {(r.tags["printer"], r.time) for r in out if r.fields["is_anomaly"]}
    assert faults <= flagged, sorted(faults - flagged)  # every injected fault found
    assert len(flagged - faults) <= 0.01 * len(out), len(flagged - faults)  # and little else


@pytest.mark.influxdb
def test_trains_from_an_influxdb_query(
    influxdb_server, influxdb_database: str, training_csv: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    records, _ = printer_records(300, seed=1)
    InfluxTarget(influxdb_server.url, influxdb_database).write_records(records, progress=False)
    query = "SELECT temperature, humidity, ink_level FROM printer"
    from_db = train("--influx-url", f"{influxdb_server.url}/{influxdb_database}", "--influx-query", query,
                    "--fields", ",".join(FIELDS), "--name", "db", "--model-dir", str(tmp_path))
    assert from_db.exit_code == 0, from_db.output
    meta = json.loads((tmp_path / "db.json").read_text())
    assert meta["rows"] == 600 and meta["time_range"]["end_ns"] == max(r.time for r in records)
    assert meta["source"] == {"influx_url": influxdb_server.url, "database": influxdb_database, "query": query}
    # The same rows from a file give the very same model, byte for byte.
    csv_path = write_csv(tmp_path / "same.csv", records)
    assert train("-i", str(csv_path), "--fields", ",".join(FIELDS), "--name", "file",
                 "--model-dir", str(tmp_path)).exit_code == 0
    assert json.loads((tmp_path / "file.json").read_text())["sha256"] == meta["sha256"]
