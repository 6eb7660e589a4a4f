"""``@zscore()``: distance from the rolling or exponentially weighted mean in standard deviations."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF, common_options
from udfs.functions.options import OptionSet, OptionSpec, ValueType

__all__ = ["ZScoreUDF"]


class ZScoreUDF(DetectorUDF):
    name = "zscore"
    summary = "|x - mean| / std over a rolling window or an EWMA, per group."
    detector = "udfs.detectors.zscore:ZScore"
    options = OptionSet(
        [
            *common_options(),
            OptionSpec("mode", (ValueType.STRING,), default="rolling",
                       help="'rolling' (window of past values) or 'ewma' (exponentially weighted)."),
            OptionSpec("window", (ValueType.INT,), default=100, help="Past values in the rolling window."),
            OptionSpec("alpha", (ValueType.DOUBLE,), default=0.1, help="EWMA smoothing factor (mode 'ewma')."),
            OptionSpec("threshold", (ValueType.DOUBLE,), default=3.0, help="Anomaly when the score exceeds this."),
            OptionSpec("min_periods", (ValueType.INT,), default=10, help="Values needed before scoring starts."),
        ]
    )
