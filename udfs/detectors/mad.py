"""Robust z-score from the median and the median absolute deviation of a rolling window."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from udfs.detectors._sorted_window import MAD_CONSISTENCY, MEAN_AD_CONSISTENCY, SortedWindow
from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["MedianAbsoluteDeviation"]


class MedianAbsoluteDeviation(Detector):
    """Robust z-score against the median and MAD of the last ``window`` values.

    The score of ``x`` is ``|x - median| / spread`` over the window of ``n`` past
    values (``x`` itself is not in it), where ``spread`` is ``1.4826 * MAD`` (see
    Notes when the MAD is 0). Median and MAD ignore a minority of outliers, so a burst of spikes does not
    hide the next one.

    Parameters
    ----------
    See ``parameters`` (one declaration gives the constructor, the ``@mad()``
    options and the docs): ``window`` past values are kept; a score above
    ``threshold`` is an anomaly; until the window holds ``min_periods`` values the
    score is NaN and nothing is an anomaly.

    Notes
    -----
    The MAD is 0 as soon as more than half the window sits on one value, which
    quantised data (integer counters, temperatures to 0.1) does all the time.
    Dividing by it would put every value off the median infinitely far away, so
    ``spread`` falls back, by the usual convention for the modified z-score when
    MAD = 0, to ``1.2533 * MeanAD``: the mean absolute deviation from the median,
    times sqrt(pi/2) to estimate the standard deviation of normal data as
    ``1.4826 * MAD`` does. MeanAD is 0 only if every past value equals the median.

    For that constant window a value ``x`` equal to it scores 0. Any other is
    measured against the only spread on record, its own: ``spread`` is the mean
    absolute deviation of the window with ``x`` added, ``1.2533 * |x - median| / (n + 1)``,
    and the score is ``(n + 1) / 1.2533`` (80.6 for 100 values) whatever the size of
    the departure. It is finite rather than ``inf`` because the UDF cannot write an
    infinite ``anomaly_score`` (InfluxDB stores no infinity, so the most blatant
    anomalies would carry no score), because it grows with the evidence (a change
    after 300 equal values is more surprising than after 10), and because it
    continues the fallback without a jump: once learned, ``j`` copies of the
    departure among ``m`` window values score ``m / (1.2533 * j)`` (while ``j < m / 2``),
    so a level shift scores 80.6, 79.8, 39.9, 26.6, ... with a full window of 100.
    Such a departure is an anomaly whenever ``n + 1 > 1.2533 * threshold`` (from 4
    values at the default 3.5).

    NaN and infinite values are not learned; their verdict has a NaN score and is
    not an anomaly.

    ``details``: ``median``, ``mad`` (unscaled) and ``spread`` (the scale the score
    divides by: ``1.4826 * mad`` if ``mad`` > 0, else a fallback above; 0 for a value
    on a constant window); NaN while warming up or for a non-finite value.

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

    A quantised series whose MAD is 0: the mean absolute deviation takes over.

    >>> detector = MedianAbsoluteDeviation(window=10, min_periods=10)
    >>> for i, x in enumerate([20.0] * 8 + [21.0, 19.0]):
    ...     _ = detector.update(i, x)
    >>> verdict = detector.update(10, 23.0)
    >>> verdict.details["mad"], round(verdict.details["spread"], 5), round(verdict.score, 2)
    (0.0, 0.25066, 11.97)
    """

    name: ClassVar[str] = "mad"
    parameters: ClassVar[ParamSet] = ParamSet(
        window=Param.integer(100, "Past values in the rolling window.", low=3, high=MAX_WINDOW),
        threshold=Param.number(3.5, "Anomaly when the score exceeds this.", low=0, closed="neither"),
        min_periods=Param.integer(10, "Values needed before scoring starts (at most window).", low=1,
                                  high=MAX_WINDOW),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"window": 5, "min_periods": 10},)

    window: int
    threshold: float
    min_periods: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._values = SortedWindow(self.window)

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        if values["min_periods"] > values["window"]:
            raise InvalidParameterError(
                f"min_periods must be <= window ({values['window']}), got {values['min_periods']}"
            )

    def score_one(self, t: int, x: Any) -> Verdict:
        x = float(x)
        n = len(self._values)
        if not math.isfinite(x) or n < self.min_periods:
            return Verdict(math.nan, False, {"median": math.nan, "mad": math.nan, "spread": math.nan})
        median = self._values.median()
        mad = self._values.median_abs_deviation(median)
        deviation = abs(x - median)
        if mad > 0:
            spread = MAD_CONSISTENCY * mad
            score = deviation / spread
        elif (mean_ad := self._values.mean_abs_deviation(median)) > 0:
            spread = MEAN_AD_CONSISTENCY * mean_ad
            score = deviation / spread
        elif deviation > 0:  # a constant window: x's own deviation is the only spread there is
            spread = MEAN_AD_CONSISTENCY * (deviation / (n + 1))
            score = (n + 1) / MEAN_AD_CONSISTENCY
        else:
            spread = score = 0.0
        return Verdict(score, score > self.threshold, {"median": median, "mad": mad, "spread": spread})

    def learn_one(self, t: int, x: Any) -> None:
        x = float(x)
        if math.isfinite(x):
            self._values.append(x)

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "values": list(self._values)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> MedianAbsoluteDeviation:
        detector = cls(**state["params"])
        detector._values = SortedWindow.restore(detector.window, state["values"])
        return detector
