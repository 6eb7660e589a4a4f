"""``@zscore()``: distance from the rolling or exponentially weighted mean in standard deviations."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["ZScoreUDF"]


class ZScoreUDF(DetectorUDF):
    name = "zscore"
    summary = "|x - mean| / std over a rolling window or an EWMA, per group."
    detector = "zscore"
