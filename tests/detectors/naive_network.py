"""Slow, obvious references for the network-measurement detectors and spectral residual.

Each recomputes from the whole list of values learned so far at every step.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter

import numpy as np
from scipy import ndimage, stats

from tests.detectors.naive import NOT_SCORED


def spectral_residual(values: list[float], *, window: int, extrapolate: int, gradient_points: int,
                      mag_window: int, score_window: int, threshold: float) -> list[float]:
    learned: list[float] = []
    out = []
    for x in values:
        if len(learned) < window - 1:
            out.append(NOT_SCORED)
        else:
            series = [*learned[-(window - 1):], x]
            before = series[:-1]
            n, m = len(before), min(gradient_points, len(before) - 1)
            g = sum((before[-1] - before[n - 1 - i]) / i for i in range(1, m + 1)) / m
            extended = np.array(series + [before[n - m] + g * m] * extrapolate)
            spectrum = np.fft.fft(extended)
            log_amp = np.log(np.maximum(np.abs(spectrum), 1e-8))
            average = ndimage.uniform_filter1d(log_amp, mag_window, mode="wrap")
            saliency = np.abs(np.fft.ifft(np.exp(log_amp - average + 1j * np.angle(spectrum))))
            current = saliency[window - 1]
            mean = saliency[window - 1 - score_window: window - 1].mean()
            out.append((current - mean) / mean if mean > 1e-8 else 0.0)
        learned.append(x)
    return out


def spike(values: list[float], *, lag: int, threshold: float, influence: float) -> list[float]:
    filtered: list[float] = []
    out = []
    for x in values:
        if len(filtered) < lag:
            out.append(NOT_SCORED)
            filtered.append(x)
            continue
        past = filtered[-lag:]
        mean, std = float(np.mean(past)), float(np.std(past))
        if std > 1e-12 * abs(mean):  # the detector's tolerance for a constant history
            z = (x - mean) / std
        else:
            z = 0.0 if abs(x - mean) <= 1e-12 * abs(mean) else math.copysign(math.inf, x - mean)
        out.append(abs(z))
        filtered.append(influence * x + (1 - influence) * filtered[-1] if abs(z) > threshold else x)
    return out


def loss(values: list[float], *, consecutive: int, window: int, max_rate: float, lost_at: float) -> list[bool]:
    lost: list[bool] = []
    out, was = [], False
    for x in values:
        lost.append(x >= lost_at)
        run = 0
        for flag in reversed(lost):
            if not flag:
                break
            run += 1
        recent = lost[-window:]
        holds = run >= consecutive or (len(recent) == window and sum(recent) / window > max_rate)
        out.append(holds and not was)
        was = holds
    return out


def changepoint(values: list[float], *, warmup: int, drift: float, threshold: float, clip: float) -> list[bool]:
    out = []
    since_change: list[float] = []  # values since the last change (or the start)
    up = down = 0.0
    for x in values:
        if len(since_change) < warmup:
            since_change.append(x)
            out.append(False)
            continue
        base = since_change[:warmup]
        median = statistics.median(base)
        sigma = 1.4826 * statistics.median([abs(v - median) for v in base])
        if sigma == 0:
            sigma = 1.2533 * sum(abs(v - median) for v in base) / warmup
        if sigma == 0:
            sigma = max(abs(median) * 1e-9, 1e-12)
        z = max(-clip, min(clip, (x - median) / sigma))
        up, down = max(0.0, up + z - drift), max(0.0, down - z - drift)
        if max(up, down) >= threshold:
            out.append(True)
            since_change, up, down = [], 0.0, 0.0
        else:
            out.append(False)
            since_change.append(x)
    return out


def distribution_shift(values: list[float], *, reference: int, recent: int, alpha: float,
                       min_distance: float, bins: int) -> list[bool]:
    out, was = [], False
    for i in range(len(values)):
        if i + 1 < reference + recent:
            out.append(False)
            continue
        both = values[i + 1 - reference - recent: i + 1]
        ref, new = np.array(both[:reference]), np.array(both[reference:])
        p = stats.ks_2samp(ref, new, method="asymp").pvalue
        hist_range = (min(both), max(both))
        if hist_range[0] == hist_range[1]:
            distance = 0.0
        else:
            hp = np.histogram(ref, bins, hist_range)[0] / reference
            hq = np.histogram(new, bins, hist_range)[0] / recent
            from scipy.spatial.distance import jensenshannon
            distance = float(jensenshannon(hp, hq, base=2))
        holds = p < alpha and distance >= min_distance
        out.append(holds and not was)
        was = holds
    return out


def mode_change(values: list[float], *, bucket: float | None, window: int, persist: int,
                min_jump: int) -> list[bool]:
    out: list[bool] = []
    buckets: list[int] = []
    established: int | None = None
    history: list[int] = []  # the window's mode after each point, once the window is full
    for i, x in enumerate(values):
        if bucket is None:  # learn the width: the first window of values with a positive IQR
            out.append(False)
            if i + 1 >= window:
                q1, q3 = np.percentile(values[i + 1 - window:i + 1], [25, 75])
                if q3 > q1:
                    bucket = float(q3 - q1)
                    buckets = [math.floor(v / bucket) for v in values[i + 1 - window:i + 1]]
            continue
        buckets.append(math.floor(x / bucket))
        if len(buckets) < window:
            out.append(False)
            continue
        counts = Counter(buckets[-window:])
        top = max(counts.values())
        if established is not None and counts[established] == top:
            mode = established
        else:
            mode = min(k for k, c in counts.items() if c == top)
        history.append(mode)
        if established is None:
            established = mode
            out.append(False)
            continue
        if mode != established and len(history) >= persist and all(h == mode for h in history[-persist:]):
            out.append(abs(mode - established) >= min_jump)
            established = mode
            history = []  # a streak starts afresh after a change
        else:
            out.append(False)
    return out
