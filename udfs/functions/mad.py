"""``@mad()``: rolling median absolute deviation (a robust z-score), per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF, common_options
from udfs.functions.options import OptionSet, OptionSpec, ValueType

__all__ = ["Mad"]


class Mad(DetectorUDF):
    name = "mad"
    summary = "Robust z-score |x - median| / (1.4826 MAD) over a rolling window (1.2533 MeanAD when MAD = 0)."
    detector = "udfs.detectors.mad:MedianAbsoluteDeviation"
    options = OptionSet(
        [
            *common_options(),
            OptionSpec("window", (ValueType.INT,), default=100, help="Past values in the rolling window."),
            OptionSpec("threshold", (ValueType.DOUBLE,), default=3.5, help="Anomaly when the score exceeds this."),
            OptionSpec("min_periods", (ValueType.INT,), default=10, help="Values needed before scoring starts."),
        ]
    )
