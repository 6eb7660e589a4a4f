"""Z-score against a rolling or an exponentially weighted mean and standard deviation."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["ZScore"]

# A spread this small relative to the mean is below what a window of float updates can
# resolve (each add/remove rounds at ~1e-16), so such a window counts as constant.
_CONSTANT_RTOL = 1e-12
# Recompute the rolling sums exactly once the squared deviations have shrunk below this
# fraction of their recent peak: the rounding left by the large values that went out of
# the window would otherwise dominate what remains.
_CANCELLATION = 1e-3


class ZScore(Detector):
    """Distance of ``x`` from the mean of past values, in standard deviations.

    Parameters
    ----------
    See ``parameters`` (one declaration gives the constructor, the ``@zscore()``
    options and the docs). ``mode="rolling"``: mean and (population) standard
    deviation of the last ``window`` values, kept with Welford add/remove updates
    around a recent mean and recomputed exactly every ``window`` updates or when
    cancellation threatens. ``mode="ewma"``: exponentially weighted mean and
    variance, ``alpha`` being the weight of the newest value (``window`` unused).
    An absolute z-score above ``threshold`` is an anomaly; until ``min_periods``
    values have been learned the score is NaN.

    Notes
    -----
    The score is ``|x - mean| / std`` of the past values (``x`` not included).
    When ``std <= 1e-12 * |mean|`` the past is taken as constant: ``x`` within that
    tolerance of the mean scores 0, anything else ``inf``. With ``alpha=1`` the EWMA
    remembers only the last value, so its spread is always 0. NaN and infinite
    values are not learned; their verdict has a NaN score and is not an anomaly.

    ``details``: ``mean``, ``std`` and the signed ``zscore``; NaN while warming up
    or for a non-finite value.

    Examples
    --------
    >>> detector = ZScore(window=10, min_periods=4)
    >>> for i, x in enumerate([1.0, 3.0, 1.0, 3.0]):
    ...     _ = detector.update(i, x)
    >>> verdict = detector.update(4, -2.0)
    >>> verdict.details["zscore"], verdict.is_anomaly
    (-4.0, True)
    >>> ZScore(mode="ewma", alpha=0.5, min_periods=2).update(0, 1.0).score
    nan
    """

    name: ClassVar[str] = "zscore"
    parameters: ClassVar[ParamSet] = ParamSet(
        mode=Param.choice("rolling", ("rolling", "ewma"),
                          "'rolling' (window of past values) or 'ewma' (exponentially weighted)."),
        window=Param.integer(100, "Past values in the rolling window (mode 'rolling').", low=2, high=MAX_WINDOW),
        alpha=Param.number(0.1, "EWMA weight of the newest value (mode 'ewma').", low=0, high=1, closed="right"),
        threshold=Param.number(3.0, "Anomaly when the absolute z-score exceeds this.", low=0, closed="neither"),
        min_periods=Param.integer(10, "Values needed before scoring starts (at most window in mode 'rolling').",
                                  low=2, high=MAX_WINDOW),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"window": 5, "min_periods": 10},)
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = ({}, {"mode": "ewma", "alpha": 0.05})

    mode: str
    window: int
    alpha: float
    threshold: float
    min_periods: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        window = self.window
        self._values: deque[float] = deque(maxlen=window)  # rolling mode only
        self._shift = 0.0  # rolling: the sums are kept for x - shift (ewma: stays 0)
        self._mean = 0.0  # of x - shift
        self._m2 = 0.0  # rolling: sum of squared deviations; ewma: the variance itself
        self._peak = 0.0  # largest rolling m2 since the last exact recompute
        self._updates = 0  # rolling updates since the last exact recompute
        self._seen = 0  # values learned, capped at min_periods (all we need to know)

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        if values["mode"] == "rolling" and values["min_periods"] > values["window"]:
            raise InvalidParameterError(
                f"min_periods must be <= window ({values['window']}) in rolling mode, got {values['min_periods']}"
            )

    def _std(self) -> float:
        if self.mode == "ewma":
            return math.sqrt(self._m2)
        return math.sqrt(self._m2 / len(self._values))

    def score_one(self, t: int, x: Any) -> Verdict:
        x = float(x)
        if not math.isfinite(x) or self._seen < self.min_periods:
            return Verdict(math.nan, False, {"mean": math.nan, "std": math.nan, "zscore": math.nan})
        mean, std = self._shift + self._mean, self._std()
        deviation = (x - self._shift) - self._mean
        tolerance = _CONSTANT_RTOL * abs(mean)
        if std > tolerance:
            zscore = deviation / std
        elif abs(deviation) <= tolerance:
            zscore = 0.0
        else:
            zscore = math.copysign(math.inf, deviation)
        details = {"mean": mean, "std": std, "zscore": zscore}
        return Verdict(abs(zscore), abs(zscore) > self.threshold, details)

    def learn_one(self, t: int, x: Any) -> None:
        x = float(x)
        if not math.isfinite(x):
            return
        if self.mode == "ewma":
            self._learn_ewma(x)
        else:
            self._learn_rolling(x)
        self._seen = min(self._seen + 1, self.min_periods)

    def _learn_ewma(self, x: float) -> None:
        if self._seen == 0:
            self._mean, self._m2 = x, 0.0
            return
        # West's weighted update: equals the exponentially weighted variance of all
        # values seen, the first one carrying the weight of everything before it.
        diff = x - self._mean
        increment = self.alpha * diff
        self._mean += increment
        self._m2 = (1.0 - self.alpha) * (self._m2 + diff * increment)

    def _learn_rolling(self, x: float) -> None:
        # Welford add/remove on x - shift, the shift being a recent mean: a large offset
        # with a small spread (1e6 +- 0.01) would otherwise cost most of the digits.
        if not self._values:
            self._shift = x
        if len(self._values) == self.window:
            old = self._values.popleft() - self._shift  # window >= 2: some value remains
            delta = old - self._mean
            self._mean -= delta / len(self._values)
            self._m2 -= delta * (old - self._mean)
        self._values.append(x)
        y = x - self._shift
        delta = y - self._mean
        self._mean += delta / len(self._values)
        self._m2 = max(self._m2 + delta * (y - self._mean), 0.0)
        self._peak = max(self._peak, self._m2)
        self._updates += 1
        if self._updates >= self.window or self._m2 < _CANCELLATION * self._peak:
            values = np.fromiter(self._values, dtype=float, count=len(self._values))
            self._shift = float(values.mean())
            centred = values - self._shift
            self._mean = float(centred.mean())
            self._m2 = float(np.sum((centred - self._mean) ** 2))
            self._peak, self._updates = self._m2, 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "params": self.params(),
            "values": list(self._values),
            "shift": self._shift,
            "mean": self._mean,
            "m2": self._m2,
            "peak": self._peak,
            "updates": self._updates,
            "seen": self._seen,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ZScore:
        detector = cls(**state["params"])
        detector._values.extend(float(v) for v in state["values"])
        detector._shift = float(state["shift"])
        detector._mean = float(state["mean"])
        detector._m2 = float(state["m2"])
        detector._peak = float(state["peak"])
        detector._updates = int(state["updates"])
        detector._seen = int(state["seen"])
        numbers = (detector._shift, detector._mean, detector._m2, detector._peak)
        if not all(map(math.isfinite, numbers)) or detector._m2 < 0 or detector._peak < 0 or detector._updates < 0:
            raise ValueError("zscore state holds impossible sums")
        if not 0 <= detector._seen <= detector.min_periods or (
            detector.mode == "rolling" and detector._seen > len(detector._values)
        ):
            raise ValueError(f"zscore state has seen {detector._seen} values, which its window does not hold")
        return detector
