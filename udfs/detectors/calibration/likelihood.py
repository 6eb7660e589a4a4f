"""Numenta's anomaly likelihood over any detector's raw scores (Ahmad et al. 2017)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

from udfs.detectors._float_ring import FloatRing
from udfs.detectors.calibration.base import LEARNING, Calibration, Calibrator
from udfs.detectors.calibration.parameters import CALIBRATION_PARAMETERS as _P
from udfs.params.declaration import ParamSet

__all__ = ["AnomalyLikelihood"]

#: Re-estimate the long-term distribution every this many scores (Numenta's reestimationPeriod).
REESTIMATION_PERIOD = 100
#: Numenta's variance floor, scaled up for scores far from [0, 1].
_MIN_STD = math.sqrt(1.5e-5)


class AnomalyLikelihood(Calibrator):
    """Tail probability of the short-term mean of the raw scores under their long-term distribution.

    Following Ahmad et al. (2017) and Numenta's ``anomaly_likelihood.py``: the mean of
    the last ``short_window`` raw scores (the newest included) is judged against a
    normal distribution fitted to the same moving mean over the last
    ``historic_window`` scores, re-estimated every 100 scores. The likelihood is
    ``L = 1 - Q((m - mu) / sigma)``; the calibrated score is its log form
    ``log(1 - L + 1e-10) / log(1e-10)`` and an alert is ``1 - L <= risk``. Nothing is
    judged during the first ``learning_period`` scores.

    Two choices differ from Numenta's code: the tail is one-sided (a mean *below* the
    usual level is not an anomaly, since a higher raw score means more anomalous here),
    and the variance floor ``1.5e-5`` is scaled by ``max(1, |mu|)`` because raw scores
    here are not confined to [0, 1].

    Examples
    --------
    >>> calibrator = AnomalyLikelihood(learning_period=50, short_window=1)
    >>> for i in range(200):
    ...     _ = calibrator.update(i, 1.0 + 0.1 * (i % 7))
    >>> calibrator.score_one(200, 1.3).alert, calibrator.score_one(200, 9.0).alert
    (False, True)
    >>> round(calibrator.score_one(200, 9.0).value, 2)
    1.0
    """

    name: ClassVar[str] = "likelihood"
    parameters: ClassVar[ParamSet] = ParamSet(
        risk=_P["risk"], learning_period=_P["learning_period"], short_window=_P["short_window"],
        historic_window=_P["historic_window"],
    )
    learning_period: int
    short_window: int
    historic_window: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._seen = 0
        self._recent: deque[float] = deque(maxlen=self.short_window)
        # Raw doubles: up to historic_window (8,640) per group, most of a calibrated UDF's memory.
        self._averages = FloatRing(self.historic_window)
        self._mean = math.nan
        self._std = math.nan
        self._since_estimate = 0

    def _short_mean(self, raw: float) -> float:
        recent = list(self._recent)[1:] if len(self._recent) == self.short_window else list(self._recent)
        return (sum(recent) + raw) / (len(recent) + 1)

    def score_one(self, t: int, raw: float) -> Calibration:
        if not math.isfinite(raw) or self._seen < self.learning_period or math.isnan(self._mean):
            return LEARNING
        z = (self._short_mean(raw) - self._mean) / self._std
        return self._verdict(0.5 * math.erfc(z / math.sqrt(2.0)))

    def learn_one(self, t: int, raw: float) -> None:
        if not math.isfinite(raw):
            return
        average = self._short_mean(raw)
        self._recent.append(raw)
        self._averages.append(average)
        self._seen += 1
        self._since_estimate += 1
        if self._seen >= self.learning_period and (
            math.isnan(self._mean) or self._since_estimate >= REESTIMATION_PERIOD
        ):
            self._estimate()

    def _estimate(self) -> None:
        values = list(self._averages)
        mean = math.fsum(values) / len(values)
        variance = math.fsum((v - mean) ** 2 for v in values) / len(values)
        self._mean = mean
        self._std = max(math.sqrt(variance), _MIN_STD * max(1.0, abs(mean)))
        self._since_estimate = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "params": self.params(), "seen": self._seen, "recent": list(self._recent),
            "averages": list(self._averages), "mean": self._mean, "std": self._std,
            "since_estimate": self._since_estimate,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> AnomalyLikelihood:
        calibrator = cls(**state["params"])
        calibrator._seen = int(state["seen"])
        calibrator._recent.extend(float(v) for v in state["recent"])
        calibrator._averages.extend(float(v) for v in state["averages"])
        calibrator._mean = float(state["mean"])
        calibrator._std = float(state["std"])
        calibrator._since_estimate = int(state["since_estimate"])
        return calibrator
