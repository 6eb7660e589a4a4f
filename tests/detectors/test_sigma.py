"""SigmaEnsemble against the naive reference at every step, and its options.

The fast detector and ``naive_sigma`` see the same stream; at every point each
algorithm's vote and the verdict must agree. A vote may differ only where the
reference's comparison sits within ``RTOL`` (relative) of its threshold: the fast path
takes means, variances and least-squares residuals from exact integer sums (rounded
once) and the EWMA from cached weights, the reference from numpy's pairwise sums,
two-pass variances and ``lstsq``, so the same statistic can differ in its last bits
(~1e-15 of the data's scale). The median, the MAD, the histogram counts and the
inputs to ks_test are bit-identical and so are their votes. In the streams below no
vote actually differs; the tolerance is there so that a future stream landing a
statistic on its threshold does not fail for a reason that is not a bug.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import naive_sigma
import numpy as np
import pytest
from naive_sigma import NaiveSigma

from udfs.detectors import REGISTRY, Verdict
from udfs.detectors._skyline import ALGORITHMS, tail_length
from udfs.detectors._sorted_window import deviation_order_stats
from udfs.detectors.sigma import SigmaEnsemble
from udfs.params.constraints import InvalidParameterError

NAB = Path(__file__).resolve().parents[2] / "data/nab/data/realKnownCause"
T0 = 1_700_000_000 * 10**9
SECOND = 10**9
HOUR = 3600 * SECOND
DAY = 24 * HOUR
RTOL = 1e-9

Stream = list[tuple[int, float]]


def synthetic(seed: int, n: int, step_s: float, *, integers: bool = False, offset: float = 0.0) -> Stream:
    """Noise on a slow wave with drift, spikes, a level shift, a constant stretch,
    NaN/inf, repeated times and late points."""
    rng = np.random.default_rng(seed)
    gaps = rng.integers(int(0.7 * step_s * SECOND), int(1.3 * step_s * SECOND), n)
    gaps[rng.random(n) < 0.01] = 0  # two points at the same time
    times = (T0 + np.cumsum(gaps)).tolist()
    i = np.arange(n)
    x = offset + 50 + np.sin(2 * np.pi * i / n) + rng.normal(0, 1, n) + np.cumsum(rng.normal(0, 0.01, n))
    spikes = rng.random(n) < 0.01
    x[spikes] += rng.choice([-1, 1], spikes.sum()) * rng.uniform(6, 20, spikes.sum())
    x[int(0.55 * n) :] += 12
    start = int(0.3 * n)
    x[start : start + 120] = x[start]
    if integers:  # ties everywhere: medians, MADs and histogram edges land on values
        x = np.round(x)
    x[rng.random(n) < 0.004] = np.nan
    x[rng.random(n) < 0.002] = np.inf
    stream = list(zip(times, x.tolist(), strict=True))
    for k in rng.choice(np.arange(10, n), 5, replace=False):  # late: before the newest time
        stream[k] = (stream[k - 1][0] - 5 * SECOND, stream[k][1])
    return stream


def nab(name: str) -> Stream:
    with (NAB / f"{name}.csv").open() as f:
        rows = list(csv.DictReader(f))
    epoch = [datetime.strptime(r["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc) for r in rows]
    return [(int(e.timestamp()) * SECOND, float(r["value"])) for e, r in zip(epoch, rows, strict=True)]


def same_verdict(a: Verdict, b: Verdict) -> bool:
    scores = (a.score == b.score) or (math.isnan(a.score) and math.isnan(b.score))
    return scores and a.is_anomaly == b.is_anomaly and dict(a.details) == dict(b.details)


def drive(stream: Stream, **params: Any) -> dict[str, Any]:
    """Run fast and naive side by side; assert agreement; return vote tallies."""
    fast, naive = SigmaEnsemble(**params), NaiveSigma(**params)
    tally = {name: {True: 0, False: 0, None: 0} for name in fast.algorithms}
    flips, anomalies, judged = [], 0, 0
    for t, x in stream:
        votes = fast.votes_one(t, x)
        verdict = fast.update(t, x)
        expected, reference = naive.step(t, x)
        if not reference:  # not judged: short, boring, invalid or late
            assert same_verdict(verdict, expected), (t, x, verdict, expected)
            assert set(votes.values()) == {None}
            continue
        judged += 1
        assert votes.keys() == reference.keys()
        step_flips = [name for name in votes if votes[name] != reference[name].vote]
        for name in step_flips:
            assert reference[name].margin <= RTOL, (t, name, votes[name], reference[name])
        flips += step_flips
        voted = [name for name in fast.algorithms if votes[name]]
        assert dict(verdict.details) == {"votes": len(voted), "voted": ",".join(voted), "skipped": ""}
        assert verdict.is_anomaly == (len(voted) >= fast.consensus)
        if not step_flips:
            assert same_verdict(verdict, expected), (t, x, verdict, expected)
        anomalies += verdict.is_anomaly
        for name, vote in votes.items():
            tally[name][vote] += 1
    return {"tally": tally, "flips": flips, "anomalies": anomalies, "judged": judged}


SYNTHETIC = {
    # 10 s points, 2 h window (~720 points): ks_test has its 20 + 20 values.
    "ks-window": (dict(full_duration=2 * HOUR), (1, 2400, 10.0, False, 0.0)),
    # 1 min points, one day (~1440 points) and more, so the first hour slides.
    "day": (dict(), (2, 2600, 60.0, False, 0.0)),
    # The point cap, not the duration, bounds the window.
    "capped": (dict(max_points=250, min_points=50), (3, 1500, 10.0, False, 0.0)),
    "options": (
        dict(sigma=2.0, consensus=4, boredom=50, min_points=30, full_duration=HOUR,
             algorithms=("histogram_bins", "grubbs", "ks_test", "median_absolute_deviation",
                         "stddev_from_moving_average", "least_squares")),
        (4, 1500, 10.0, False, 0.0),
    ),  # fmt: skip
    "fractional-sigma": (dict(sigma=2.5, consensus=7, full_duration=3 * HOUR), (5, 1500, 20.0, False, 0.0)),
    "wide-sigma": (dict(sigma=4.5, consensus=3, full_duration=2 * HOUR), (6, 1500, 10.0, False, 0.0)),
    "integer-values": (dict(full_duration=2 * HOUR), (7, 2000, 10.0, True, 0.0)),
    # A mean 10^7 times the noise: running float sums would cancel away most digits here.
    "large-offset": (dict(sigma=2.0, consensus=4, full_duration=2 * HOUR), (12, 1500, 10.0, False, 1e7)),
}


@pytest.mark.parametrize("case", list(SYNTHETIC))
def test_matches_reference_on_synthetic_streams(case: str) -> None:
    params, (seed, n, step_s, integers, offset) = SYNTHETIC[case]
    result = drive(synthetic(seed, n, step_s, integers=integers, offset=offset), **params)
    assert result["flips"] == []
    assert result["judged"] > n // 2 and result["anomalies"] > 0
    if case == "ks-window":  # exercises every vote, both ways (ks_test needs 10 s points)
        for name, counts in result["tally"].items():
            assert counts[True] > 0 and counts[False] > 0, (name, counts)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("series", "params", "length"),
    [
        # 30 min points: 3 days are 144. sigma 2 gets more of the algorithms to vote True.
        ("nyc_taxi", dict(full_duration=3 * DAY, sigma=2.0, consensus=4), None),
        ("machine_temperature_system_failure", dict(full_duration=DAY), None),  # 5 min: a day is 288
        ("machine_temperature_system_failure", dict(sigma=2.0, consensus=5, max_points=200), 5000),
    ],
    ids=["nyc_taxi", "machine_temperature", "machine_temperature-capped"],
)
def test_matches_reference_on_nab_series(series: str, params: dict[str, Any], length: int | None) -> None:
    result = drive(nab(series)[:length], **params)
    assert result["flips"] == []
    assert result["judged"] > 0
    assert sum(counts[True] > 0 for counts in result["tally"].values()) >= 5, result["tally"]


def test_reference_ewm_is_pandas() -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    for n in (2, 3, 50, 500, 3000):
        x = 1e4 + rng.normal(0, 1, n).cumsum()
        series = pd.Series(x).ewm(com=50)
        mean, std = naive_sigma.ewm_mean_std(x)
        assert mean == pytest.approx(series.mean().iloc[-1], rel=1e-12)
        assert std == pytest.approx(series.std().iloc[-1], rel=1e-9)


def test_deviation_order_statistics_match_sorting() -> None:
    rng = np.random.default_rng(0)
    for n in list(range(1, 40)) + [101, 1000]:
        for values in (rng.normal(size=n), rng.integers(0, 4, n).astype(float)):
            ordered = sorted(values.tolist())
            centre = float(np.median(values))
            deviations = np.sort(np.abs(values - centre)).tolist() + [math.inf]
            for k in {0, n // 2, max(n // 2 - 1, 0), n - 1}:
                assert deviation_order_stats(ordered, centre, k) == (deviations[k], deviations[k + 1])


def test_sigma_three_is_the_classic_ensemble() -> None:
    assert tail_length(3.0) == 3 and tail_length(2.5) == 2 and tail_length(0.5) == 1
    # |x[-1] - median| / MAD = 5.5: above 2 * 2.5 = 5, below the classic 6.
    values = [-1.0, 0.0, 1.0] * 40 + [5.5]  # median 0, MAD 1
    times = [T0 + i * 60 * SECOND for i in range(len(values))]
    for sigma, expected in ((3.0, False), (2.5, True)):
        detector = SigmaEnsemble(sigma=sigma, consensus=1, algorithms="median_absolute_deviation")
        for t, x in zip(times[:-1], values[:-1], strict=True):
            detector.update(t, x)
        assert detector.votes_one(times[-1], values[-1]) == {"median_absolute_deviation": expected}


def test_higher_sigma_raises_every_threshold() -> None:
    stream = synthetic(8, 1500, 10.0)
    params = dict(full_duration=2 * HOUR, consensus=1)
    low, high = SigmaEnsemble(sigma=3.0, **params), SigmaEnsemble(sigma=3.9, **params)  # same tail of 3
    fewer = 0
    for t, x in stream:
        a, b = low.votes_one(t, x), high.votes_one(t, x)
        for name in ("histogram_bins", "grubbs", "ks_test"):  # no sigma in them
            assert a[name] == b[name]
        assert all(a[name] or not b[name] for name in a), (t, a, b)  # True at 3.9 => True at 3
        fewer += sum(map(bool, a.values())) > sum(map(bool, b.values()))
        low.update(t, x), high.update(t, x)
    assert fewer > 0


def test_consensus_only_moves_the_line() -> None:
    stream = synthetic(9, 1200, 10.0)
    detectors = {c: SigmaEnsemble(consensus=c, full_duration=2 * HOUR) for c in (1, 6, 9)}
    flagged = {c: 0 for c in detectors}
    for t, x in stream:
        verdicts = {c: d.update(t, x) for c, d in detectors.items()}
        assert len({(v.details["votes"], v.details["voted"]) for v in verdicts.values()}) == 1
        for c, verdict in verdicts.items():
            assert verdict.is_anomaly == (verdict.details["votes"] >= c)
            flagged[c] += verdict.is_anomaly
    assert flagged[1] > flagged[6] > flagged[9] >= 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sigma": 0}, "sigma must be a number > 0 and <= 1000000.0, got 0"),
        ({"consensus": 10}, "consensus must be an integer >= 1 and <= 9, got 10"),
        ({"consensus": 3, "algorithms": "grubbs,ks_test"}, "consensus must be <= the number of algorithms (2), got 3"),
        ({"full_duration": -5 * 10**9}, "full_duration must be a duration > 0s and <= 36500d, got -5s"),
        ({"full_duration": 7200.0}, "full_duration must be a duration > 0s"),  # no float seconds any more
        ({"min_points": 2}, "min_points must be an integer >= 3 and <= 10000000, got 2"),
        ({"min_points": 200, "max_points": 100}, "max_points must be >= min_points (200), got 100"),
        ({"boredom": 1}, "boredom must be an integer >= 2 and <= 10000000, got 1"),
        ({"algorithms": ("grubbs", "bogus")}, "algorithms must be a non-empty comma-separated list of histogram_bins,"),
        ({"algorithms": ""}, "algorithms must be a non-empty comma-separated list"),
        ({"algorithms": 3}, "algorithms must be a non-empty comma-separated list"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError) as raised:
        SigmaEnsemble(**kwargs)
    assert str(raised.value).startswith(message)


def test_algorithms_option() -> None:
    detector = SigmaEnsemble(algorithms=" least_squares, grubbs ,least_squares", consensus=2)
    assert detector.algorithms == ("grubbs", "least_squares")  # Skyline's order, once each
    assert detector.params()["algorithms"] == ("grubbs", "least_squares")
    assert REGISTRY["sigma"] is SigmaEnsemble and SigmaEnsemble().algorithms == ALGORITHMS


def test_snapshot_round_trip_gives_identical_verdicts() -> None:
    stream = synthetic(10, 1600, 10.0)
    params = dict(full_duration=HOUR, max_points=300, sigma=2.0, consensus=4)
    for cut in (0, 50, 700, 1200):
        original = SigmaEnsemble(**params)
        for t, x in stream[:cut]:
            original.update(t, x)
        restored = SigmaEnsemble.from_state(json.loads(json.dumps(original.state_dict())))
        assert restored.state_dict() == original.state_dict()
        for t, x in stream[cut : cut + 300]:
            assert restored.votes_one(t, x) == original.votes_one(t, x)
            assert same_verdict(restored.update(t, x), original.update(t, x))


def test_score_one_is_update_without_learning() -> None:
    stream = synthetic(11, 900, 10.0)
    a, b = SigmaEnsemble(full_duration=HOUR), SigmaEnsemble(full_duration=HOUR)
    for t, x in stream:
        before = json.dumps(a.state_dict())
        scored = a.score_one(t, x)
        a.votes_one(t, x)
        assert json.dumps(a.state_dict()) == before
        a.learn_one(t, x)
        assert same_verdict(scored, b.update(t, x))
        assert a.state_dict() == b.state_dict()


def test_points_not_judged() -> None:
    detector = SigmaEnsemble(min_points=5, boredom=4)
    minute = 60 * SECOND
    assert detector.update(0, 1.0).details["skipped"] == "short"
    for i, x in enumerate([2.0, 1.0, 3.0, 2.0], start=1):
        detector.update(i * minute, x)
    assert detector.update(5 * minute, math.nan).details["skipped"] == "invalid"
    assert detector.update(3 * minute, 9.0).details["skipped"] == "late"
    assert len(detector.state_dict()["values"]) == 5  # neither was learned
    assert detector.update(5 * minute, 2.0).details["skipped"] == ""  # same time as the newest: fine
    for i in range(6, 9):
        verdict = detector.update(i * minute, 2.0)
    assert verdict.details["skipped"] == "boring" and math.isnan(verdict.score) and not verdict.is_anomaly
    # One day later the old points are gone: the window is short again.
    assert detector.update(9 * minute + 86400 * SECOND, 2.0).details["skipped"] == "short"
