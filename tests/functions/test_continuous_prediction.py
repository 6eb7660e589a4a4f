"""@continuous_prediction() through the replay driver, batch edge, as Kapacitor would drive it."""

from __future__ import annotations

from importlib import resources

from udfs.io.csvinput import read_records
from udfs.io.records import Record
from udfs.replay.session import ReplayConfig, replay_records

DAY_NS = 86_400 * 10**9
STEP_NS = 300 * 10**9


def temperature() -> list[Record]:
    path = resources.files("udfs.data").joinpath("machine_temperature.csv")
    with resources.as_file(path) as local:
        return list(read_records(local, measurement="machine_temperature"))[:4000]


def run(records: list[Record], options: list[str]) -> list[Record]:
    out: list[Record] = []
    config = ReplayConfig(name="continuous_prediction", options=options, batch_period_ns=DAY_NS,
                          log_level="warning", timeout=30)
    replay_records(config, records, out.append)
    return out


def test_each_batch_gets_horizon_predictions_after_its_last_point() -> None:
    records = temperature()
    out = run(records, ["field=value", "history=300", "horizon=4"])
    assert out and len(out) % 4 == 0
    actual = {r.time: float(r.fields["value"]) for r in records}
    known = sorted(actual)
    inside = 0
    for r in out:
        assert r.tags["model"] == "holt_winters" and r.tags["field"] == "value"
        assert r.fields["lower"] <= r.fields["predicted"] <= r.fields["upper"]
        assert r.time % STEP_NS == known[0] % STEP_NS  # on the series' own 5-minute grid
        if r.time in actual:
            inside += r.fields["lower"] <= actual[r.time] <= r.fields["upper"]
    matched = sum(r.time in actual for r in out)
    assert matched >= len(out) // 2
    assert inside >= 0.8 * matched  # the interval holds what came next, mostly


def test_an_explicit_interval_spaces_the_predictions() -> None:
    out = run(temperature(), ["field=value", "history=300", "horizon=3", "interval=1m"])
    times = [r.time for r in out[:3]]
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [60 * 10**9] * 2
