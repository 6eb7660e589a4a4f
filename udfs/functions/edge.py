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
from udfs.protocol import udf_pb2

__all__ = ["Edge"]


class Edge(DetectorUDF):
    name = "edge"
    summary = ("State changes of a string/bool/int/float field with previous, current, previous_duration and a "
               "change counter; debounce, hysteresis bands for floats, flapping -> is_anomaly.")
    detector = "edge"
    calibrates = False  # a state change is the event itself: no score to calibrate

    @classmethod
    def own_options(cls) -> list[OptionSpec]:
        return common_options(emit_choices=("changes", "all", "anomalies"), emit_default="changes")

    def annotate(self, point: udf_pb2.Point, verdict: Any, *, source: str | None = None) -> udf_pb2.Point:
        """States are written as strings, whatever the field's type, and a non-numeric judged
        field is not passed on: its value is in ``current``. So one measurement holds edge's
        output for string, bool and numeric states without a field-type conflict."""
        out = super().annotate(point, verdict, source=source)
        for key in ("current", "previous"):
            value = verdict.details.get(key)
            for kind in ("fieldsBool", "fieldsInt", "fieldsDouble"):
                getattr(out, kind).pop(key, None)
            if value is not None:
                out.fieldsString[key] = _state_text(value)
        out.fieldsString.pop(self.field, None)
        out.fieldsBool.pop(self.field, None)
        return out

    def should_emit(self, verdict: Any) -> bool:
        if self.emit == "changes":
            return bool(verdict.details.get("changed"))
        return super().should_emit(verdict)


def _state_text(value: Any) -> str:
    """A state as text: ``true``/``false`` for bools (as Kapacitor writes them), ints without a
    decimal point, floats as Python's shortest repr."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
