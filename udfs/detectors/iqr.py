"""Tukey's fences over a rolling window, or over a whole batch at once."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from udfs.detectors.base import Detector, Verdict
from udfs.validation import Constraint, Interval, InvalidParameterError, check_param

__all__ = ["InterquartileRange"]


def _not_scored() -> Verdict:
    # A fresh details dict each time: a caller that edits one must not edit them all.
    return Verdict(math.nan, False, {"q1": math.nan, "q3": math.nan, "lower": math.nan, "upper": math.nan})


def _quartiles(values: np.ndarray) -> tuple[float, float]:
    q1, q3 = np.percentile(values, [25.0, 75.0], method="linear")
    return float(q1), float(q3)


def _fence_verdict(x: float, q1: float, q3: float, k: float, threshold: float) -> Verdict:
    iqr = q3 - q1
    lower, upper = q1 - k * iqr, q3 + k * iqr
    outside = lower - x if x < lower else x - upper if x > upper else 0.0
    if outside == 0.0:
        score = 0.0
    elif iqr > 0:
        score = outside / iqr
    else:
        # Half the data or more sit on one value: any departure is infinitely many IQRs out.
        score = math.inf
    details = {"q1": q1, "q3": q3, "lower": lower, "upper": upper}
    return Verdict(score, score > threshold, details)


class InterquartileRange(Detector):
    """Tukey's fences ``[q1 - k*IQR, q3 + k*IQR]`` over the last ``window`` values.

    The quartiles are numpy's linear-interpolation percentiles of the window of
    past values (``x`` itself is not in it). The score is how far ``x`` lies
    outside the fences, in IQRs: 0 inside, 0.5 half an IQR beyond a fence.

    Parameters
    ----------
    window : int, default 100
        How many past values to keep (>= 3).
    k : float, default 1.5
        Fence width in IQRs (> 0); Tukey's 1.5 for "outlier", 3 for "far out".
    threshold : float, default 0.0
        A score above this is an anomaly; 0 flags every value outside the fences.
    min_periods : int, default 10
        How many values the window must hold before scoring (1 to ``window``);
        before that the score is NaN and nothing is an anomaly.

    Notes
    -----
    When the IQR is 0 the fences collapse onto the common value: a value on it
    scores 0 and any other ``inf``. NaN and infinite values are not learned;
    their verdict has a NaN score and is not an anomaly. :meth:`score_batch`
    scores a whole batch against fences computed over that batch.

    ``details``: ``q1``, ``q3``, ``lower`` and ``upper`` fences; NaN while warming
    up or for a non-finite value.

    Examples
    --------
    >>> detector = InterquartileRange(window=50, min_periods=4)
    >>> for i, x in enumerate([1.0, 2.0, 3.0, 4.0, 5.0]):
    ...     _ = detector.update(i, x)
    >>> verdict = detector.update(5, 12.0)
    >>> verdict.details["upper"], verdict.score, verdict.is_anomaly
    (7.0, 2.5, True)
    >>> [v.is_anomaly for v in InterquartileRange.score_batch([1.0, 2.0, 3.0, 4.0, 40.0])]
    [False, False, False, False, True]
    """

    name: ClassVar[str] = "iqr"
    parameter_constraints: ClassVar[Mapping[str, Constraint]] = {
        "window": Interval(int, 3, None),
        "k": Interval(float, 0, None, closed="neither"),
        "threshold": Interval(float, 0, None),
        "min_periods": Interval(int, 1, None),
    }
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"window": 5, "min_periods": 10},)

    def __init__(
        self, *, window: int = 100, k: float = 1.5, threshold: float = 0.0, min_periods: int = 10
    ) -> None:
        self._validate(window=window, k=k, threshold=threshold, min_periods=min_periods)
        if min_periods > window:
            raise InvalidParameterError(
                f"min_periods must be <= window ({window}), got {min_periods}"
            )
        self.window = window
        self.k = float(k)
        self.threshold = float(threshold)
        self.min_periods = min_periods
        self._values: deque[float] = deque(maxlen=window)

    def params(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "k": self.k,
            "threshold": self.threshold,
            "min_periods": self.min_periods,
        }

    def score_one(self, t: int, x: Any) -> Verdict:
        x = float(x)
        if not math.isfinite(x) or len(self._values) < self.min_periods:
            return _not_scored()
        q1, q3 = _quartiles(np.fromiter(self._values, dtype=float, count=len(self._values)))
        return _fence_verdict(x, q1, q3, self.k, self.threshold)

    def learn_one(self, t: int, x: Any) -> None:
        x = float(x)
        if math.isfinite(x):
            self._values.append(x)

    @classmethod
    def score_batch(cls, values: Iterable[Any], *, k: float = 1.5, threshold: float = 0.0) -> list[Verdict]:
        """Score every value against fences computed over the finite values of the batch.

        Parameters
        ----------
        values : iterable of float
            The batch; NaN and infinite values get a NaN score and do not move the fences.
        k, threshold : float
            As for the constructor.

        Returns
        -------
        list of Verdict
            One per value, in order; all NaN scores if the batch has no finite value.
        """
        check_param("k", k, cls.parameter_constraints["k"])
        check_param("threshold", threshold, cls.parameter_constraints["threshold"])
        batch = np.asarray([float(v) for v in values], dtype=float)
        finite = np.isfinite(batch)
        if not finite.any():
            return [_not_scored() for _ in batch]
        q1, q3 = _quartiles(batch[finite])
        return [
            _fence_verdict(float(x), q1, q3, float(k), float(threshold)) if ok else _not_scored()
            for x, ok in zip(batch, finite, strict=True)
        ]

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "values": list(self._values)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> InterquartileRange:
        detector = cls(**state["params"])
        detector._values.extend(float(v) for v in state["values"])
        return detector
