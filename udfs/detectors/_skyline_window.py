"""The sliding window behind :class:`~udfs.detectors.sigma.SigmaEnsemble`.

Each point enters once and leaves once, and three structures follow both events so
that no algorithm has to rescan the window for what it can look up:

* a ring buffer of (time, value) in arrival order, giving contiguous numpy views for
  the vectorised EWMA and for ks_test's time ranges (found by bisection on time);
* the values sorted (:class:`~udfs.detectors._sorted_window.SortedValues`, shared with
  ``mad`` and ``iqr``): median, median absolute deviation and histogram bin counts by
  bisection;
* :class:`ExactSums` of the whole window and of its first hour: mean, variance and
  least-squares residuals in O(1), exactly, whatever the history.
"""

from __future__ import annotations

import math

import numpy as np

from udfs.detectors._sorted_window import SortedValues

__all__ = ["HOUR_NS", "ExactSums", "SkylineWindow"]

HOUR_NS = 3600 * 10**9


def _ratio(numerator: int, denominator: int) -> float:
    """``numerator / denominator`` correctly rounded; +-inf past the float range."""
    try:
        return numerator / denominator
    except OverflowError:
        return math.copysign(math.inf, numerator)


class ExactSums:
    """n, sum x, sum x^2, sum tau, sum tau^2 and sum tau*x held as exact integers.

    A finite float is an integer over a power of two, so with every value scaled by
    ``2**shift`` (the largest denominator seen) the sums are plain Python integers.
    Removing a point then restores the sums bit for bit: there is no drift over an
    unbounded stream, and a window rebuilt from a snapshot has exactly the sums of
    the live one, whatever the order or the time origin. Results are rounded once,
    when converted to float. ``tau`` is an integer time (ns from an origin).
    """

    __slots__ = ("n", "shift", "sx", "sxx", "st", "stt", "stx")

    def __init__(self) -> None:
        self.n = self.shift = self.sx = self.sxx = self.st = self.stt = self.stx = 0

    def copy(self) -> ExactSums:
        other = ExactSums()
        other.n, other.shift, other.sx, other.sxx = self.n, self.shift, self.sx, self.sxx
        other.st, other.stt, other.stx = self.st, self.stt, self.stx
        return other

    def scaled(self, x: float) -> int:
        """``x * 2**shift`` as an integer; ``x`` must need no more bits than the sums hold."""
        numerator, denominator = x.as_integer_ratio()
        return numerator << (self.shift - denominator.bit_length() + 1)

    def add(self, tau: int, x: float) -> None:
        numerator, denominator = x.as_integer_ratio()
        bits = denominator.bit_length() - 1
        if bits > self.shift:
            grow = bits - self.shift
            self.sx <<= grow
            self.sxx <<= 2 * grow
            self.stx <<= grow
            self.shift = bits
        scaled = numerator << (self.shift - bits)
        self.n += 1
        self.sx += scaled
        self.sxx += scaled * scaled
        self.st += tau
        self.stt += tau * tau
        self.stx += tau * scaled

    def remove(self, tau: int, x: float) -> None:
        scaled = self.scaled(x)
        self.n -= 1
        self.sx -= scaled
        self.sxx -= scaled * scaled
        self.st -= tau
        self.stt -= tau * tau
        self.stx -= tau * scaled

    def moments_without(self, x: float) -> tuple[float, float]:
        """Mean and variance (ddof=0) of the values with one ``x`` left out."""
        n, scaled = self.n - 1, self.scaled(x)
        sx = self.sx - scaled
        if n <= 0:
            return math.nan, math.nan
        variance = _ratio(n * (self.sxx - scaled * scaled) - sx * sx, (n * n) << (2 * self.shift))
        return _ratio(sx, n << self.shift), variance

    def mean(self) -> float:
        return _ratio(self.sx, self.n << self.shift) if self.n else math.nan

    def variance(self, ddof: int) -> float:
        """Variance of the values with ``n - ddof`` in the denominator; NaN when that is <= 0."""
        if self.n - ddof <= 0:
            return math.nan
        return _ratio(self.n * self.sxx - self.sx * self.sx, (self.n * (self.n - ddof)) << (2 * self.shift))

    def line_residuals(self, tail_tau: int, tail_scaled: int, k: int) -> tuple[float, float]:
        """Residuals ``e`` of the least-squares line x = m * tau + c: ``var(e, ddof=1)`` and
        the mean of the residuals of ``k`` points whose tau and scaled x sum to the
        given totals.

        With ``D_ab = n * sum(a * b) - sum(a) * sum(b)`` the residual sum of squares is
        ``(D_xx - D_tx^2 / D_tt) / n`` and ``e_j = (x_j - mean x) - (D_tx / D_tt) * (tau_j - mean tau)``.
        All times equal (``D_tt == 0``) leaves only the constant: ``e = x - mean x``,
        which is what any least-squares solver projects onto.
        """
        n, shift = self.n, self.shift
        d_xx = n * self.sxx - self.sx * self.sx
        d_tt = n * self.stt - self.st * self.st
        d_tx = n * self.stx - self.st * self.sx
        tail_x = n * tail_scaled - k * self.sx
        if d_tt == 0:
            return (_ratio(d_xx, (n * (n - 1)) << (2 * shift)), _ratio(tail_x, (k * n) << shift))
        variance = _ratio(d_xx * d_tt - d_tx * d_tx, (n * (n - 1) * d_tt) << (2 * shift))
        tail = _ratio(tail_x * d_tt - d_tx * (n * tail_tau - k * self.st), (k * n * d_tt) << shift)
        return variance, tail


class SkylineWindow:
    """The points within ``span_ns`` of the newest one, at most ``max_points`` of them.

    Times must not decrease (the detector refuses late points before they get here).
    """

    __slots__ = (
        "span_ns", "max_points", "origin", "run", "sorted_values", "sums", "head_sums",
        "_t", "_x", "_lo", "_hi", "_head_hi",
    )  # fmt: skip

    def __init__(self, *, span_ns: int, max_points: int) -> None:
        self.span_ns = span_ns
        self.max_points = max_points
        self.origin = 0  # times enter ExactSums relative to this, to keep the integers short
        self.run = 0  # how many of the newest values are equal
        self.sorted_values = SortedValues()
        self.sums = ExactSums()  # of the whole window
        self.head_sums = ExactSums()  # of its first hour: ring positions [_lo, _head_hi)
        capacity = min(2 * max_points + 2, 1024)  # grows with the window, up to ~4 * max_points
        self._t = np.zeros(capacity, dtype=np.int64)
        self._x = np.zeros(capacity, dtype=np.float64)
        self._lo = self._hi = self._head_hi = 0

    def copy(self) -> SkylineWindow:
        other = SkylineWindow(span_ns=self.span_ns, max_points=self.max_points)
        other.origin, other.run = self.origin, self.run
        other.sorted_values = self.sorted_values.copy()
        other.sums, other.head_sums = self.sums.copy(), self.head_sums.copy()
        other._t, other._x = self._t.copy(), self._x.copy()
        other._lo, other._hi, other._head_hi = self._lo, self._hi, self._head_hi
        return other

    def __len__(self) -> int:
        return self._hi - self._lo

    def times(self) -> np.ndarray:
        return self._t[self._lo : self._hi]

    def values(self) -> np.ndarray:
        return self._x[self._lo : self._hi]

    def tail(self, k: int) -> list[float]:
        """The newest ``min(k, len(self))`` values, oldest first."""
        return self._x[max(self._lo, self._hi - k) : self._hi].tolist()

    def tail_sums(self, k: int) -> tuple[int, int]:
        """Sum of tau and of scaled x (as in :attr:`sums`) over the newest ``k`` points."""
        start = self._hi - k
        taus = sum(self._t[start : self._hi].tolist()) - k * self.origin
        return taus, sum(map(self.sums.scaled, self._x[start : self._hi].tolist()))

    def push(self, t: int, x: float) -> None:
        """Append a point, then drop those that fell out of the span or over the cap."""
        if self._hi == len(self._x):
            self._make_room()
        if self._hi == self._lo:
            self.origin = t
        self.run = self.run + 1 if self._hi > self._lo and self._x[self._hi - 1] == x else 1
        self._t[self._hi], self._x[self._hi] = t, x
        self._hi += 1
        self.sorted_values.add(x)
        self.sums.add(t - self.origin, x)
        cutoff = t - self.span_ns
        while self._hi - self._lo > self.max_points or self._t[self._lo] <= cutoff:
            self._evict()
        # The first hour is (cutoff, cutoff + 1 h); its start moves with the eviction above.
        self._head_hi = max(self._head_hi, self._lo)
        bound = cutoff + HOUR_NS
        while self._head_hi < self._hi and self._t[self._head_hi] < bound:
            self.head_sums.add(int(self._t[self._head_hi]) - self.origin, float(self._x[self._head_hi]))
            self._head_hi += 1

    def _evict(self) -> None:
        tau, x = int(self._t[self._lo]) - self.origin, float(self._x[self._lo])
        self.sorted_values.remove(x)
        self.sums.remove(tau, x)
        if self._lo < self._head_hi:
            self.head_sums.remove(tau, x)
        self._lo += 1

    def _make_room(self) -> None:
        live = self._hi - self._lo
        capacity = len(self._x)
        if 2 * live > capacity:  # more than half full: grow (bounded, live <= max_points)
            capacity *= 2
        t, x = np.zeros(capacity, dtype=np.int64), np.zeros(capacity, dtype=np.float64)
        t[:live], x[:live] = self._t[self._lo : self._hi], self._x[self._lo : self._hi]
        self._t, self._x = t, x
        self._head_hi -= self._lo
        self._lo, self._hi = 0, live
