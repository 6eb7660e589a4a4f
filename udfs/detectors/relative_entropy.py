"""Relative entropy of the recent window's histogram against learned hypotheses (after Wang et al. 2011)."""

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

__all__ = ["RelativeEntropy"]


class RelativeEntropy(Detector):
    """Does the histogram of the last ``window`` values match any histogram seen before?

    After Wang et al. (2011), the relative entropy detector of NAB, written from the
    paper and NAB's description of it. The last ``window`` values (the current one
    included) are counted into ``bins`` equal bins over ``[min, max]`` (given, or the
    range seen so far): the empirical distribution ``P``. Each stored *hypothesis*
    ``Q`` is an earlier window's histogram; ``2 W KL(P || Q)`` follows a chi-squared
    law with ``bins - 1`` degrees of freedom if the window was drawn from ``Q``. The
    score is that law's CDF at the smallest statistic over the hypotheses (1 - the
    p-value of the best match). The first full window is the first hypothesis. A score of at least
    ``1 - significance`` rejects every hypothesis: the window becomes a new one and
    the value an anomaly. Otherwise the best hypothesis is matched once more, and the
    value is an anomaly while that hypothesis has been matched fewer than
    ``min_count`` times. At most ``max_hypotheses`` are kept, the least matched (then
    the oldest) dropped.

    Notes
    -----
    A hypothesis's zero bins would make ``KL`` infinite for a window with a value
    there, so ``Q`` adds half a count to every bin (Jeffreys' prior) before it is
    normalised; ``P`` is used as counted. A learned range widens as values arrive, so
    bins of early hypotheses and later windows differ; give ``min`` and ``max`` when
    the range is known (NAB gives its detectors the file's range). Until a window
    has been learned as the first hypothesis the score is NaN. NaN and infinite values are not learned and score NaN.
    ``details``: ``statistic`` (the smallest ``2 W KL``), ``hypotheses`` (kept).

    Examples
    --------
    >>> detector = RelativeEntropy(window=20, bins=4, min=0.0, max=4.0)
    >>> for i in range(200):
    ...     _ = detector.update(i, [0.5, 1.5][i % 2])
    >>> detector.update(200, 0.5).is_anomaly
    False
    >>> [detector.update(i, 3.5).is_anomaly for i in range(201, 206)]  # the window fills with 3.5
    [False, False, False, True, False]
    >>> detector.update(206, 3.5).details["hypotheses"]  # the window at 204 became a hypothesis
    2
    """

    name: ClassVar[str] = "relative_entropy"
    parameters: ClassVar[ParamSet] = ParamSet(
        window=Param.integer(52, "Values in the histogram of the recent window (NAB uses 52).", low=2,
                             high=MAX_WINDOW),
        bins=Param.integer(5, "Histogram bins over the range.", low=2, high=1000),
        min=Param.number(None, "Lowest expected value (none: the lowest seen so far).", optional=True),
        max=Param.number(None, "Highest expected value (none: the highest seen so far).", optional=True),
        significance=Param.number(0.01, "Chi-squared test level below which a hypothesis is rejected.", low=0,
                                  high=1, closed="neither"),
        min_count=Param.integer(1, "Anomaly while the matched hypothesis has fewer matches than this.", low=1,
                                high=MAX_WINDOW),
        max_hypotheses=Param.integer(50, "Hypotheses kept (the least matched dropped).", low=1, high=10_000),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"min": 5.0, "max": 1.0},)
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = ({"window": 20, "max_hypotheses": 1},)
    #: Parameters a benchmark that knows the series' range passes (as NAB does).
    value_range_params: ClassVar[tuple[str, str]] = ("min", "max")

    window: int
    bins: int
    min: float | None
    max: float | None
    significance: float
    min_count: int
    max_hypotheses: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._values: deque[float] = deque(maxlen=self.window - 1)  # the window without the next value
        self._low = math.inf
        self._high = -math.inf
        self._hypotheses: list[np.ndarray] = []  # bin counts of earlier windows
        self._matches: list[int] = []

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        low, high = values["min"], values["max"]
        if low is not None and high is not None and not low < high:
            raise InvalidParameterError(f"min must be < max ({high}), got {low}")

    def _histogram(self, x: float) -> np.ndarray:
        low = self.min if self.min is not None else min(self._low, x)
        high = self.max if self.max is not None else max(self._high, x)
        values = np.append(np.fromiter(self._values, np.float64, len(self._values)), x)
        if not high > low:
            index = np.zeros(len(values), dtype=np.int64)
        else:
            index = np.clip(((values - low) * (self.bins / (high - low))).astype(np.int64), 0, self.bins - 1)
        return np.bincount(index, minlength=self.bins).astype(np.float64)

    def _best(self, counts: np.ndarray) -> tuple[int, float]:
        """Index of the closest hypothesis (-1 for none) and its statistic ``2 W KL(P || Q)``."""
        if not self._hypotheses:
            return -1, math.inf
        p = counts / counts.sum()
        seen = p > 0
        q = np.array(self._hypotheses) + 0.5
        q /= q.sum(axis=1, keepdims=True)
        kl = (p[seen] * np.log(p[seen] / q[:, seen])).sum(axis=1)
        best = int(np.argmin(kl))
        return best, float(2.0 * self.window * max(kl[best], 0.0))

    def _score(self, statistic: float) -> float:
        from scipy.special import gammainc  # scipy on first use, not at import

        return 1.0 if math.isinf(statistic) else float(gammainc((self.bins - 1) / 2.0, statistic / 2.0))

    def score_one(self, t: int, x: Any) -> Verdict:
        x = float(x)
        if not math.isfinite(x) or len(self._values) < self.window - 1 or not self._hypotheses:
            return Verdict(math.nan, False, {"statistic": math.nan, "hypotheses": len(self._hypotheses)})
        best, statistic = self._best(self._histogram(x))
        score = self._score(statistic)
        anomaly = score >= 1.0 - self.significance or self._matches[best] < self.min_count
        return Verdict(score, anomaly, {"statistic": statistic, "hypotheses": len(self._hypotheses)})

    def learn_one(self, t: int, x: Any) -> None:
        x = float(x)
        if not math.isfinite(x):
            return
        if len(self._values) == self.window - 1:
            counts = self._histogram(x)
            best, statistic = self._best(counts)
            if self._score(statistic) >= 1.0 - self.significance:
                self._hypotheses.append(counts)
                self._matches.append(1)
                if len(self._hypotheses) > self.max_hypotheses:
                    drop = int(np.argmin(self._matches))  # the first of the least matched: the oldest
                    del self._hypotheses[drop], self._matches[drop]
            else:
                self._matches[best] += 1
        self._values.append(x)
        self._low, self._high = min(self._low, x), max(self._high, x)

    def state_dict(self) -> dict[str, Any]:
        return {
            "params": self.params(),
            "values": list(self._values),
            "range": [self._low, self._high] if self._low <= self._high else None,
            "hypotheses": [[int(c) for c in h] for h in self._hypotheses],
            "matches": list(self._matches),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RelativeEntropy:
        detector = cls(**state["params"])
        detector._values.extend(float(v) for v in state["values"])
        if state["range"] is not None:
            detector._low, detector._high = (float(v) for v in state["range"])
        detector._hypotheses = [np.array(h, dtype=np.float64) for h in state["hypotheses"]]
        detector._matches = [int(m) for m in state["matches"]]
        if len(detector._matches) != len(detector._hypotheses) or len(detector._hypotheses) > detector.max_hypotheses:
            raise ValueError("relative_entropy state has not one match count per hypothesis")
        return detector
