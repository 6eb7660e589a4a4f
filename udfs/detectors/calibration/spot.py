"""Streaming extreme-value thresholds: SPOT and DSPOT (Siffer et al., KDD 2017)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

from udfs.detectors.calibration.base import LEARNING, Calibration, Calibrator
from udfs.detectors.calibration.gpd import ParetoTail, fit_pareto
from udfs.detectors.calibration.parameters import CALIBRATION_PARAMETERS as _P
from udfs.params.declaration import ParamSet

__all__ = ["SHAPE_RANGE", "DSpot", "Spot"]

#: GPD shapes SPOT extrapolates with. Not below 0: a bounded tail (shape < 0) fitted to a few
#: dozen peaks ends just past the largest of them, so every score beyond that end point has
#: probability 0 and is an alert. On i.i.d. |N(0, 1)| scores (risk 1e-5, 288 learning scores)
#: that gave 1.2 alerts per 5,000 scores against a budget of 0.05; no lighter than exponential,
#: 0.075. A light-tailed score is then judged conservatively, never more often than its risk.
SHAPE_RANGE = (0.0, 0.5)


def _quantile(values: list[float], level: float) -> float:
    """Linear-interpolation quantile (numpy's default) of a non-empty list."""
    ordered = sorted(values)
    position = level * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class Spot(Calibrator):
    """Peaks over threshold with a generalised Pareto tail: the threshold ``z_q`` of a stated risk ``q``.

    Siffer et al.'s SPOT: the first ``learning_period`` raw scores set the initial
    threshold ``t`` (their ``level`` quantile) and the first peaks (excesses over
    ``t``); a GPD fitted to the peaks gives ``z_q = t + sigma / gamma ((q n / N_t)^-gamma - 1)``,
    the score exceeded with probability ``q = risk`` per point. After that a score
    beyond ``z_q`` is an alert; one between ``t`` and ``z_q`` is a new
    peak and the tail is refitted; an alert is kept as a peak at ``z_q`` (see
    ``learn_one``) rather than left out as in the paper. The calibrated score is the log form of the tail
    probability ``(N_t / n) P(Y > x - t)``, and never below the share of learned peaks at
    least as high (``#{y >= x - t} / (n + 1)``).

    Unlike the paper, which keeps every peak forever, peaks (and the count ``n``)
    cover the last ``historic_window`` learned scores: memory stays bounded and the
    tail follows slow changes. The GPD is fitted by probability-weighted moments
    (:mod:`.gpd`), not Grimshaw's maximum likelihood, with its shape kept in
    :data:`SHAPE_RANGE` (never a bounded tail).

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> spot = Spot(risk=1e-3, learning_period=500)
    >>> for i in range(3000):
    ...     _ = spot.update(i, rng.expovariate(1.0))
    >>> 5.5 < spot.score_one(3000, 0.0).threshold < 8.5  # exp(1): P(X > z) = 1e-3 at z = 6.9
    True
    >>> spot.score_one(3000, 5.0).alert, spot.score_one(3000, 12.0).alert
    (False, True)
    """

    name: ClassVar[str] = "spot"
    parameters: ClassVar[ParamSet] = ParamSet(
        risk=_P["risk"], learning_period=_P["learning_period"], level=_P["level"],
        historic_window=_P["historic_window"],
    )
    learning_period: int
    level: float
    historic_window: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._initial: list[float] = []
        self._t = math.nan
        self._k = 0  # learned scores since the start
        self._peaks: deque[tuple[int, float]] = deque()  # (learned index, excess over t)
        self._tail = ParetoTail(0.0, 0.0)

    # -- hooks DSPOT overrides -------------------------------------------------------
    def _baseline(self) -> float:
        """What the raw score is measured from (0 for SPOT); NaN while unknown."""
        return 0.0

    def _remember(self, raw: float) -> None:
        """A raw score that was learned (not an alert)."""

    # -- the tail ----------------------------------------------------------------------
    def _span(self) -> int:
        return min(self._k, self.historic_window)

    def _threshold(self) -> float:
        peaks = len(self._peaks)
        if peaks == 0:
            return math.inf
        ratio = self.risk * self._span() / peaks
        return self._t + (self._tail.quantile(ratio) if ratio < 1.0 else 0.0)

    def _tail_probability(self, x: float) -> float:
        span, peaks = self._span(), len(self._peaks)
        if x <= self._t:  # not even a peak: never an alert
            return 1.0
        if peaks == 0:  # nothing ever exceeded t: one observation in span + 1
            return 1.0 / (span + 1)
        p = peaks / span * self._tail.survival(x - self._t)
        if p <= self.risk:
            # Never rarer than the learned scores show: a score that ties or stays below peaks
            # already learned is not past the tail, whatever the fit says (a saturating score,
            # such as a conformal p-value at its floor, would otherwise alert every time).
            seen = sum(1 for _, y in self._peaks if y >= x - self._t)
            p = max(p, seen / (span + 1))
        return p

    def score_one(self, t: int, raw: float) -> Calibration:
        baseline = self._baseline()
        if not math.isfinite(raw) or math.isnan(self._t) or math.isnan(baseline):
            return LEARNING
        threshold = self._threshold() + baseline
        return self._verdict(self._tail_probability(raw - baseline), threshold)

    def learn_one(self, t: int, raw: float) -> None:
        if not math.isfinite(raw):
            return
        baseline = self._baseline()
        if math.isnan(baseline):
            self._remember(raw)
            return
        x = raw - baseline
        if math.isnan(self._t):
            self._remember(raw)
            self._initial.append(x)
            if len(self._initial) >= self.learning_period:
                self._start()
            return
        if self._tail_probability(x) <= self.risk:
            # An alert counts as a peak at z_q: the number of exceedances stays honest (leaving
            # alerts out entirely lowers z_q, which makes more alerts: a feedback loop), while the
            # anomaly's own size does not widen the tail.
            z = self._threshold()
            self._peaks.append((self._k, max((z if math.isfinite(z) else x) - self._t, 0.0)))
        else:
            self._remember(raw)
            if x > self._t:
                self._peaks.append((self._k, x - self._t))
        self._k += 1
        expired = False
        while self._peaks and self._peaks[0][0] < self._k - self.historic_window:
            self._peaks.popleft()
            expired = True
        if expired or x > self._t:
            self._refit()

    def _start(self) -> None:
        self._t = _quantile(self._initial, self.level)
        start = max(0, len(self._initial) - self.historic_window)
        self._peaks = deque((i, x - self._t) for i, x in enumerate(self._initial) if x > self._t and i >= start)
        self._k = len(self._initial)
        self._initial = []
        self._refit()

    def _refit(self) -> None:
        self._tail = fit_pareto([y for _, y in self._peaks], SHAPE_RANGE)

    # -- state -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "initial": list(self._initial), "t": self._t, "k": self._k,
                "peaks": [[i, y] for i, y in self._peaks]}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Spot:
        calibrator = cls(**state["params"])
        calibrator._initial = [float(v) for v in state["initial"]]
        calibrator._t = float(state["t"])
        calibrator._k = int(state["k"])
        calibrator._peaks = deque((int(i), float(y)) for i, y in state["peaks"])
        calibrator._refit()
        return calibrator


class DSpot(Spot):
    """SPOT on the drift-corrected score ``x - M``, ``M`` the mean of the last ``drift_window`` normal scores.

    Siffer et al.'s DSPOT: the baseline follows slow drift, so a slowly rising raw
    score is not an alert but a jump above the recent level is. Scores that raise an
    alert are kept out of the baseline. The first ``drift_window`` scores fill the
    baseline, the next ``learning_period`` set the initial threshold.

    Examples
    --------
    >>> dspot = DSpot(risk=1e-3, learning_period=200, drift_window=20)
    >>> for i in range(2000):
    ...     _ = dspot.update(i, 0.01 * i + 0.3 * ((i * 7) % 5))  # a trend plus bounded noise
    >>> dspot.score_one(2000, 20.6).alert, dspot.score_one(2000, 40.0).alert
    (False, True)
    """

    name: ClassVar[str] = "dspot"
    parameters: ClassVar[ParamSet] = Spot.parameters | ParamSet(drift_window=_P["drift_window"])
    drift_window: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._recent: deque[float] = deque(maxlen=self.drift_window)

    def _baseline(self) -> float:
        if len(self._recent) < self.drift_window:
            return math.nan
        return math.fsum(self._recent) / len(self._recent)

    def _remember(self, raw: float) -> None:
        self._recent.append(raw)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "recent": list(self._recent)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> DSpot:
        calibrator = super().from_state(state)
        assert isinstance(calibrator, DSpot)
        calibrator._recent.extend(float(v) for v in state["recent"])
        return calibrator
