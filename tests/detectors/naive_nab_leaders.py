"""Slow, obvious references for the detectors after NAB's leaders: contextual, knn_cad, relative_entropy.

Each keeps the whole list of learned values and recomputes everything from it at
every step: no masks, no deques, no running tables. Facts are sets of ``(bit,
value)`` pairs, distances come from ``math.dist``, the chi-squared CDF from
``scipy.stats``. The rest period is re-derived from the list of earlier reported
scores. NaN and infinite values are skipped, as the detectors document.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence

from scipy import stats

from udfs.detectors import Verdict

NOT_SCORED = math.nan


def _resting(reported: Sequence[float], threshold: float, rest_period: int) -> bool:
    """Whether one of the last ``rest_period`` reported scores was an alarm."""
    return rest_period > 0 and any(s >= threshold for s in reported[builtins.max(0, len(reported) - rest_period):])


def _level(x: float, low: float, high: float, bits: int) -> int:
    if not high > low:
        return 0
    return min(2**bits - 1, max(0, int((x - low) / ((high - low) / 2**bits))))


def _range(learned: Sequence[float], x: float, low: float | None, high: float | None) -> tuple[float, float]:
    return (min([*learned, x]) if low is None else low, max([*learned, x]) if high is None else high)


def contextual(values: Sequence[float], *, bits: int, min: float | None, max: float | None,  # noqa: A002
               threshold: float | None, headroom: float | None, min_periods: int, rest_period: int) -> list[Verdict]:
    """Every learned transition kept as a (left, right) pair of levels; each widening of the
    learned range moves every pair's levels to where their centres fall in the new range."""
    cut = 1 / bits if threshold is None else threshold  # 1/bits: any fact not predicted
    extra = 1 / 2**bits if headroom is None else headroom

    def facts(level: int) -> set[tuple[int, int]]:
        return {(i, (level >> i) & 1) for i in range(bits)}

    def widened(rng: tuple[float, float] | None, x: float) -> tuple[float, float]:
        if rng is None:
            return (x if min is None else min, x if max is None else max)
        low, high = rng
        if min is None and x < low:
            low = x - extra * (high - x)
        if max is None and x > high:
            high = x + extra * (x - low)
        return low, high

    def centre(level: int, rng: tuple[float, float]) -> float:
        return rng[0] + (level + 0.5) * (rng[1] - rng[0]) / 2**bits

    rng: tuple[float, float] | None = None
    pairs: list[tuple[int, int]] = []
    previous: float | None = None
    learned = 0
    reported: list[float] = []
    out = []
    for x in values:
        if not math.isfinite(x) or previous is None or learned < min_periods:
            out.append(Verdict(NOT_SCORED, False, {"raw_score": math.nan, "level": -1}))
        else:
            assert rng is not None
            new = widened(rng, x)
            moved = [(_level(centre(a, rng), *new, bits), _level(centre(b, rng), *new, bits)) for a, b in pairs]
            left = _level(previous, *new, bits)
            predicted = set().union(*(facts(b) for a, b in moved if a == left))
            level = _level(x, *new, bits)
            raw = len(facts(level) - predicted) / bits
            score = 0.0 if _resting(reported, cut, rest_period) else raw
            reported.append(score)
            out.append(Verdict(score, score >= cut, {"raw_score": raw, "level": level}))
        if math.isfinite(x):
            new = widened(rng, x)
            if rng is not None and new != rng:
                pairs = [(_level(centre(a, rng), *new, bits), _level(centre(b, rng), *new, bits)) for a, b in pairs]
            rng = new
            if previous is not None:
                pairs.append((_level(previous, *rng, bits), _level(x, *rng, bits)))
            previous = x
            learned += 1
    return out


def knn_cad(values: Sequence[float], *, dim: int, k: int, train_size: int, calibration_size: int,
            threshold: float, rest_period: int) -> list[Verdict]:
    def alpha(past: Sequence[float], x: float) -> float:
        recent = list(past[len(past) - (train_size + 2 * (dim - 1)):])
        vector = [*recent[len(recent) - (dim - 1):], x] if dim > 1 else [x]
        before = recent[: len(recent) - (dim - 1)]
        training = [before[i:i + dim] for i in range(len(before) - dim + 1)]
        return sum(sorted(math.dist(vector, v) for v in training)[:k])

    learned: list[float] = []
    alphas: list[float] = []
    reported: list[float] = []
    out = []
    for x in values:
        if not math.isfinite(x):
            out.append(Verdict(NOT_SCORED, False, {"alpha": math.nan, "raw_score": math.nan}))
            continue
        if len(alphas) < calibration_size:
            out.append(Verdict(NOT_SCORED, False, {"alpha": math.nan, "raw_score": math.nan}))
        else:
            a = alpha(learned, x)
            calibration = alphas[-calibration_size:]
            raw = 1.0 - (1 + sum(c >= a for c in calibration)) / (1 + calibration_size)
            score = 0.0 if _resting(reported, threshold, rest_period) else raw
            reported.append(score)
            out.append(Verdict(score, score >= threshold, {"alpha": a, "raw_score": raw}))
        if len(learned) >= train_size + 2 * (dim - 1):
            alphas.append(alpha(learned, x))
        learned.append(x)
    return out


def relative_entropy(values: Sequence[float], *, window: int, bins: int, min: float | None,  # noqa: A002
                     max: float | None, significance: float, min_count: int, max_hypotheses: int) -> list[Verdict]:
    def counts(past: Sequence[float], x: float) -> list[int]:
        low, high = _range(past, x, min, max)
        hist = [0] * bins
        for v in [*past[len(past) - (window - 1):], x]:
            index = 0 if not high > low else int((v - low) * (bins / (high - low)))
            hist[builtins.min(bins - 1, builtins.max(0, index))] += 1
        return hist

    def best(hist: list[int], hypotheses: list[list[int]]) -> tuple[int, float]:
        kls = []
        for q_counts in hypotheses:
            q = [(c + 0.5) / (sum(q_counts) + 0.5 * bins) for c in q_counts]
            kls.append(sum((p / window) * math.log((p / window) / qi) for p, qi in zip(hist, q, strict=True) if p))
        i = kls.index(builtins.min(kls))
        return i, 2.0 * window * builtins.max(kls[i], 0.0)

    learned: list[float] = []
    hypotheses: list[list[int]] = []
    matches: list[int] = []
    out = []
    for x in values:
        if not math.isfinite(x) or len(learned) < window - 1 or not hypotheses:
            out.append(Verdict(NOT_SCORED, False, {"statistic": math.nan, "hypotheses": len(hypotheses)}))
        else:
            i, statistic = best(counts(learned, x), hypotheses)
            score = float(stats.chi2.cdf(statistic, bins - 1))
            anomaly = score >= 1.0 - significance or matches[i] < min_count
            out.append(Verdict(score, anomaly, {"statistic": statistic, "hypotheses": len(hypotheses)}))
        if not math.isfinite(x):
            continue
        if len(learned) >= window - 1:
            hist = counts(learned, x)
            if not hypotheses or stats.chi2.cdf(best(hist, hypotheses)[1], bins - 1) >= 1.0 - significance:
                hypotheses.append(hist)
                matches.append(1)
                if len(hypotheses) > max_hypotheses:
                    drop = matches.index(builtins.min(matches))
                    del hypotheses[drop], matches[drop]
            else:
                matches[best(hist, hypotheses)[0]] += 1
        learned.append(x)
    return out
