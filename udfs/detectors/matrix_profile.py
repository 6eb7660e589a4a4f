"""Discord score of the newest subsequence: its left matrix profile value against a rolling history."""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from udfs.detectors._left_profile import LeftProfile, Step
from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_HISTORY

__all__ = ["MatrixProfile"]

# Distances below this fraction of sqrt(2 m) (z-normalised: a correlation above
# 1 - 5e-7) are rounding noise of the dot-product formula, not a shape difference:
# the typical distance is floored there so that a periodic or constant series does
# not turn that noise into scores.
_RESOLUTION = 1e-3


class MatrixProfile(Detector):
    """How far the newest ``m`` values are from their nearest earlier match, relative to usual.

    For each value ``x_n`` the subsequence of the last ``m`` values (``x_n``
    included) is compared with every earlier subsequence of the window (the last
    ``history`` values and ``x_n``) that starts more than ``ceil(m / 4)`` points
    before it (stumpy's trivial-match exclusion zone). The smallest distance is the
    newest subsequence's left matrix profile value: a shape never seen in the
    window is far from everything (a discord).

    Parameters
    ----------
    See ``parameters`` (one declaration gives the constructor, the
    ``@matrix_profile()`` options and the docs): subsequences of ``m`` values are
    compared with the last ``history`` values (memory and time per point are
    O(history)); a score above ``threshold`` is an anomaly; ``normalize`` compares
    z-normalised subsequences (shape only, like stumpy's ``stumpi``), False raw
    values (Euclidean distance, like ``aampi``); scoring starts after
    ``min_history`` values, from ``m + ceil(m / 4) + 1`` (the newest subsequence then
    has a neighbour, and one earlier distance exists) to ``history``.

    Notes
    -----
    The distance is stumpy's: with ``rho`` the Pearson correlation of the two
    subsequences, ``sqrt(2 m (1 - rho))``; 0 between two constant subsequences and
    ``sqrt(m)`` between a constant and a varying one. It is, up to rounding, the
    last entry of ``left_P_`` of a ``stumpy.stumpi(T, m, egress=True)`` built on the
    first ``history + 1`` values and updated with each later one, so that its
    ``T_`` is the window (while the window is shorter, one with ``egress=False``).

    The score is the distance over the typical distance: the median of the last
    ``history`` distances of subsequences that vary, floored at ``1e-3 * sqrt(2 m)``
    (times the standard deviation of the kept values when ``normalize`` is False).
    3.0 thus means three times farther from any earlier match than usual; on noise or
    a random walk the z-normalised score stays near 2 at most, a shape never seen goes
    well above. With ``normalize`` the distances of constant subsequences are left out
    of the median: their 0 (from another constant one) or ``sqrt(m)`` is a
    convention, not a measured match, and on a series that is flat most of the time
    those zeros made the median 0, so every varying subsequence scored
    ``sqrt(m) / floor`` (707 for ``m=32``). A constant subsequence is still scored
    against the varying ones (a flat line in a varying series stands out); until a
    varying subsequence has been measured, nothing is scored.

    NaN and infinite values are not learned; their verdict has a NaN score and is
    not an anomaly. Subsequences are made of learned values, so a gap closes up:
    the values either side of a NaN become neighbours.

    ``details``: ``distance`` (the left matrix profile value; NaN until the newest
    subsequence has a neighbour) and ``neighbor_age`` (how many points before the
    newest subsequence its nearest neighbour starts; None without one). Cost per
    point: a few vectorised passes over the history, no compilation.

    Examples
    --------
    >>> import math
    >>> detector = MatrixProfile(m=8, history=200, min_history=40)
    >>> wave = [math.sin(i / 3.0) for i in range(120)]
    >>> verdicts = [detector.update(i, x) for i, x in enumerate(wave)]
    >>> verdicts[-1].is_anomaly, verdicts[-1].details["neighbor_age"]
    (False, 19)
    >>> detector.update(120, 5.0).is_anomaly
    True
    """

    name: ClassVar[str] = "matrix_profile"
    parameters: ClassVar[ParamSet] = ParamSet(
        m=Param.integer(32, "Subsequence length, in points.", low=3, high=MAX_HISTORY),
        history=Param.integer(2000, "Past values the subsequence is compared with.", low=5, high=MAX_HISTORY),
        threshold=Param.number(3.0, "Anomaly when the distance exceeds this many times the median recent "
                               "distance.", low=0, closed="neither"),
        normalize=Param.flag(True, "Compare z-normalised subsequences (shape only); FALSE compares raw values."),
        min_history=Param.integer(128, "Values needed before scoring starts (m + ceil(m / 4) + 1 to history).",
                                  low=5, high=MAX_HISTORY),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"m": 8, "min_history": 10},
        {"history": 50, "min_history": 100},
    )
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"m": 8, "history": 100, "min_history": 32},
        {"m": 8, "history": 100, "min_history": 32, "normalize": False},
    )

    m: int
    history: int
    threshold: float
    normalize: bool
    min_history: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        m, history, normalize = self.m, self.history, self.normalize
        self._profile = LeftProfile(m, history, normalize)
        self._distances = np.zeros(history)  # ring of the last `history` distances
        self._sorted: list[float] = []  # the same distances, sorted: the median in O(1)
        self._scored = 0  # distances ever written

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        m, least = values["m"], values["m"] + math.ceil(values["m"] / 4) + 1
        if values["min_history"] < least:
            raise InvalidParameterError(
                f"min_history must be >= m + ceil(m / 4) + 1 = {least} (m = {m}), got {values['min_history']}"
            )
        if values["min_history"] > values["history"]:
            raise InvalidParameterError(
                f"min_history must be <= history ({values['history']}), got {values['min_history']}"
            )

    def _verdict(self, step: Step | None) -> Verdict:
        if step is None:
            return Verdict(math.nan, False, {"distance": math.nan, "neighbor_age": None})
        distance = step.distance
        details = {"distance": distance, "neighbor_age": step.lag}
        if self._profile.count < self.min_history or math.isnan(distance) or self._scored == 0:
            return Verdict(math.nan, False, details)
        ranked = self._sorted
        typical = (ranked[(len(ranked) - 1) // 2] + ranked[len(ranked) // 2]) / 2
        scale = 1.0 if self.normalize else float(np.std(self._profile.values()))
        typical = max(typical, _RESOLUTION * math.sqrt(2 * self.m) * scale)
        if typical > 0:
            score = distance / typical
        else:  # raw distances of a constant history
            score = 0.0 if distance == 0 else math.inf
        return Verdict(score, score > self.threshold, details)

    def _peek(self, x: Any) -> Step | None:
        x = float(x)
        return self._profile.peek(x) if math.isfinite(x) else None

    def score_one(self, t: int, x: Any) -> Verdict:
        return self._verdict(self._peek(x))

    def _learn(self, step: Step | None) -> None:
        if step is None:
            return
        # stats[2]: the newest subsequence is constant (always False without normalize).
        if not math.isnan(step.distance) and not (step.stats is not None and step.stats[2][0]):
            slot = self._scored % self.history
            if self._scored >= self.history:
                del self._sorted[bisect_left(self._sorted, self._distances[slot])]
            self._distances[slot] = step.distance
            insort(self._sorted, step.distance)
            self._scored += 1
        self._profile.commit(step)

    def learn_one(self, t: int, x: Any) -> None:
        self._learn(self._peek(x))

    def update(self, t: int, x: Any) -> Verdict:
        step = self._peek(x)  # computed once for both
        verdict = self._verdict(step)
        self._learn(step)
        return verdict

    def state_dict(self) -> dict[str, Any]:
        kept = min(self._scored, self.history)
        start = self._scored % self.history if self._scored > self.history else 0
        return {
            "params": self.params(),
            "values": self._profile.values().tolist(),
            "count": self._profile.count,
            "offset": self._profile.offset,
            "distances": np.roll(self._distances[:kept], -start).tolist(),
            "scored": self._scored,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> MatrixProfile:
        detector = cls(**state["params"])
        p = detector.params()
        detector._profile = LeftProfile.restore(
            p["m"], p["history"], p["normalize"], [float(v) for v in state["values"]],
            int(state["count"]), float(state["offset"]),
        )
        distances = [float(v) for v in state["distances"]]
        detector._scored = int(state["scored"])
        if len(distances) != min(detector._scored, detector.history):
            raise ValueError(f"{len(distances)} distances for {detector._scored} scored")
        # Oldest first, placed where the ring would hold them (the median ignores order).
        start = detector._scored % detector.history if detector._scored > detector.history else 0
        detector._distances[: len(distances)] = np.roll(distances, start)
        detector._sorted = sorted(distances)
        return detector
