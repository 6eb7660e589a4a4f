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
               threshold: float, min_periods: int, rest_period: int) -> list[Verdict]:
    def facts(level: int) -> set[tuple[int, int]]:
        return {(i, (level >> i) & 1) for i in range(bits)}

    learned: list[float] = []
    levels: list[int] = []  # each learned value's level, in the range known when it was learned
    reported: list[float] = []
    out = []
    for x in values:
        if not math.isfinite(x) or len(learned) < min_periods:
            out.append(Verdict(NOT_SCORED, False, {"raw_score": math.nan, "level": -1}))
        else:
            level = _level(x, *_range(learned, x, min, max), bits)
            predicted = set().union(*(facts(b) for a, b in zip(levels, levels[1:], strict=False) if a == levels[-1]))
            raw = len(facts(level) - predicted) / bits
            score = 0.0 if _resting(reported, threshold, rest_period) else raw
            reported.append(score)
            out.append(Verdict(score, score >= threshold, {"raw_score": raw, "level": level}))
        if math.isfinite(x):
            levels.append(_level(x, *_range(learned, x, min, max), bits))
            learned.append(x)
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
