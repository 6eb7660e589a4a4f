"""Next-value forecasts with an interval: Holt-Winters, MSTL, (seasonal) ARIMA or Prophet, refitted now and then."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from udfs.detectors._arima import ArimaModel, fit_arima, quiet_fit
from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import Constraint, InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["MODELS", "Forecast", "HoltWinters", "fit_arima", "fit_mstl", "parse_periods"]

_NOT_YET = {"predicted": math.nan, "lower": math.nan, "upper": math.nan, "residual": math.nan}

#: The models of ``.model()``; Holt-Winters is also the fallback of the others.
MODELS = ("holt_winters", "mstl", "arima", "prophet")


def parse_periods(text: str) -> tuple[int, ...]:
    """``'288,2016'`` -> ``(288, 2016)``; ValueError unless distinct integers >= 2, ascending."""
    items = [s.strip() for s in text.split(",")] if text.strip() else []
    periods = tuple(int(s) for s in items)
    if any(p < 2 or p > 100_000 for p in periods) or len(set(periods)) != len(periods):
        raise ValueError(text)
    return tuple(sorted(periods))


class _PeriodList(Constraint):
    def accepts(self, value: Any) -> bool:
        try:
            parse_periods(value)
        except (ValueError, AttributeError):
            return False
        return True

    def describe(self) -> str:
        return "a comma-separated list of distinct integers from 2 to 100000 (e.g. '288,2016'), or ''"


# -- the models' states: plain numbers, so a snapshot restores them exactly -----------------
class _Holt:
    """Additive Holt-Winters recursions with fitted coefficients (``m`` = 0: no season)."""

    def __init__(self, coef: Sequence[float], level: float, slope: float, season: Sequence[float], trend: bool) -> None:
        self.coef = (float(coef[0]), float(coef[1]), float(coef[2]))
        self.level, self.slope, self.trend = float(level), float(slope), trend
        self.season: deque[float] = deque((float(s) for s in season), maxlen=max(len(season), 1))
        self.m = len(season)

    @classmethod
    def fit(cls, y: np.ndarray, m: int, trend: bool) -> tuple[_Holt, np.ndarray]:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing  # slow to import: on first fit only

        model = ExponentialSmoothing(y, trend="add" if trend else None, seasonal="add" if m else None,
                                     seasonal_periods=m or None, initialization_method="estimated")
        result = quiet_fit(model.fit)
        params = result.params
        coef = (float(params["smoothing_level"]), float(np.nan_to_num(params.get("smoothing_trend", 0.0))),
                float(np.nan_to_num(params.get("smoothing_seasonal", 0.0))))
        season = [float(s) for s in result.season[-m:]] if m else []
        holt = cls(coef, float(result.level[-1]), float(result.trend[-1]) if trend else 0.0, season, trend)
        return holt, np.asarray(y - result.fittedvalues, float)

    def predict(self) -> float:
        return self.level + (self.slope if self.trend else 0.0) + (self.season[0] if self.m else 0.0)

    def ahead(self, h: int) -> float:
        return self.level + (h * self.slope if self.trend else 0.0) + (self.season[(h - 1) % self.m] if self.m else 0.0)

    def advance(self, y: float) -> None:
        alpha, beta, gamma = self.coef
        level, slope = self.level, self.slope if self.trend else 0.0
        seasonal = self.season[0] if self.m else 0.0
        self.level = alpha * (y - seasonal) + (1 - alpha) * (level + slope)
        if self.trend:
            self.slope = beta * (self.level - level) + (1 - beta) * slope
        if self.m:
            self.season.append(gamma * (y - level - slope) + (1 - gamma) * seasonal)  # drops s[-m]

    def state(self) -> dict[str, Any]:
        return {"coef": list(self.coef), "level": self.level, "slope": self.slope, "season": list(self.season)}

    @classmethod
    def from_state(cls, s: Mapping[str, Any], trend: bool) -> _Holt:
        numbers = [*map(float, s["coef"]), float(s["level"]), float(s["slope"]), *map(float, s["season"])]
        if len(s["coef"]) != 3 or not all(map(math.isfinite, numbers)):
            raise ValueError("forecast state has a malformed Holt-Winters model")
        return cls(s["coef"], s["level"], s["slope"], s["season"], trend)


class _Mstl:
    """MSTL's seasonal profiles (repeated as they were at the fit) plus Holt on the deseasonalised values."""

    def __init__(self, profiles: Sequence[Sequence[float]], holt: _Holt) -> None:
        self.profiles = [deque(float(v) for v in p) for p in profiles]
        self.holt = holt

    def seasonal(self, h: int = 1) -> float:
        return math.fsum(p[(h - 1) % len(p)] for p in self.profiles)

    def predict(self) -> float:
        return self.holt.predict() + self.seasonal()

    def ahead(self, h: int) -> float:
        return self.holt.ahead(h) + self.seasonal(h)

    def advance(self, y: float) -> None:
        self.holt.advance(y - self.seasonal())
        for p in self.profiles:
            p.rotate(-1)

    def state(self) -> dict[str, Any]:
        return {"profiles": [list(p) for p in self.profiles], "holt": self.holt.state()}

    @classmethod
    def from_state(cls, s: Mapping[str, Any], periods: Sequence[int], trend: bool) -> _Mstl:
        profiles = [[float(v) for v in p] for p in s["profiles"]]
        if [len(p) for p in profiles] != list(periods) or not all(math.isfinite(v) for p in profiles for v in p):
            raise ValueError("forecast state has a malformed MSTL model")
        return cls(profiles, _Holt.from_state(s["holt"], trend))


class _Prophet:
    """A fitted Prophet model (the optional extra), predicting at a point's own time; no state between fits."""

    def __init__(self, model_json: str, step: int, last_t: int) -> None:
        from prophet.serialize import model_from_json

        self.model_json = model_json
        self.model = model_from_json(model_json)
        self.step, self.last_t = int(step), int(last_t)
        self._cache: tuple[int, float] | None = None

    def predict_at(self, t: int) -> float:
        if self._cache is None or self._cache[0] != t:
            import pandas as pd

            frame = pd.DataFrame({"ds": pd.to_datetime([int(t)], unit="ns")})
            self._cache = (int(t), float(quiet_fit(lambda: self.model.predict(frame))["yhat"].iloc[0]))
        return self._cache[1]

    def predict(self) -> float:
        return self.predict_at(self.last_t + self.step)

    def ahead(self, h: int) -> float:
        return self.predict_at(self.last_t + h * self.step)

    def advance(self, y: float) -> None:
        self.last_t += self.step  # the detector sets the real time right after

    def state(self) -> dict[str, Any]:
        return {"model": self.model_json, "step": self.step, "last_t": self.last_t}

    @classmethod
    def from_state(cls, s: Mapping[str, Any]) -> _Prophet:
        return cls(str(s["model"]), int(s["step"]), int(s["last_t"]))


def prophet_available() -> bool:
    """Whether the optional extra is installed (``pip install 'kapacitor-anomaly-udfs[prophet]'``)."""
    import importlib.util

    return importlib.util.find_spec("prophet") is not None


def fit_prophet(times: np.ndarray, y: np.ndarray) -> tuple[_Prophet, np.ndarray]:
    """Prophet with its default (automatic) seasonalities fitted on ``(times, y)``; no uncertainty sampling
    (the interval comes from the one-step errors, as for the other models)."""
    import logging

    import pandas as pd
    from prophet import Prophet
    from prophet.serialize import model_to_json

    for name in ("cmdstanpy", "prophet"):
        logging.getLogger(name).setLevel(logging.WARNING)
    frame = pd.DataFrame({"ds": pd.to_datetime(times.astype("int64"), unit="ns"), "y": y})
    model = Prophet(uncertainty_samples=0)
    quiet_fit(lambda: model.fit(frame))
    errors = y - np.asarray(quiet_fit(lambda: model.predict(frame[["ds"]]))["yhat"], float)
    step = int(np.median(np.diff(times))) if len(times) > 1 else 1
    return _Prophet(model_to_json(model), max(step, 1), int(times[-1])), errors


def fit_mstl(y: np.ndarray, periods: Sequence[int], trend: bool) -> tuple[_Mstl, np.ndarray]:
    """statsmodels' MSTL on ``y``; Holt's linear trend on ``y`` minus its seasonal components.

    Returns the model, its state at the end of ``y``, and the in-sample one-step errors.
    """
    from statsmodels.tsa.seasonal import MSTL

    result = quiet_fit(lambda: MSTL(y, periods=tuple(periods)).fit())
    seasonal = np.asarray(result.seasonal, float).reshape(len(y), len(periods))
    adjusted = y - seasonal.sum(axis=1)
    holt, errors = _Holt.fit(adjusted, 0, trend)
    profiles = [seasonal[len(y) - p:, k].tolist() for k, p in enumerate(periods)]
    return _Mstl(profiles, holt), errors


class Forecast(Detector):
    """Predict each value from the ones before it; flag values outside the prediction interval.

    ``model`` chooses the forecaster, fitted by statsmodels on the last ``history``
    values once that many are known, and again every ``refit_every`` values; between
    fits each model follows the values with its own one-step recursions (microseconds):

    - ``holt_winters`` (default): additive Holt-Winters (level, optional trend, optional
      season of ``season`` points) as statsmodels' ``ExponentialSmoothing`` defines it:
      ``l = a (y - s[-m]) + (1 - a)(l + b)``, ``b = beta (l - l_prev) + (1 - beta) b``,
      ``s = g (y - l_prev - b_prev) + (1 - g) s[-m]``; the forecast is ``l + b + s[-m]``.
    - ``mstl``: statsmodels' ``MSTL`` splits the history into one seasonal component per
      period of ``periods`` (several seasonalities, e.g. ``'288,2016'``: a day and a week of
      5-minute data) plus the rest; the forecast is each component's value one period ago
      plus Holt's linear trend fitted on the deseasonalised values (STLForecast's recipe).
    - ``arima``: ``ARIMA(p, d, q)`` with the order chosen like auto-ARIMA, by the lowest
      AIC over ``p <= max_p``, ``d <= max_d``, ``q <= max_q`` (a constant when ``d`` is 0);
      with one period in ``periods``, seasonal ``ARIMA(p, d, q)(P, D, Q)s`` (statsmodels'
      ``SARIMAX``): ``D`` by the seasonal strength, ``P, Q <= 1`` by AIC for periods up to 60
      (:mod:`udfs.detectors._arima`).
    - ``prophet`` (optional extra ``[prophet]``): Prophet with its automatic seasonalities,
      fitted on the values and their times, predicting at each point's own time.

    MSTL and ARIMA fits take seconds; the UDF runs them in the background (``fit_inline``
    False) and never leaves a point unscored: the last fitted model scores until the
    new one is ready, and before the first one a Holt-Winters fallback (``season``) does.
    A failed fit is logged by the UDF and the previous model (or the fallback) stays.

    The interval is ``predicted +/- z * sigma``, ``sigma`` being the root mean square
    of the last ``history`` one-step errors (the fit's in-sample errors at first).
    The score is ``|residual| / sigma``; a value is an anomaly when it falls outside
    the interval. Anomalous values are learned as the forecast rather than as
    themselves (``robust=True``, the default), so one outlier does not bend the level.

    ``details``: ``predicted``, ``lower``, ``upper``, ``residual`` (value minus
    prediction); NaN before the first fit. Non-finite values are neither scored nor learned.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(400)
    >>> series = 10 + 3 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(0).normal(0, 0.3, 400)
    >>> detector = Forecast(season=24, history=200, refit_every=100)
    >>> flags = [detector.update(i, x).is_anomaly for i, x in enumerate(series)]
    >>> sum(flags[:200]), sum(flags[200:]) <= 2
    (0, True)
    >>> verdict = detector.score_one(400, 25.0)
    >>> verdict.is_anomaly, verdict.details["upper"] < 25.0
    (True, True)
    """

    name: ClassVar[str] = "forecast"
    parameters: ClassVar[ParamSet] = ParamSet(
        model=Param.choice("holt_winters", MODELS,
                           "Forecaster: holt_winters, mstl (several seasonalities), arima (order by AIC) or "
                           "prophet (optional extra)."),
        season=Param.integer(0, "Points per season of Holt-Winters (also the fallback of mstl and arima), e.g. "
                                "288 for a day of 5-minute data; 0 = no season.", low=0, high=100_000),
        periods=Param.text("", "mstl: the seasonal periods in points, comma separated (e.g. '288,2016'), "
                               "'' = season; arima: one period for a seasonal ARIMA, '' = none.",
                           check=_PeriodList()),
        max_p=Param.integer(2, "arima: largest autoregressive order tried.", low=0, high=5),
        max_d=Param.integer(1, "arima: largest order of differencing tried.", low=0, high=1),
        max_q=Param.integer(2, "arima: largest moving-average order tried.", low=0, high=5),
        trend=Param.flag(True, "Model a trend (Holt's linear trend; for mstl, of the deseasonalised values)."),
        history=Param.integer(500, "Values each fit uses, and the first fit waits for (>= 2 longest periods + 10).",
                              low=10, high=MAX_WINDOW),
        refit_every=Param.integer(1000, "Values between refits of the model; 0 = fit once.",
                                  low=0, high=MAX_WINDOW),
        z=Param.number(4.0, "Half-width of the prediction interval in error sigmas.", low=0, closed="neither"),
        robust=Param.flag(True, "Learn an anomalous value as its forecast, so an outlier does not move the level."),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"season": 100, "history": 150}, {"model": "mstl", "periods": "10,100", "history": 150},
        {"model": "mstl", "periods": "", "season": 0}, {"model": "arima", "periods": "5,12", "history": 100},
        {"model": "arima", "periods": "50", "history": 100},
    )
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"history": 50, "refit_every": 50}, {"season": 10, "history": 50, "refit_every": 0, "trend": False},
        {"model": "mstl", "periods": "5,12", "history": 60, "refit_every": 0},
        {"model": "arima", "max_p": 1, "max_d": 1, "max_q": 1, "history": 60, "refit_every": 0},
        {"model": "arima", "periods": "6", "max_p": 1, "max_d": 0, "max_q": 1, "history": 60, "refit_every": 0},
    )

    model: str
    season: int
    periods: str
    max_p: int
    max_d: int
    max_q: int
    trend: bool
    history: int
    refit_every: int
    z: float
    robust: bool

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._periods = parse_periods(self.periods) or ((self.season,) if self.season else ())
        self._arima_period = parse_periods(self.periods)[0] if self.model == "arima" and self.periods.strip() else 0
        self._values: deque[float] = deque(maxlen=self.history)
        # The Holt-Winters model: the model itself, or the fallback of mstl and arima.
        self._hw: _Holt | None = None
        self._hw_errors: deque[float] = deque(maxlen=self.history)
        # The mstl or arima model, once fitted (a constant history gives a constant model: None here).
        self._main: _Mstl | ArimaModel | _Prophet | None = None
        self._times: deque[int] = deque(maxlen=self.history if self.model == "prophet" else 0)
        self._main_errors: deque[float] = deque(maxlen=self.history)
        self._order: tuple[int, int, int] | None = None
        self._since_fit = 0  # values since the last fit of the model (holt_winters: of self._hw)
        self._seen = 0  # values learned, to replay what came during a background fit
        self._fits = 0  # mstl/arima fits begun
        #: False in the UDF: mstl and arima fits are asked for (needs_fit) and run elsewhere.
        self.fit_inline = True

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        if values["model"] == "prophet" and not prophet_available():
            raise InvalidParameterError(
                "model 'prophet' needs the optional extra: pip install 'kapacitor-anomaly-udfs[prophet]'"
            )
        periods = parse_periods(values["periods"])
        if values["model"] == "mstl" and not periods and not values["season"]:
            raise InvalidParameterError("model 'mstl' needs periods (or season), got periods '' and season 0")
        if values["model"] == "arima" and len(periods) > 1:
            raise InvalidParameterError(f"model 'arima' takes one seasonal period, got periods '{values['periods']}'")
        longest = max((*(periods if values["model"] in ("mstl", "arima") else ()), values["season"]))
        if values["history"] < 2 * longest + 10:
            name = "season" if longest == values["season"] else "periods"
            raise InvalidParameterError(
                f"history must be >= 2 * the longest of {name} + 10 ({2 * longest + 10}), got {values['history']}"
            )

    # -- which model speaks ----------------------------------------------------------
    def _speaker(self) -> tuple[Any, deque[float]] | None:
        if self.model != "holt_winters" and self._main is not None:
            return self._main, self._main_errors
        if self._hw is not None:
            return self._hw, self._hw_errors
        return None

    @staticmethod
    def _sigma(errors: deque[float]) -> float:
        if not errors:
            return math.nan
        return math.sqrt(math.fsum(e * e for e in errors) / len(errors))

    @property
    def order(self) -> tuple[int, int, int] | None:
        """The ARIMA order of the current model (None before the first arima fit)."""
        return self._order

    @property
    def seasonal_order(self) -> tuple[int, int, int, int] | None:
        """``(P, D, Q, s)`` of the current seasonal ARIMA model (None without one)."""
        return self._main.seasonal_order if isinstance(self._main, ArimaModel) else None

    @property
    def order_label(self) -> str:
        """The current ARIMA model as ``ARIMA(p, d, q)`` or ``ARIMA(p, d, q)(P, D, Q)s`` ('' before the first fit)."""
        if self._order is None:
            return ""
        seasonal = self.seasonal_order
        return f"ARIMA{self._order}" + ("" if seasonal is None else f"{seasonal[:3]}{seasonal[3]}")

    @property
    def speaking_model(self) -> str:
        """The model whose forecasts are used now: ``model`` once fitted, else ``holt_winters`` (the fallback)."""
        return self.model if self.model != "holt_winters" and self._main is not None else "holt_winters"

    # -- fitting -------------------------------------------------------------------------
    def _fit_hw(self) -> None:
        y = np.fromiter(self._values, float, len(self._values))
        self._hw, errors = _Holt.fit(y, self.season, self.trend)
        self._hw_errors.clear()
        self._hw_errors.extend(float(e) for e in errors)
        if self.model == "holt_winters":
            self._since_fit = 0

    def needs_fit(self) -> bool:
        """Whether an mstl/arima fit is due (the first once ``history`` values are known, then refits)."""
        if self.model == "holt_winters" or len(self._values) < self.history:
            return False
        return not self._fits or bool(self.refit_every) and self._since_fit >= self.refit_every

    def begin_fit(self) -> tuple[np.ndarray, int, np.ndarray]:
        """The data of a fit (the last ``history`` values, and times for prophet) and where it ends;
        resets the refit clock."""
        self._since_fit = 0
        self._fits += 1
        times = np.array(self._times, dtype=np.int64)
        return np.fromiter(self._values, float, len(self._values)), self._seen, times

    def fit_model(self, data: tuple[np.ndarray, int, np.ndarray]) -> tuple[Any, np.ndarray, Any, int]:
        """Fit the mstl, arima or prophet model on ``begin_fit``'s data (pure: any thread may run it)."""
        y, end, times = data
        if not np.ptp(y):
            return None, np.zeros(0), None, end  # constant: the fallback predicts it exactly
        if self.model == "prophet":
            prophet, errors = fit_prophet(times, y)
            return prophet, errors, None, end
        if self.model == "mstl":
            mstl, errors = fit_mstl(y, self._periods, self.trend)
            return mstl, errors, None, end
        arima, errors, order = fit_arima(y, self.max_p, self.max_d, self.max_q, self._arima_period)
        return arima, errors, order, end

    def install_model(self, fitted: tuple[Any, np.ndarray, Any, int]) -> None:
        """Use a model from :meth:`fit_model`, first brought up to date with the values since its data."""
        model, errors, order, end = fitted
        if isinstance(model, _Prophet):
            if self._times:
                model.last_t = self._times[-1]
        elif model is not None:
            missed = min(self._seen - end, len(self._values))
            for value in list(self._values)[len(self._values) - missed:] if missed > 0 else []:
                model.advance(value)
        self._main, self._order = model, order
        self._main_errors.clear()
        self._main_errors.extend(float(e) for e in errors[-self.history:])

    # -- the streaming contract ----------------------------------------------------------
    def score_one(self, t: int, x: Any) -> Verdict:
        value = float(x)
        speaker = self._speaker() if math.isfinite(value) else None
        if speaker is None:
            return Verdict(math.nan, False, dict(_NOT_YET))
        model, errors = speaker
        predicted, sigma = _predict(model, int(t)), self._sigma(errors)
        residual = value - predicted
        half = self.z * sigma
        if sigma > 0:
            score = abs(residual) / sigma
        else:
            score = 0.0 if residual == 0 else math.inf
        details = {"predicted": predicted, "lower": predicted - half, "upper": predicted + half, "residual": residual}
        return Verdict(score, score > self.z, details)

    def learn_one(self, t: int, x: Any) -> None:
        value = float(x)
        if not math.isfinite(value):
            return
        outlier = False
        speaker = self._speaker()
        if speaker is not None:
            model, errors = speaker
            residual = value - _predict(model, int(t))
            sigma = self._sigma(errors)
            outlier = sigma > 0 and abs(residual) > self.z * sigma or sigma == 0 and residual != 0
        for other, other_errors in ((self._hw, self._hw_errors), (self._main, self._main_errors)):
            if other is not None:
                predicted = _predict(other, int(t))
                other_errors.append(value - predicted)
                other.advance(predicted if self.robust and outlier else value)
                if isinstance(other, _Prophet):
                    other.last_t = int(t)
        self._values.append(value)
        self._times.append(int(t))
        self._seen += 1
        self._since_fit += 1
        full = len(self._values) == self.history
        if self.model == "holt_winters":
            if full and (self._hw is None or (self.refit_every and self._since_fit >= self.refit_every)):
                self._fit_hw()
            return
        if full and self._hw is None:
            self._fit_hw()  # the fallback, fitted once: the model takes over from its first fit
        if self.fit_inline and self.needs_fit():
            data = self.begin_fit()
            try:
                fitted = self.fit_model(data)
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                return  # the previous model (or the fallback) stays; the next refit tries again
            self.install_model(fitted)

    def forecast_ahead(self, steps: int) -> list[tuple[float, float, float]]:
        """``(predicted, lower, upper)`` for each of the next ``steps`` values, changing nothing.

        The model's forecast for horizon ``h``; the interval widens as
        ``z * sigma * sqrt(h)`` (errors of a random walk; a rough but honest widening).
        Empty before the first fit.
        """
        speaker = self._speaker()
        if speaker is None:
            return []
        model, errors = speaker
        sigma = self._sigma(errors)
        out = []
        for h in range(1, steps + 1):
            predicted = model.ahead(h)
            half = self.z * sigma * math.sqrt(h)
            out.append((predicted, predicted - half, predicted + half))
        return out

    # -- snapshots ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "params": self.params(), "values": list(self._values), "times": list(self._times), "seen": self._seen,
            "since_fit": self._since_fit, "fits": self._fits,
            "hw": None if self._hw is None else self._hw.state(), "hw_errors": list(self._hw_errors),
            "main": None if self._main is None else self._main.state(), "main_errors": list(self._main_errors),
            "order": None if self._order is None else list(self._order),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Forecast:
        detector = cls(**state["params"])
        values = [float(v) for v in state["values"]]
        hw_errors = [float(e) for e in state["hw_errors"]]
        main_errors = [float(e) for e in state["main_errors"]]
        if max(len(values), len(hw_errors), len(main_errors)) > detector.history or not all(
                map(math.isfinite, [*values, *hw_errors, *main_errors])):
            raise ValueError("forecast state does not fit its parameters")
        detector._values.extend(values)
        if detector.model == "prophet":
            detector._times.extend(int(t) for t in state["times"])
        detector._hw_errors.extend(hw_errors)
        detector._main_errors.extend(main_errors)
        if state["hw"] is not None:
            detector._hw = _Holt.from_state(state["hw"], detector.trend)
            if detector._hw.m != detector.season:
                raise ValueError("forecast state has a malformed Holt-Winters model")
        if state["main"] is not None:
            if detector.model == "mstl":
                detector._main = _Mstl.from_state(state["main"], detector._periods, detector.trend)
            elif detector.model == "arima":
                detector._main = ArimaModel.from_state(state["main"])
                if detector._main.s != detector._arima_period:
                    raise ValueError("forecast state has an ARIMA model of another seasonal period")
            elif detector.model == "prophet":
                detector._main = _Prophet.from_state(state["main"])
            else:
                raise ValueError("forecast state has a model its parameters do not use")
        order = state["order"]
        detector._order = None if order is None else (int(order[0]), int(order[1]), int(order[2]))
        detector._seen, detector._since_fit = int(state["seen"]), int(state["since_fit"])
        detector._fits = int(state["fits"])
        return detector


def _predict(model: Any, t: int) -> float:
    """The model's prediction for the value at time ``t`` (only Prophet looks at the time)."""
    return model.predict_at(t) if isinstance(model, _Prophet) else model.predict()


#: The detector's earlier name (Holt-Winters was its only model).
HoltWinters = Forecast
