"""Two-window distribution shift: Kolmogorov-Smirnov test and Jensen-Shannon distance."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from udfs.detectors.base import Detector, Verdict
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["DistributionShift", "jensen_shannon"]


def jensen_shannon(a: np.ndarray, b: np.ndarray, bins: int) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of the histograms of ``a`` and ``b`` on shared bins.

    Examples
    --------
    >>> round(jensen_shannon(np.zeros(10), np.ones(10), 4), 6)
    1.0
    >>> jensen_shannon(np.arange(10.0), np.arange(10.0), 4)
    0.0
    """
    low = min(float(a.min()), float(b.min()))
    high = max(float(a.max()), float(b.max()))
    if high == low:
        return 0.0
    p = np.histogram(a, bins=bins, range=(low, high))[0] / len(a)
    q = np.histogram(b, bins=bins, range=(low, high))[0] / len(b)
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / m[mask])))

    return math.sqrt(max(0.0, (kl(p) + kl(q)) / 2))


class DistributionShift(Detector):
    """Whether the last ``recent`` values come from another distribution than the ``reference`` before them.

    Two adjacent windows slide over the series: the reference (older) one and the
    recent one, the new value included. The two-sample Kolmogorov-Smirnov test
    (scipy, asymptotic p-value) gives a p-value; the Jensen-Shannon distance of their histograms
    (``bins`` shared bins) says how different they are. A shift is flagged where
    the KS p-value falls below ``alpha`` *and* the distance is at least
    ``min_distance``, at the point where the condition starts: it then holds for
    about ``recent`` points while the shift passes through the windows, and flags
    again only after it has cleared. Latency whose spread or shape changes while its
    mean does not (a path change to a jittery link) is what this catches and a
    z-score misses.

    Score ``-log10(p)`` of the KS test (0 for identical windows; >= 4 means p <=
    1e-4); ``details``: ``ks_statistic``, ``p_value``, ``js_distance``. NaN until
    both windows are full. Non-finite values are neither scored nor learned.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> detector = DistributionShift(reference=100, recent=30)
    >>> flags = [detector.update(i, x).is_anomaly for i, x in enumerate(rng.normal(0, 1, 200))]
    >>> flags += [detector.update(200 + i, x).is_anomaly for i, x in enumerate(rng.normal(0, 5, 60))]
    >>> sum(flags[:200]), sum(flags[200:])
    (0, 1)
    """

    name: ClassVar[str] = "distribution_shift"
    parameters: ClassVar[ParamSet] = ParamSet(
        reference=Param.integer(200, "Values in the older (reference) window.", low=5, high=MAX_WINDOW),
        recent=Param.integer(30, "Values in the recent window (the new one included).", low=5, high=MAX_WINDOW),
        alpha=Param.number(1e-4, "A shift needs a KS p-value below this.", low=0, high=1, closed="neither"),
        min_distance=Param.number(0.3, "... and a Jensen-Shannon distance (0-1) of at least this.", low=0, high=1),
        bins=Param.integer(10, "Histogram bins for the Jensen-Shannon distance.", low=2, high=10_000),
    )
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"reference": 70, "recent": 30}, {"reference": 70, "recent": 30, "min_distance": 0.0},
    )

    reference: int
    recent: int
    alpha: float
    min_distance: float
    bins: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._values: deque[float] = deque(maxlen=self.reference + self.recent - 1)
        self._active = False

    def _judge(self, x: float) -> tuple[float, dict[str, float], bool]:
        from scipy import stats  # on first use: Info must not wait for scipy

        values = np.append(np.fromiter(self._values, float, len(self._values)), x)
        ref, new = values[: self.reference], values[self.reference:]
        result = stats.ks_2samp(ref, new, method="asymp")  # the exact method costs ~10x more per point
        p = float(result.pvalue)
        distance = jensen_shannon(ref, new, self.bins)
        shifted = p < self.alpha and distance >= self.min_distance
        score = -math.log10(max(p, 1e-300))
        return score, {"ks_statistic": float(result.statistic), "p_value": p, "js_distance": distance}, shifted

    def score_one(self, t: int, x: Any) -> Verdict:
        value = float(x)
        if not math.isfinite(value) or len(self._values) < self._values.maxlen:  # type: ignore[operator]
            return Verdict(math.nan, False, {"ks_statistic": math.nan, "p_value": math.nan, "js_distance": math.nan})
        score, details, shifted = self._judge(value)
        return Verdict(score, shifted and not self._active, details)

    def learn_one(self, t: int, x: Any) -> None:
        value = float(x)
        if not math.isfinite(value):
            return
        if len(self._values) == self._values.maxlen:
            self._active = self._judge(value)[2]
        self._values.append(value)

    def update(self, t: int, x: Any) -> Verdict:
        # One KS test per point instead of two (score_one, then learn_one's).
        value = float(x)
        verdict = self.score_one(t, value)
        if math.isfinite(value):
            if not math.isnan(verdict.score):
                self._active = bool(verdict.details["p_value"] < self.alpha
                                    and verdict.details["js_distance"] >= self.min_distance)
            self._values.append(value)
        return verdict

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "values": list(self._values), "active": self._active}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> DistributionShift:
        detector = cls(**state["params"])
        values = [float(v) for v in state["values"]]
        if len(values) > detector.reference + detector.recent - 1 or not all(math.isfinite(v) for v in values):
            raise ValueError("values do not fit the windows")
        detector._values.extend(values)
        detector._active = bool(state["active"])
        return detector
