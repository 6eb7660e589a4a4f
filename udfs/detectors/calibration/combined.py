"""The default calibration: the anomaly likelihood OR a streaming extreme-value threshold, at one risk."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from udfs.detectors.calibration.base import Calibration, Calibrator
from udfs.detectors.calibration.likelihood import AnomalyLikelihood
from udfs.detectors.calibration.spot import DSpot, Spot
from udfs.params.declaration import ParamSet

__all__ = ["LikelihoodOrDSpot", "LikelihoodOrSpot"]


def _union(*sets: ParamSet) -> ParamSet:
    return ParamSet(**{name: params[name] for params in sets for name in params})


class LikelihoodOrSpot(Calibrator):
    """An alert when the anomaly likelihood fires or when SPOT's threshold is crossed, at the same ``risk``.

    The two answer different questions. The likelihood (:class:`AnomalyLikelihood`)
    judges the *mean* of the last ``short_window`` raw scores: it catches a sustained
    change, but one extreme score among ten ordinary ones moves that mean little (mad's
    raw score 8 against a usual 0.3 gave a likelihood tail of 0.3, no alert). SPOT
    (:class:`Spot`) judges the raw score itself against a generalised Pareto tail of
    the scores: it catches the isolated extreme point, but not a level shift that
    keeps the scores moderately high. Both learn every raw score; both wait
    ``learning_period`` scores.

    The calibrated score is the larger of the two (both are the log form of a tail
    probability, so it is that of the smaller tail and ``value >= log_tail_score(risk)``
    exactly when one of them alerts); ``threshold`` is SPOT's ``z_q``; ``rule`` names
    the part that fired, or both joined by ``+``. The false-alarm budget is at most
    ``2 * risk`` per point (each part spends ``risk``), before the cooldown.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(1)
    >>> calibrator = LikelihoodOrSpot(risk=1e-4, learning_period=500)
    >>> for i in range(3000):
    ...     _ = calibrator.update(i, rng.expovariate(1.0))
    >>> calibrator.score_one(3000, 3.0).alert
    False
    >>> calibrator.score_one(3000, 12.0).rule  # one extreme score: the mean of ten hardly moves
    'spot'
    >>> for i in range(3000, 3010):
    ...     _ = calibrator.update(i, 2.5)  # a sustained rise, each score far below SPOT's threshold
    >>> got = calibrator.score_one(3010, 2.5)
    >>> got.rule, got.alert, got.value >= calibrator.score_one(3010, 2.0).value
    ('likelihood', True, True)
    """

    name: ClassVar[str] = "likelihood+spot"
    tail_cls: ClassVar[type[Spot]] = Spot
    parameters: ClassVar[ParamSet] = _union(AnomalyLikelihood.parameters, Spot.parameters)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        settings = self.params()
        self.likelihood = AnomalyLikelihood(**{k: settings[k] for k in AnomalyLikelihood.parameters})
        self.extreme: Spot = self.tail_cls(**{k: settings[k] for k in self.tail_cls.parameters})

    def score_one(self, t: int, raw: float) -> Calibration:
        a, b = self.likelihood.score_one(t, raw), self.extreme.score_one(t, raw)
        fired = "+".join(c.rule for c in (a, b) if c.rule is not None) or None
        values = [c.value for c in (a, b) if not math.isnan(c.value)]
        tails = [c.tail for c in (a, b) if not math.isnan(c.tail)]
        return Calibration(max(values) if values else math.nan, min(tails) if tails else math.nan,
                           fired is not None, b.threshold, fired)

    def learn_one(self, t: int, raw: float) -> None:
        self.likelihood.learn_one(t, raw)
        self.extreme.learn_one(t, raw)

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "likelihood": self.likelihood.state_dict(),
                "extreme": self.extreme.state_dict()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LikelihoodOrSpot:
        calibrator = cls(**state["params"])
        calibrator.likelihood = AnomalyLikelihood.from_state(state["likelihood"])
        extreme = cls.tail_cls.from_state(state["extreme"])
        assert isinstance(extreme, cls.tail_cls)
        calibrator.extreme = extreme
        return calibrator


class LikelihoodOrDSpot(LikelihoodOrSpot):
    """:class:`LikelihoodOrSpot` with DSPOT (the raw score minus its drifting baseline) as the extreme part."""

    name: ClassVar[str] = "likelihood+dspot"
    tail_cls: ClassVar[type[Spot]] = DSpot
    parameters: ClassVar[ParamSet] = _union(AnomalyLikelihood.parameters, DSpot.parameters)
