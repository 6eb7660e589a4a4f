"""@iqr_batch(): Tukey fences per batch, through the real protocol, against the detector's batch scoring."""

from __future__ import annotations

import random

from udfs.detectors.iqr import InterquartileRange
from udfs.io.records import Record
from udfs.replay.session import ReplayConfig, replay_records

HOUR = 3_600_000_000_000


def test_each_batch_is_scored_on_its_own_fences() -> None:
    rng = random.Random(4)
    records = []
    for hour in range(3):
        for host in ("a", "b"):
            for i in range(30):
                value = rng.gauss(10 * (hour + 1), 1.0)
                if (hour, host, i) in {(1, "a", 7), (2, "b", 20)}:
                    value += 25.0
                records.append(Record(hour * HOUR + i * 60_000_000_000 + (host == "b"), "cpu", {"host": host},
                                      {"usage": value}))
    records.sort(key=lambda r: r.time)
    out: list[Record] = []
    config = ReplayConfig(name="iqr_batch", options=("field=usage", "k=3.0", "emit=all"), group_by=("host",),
                          batch_period_ns=HOUR, log_level="warning")
    result, collector = replay_records(config, records, out.append)
    assert collector.batches == 6 and len(out) == len(records)
    for hour in range(3):
        for host in ("a", "b"):
            batch = [r for r in records if r.time // HOUR == hour and r.tags["host"] == host]
            expected = InterquartileRange.score_batch([r.fields["usage"] for r in batch], k=3.0)
            got = [r for r in out if r.time // HOUR == hour and r.tags["host"] == host]
            assert [r.time for r in got] == [r.time for r in batch]
            for record, verdict in zip(got, expected, strict=True):
                assert record.fields["is_anomaly"] == verdict.is_anomaly
                assert record.fields["anomaly_score"] == verdict.score
                assert record.tags["source"] == "cpu" and record.tags["detector"] == "iqr_batch"
    # The planted +25 spikes are caught in their own batch (each batch also has its own
    # level: hour h sits around 10(h+1), which stream fences over all hours would blur).
    planted = {
        (r.time // HOUR, r.tags["host"])
        for r in out
        if r.fields["is_anomaly"] and r.fields["usage"] > 30 + 10 * (r.time // HOUR)
    }
    assert planted == {(1, "a"), (2, "b")}


def test_only_anomalies_and_a_bad_point_is_skipped() -> None:
    records = [Record(i, "cpu", {}, {"usage": float(i % 3)}) for i in range(20)]
    records.append(Record(20, "cpu", {}, {"usage": 50.0}))
    records.append(Record(21, "cpu", {}, {"other": 1.0}))  # no usage field: logged and skipped
    out: list[Record] = []
    config = ReplayConfig(name="iqr_batch", options=("field=usage", "emit=anomalies"), batch_period_ns=HOUR,
                          log_level="error")
    _, collector = replay_records(config, records, out.append)
    assert collector.batches == 1
    assert [r.time for r in out] == [20]
