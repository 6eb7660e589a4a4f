"""Numenta's anomaly likelihood over any detector's raw scores (Ahmad et al. 2017)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

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
    ``historic_window`` scores, re-estimated every 100 scores. The history is kept as
    summaries (count, mean, sum of squared deviations) of blocks of 100 moving means,
    combined exactly (Chan et al.): about 90 blocks instead of 8,640 values per group,
    and the window moves by whole blocks (it covers the last ``historic_window`` rounded
    down to blocks, plus the block being filled). The likelihood is
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
        # Summaries of whole blocks of moving means, and of the block being filled.
        self._blocks: deque[tuple[int, float, float]] = deque(
            maxlen=max(1, self.historic_window // REESTIMATION_PERIOD))
        self._block: tuple[int, float, float] = (0, 0.0, 0.0)
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
        self._add_average(average)
        self._seen += 1
        self._since_estimate += 1
        if self._seen >= self.learning_period and (
            math.isnan(self._mean) or self._since_estimate >= REESTIMATION_PERIOD
        ):
            self._estimate()

    def _add_average(self, average: float) -> None:
        n, mean, m2 = self._block
        n += 1
        delta = average - mean
        mean += delta / n
        self._block = (n, mean, m2 + delta * (average - mean))  # Welford
        if n == REESTIMATION_PERIOD:
            self._blocks.append(self._block)
            self._block = (0, 0.0, 0.0)

    def _estimate(self) -> None:
        n, mean, m2 = 0, 0.0, 0.0
        for n_b, mean_b, m2_b in (*self._blocks, self._block):
            if not n_b:
                continue
            total = n + n_b
            delta = mean_b - mean
            mean += delta * n_b / total
            m2 += m2_b + delta * delta * n * n_b / total
            n = total
        if not n:
            return
        variance = max(m2, 0.0) / n
        self._mean = mean
        self._std = max(math.sqrt(variance), _MIN_STD * max(1.0, abs(mean)))
        self._since_estimate = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "params": self.params(), "seen": self._seen, "recent": list(self._recent),
            "blocks": [list(b) for b in self._blocks], "block": list(self._block),
            "mean": self._mean, "std": self._std,
            "since_estimate": self._since_estimate,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> AnomalyLikelihood:
        calibrator = cls(**state["params"])
        calibrator._seen = int(state["seen"])
        calibrator._recent.extend(float(v) for v in state["recent"])
        if "averages" in state:  # a snapshot from before block summaries: fold its values in
            for value in state["averages"]:
                calibrator._add_average(float(value))
        else:
            for block in state["blocks"]:
                calibrator._blocks.append(_block(block))
            calibrator._block = _block(state["block"])
        calibrator._mean = float(state["mean"])
        calibrator._std = float(state["std"])
        calibrator._since_estimate = int(state["since_estimate"])
        return calibrator


def _block(value: Any) -> tuple[int, float, float]:
    """One block summary from a snapshot: [count, mean, m2], checked."""
    n, mean, m2 = value
    n, mean, m2 = int(n), float(mean), float(m2)
    if not 0 <= n <= REESTIMATION_PERIOD or not math.isfinite(mean) or not math.isfinite(m2) or m2 < 0:
        raise ValueError(f"bad likelihood block {value!r}")
    return n, mean, m2
