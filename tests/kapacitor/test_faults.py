"""What a real Kapacitor does to our UDFs when things go wrong, and that we survive it.

- Disabling a task while its UDF works through a backlog returns at once in both modes,
  20 times in a row, and kapacitord keeps running (it used to hang in process mode with
  the UDF blocked writing to stdout, and panic in socket mode).
- A kapacitord restart restores every task's UDF state from its last snapshot: the
  output after the restart is what one uninterrupted run gives.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
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

from udfs.io.records import Record
from udfs.replay.session import ReplayConfig, replay_records
from udfs.tickscript.client import retarget_dbrp

pytestmark = [pytest.mark.kapacitor, pytest.mark.influxdb, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000_000_000


def _series(n: int, step: int, start: int = 0, measurement: str = "cpu") -> list[Record]:
    out = []
    for i in range(start, start + n):
        x = 50.0 + (i * 7919 % 101) / 25.0 + (30.0 if i % 211 == 150 else 0.0)
        out.append(Record(T0 + i * step, measurement, {"host": "h1"}, {"usage_idle": x}))
    return out


def _vars(db: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"db": {"type": "string", "value": db}, "outDB": {"type": "string", "value": db}}
    for name, value in extra.items():
        kind = "int" if isinstance(value, int) else "string"
        doc[name] = {"type": kind, "value": value}
    return doc


@pytest.mark.parametrize("mode", ["process", "socket"])
def test_disabling_a_busy_task_returns_at_once_20_times(mode: str, kapacitor_bin: Path, influxdb_server: Any,
                                                        influxdb_database: str, tmp_path: Path) -> None:
    stack = start_stack(mode, kapacitor_bin, tmp_path, influxdb_server.url, names=["sigma"])
    kapacitor = stack.kapacitor
    db = influxdb_database
    try:
        script = retarget_dbrp((ROOT / "tickscripts" / "sigma.tick").read_text(), db, "autogen")
        kapacitor.define("busy", script, dbrps=[], vars=_vars(db), enabled=False)
        slowest, busy_rounds, size = 0.0, 0, 10_000
        for round_ in range(20):
            kapacitor.set_status("busy", "enabled")
            # 10 s data: sigma's ADF test runs on most points, a backlog of a few seconds.
            burst = _series(size, 10 * 10**9, start=round_ * size)
            kapacitor.write(db, "autogen", [line(r) for r in burst])
            stats = kapacitor.task("busy")["stats"]["node-stats"]
            busy_rounds += stats["sigma2"]["emitted"] < size  # the UDF still has work queued
            started = time.monotonic()
            kapacitor.set_status("busy", "disabled", timeout=30)
            slowest = max(slowest, time.monotonic() - started)
            assert kapacitor.alive(), f"kapacitord died in round {round_}:\n{stack.log()[-3000:]}"
            assert kapacitor.ping()
        assert slowest < 2.0, f"the slowest disable took {slowest:.2f} s"
        assert busy_rounds >= 15, f"only {busy_rounds} of 20 disables hit a busy UDF: the test is not testing"
        assert "panic" not in kapacitor.log()
        if stack.serve is not None:
            assert stack.serve.process is not None and stack.serve.process.poll() is None, stack.serve.log()
    finally:
        stop_stack(stack)


def test_kapacitord_restart_restores_udf_state(kapacitor_bin: Path, influxdb_server: Any, influxdb_database: str,
                                              tmp_path: Path) -> None:
    stack = start_stack("process", kapacitor_bin, tmp_path, influxdb_server.url, names=["mad"],
                        snapshot_interval="1s")
    kapacitor: KapacitorServer = stack.kapacitor
    db = influxdb_database
    step = 300 * 10**9
    first, second = _series(400, step), _series(300, step, start=400)
    options = {"window": 100, "emit": "all"}
    try:
        script = retarget_dbrp((ROOT / "tickscripts" / "mad.tick").read_text(), db, "autogen")
        kapacitor.define("restore", script, dbrps=[], vars=_vars(db, **options))
        kapacitor.write(db, "autogen", [line(r) for r in first])
        wait_for_output(kapacitor, "restore", "mad", len(first))
        time.sleep(3)  # at least one snapshot after the last point (snapshot-interval 1s)
        kapacitor.restart()
        kapacitor.write(db, "autogen", [line(r) for r in second])
        deadline = time.monotonic() + 60
        while len(read_output(influxdb_server, db)) < len(first) + len(second) and time.monotonic() < deadline:
            time.sleep(0.3)
        got = comparable(read_output(influxdb_server, db))
    finally:
        stop_stack(stack)
    found: list[Record] = []
    config = ReplayConfig(name="mad", options=["field=usage_idle", *(f"{k}={v}" for k, v in options.items())],
                          group_by=["host"], database=db, log_level="warning")
    replay_records(config, first + second, found.append)
    want = [{"time": r.time, **r.tags, **r.fields} for r in found]
    assert_same_points(got, want)  # a fresh start after the restart would differ for 100 points
