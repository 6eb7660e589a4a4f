"""Every shipped TICKscript in a real Kapacitor 1.5.7, in process and in socket mode.

Each script is defined (as a task, and as a template with its shipped vars file where
there is one) and enabled through Kapacitor's HTTP API, fed through ``/kapacitor/v1/write``
(stream) or from InfluxDB (batch), and what it writes is read back from the real
influxd. The same input is then replayed through the same UDF with the options the
script gives it (``udfs backtest``'s planner, :func:`udfs.analysis.backtest.plan_task`),
and the two outputs must be the same points: replay is as faithful as Kapacitor.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kapacitor_stack import KapacitorServer, assert_same_points, comparable, line, read_output, wait_for_output

from udfs.analysis.backtest import plan_task
from udfs.io.records import Record
from udfs.replay.session import ReplayConfig, replay_records
from udfs.tickscript.client import retarget_dbrp

pytestmark = [pytest.mark.kapacitor, pytest.mark.influxdb, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "tickscripts").glob("*.tick"))
VARS = {p.stem: p for p in sorted((ROOT / "tickscripts" / "vars").glob("*.json"))}
STEP = 300 * 10**9  # 5-minute data
POINTS = 600
SPIKES = (330, 480)  # after every detector's warm-up, more than 12 h (cooldown) apart


def _start_ns() -> int:
    # Recent, whole minutes: batch queries look back from now; stream tasks do not care.
    now = time.time_ns() // 60_000_000_000 * 60_000_000_000
    return now - (POINTS + 2) * STEP


def _value(i: int, rng: random.Random) -> float:
    base = 50.0 + 5.0 * math.sin(2 * math.pi * i / 288) + rng.gauss(0.0, 0.5)
    return base + (40.0 if i in SPIKES else 0.0)


def make_input(measurement: str, fields: list[str], tags: list[str], start: int) -> list[Record]:
    """Points for the script's source: numbers with two spikes, strings, fractions, vectors."""
    rng = random.Random(7)
    group = {tag: f"{tag}-a" for tag in tags}
    records = []
    for i in range(POINTS):
        values: dict[str, Any] = {}
        if measurement == "adsl_connection":
            values["value"] = "Showtime" if (i // 40) % 3 else "Training"
        elif measurement == "ping":
            lost = 100.0 if 300 <= i < 306 else (20.0 * rng.random() if i % 7 == 0 else 0.0)
            values["percent_packet_loss"] = lost
            values["average_response_ms"] = _value(i, rng) + (25.0 if i >= 450 else 0.0)  # a level shift
            values["result_code"] = 1 if 400 <= i < 420 else 0
        elif measurement == "printer":
            values["temperature"] = _value(i, rng)
            values["humidity"] = 40.0 + rng.gauss(0.0, 1.0) + (30.0 if i in SPIKES else 0.0)
            values["ink_level"] = 80.0 - i * 0.05 + rng.gauss(0.0, 0.2)
        else:
            for name in fields or ["value"]:
                values[name] = _value(i, rng)
        records.append(Record(start + i * STEP, measurement, dict(group), values))
    return records


def _fields_of(options: list[str]) -> list[str]:
    return [o.split("=", 1)[1] for o in options if o.startswith("field=")]


def _cases() -> list[Any]:
    cases = []
    for script in SCRIPTS:
        cases.append(pytest.param(script, None, id=script.stem))
        if script.stem in VARS:
            cases.append(pytest.param(script, VARS[script.stem], id=f"{script.stem}+vars"))
    return cases


def _vars(db: str, vars_path: Path | None, batch: bool) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(vars_path.read_text()) if vars_path else {}
    doc["db"] = {"type": "string", "value": db}
    doc["outDB"] = {"type": "string", "value": db}
    if batch:
        # Query the whole fed range once, a few seconds after the task starts.
        doc["every"] = {"type": "duration", "value": "3s"}
        doc["period"] = {"type": "duration", "value": f"{(POINTS + 4) * 5}m"}
        doc["delay"] = {"type": "duration", "value": "0s"}
    return doc


def expected_output(plan: Any, records: list[Record], db: str) -> list[dict[str, Any]]:
    found: list[Record] = []
    config = ReplayConfig(name=plan.udf, options=plan.options, group_by=plan.group_by, database=db,
                          retention_policy="autogen", log_level="warning",
                          batch_period_ns=plan.period_ns if plan.edge == "batch" else None)
    replay_records(config, records, found.append)
    return [{"time": r.time, **r.tags, **r.fields} for r in found]


# Scripts whose chain has a step before or after the UDF that the replay cannot stand in for.
NOT_COMPARED = {
    "daily_peak": "two UDFs chained (mad, then daily_peak)",
    "irregular_unstable": "two UDFs chained (mad, then irregular_unstable)",
    "loss": "an eval() before the UDF",
    "continuous_prediction": "a batch query whose result Kapacitor groups by the query's own period",
    "iqr_batch": "a batch query whose result Kapacitor groups by the query's own period",
}
# Vars set for a script so that POINTS points are enough for it to say something.
SCRIPT_VARS = {
    "isolation_forest": {"trainSize": {"type": "int", "value": 200}, "refitEvery": {"type": "int", "value": 200},
                         "nEstimators": {"type": "int", "value": 25}},
}


def output_measurement(script: str, vars_doc: dict[str, Any]) -> str:
    """The measurement the script's influxDBOut() writes (a literal or a var)."""
    found = re.search(r"\|influxDBOut\(\)[^|@]*?\.measurement\(([^)]*)\)", script)
    assert found, "the script has no influxDBOut().measurement()"
    arg = found.group(1).strip()
    if arg.startswith("'"):
        return arg.strip("'")
    if arg in vars_doc:
        return str(vars_doc[arg]["value"])
    declared = re.search(rf"^var {arg} = '([^']*)'", script, re.M)
    assert declared, f"cannot resolve {arg}"
    return declared.group(1)


def _without_eval(script: str) -> str:
    # Only to read the source and the UDF call: the eval step itself is not replayed.
    return re.sub(r"\|eval\([^\n]*\)(\s*\.\w+\([^\n]*\))*", "", script)


@pytest.mark.parametrize(("script", "vars_path"), _cases())
def test_shipped_script_runs_in_kapacitor_and_agrees_with_replay(
    kapacitor_stack: Any, influxdb_server: Any, influxdb_database: str, script: Path,
    vars_path: Path | None,
) -> None:
    kapacitor: KapacitorServer = kapacitor_stack.kapacitor
    db = influxdb_database
    text = retarget_dbrp(script.read_text(), db, "autogen")
    batch = "\nbatch" in text
    vars_doc = _vars(db, vars_path, batch=batch)
    vars_doc.update(SCRIPT_VARS.get(script.stem, {}))
    if re.search(r"^var emit = ", text, re.M):
        vars_doc["emit"] = {"type": "string", "value": "all"}  # every point compared, not only anomalies
    plan = plan_task(_without_eval(text), vars_doc)
    records = make_input(plan.measurement or "cpu", _fields_of(plan.options), plan.group_by, _start_ns())
    compared = script.stem not in NOT_COMPARED
    want = expected_output(plan, records, db) if compared else None
    task_id = f"{script.stem}-{uuid.uuid4().hex[:6]}"
    if vars_path is not None:
        kapacitor.define_template(f"t-{task_id}", text)
        kapacitor.define(task_id, "", template_id=f"t-{task_id}", dbrps=[], vars=vars_doc)
    else:
        kapacitor.define(task_id, text, dbrps=[], vars=vars_doc)
    measurement = output_measurement(text, vars_doc)
    try:
        if batch:
            influxdb_server.client().write_points(
                [line(r) for r in records], database=db, protocol="line", time_precision="n")
        else:
            for start in range(0, len(records), 200):
                kapacitor.write(db, "autogen", [line(r) for r in records[start:start + 200]])
        if batch:  # a batch task queries again every few seconds: its first answers are enough
            wait_for_output(kapacitor, task_id, plan.udf, fed=1, written=1, stable=0.0)
        else:
            wait_for_output(kapacitor, task_id, plan.udf, fed=len(records),
                            written=len(want) if want is not None else None)
        got = comparable(read_output(influxdb_server, db, measurement))
        assert got, "the task wrote nothing"
        if want is not None:
            assert_same_points(got, want)
    finally:
        kapacitor.delete(task_id)


@pytest.mark.parametrize(("script", "vars_path"), [
    pytest.param(ROOT / "tickscripts" / "mad.tick", None, id="mad"),
    pytest.param(ROOT / "tickscripts" / "sigma.tick", VARS["sigma"], id="sigma+vars"),
])
def test_udfs_backtest_on_influxdb_history_gives_what_the_kapacitor_task_wrote(
    kapacitor_stack: Any, influxdb_server: Any, influxdb_database: str, script: Path, vars_path: Path | None,
    tmp_path: Path,
) -> None:
    """``udfs backtest`` reads the series from InfluxDB the way the script would and replays
    it through the UDF with the script's options: the same points as the real task."""
    from click.testing import CliRunner

    from udfs.cli import main
    from udfs.io.lineprotocol import parse_lines

    kapacitor: KapacitorServer = kapacitor_stack.kapacitor
    db = influxdb_database
    text = retarget_dbrp(script.read_text(), db, "autogen")
    vars_doc = _vars(db, vars_path, batch=False)
    vars_doc["emit"] = {"type": "string", "value": "all"}
    plan = plan_task(text, vars_doc)
    start = _start_ns()
    records = make_input(plan.measurement or "cpu", _fields_of(plan.options), plan.group_by, start)
    influxdb_server.client().write_points([line(r) for r in records], database=db, protocol="line",
                                          time_precision="n")
    task_id = f"bt-{uuid.uuid4().hex[:6]}"
    kapacitor.define(task_id, text, dbrps=[], vars=vars_doc)
    try:
        for first in range(0, len(records), 200):
            kapacitor.write(db, "autogen", [line(r) for r in records[first:first + 200]])
        wait_for_output(kapacitor, task_id, plan.udf, fed=len(records), written=len(records))
        got = comparable(read_output(influxdb_server, db))
    finally:
        kapacitor.delete(task_id)
    script_file, vars_file, out = tmp_path / script.name, tmp_path / "vars.json", tmp_path / "out.lp"
    script_file.write_text(text)
    vars_file.write_text(json.dumps(vars_doc))
    from datetime import datetime, timezone

    def rfc(ns: int) -> str:
        return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    done = CliRunner().invoke(main, [
        "backtest", str(script_file), "--vars", str(vars_file), "--influx-url", influxdb_server.url,
        "--start", rfc(start), "--stop", rfc(records[-1].time), "-O", str(out),
    ])
    assert done.exit_code == 0, done.output
    backtested = [{"time": r.time, **r.tags, **r.fields} for r in parse_lines(out.read_text().splitlines())]
    assert_same_points(got, backtested)
