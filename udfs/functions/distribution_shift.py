"""``@distribution_shift()``: two-window KS test and Jensen-Shannon distance, per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["DistributionShiftUDF"]


class DistributionShiftUDF(DetectorUDF):
    name = "distribution_shift"
    summary = "A recent window's distribution differs from the one before (KS test and Jensen-Shannon)."
    detector = "distribution_shift"
