"""Calibration: raw anomaly scores into calibrated scores in [0, 1] and verdicts with a false-alarm budget.

A detector's raw score has its own scale (a z-score, a share of votes, a distance);
a fixed threshold on it floods users with alerts on one series and misses on the
next. This layer sits after any detector, composed rather than copied into each one
(like river's thresholders):

* :class:`AnomalyLikelihood` - Numenta's anomaly likelihood (Ahmad et al. 2017).
* :class:`Spot` / :class:`DSpot` - streaming peaks-over-threshold with a generalised
  Pareto tail (Siffer et al., KDD 2017); DSPOT on the drift-corrected score.
* :class:`LikelihoodOrSpot` - the default: an alert when the likelihood (sustained
  changes) or SPOT (isolated extreme scores) fires, at the same risk.
* :class:`Cooldown` - suppression: no second alert in a group within ``cooldown``.
* :class:`CalibratedVerdicts` - a calibrator and a cooldown applied to a detector's
  verdicts: what every detector UDF and ``udfs evaluate nab`` run.
* :func:`calibrated` - a detector class wrapped with it (for the benchmark and the checks).

Each calibrated score is the log-likelihood form of a tail probability ``p`` (the
chance, under what was learned, of a score at least this extreme):
``log(p + 1e-10) / log(1e-10)``, 0 for unremarkable, 1 for p <= 1e-10, and an alert is
``p <= risk`` (``risk=1e-5`` is a calibrated score of 0.5, Numenta's cut-off).

Only the declarations (:mod:`.parameters`) are imported eagerly: the UDF layer reads
them to answer ``Info`` without loading numpy.
"""

from __future__ import annotations

import importlib
from typing import Any

from udfs.detectors.calibration.parameters import CALIBRATION_MODES, CALIBRATION_PARAMETERS

__all__ = [
    "CALIBRATION_MODES",
    "CALIBRATION_PARAMETERS",
    "AnomalyLikelihood",
    "CalibratedDetector",
    "CalibratedVerdicts",
    "Calibrator",
    "Cooldown",
    "DSpot",
    "LikelihoodOrDSpot",
    "LikelihoodOrSpot",
    "Spot",
    "calibrated",
]

_LAZY = {
    "Calibrator": "base",
    "AnomalyLikelihood": "likelihood",
    "Spot": "spot",
    "DSpot": "spot",
    "LikelihoodOrSpot": "combined",
    "LikelihoodOrDSpot": "combined",
    "Cooldown": "suppression",
    "CalibratedVerdicts": "verdicts",
    "CalibratedDetector": "wrapper",
    "calibrated": "wrapper",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'udfs.detectors.calibration' has no attribute {name!r}")
    return getattr(importlib.import_module(f"udfs.detectors.calibration.{module}"), name)
