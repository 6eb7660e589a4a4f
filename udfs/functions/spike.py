"""``@spike()``: smoothed z-score spikes (lag, threshold, influence), per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["SpikeUDF"]


class SpikeUDF(DetectorUDF):
    name = "spike"
    summary = "Spikes by a smoothed z-score with lag, threshold and influence (latency series)."
    detector = "spike"
