"""``@changepoint()``: two-sided CUSUM level shifts, flagged once per change, per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["ChangepointUDF"]


class ChangepointUDF(DetectorUDF):
    name = "changepoint"
    summary = "Level shifts by a two-sided CUSUM against a robust baseline re-learned after each change."
    detector = "changepoint"
