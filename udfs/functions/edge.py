"""``@edge()``: state changes of a string, bool, int or float field, per group.

By default only changes are emitted (the first point, then each change), like
``|changeDetect()``, but each carries ``previous``, ``current``,
``previous_duration`` and a change counter, survives restarts through snapshots,
and can debounce, band floats into states with hysteresis and flag flapping.
"""

from __future__ import annotations

from typing import Any

from udfs.functions.detector_udf import DetectorUDF, common_options
from udfs.functions.options import OptionSet, OptionSpec, ValueType

__all__ = ["Edge"]

_LEVELS = ("low_enter", "low_exit", "high_enter", "high_exit")


class Edge(DetectorUDF):
    name = "edge"
    summary = "State changes with previous state, its duration, debounce, hysteresis and flapping."
    detector = "udfs.detectors.edge:EdgeDetector"
    calibrates = False  # a state change is the event itself: no score to calibrate
    options = OptionSet(
        [
            *common_options(emit_choices=("changes", "all", "anomalies"), emit_default="changes"),
            OptionSpec("low_enter", (ValueType.DOUBLE,), default=None,
                       help="Float fields: enter state 'low' at or below this."),
            OptionSpec("low_exit", (ValueType.DOUBLE,), default=None,
                       help="Leave 'low' only above this (hysteresis; default low_enter)."),
            OptionSpec("high_enter", (ValueType.DOUBLE,), default=None,
                       help="Float fields: enter state 'high' at or above this."),
            OptionSpec("high_exit", (ValueType.DOUBLE,), default=None,
                       help="Leave 'high' only below this (hysteresis; default high_enter)."),
            OptionSpec("min_duration", (ValueType.DURATION,), default=0,
                       help="A new state must last this long before it counts (debounce)."),
            OptionSpec("flap_count", (ValueType.INT,), default=5,
                       help="More than this many changes within flap_window is flapping (is_anomaly)."),
            OptionSpec("flap_window", (ValueType.DURATION,), default=3_600_000_000_000,
                       help="Window for counting changes."),
        ]
    )

    def should_emit(self, verdict: Any) -> bool:
        if self.emit == "changes":
            return bool(verdict.details.get("changed"))
        return super().should_emit(verdict)
