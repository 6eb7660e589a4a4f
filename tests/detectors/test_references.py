"""Fast detectors against the naive references in ``naive.py``, at every step.

Numeric detectors run over generated series (random walk, spikes, constant
stretches, level shifts, NaN and infinities, a large offset, integer readings)
and over NAB's machine_temperature_system_failure. The edge detector is compared with
Kapacitor's ``changeDetect`` and with hand-derived expectations.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import naive
import numpy as np
import pytest

from udfs.detectors import (
    Detector,
    EdgeDetector,
    InterquartileRange,
    MedianAbsoluteDeviation,
    Verdict,
    ZScore,
)

NAB_CSV = (
    Path(__file__).resolve().parents[2]
    / "data/nab/data/realKnownCause/machine_temperature_system_failure.csv"
)
T0 = 1_700_000_000_000_000_000
MINUTE = 60_000_000_000
POLL = 90_000_000_000  # an ADSL line polled every 90 s


def generated(seed: int, n: int = 2500) -> list[float]:
    rng = np.random.default_rng(seed)
    x = 50.0 + np.cumsum(rng.normal(0.0, 1.0, n))
    for start in rng.integers(0, n, 6):  # level shifts
        x[start:] += rng.choice([-30.0, 30.0])
    for start in rng.integers(0, n - 120, 5):  # constant stretches, up to 2 windows long
        x[start : start + rng.integers(10, 120)] = x[start]
    x[1000:1060] = 0.0  # a constant stretch where the tolerance relative to the mean is 0
    spikes = rng.random(n) < 0.01
    x[spikes] += rng.choice([-25.0, 25.0], spikes.sum())
    values = [float(v) for v in x]
    for i in rng.integers(0, n, 25):
        values[i] = math.nan
    for i, bad in zip(rng.integers(0, n, 6), (math.inf, -math.inf) * 3, strict=True):
        values[i] = bad
    return values


def offset(n: int = 1500) -> list[float]:
    # Badly conditioned for running sums: mean / spread ~ 1e6.
    rng = np.random.default_rng(11)
    return [float(v) for v in 1e6 + rng.normal(0.0, 1.0, n)]


def quantised(seed: int = 4, n: int = 2500) -> list[float]:
    """Integer readings, mostly exactly on a level that moves every 250 points.

    Windows whose MAD and IQR are 0 are the rule here, and the constant stretch
    is two windows long, so all three spreads of mad and iqr are exercised.
    """
    rng = np.random.default_rng(seed)
    x = np.repeat(rng.integers(0, 5, n // 250 + 1), 250)[:n].astype(float)
    off = rng.random(n) < 0.12
    x[off] += rng.choice([-1.0, 1.0, 2.0, 7.0], off.sum())
    x[600:800] = x[600]
    values = [float(v) for v in x]
    for i in rng.integers(0, n, 10):
        values[i] = math.nan
    return values


def nab() -> list[float]:
    with NAB_CSV.open(newline="") as f:
        return [float(row["value"]) for row in csv.DictReader(f)]


SERIES = {"generated-0": generated(0), "generated-1": generated(1), "offset": offset(), "quantised": quantised()}


def close(a: float, b: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return a == b or (math.isnan(a) and math.isnan(b))
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=atol)


# The spread each score divides by, read off the naive verdict.
SPREAD: dict[str, Callable[[Verdict], float]] = {
    "mad": lambda v: v.details["spread"],
    "zscore": lambda v: v.details["std"],
    "iqr": lambda v: v.details["spread"],
}


def assert_agree(
    fast: list[Verdict], slow: list[Verdict], values: list[float], threshold: float, spread: str
) -> None:
    scale = max(abs(v) for v in values if math.isfinite(v))
    assert len(fast) == len(slow)
    for i, (f, s) in enumerate(zip(fast, slow, strict=True)):
        where = f"step {i}, x={values[i]}: fast {f} naive {s}"
        # x - centre is known only to a few ulp of the data's scale in any float code
        # (1e6 +- 0.04: ~1e-10 of 0.04), so a score is no better than that over the spread.
        floor = 8 * sys.float_info.epsilon * scale / SPREAD[spread](s) if SPREAD[spread](s) > 0 else 0
        assert close(f.score, s.score, atol=1e-9 + floor), where
        if not abs(s.score - threshold) < 1e-6:  # a tie at the threshold may go either way
            assert f.is_anomaly == s.is_anomaly, where
        assert f.details.keys() == s.details.keys(), where
        for key, expected in s.details.items():
            atol = 1e-9 + floor if key == "zscore" else 1e-9 * scale  # a score, or in data units
            assert close(f.details[key], expected, atol=atol), f"{key} at {where}"


def assert_bit_for_bit(fast: list[Verdict], slow: list[Verdict], values: list[float], window: int) -> None:
    """mad and iqr: medians, quartiles, MADs, fences and spreads are numpy's to the last bit.

    So are the scores, except for a value departing from a constant window, which the
    detectors score in closed form, ``(n + 1) / c``, and the naive code by dividing
    ``|x - median|`` by ``c * |x - median| / (n + 1)``: equal to a few ulp of ``(n + 1) / c``
    (iqr subtracts ``k`` from that).
    """
    learned: list[float] = []
    for i, (f, s) in enumerate(zip(fast, slow, strict=True)):
        where = f"step {i}, x={values[i]}: fast {f} naive {s}"
        for key, expected in s.details.items():
            assert f.details[key] == expected or (math.isnan(f.details[key]) and math.isnan(expected)), where
        past = learned[-window:] if window else []
        if past and min(past) == max(past) != values[i]:
            assert math.isnan(s.score) or math.isclose(f.score, s.score, abs_tol=1e-12), where
        else:
            assert f.score == s.score or (math.isnan(f.score) and math.isnan(s.score)), where
        if math.isfinite(values[i]):
            learned.append(values[i])


def run(detector: Any, values: list[Any], step: int = MINUTE) -> list[Verdict]:
    return [detector.update(T0 + i * step, x) for i, x in enumerate(values)]


Params = dict[str, Any]
MAD_PARAMS: list[Params] = [
    {"window": 100, "threshold": 3.5, "min_periods": 10},
    {"window": 7, "threshold": 3.0, "min_periods": 3},
    {"window": 50, "threshold": 2.0, "min_periods": 50},
]
ZSCORE_PARAMS: list[Params] = [
    {"mode": "rolling", "window": 100, "alpha": 0.1, "threshold": 3.0, "min_periods": 10},
    {"mode": "rolling", "window": 30, "alpha": 0.1, "threshold": 2.5, "min_periods": 30},
    {"mode": "rolling", "window": 2, "alpha": 0.1, "threshold": 3.0, "min_periods": 2},
    {"mode": "ewma", "window": 100, "alpha": 0.1, "threshold": 3.0, "min_periods": 10},
    {"mode": "ewma", "window": 100, "alpha": 0.5, "threshold": 3.0, "min_periods": 2},
    {"mode": "ewma", "window": 100, "alpha": 1.0, "threshold": 3.0, "min_periods": 2},
]
IQR_PARAMS: list[Params] = [
    {"window": 100, "k": 1.5, "threshold": 0.0, "min_periods": 10},
    {"window": 5, "k": 3.0, "threshold": 0.5, "min_periods": 5},
    {"window": 40, "k": 1.5, "threshold": 0.0, "min_periods": 4},
]


NUMERIC_CASES: list[tuple[type[Detector], Callable[..., list[Verdict]], Params]] = [
    *((MedianAbsoluteDeviation, naive.mad, params) for params in MAD_PARAMS),
    *((ZScore, naive.zscore, params) for params in ZSCORE_PARAMS),
    *((InterquartileRange, naive.iqr, params) for params in IQR_PARAMS),
]
NUMERIC_IDS = [f"{cls.name}-{'-'.join(map(str, params.values()))}" for cls, _, params in NUMERIC_CASES]


@pytest.mark.parametrize("series", sorted(SERIES))
@pytest.mark.parametrize(("cls", "reference", "params"), NUMERIC_CASES, ids=NUMERIC_IDS)
def test_matches_naive(
    series: str, cls: type[Detector], reference: Callable[..., list[Verdict]], params: Params
) -> None:
    values = SERIES[series]
    fast, slow = run(cls(**params), values), reference(values, **params)
    assert_agree(fast, slow, values, params["threshold"], cls.name)
    if cls.name in ("mad", "iqr"):
        assert_bit_for_bit(fast, slow, values, params["window"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cls", "reference", "params"),
    [NUMERIC_CASES[i] for i in (0, 3, 6, 9)],  # each detector with its defaults, and the EWMA
    ids=[NUMERIC_IDS[i] for i in (0, 3, 6, 9)],
)
def test_real_series_matches_naive(
    cls: type[Detector], reference: Callable[..., list[Verdict]], params: Params
) -> None:
    # The naive EWMA reweights the whole history at every step: O(n^2), so it gets a prefix.
    values = nab()[:6000] if params.get("mode") == "ewma" else nab()
    assert len(values) > 5000
    fast, slow = run(cls(**params), values, step=5 * MINUTE), reference(values, **params)
    assert_agree(fast, slow, values, params["threshold"], cls.name)
    if cls.name in ("mad", "iqr"):
        assert_bit_for_bit(fast, slow, values, params["window"])


@pytest.mark.parametrize("series", ["generated-0", "quantised"])
def test_iqr_batch_matches_naive_fences(series: str) -> None:
    nan = {"q1": math.nan, "q3": math.nan, "lower": math.nan, "upper": math.nan, "spread": math.nan}
    for start in range(0, 2000, 250):  # batches of 500: in quantised, most have an IQR of 0
        values = SERIES[series][start : start + 500]
        finite = [v for v in values if math.isfinite(v)]
        batch = InterquartileRange.score_batch(values, k=2.0, threshold=0.25)
        slow = [
            naive.fences(v, finite, k=2.0, threshold=0.25) if math.isfinite(v) else Verdict(math.nan, False, nan)
            for v in values
        ]
        assert_agree(batch, slow, values, 0.25, "iqr")
        assert_bit_for_bit(batch, slow, values, 0)  # window 0: no departure from a constant
    assert InterquartileRange.score_batch([math.nan, math.inf])[0].details["q1"] != 0.0
    with pytest.raises(ValueError, match="k must be"):
        InterquartileRange.score_batch(values, k=-1.0)


# --- edge ----------------------------------------------------------------------------------


def adsl(n: int = 2000, seed: int = 5) -> list[str]:
    """A line that mostly shows time and now and then retrains for 1 to 4 polls."""
    rng = np.random.default_rng(seed)
    values: list[str] = []
    while len(values) < n:
        values += ["SHOWTIME"] * int(rng.geometric(1 / 40))
        values += ["TRAINING"] * int(rng.integers(1, 5))
    return values[:n]


def change_detect(values: list[Any]) -> list[int]:
    """Kapacitor's |changeDetect: the first point, then every point whose value changed."""
    return [i for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def test_edge_does_what_change_detect_does_and_more() -> None:
    values = adsl()
    verdicts = run(EdgeDetector(), values, step=POLL)
    emitted = [i for i, v in enumerate(verdicts) if v.details["changed"]]
    assert emitted == change_detect(values)
    assert len(emitted) > 50
    for number, (before, i) in enumerate(zip(emitted, emitted[1:], strict=False), start=1):
        details = verdicts[i].details
        assert details["previous"] == values[i - 1] and details["current"] == values[i]
        assert details["previous_duration"] == (i - before) * POLL  # entered at `before`
        assert details["changes"] == number
    assert verdicts[0].details["previous"] is None and verdicts[0].details["changes"] == 0


def mixed_numbers(seed: int = 2, n: int = 1500) -> list[float]:
    rng = np.random.default_rng(seed)
    x = [float(v) for v in np.round(20.0 * np.sin(np.arange(n) / 15.0) + rng.normal(0, 4.0, n), 1)]
    for i in rng.integers(0, n, 30):
        x[i] = math.nan
    x[7] = math.inf
    return x


EDGE_CASES: dict[str, tuple[list[Any], Params]] = {
    "adsl-debounce-flap": (adsl(), {"min_duration": 2 * POLL, "flap_count": 3, "flap_window": 30 * MINUTE}),
    "levels-hysteresis": (
        mixed_numbers(),
        {"low_enter": -15.0, "low_exit": -10.0, "high_exit": 10.0, "high_enter": 15.0, "flap_count": 4},
    ),
    "levels-debounce": (mixed_numbers(3), {"high_enter": 12.0, "high_exit": 5.0, "min_duration": 3 * MINUTE}),
    "raw-floats": (mixed_numbers(4)[:400], {"flap_count": 50, "flap_window": 20 * MINUTE}),
    "ints": ([int(v) for v in np.random.default_rng(6).integers(0, 3, 800)], {"min_duration": MINUTE}),
    "bools": ([bool(v) for v in np.random.default_rng(7).random(800) < 0.2], {"flap_count": 2}),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_matches_naive(case: str) -> None:
    values, params = EDGE_CASES[case]
    points = [(T0 + i * MINUTE, x) for i, x in enumerate(values)]
    detector = EdgeDetector(**params)
    fast = [detector.update(t, x) for t, x in points]
    slow = naive.edge(points, **params)
    for i, (f, s) in enumerate(zip(fast, slow, strict=True)):
        assert repr(f) == repr(s), f"step {i}, x={values[i]}"
    assert sum(v.details["changed"] for v in fast) > 5


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_snapshot_mid_debounce(case: str) -> None:
    # The common checks run defaults, where no debounce is ever pending; here every
    # 37th step is a snapshot, some of them taken while a new state waits out min_duration.
    values, params = EDGE_CASES[case]
    original = EdgeDetector(**params)
    for i, x in enumerate(values):
        t = T0 + i * MINUTE
        if i % 37 == 0:
            restored = EdgeDetector.from_state(json.loads(json.dumps(original.state_dict())))
            assert repr(restored.update(t, x)) == repr(original.score_one(t, x))
        original.update(t, x)


def currents(verdicts: list[Verdict]) -> list[Any]:
    return [v.details["current"] for v in verdicts]


def test_edge_hysteresis_by_hand() -> None:
    detector = EdgeDetector(low_enter=10.0, low_exit=15.0, high_enter=80.0, high_exit=70.0)
    values = [50.0, 75.0, 81.0, 75.0, 71.0, 69.0, 12.0, 9.0, 14.0, 15.0, 16.0, 85.0]
    verdicts = run(detector, values)
    # 50, 75: between the enter levels -> normal (50 is the first point: reported).
    # 81 > high_enter 80 -> high. 75 and 71 stay high: high is left only below high_exit 70.
    # 69 < 70 -> normal (and 69 is not below low_enter 10). 12 >= 10 stays normal.
    # 9 < 10 -> low. 14 and 15 stay low: low is left only above low_exit 15 (15 is not above).
    # 16 > 15 -> normal. 85 > 80 -> high.
    assert currents(verdicts) == [
        "normal", "normal", "high", "high", "high", "normal",
        "normal", "low", "low", "low", "normal", "high",
    ]  # fmt: skip
    assert [i for i, v in enumerate(verdicts) if v.details["changed"]] == [0, 2, 5, 7, 10, 11]
    # high was entered at minute 2 and left at minute 5: 3 minutes.
    assert verdicts[5].details["previous"] == "high"
    assert verdicts[5].details["previous_duration"] == 3 * MINUTE
    assert verdicts[11].details["changes"] == 5


def test_edge_debounce_by_hand() -> None:
    detector = EdgeDetector(min_duration=2 * POLL)
    values = ["S", "S", "T", "S", "T", "T", "T", "T", "S", "S"]
    verdicts = run(detector, values, step=POLL)
    # Poll 2: T appears but must hold 180 s; poll 3 is S again, so that T was a glitch.
    # Poll 4 (360 s): T again; poll 5 (450 s) has held it 90 s; poll 6 (540 s) 180 s:
    # the change is reported at poll 6, with T dated from poll 4, so S lasted 0 -> 360 s.
    # Polls 8-9: S has held only 90 s by the end, so no change yet.
    assert [i for i, v in enumerate(verdicts) if v.details["changed"]] == [0, 6]
    assert verdicts[6].details["previous"] == "S" and verdicts[6].details["current"] == "T"
    assert verdicts[6].details["previous_duration"] == 4 * POLL
    assert verdicts[7].details["duration"] == 3 * POLL  # T since poll 4, now poll 7
    assert currents(verdicts)[8:] == ["T", "T"]


def test_edge_nan_is_no_state_and_does_not_break_a_debounce() -> None:
    detector = EdgeDetector(min_duration=2 * POLL)
    verdicts = run(detector, [1.0, 2.0, math.nan, 2.0], step=POLL)
    # 2.0 starts at poll 1; the NaN at poll 2 is skipped; at poll 3 2.0 has held 180 s.
    assert math.isnan(verdicts[2].score) and not verdicts[2].details["changed"]
    assert verdicts[3].details["changed"] and verdicts[3].details["previous_duration"] == POLL


def test_edge_flapping_by_hand() -> None:
    detector = EdgeDetector(flap_count=2, flap_window=5 * MINUTE)
    verdicts = run(detector, ["A", "B", "A", "B", "A", "A", "A", "A", "A", "A"])
    # Changes at minutes 1, 2, 3, 4 (minute 0 is the first value, no change). At minute m
    # the window is (m - 5, m]; score = changes in it / 2, flapping above 2 changes:
    # m=1: {1} -> 0.5; m=2: {1,2} -> 1.0 (2 is not more than 2); m=3: 3 -> 1.5 flapping;
    # m=4: 4 -> 2.0; m=5: (0,5] still 4 -> 2.0; m=6: (1,6] -> {2,3,4} 1.5; m=7: {3,4} 1.0;
    # m=8: {4} 0.5; m=9: none -> 0.
    assert [v.score for v in verdicts] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 1.5, 1.0, 0.5, 0.0]
    assert [v.is_anomaly for v in verdicts] == [False] * 3 + [True] * 4 + [False] * 3


def test_edge_flap_score_saturates_at_twice_flap_count() -> None:
    detector = EdgeDetector(flap_count=2, flap_window=60 * MINUTE)
    verdicts = run(detector, ["A", "B"] * 4)
    # 7 changes within the hour, but only the last 2 * flap_count = 4 are kept: 4 / 2.
    assert verdicts[-1].score == 2.0 and verdicts[-1].details["changes"] == 7


def test_edge_value_types() -> None:
    verdicts = run(EdgeDetector(), [1, 1.0, True, True, np.int64(1), "1"])
    # 1 and 1.0 are the same number; True is a boolean, not the number 1; "1" is a string.
    assert [v.details["changed"] for v in verdicts] == [True, False, True, False, True, True]
    with pytest.raises(TypeError, match="edge takes"):
        EdgeDetector().update(T0, [1, 2])
