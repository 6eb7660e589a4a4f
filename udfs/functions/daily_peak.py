"""``@daily_peak()``: a second stage after a detector UDF that clears candidates which are the usual daily peak.

Chain it after any detector emitting every point (``.emit('all')``)::

    @mad().field('value').emit('all')
    @daily_peak().field('value')

Each point passes through with the first stage's fields and tags; a candidate
(``is_anomaly`` true) that earlier days matched at about the same time gets
``is_anomaly`` false and ``cleared_by = 'daily_peak'``. ``daily_peak_score`` is
the share of earlier days that did not reach the value.
"""

from __future__ import annotations

from typing import Any

from udfs.functions.base import numeric_field
from udfs.functions.detector_udf import DetectorUDF, Skip, common_options
from udfs.functions.options import OptionSpec, ValueType
from udfs.protocol import udf_pb2

__all__ = ["DailyPeakUDF"]


class DailyPeakUDF(DetectorUDF):
    name = "daily_peak"
    summary = "Second stage: clears a detector's candidates that earlier days matched at the same time of day."
    detector = "daily_peak"
    adds_output_schema = False  # the first stage's tags and score stay
    calibrates = False  # a second stage: it clears the first stage's calibrated candidates

    @classmethod
    def own_options(cls) -> list[OptionSpec]:
        return [
            *common_options(),
            OptionSpec("candidate", (ValueType.STRING,), default="is_anomaly",
                       help="Boolean field of the first stage that marks a candidate."),
        ]

    def configure(self, config: dict[str, Any]) -> None:
        super().configure(config)
        self.candidate: str = config["candidate"]

    def read_value(self, point: udf_pb2.Point) -> Any:
        value = numeric_field(point, self.field)
        if isinstance(value, str):
            return Skip(value)
        if self.candidate in point.fieldsBool:
            flag = point.fieldsBool[self.candidate]
        elif self.candidate in point.fieldsInt:
            flag = point.fieldsInt[self.candidate] != 0
        else:
            return Skip(f"field {self.candidate!r} (the first stage's verdict) is missing or not a bool")
        return [value, 1.0 if flag else 0.0]

    def annotate(self, point: udf_pb2.Point, verdict: Any, *, source: str | None = None) -> udf_pb2.Point:
        out = udf_pb2.Point()
        out.CopyFrom(point)  # the first stage's score, detector tag and details stay
        if verdict.details.get("candidate"):
            out.fieldsBool[self.candidate] = bool(verdict.is_anomaly)
            out.fieldsDouble[f"{self.name}_score"] = float(verdict.score)
            if verdict.details.get("cleared"):
                out.fieldsString["cleared_by"] = self.name
        return out
