"""``@mode_change()``: the mode of a quantised series changes and stays, per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["ModeChangeUDF"]


class ModeChangeUDF(DetectorUDF):
    name = "mode_change"
    summary = "The most frequent bucket of a quantised series changes and stays (route changes)."
    detector = "mode_change"
