"""The contract of a score calibrator, and the log-likelihood form every calibrator reports."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from udfs.params.declaration import ParamSet

__all__ = ["Calibration", "Calibrator", "log_tail_score"]

#: Tail probabilities are floored here in the log form (Numenta's 1e-10).
_EPSILON = 1e-10
_LOG_EPSILON = math.log(_EPSILON)


def log_tail_score(p: float) -> float:
    """``log(p + 1e-10) / log(1e-10)`` clipped to [0, 1]: Numenta's log-likelihood of a tail probability.

    >>> log_tail_score(1.0), round(log_tail_score(1e-5), 3), log_tail_score(0.0)
    (0.0, 0.5, 1.0)
    """
    if math.isnan(p):
        return math.nan
    return min(1.0, max(0.0, math.log(p + _EPSILON) / _LOG_EPSILON))


@dataclass(frozen=True)
class Calibration:
    """A raw score, calibrated.

    Attributes
    ----------
    value : float
        The calibrated score in [0, 1] (:func:`log_tail_score` of ``tail``); NaN while learning.
    tail : float
        Probability of a score at least this extreme under what was learned; NaN while learning.
    alert : bool
        ``tail <= risk``, never while learning.
    threshold : float
        The raw score at which an alert starts, where the method has one (SPOT's ``z_q``), else NaN.
    rule : str or None
        With ``alert``: the method that fired (the calibrator's ``name``, or the parts of a
        combined one that fired, e.g. ``'spot'``); None otherwise.
    """

    value: float
    tail: float
    alert: bool
    threshold: float = math.nan
    rule: str | None = None


LEARNING = Calibration(math.nan, math.nan, False)


class Calibrator(ABC):
    """Base of calibrators: one instance follows the raw scores of one series.

    Like a detector: ``score_one`` never mutates, ``learn_one`` folds a raw score in,
    ``update`` is both, ``state_dict``/``from_state`` round-trip through JSON, and the
    parameters are declared once in ``parameters``. A non-finite raw score (the
    detector warming up) is neither scored nor learned.
    """

    name: ClassVar[str]
    parameters: ClassVar[ParamSet]
    risk: float

    def __init__(self, **params: Any) -> None:
        for key, value in self.parameters.resolve(params).items():
            setattr(self, key, value)

    def params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.parameters}

    def _verdict(self, tail: float, threshold: float = math.nan) -> Calibration:
        alert = tail <= self.risk
        return Calibration(log_tail_score(tail), tail, alert, threshold, self.name if alert else None)

    @abstractmethod
    def score_one(self, t: int, raw: float) -> Calibration:
        """Calibrate raw score ``raw`` at time ``t`` without changing state."""

    @abstractmethod
    def learn_one(self, t: int, raw: float) -> None:
        """Fold raw score ``raw`` into the state (ignored when not finite)."""

    def update(self, t: int, raw: float) -> Calibration:
        calibration = self.score_one(t, raw)
        self.learn_one(t, raw)
        return calibration

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state, parameters included."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: Mapping[str, Any]) -> Calibrator:
        """Rebuild a calibrator from :meth:`state_dict` output."""
