"""Slow, obvious references for the detectors in ``udfs/detectors``.

Each takes the whole stream and, at every step, recomputes from the full list of
values learned so far: no ring buffers, no running sums, no incremental state. The
fast detectors must agree with them at every step (``test_references.py``).
NaN and infinite values are skipped, as the detectors document.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from udfs.detectors import Verdict

NOT_SCORED = math.nan


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def mean_abs_deviation(values: Sequence[float], centre: float) -> float:
    """Mean of ``|v - centre|``, summed with ``fsum`` (exactly rounded, so in any order)."""
    return math.fsum(abs(v - centre) for v in values) / len(values)


def mad(values: Sequence[float], *, window: int, threshold: float, min_periods: int) -> list[Verdict]:
    learned: list[float] = []
    out = []
    for x in values:
        past = learned[-window:]
        if not _finite(x) or len(past) < min_periods:
            out.append(Verdict(NOT_SCORED, False, {"median": math.nan, "mad": math.nan, "spread": math.nan}))
        else:
            median = float(np.median(past))
            mad = float(stats.median_abs_deviation(past))
            # The first of these scales that is not 0: 1.4826 MAD, then 1.2533 MeanAD (the
            # modified z-score's fallback), then 1.2533 MeanAD of the window with x added.
            spread = 1.4826 * mad
            if spread == 0:
                spread = 1.2533 * mean_abs_deviation(past, median)
            if spread == 0:
                spread = 1.2533 * mean_abs_deviation([*past, x], median)
            score = abs(x - median) / spread if spread > 0 else 0.0
            out.append(Verdict(score, score > threshold, {"median": median, "mad": mad, "spread": spread}))
        if _finite(x):
            learned.append(x)
    return out


def _zscore_verdict(x: float, mean: float, std: float, threshold: float) -> Verdict:
    if std > 1e-12 * abs(mean):
        z = (x - mean) / std
    elif abs(x - mean) <= 1e-12 * abs(mean):
        z = 0.0
    else:
        z = math.copysign(math.inf, x - mean)
    return Verdict(abs(z), abs(z) > threshold, {"mean": mean, "std": std, "zscore": z})


def zscore(
    values: Sequence[float], *, mode: str, window: int, alpha: float, threshold: float, min_periods: int
) -> list[Verdict]:
    learned: list[float] = []
    out = []
    for x in values:
        if not _finite(x) or len(learned) < min_periods:
            out.append(Verdict(NOT_SCORED, False, {"mean": math.nan, "std": math.nan, "zscore": math.nan}))
        elif mode == "rolling":
            past = np.array(learned[-window:])
            out.append(_zscore_verdict(x, float(np.mean(past)), float(np.std(past)), threshold))
        else:
            # Exponential weights over the whole history: alpha for the newest value,
            # the oldest carrying all the weight the recursion starts it with.
            n = len(learned)
            weights = alpha * (1.0 - alpha) ** np.arange(n - 1, -1, -1, dtype=float)
            weights[0] = (1.0 - alpha) ** (n - 1)
            past = np.array(learned)
            mean = float(np.sum(weights * past))
            std = math.sqrt(float(np.sum(weights * (past - mean) ** 2)))
            out.append(_zscore_verdict(x, mean, std, threshold))
        if _finite(x):
            learned.append(x)
    return out


def iqr(
    values: Sequence[float], *, window: int, k: float, threshold: float, min_periods: int
) -> list[Verdict]:
    learned: list[float] = []
    out = []
    for x in values:
        past = learned[-window:]
        if not _finite(x) or len(past) < min_periods:
            nan = math.nan
            details = {"q1": nan, "q3": nan, "lower": nan, "upper": nan, "spread": nan}
            out.append(Verdict(NOT_SCORED, False, details))
        else:
            out.append(fences(x, past, k=k, threshold=threshold))
        if _finite(x):
            learned.append(x)
    return out


def fences(x: float, population: Sequence[float], *, k: float, threshold: float) -> Verdict:
    q1, q3 = (float(q) for q in np.percentile(population, [25, 75]))
    median = float(np.median(population))
    # The first of these that is not 0: the IQR, then the IQR of normal data with the
    # population's mean absolute deviation (1.349 sigma, sigma = 1.2533 MeanAD), then the
    # same with x added to the population (a batch holds x already: it adds nothing).
    spread = q3 - q1
    if spread == 0:
        spread = 1.349 * 1.2533 * mean_abs_deviation(population, median)
    if spread == 0:
        spread = 1.349 * 1.2533 * mean_abs_deviation([*population, x], median)
    lower, upper = q1 - k * spread, q3 + k * spread
    if lower <= x <= upper:
        score = 0.0
    else:
        score = max(lower - x, x - upper) / spread
    details = {"q1": q1, "q3": q3, "lower": lower, "upper": upper, "spread": spread}
    return Verdict(score, score > threshold, details)


def edge(
    points: Sequence[tuple[int, Any]],
    *,
    low_enter: float | None = None,
    low_exit: float | None = None,
    high_enter: float | None = None,
    high_exit: float | None = None,
    min_duration: int = 0,
    flap_count: int = 5,
    flap_window: int = 3_600_000_000_000,
) -> list[Verdict]:
    """Edge detection as runs: a run of one level that outlasts ``min_duration`` is a change."""
    high_exit = high_enter if high_exit is None else high_exit
    low_exit = low_enter if low_exit is None else low_exit

    def level(x: Any, before: Any) -> Any:
        if isinstance(x, (str, bool)) or (low_enter is None and high_enter is None):
            return x
        if high_enter is not None and (x > high_enter or (before == "high" and x >= high_exit)):
            return "high"
        if low_enter is not None and (x < low_enter or (before == "low" and x <= low_exit)):
            return "low"
        return "normal"

    def equal(a: Any, b: Any) -> bool:  # a boolean is no number here, True != 1
        return (type(a) is bool) == (type(b) is bool) and a == b

    out = []
    levels: list[Any] = []  # the level of every usable point so far
    run_start = entered = 0  # when the current run of equal levels / the current state began
    current: Any = None
    previous: Any = None
    previous_duration: int | None = None
    change_times: list[int] = []
    for t, x in points:
        usable = isinstance(x, (str, bool, int)) or math.isfinite(x)
        changed = False
        if usable:
            lvl = level(x, levels[-1] if levels else None)
            if not levels or not equal(lvl, levels[-1]):
                run_start = t
            levels.append(lvl)
            if len(levels) == 1:
                current, entered, changed = lvl, t, True
            elif not equal(lvl, current) and t - run_start >= min_duration:
                previous, previous_duration = current, run_start - entered
                current, entered, changed = lvl, run_start, True
                change_times.append(t)
        recent = min(len([c for c in change_times if t - flap_window < c <= t]), 2 * flap_count)
        details = {
            "changed": changed,
            "current": current,
            "previous": previous,
            "previous_duration": previous_duration,
            "duration": t - entered if levels else None,
            "changes": len(change_times),
        }
        if usable:
            out.append(Verdict(recent / flap_count, recent > flap_count, details))
        else:
            out.append(Verdict(math.nan, False, details))
    return out
