"""``udfs backtest``: a shipped TICKscript over data in a real InfluxDB, against the replay driver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from udfs.analysis.backtest import BacktestError, backtest, plan_task
from udfs.analysis.source import read_file
from udfs.io.lineprotocol import parse_lines
from udfs.io.records import Record
from udfs.replay.session import ReplayConfig, replay_records

ROOT = Path(__file__).resolve().parents[2]


def test_plan_reads_udf_options_and_source_with_vars(tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"window": {"type": "int", "value": 50}, "measurement": {"type": "string",
                                                                                             "value": "mem"}}))
    from udfs.tickscript.vars import load_vars

    plan = plan_task((ROOT / "tickscripts" / "mad.tick").read_text(), load_vars(vars_file))
    assert plan.udf == "mad" and plan.measurement == "mem" and "window=50" in plan.options
    assert plan.group_by == ["host"] and plan.edge == "stream"
    with pytest.raises(BacktestError, match="no UDF"):
        plan_task("stream|from().measurement('cpu')|log()")


@pytest.mark.influxdb
def test_backtest_emits_what_the_replay_driver_emits(influxdb_server, tmp_path: Path) -> None:
    from udfs.io.influx import InfluxTarget

    raw = read_file(ROOT / "udfs" / "data" / "machine_temperature.csv")[:1500]
    records = [Record(r.time, "cpu", {"host": "h1" if i % 2 else "h2"}, {"usage_idle": r.fields["value"]})
               for i, r in enumerate(raw)]
    InfluxTarget.from_url(influxdb_server.url, database="telegraf").write_records(records, progress=False)
    out = tmp_path / "out.lp"
    run = CliRunner().invoke(backtest, [str(ROOT / "tickscripts" / "mad.tick"), "--influx-url", influxdb_server.url,
                                        "--start", "2013-01-01T00:00:00Z", "--stop", "2015-01-01T00:00:00Z",
                                        "-O", str(out), "--plot", str(tmp_path / "b.png")])
    assert run.exit_code == 0, run.output
    emitted = list(parse_lines(out.read_text().splitlines()))
    expected: list[Record] = []
    plan = plan_task((ROOT / "tickscripts" / "mad.tick").read_text())
    replay_records(ReplayConfig(name="mad", options=plan.options, group_by=("host",), log_level="warning"),
                   sorted(records, key=lambda r: r.time), expected.append)
    assert len(emitted) == len(expected) == len(records)
    assert [(r.time, r.tags, r.fields) for r in emitted] == [(r.time, r.tags, r.fields) for r in expected]
    assert (tmp_path / "b.png").stat().st_size > 10_000
