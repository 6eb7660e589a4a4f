"""``@iqr()`` and ``@iqr_batch()``: Tukey fences (q1 - k IQR, q3 + k IQR) over a rolling window or a batch."""

from __future__ import annotations

from collections.abc import Sequence

from udfs.functions.base import BatchUDF, numeric_field
from udfs.functions.detector_udf import DetectorUDF
from udfs.protocol import udf_pb2

__all__ = ["Iqr", "IqrBatch"]


class Iqr(DetectorUDF):
    name = "iqr"
    summary = "Tukey fences over a rolling window; score = distance outside a fence in IQRs."
    detector = "iqr"


class IqrBatch(BatchUDF, DetectorUDF):
    """Tukey fences over each whole batch (``batch|query()``): no state across batches."""

    name = "iqr_batch"
    summary = "Tukey fences over each batch; each point scored in IQRs beyond a fence."
    detector = "iqr"
    # A batch is its own window: no rolling window, scored as soon as it has a value.
    hidden_params = frozenset({"window", "min_periods"})
    keeps_groups = False  # each batch is scored on its own

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
        verdicts = self._detector_cls.score_batch(
            [v for _, v in kept], k=self.params["k"], threshold=self.params["threshold"]
        )
        return [
            self.annotate(p, verdict, source=begin.name)
            for (p, _), verdict in zip(kept, verdicts, strict=True)
            if self.should_emit(verdict)
        ]
