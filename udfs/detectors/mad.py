"""Robust z-score from the median and the median absolute deviation of a rolling window."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from udfs.detectors.base import Detector, Verdict
from udfs.validation import Constraint, Interval, InvalidParameterError

__all__ = ["MedianAbsoluteDeviation"]

# Makes the MAD of normally distributed data estimate its standard deviation, so the
# threshold reads like a z-score threshold (Iglewicz and Hoaglin's 3.5).
_NORMAL_CONSISTENCY = 1.4826


class MedianAbsoluteDeviation(Detector):
    """Robust z-score against the median and MAD of the last ``window`` values.

    The score of ``x`` is ``|x - median| / (1.4826 * MAD)`` over the window of
    past values (``x`` itself is not in it). Median and MAD ignore a minority of
    outliers, so a burst of spikes does not hide the next one.

    Parameters
    ----------
    window : int, default 100
        How many past values to keep (>= 3).
    threshold : float, default 3.5
        A score above this is an anomaly.
    min_periods : int, default 10
        How many values the window must hold before scoring (1 to ``window``);
        before that the score is NaN and nothing is an anomaly.

    Notes
    -----
    A window whose MAD is 0 (more than half its values equal) scores 0 for a value
    equal to the median and ``inf`` for any other: any departure from a constant
    is infinitely many deviations away. NaN and infinite values are not learned;
    their verdict has a NaN score and is not an anomaly.

    ``details``: ``median`` and ``mad`` (unscaled) of the window; NaN while
    warming up or for a non-finite value.

    Examples
    --------
    >>> detector = MedianAbsoluteDeviation(window=20, min_periods=5)
    >>> for i, x in enumerate([10.0, 11.0, 10.0, 9.0, 10.0, 11.0, 9.0]):
    ...     _ = detector.update(i, x)
    >>> verdict = detector.update(7, 30.0)
    >>> verdict.is_anomaly, round(verdict.score, 2), verdict.details["median"]
    (True, 13.49, 10.0)
    >>> detector.update(8, 10.5).is_anomaly
    False
    """

    name: ClassVar[str] = "mad"
    parameter_constraints: ClassVar[Mapping[str, Constraint]] = {
        "window": Interval(int, 3, None),
        "threshold": Interval(float, 0, None, closed="neither"),
        "min_periods": Interval(int, 1, None),
    }
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"window": 5, "min_periods": 10},)

    def __init__(self, *, window: int = 100, threshold: float = 3.5, min_periods: int = 10) -> None:
        self._validate(window=window, threshold=threshold, min_periods=min_periods)
        if min_periods > window:
            raise InvalidParameterError(
                f"min_periods must be <= window ({window}), got {min_periods}"
            )
        self.window = window
        self.threshold = float(threshold)
        self.min_periods = min_periods
        self._values: deque[float] = deque(maxlen=window)

    def params(self) -> dict[str, Any]:
        return {"window": self.window, "threshold": self.threshold, "min_periods": self.min_periods}

    def score_one(self, t: int, x: Any) -> Verdict:
        x = float(x)
        if not math.isfinite(x) or len(self._values) < self.min_periods:
            return Verdict(math.nan, False, {"median": math.nan, "mad": math.nan})
        values = np.fromiter(self._values, dtype=float, count=len(self._values))
        median = float(np.median(values))
        mad = float(np.median(np.abs(values - median)))
        deviation = abs(x - median)
        if mad > 0:
            score = deviation / (_NORMAL_CONSISTENCY * mad)
        else:
            score = 0.0 if deviation == 0 else math.inf
        return Verdict(score, score > self.threshold, {"median": median, "mad": mad})

    def learn_one(self, t: int, x: Any) -> None:
        x = float(x)
        if math.isfinite(x):
            self._values.append(x)

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "values": list(self._values)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> MedianAbsoluteDeviation:
        detector = cls(**state["params"])
        detector._values.extend(float(v) for v in state["values"])
        return detector
