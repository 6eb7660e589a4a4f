"""Streaming anomaly detectors: numpy/scipy/scikit-learn, nothing of protobuf.

``REGISTRY`` maps each detector's name to its class; every registered detector goes
through the common checks in ``tests/detectors/test_common.py``.
"""

from __future__ import annotations

from udfs.detectors.base import Detector, Verdict
from udfs.detectors.edge import EdgeDetector
from udfs.detectors.iqr import InterquartileRange
from udfs.detectors.isolation_forest import IsolationForestDetector
from udfs.detectors.mad import MedianAbsoluteDeviation
from udfs.detectors.sigma import SigmaEnsemble
from udfs.detectors.zscore import ZScore

__all__ = [
    "REGISTRY",
    "Detector",
    "EdgeDetector",
    "InterquartileRange",
    "IsolationForestDetector",
    "MedianAbsoluteDeviation",
    "SigmaEnsemble",
    "Verdict",
    "ZScore",
]

REGISTRY: dict[str, type[Detector]] = {
    "edge": EdgeDetector,
    "iqr": InterquartileRange,
    "isolation_forest": IsolationForestDetector,
    "mad": MedianAbsoluteDeviation,
    "sigma": SigmaEnsemble,
    "zscore": ZScore,
}
