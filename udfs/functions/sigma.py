"""``@sigma()``: earthgecko Skyline's three-sigma ensemble, per point, per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["Sigma"]


class Sigma(DetectorUDF):
    name = "sigma"
    summary = "Skyline's nine-algorithm sigma ensemble over a rolling window; says which algorithms voted."
    detector = "sigma"
    # 2: full_duration is kept in nanoseconds (was float seconds) and algorithms as names.
    state_version = 2
