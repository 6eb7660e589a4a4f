"""Two-sided CUSUM level-shift detection against a robust baseline that re-learns after each change."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any, ClassVar

from udfs.detectors.base import Detector, Verdict
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["Cusum"]

_MAD_TO_SIGMA = 1.4826


class Cusum(Detector):
    """Page's two-sided CUSUM on values standardised by a baseline learned from ``warmup`` points.

    The baseline is the median and ``1.4826 * MAD`` of the first ``warmup`` values
    (robust to a few spikes among them; the mean absolute deviation, then 1e-9 of
    the level, stand in for a MAD of 0). Each later value ``x`` gives
    ``z = (x - median) / sigma``, clipped to ``[-clip, clip]`` so that a single spike
    cannot reach the threshold alone (with the defaults a shift needs 5 points in a
    row), and updates ``S+ = max(0, S+ + z - drift)`` and
    ``S- = max(0, S- - z - drift)``; a change is declared when either reaches
    ``threshold``. Then the sums reset and a new baseline is learned from the next
    ``warmup`` values, so a level shift is flagged once, not at every point after it
    (what a network operator wants from a changepoint detector, as in Streamevmon).

    Score ``max(S+, S-) / threshold`` (>= 1 at a change; NaN while learning a
    baseline); ``details``: ``direction`` (1 up, -1 down, 0), ``baseline`` and
    ``sigma``. Non-finite values are neither scored nor learned.

    Examples
    --------
    >>> detector = Cusum(warmup=10, drift=0.5, threshold=5.0, clip=10.0)
    >>> values = [10.0, 10.2, 9.9, 10.1, 9.8, 10.0, 10.3, 9.7, 10.1, 9.9] + [12.0] * 5
    >>> [detector.update(i, x).is_anomaly for i, x in enumerate(values)][10:]
    [True, False, False, False, False]
    """

    name: ClassVar[str] = "changepoint"
    parameters: ClassVar[ParamSet] = ParamSet(
        warmup=Param.integer(100, "Values the baseline (median, MAD) is learned from, again after each change.",
                             low=3, high=MAX_WINDOW),
        drift=Param.number(1.0, "Allowance k per value, in baseline sigmas (half the smallest shift to catch).",
                           low=0),
        threshold=Param.number(10.0, "Decision interval h: a change when a cumulative sum reaches this.",
                               low=0, closed="neither"),
        clip=Param.number(3.0, "Each standardised value counts at most this much (one spike is no change).",
                          low=0, closed="neither"),
    )
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"warmup": 50}, {"warmup": 50, "drift": 0.0, "clip": 100.0},
    )

    warmup: int
    drift: float
    threshold: float
    clip: float

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._learning: list[float] = []
        self._baseline = math.nan
        self._sigma = math.nan
        self._up = 0.0
        self._down = 0.0

    def _sums(self, x: float) -> tuple[float, float]:
        z = min(max((x - self._baseline) / self._sigma, -self.clip), self.clip)
        return max(0.0, self._up + z - self.drift), max(0.0, self._down - z - self.drift)

    def score_one(self, t: int, x: Any) -> Verdict:
        value = float(x)
        if not math.isfinite(value) or math.isnan(self._baseline):
            return Verdict(math.nan, False, {"direction": 0, "baseline": self._baseline, "sigma": self._sigma})
        up, down = self._sums(value)
        score = max(up, down) / self.threshold
        direction = (1 if up >= down else -1) if score >= 1 else 0
        return Verdict(score, score >= 1, {"direction": direction, "baseline": self._baseline, "sigma": self._sigma})

    def learn_one(self, t: int, x: Any) -> None:
        value = float(x)
        if not math.isfinite(value):
            return
        if math.isnan(self._baseline):
            self._learning.append(value)
            if len(self._learning) == self.warmup:
                self._set_baseline()
            return
        self._up, self._down = self._sums(value)
        if max(self._up, self._down) >= self.threshold:  # a change: learn the new level
            self._baseline = self._sigma = math.nan
            self._up = self._down = 0.0

    def _set_baseline(self) -> None:
        values = self._learning
        median = statistics.median(values)
        mad = statistics.median(abs(v - median) for v in values)
        sigma = _MAD_TO_SIGMA * mad
        if sigma == 0:
            sigma = 1.2533 * math.fsum(abs(v - median) for v in values) / len(values)
        if sigma == 0:
            sigma = max(abs(median) * 1e-9, 1e-12)
        self._baseline, self._sigma = median, sigma
        self._learning = []

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "learning": list(self._learning), "baseline": self._baseline,
                "sigma": self._sigma, "up": self._up, "down": self._down}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Cusum:
        detector = cls(**state["params"])
        learning = [float(v) for v in state["learning"]]
        baseline, sigma = float(state["baseline"]), float(state["sigma"])
        up, down = float(state["up"]), float(state["down"])
        if len(learning) >= detector.warmup or math.isnan(baseline) != math.isnan(sigma) or (
            not math.isnan(sigma) and not sigma > 0) or not (up >= 0 and down >= 0):
            raise ValueError("malformed changepoint state")
        if learning and not math.isnan(baseline):
            raise ValueError("changepoint state both learning and judging")
        detector._learning, detector._baseline, detector._sigma = learning, baseline, sigma
        detector._up, detector._down = up, down
        return detector
