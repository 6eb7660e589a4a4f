"""mad and iqr on windows without spread (MAD or IQR 0, or constant), and their sorted window.

Expectations are derived by hand in the comments; 1.2533 turns a mean absolute
deviation (MeanAD) into a standard deviation, 1.349 * 1.2533 = 1.69070 into an IQR.
"""

from __future__ import annotations

import json
import math
from typing import TypeVar

import numpy as np
import pytest

from udfs.detectors import Detector, InterquartileRange, MedianAbsoluteDeviation
from udfs.detectors._sorted_window import SortedWindow

T0 = 1_700_000_000_000_000_000
IQR_PER_MEAN_AD = 1.349 * 1.2533
D = TypeVar("D", bound=Detector)


def fed(detector: D, values: list[float]) -> D:
    for i, x in enumerate(values):
        detector.update(T0 + i, x)
    return detector


def test_mad_falls_back_to_the_mean_absolute_deviation() -> None:
    detector = fed(MedianAbsoluteDeviation(window=10, min_periods=10), [20.0] * 8 + [21.0, 19.0])
    # Window 8 x 20, 21, 19: median 20, deviations eight 0s and two 1s, so MAD = 0 (it
    # was inf for any x != 20 before). MeanAD = 2 / 10 = 0.2, spread = 1.2533 * 0.2 = 0.25066.
    verdict = detector.score_one(T0, 23.0)
    assert verdict.details == {"median": 20.0, "mad": 0.0, "spread": 1.2533 * 0.2}
    assert verdict.score == pytest.approx(3 / 0.25066) and verdict.is_anomaly  # 11.97
    assert detector.score_one(T0, 20.5).score == pytest.approx(0.5 / 0.25066)  # 1.99: no anomaly
    assert not detector.score_one(T0, 20.5).is_anomaly
    assert detector.score_one(T0, 20.0).score == 0.0


def test_mad_on_a_constant_window_scores_n_plus_1_over_1_2533() -> None:
    detector = fed(MedianAbsoluteDeviation(window=10, min_periods=10), [7.0] * 10)
    on = detector.score_one(T0, 7.0)
    assert (on.score, on.is_anomaly, on.details["spread"]) == (0.0, False, 0.0)
    # Off the constant, whatever the size: MeanAD of the 10 values and x is |x - 7| / 11,
    # so the score is 11 / 1.2533 = 8.777 and spread = 1.2533 * |x - 7| / 11.
    for x in (7.5, -1e9):
        verdict = detector.score_one(T0, x)
        assert verdict.score == 11 / 1.2533 and verdict.is_anomaly
        assert verdict.details["spread"] == pytest.approx(1.2533 * abs(x - 7.0) / 11)
    # A level shift to 7.5: the window (10 values) then holds 1, 2, 3 values of 7.5 among
    # 7.0s, median 7, MAD 0, MeanAD 0.5 k / 10: the scores are 10 / (1.2533 k).
    scores = [detector.update(T0, 7.5).score for _ in range(4)]
    assert scores == pytest.approx([11 / 1.2533, 10 / 1.2533, 10 / (2 * 1.2533), 10 / (3 * 1.2533)])
    assert [s > 3.5 for s in scores] == [True, True, True, False]  # 8.78, 7.98, 3.99, 2.66


@pytest.mark.parametrize(("n", "anomaly"), [(3, False), (4, True)])
def test_mad_constant_window_departure_is_an_anomaly_from_1_2533_threshold_values(n: int, anomaly: bool) -> None:
    # (n + 1) / 1.2533 > 3.5 for n + 1 > 4.39: 4 / 1.2533 = 3.19 no, 5 / 1.2533 = 3.99 yes.
    detector = fed(MedianAbsoluteDeviation(window=10, min_periods=n), [1.0] * n)
    assert detector.score_one(T0, 2.0).is_anomaly is anomaly


def test_iqr_falls_back_to_the_mean_absolute_deviation() -> None:
    detector = fed(InterquartileRange(window=10, min_periods=10), [5.0] * 8 + [6.0, 4.0])
    # Sorted 4, 5 x 8, 6: q1 at index 9 * 0.25 = 2.25 and q3 at 6.75 are both 5, IQR 0.
    # MeanAD from 5 = 2 / 10 = 0.2, spread = 1.69070 * 0.2 = 0.33814, fences 5 -/+ 1.5 * 0.33814
    # = [4.49279, 5.50721]; 7 is 1.49279 out: 4.4147 spreads (= 2 / 0.33814 - 1.5).
    verdict = detector.score_one(T0, 7.0)
    assert verdict.details["spread"] == IQR_PER_MEAN_AD * 0.2
    assert verdict.details["lower"] == pytest.approx(4.49279, abs=1e-5)
    assert verdict.details["upper"] == pytest.approx(5.50721, abs=1e-5)
    assert verdict.score == pytest.approx(2 / (IQR_PER_MEAN_AD * 0.2) - 1.5) and verdict.is_anomaly
    assert detector.score_one(T0, 5.5).score == 0.0  # inside the upper fence 5.50721
    assert detector.score_one(T0, 5.6).score == pytest.approx((5.6 - 5.50721) / 0.33814, rel=1e-4)  # 0.274


def test_iqr_on_a_constant_window() -> None:
    detector = fed(InterquartileRange(window=10, min_periods=10), [5.0] * 10)
    assert detector.score_one(T0, 5.0).score == 0.0
    assert detector.score_one(T0, 5.0).details["spread"] == 0.0
    # Off the constant: spread 1.69070 * |x - 5| / 11, score 11 / 1.69070 - 1.5 = 5.006.
    for x in (6.0, -1e9):
        verdict = detector.score_one(T0, x)
        assert verdict.score == pytest.approx(11 / IQR_PER_MEAN_AD - 1.5) and verdict.is_anomaly
        assert verdict.details["upper"] - 5.0 == pytest.approx(1.5 * IQR_PER_MEAN_AD * abs(x - 5.0) / 11)
    # One past value: 2 / 1.69070 = 1.18 < k = 1.5, so x is inside the fences; two: 3 / 1.69070
    # - 1.5 = 0.274 > 0.
    assert fed(InterquartileRange(min_periods=1), [5.0]).score_one(T0, 6.0).score == 0.0
    two = fed(InterquartileRange(min_periods=2), [5.0, 5.0]).score_one(T0, 6.0)
    assert two.score == pytest.approx(0.2744, abs=1e-4) and two.is_anomaly


def test_iqr_batch_with_an_iqr_of_0() -> None:
    # Sorted 2, 3 x 6, 4: q1 (index 1.75) = q3 (index 5.25) = 3; MeanAD 2 / 8 = 0.25, spread
    # 0.42267, fences 3 -/+ 0.63401: 4 and 2 are 0.36599 out, 0.866 spreads (= 1 / 0.42267 - 1.5).
    verdicts = InterquartileRange.score_batch([3.0] * 6 + [4.0, 2.0])
    assert [v.score for v in verdicts] == pytest.approx([0.0] * 6 + [1 / (IQR_PER_MEAN_AD * 0.25) - 1.5] * 2)
    assert [v.is_anomaly for v in verdicts] == [False] * 6 + [True, True]
    assert [v.score for v in InterquartileRange.score_batch([3.0] * 5)] == [0.0] * 5


@pytest.mark.parametrize("cls", [MedianAbsoluteDeviation, InterquartileRange])
def test_snapshots_in_every_regime(cls: type[MedianAbsoluteDeviation] | type[InterquartileRange]) -> None:
    # Constant runs, one-off departures and a level shift: restored detectors must agree
    # everywhere, whichever spread is in use.
    values = [1.0] * 30 + [2.0] + [1.0] * 20 + [1.0, 3.0] * 10 + [4.0] * 40 + [math.nan, 4.5, 4.0]
    original = cls(window=20, min_periods=5)
    for i, x in enumerate(values):
        restored = cls.from_state(json.loads(json.dumps(original.state_dict())))
        assert repr(restored.score_one(T0 + i, x)) == repr(original.score_one(T0 + i, x)), i
        original.update(T0 + i, x)
    assert len(original.state_dict()["values"]) == 20


def test_an_iqr_of_0_means_a_mad_of_0() -> None:
    # Why iqr's stand-in is MeanAD rather than the MAD (iqr's docstring).
    rng = np.random.default_rng(8)
    for _ in range(3000):
        values = rng.integers(0, 4, int(rng.integers(1, 30))).astype(float)
        q1, q3 = np.percentile(values, [25, 75])
        if q1 == q3:
            median = np.median(values)
            assert median == q1 and np.median(np.abs(values - median)) == 0.0, values


@pytest.mark.parametrize("kind", ["ties", "spread", "offset"])
def test_sorted_window_is_numpy_to_the_bit(kind: str) -> None:
    rng = np.random.default_rng(len(kind))
    for maxlen in (1, 2, 3, 4, 7, 50):
        window = SortedWindow(maxlen)
        for _ in range(3 * maxlen + 20):
            x = {
                "ties": lambda: float(rng.integers(-2, 3)),
                "spread": lambda: float(rng.normal() * 10.0 ** rng.integers(-8, 9)),
                "offset": lambda: 1e6 + float(rng.normal()),
            }[kind]()
            window.append(x)
            values = np.array(list(window))
            assert list(window.sorted) == sorted(values.tolist())
            median = float(np.median(values))
            assert window.median() == median
            assert [window.quantile(q) for q in (0.25, 0.75)] == np.percentile(values, [25, 75]).tolist()
            assert window.median_abs_deviation(median) == float(np.median(np.abs(values - median)))
            assert window.mean_abs_deviation(median) == math.fsum(np.abs(values - median).tolist()) / len(values)
