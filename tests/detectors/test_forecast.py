"""The forecast detector against statsmodels called directly on the same data."""

from __future__ import annotations

import json
import math
import warnings

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


def two_season_series(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 20 + 0.01 * t + 3 * np.sin(2 * np.pi * t / 12) + 2 * np.sin(2 * np.pi * t / 40) + rng.normal(0, 0.3, n)


def test_mstl_predictions_equal_statsmodels_mstl_and_holt() -> None:
    from statsmodels.tsa.seasonal import MSTL

    history, n = 200, 260
    y = two_season_series(n, seed=4)
    detector = REGISTRY["forecast"](model="mstl", periods="40,12", history=history, refit_every=0, robust=False)
    predicted = [detector.update(i, v).details["predicted"] for i, v in enumerate(y)]
    assert all(math.isnan(p) for p in predicted[:history])

    # MSTL called directly on the same window; Holt on what its seasonal components leave.
    seasonal = MSTL(y[:history], periods=(12, 40)).fit().seasonal
    adjusted = y[:history] - seasonal.sum(axis=1)
    holt = ExponentialSmoothing(adjusted, trend="add", initialization_method="estimated").fit()
    profile = seasonal[history - 12, 0] + seasonal[history - 40, 1]
    assert predicted[history] == pytest.approx(float(holt.forecast(1)[0]) + profile, rel=1e-9)
    # Later: each component repeats its last period; Holt runs on with its fitted parameters.
    season = np.array([seasonal[history - 12 + (j % 12), 0] + seasonal[history - 40 + (j % 40), 1]
                       for j in range(n - history)])
    rest = ExponentialSmoothing(
        y[history:] - season, trend="add", initialization_method="known",
        initial_level=holt.level[-1], initial_trend=holt.trend[-1],
    ).fit(smoothing_level=holt.params["smoothing_level"], smoothing_trend=holt.params["smoothing_trend"],
          optimized=False)
    np.testing.assert_allclose(predicted[history:], rest.fittedvalues + season, rtol=1e-9)


def test_arima_order_by_aic_and_predictions_equal_statsmodels() -> None:
    from statsmodels.tsa.arima.model import ARIMA

    history, n = 200, 230
    rng = np.random.default_rng(5)
    e = rng.normal(0, 1.0, n + 1)
    y = np.empty(n)
    level = 0.0
    for i in range(n):  # ARMA(1, 1) around 30
        level = 0.6 * level + e[i + 1] + 0.3 * e[i]
        y[i] = 30 + level
    detector = REGISTRY["forecast"](model="arima", max_p=1, max_d=1, max_q=1, history=history, refit_every=0,
                                    robust=False)
    predicted = [detector.update(i, v).details["predicted"] for i, v in enumerate(y)]

    fits = {(p, d, q): ARIMA(y[:history], order=(p, d, q), trend="c" if d == 0 else "n").fit()
            for d in (0, 1) for p in (0, 1) for q in (0, 1)}
    order = min(fits, key=lambda o: fits[o].aic)
    assert detector.order == order
    best = fits[order]
    assert predicted[history] == pytest.approx(float(best.forecast(1)[0]), rel=1e-6)
    # The Kalman filter of statsmodels, run on with the fitted parameters, gives the later forecasts.
    for k in (1, 5, 29):
        extended = best.append(y[history:history + k], refit=False)
        assert predicted[history + k] == pytest.approx(float(extended.forecast(1)[0]), rel=1e-6), k


def test_mstl_and_arima_fall_back_to_holt_winters_until_their_fit_is_installed() -> None:
    y = seasonal_series(320, 24, seed=6)
    config = {"season": 24, "history": 200, "refit_every": 0, "robust": False}
    arima = {**config, "model": "arima", "max_p": 1, "max_d": 0, "max_q": 1}
    fallback, background, inline = (REGISTRY["forecast"](**c) for c in (config, arima, arima))
    background.fit_inline = False
    for i, v in enumerate(y[:200]):
        for detector in (fallback, background, inline):
            detector.update(i, v)
    assert background.needs_fit() and background.order is None and inline.order is not None
    data = background.begin_fit()
    assert not background.needs_fit()
    for i, v in enumerate(y[200:215], start=200):  # values arrive while the model fits elsewhere:
        # the Holt-Winters fallback scores them, none is left unscored
        assert background.score_one(i, v).details == fallback.score_one(i, v).details
        for detector in (fallback, background, inline):
            detector.update(i, v)
    background.install_model(background.fit_model(data))
    assert background.order == inline.order
    # The installed model was brought up to date with the values of the fit's time.
    got = background.score_one(215, y[215]).details["predicted"]
    assert got == pytest.approx(inline.score_one(215, y[215]).details["predicted"], rel=1e-9)
    assert got != fallback.score_one(215, y[215]).details["predicted"]


def test_prophet_predictions_equal_prophet_called_directly() -> None:
    pytest.importorskip("prophet")
    import pandas as pd
    from prophet import Prophet

    history, n, step = 300, 320, 300 * 10**9  # 5-minute data, a daily season
    t0 = 1_700_000_000 * 10**9
    y = seasonal_series(n, 288, seed=7)
    times = [t0 + i * step for i in range(n)]
    detector = REGISTRY["forecast"](model="prophet", history=history, refit_every=0, robust=False)
    predicted = [detector.update(t, v).details["predicted"] for t, v in zip(times, y, strict=True)]
    assert all(math.isnan(p) for p in predicted[:history])

    model = Prophet(uncertainty_samples=0).fit(
        pd.DataFrame({"ds": pd.to_datetime(times[:history], unit="ns"), "y": y[:history]}))
    direct = model.predict(pd.DataFrame({"ds": pd.to_datetime(times[history:], unit="ns")}))["yhat"]
    np.testing.assert_allclose(predicted[history:], direct.to_numpy(), rtol=1e-6)
    restored = REGISTRY["forecast"].from_state(detector.state_dict())
    assert restored.score_one(t0 + n * step, 50.0).details == detector.score_one(t0 + n * step, 50.0).details


def test_prophet_is_refused_with_the_extra_to_install_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from udfs.detectors import forecast

    monkeypatch.setattr(forecast, "prophet_available", lambda: False)
    with pytest.raises(ValueError, match=r"model 'prophet' needs the optional extra"):
        REGISTRY["forecast"](model="prophet")


def test_a_failed_inline_fit_leaves_the_fallback_scoring(monkeypatch: pytest.MonkeyPatch) -> None:
    from udfs.detectors import forecast

    calls = []

    def failing(*args: object) -> None:
        calls.append(len(calls))
        raise ValueError("no ARIMA order could be fitted")

    monkeypatch.setattr(forecast, "fit_arima", failing)
    y = seasonal_series(260, 24, seed=9)
    detector = REGISTRY["forecast"](model="arima", season=24, history=200, refit_every=50)
    fallback = REGISTRY["forecast"](season=24, history=200, refit_every=0)
    for i, v in enumerate(y):
        assert detector.update(i, v).details == fallback.update(i, v).details
    assert detector.order is None and len(calls) == 2  # at 200 values, and again 50 later


def test_seasonal_arima_order_by_aic_and_predictions_equal_statsmodels_sarimax() -> None:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    from udfs.detectors._arima import SEASONAL_STRENGTH, seasonal_strength

    period, history, n = 12, 240, 270
    rng = np.random.default_rng(11)
    t = np.arange(n)
    e = rng.normal(0, 0.5, n)
    noise = np.zeros(n)
    for i in range(1, n):  # AR(1) noise on a season of 12 points
        noise[i] = 0.5 * noise[i - 1] + e[i]
    y = 50 + 6 * np.sin(2 * np.pi * t / period) + 2 * np.cos(4 * np.pi * t / period) + noise
    detector = REGISTRY["forecast"](model="arima", periods=str(period), max_p=1, max_d=0, max_q=1,
                                    history=history, refit_every=0, robust=False)
    predicted = [detector.update(i, v).details["predicted"] for i, v in enumerate(y)]

    window = y[:history]
    big_d = int(seasonal_strength(window, period) >= SEASONAL_STRENGTH)
    assert big_d == 1  # a strong season is differenced

    def fit(order: tuple[int, int, int], seasonal: tuple[int, int, int, int]) -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return SARIMAX(window, order=order, seasonal_order=seasonal, trend="n",
                           simple_differencing=True).fit(disp=False)

    # The search called by hand: (p, q) with the seasonal difference, then the seasonal AR/MA terms.
    first = {(p, 0, q): fit((p, 0, q), (0, 1, 0, period)) for p in (0, 1) for q in (0, 1)}
    order = min(first, key=lambda o: first[o].aic)
    fits = {(order, (0, 1, 0, period)): first[order],
            **{(order, (sp, 1, sq, period)): fit(order, (sp, 1, sq, period)) for sp, sq in ((1, 0), (0, 1), (1, 1))}}
    best_key = min(fits, key=lambda k: fits[k].aic)
    assert detector.order == best_key[0] and detector.seasonal_order == best_key[1]
    assert detector.order_label.startswith("ARIMA(") and detector.order_label.endswith(f"){period}")
    best = fits[best_key]

    def undifferenced(forecast: float, upto: int) -> float:  # statsmodels forecasts the differenced series
        return float(forecast) + y[upto - period]

    assert predicted[history] == pytest.approx(undifferenced(best.forecast(1)[0], history), rel=1e-6)
    # Later, the Kalman filter of statsmodels run on with the fitted parameters updates with
    # a gain that has not converged yet (a seasonal MA near -1 converges slowly); the
    # recursions use the converged one, so they agree to 0.1 %, not exactly.
    for k in (1, 7, 29):
        extended = best.append(y[history:history + k], refit=False)
        assert predicted[history + k] == pytest.approx(undifferenced(extended.forecast(1)[0], history + k),
                                                       rel=1e-3), k
    # Forecasts ahead, as continuous_prediction asks for them, follow statsmodels' too.
    ahead = [p for p, _, _ in detector.forecast_ahead(12)]
    expected = best.append(y[history:], refit=False).forecast(12)
    carried = list(y[n - period:])
    for h in range(12):
        carried.append(float(expected[h]) + carried[-period])
    np.testing.assert_allclose(ahead, carried[period:], rtol=5e-3)  # the same gain gap, carried ahead


def test_seasonal_arima_state_round_trips_and_refuses_another_period() -> None:
    y = seasonal_series(200, 6, seed=4)
    detector = REGISTRY["forecast"](model="arima", periods="6", max_p=1, max_d=0, max_q=0, history=60,
                                    refit_every=0)
    for i, v in enumerate(y[:100]):
        detector.update(i, v)
    state = json.loads(json.dumps(detector.state_dict()))
    restored = REGISTRY["forecast"].from_state(state)
    assert restored.order_label == detector.order_label and detector.seasonal_order is not None
    for i, v in enumerate(y[100:], start=100):
        assert restored.update(i, v).details == detector.update(i, v).details
    state["params"]["periods"] = "7"
    with pytest.raises(ValueError, match="seasonal period"):
        REGISTRY["forecast"].from_state(state)
