"""Tukey's fences over a rolling window, or over a whole batch at once."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from udfs.detectors._sorted_window import MEAN_AD_CONSISTENCY, SortedWindow
from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["InterquartileRange"]


# The IQR of a normal distribution is 1.349 standard deviations (2 * Phi^-1(3/4)), and its
# mean absolute deviation from the median sqrt(2 / pi) = 1 / 1.2533 of one.
IQR_PER_MEAN_AD = 1.349 * MEAN_AD_CONSISTENCY


def _not_scored() -> Verdict:
    # A fresh details dict each time: a caller that edits one must not edit them all.
    nan = math.nan
    return Verdict(nan, False, {"q1": nan, "q3": nan, "lower": nan, "upper": nan, "spread": nan})


def _quartiles(values: SortedWindow) -> tuple[float, float, float]:
    """``q1``, ``q3`` and the spread: the IQR, or its stand-in from the mean absolute deviation."""
    q1, q3 = values.quantile(0.25), values.quantile(0.75)
    if q3 > q1:
        return q1, q3, q3 - q1
    # q1 == q3 == the median, which more than half the values equal (so the MAD is 0 too).
    return q1, q3, IQR_PER_MEAN_AD * values.mean_abs_deviation(q1)


def _fence_verdict(x: float, q1: float, q3: float, spread: float, n: int, k: float, threshold: float) -> Verdict:
    """Verdict on ``x`` against the quartiles and spread of ``n`` values."""
    constant = spread == 0 and x != q1
    if constant:  # n values all equal to q1 and x off them: its own deviation is the only spread
        spread = IQR_PER_MEAN_AD * (abs(x - q1) / (n + 1))
    lower, upper = q1 - k * spread, q3 + k * spread
    if constant:  # |x - q1| / spread - k, without dividing by the tiny spread
        score = max((n + 1) / IQR_PER_MEAN_AD - k, 0.0)
    else:
        outside = max(lower - x, x - upper)
        score = outside / spread if outside > 0 else 0.0
    details = {"q1": q1, "q3": q3, "lower": lower, "upper": upper, "spread": spread}
    return Verdict(score, score > threshold, details)


class InterquartileRange(Detector):
    """Tukey's fences ``[q1 - k*IQR, q3 + k*IQR]`` over the last ``window`` values.

    The quartiles are numpy's linear-interpolation percentiles of the window of
    ``n`` past values (``x`` itself is not in it). The score is how far ``x`` lies
    outside the fences, in IQRs: 0 inside, 0.5 half an IQR beyond a fence.

    Parameters
    ----------
    See ``parameters`` (one declaration gives the constructor, the ``@iqr()`` and
    ``@iqr_batch()`` options and the docs): ``window`` past values are kept; the
    fences are ``k`` IQRs out (Tukey's 1.5 for "outlier", 3 for "far out"); a score
    above ``threshold`` is an anomaly (0 flags every value outside the fences); until
    the window holds ``min_periods`` values the score is NaN.

    Notes
    -----
    The IQR is 0 as soon as the middle half of the sorted window is one value,
    which quantised data (integer counters, temperatures to 0.1) does all the
    time; the fences would collapse onto that value and put every other one
    infinitely many IQRs out. In the fences and in the score the IQR is then
    replaced by the IQR that normal data with the window's spread would have:
    ``1.349 * 1.2533 * MeanAD`` (= 1.6907 MeanAD), the mean absolute deviation from
    the median times sqrt(pi/2) estimating a standard deviation, times 1.349
    standard deviations per IQR. The fences become ``median -/+ k * spread``
    (``q1 == q3 ==`` the median). The MAD would be no stand-in: ``q1 == q3`` means
    more than half the values equal the median, so the MAD is 0 as well. MeanAD
    is 0 only if every past value is equal.

    For such a constant window a value on it scores 0. Any other is measured, as
    in :class:`~udfs.detectors.mad.MedianAbsoluteDeviation`, against its own
    deviation, the only spread on record: ``spread`` is the stand-in over the
    window with ``x`` added, ``1.6907 * |x - q1| / (n + 1)``, and the score is
    ``(n + 1) / 1.6907 - k`` (at least 0), 58.2 for 100 values and ``k = 1.5``,
    whatever the size of the departure. It is finite, not ``inf``, because the UDF
    cannot write an infinite ``anomaly_score``, because it grows with the length
    of the constant run, and because it joins the fallback above without a jump
    when ``x`` repeats (with a full window of 100: 58.2, then 57.6 for one learned
    departure, 28.1 for two, ...).

    NaN and infinite values are not learned; their verdict has a NaN score and is
    not an anomaly. :meth:`score_batch` scores a whole batch against fences
    computed over that batch, with the same stand-in when its IQR is 0 (a batch
    holds ``x``, so no value departs from a constant batch).

    ``details``: ``q1``, ``q3``, ``lower`` and ``upper`` fences and ``spread`` (the
    IQR or its stand-in); NaN while warming up or for a non-finite value.

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

    A quantised series whose IQR is 0: the mean absolute deviation stands in.

    >>> detector = InterquartileRange(window=10, min_periods=10)
    >>> for i, x in enumerate([5.0] * 8 + [6.0, 4.0]):
    ...     _ = detector.update(i, x)
    >>> verdict = detector.update(10, 7.0)
    >>> verdict.details["q1"], round(verdict.details["spread"], 4), round(verdict.score, 3)
    (5.0, 0.3381, 4.415)
    """

    name: ClassVar[str] = "iqr"
    parameters: ClassVar[ParamSet] = ParamSet(
        window=Param.integer(100, "Past values in the rolling window.", low=3, high=MAX_WINDOW),
        k=Param.number(1.5, "Fence distance in IQRs (Tukey: 1.5).", low=0, closed="neither"),
        threshold=Param.number(0.0, "Anomaly when the score (IQRs beyond a fence) exceeds this.", low=0),
        min_periods=Param.integer(10, "Values needed before scoring starts (at most window).", low=1,
                                  high=MAX_WINDOW),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"window": 5, "min_periods": 10},)

    window: int
    k: float
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
        if not math.isfinite(x) or len(self._values) < self.min_periods:
            return _not_scored()
        q1, q3, spread = _quartiles(self._values)
        return _fence_verdict(x, q1, q3, spread, len(self._values), self.k, self.threshold)

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
        k = cls.parameters["k"].normalise(k)
        threshold = cls.parameters["threshold"].normalise(threshold)
        batch = [float(v) for v in values]
        population = SortedWindow(len(batch) or 1, filter(math.isfinite, batch))
        if not len(population):
            return [_not_scored() for _ in batch]
        q1, q3, spread = _quartiles(population)  # a spread of 0 here means every finite x is q1
        k, threshold, n = float(k), float(threshold), len(population)
        return [
            _fence_verdict(x, q1, q3, spread, n, k, threshold) if math.isfinite(x) else _not_scored()
            for x in batch
        ]

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "values": list(self._values)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> InterquartileRange:
        detector = cls(**state["params"])
        detector._values = SortedWindow.restore(detector.window, state["values"])
        return detector
