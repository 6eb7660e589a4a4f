"""Streaming anomaly detectors: numpy/scipy/scikit-learn, nothing of protobuf.

``REGISTRY`` maps each detector's name to its class; every registered detector goes
through the common checks in ``tests/detectors/test_common.py``. Classes are imported
on first access, so a UDF process that runs one detector does not import the
libraries of all the others (scikit-learn, statsmodels) at start-up.
"""

from __future__ import annotations

from typing import Any

from udfs.detectors.base import Detector, Verdict
from udfs.registry import LazyRegistry

__all__ = ["REGISTRY", "Detector", "Verdict"]

#: name -> "module:Class". One line per detector.
_TARGETS: dict[str, str] = {
    "cad_ose": "udfs.detectors.cad_ose:CadOse",
    "consensus": "udfs.detectors.consensus:Consensus",
    "contextual": "udfs.detectors.contextual:ContextualAnomaly",
    "daily_peak": "udfs.detectors.daily_peak:DailyPeak",
    "dbscan": "udfs.detectors.dbscan:DBSCANDistance",
    "edge": "udfs.detectors.edge:EdgeDetector",
    "forecast": "udfs.detectors.forecast:HoltWinters",
    "iqr": "udfs.detectors.iqr:InterquartileRange",
    "irregular_unstable": "udfs.detectors.irregular_unstable:IrregularUnstable",
    "isolation_forest": "udfs.detectors.isolation_forest:IsolationForestDetector",
    "knn_cad": "udfs.detectors.knn_cad:KnnConformal",
    "lof": "udfs.detectors.lof:LocalOutlierFactor",
    "mad": "udfs.detectors.mad:MedianAbsoluteDeviation",
    "relative_entropy": "udfs.detectors.relative_entropy:RelativeEntropy",
    "matrix_profile": "udfs.detectors.matrix_profile:MatrixProfile",
    "one_class_svm": "udfs.detectors.one_class_svm:OneClassSVM",
    "pca": "udfs.detectors.pca:PCAReconstruction",
    "sigma": "udfs.detectors.sigma:SigmaEnsemble",
    "zscore": "udfs.detectors.zscore:ZScore",
    "mode_change": "udfs.detectors.mode_change:ModeChange",
    "network": "udfs.detectors.network:NetworkEnsemble",
    "distribution_shift": "udfs.detectors.distribution_shift:DistributionShift",
    "changepoint": "udfs.detectors.changepoint:Cusum",
    "loss": "udfs.detectors.loss:LossDetector",
    "spike": "udfs.detectors.spike:SmoothedZScore",
    "spectral_residual": "udfs.detectors.spectral_residual:SpectralResidual",
}


REGISTRY: LazyRegistry[type[Detector]] = LazyRegistry(_TARGETS, kind="detector")


def __getattr__(name: str) -> Any:
    # `from udfs.detectors import SigmaEnsemble` keeps working, lazily.
    key = REGISTRY.key_of(name)
    if key is not None:
        return REGISTRY[key]
    raise AttributeError(f"module 'udfs.detectors' has no attribute {name!r}")
