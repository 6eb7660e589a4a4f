"""irregular_unstable as a second stage: against a naive reference, and fewer false positives on a NAB series."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from udfs.detectors import REGISTRY
from udfs.evaluation.nab_data import load_corpus
from udfs.io.records import Record
from udfs.replay.session import ReplayConfig, replay_records

NAB = Path(__file__).resolve().parents[2] / "data" / "nab"
# 5-minute latency of an EC2 instance: irregular, low variance, three labelled windows.
KEY = "realKnownCause/ec2_request_latency_system_failure.csv"


def naive_verdict(points: list[tuple[int, float, bool]], t: int, value: float, params: dict) -> bool | None:
    """Keep every point; judge a candidate from scratch. None: not a candidate."""
    recent = points[-params["window"]:]
    if not recent:
        return True
    values = [v for _, v, _ in recent]
    low_variance = statistics.pstdev(values) <= params["max_cv"] * abs(statistics.fmean(values))
    irregular = sum(f for _, _, f in recent) + 1 >= params["min_flag_rate"] * (len(recent) + 1)
    if len(values) < 2 or not (low_variance or irregular):
        return True
    resolution = params["resolution"]
    open_start = t - t % resolution
    buckets: dict[int, list[float]] = {}
    for s, v, _ in points:
        start = s - s % resolution
        if t - params["history"] <= start < open_start:
            buckets.setdefault(start, []).append(v)
    if not buckets:
        return True
    median = statistics.median((min(b) + max(b)) / 2 for b in buckets.values())
    reached = sum((max(b) >= value) if value >= median else (min(b) <= value) for b in buckets.values())
    span = open_start - min(buckets)
    return not (span >= params["min_history"] and reached >= params["min_buckets"])


@pytest.mark.parametrize("config", [
    {"history": 3_600 * 10**9 * 6, "resolution": 600 * 10**9, "window": 40, "min_history": 3_600 * 10**9},
    {"history": 3_600 * 10**9 * 3, "resolution": 300 * 10**9, "window": 20, "max_cv": 0.0, "min_flag_rate": 0.05,
     "min_buckets": 2, "min_history": 0},
])
def test_verdicts_equal_a_naive_reference_that_keeps_every_point(config: dict) -> None:
    rng = np.random.default_rng(8)
    detector = REGISTRY["irregular_unstable"](**config)
    params = detector.params()
    points: list[tuple[int, float, bool]] = []
    checked = 0
    for i in range(1500):
        t = i * 60 * 10**9 + int(rng.integers(0, 30)) * 10**9
        value = float(10 + rng.normal(0, 0.5) + (4 if rng.random() < 0.03 else 0))
        flag = bool(rng.random() < 0.08)
        verdict = detector.update(t, [value, 1.0 if flag else 0.0])
        if flag:
            assert verdict.is_anomaly == naive_verdict(points, t, value, params), i
            checked += 1
        else:
            assert math.isnan(verdict.score) and not verdict.is_anomaly
        points.append((t, value, flag))
    assert checked > 50


def test_cuts_false_positives_on_an_irregular_nab_series_without_losing_its_anomalies() -> None:
    nab_file = load_corpus(NAB)[KEY]
    first, second = REGISTRY["mad"](), REGISTRY["irregular_unstable"]()
    before: list[int] = []
    after: list[int] = []
    reanalysed = 0
    for i, (t, v) in enumerate(zip(nab_file.timestamps.tolist(), nab_file.values.tolist(), strict=True)):
        flag = first.update(t, v).is_anomaly
        if flag:
            before.append(i)
        verdict = second.update(t, [v, 1.0 if flag else 0.0])
        reanalysed += bool(verdict.details["reanalysed"])
        if verdict.is_anomaly:
            after.append(i)

    def outside(rows: list[int]) -> int:
        return sum(not any(a <= r <= b for a, b in nab_file.windows) for r in rows)

    def windows_hit(rows: list[int]) -> int:
        return sum(any(a <= r <= b for r in rows) for a, b in nab_file.windows)

    assert reanalysed > 0
    assert outside(after) * 3 <= outside(before), (outside(before), outside(after))
    assert windows_hit(after) == windows_hit(before) == len(nab_file.windows)
    assert set(after) <= set(before)  # a filter only clears


def test_chained_after_a_detector_udf_like_a_tickscript() -> None:
    nab_file = load_corpus(NAB)[KEY]
    records = [Record(int(t), "ec2", {}, {"value": float(v)})
               for t, v in zip(nab_file.timestamps, nab_file.values, strict=True)]
    stage1: list[Record] = []
    replay_records(ReplayConfig(name="mad", options=["emit=all", "calibration=none"], log_level="warning",
                                timeout=30), records, stage1.append)
    stage2: list[Record] = []
    replay_records(ReplayConfig(name="irregular_unstable", options=["emit=all"], log_level="warning", timeout=30),
                   stage1, stage2.append)
    assert len(stage2) == len(stage1) == len(records)
    flags1 = np.array([bool(r.fields["is_anomaly"]) for r in stage1])
    flags2 = np.array([bool(r.fields["is_anomaly"]) for r in stage2])
    cleared = [r for r in stage2 if r.fields.get("cleared_by") == "irregular_unstable"]
    assert cleared and len(cleared) == int((flags1 & ~flags2).sum())
    assert all("irregular_unstable_score" in r.fields for r in stage2 if r.fields.get("cleared_by"))
    assert not (flags2 & ~flags1).any()
    assert all(r.tags["detector"] == "mad" for r in stage2)
