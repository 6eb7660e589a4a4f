"""The left matrix profile of a stream's newest subsequence, kept in O(history) per point.

Behind :class:`~udfs.detectors.matrix_profile.MatrixProfile`. For a new value ``x_n``
the newest subsequence ``Q = x[q : n + 1]`` (``q = n - m + 1``) is compared with every
earlier subsequence ``x[s : s + m]`` of the window (the last ``history`` values and
``x_n``) that starts outside its exclusion zone, ``s <= q - zone - 1``. Everything it
needs is a dot product ``QT = x[s : s + m] . Q`` per candidate plus per-subsequence
statistics, and the dot products follow the diagonals of the distance matrix: for a
fixed lag ``d = q - s`` the next one is ``QT - x[s-1] x[q-1] + x[s+m-1] x[n]``.

``qt`` is indexed by lag (``k = max_lag - d``, so ascending ``k`` is ascending ``s``)
and each entry only ever moves along its own diagonal: no shifting, one vectorised
update per point. Each diagonal is recomputed from scratch (an m-term dot product)
whenever its older subsequence starts at a multiple of ``period``, and the ``period``
oldest diagonals at every point, so no chain of updates is older than ``period``
points. That bounds the rounding drift, and it makes the derived arrays a function of
the kept values alone: :meth:`LeftProfile.restore` replays the last ``period`` points
from the values and reaches bit for bit the arrays the live object had (the oldest
diagonals, whose chains would reach values no longer kept, are the ones recomputed at
every point). Values are kept as ``x - offset`` (``offset`` = the first value seen),
which keeps the dot products small for series far from zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["LeftProfile", "Step"]

# Floor of the z-normalised denominator m * std_Q * std_T: a subsequence this flat but
# not constant would otherwise divide by (nearly) zero.
_DENOMINATOR_FLOOR = 1e-14


@dataclass(frozen=True)
class Step:
    """What learning ``x`` would change, computed without changing anything."""

    x: float
    y: float
    stats: tuple[np.ndarray, ...] | None  # the newest subsequence's, once it exists
    qt: np.ndarray | None  # the advanced dot products, once there is a candidate
    distance: float  # NaN without a candidate
    lag: int | None  # q - s of the nearest neighbour


class LeftProfile:
    """Ring of the last ``history`` values, their subsequence statistics and dot products."""

    def __init__(self, m: int, history: int, normalize: bool) -> None:
        self.m, self.history, self.normalize = m, history, normalize
        self.zone = math.ceil(m / 4)  # stumpy's trivial-match exclusion zone, m / 4 rounded up
        self.max_lag = history - m + 1
        # sqrt(history) balances the recomputed diagonals (history / period + period per
        # point); restore needs period <= history - m + 1.
        self.period = max(1, min(math.isqrt(history), self.max_lag))
        capacity = 2 * history  # compacted when full: amortised O(1) per point, contiguous views
        self._x = np.zeros(capacity)
        self._y = np.zeros(capacity)  # x - offset
        self._stats = np.zeros((2, capacity))  # per start s: mean and std (or sum of y^2 and 0)
        self._constant = np.zeros(capacity, dtype=bool)  # per start s
        self._windows = sliding_window_view(self._y, m)  # row s - base: the subsequence starting at s
        self._base = 0  # absolute index held in slot 0
        self._qt = np.zeros(self.max_lag + 1)
        self.count = 0  # values learned
        self.offset = 0.0

    def values(self) -> np.ndarray:
        """The kept raw values, oldest first (a view)."""
        return self._x[max(0, self.count - self.history) - self._base : self.count - self._base]

    def _subsequence_stats(self, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
        # Rows are reduced independently (numpy's pairwise sum per row), so one row
        # now and the same row among thousands in restore() give the same bits.
        if not self.normalize:
            return ((y * y).sum(axis=1), np.zeros(len(y)), np.zeros(len(y), dtype=bool))
        mean = y.sum(axis=1) / self.m
        centred = y - mean[:, None]
        std = np.sqrt((centred * centred).sum(axis=1) / self.m)
        return (mean, std, x.max(axis=1) == x.min(axis=1))

    def peek(self, x: float) -> Step:
        n, m = self.count, self.m
        y = x - (self.offset if n else x)
        if n < m - 1:
            return Step(x, y, None, None, math.nan, None)
        lo = n - m + 1 - self._base
        xq = np.append(self._x[lo : n - self._base], x)
        yq = np.append(self._y[lo : n - self._base], y)
        stats = self._subsequence_stats(yq[None, :], xq[None, :])
        if n < m + self.zone:
            return Step(x, y, stats, None, math.nan, None)
        qt = self._advance(self._qt, self._y, self._windows, self._base, n, yq)
        k_lo, k_hi = max(0, self.history - n), self.max_lag - self.zone - 1
        s_lo = n - self.history + k_lo - self._base
        s_hi = s_lo + k_hi - k_lo + 1
        best, squared = self._nearest(qt[k_lo : k_hi + 1], stats, self._stats[:, s_lo:s_hi], self._constant[s_lo:s_hi])
        return Step(x, y, stats, qt, math.sqrt(squared), self.max_lag - k_lo - best)

    def _advance(self, qt: np.ndarray, y: np.ndarray, windows: np.ndarray, base: int, n: int,
                 q_values: np.ndarray) -> np.ndarray:
        """The dot products of the subsequence ending at ``n`` from those ending at ``n - 1``."""
        m, period = self.m, self.period
        off = n - self.history  # the candidate in slot k starts at off + k
        k_lo, k_hi = max(0, -off), self.max_lag - self.zone - 1
        out = qt.copy()
        k_a = max(k_lo + 1, period)
        if k_a <= k_hi:
            s_a, s_b = off + k_a - base, off + k_hi - base
            before, last = y[s_a - 1 : s_b], y[s_a + m - 1 : s_b + m]
            out[k_a : k_hi + 1] = qt[k_a : k_hi + 1] - before * y[n - m - base] + last * q_values[-1]
        k_b = max(k_lo, period)
        k_b += -(off + k_b) % period
        fresh = np.concatenate((np.arange(k_lo, min(period, k_hi + 1)), np.arange(k_b, k_hi + 1, period)))
        # einsum reduces each row on its own, in numpy's C loop (no BLAS blocking or
        # threads): a row gives the same bits whatever the other rows, as restore() needs.
        out[fresh] = np.einsum("ij,j->i", windows[off + fresh - base], q_values)
        return out

    def _nearest(self, qt: np.ndarray, newest: tuple[np.ndarray, ...], stats: np.ndarray,
                 constant: np.ndarray) -> tuple[int, float]:
        """The candidate nearest the newest subsequence (the oldest of equals, like stumpy) and its squared distance."""
        m = self.m
        if not self.normalize:
            squared = newest[0][0] + stats[0] - 2.0 * qt
            best = int(np.argmin(squared))
            return best, max(float(squared[best]), 0.0)
        mean_q, std_q = float(newest[0][0]), float(newest[1][0])
        if newest[2][0]:  # constant: 0 from another constant subsequence, sqrt(m) from anything else
            best = int(np.argmax(constant))
            return best, 0.0 if constant[best] else float(m)
        denominator = np.maximum((m * std_q) * stats[1], _DENOMINATOR_FLOOR)
        correlation = np.minimum((qt - (m * mean_q) * stats[0]) / denominator, 1.0)
        correlation[constant] = 0.5  # the squared distance m of a constant subsequence
        best = int(np.argmax(correlation))
        return best, 2.0 * m * (1.0 - float(correlation[best]))

    def commit(self, step: Step) -> None:
        """Learn the value ``step`` was computed for (with nothing learned in between)."""
        if self.count == 0:
            self.offset = step.x
        if self.count - self._base == len(self._x):
            self._compact()
        slot = self.count - self._base
        self._x[slot], self._y[slot] = step.x, step.y
        if step.stats is not None:
            start = slot - self.m + 1
            self._stats[:, start] = step.stats[0][0], step.stats[1][0]
            self._constant[start] = step.stats[2][0]
        if step.qt is not None:
            self._qt = step.qt
        self.count += 1

    def _compact(self) -> None:
        keep = self.history
        for array in (self._x, self._y):
            array[:keep] = array[-keep:]
        self._stats[:, :keep] = self._stats[:, -keep:]
        self._constant[:keep] = self._constant[-keep:]
        self._base = self.count - keep

    @classmethod
    def restore(cls, m: int, history: int, normalize: bool, values: Sequence[float], count: int,
                offset: float) -> LeftProfile:
        """Rebuild from the kept values: the same arrays, bit for bit, as the live object."""
        profile = cls(m, history, normalize)
        kept = len(values)
        if kept != min(count, history):
            raise ValueError(f"{kept} values for {count} learned with history {history}")
        profile.count, profile.offset, profile._base = count, float(offset) if count else 0.0, count - kept
        profile._x[:kept] = values
        profile._y[:kept] = profile._x[:kept] - profile.offset
        if kept >= m:
            y_rows, x_rows = sliding_window_view(profile._y[:kept], m), sliding_window_view(profile._x[:kept], m)
            mean, std, constant = profile._subsequence_stats(y_rows, x_rows)
            profile._stats[:, : kept - m + 1] = mean, std
            profile._constant[: kept - m + 1] = constant
        # Replay the last `period` points over the kept values; what they depend on
        # outside them (zeros here) only reaches diagonals that are recomputed first.
        pad = profile.period
        replay = np.concatenate((np.zeros(pad), profile._y[:kept]))
        replay_base, first = count - kept - pad, max(m + profile.zone, count - profile.period)
        windows = sliding_window_view(replay, m) if first < count else replay[None, :]
        for n in range(first, count):
            q_values = replay[n - m + 1 - replay_base : n + 1 - replay_base]
            profile._qt = profile._advance(profile._qt, replay, windows, replay_base, n, q_values)
        return profile
