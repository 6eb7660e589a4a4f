"""Sorted values, and a rolling window kept both in arrival order and sorted: order statistics without numpy.

Values are stored as raw doubles (``array('d')``, 8 bytes each, instead of a Python
float and a list slot, about 32), since a window per group times many groups is most
of a UDF's memory. Appending costs two binary searches and two memmoves of at most
``maxlen`` doubles; the median, the quartiles and the median absolute deviation then cost
O(log n) instead of a numpy call (a few µs of overhead each) per point. Every
statistic is bit-for-bit what numpy computes over the same values:

* the median is ``np.median``: the middle value, or ``(a + b) / 2`` of the middle two;
* a quantile is ``np.percentile(..., method="linear")``: numpy's virtual index
  ``(n - 1) * q`` and its ``_lerp``, ``a + (b - a) * t`` below ``t = 0.5`` and
  ``b - (b - a) * (1 - t)`` from it on;
* the median absolute deviation is ``np.median(np.abs(values - median))``: each
  deviation is the same rounded difference, and the middle ones are found by
  bisection in the two sorted runs of deviations either side of the median
  (:func:`deviation_order_stats`);
* the mean absolute deviation sums with :func:`math.fsum`, correctly rounded and
  therefore independent of the order the values are visited in.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator, Sequence

from udfs.detectors._float_ring import FloatRing

__all__ = ["MAD_CONSISTENCY", "MEAN_AD_CONSISTENCY", "SortedValues", "SortedWindow", "deviation_order_stats"]

# What the MAD, and the mean absolute deviation from the median, of normally distributed
# data are multiplied by to estimate its standard deviation: 1 / Phi^-1(3/4) and sqrt(pi / 2).
MAD_CONSISTENCY = 1.4826
MEAN_AD_CONSISTENCY = 1.2533


def deviation_order_stats(values: Sequence[float], centre: float, k: int) -> tuple[float, float]:
    """The k-th and (k+1)-th smallest (0-based) of ``|v - centre|`` over sorted ``values``.

    Below ``centre`` the deviations grow leftwards, from it rightwards: two sorted runs,
    so the k-th smallest is found by bisecting how many of the k + 1 smallest come from
    the left run, in O(log n). ``centre - v`` rounds exactly as ``abs(v - centre)``.
    The (k+1)-th is ``inf`` when ``k`` is the last index.
    """
    split = bisect_left(values, centre)
    n_left, n_right = split, len(values) - split
    lo, hi = max(0, k + 1 - n_right), min(k + 1, n_left)
    while True:
        i = (lo + hi) // 2  # taken from the left run; j = k + 1 - i from the right one
        j = k + 1 - i
        if i > 0 and j < n_right and centre - values[split - i] > values[split + j] - centre:
            hi = i - 1
        elif j > 0 and i < n_left and values[split + j - 1] - centre > centre - values[split - 1 - i]:
            lo = i + 1
        else:
            break
    kth = max(centre - values[split - i] if i else -math.inf, values[split + j - 1] - centre if j else -math.inf)
    following = min(
        centre - values[split - 1 - i] if i < n_left else math.inf,
        values[split + j] - centre if j < n_right else math.inf,
    )
    return kth, following


class SortedValues:
    """A multiset of floats kept sorted (``sorted``, an ``array('d')``), and its order statistics.

    Inserting or removing costs a binary search and a memmove. This is the one
    implementation behind every median, quantile and MAD of the detectors: ``mad`` and
    ``iqr`` through :class:`SortedWindow`, ``sigma`` through its Skyline window.
    """

    __slots__ = ("sorted",)

    def __init__(self, values: Iterable[float] = ()) -> None:
        raw = values if isinstance(values, array) else array("d", values)
        if len(raw) > 64:  # a restored window: numpy's stable sort orders equal values as sorted() does
            import numpy as np

            self.sorted = array("d", np.sort(np.frombuffer(raw, dtype=np.float64), kind="stable").tobytes())
        else:
            self.sorted = array("d", sorted(raw))

    def __len__(self) -> int:
        return len(self.sorted)

    def copy(self) -> SortedValues:
        other = SortedValues.__new__(SortedValues)
        other.sorted = array("d", self.sorted)
        return other

    def add(self, x: float) -> None:
        insort(self.sorted, x)

    def remove(self, x: float) -> None:
        """Remove one ``x``, which must be held."""
        del self.sorted[bisect_left(self.sorted, x)]

    def median(self) -> float:
        s, n = self.sorted, len(self.sorted)
        half = n // 2
        return s[half] if n % 2 else (s[half - 1] + s[half]) / 2

    def quantile(self, q: float) -> float:
        """numpy's linear-interpolation quantile, ``0 <= q <= 1``."""
        s = self.sorted
        position = (len(s) - 1) * q
        below = int(position)
        if below >= len(s) - 1:  # one value: numpy reads both neighbours at the last index
            return s[-1]
        t = position - below
        a, b = s[below], s[below + 1]
        return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t

    def median_abs_deviation(self, median: float) -> float:
        """``np.median(np.abs(values - median))`` (unscaled) for ``median`` = :meth:`median`."""
        n = len(self.sorted)
        if n % 2:
            return deviation_order_stats(self.sorted, median, n // 2)[0]
        return sum(deviation_order_stats(self.sorted, median, n // 2 - 1)) / 2

    def mean_abs_deviation(self, centre: float) -> float:
        """The mean of ``|v - centre|``; values equal to ``centre`` add exact zeros and are skipped."""
        s = self.sorted
        below, above = bisect_left(s, centre), bisect_right(s, centre)
        deviations = [centre - v for v in s[:below]]
        deviations += [v - centre for v in s[above:]]
        return math.fsum(deviations) / len(s)


class SortedWindow(SortedValues):
    """The last ``maxlen`` values appended, in order (``iter``) and sorted (``sorted``).

    ``values`` (optional) are the first ones, appended in order.
    """

    __slots__ = ("_order",)

    def __init__(self, maxlen: int, values: Iterable[float] = ()) -> None:
        self._order = FloatRing(maxlen, values)
        super().__init__(self._order.raw())

    @classmethod
    def restore(cls, maxlen: int, values: object) -> SortedWindow:
        """A window from the ``list(window)`` of a snapshot; TypeError/ValueError if it is not a list of numbers."""
        if not isinstance(values, list):
            raise ValueError(f"window values are a {type(values).__name__}, not a list")
        return cls(maxlen, array("d", values))  # converted in C; a string or None in it raises TypeError

    def __iter__(self) -> Iterator[float]:
        return iter(self._order)

    def append(self, x: float) -> None:
        """Add ``x``, dropping the oldest value once ``maxlen`` values are held."""
        if len(self._order) == self._order.maxlen:
            self.remove(self._order[0])
        self._order.append(x)
        self.add(x)
