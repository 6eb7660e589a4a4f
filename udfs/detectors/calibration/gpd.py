"""The generalised Pareto tail of SPOT: fit (probability-weighted moments), quantile and tail probability.

Siffer et al. fit the tail by maximum likelihood (Grimshaw's trick); we use Hosking and
Wallis's (1987) probability-weighted moments instead, closed-form and stable with a
few dozen peaks, so a refit at every new peak costs a sort, not an optimisation.
Pure Python: no numpy or scipy on the protocol path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ParetoTail", "fit_pareto"]

#: Shapes are kept in this range: beyond 1/2 the moments do not exist and the estimate is noise.
_SHAPE_RANGE = (-0.5, 0.5)
#: Fewer peaks than this and the tail is taken as exponential (shape 0).
MIN_PEAKS_FOR_SHAPE = 10


@dataclass(frozen=True)
class ParetoTail:
    """Excesses ``y`` over the initial threshold follow GPD(shape ``gamma``, scale ``sigma``)."""

    gamma: float
    sigma: float

    def survival(self, y: float) -> float:
        """P(Y > y) for an excess ``y >= 0``.

        >>> round(ParetoTail(0.0, 2.0).survival(2.0), 4)
        0.3679
        """
        if self.sigma <= 0.0:
            return 0.0 if y > 0 else 1.0
        if abs(self.gamma) < 1e-9:
            return math.exp(-y / self.sigma)
        base = 1.0 + self.gamma * y / self.sigma
        if base <= 0.0:
            return 0.0
        return float(base ** (-1.0 / self.gamma))

    def quantile(self, p: float) -> float:
        """The excess ``y`` with ``P(Y > y) = p`` (``0 < p <= 1``).

        >>> tail = ParetoTail(0.2, 1.5)
        >>> round(tail.survival(tail.quantile(1e-3)), 6)
        0.001
        """
        if abs(self.gamma) < 1e-9:
            return -self.sigma * math.log(p)
        return self.sigma / self.gamma * (p ** (-self.gamma) - 1.0)


def fit_pareto(excesses: Sequence[float], shape_range: tuple[float, float] = _SHAPE_RANGE) -> ParetoTail:
    """GPD fitted to positive ``excesses`` by probability-weighted moments.

    With ``a0`` the mean and ``a1 = mean(y_(j) (n - j) / (n - 1))`` over the sorted
    excesses, Hosking's shape is ``k = a0 / (a0 - 2 a1) - 2`` and the scale
    ``2 a0 a1 / (a0 - 2 a1)``; Siffer's ``gamma`` is ``-k``. Exponential (``gamma = 0``,
    scale = mean) when there are fewer than ten excesses or the moments are degenerate.
    A shape outside ``shape_range`` is clamped to it, the scale then chosen to keep the
    mean excess.

    >>> fit_pareto([1.0, 1.0, 1.0])
    ParetoTail(gamma=0.0, sigma=1.0)
    """
    n = len(excesses)
    if n == 0:
        return ParetoTail(0.0, 0.0)
    a0 = math.fsum(excesses) / n
    if n < MIN_PEAKS_FOR_SHAPE:
        return ParetoTail(0.0, a0)
    ordered = sorted(excesses)
    a1 = math.fsum(y * (n - j) / (n - 1) for j, y in enumerate(ordered, start=1)) / n
    denominator = a0 - 2.0 * a1
    if denominator <= 0.0 or a1 <= 0.0:
        return ParetoTail(0.0, a0)
    gamma = -(a0 / denominator - 2.0)
    if not shape_range[0] <= gamma <= shape_range[1]:
        gamma = min(max(gamma, shape_range[0]), shape_range[1])
        # keep the mean excess right for the clamped shape: E[Y] = sigma / (1 - gamma)
        return ParetoTail(gamma, a0 * (1.0 - gamma))
    return ParetoTail(gamma, 2.0 * a0 * a1 / denominator)
