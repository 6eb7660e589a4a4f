"""Next-value forecasts with a prediction interval: Holt-Winters exponential smoothing, refitted now and then."""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["HoltWinters"]

_NOT_YET = {"predicted": math.nan, "lower": math.nan, "upper": math.nan, "residual": math.nan}


class HoltWinters(Detector):
    """Predict each value from the ones before it; flag values outside the prediction interval.

    Additive Holt-Winters (level, optional trend, optional season of ``season``
    points) as statsmodels' ``ExponentialSmoothing`` defines it. The smoothing
    parameters and the state are fitted by statsmodels on the last ``history``
    values once ``history`` values are known, and again every ``refit_every``
    values; between fits the state follows each value with the model's own
    recursions, which cost microseconds:

    ``l = a (y - s[-m]) + (1 - a)(l + b)``, ``b = beta (l - l_prev) + (1 - beta) b``,
    ``s = g (y - l_prev - b_prev) + (1 - g) s[-m]``; the forecast is ``l + b + s[-m]``.

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
    >>> detector = HoltWinters(season=24, history=200, refit_every=100)
    >>> flags = [detector.update(i, x).is_anomaly for i, x in enumerate(series)]
    >>> sum(flags[:200]), sum(flags[200:]) <= 2
    (0, True)
    >>> verdict = detector.score_one(400, 25.0)
    >>> verdict.is_anomaly, verdict.details["upper"] < 25.0
    (True, True)
    """

    name: ClassVar[str] = "forecast"
    parameters: ClassVar[ParamSet] = ParamSet(
        season=Param.integer(0, "Points per season (e.g. 288 for a day of 5-minute data); 0 = no season.",
                             low=0, high=100_000),
        trend=Param.flag(True, "Model a trend (Holt's linear trend)."),
        history=Param.integer(500, "Values each fit uses, and the first fit waits for (>= 2 seasons + 10).",
                              low=10, high=MAX_WINDOW),
        refit_every=Param.integer(1000, "Values between refits of the smoothing parameters; 0 = fit once.",
                                  low=0, high=MAX_WINDOW),
        z=Param.number(4.0, "Half-width of the prediction interval in error sigmas.", low=0, closed="neither"),
        robust=Param.flag(True, "Learn an anomalous value as its forecast, so an outlier does not move the level."),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"season": 100, "history": 150},)
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"history": 50, "refit_every": 50}, {"season": 10, "history": 50, "refit_every": 0, "trend": False},
    )

    season: int
    trend: bool
    history: int
    refit_every: int
    z: float
    robust: bool

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._values: deque[float] = deque(maxlen=self.history)
        self._errors: deque[float] = deque(maxlen=self.history)
        self._coef: tuple[float, float, float] | None = None  # alpha, beta, gamma
        self._level = self._slope = 0.0
        self._season: deque[float] = deque(maxlen=max(self.season, 1))
        self._since_fit = 0

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        if values["history"] < 2 * values["season"] + 10:
            raise InvalidParameterError(
                f"history must be >= 2 * season + 10 ({2 * values['season'] + 10}), got {values['history']}"
            )

    # -- the model -----------------------------------------------------------------
    def _predict(self) -> float:
        return self._level + (self._slope if self.trend else 0.0) + (self._season[0] if self.season else 0.0)

    def _sigma(self) -> float:
        if not self._errors:
            return math.nan
        return math.sqrt(math.fsum(e * e for e in self._errors) / len(self._errors))

    def _fit(self) -> None:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing  # slow to import: on first fit only

        y = np.fromiter(self._values, float, len(self._values))
        model = ExponentialSmoothing(
            y, trend="add" if self.trend else None, seasonal="add" if self.season else None,
            seasonal_periods=self.season or None, initialization_method="estimated",
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; the fit is used as it comes
            result = model.fit()
        params = result.params
        self._coef = (float(params["smoothing_level"]), float(np.nan_to_num(params.get("smoothing_trend", 0.0))),
                      float(np.nan_to_num(params.get("smoothing_seasonal", 0.0))))
        self._level = float(result.level[-1])
        self._slope = float(result.trend[-1]) if self.trend else 0.0
        self._season.clear()
        if self.season:
            self._season.extend(float(s) for s in result.season[-self.season:])
        self._errors.clear()
        self._errors.extend(float(e) for e in y - result.fittedvalues)
        self._since_fit = 0

    def _advance(self, y: float) -> None:
        assert self._coef is not None
        alpha, beta, gamma = self._coef
        level, slope = self._level, self._slope if self.trend else 0.0
        seasonal = self._season[0] if self.season else 0.0
        self._level = alpha * (y - seasonal) + (1 - alpha) * (level + slope)
        if self.trend:
            self._slope = beta * (self._level - level) + (1 - beta) * slope
        if self.season:
            self._season.append(gamma * (y - level - slope) + (1 - gamma) * seasonal)  # drops s[-m]

    def forecast_ahead(self, steps: int) -> list[tuple[float, float, float]]:
        """``(predicted, lower, upper)`` for each of the next ``steps`` values, changing nothing.

        ``l + h b + s[h - 1 mod m]`` for horizon ``h``; the interval widens as
        ``z * sigma * sqrt(h)`` (errors of a random walk; a rough but honest widening).
        Empty before the first fit.
        """
        if self._coef is None:
            return []
        sigma = self._sigma()
        out = []
        for h in range(1, steps + 1):
            predicted = self._level + (h * self._slope if self.trend else 0.0)
            if self.season:
                predicted += self._season[(h - 1) % self.season]
            half = self.z * sigma * math.sqrt(h)
            out.append((predicted, predicted - half, predicted + half))
        return out

    # -- the streaming contract ----------------------------------------------------------
    def score_one(self, t: int, x: Any) -> Verdict:
        value = float(x)
        if not math.isfinite(value) or self._coef is None:
            return Verdict(math.nan, False, dict(_NOT_YET))
        predicted, sigma = self._predict(), self._sigma()
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
        if self._coef is not None:
            predicted = self._predict()
            residual = value - predicted
            sigma = self._sigma()
            outlier = sigma > 0 and abs(residual) > self.z * sigma or sigma == 0 and residual != 0
            self._advance(predicted if self.robust and outlier else value)
            self._errors.append(residual)
        self._values.append(value)
        self._since_fit += 1
        due = self._coef is None and len(self._values) == self.history
        if due or (self.refit_every and self._coef is not None and self._since_fit >= self.refit_every):
            self._fit()

    # -- snapshots ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "params": self.params(), "values": list(self._values), "errors": list(self._errors),
            "coef": list(self._coef) if self._coef is not None else None, "level": self._level,
            "slope": self._slope, "season": list(self._season), "since_fit": self._since_fit,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> HoltWinters:
        detector = cls(**state["params"])
        values = [float(v) for v in state["values"]]
        errors = [float(e) for e in state["errors"]]
        season = [float(s) for s in state["season"]]
        coef = state["coef"]
        numbers = [*values, *errors, *season, float(state["level"]), float(state["slope"])]
        if len(values) > detector.history or len(errors) > detector.history or not all(map(math.isfinite, numbers)):
            raise ValueError("forecast state does not fit its parameters")
        if coef is not None and (len(coef) != 3 or len(season) != detector.season):
            raise ValueError("forecast state has a malformed model")
        detector._values.extend(values)
        detector._errors.extend(errors)
        detector._season.extend(season)
        detector._coef = None if coef is None else (float(coef[0]), float(coef[1]), float(coef[2]))
        detector._level, detector._slope = float(state["level"]), float(state["slope"])
        detector._since_fit = int(state["since_fit"])
        return detector
