"""``@matrix_profile()``: discord score of the newest subsequence against a rolling history, per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF, common_options
from udfs.functions.options import OptionSet, OptionSpec, ValueType

__all__ = ["MatrixProfileUDF"]


class MatrixProfileUDF(DetectorUDF):
    name = "matrix_profile"
    summary = "Nearest-neighbour distance of the last m values (left matrix profile) over its usual level."
    detector = "udfs.detectors.matrix_profile:MatrixProfile"
    options = OptionSet(
        [
            *common_options(),
            OptionSpec("m", (ValueType.INT,), default=32, help="Subsequence length, in points."),
            OptionSpec("history", (ValueType.INT,), default=2000, help="Past values the subsequence is compared with."),
            OptionSpec("threshold", (ValueType.DOUBLE,), default=3.0,
                       help="Anomaly when the distance exceeds this many times the median recent distance."),
            OptionSpec("normalize", (ValueType.BOOL,), default=True,
                       help="Compare z-normalised subsequences (shape only); FALSE compares raw values."),
            OptionSpec("min_history", (ValueType.INT,), default=128, help="Values needed before scoring starts."),
        ]
    )
