"""``@edge()``: state changes of a string, bool, int or float field, per group.

By default only changes are emitted (the first point, then each change), like
``|changeDetect()``, but each carries ``previous``, ``current``,
``previous_duration`` and a change counter, survives restarts through snapshots,
and can debounce, band floats into states with hysteresis and flag flapping.
"""

from __future__ import annotations

from typing import Any

from udfs.functions.detector_udf import DetectorUDF, common_options
from udfs.functions.options import OptionSpec

__all__ = ["Edge"]


class Edge(DetectorUDF):
    name = "edge"
    summary = ("State changes of a string/bool/int/float field with previous, current, previous_duration and a "
               "change counter; debounce, hysteresis bands for floats, flapping -> is_anomaly.")
    detector = "edge"

    @classmethod
    def own_options(cls) -> list[OptionSpec]:
        return common_options(emit_choices=("changes", "all", "anomalies"), emit_default="changes")

    def should_emit(self, verdict: Any) -> bool:
        if self.emit == "changes":
            return bool(verdict.details.get("changed"))
        return super().should_emit(verdict)
