"""The forecast detector against statsmodels called directly on the same data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from udfs.detectors import REGISTRY


def seasonal_series(n: int, period: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 0.02 * t + 5 * np.sin(2 * np.pi * t / period) + rng.normal(0, 1.0, n)


@pytest.mark.parametrize(("period", "trend"), [(24, True), (24, False), (0, True)])
def test_predictions_equal_statsmodels_with_the_fitted_parameters(period: int, trend: bool) -> None:
    history, n = 200, 320
    y = seasonal_series(n, period or 24, seed=period)
    detector = REGISTRY["forecast"](season=period, trend=trend, history=history, refit_every=0, robust=False)
    predicted = [detector.update(i, v).details["predicted"] for i, v in enumerate(y)]
    assert all(math.isnan(p) for p in predicted[:history])

    # statsmodels fitted on the first `history` values, then run with those parameters and that
    # end state as known initial values over the rest: its fitted values are one-step forecasts.
    first = ExponentialSmoothing(y[:history], trend="add" if trend else None, seasonal="add" if period else None,
                                 seasonal_periods=period or None, initialization_method="estimated").fit()
    assert predicted[history] == pytest.approx(float(first.forecast(1)[0]), rel=1e-9)
    rest = ExponentialSmoothing(
        y[history:], trend="add" if trend else None, seasonal="add" if period else None,
        seasonal_periods=period or None, initialization_method="known",
        initial_level=first.level[-1], initial_trend=first.trend[-1] if trend else None,
        initial_seasonal=first.season[-period:] if period else None,
    ).fit(smoothing_level=first.params["smoothing_level"],
          smoothing_trend=first.params["smoothing_trend"] if trend else None,
          smoothing_seasonal=first.params["smoothing_seasonal"] if period else None, optimized=False)
    np.testing.assert_allclose(predicted[history:], rest.fittedvalues, rtol=1e-9)


def test_outlier_flagged_and_not_learned() -> None:
    y = seasonal_series(400, 24, seed=1)
    detector = REGISTRY["forecast"](season=24, history=200, refit_every=0)
    for i, v in enumerate(y[:300]):
        detector.update(i, v)
    before = detector.score_one(301, y[301]).details["predicted"]
    verdict = detector.update(300, y[300] + 40)
    assert verdict.is_anomaly and verdict.details["upper"] < y[300] + 40
    # robust: the outlier was learned as its forecast, so the next forecast barely moves
    assert detector.score_one(301, y[301]).details["predicted"] == pytest.approx(before, abs=2.0)


def test_false_alarms_on_clean_seasonal_data_are_rare() -> None:
    y = seasonal_series(3000, 48, seed=2)
    detector = REGISTRY["forecast"](season=48, history=500, refit_every=1000)
    flags = sum(detector.update(i, v).is_anomaly for i, v in enumerate(y))
    assert flags <= 3, flags  # z = 4 sigma on Gaussian noise: about 0.006 % of points
