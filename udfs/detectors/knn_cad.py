"""Conformal k-nearest-neighbour anomaly detection over lagged windows (after KNN CAD)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["KnnConformal"]


def non_conformity(vectors: np.ndarray, training: np.ndarray, k: int) -> np.ndarray:
    """Sum of the Euclidean distances from each row of ``vectors`` to its ``k`` nearest training rows."""
    distances = np.sqrt(((vectors[:, None, :] - training[None, :, :]) ** 2).sum(axis=2))
    return np.sort(distances, axis=1)[:, :k].sum(axis=1)


class KnnConformal(Detector):
    """Conformal p-value of the latest lagged window's distance to its nearest neighbours.

    After Burnaev & Ishimtsev (2016), the KNN CAD detector of NAB, written from the
    paper. Each value ends a vector of the last ``dim`` values. Its non-conformity
    ``alpha`` is the sum of the distances to its ``k`` nearest vectors in a
    training set; the score is ``1 - p``, where the conformal p-value
    ``p = (1 + #{calibration alphas >= alpha}) / (1 + calibration_size)`` compares
    it with the alphas of a calibration set scored against the same training set.
    Every ``calibration_size`` values the sets roll forward: the calibration set
    becomes the last ``calibration_size`` vectors, the training set the
    ``train_size`` vectors before them, and the calibration alphas are recomputed.

    Notes
    -----
    A score of ``1 - 1 / (1 + calibration_size)`` (0.9967 by default) means the
    window is further from its neighbours than every calibration window; the
    default ``threshold`` flags exactly those. The score is already a calibrated
    tail probability (a conformal p-value is at most ``a`` with probability at most
    ``a`` on exchangeable data), so the UDF's default ``.calibration()`` is ``'none'``
    and only the rest period and the cooldown apply: the shared calibrations fit a
    distribution to the raw scores, and this one is bounded just below 1 with many
    ties at its top value (SPOT then only sees ties, the likelihood the mean of ten
    p-values). On i.i.d. noise the default threshold fires on about one value in
    ``1 + calibration_size`` that is not resting. Until ``dim - 1 + train_size +
    calibration_size`` values have been learned the score is NaN. A vector with a
    NaN or infinity is never formed: non-finite values are not learned and score
    NaN. ``details``: ``alpha`` (the non-conformity, NaN when not scored).

    Examples
    --------
    >>> detector = KnnConformal(dim=3, k=2, train_size=40, calibration_size=40,
    ...                         threshold=0.97, rest_period=0)
    >>> for i in range(200):
    ...     _ = detector.update(i, math.sin(i / 3.0))
    >>> detector.update(200, math.sin(200 / 3.0)).is_anomaly
    False
    >>> verdict = detector.update(201, 5.0)
    >>> verdict.is_anomaly, round(verdict.score, 4)
    (True, 0.9756)
    """

    name: ClassVar[str] = "knn_cad"
    parameters: ClassVar[ParamSet] = ParamSet(
        dim=Param.integer(19, "Values in each lagged window vector (NAB's KNN CAD uses 19).", low=1, high=1000),
        k=Param.integer(27, "Nearest training vectors summed into the non-conformity (at most train_size).",
                        low=1, high=MAX_WINDOW),
        train_size=Param.integer(300, "Vectors in the training set.", low=1, high=100_000),
        calibration_size=Param.integer(300, "Vectors in the calibration set, and values between roll-forwards.",
                                       low=1, high=100_000),
        rest_period=Param.integer(150, "Values after an alarm whose score is reported as 0.", low=0,
                                  high=MAX_WINDOW),
        threshold=Param.number(0.995, "Anomaly when the score (1 - conformal p-value) reaches this.", low=0,
                               high=1, closed="right"),
    )
    #: The score is a conformal p-value: calibrated by construction, not a scale to learn.
    calibration_defaults: ClassVar[Mapping[str, Any]] = {"calibration": "none"}
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"k": 31, "train_size": 30},)
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"dim": 4, "k": 3, "train_size": 30, "calibration_size": 20, "rest_period": 10},
    )

    dim: int
    k: int
    train_size: int
    calibration_size: int
    rest_period: int
    threshold: float

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        # The training vectors of the next value plus the dim - 1 values it shares with none of them.
        self._values: deque[float] = deque(maxlen=self.train_size + 2 * (self.dim - 1))
        self._alphas: deque[float] = deque(maxlen=self.calibration_size)
        self._rest = 0  # values still to report as 0

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        if values["k"] > values["train_size"]:
            raise InvalidParameterError(f"k must be <= train_size ({values['train_size']}), got {values['k']}")

    def _alpha(self, x: float) -> float:
        values = np.array(self._values)
        vector = np.append(values[len(values) - (self.dim - 1):], x) if self.dim > 1 else np.array([x])
        # Training vectors end before the current vector starts, so none shares a value with it.
        training = np.lib.stride_tricks.sliding_window_view(values[: len(values) - (self.dim - 1)], self.dim)
        return float(non_conformity(vector[None, :], training, self.k)[0])

    def _ready(self) -> bool:
        return len(self._values) == self._values.maxlen

    def score_one(self, t: int, x: Any) -> Verdict:
        x = float(x)
        if not math.isfinite(x) or len(self._alphas) < self.calibration_size:
            return Verdict(math.nan, False, {"alpha": math.nan, "raw_score": math.nan})
        alpha = self._alpha(x)
        raw = self._raw(alpha)
        score = 0.0 if self._rest > 0 else raw
        return Verdict(score, score >= self.threshold, {"alpha": alpha, "raw_score": raw})

    def _raw(self, alpha: float) -> float:
        return 1.0 - (1 + sum(a >= alpha for a in self._alphas)) / (1 + len(self._alphas))

    def learn_one(self, t: int, x: Any) -> None:
        x = float(x)
        if not math.isfinite(x):
            return
        if self._ready():
            alpha = self._alpha(x)
            if len(self._alphas) == self.calibration_size:
                if self._rest > 0:
                    self._rest -= 1
                elif self._raw(alpha) >= self.threshold:
                    self._rest = self.rest_period
            self._alphas.append(alpha)
        self._values.append(x)

    def state_dict(self) -> dict[str, Any]:
        return {
            "params": self.params(),
            "values": list(self._values),
            "alphas": list(self._alphas),
            "rest": self._rest,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> KnnConformal:
        detector = cls(**state["params"])
        detector._values.extend(float(v) for v in state["values"])
        detector._alphas.extend(float(a) for a in state["alphas"])
        detector._rest = int(state["rest"])
        if detector._alphas and not detector._ready():
            raise ValueError("knn_cad state has calibration scores but not the values they were computed from")
        if not 0 <= detector._rest <= detector.rest_period:
            raise ValueError(f"knn_cad rest {detector._rest} is outside 0..rest_period")
        return detector
