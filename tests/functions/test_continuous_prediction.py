"""@continuous_prediction() through the replay driver, batch edge, as Kapacitor would drive it."""

from __future__ import annotations

import threading
import time
from importlib import resources
from typing import Any

import numpy as np
import pytest

from udfs.detectors import forecast as forecast_module
from udfs.functions.continuous_prediction import ContinuousPrediction
from udfs.io.csvinput import read_records
from udfs.io.records import Record
from udfs.protocol import udf_pb2 as pb
from udfs.replay.session import ReplayConfig, replay_records

from .harness import Harness

DAY_NS = 86_400 * 10**9
STEP_NS = 300 * 10**9
T0 = 1_700_000_000 * 10**9


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


def _batch(harness: Harness[ContinuousPrediction], values: list[float], start: int) -> list[pb.Point]:
    """One batch of ``values`` from point ``start`` on (10 s apart), through the UDF; the points sent back."""
    begin = pb.BeginBatch(name="m", group="host=a", tags={"host": "a"}, size=len(values))
    harness.udf.begin_batch(begin)
    for i, v in enumerate(values, start=start):
        p = pb.Point(time=T0 + i * 10 * 10**9, name="m", group="host=a", tags={"host": "a"})
        p.fieldsDouble["value"] = v
        harness.udf.point(p)
    harness.udf.end_batch(pb.EndBatch(name="m", group="host=a", tmax=T0 + (start + len(values) - 1) * 10 * 10**9,
                                      tags={"host": "a"}))
    return [r.point for r in harness.responses() if r.HasField("point")]


def test_arima_fits_in_the_background_while_the_fallback_predicts(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real_fit = forecast_module.fit_arima
    fitted_on = []

    def slow_fit(*args: Any, **kwargs: Any) -> Any:  # a fit that takes as long as the test wants
        fitted_on.append(threading.current_thread().name)
        release.wait(30)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(forecast_module, "fit_arima", slow_fit)
    harness = Harness(ContinuousPrediction(), field="value", model="arima", max_p=1, max_d=0, max_q=1,
                      history=100, refit_every=0, horizon=3)
    assert harness.response.success, harness.response.error
    rng = np.random.default_rng(5)
    values = (20 + np.sin(np.arange(400) / 5) + rng.normal(0, 0.2, 400)).tolist()
    started = time.monotonic()
    first = _batch(harness, values[:150], 0)  # the fit is due after this batch, and blocked
    second = _batch(harness, values[150:200], 150)
    assert time.monotonic() - started < 20  # neither batch waited for the fit
    for out in (first, second):
        assert len(out) == 3 and {p.tags["model"] for p in out} == {"holt_winters"}  # the fallback
    release.set()
    harness.udf.settle(30)
    assert fitted_on and fitted_on[0] != threading.current_thread().name  # the fit ran elsewhere
    third = _batch(harness, values[200:250], 200)
    assert len(third) == 3 and {p.tags["model"] for p in third} == {"arima"}
    assert harness.udf.groups["host=a"].detector.order is not None

    # The snapshot keeps the fitted model: a restored task predicts as this one does.
    snapshot = harness.udf.snapshot().snapshot
    restored = Harness(ContinuousPrediction(), field="value", model="arima", max_p=1, max_d=0, max_q=1,
                       history=100, refit_every=0, horizon=3)
    restored.udf.restore(pb.RestoreRequest(snapshot=snapshot))
    assert restored.udf.groups["host=a"].detector.order == harness.udf.groups["host=a"].detector.order
    again, fresh = _batch(harness, values[250:300], 250), _batch(restored, values[250:300], 250)
    assert [(p.time, p.tags["model"], p.fieldsDouble["predicted"]) for p in again] == [
        (p.time, p.tags["model"], p.fieldsDouble["predicted"]) for p in fresh]


def test_a_snapshot_waits_for_the_fit_in_flight() -> None:
    harness = Harness(ContinuousPrediction(), field="value", model="arima", max_p=1, max_d=0, max_q=0,
                      history=100, refit_every=0, horizon=2)
    values = (10 + np.random.default_rng(2).normal(0, 1, 150)).tolist()
    out = _batch(harness, values, 0)
    assert {p.tags["model"] for p in out} == {"holt_winters"}
    snapshot = harness.udf.snapshot().snapshot  # waits for the fit, installs it, saves it
    assert harness.udf.groups["host=a"].detector.speaking_model == "arima"
    restored = Harness(ContinuousPrediction(), field="value", model="arima", max_p=1, max_d=0, max_q=0,
                       history=100, refit_every=0, horizon=2)
    restored.udf.restore(pb.RestoreRequest(snapshot=snapshot))
    assert restored.udf.groups["host=a"].detector.speaking_model == "arima"
