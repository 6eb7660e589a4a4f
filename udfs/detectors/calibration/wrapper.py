"""A detector class with calibrated verdicts: what ``udfs evaluate nab`` and the common checks run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from udfs.detectors.base import Detector, Verdict
from udfs.detectors.calibration.parameters import CALIBRATION_PARAMETERS, calibration_parameters
from udfs.detectors.calibration.verdicts import CalibratedVerdicts

__all__ = ["CalibratedDetector", "calibrated"]

_CACHE: dict[type[Detector], type[CalibratedDetector]] = {}


class CalibratedDetector(Detector):
    """A detector followed by :class:`CalibratedVerdicts`; build the class with :func:`calibrated`.

    Takes the detector's parameters and the calibration ones; ``score`` is the
    detector's raw score, ``is_anomaly`` and the added details come from the
    calibration. The detector UDFs keep the same two parts side by side per group.

    Examples
    --------
    >>> from udfs.detectors import REGISTRY
    >>> Mad = calibrated(REGISTRY["mad"])
    >>> detector = Mad(calibration="spot", risk=1e-3, learning_period=100, cooldown=0)
    >>> verdicts = [detector.update(i, float(i % 5) + 0.01 * (i * 37 % 11)) for i in range(300)]
    >>> sum(v.is_anomaly for v in verdicts), detector.update(300, 50.0).details["alert_rule"]
    (0, 'spot')
    """

    inner: ClassVar[type[Detector]]

    def __init__(self, **params: Any) -> None:  # not Detector.__init__: the parts check their own
        calibration = {k: params.pop(k) for k in list(params) if k in CALIBRATION_PARAMETERS}
        self.detector = self.inner(**params)
        self.verdicts = CalibratedVerdicts(**{**self.inner.calibration_defaults, **calibration})

    @classmethod
    def input_kind_of(cls, params: Mapping[str, Any]) -> str:
        return cls.inner.input_kind_of({k: v for k, v in params.items() if k not in CALIBRATION_PARAMETERS})

    def params(self) -> dict[str, Any]:
        return {**self.detector.params(), **self.verdicts.params()}

    def score_one(self, t: int, x: Any) -> Verdict:
        return self.verdicts.score_one(t, self.detector.score_one(t, x))

    def learn_one(self, t: int, x: Any) -> None:
        raw = self.detector.score_one(t, x)
        self.detector.learn_one(t, x)
        self.verdicts.learn_one(t, raw)

    def update(self, t: int, x: Any) -> Verdict:
        return self.verdicts.update(t, self.detector.update(t, x))

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "detector": self.detector.state_dict(),
                "calibration": self.verdicts.state_dict()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CalibratedDetector:
        detector = cls(**state["params"])
        detector.detector = cls.inner.from_state(state["detector"])
        detector.verdicts = CalibratedVerdicts.from_state(state["calibration"])
        return detector


def calibrated(detector_cls: type[Detector]) -> type[CalibratedDetector]:
    """``detector_cls`` with calibrated verdicts (one class per detector, cached).

    Its ``parameters`` are the detector's followed by the calibration parameters (with
    the detector's ``calibration_defaults``), so its signature, docs and options show both.
    """
    cls = _CACHE.get(detector_cls)
    if cls is None:
        cls = type(f"Calibrated{detector_cls.__name__}", (CalibratedDetector,), {
            "__module__": __name__,
            "__doc__": f"{detector_cls.__name__} with calibrated verdicts (see CalibratedDetector).",
            "name": detector_cls.name,
            "inner": detector_cls,
            "parameters": detector_cls.parameters | calibration_parameters(detector_cls.calibration_defaults),
            "input_kind": detector_cls.input_kind,
            "check_configs": detector_cls.check_configs,
            "invalid_param_examples": detector_cls.invalid_param_examples,
        })
        _CACHE[detector_cls] = cls
    return cls
