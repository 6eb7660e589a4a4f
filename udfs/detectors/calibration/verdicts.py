"""A calibrator and a cooldown applied to a detector's verdicts: the alerting every detector UDF shares."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from udfs.detectors.base import Verdict
from udfs.detectors.calibration.base import Calibrator
from udfs.detectors.calibration.combined import LikelihoodOrDSpot, LikelihoodOrSpot
from udfs.detectors.calibration.likelihood import AnomalyLikelihood
from udfs.detectors.calibration.parameters import CALIBRATION_PARAMETERS
from udfs.detectors.calibration.spot import DSpot, Spot
from udfs.detectors.calibration.suppression import Cooldown

__all__ = ["CALIBRATORS", "CalibratedVerdicts"]

#: ``.calibration()`` name -> calibrator class ('none' has none).
CALIBRATORS: dict[str, type[Calibrator]] = {
    cls.name: cls for cls in (LikelihoodOrSpot, LikelihoodOrDSpot, AnomalyLikelihood, Spot, DSpot)
}


class CalibratedVerdicts:
    """Turns a detector's verdicts into calibrated, suppressed alerts, for one series.

    Parameters are the :data:`~udfs.detectors.calibration.parameters.CALIBRATION_PARAMETERS`
    (``calibration``, ``risk``, ``cooldown``, ...). The verdict that comes out keeps the
    raw ``score`` and the detector's details and adds:

    ``calibrated_score``
        The calibrated score in [0, 1] (absent with ``calibration='none'`` and while learning).
    ``alert_threshold``
        SPOT/DSPOT: the raw score at which alerts start.
    ``alert_rule``
        What decided when ``is_anomaly``: ``'likelihood'``, ``'spot'``, ``'dspot'`` (with
        ``'likelihood+spot'``, the default, whichever of its two parts fired, or
        ``'likelihood+spot'`` for both), or ``'threshold'`` (the detector's own, with
        ``'none'``); ``'cooldown'`` when an alert was suppressed; absent otherwise.

    ``is_anomaly`` is the calibrator's alert (the detector's own verdict with
    ``'none'``), never while the detector or the calibrator is learning, and not within
    ``cooldown`` of the previous alert.

    Examples
    --------
    >>> stage = CalibratedVerdicts(calibration="none", cooldown=10)
    >>> [stage.update(t, Verdict(5.0, True)).is_anomaly for t in range(0, 30, 5)]
    [True, False, True, False, True, False]
    >>> stage.update(30, Verdict(5.0, True)).details["alert_rule"]
    'threshold'
    """

    def __init__(self, **params: Any) -> None:
        self.settings = CALIBRATION_PARAMETERS.resolve(params)
        mode = self.settings["calibration"]
        self.calibrator: Calibrator | None = None
        if mode in CALIBRATORS:
            cls = CALIBRATORS[mode]
            self.calibrator = cls(**{k: self.settings[k] for k in cls.parameters})
        self.cooldown = Cooldown(self.settings["cooldown"])

    def params(self) -> dict[str, Any]:
        return dict(self.settings)

    def score_one(self, t: int, verdict: Verdict) -> Verdict:
        """The calibrated verdict for ``verdict`` at ``t``, without changing state."""
        details = dict(verdict.details)
        rule: str | None
        if self.calibrator is None:
            alert, rule = bool(verdict.is_anomaly), "threshold"
            details["calibrated_score"] = None
        else:
            calibration = self.calibrator.score_one(t, float(verdict.score))
            alert, rule = calibration.alert, calibration.rule
            details["calibrated_score"] = None if math.isnan(calibration.value) else calibration.value
            if not math.isnan(calibration.threshold):
                details["alert_threshold"] = calibration.threshold
        passed = alert and self.cooldown.allows(t)
        details["alert_rule"] = rule if passed else ("cooldown" if alert else None)
        return Verdict(verdict.score, passed, details)

    def learn_one(self, t: int, verdict: Verdict, decided: Verdict | None = None) -> None:
        """Learn ``verdict``'s raw score; ``decided`` is :meth:`score_one`'s answer if already known."""
        decided = decided if decided is not None else self.score_one(t, verdict)
        if self.calibrator is not None:
            self.calibrator.learn_one(t, float(verdict.score))
        self.cooldown.learn_one(t, decided.is_anomaly)

    def update(self, t: int, verdict: Verdict) -> Verdict:
        decided = self.score_one(t, verdict)
        self.learn_one(t, verdict, decided)
        return decided

    def state_dict(self) -> dict[str, Any]:
        return {
            "params": CALIBRATION_PARAMETERS.resolve(self.settings),
            "calibrator": None if self.calibrator is None else self.calibrator.state_dict(),
            "cooldown": self.cooldown.state_dict(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CalibratedVerdicts:
        stage = cls(**state["params"])
        if stage.calibrator is not None:
            stage.calibrator = type(stage.calibrator).from_state(state["calibrator"])
        stage.cooldown = Cooldown.from_state(state["cooldown"])
        return stage
