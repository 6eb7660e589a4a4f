"""Slow, obvious reference for ``udfs.detectors.matrix_profile.MatrixProfile``.

At every point: take the window (the last ``history`` finite values learned, then
the new one), z-normalise (or not) each subsequence on its own and measure the
newest one against every earlier one outside the exclusion zone with
``np.linalg.norm``. No dot products, no running state: O(history * m) per point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from udfs.detectors import Verdict


def distance_profile(window: np.ndarray, m: int, normalize: bool) -> np.ndarray:
    """Distances from the last subsequence of ``window`` to every subsequence before its exclusion zone."""
    last_start = len(window) - m - math.ceil(m / 4) - 1
    if last_start < 0:
        return np.empty(0)
    others = sliding_window_view(window, m)[: last_start + 1]
    newest = window[-m:]
    if not normalize:
        return np.linalg.norm(others - newest, axis=1)
    flat = np.ptp(others, axis=1) == 0
    if np.ptp(newest) == 0:  # constant against constant: 0; against anything else: sqrt(m)
        return np.where(flat, 0.0, math.sqrt(m))
    varying = others[~flat]
    z_others = (varying - varying.mean(axis=1, keepdims=True)) / varying.std(axis=1, keepdims=True)
    out = np.full(len(others), math.sqrt(m))
    out[~flat] = np.linalg.norm(z_others - (newest - newest.mean()) / newest.std(), axis=1)
    return out


def matrix_profile(
    values: Sequence[float], *, m: int, history: int, threshold: float, normalize: bool, min_history: int
) -> list[Verdict]:
    learned: list[float] = []
    distances: list[float] = []
    out = []
    for x in values:
        if not math.isfinite(x):
            out.append(Verdict(math.nan, False, {"distance": math.nan, "neighbor_age": None}))
            continue
        window = np.array(learned[-history:] + [x])
        profile = distance_profile(window, m, normalize)
        if len(profile) == 0:
            distance, age = math.nan, None
        else:
            nearest = int(np.argmin(profile))
            distance, age = float(profile[nearest]), len(window) - m - nearest
        score = math.nan
        if len(learned) >= min_history and distances and not math.isnan(distance):
            scale = 1.0 if normalize else float(np.std(learned[-history:]))
            typical = max(float(np.median(distances[-history:])), 1e-3 * math.sqrt(2 * m) * scale)
            score = distance / typical if typical > 0 else (0.0 if distance == 0 else math.inf)
        out.append(Verdict(score, score > threshold, {"distance": distance, "neighbor_age": age}))
        learned.append(x)
        # z-normalised: a constant subsequence's distance (0 or sqrt(m) by convention) is not typical of shapes
        constant = normalize and np.ptp(window[-m:]) == 0
        if not math.isnan(distance) and not constant:
            distances.append(distance)
    return out
