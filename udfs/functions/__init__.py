"""The UDFs: one module per Kapacitor UDF, joining options, detectors and the protocol.

``FUNCTIONS`` names every UDF and where its class lives; classes are imported only
when asked for, so ``udfs run NAME`` loads just what that UDF needs and answers
Kapacitor's start-up ``Info`` quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from udfs.registry import LazyRegistry, UnknownNameError

if TYPE_CHECKING:
    from udfs.functions.base import UDF

__all__ = ["FUNCTIONS", "REGISTRY", "UnknownUDFError", "load"]

_TARGETS: dict[str, str] = {
    "mirror": "udfs.functions.mirror:Mirror",
    "mirror_batch": "udfs.functions.mirror:MirrorBatch",
    "moving_average": "udfs.functions.moving_average:MovingAverage",
    "daily_peak": "udfs.functions.daily_peak:DailyPeakUDF",
    "irregular_unstable": "udfs.functions.irregular_unstable:IrregularUnstableUDF",
    "edge": "udfs.functions.edge:Edge",
    "forecast": "udfs.functions.forecast:ForecastUDF",
    "continuous_prediction": "udfs.functions.continuous_prediction:ContinuousPrediction",
    "mad": "udfs.functions.mad:Mad",
    "contextual": "udfs.functions.contextual:Contextual",
    "cad_ose": "udfs.functions.cad_ose:CadOseUDF",
    "consensus": "udfs.functions.consensus:ConsensusUDF",
    "knn_cad": "udfs.functions.knn_cad:KnnCad",
    "relative_entropy": "udfs.functions.relative_entropy:RelativeEntropyUDF",
    "pca": "udfs.functions.pca:PcaUDF",
    "dbscan": "udfs.functions.dbscan:DbscanUDF",
    "one_class_svm": "udfs.functions.one_class_svm:OneClassSvmUDF",
    "lof": "udfs.functions.lof:LofUDF",
    "matrix_profile": "udfs.functions.matrix_profile:MatrixProfileUDF",
    "sigma": "udfs.functions.sigma:Sigma",
    "zscore": "udfs.functions.zscore:ZScoreUDF",
    "iqr": "udfs.functions.iqr:Iqr",
    "iqr_batch": "udfs.functions.iqr:IqrBatch",
    "isolation_forest": "udfs.functions.isolation_forest:IsolationForestUDF",
    "mode_change": "udfs.functions.mode_change:ModeChangeUDF",
    "network": "udfs.functions.network:NetworkUDF",
    "distribution_shift": "udfs.functions.distribution_shift:DistributionShiftUDF",
    "changepoint": "udfs.functions.changepoint:ChangepointUDF",
    "loss": "udfs.functions.loss:LossUDF",
    "spike": "udfs.functions.spike:SpikeUDF",
    "spectral_residual": "udfs.functions.spectral_residual:SpectralResidualUDF",
}

#: Every UDF by the name TICKscripts call it, imported on first access.
REGISTRY: LazyRegistry[type[UDF]] = LazyRegistry(_TARGETS, kind="UDF")
#: The UDF names (the keys of REGISTRY), kept as its own name for the many callers that list them.
FUNCTIONS = REGISTRY


UnknownUDFError = UnknownNameError


def load(name: str) -> type[UDF]:
    """The UDF class registered as ``name``; :class:`UnknownUDFError` lists the known ones."""
    return REGISTRY[name]
