"""``@lof()``: local outlier factor (scikit-learn) of windows of lagged values; conformal verdict."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["LofUDF"]


class LofUDF(DetectorUDF):
    name = "lof"
    summary = "Local outlier factor (scikit-learn) of windows of lagged values; conformal verdict."
    detector = "lof"
