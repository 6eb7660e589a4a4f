"""A slow, obvious reference for ``SigmaEnsemble``: Skyline's definitions, recomputed.

At every point the window is rebuilt as a plain list and each algorithm is computed
from scratch, straight from the definitions in the shared docs' ``SKYLINE_ALGORITHMS.md``,
with the constant 3 replaced by ``sigma``: no sorted containers, no running sums, no caches.
pandas' ``ewm(com=50)`` mean and ``std(bias=False)`` are written out from its
documented formulas (weights ``(1 - alpha)**age``, ``alpha = 1 / (1 + com)``; variance
corrected by ``W^2 / (W^2 - sum(w^2))``).

Besides its vote each algorithm reports a ``margin``: how close, relatively, its
decisive comparison came to the threshold. The fast detector computes the same
statistics with other (more exact) roundings, so a vote may differ only where the
margin is at the last bits of a double.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.tsa.stattools import adfuller

from udfs.detectors import Verdict
from udfs.detectors._skyline import ALGORITHMS  # the names and their order; nothing else is shared

HOUR_NS = 3600 * 10**9
TEN_MINUTES_NS = 600 * 10**9


@dataclass(frozen=True)
class Vote:
    vote: bool | None
    margin: float = math.inf  # relative distance of the closest comparison from its threshold


def closeness(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def compare(statistic: float, threshold: float) -> Vote:
    """``statistic > threshold``; NaN on either side is False, as in numpy."""
    if math.isnan(statistic) or math.isnan(threshold):
        return Vote(False)
    return Vote(bool(statistic > threshold), closeness(statistic, threshold))


def tail_count(sigma: float) -> int:
    """Skyline's tail_avg averages ``sigma`` points; a fractional sigma is rounded down, to at least 1."""
    return max(1, int(sigma))


def tail_avg(x: np.ndarray, k: int) -> float:
    return sum(x[-k:].tolist()) / k if len(x) >= k else float(x[-1])


def median_absolute_deviation(ts: np.ndarray, x: np.ndarray, sigma: float) -> Vote:
    median = np.median(x)
    demedianed = np.abs(x - median)
    mad = np.median(demedianed)
    if mad == 0:
        return Vote(False)
    return compare(float(demedianed[-1] / mad), 2 * sigma)


def grubbs(ts: np.ndarray, x: np.ndarray, sigma: float) -> Vote:
    std = np.std(x, ddof=1)
    if std == 0:
        return Vote(False)
    z = (tail_avg(x, tail_count(sigma)) - np.mean(x)) / std
    n = len(x)
    t = stats.t.isf(0.05 / (2 * n), n - 2)
    critical = ((n - 1) / np.sqrt(n)) * np.sqrt(t**2 / (n - 2 + t**2))
    return compare(float(z), float(critical))


def first_hour_average(ts: np.ndarray, x: np.ndarray, sigma: float, full_duration_ns: int) -> Vote:
    start = ts[-1] - full_duration_ns
    y = x[(ts > start) & (ts < start + HOUR_NS)]
    if len(y) < 2:  # mean or std(ddof=1) NaN: compares False
        return Vote(False)
    return compare(abs(tail_avg(x, tail_count(sigma)) - np.mean(y)), sigma * np.std(y, ddof=1))


def stddev_from_average(ts: np.ndarray, x: np.ndarray, sigma: float) -> Vote:
    return compare(abs(tail_avg(x, tail_count(sigma)) - np.mean(x)), sigma * np.std(x, ddof=1))


def ewm_mean_std(x: np.ndarray, com: float = 50.0) -> tuple[float, float]:
    """pandas ``Series(x).ewm(com=com)``: ``.mean()`` and ``.std()`` at the last point."""
    alpha = 1 / (1 + com)
    w = (1 - alpha) ** np.arange(len(x))[::-1]  # the newest point has weight 1
    total = w.sum()
    mean = (w * x).sum() / total
    biased = (w * (x - mean) ** 2).sum() / total
    variance = biased * total**2 / (total**2 - (w**2).sum())
    return float(mean), math.sqrt(max(variance, 0.0))


def stddev_from_moving_average(ts: np.ndarray, x: np.ndarray, sigma: float) -> Vote:
    mean, std = ewm_mean_std(x)
    return compare(abs(x[-1] - mean), sigma * std)


def mean_subtraction_cumulation(ts: np.ndarray, x: np.ndarray, sigma: float) -> Vote:
    y = x - np.mean(x[:-1])
    return compare(abs(y[-1]), sigma * np.std(y[:-1]))


def least_squares(ts: np.ndarray, x: np.ndarray, sigma: float) -> Vote:
    # Seconds from the window's first point: the same line as with epoch seconds, but
    # without lstsq losing digits to a column of values near 1.7e9.
    seconds = (ts - ts[0]) / 1e9
    design = np.vstack([seconds, np.ones(len(seconds))]).T
    m, c = np.linalg.lstsq(design, x, rcond=None)[0]
    errors = x - (m * seconds + c)
    k = tail_count(sigma)
    if len(errors) < k:
        return Vote(False)
    t = float(np.mean(errors[-k:]))
    s = float(np.std(errors, ddof=1))
    vote = abs(t) > sigma * s and round(s) != 0 and round(t) != 0
    margin = min(closeness(abs(t), sigma * s), closeness(abs(s), 0.5), closeness(abs(t), 0.5))
    return Vote(bool(vote), margin)


def histogram_bins(ts: np.ndarray, x: np.ndarray, sigma: float) -> Vote:
    t = tail_avg(x, tail_count(sigma))
    counts, edges = np.histogram(x, bins=15)
    for index, count in enumerate(counts):
        if count <= 20:
            if index == 0:
                if t <= edges[0]:
                    return Vote(True)
            elif edges[index] <= t < edges[index + 1]:
                return Vote(True)
    return Vote(False)


def ks_test(ts: np.ndarray, x: np.ndarray, sigma: float) -> Vote:
    now = ts[-1]
    reference = x[(ts >= now - HOUR_NS) & (ts < now - TEN_MINUTES_NS)]
    probe = x[ts >= now - TEN_MINUTES_NS]
    if len(reference) < 20 or len(probe) < 20 or np.all(reference == reference[0]):
        return Vote(False)
    statistic, pvalue = stats.ks_2samp(reference, probe)
    if pvalue < 0.05 and statistic > 0.5:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # statsmodels 0.15: result type to change
                adf_pvalue = adfuller(reference, 10)[1]
        except (ValueError, np.linalg.LinAlgError):
            return Vote(None)
        if adf_pvalue < 0.05:
            return Vote(True)
    return Vote(False)


def votes(ts: np.ndarray, x: np.ndarray, *, sigma: float, full_duration_ns: int, names=ALGORITHMS) -> dict[str, Vote]:
    out = {}
    for name in names:
        if name == "first_hour_average":
            out[name] = first_hour_average(ts, x, sigma, full_duration_ns)
        else:
            out[name] = globals()[name](ts, x, sigma)
    return out


class NaiveSigma:
    """The whole detector: window, skip rules, votes and verdict, one point at a time."""

    def __init__(
        self, *, sigma=3.0, consensus=6, full_duration=86_400 * 10**9, min_points=100, max_points=10000,
        boredom=100, algorithms=ALGORITHMS,
    ) -> None:  # fmt: skip
        self.sigma, self.consensus = float(sigma), consensus
        self.full_duration_ns = int(full_duration)  # ns, as the detector's
        self.min_points, self.max_points, self.boredom = min_points, max_points, boredom
        self.algorithms = tuple(name for name in ALGORITHMS if name in algorithms)
        self.points: list[tuple[int, float]] = []

    def step(self, t: int, x: float) -> tuple[Verdict, dict[str, Vote]]:
        skipped = ""
        if not math.isfinite(x):
            skipped = "invalid"
        elif self.points and t < self.points[-1][0]:
            skipped = "late"
        else:
            self.points.append((t, x))
            while len(self.points) > self.max_points or self.points[0][0] <= t - self.full_duration_ns:
                self.points.pop(0)
            values = [value for _, value in self.points]
            if len(values) < self.min_points:
                skipped = "short"
            elif len(set(values[-self.boredom :])) == 1:
                skipped = "boring"
        if skipped:
            return Verdict(math.nan, False, {"votes": 0, "voted": "", "skipped": skipped}), {}
        ts = np.array([time for time, _ in self.points], dtype=np.int64)
        xs = np.array([value for _, value in self.points], dtype=np.float64)
        result = votes(ts, xs, sigma=self.sigma, full_duration_ns=self.full_duration_ns, names=self.algorithms)
        voted = [name for name in self.algorithms if result[name].vote]
        cast = sum(result[name].vote is not None for name in self.algorithms)
        details = {"votes": len(voted), "voted": ",".join(voted), "skipped": ""}
        return Verdict(len(voted) / cast if cast else math.nan, len(voted) >= self.consensus, details), result
