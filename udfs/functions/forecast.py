"""``@forecast()``: each value against a Holt-Winters forecast and its prediction interval, per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["ForecastUDF"]


class ForecastUDF(DetectorUDF):
    name = "forecast"
    summary = "Holt-Winters next-value forecast per group; predicted, lower, upper, residual; flags values outside."
    detector = "forecast"
