"""A trained model used by a task in a real Kapacitor: MODEL_PATH comes from ``udfs conf``.

Kapacitor starts process UDFs in its own working directory, so the model directory must
reach them through the env section ``udfs conf --model-path`` writes; the task then
scores with the model it names and nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kapacitor_stack import (
    KapacitorServer,
    assert_same_points,
    comparable,
    line,
    read_output,
    start_stack,
    stop_stack,
    wait_for_output,
)

from udfs.analysis.backtest import plan_task
from udfs.cli import main
from udfs.io.records import Record
from udfs.replay.session import ReplayConfig, replay_records
from udfs.tickscript.client import retarget_dbrp

pytestmark = [pytest.mark.kapacitor, pytest.mark.influxdb, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000_000_000


def _printer(i: int) -> dict[str, float]:
    odd = i % 97 == 50
    return {"temperature": 40.0 + (i % 5) + (25.0 if odd else 0.0), "humidity": 30.0 + (i % 3),
            "ink_level": 80.0 - (i % 11)}


def test_isolation_forest_task_scores_with_a_model_from_model_path(
    kapacitor_bin: Path, influxdb_server: Any, influxdb_database: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    models = tmp_path / "models"
    training = tmp_path / "printer.csv"
    training.write_text("timestamp,temperature,humidity,ink_level\n" + "".join(
        f"{T0 + i * 60 * 10**9},{v['temperature']},{v['humidity']},{v['ink_level']}\n"
        for i in range(400) for v in [_printer(i)] if i % 97 != 50))
    trained = CliRunner().invoke(main, ["train", "isolation_forest", "-i", str(training), "--fields",
                                        "temperature,humidity,ink_level", "--name", "printer",
                                        "--model-dir", str(models), "--no-progress"])
    assert trained.exit_code == 0, trained.output
    monkeypatch.setenv("MODEL_PATH", str(models))  # what `udfs conf` writes into the env section
    import kapacitor_stack

    monkeypatch.setattr(kapacitor_stack, "REPO", tmp_path)  # udf_section: model_path = REPO / "models"
    stack = start_stack("process", kapacitor_bin, tmp_path / "stack", influxdb_server.url, names=["isolation_forest"])
    kapacitor: KapacitorServer = stack.kapacitor
    db = influxdb_database
    try:
        assert f'MODEL_PATH = "{models}"' in (kapacitor.root / "kapacitor.conf").read_text()
        script = retarget_dbrp((ROOT / "tickscripts" / "isolation_forest.tick").read_text(), db, "autogen")
        vars_doc = {
            "db": {"type": "string", "value": db}, "outDB": {"type": "string", "value": db},
            "model": {"type": "string", "value": "printer"}, "emit": {"type": "string", "value": "all"},
        }
        kapacitor.define("printer", script, dbrps=[], vars=vars_doc)
        records = [Record(T0 + i * 60 * 10**9, "printer", {"printer": "p1"}, dict(_printer(i))) for i in range(300)]
        kapacitor.write(db, "autogen", [line(r) for r in records])
        wait_for_output(kapacitor, "printer", "isolation_forest", len(records), written=len(records))
        out = read_output(influxdb_server, db)
    finally:
        stop_stack(stack)
    assert len(out) == len(records)  # a model from the start: no warm-up, every point scored
    assert all(p.get("anomaly_score") is not None for p in out)
    # The same model, loaded by a replay of the same task: the same scores, point by point.
    plan = plan_task(script, vars_doc)
    found: list[Record] = []
    config = ReplayConfig(name="isolation_forest", options=plan.options, group_by=plan.group_by, database=db,
                          env={**os.environ, "MODEL_PATH": str(models)}, log_level="warning")
    replay_records(config, records, found.append)
    assert_same_points(comparable(out), [{"time": r.time, **r.tags, **r.fields} for r in found])
    assert "model=printer" in plan.options
