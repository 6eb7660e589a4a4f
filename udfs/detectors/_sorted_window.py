"""A rolling window kept both in arrival order and sorted, for order statistics without numpy.

Appending costs two binary searches and two ``list`` memmoves of at most ``maxlen``
pointers; the median, the quartiles and the median absolute deviation then cost
O(log n) instead of a numpy call (a few µs of overhead each) per point. Every
statistic is bit-for-bit what numpy computes over the same values:

* the median is ``np.median``: the middle value, or ``(a + b) / 2`` of the middle two;
* a quantile is ``np.percentile(..., method="linear")``: numpy's virtual index
  ``(n - 1) * q`` and its ``_lerp``, ``a + (b - a) * t`` below ``t = 0.5`` and
  ``b - (b - a) * (1 - t)`` from it on;
* the median absolute deviation is ``np.median(np.abs(values - median))``: each
  deviation is the same rounded difference, and the middle ones are found by
  selection in the two sorted runs of deviations either side of the median;
* the mean absolute deviation sums with :func:`math.fsum`, correctly rounded and
  therefore independent of the order the values are visited in.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterable, Iterator

__all__ = ["MAD_CONSISTENCY", "MEAN_AD_CONSISTENCY", "SortedWindow"]

# What the MAD, and the mean absolute deviation from the median, of normally distributed
# data are multiplied by to estimate its standard deviation: 1 / Phi^-1(3/4) and sqrt(pi / 2).
MAD_CONSISTENCY = 1.4826
MEAN_AD_CONSISTENCY = 1.2533


class SortedWindow:
    """The last ``maxlen`` values appended, in order (``iter``) and sorted (``sorted``).

    ``values`` (optional) are the first ones, appended in order.
    """

    __slots__ = ("_order", "sorted")

    def __init__(self, maxlen: int, values: Iterable[float] = ()) -> None:
        self._order: deque[float] = deque(values, maxlen=maxlen)
        self.sorted: list[float] = sorted(self._order)

    def __len__(self) -> int:
        return len(self.sorted)

    def __iter__(self) -> Iterator[float]:
        return iter(self._order)

    def append(self, x: float) -> None:
        """Add ``x``, dropping the oldest value once ``maxlen`` values are held."""
        if len(self._order) == self._order.maxlen:
            del self.sorted[bisect_left(self.sorted, self._order[0])]
        self._order.append(x)
        insort(self.sorted, x)

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
        s, n = self.sorted, len(self.sorted)
        split = bisect_left(s, median)
        n_left, n_right = split, n - split

        # Deviations in increasing order: left(i) below the median, right(j) from it up.
        def left(i: int) -> float:
            return median - s[split - 1 - i]

        def right(j: int) -> float:
            return s[split + j] - median

        # How many of the `take` smallest deviations come from the left run: the first i
        # at which the right run's last taken deviation is no longer above left(i).
        take = (n + 1) // 2
        lo, hi = max(0, take - n_right), min(take, n_left)
        while lo < hi:
            i = (lo + hi) // 2
            if right(take - i - 1) > left(i):
                lo = i + 1
            else:
                hi = i
        i, j = lo, take - lo
        kth = max(left(i - 1) if i else -math.inf, right(j - 1) if j else -math.inf)
        if n % 2:
            return kth
        following = min(left(i) if i < n_left else math.inf, right(j) if j < n_right else math.inf)
        return (kth + following) / 2

    def mean_abs_deviation(self, centre: float) -> float:
        """The mean of ``|v - centre|``; values equal to ``centre`` add exact zeros and are skipped."""
        s = self.sorted
        below, above = bisect_left(s, centre), bisect_right(s, centre)
        deviations = [centre - v for v in s[:below]]
        deviations += [v - centre for v in s[above:]]
        return math.fsum(deviations) / len(s)
