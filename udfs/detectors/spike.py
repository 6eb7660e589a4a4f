"""Smoothed z-score spike detection with lag, threshold and influence (a network latency classic)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

from udfs.detectors.base import Detector, Verdict
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["SmoothedZScore"]


class SmoothedZScore(Detector):
    """Spikes against the mean and standard deviation of a *filtered* history.

    The history holds the last ``lag`` filtered values. A value more than
    ``threshold`` standard deviations from their mean is a spike, and enters the
    history damped: ``influence * x + (1 - influence) * previous filtered value``
    (``influence=0``: spikes leave the baseline untouched; 1: they count fully). Other
    values enter as they are. The default 0.5 lets the baseline follow a level shift
    within a few points; with 0 every point after a shift is a spike for ever (use
    ``@changepoint()`` for shifts). This is the usual "smoothed z-score" peak detector
    used on latency series (Streamevmon's spike detector has the same three knobs).

    The score is ``|x - mean| / std`` of the history (``inf`` when the history is
    constant and ``x`` differs, 0 when it equals it); ``details`` has the signed
    ``zscore`` and ``direction`` (1 up, -1 down, 0 none). NaN until ``lag`` values
    are known. NaN and infinite values are neither scored nor learned.

    Examples
    --------
    >>> detector = SmoothedZScore(lag=5, threshold=3.0, influence=0.0)
    >>> for i, x in enumerate([10.0, 10.5, 9.5, 10.0, 10.2, 9.8]):
    ...     _ = detector.update(i, x)
    >>> verdict = detector.update(6, 30.0)
    >>> verdict.is_anomaly, verdict.details["direction"]
    (True, 1)
    >>> detector.update(7, 10.1).is_anomaly   # influence 0: the spike did not move the baseline
    False
    """

    name: ClassVar[str] = "spike"
    parameters: ClassVar[ParamSet] = ParamSet(
        lag=Param.integer(60, "Filtered past values the mean and deviation come from.", low=2, high=MAX_WINDOW),
        threshold=Param.number(6.0, "A spike is more than this many standard deviations away.", low=0,
                               closed="neither"),
        influence=Param.number(0.5, "Weight of a spike in the history (0: none, 1: in full).", low=0, high=1),
    )
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = ({"lag": 100}, {"lag": 100, "influence": 0.0})

    lag: int
    threshold: float
    influence: float

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._history: deque[float] = deque(maxlen=self.lag)

    def _stats(self) -> tuple[float, float]:
        n = len(self._history)
        mean = math.fsum(self._history) / n
        var = math.fsum((v - mean) ** 2 for v in self._history) / n
        return mean, math.sqrt(var)

    def _judge(self, x: float) -> tuple[float, float]:
        """(signed z-score, mean) of ``x`` against the history."""
        mean, std = self._stats()
        if std > 1e-12 * max(abs(mean), 1e-300):
            return (x - mean) / std, mean
        if abs(x - mean) <= 1e-12 * abs(mean):
            return 0.0, mean
        return math.copysign(math.inf, x - mean), mean

    def score_one(self, t: int, x: Any) -> Verdict:
        value = float(x)
        if not math.isfinite(value) or len(self._history) < self.lag:
            return Verdict(math.nan, False, {"zscore": math.nan, "direction": 0})
        z, _ = self._judge(value)
        spike = abs(z) > self.threshold
        direction = (1 if z > 0 else -1) if spike else 0
        return Verdict(abs(z), spike, {"zscore": z, "direction": direction})

    def learn_one(self, t: int, x: Any) -> None:
        value = float(x)
        if not math.isfinite(value):
            return
        if len(self._history) == self.lag:
            z, _ = self._judge(value)
            if abs(z) > self.threshold:
                value = self.influence * value + (1.0 - self.influence) * self._history[-1]
        self._history.append(value)

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "history": list(self._history)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SmoothedZScore:
        detector = cls(**state["params"])
        history = [float(v) for v in state["history"]]
        if len(history) > detector.lag or not all(math.isfinite(v) for v in history):
            raise ValueError("history does not fit lag")
        detector._history.extend(history)
        return detector
