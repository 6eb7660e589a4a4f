"""``@mad()``: rolling median absolute deviation (a robust z-score), per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["Mad"]


class Mad(DetectorUDF):
    name = "mad"
    summary = "Robust z-score |x - median| / (1.4826 MAD) over a rolling window (1.2533 MeanAD when MAD = 0)."
    detector = "mad"
