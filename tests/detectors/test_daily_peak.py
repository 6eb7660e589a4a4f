"""daily_peak as a second stage: fewer false positives on a daily-periodic NAB series, the labelled anomaly kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from udfs.detectors import REGISTRY
from udfs.evaluation.nab_data import load_corpus
from udfs.io.records import Record
from udfs.replay.session import ReplayConfig, replay_records

NAB = Path(__file__).resolve().parents[2] / "data" / "nab"
KEY = "artificialWithAnomaly/art_daily_jumpsup.csv"  # 5-minute data, one peak a day, one labelled jump


def test_clears_daily_peaks_without_losing_the_labelled_anomaly() -> None:
    nab_file = load_corpus(NAB)[KEY]
    first, second = REGISTRY["mad"](), REGISTRY["daily_peak"]()
    before: list[int] = []
    after: list[int] = []
    for i, (t, v) in enumerate(zip(nab_file.timestamps.tolist(), nab_file.values.tolist(), strict=True)):
        flag = first.update(t, v).is_anomaly
        if flag:
            before.append(i)
        if second.update(t, [v, 1.0 if flag else 0.0]).is_anomaly:
            after.append(i)

    def outside(rows: list[int]) -> int:
        return sum(not any(a <= r <= b for a, b in nab_file.windows) for r in rows)

    def windows_hit(rows: list[int]) -> int:
        return sum(any(a <= r <= b for r in rows) for a, b in nab_file.windows)

    assert outside(after) * 3 <= outside(before), (outside(before), outside(after))
    assert windows_hit(after) == windows_hit(before) == len(nab_file.windows)
    assert set(after) <= set(before)  # a filter only clears


def test_chained_after_a_detector_udf_like_a_tickscript() -> None:
    nab_file = load_corpus(NAB)[KEY]
    records = [Record(int(t), "art", {}, {"value": float(v)})
               for t, v in zip(nab_file.timestamps, nab_file.values, strict=True)]
    stage1: list[Record] = []
    # calibration=none: the raw threshold verdicts, the many candidates the filter is for
    replay_records(ReplayConfig(name="mad", options=["emit=all", "calibration=none"], log_level="warning",
                                timeout=30), records,
                   stage1.append)
    stage2: list[Record] = []
    replay_records(ReplayConfig(name="daily_peak", options=["emit=all"], log_level="warning", timeout=30),
                   stage1, stage2.append)
    assert len(stage2) == len(stage1) == len(records)
    flags1 = np.array([bool(r.fields["is_anomaly"]) for r in stage1])
    flags2 = np.array([bool(r.fields["is_anomaly"]) for r in stage2])
    cleared = [r for r in stage2 if r.fields.get("cleared_by") == "daily_peak"]
    assert cleared and len(cleared) == int((flags1 & ~flags2).sum())
    assert not (flags2 & ~flags1).any()
    assert all(r.tags["detector"] == "mad" for r in stage2)  # the first stage's schema passes through
