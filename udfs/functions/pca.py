"""``@pca()``: pCA reconstruction error of windows of lagged values; conformal verdict."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["PcaUDF"]


class PcaUDF(DetectorUDF):
    name = "pca"
    summary = "PCA reconstruction error of windows of lagged values; conformal verdict."
    detector = "pca"
