"""``@sigma()``: earthgecko Skyline's three-sigma ensemble, per point, per group."""

from __future__ import annotations

from typing import Any

from udfs.functions.detector_udf import DetectorUDF, common_options
from udfs.functions.options import OptionSet, OptionSpec, ValueType

__all__ = ["Sigma"]

_DAY_NS = 86_400_000_000_000


class Sigma(DetectorUDF):
    name = "sigma"
    summary = "Skyline's nine-algorithm sigma ensemble over a rolling window; says which algorithms voted."
    detector = "udfs.detectors.sigma:SigmaEnsemble"
    options = OptionSet(
        [
            *common_options(),
            OptionSpec("sigma", (ValueType.DOUBLE,), default=3.0,
                       help="Standard deviations for the sigma-based algorithms (Skyline: 3)."),
            OptionSpec("consensus", (ValueType.INT,), default=6,
                       help="Algorithms that must vote anomalous (Skyline: 6 of 9)."),
            OptionSpec("full_duration", (ValueType.DURATION,), default=_DAY_NS,
                       help="History analysed with each point (Skyline's FULL_DURATION)."),
            OptionSpec("min_points", (ValueType.INT,), default=100,
                       help="Points needed before voting (Skyline's MIN_TOLERABLE_LENGTH)."),
            OptionSpec("max_points", (ValueType.INT,), default=10000, help="Cap on points kept per group."),
            OptionSpec("boredom", (ValueType.INT,), default=100,
                       help="Not anomalous when this many last values are all equal (MAX_TOLERABLE_BOREDOM)."),
            OptionSpec("algorithms", (ValueType.STRING,), default="",
                       help="Comma-separated subset of the nine algorithms; empty = all."),
        ]
    )

    def detector_params(self, config: dict[str, Any]) -> dict[str, Any]:
        params = super().detector_params(config)
        params["full_duration"] = config["full_duration"] / 1e9
        if not config["algorithms"]:
            del params["algorithms"]
        return params
