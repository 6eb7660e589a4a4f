"""Skyline's nine algorithms, each voting on the newest point of a :class:`SkylineWindow`.

Definitions: earthgecko Skyline's analyzer, as written up in the shared docs'
``SKYLINE_ALGORITHMS.md``, with the constant 3 generalised to ``sigma`` as in Skyline's
``sigma`` custom algorithm. A vote is True (anomalous), False, or None when the
algorithm fails (not a vote). Every function computes the same statistics as the
definition, from the window's sorted values, exact sums and numpy views instead of
rescanning it, so the comparisons agree with a direct implementation up to
floating-point rounding (the median, the MAD, the histogram counts and ks_test's
inputs are bit-identical).
"""

from __future__ import annotations

import math
import warnings
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from functools import lru_cache
from itertools import pairwise

import numpy as np

from udfs.detectors._dickey_fuller import adf_rejects_unit_root
from udfs.detectors._skyline_window import HOUR_NS, SkylineWindow

__all__ = ["ALGORITHMS", "run_algorithms", "tail_length"]

ALGORITHMS = (
    "histogram_bins",
    "first_hour_average",
    "stddev_from_average",
    "grubbs",
    "ks_test",
    "mean_subtraction_cumulation",
    "median_absolute_deviation",
    "stddev_from_moving_average",
    "least_squares",
)
_EWM_DECAY = 1 - 1 / (1 + 50)  # pandas ewm(com=50): weights (1 - alpha)**age, alpha = 1 / (1 + com)
_BINS, _SPARSE_BIN = 15, 20
_PROBE_NS, _KS_MIN_SIZE, _KS_MARGIN = 600 * 10**9, 20, 1e-9


def tail_length(sigma: float) -> int:
    """How many newest points tail_avg averages: sigma itself for Skyline's integer sigmas."""
    return max(1, int(sigma))


class _Point:
    """The newest point of a window and the statistics several algorithms share."""

    __slots__ = ("window", "sigma", "n", "k", "last", "tail_avg", "mean", "std")

    def __init__(self, window: SkylineWindow, sigma: float) -> None:
        self.window, self.sigma = window, sigma
        self.n, self.k = len(window), tail_length(sigma)
        tail = window.tail(self.k)
        self.last = tail[-1]
        # Left-to-right sum, as Skyline's sum(Y[-sigma:]) / sigma; x[-1] if too few points.
        self.tail_avg = sum(tail) / self.k if len(tail) == self.k else self.last
        self.mean = window.sums.mean()
        self.std = math.sqrt(window.sums.variance(1))


def run_algorithms(window: SkylineWindow, names: Iterable[str], sigma: float) -> dict[str, bool | None]:
    """Votes of the named algorithms on the newest point of ``window`` (>= 3 points)."""
    point = _Point(window, sigma)
    return {name: _VOTERS[name](point) for name in names}


def median_absolute_deviation(p: _Point) -> bool:
    values = p.window.sorted_values
    median = values.median()
    mad = values.median_abs_deviation(median)
    if mad == 0:
        return False
    return abs(p.last - median) / mad > 2 * p.sigma


def grubbs(p: _Point) -> bool:
    if p.std == 0:
        return False
    return (p.tail_avg - p.mean) / p.std > _grubbs_critical(p.n)


@lru_cache(maxsize=256)
def _grubbs_critical(n: int) -> float:
    # scipy.stats.t.isf(q, df) is -stdtrit(df, q) behind tens of microseconds of argument
    # handling; the cache covers the window's length, which barely changes between points.
    from scipy import special

    t = -float(special.stdtrit(n - 2, 0.05 / (2 * n)))
    return ((n - 1) / math.sqrt(n)) * math.sqrt(t**2 / (n - 2 + t**2))


def first_hour_average(p: _Point) -> bool:
    head = p.window.head_sums
    if head.n < 2:  # numpy's std(ddof=1) would be NaN, and NaN compares False
        return False
    return abs(p.tail_avg - head.mean()) > p.sigma * math.sqrt(head.variance(1))


def stddev_from_average(p: _Point) -> bool:
    return abs(p.tail_avg - p.mean) > p.sigma * p.std


def mean_subtraction_cumulation(p: _Point) -> bool:
    # std(x[:-1] - c) = std(x[:-1]): the shift by the mean only matters for x[-1].
    mean, variance = p.window.sums.moments_without(p.last)
    return abs(p.last - mean) > p.sigma * math.sqrt(variance)


def least_squares(p: _Point) -> bool:
    if p.n < p.k:
        return False
    variance, tail = p.window.sums.line_residuals(*p.window.tail_sums(p.k), p.k)
    s = math.sqrt(variance)
    return abs(tail) > p.sigma * s and round(s) != 0 and round(tail) != 0


def stddev_from_moving_average(p: _Point) -> bool:
    weights, total, total_sq = _ewm_weights(p.n)
    values = p.window.values()
    mean = float(np.dot(weights, values)) / total
    deviations = values - mean
    biased = float(np.dot(weights, deviations * deviations)) / total
    std = math.sqrt(max(biased * (total * total / (total * total - total_sq)), 0.0))
    return abs(p.last - mean) > p.sigma * std


@lru_cache(maxsize=64)
def _ewm_powers(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    powers = _EWM_DECAY ** np.arange(size, dtype=np.float64)
    return powers[::-1].copy(), np.cumsum(powers), np.cumsum(powers * powers)


def _ewm_weights(n: int) -> tuple[np.ndarray, float, float]:
    """pandas' adjusted weights (1 - alpha)**age for n points, oldest first, their sum and sum of squares.

    The window restarts the EWMA at its first point, as pandas does over the whole
    series, so a running EWMA would need its oldest term taken out at every point
    and its variance as sum(w x^2) - W mean^2, which cancels away the digits of a
    series whose mean dwarfs its spread. Two dot products over the window (with
    the deviations from the mean in the second) stay exact to rounding and leave
    no state to drift or to snapshot. The weights are cached for lengths rounded
    up to a power of two.
    """
    ages_oldest_first, sums, sums_sq = _ewm_powers(1 << max(n - 1, 1).bit_length())
    return ages_oldest_first[-n:], float(sums[n - 1]), float(sums_sq[n - 1])


def histogram_bins(p: _Point) -> bool | None:
    values = p.window.sorted_values.sorted
    lowest, highest = values[0], values[-1]
    if lowest == highest:  # numpy.histogram widens an empty range by 0.5 either side
        lowest, highest = lowest - 0.5, highest + 0.5
    # numpy.linspace's arithmetic, without its microseconds of array set-up: i * step + lowest.
    step = (highest - lowest) / _BINS
    edges = [i * step + lowest for i in range(_BINS)] + [highest]
    if not (math.isfinite(step) and all(a < b for a, b in pairwise(edges))):
        return _numpy_histogram_bins(p)

    def count(i: int) -> int:  # numpy's bins: [e_i, e_i+1), the last one closed
        upper = len(values) if i == _BINS - 1 else bisect_left(values, edges[i + 1])
        return upper - bisect_left(values, edges[i])

    return _sparse_bin_holds(p.tail_avg, edges, count, scan=False)


def _numpy_histogram_bins(p: _Point) -> bool | None:
    """Degenerate edges (a range of a few ulps, or past the float range): numpy's own counts."""
    try:
        with np.errstate(all="ignore"):
            counts, edges = np.histogram(p.window.values(), bins=_BINS)
    except ValueError:
        return None
    return _sparse_bin_holds(p.tail_avg, edges.tolist(), counts.tolist().__getitem__, scan=True)


def _sparse_bin_holds(tail: float, edges: list[float], count: Callable[[int], int], *, scan: bool) -> bool:
    """Whether tail_avg falls in a bin of at most 20 values (bin 0 only up to its left edge)."""
    if tail <= edges[0] and count(0) <= _SPARSE_BIN:
        return True
    if scan:
        return any(edges[i] <= tail < edges[i + 1] and count(i) <= _SPARSE_BIN for i in range(1, _BINS))
    i = bisect_right(edges, tail) - 1  # the one bin [e_i, e_i+1) holding tail, edges increasing
    return 1 <= i < _BINS and count(i) <= _SPARSE_BIN


def ks_test(p: _Point) -> bool | None:
    times, values = p.window.times(), p.window.values()
    now = int(times[-1])
    start = int(np.searchsorted(times, now - HOUR_NS))
    split = int(np.searchsorted(times, now - _PROBE_NS))
    reference, probe = values[start:split], values[split:]
    if len(reference) < _KS_MIN_SIZE or len(probe) < _KS_MIN_SIZE or reference.min() == reference.max():
        return False
    statistic = _ks_statistic(reference, probe)
    # D > 0.5 is necessary and costs microseconds where scipy's p-value costs a millisecond;
    # the margin covers any last-bit difference from scipy's own D.
    if statistic < 0.5 - _KS_MARGIN:
        return False
    if not (statistic > 0.5 + _KS_MARGIN and _ks_surely_significant(statistic, len(reference), len(probe))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # exact p-value falling back to asymptotic
            from scipy import stats  # imported on first use: Info must not wait for scipy.stats

            result = stats.ks_2samp(reference, probe)
        if not (result.pvalue < 0.05 and result.statistic > 0.5):
            return False
    return adf_rejects_unit_root(reference)


def _ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.sort(a), np.sort(b)
    both = np.concatenate([a, b])
    gaps = np.searchsorted(a, both, side="right") / len(a) - np.searchsorted(b, both, side="right") / len(b)
    return float(np.max(np.abs(gaps)))


def _ks_surely_significant(statistic: float, n: int, m: int) -> bool:
    """Whether ks_2samp's p-value is certainly below 0.05, without computing it.

    The asymptotic two-sided tail ``2 exp(-2 D^2 nm / (n + m))`` bounds the exact
    p-value up to a factor far below the 50 allowed here (the exact and asymptotic
    tails agree within a few per cent once ``nm / (n + m)`` exceeds 15, where this
    first answers yes); ``tests/detectors/test_dickey_fuller.py`` checks it against
    scipy. 10 s data (300 and 60 points) never needs scipy's exact computation.
    """
    return 2 * math.exp(-2 * statistic * statistic * n * m / (n + m)) < 1e-3


_VOTERS: dict[str, Callable[[_Point], bool | None]] = {
    "histogram_bins": histogram_bins,
    "first_hour_average": first_hour_average,
    "stddev_from_average": stddev_from_average,
    "grubbs": grubbs,
    "ks_test": ks_test,
    "mean_subtraction_cumulation": mean_subtraction_cumulation,
    "median_absolute_deviation": median_absolute_deviation,
    "stddev_from_moving_average": stddev_from_moving_average,
    "least_squares": least_squares,
}
