"""``@iqr()``: Tukey fences (q1 - k IQR, q3 + k IQR) over a rolling window, per group."""

from __future__ import annotations

from collections.abc import Sequence

from udfs.functions.base import UDF, numeric_field
from udfs.functions.detector_udf import DetectorUDF, common_options
from udfs.functions.options import OptionSet, OptionSpec, ValueType
from udfs.protocol import EdgeType, udf_pb2

__all__ = ["Iqr", "IqrBatch"]

_K = OptionSpec("k", (ValueType.DOUBLE,), default=1.5, help="Fence distance in IQRs (Tukey: 1.5).")
_THRESHOLD = OptionSpec("threshold", (ValueType.DOUBLE,), default=0.0,
                        help="Anomaly when the score (IQRs beyond a fence) exceeds this.")


class Iqr(DetectorUDF):
    name = "iqr"
    summary = "Tukey fences over a rolling window; score = distance outside a fence in IQRs."
    detector = "udfs.detectors.iqr:InterquartileRange"
    options = OptionSet(
        [
            *common_options(),
            OptionSpec("window", (ValueType.INT,), default=100, help="Past values in the rolling window."),
            _K,
            _THRESHOLD,
            OptionSpec("min_periods", (ValueType.INT,), default=10, help="Values needed before scoring starts."),
        ]
    )


class IqrBatch(DetectorUDF):
    """Tukey fences over each whole batch (``batch|query()``): no state across batches."""

    name = "iqr_batch"
    summary = "Tukey fences over each batch; each point scored in IQRs beyond a fence."
    detector = "udfs.detectors.iqr:InterquartileRange"
    wants = EdgeType.BATCH
    provides = EdgeType.BATCH
    options = OptionSet([*common_options(), _K, _THRESHOLD])

    # Batch points are collected by the UDF base and handed to batch() at EndBatch.
    point = UDF.point

    def batch(
        self, begin: udf_pb2.BeginBatch, points: Sequence[udf_pb2.Point], end: udf_pb2.EndBatch
    ) -> list[udf_pb2.Point]:
        kept: list[tuple[udf_pb2.Point, float]] = []
        for p in points:
            value = numeric_field(p, self.field)
            if isinstance(value, str):
                self.skips.skip("bad value", "%s at %d: %s", begin.group or "(no group)", p.time, value)
            else:
                kept.append((p, value))
        verdicts = self._detector_cls.score_batch([v for _, v in kept], **self.params)
        return [
            self.annotate(p, verdict, source=begin.name)
            for (p, _), verdict in zip(kept, verdicts, strict=True)
            if self.should_emit(verdict)
        ]
