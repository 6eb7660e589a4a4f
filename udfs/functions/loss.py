"""``@loss()``: consecutive lost measurements or a high loss rate, per group (``deadman`` only sees no data)."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["LossUDF"]


class LossUDF(DetectorUDF):
    name = "loss"
    summary = "N consecutive lost measurements or a loss rate above a bound (flags where each starts)."
    detector = "loss"
