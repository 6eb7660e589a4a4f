"""``@iqr()``: Tukey fences (q1 - k IQR, q3 + k IQR) over a rolling window, per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF, common_options
from udfs.functions.options import OptionSet, OptionSpec, ValueType

__all__ = ["Iqr"]


class Iqr(DetectorUDF):
    name = "iqr"
    summary = "Tukey fences over a rolling window; score = distance outside a fence in IQRs."
    detector = "udfs.detectors.iqr:InterquartileRange"
    options = OptionSet(
        [
            *common_options(),
            OptionSpec("window", (ValueType.INT,), default=100, help="Past values in the rolling window."),
            OptionSpec("k", (ValueType.DOUBLE,), default=1.5, help="Fence distance in IQRs (Tukey: 1.5)."),
            OptionSpec("threshold", (ValueType.DOUBLE,), default=0.0,
                       help="Anomaly when the score (IQRs beyond a fence) exceeds this."),
            OptionSpec("min_periods", (ValueType.INT,), default=10, help="Values needed before scoring starts."),
        ]
    )
