"""``@relative_entropy()``: the recent window's histogram tested against learned histograms, per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["RelativeEntropyUDF"]


class RelativeEntropyUDF(DetectorUDF):
    name = "relative_entropy"
    summary = "Chi-squared test of the recent window's histogram against earlier windows' (relative entropy)."
    detector = "relative_entropy"
